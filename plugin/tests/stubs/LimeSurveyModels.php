<?php

// A stand-in for the few LimeSurvey model calls SurveyReader makes (findByPk,
// findAllByAttributes with IN lists and an order, resetScope), over rows a test puts in
// StubTables. A model with an INDEX constant keeps LimeSurvey's defaultScope "index": one
// record per value of that column, the last one found (QuestionAttribute's is 'attribute',
// so a query over several questions loses all but one question's value of each attribute).

declare(strict_types=1);

final class StubTables
{
    /** @var array<string, list<array<string, mixed>>> class name -> rows */
    public static $rows = [];
}

abstract class StubModel
{
    /** @var array<string, mixed> */
    private $row;
    /** @var bool */
    private $scoped = true;

    /** @param array<string, mixed> $row */
    public function __construct(array $row = [])
    {
        $this->row = $row;
    }

    /** @return mixed */
    public function __get(string $name)
    {
        return $this->row[$name] ?? null;
    }

    public function __isset(string $name): bool
    {
        return isset($this->row[$name]);
    }

    /** @return static */
    public static function model()
    {
        return new static();
    }

    /** @return static the model without its default scope (CActiveRecord::resetScope) */
    public function resetScope()
    {
        $this->scoped = false;
        return $this;
    }

    /** @return static|null */
    public function findByPk(int $pk)
    {
        foreach ($this->findAllByAttributes([static::PK => $pk]) as $found) {
            return $found;
        }
        return null;
    }

    /**
     * @param array<string, mixed> $attributes
     * @param array<string, string> $criteria
     * @return list<static>
     */
    public function findAllByAttributes(array $attributes, array $criteria = []): array
    {
        $out = [];
        foreach (StubTables::$rows[static::class] ?? [] as $row) {
            foreach ($attributes as $name => $want) {
                $wanted = is_array($want) ? $want : [$want];
                if (!in_array($row[$name] ?? null, $wanted, false)) {
                    continue 2;
                }
            }
            $out[] = $row;
        }
        if (isset($criteria['order'])) {
            $key = explode(' ', $criteria['order'])[0];
            usort($out, static function (array $a, array $b) use ($key): int {
                return $a[$key] <=> $b[$key];
            });
        }
        if ($this->scoped && defined(static::class . '::INDEX')) {
            $indexed = [];
            foreach ($out as $row) {
                $indexed[(string) $row[static::INDEX]] = $row;
            }
            $out = array_values($indexed);
        }
        return array_map(static function (array $row) {
            return new static($row);
        }, $out);
    }
}

final class Survey extends StubModel
{
    public const PK = 'sid';
}

final class QuestionGroup extends StubModel
{
    public const PK = 'gid';
}

final class Question extends StubModel
{
    public const PK = 'qid';
}

final class Answer extends StubModel
{
    public const PK = 'aid';
}

final class QuestionAttribute extends StubModel
{
    public const PK = 'qaid';
    /** LimeSurvey's QuestionAttribute::defaultScope(): ['index' => 'attribute'] */
    public const INDEX = 'attribute';
}
