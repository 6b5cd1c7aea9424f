<?php

declare(strict_types=1);

namespace Pingyi;

/**
 * A survey snapshot (see Validator) -> the binding document of INTERFACES.md section A,
 * the same document a YAML file in mappings/surveys/ holds (schema:
 * sync/schema/binding.schema.json). Pure; run the Validator first: the builder refuses
 * only what it cannot express at all.
 */
final class ManifestBuilder
{
    /** @var string */
    private $site;

    public function __construct(string $site)
    {
        if (!preg_match('/^[A-Za-z0-9_.-]+$/', $site)) {
            throw new ManifestException('site name must be letters, digits, "_", "." or "-"');
        }
        $this->site = $site;
    }

    /**
     * @param array<string, mixed> $survey
     * @return array<string, mixed>
     */
    public function build(array $survey): array
    {
        $settings = $survey['settings'] ?? [];
        foreach (['campaign', 'group'] as $key) {
            if (trim((string) ($settings[$key] ?? '')) === '') {
                throw new ManifestException("survey {$survey['sid']}: no {$key} chosen");
            }
        }
        $doc = [
            'version' => 1,
            'site' => $this->site,
            'survey_id' => (int) $survey['sid'],
            'campaign' => trim((string) $settings['campaign']),
            'group' => trim((string) $settings['group']),
        ];
        $title = trim((string) ($survey['title'] ?? ''));
        if ($title !== '') {
            $doc['title'] = $title;
        }
        $doc['unit'] = $this->unit($survey);

        $ratings = [];
        $comments = [];
        $private = [];
        foreach ($survey['questions'] ?? [] as $q) {
            $code = (string) $q['code'];
            $type = (string) $q['type'];
            $role = QuestionRoles::normalise($q['role'] ?? '');
            if ($role === QuestionRoles::RATED) {
                $ratings[] = $this->rating($survey, $q);
            } elseif ($role === QuestionRoles::COMMENT) {
                $dim = trim((string) ($q['dimension'] ?? ''));
                $comments[] = ['column' => $code, 'dimension' => $dim === '' ? null : $dim];
            } elseif ($role === QuestionRoles::PRIVATE) {
                if (QuestionRoles::isArray($type)) {
                    foreach ($q['subquestions'] ?? [] as $sq) {
                        $private[] = $code . '[' . $sq . ']';
                    }
                } else {
                    $private[] = $code;
                }
            }
        }
        $doc['ratings'] = $ratings;
        $doc['comments'] = $comments;
        $doc['private'] = $private;
        $doc['token'] = ($settings['token'] ?? 'drop') === 'hash' ? 'hash' : 'drop';
        $doc['source'] = 'plugin';
        return $doc;
    }

    /**
     * The document as JSON bytes: UTF-8 unescaped (every Chinese character as itself,
     * 4-byte ones included), objects stay objects even when empty.
     *
     * @param array<string, mixed> $doc
     */
    public static function toJson(array $doc): string
    {
        return json_encode(
            $doc,
            JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES | JSON_PRESERVE_ZERO_FRACTION | JSON_THROW_ON_ERROR
        );
    }

    /**
     * @param array<string, mixed> $survey
     * @return array<string, mixed>
     */
    private function unit(array $survey): array
    {
        $settings = $survey['settings'] ?? [];
        if (($settings['unit_source'] ?? '') === 'fixed') {
            $unit = trim((string) ($settings['unit'] ?? ''));
            if ($unit === '') {
                throw new ManifestException("survey {$survey['sid']}: unit source is fixed but no unit chosen");
            }
            return ['source' => 'fixed', 'unit' => $unit];
        }
        foreach ($survey['questions'] ?? [] as $q) {
            if (QuestionRoles::normalise($q['role'] ?? '') === QuestionRoles::UNIT) {
                $unit = ['source' => 'question', 'column' => (string) $q['code']];
                $map = $this->codeMap($survey, $q);
                if ($map) {
                    $unit['code_map'] = (object) $map;
                }
                return $unit;
            }
        }
        throw new ManifestException("survey {$survey['sid']}: no unit source (fixed unit or unit question)");
    }

    /**
     * @param array<string, mixed> $survey
     * @param array<string, mixed> $q
     * @return array<string, mixed>
     */
    private function rating(array $survey, array $q): array
    {
        $code = (string) $q['code'];
        $text = (string) ($q['dimension'] ?? '');
        if (QuestionRoles::isArray((string) $q['type'])) {
            $rows = [];
            foreach (QuestionRoles::rowDimensions($text, array_map('strval', $q['subquestions'] ?? [])) as $sq => $dim) {
                if ($dim === null) {
                    throw new ManifestException("survey {$survey['sid']}: {$code}[{$sq}] has no dimension");
                }
                $rows[(string) $sq] = $dim;
            }
            if (!$rows) {
                throw new ManifestException("survey {$survey['sid']}: array {$code} has no subquestions");
            }
            // an object even for codes PHP would turn into list indexes
            return ['question' => $code, 'subquestions' => (object) $rows] + $this->scaleAndMap($survey, $q);
        }
        $spec = QuestionRoles::parseDimension($text);
        if ($spec['single'] === null) {
            throw new ManifestException("survey {$survey['sid']}: {$code} has no dimension");
        }
        return ['column' => $code, 'dimension' => $spec['single']] + $this->scaleAndMap($survey, $q);
    }

    /**
     * A rated question's own scale and answer map, only when the designer set them (the
     * campaign's scale and the answer codes as they are otherwise).
     *
     * @param array<string, mixed> $survey
     * @param array<string, mixed> $q
     * @return array<string, mixed>
     */
    private function scaleAndMap(array $survey, array $q): array
    {
        $out = [];
        $scale = trim((string) ($q['scale'] ?? ''));
        if ($scale !== '') {
            $out['scale'] = $scale;
        }
        $map = $this->codeMap($survey, $q);
        if ($map) {
            $out['answer_map'] = (object) $map;
        }
        return $out;
    }

    /**
     * @param array<string, mixed> $survey
     * @param array<string, mixed> $q
     * @return array<string, string>
     */
    private function codeMap(array $survey, array $q): array
    {
        $parsed = QuestionRoles::parseCodeMap((string) ($q['code_map'] ?? ''));
        if ($parsed['error'] !== null) {
            throw new ManifestException("survey {$survey['sid']}: {$q['code']} has a code map piece that cannot be read: {$parsed['error']}");
        }
        return $parsed['map'];
    }
}
