<?php

declare(strict_types=1);

namespace Pingyi;

/**
 * What a question may mean to Pingyi, by LimeSurvey question type, and how the
 * pingyiDimension attribute is written. Shared by the attribute declaration (Pingyi.php),
 * the validator and the manifest builder so the three cannot disagree.
 */
final class QuestionRoles
{
    public const ROLE_ATTRIBUTE = 'pingyiRole';
    public const DIMENSION_ATTRIBUTE = 'pingyiDimension';
    /** a rated question's scale, when it is not the campaign's */
    public const SCALE_ATTRIBUTE = 'pingyiScale';
    /** answer code -> scale level (rated) or unit code (unit question) */
    public const CODE_MAP_ATTRIBUTE = 'pingyiCodeMap';

    /** every attribute the plugin declares, in the order they are shown */
    public const ATTRIBUTES = [self::ROLE_ATTRIBUTE, self::DIMENSION_ATTRIBUTE, self::SCALE_ATTRIBUTE, self::CODE_MAP_ATTRIBUTE];

    public const RATED = 'rated';
    public const UNIT = 'unit';
    public const COMMENT = 'comment';
    public const PRIVATE = 'private';
    public const IGNORED = 'ignored';

    public const ROLES = [self::RATED, self::UNIT, self::COMMENT, self::PRIVATE, self::IGNORED];

    /** Single-choice lists: one column whose value is an answer option code. */
    public const LIST_TYPES = 'L!O';
    /** Arrays with answer options: one column per subquestion, code[SQ]. */
    public const ARRAY_TYPES = 'FH';
    /** Free text: comments, or private (phone numbers, names). */
    public const TEXT_TYPES = 'STU';

    /** Every type the plugin declares its attributes for (newQuestionAttributes "types"). */
    public static function declaredTypes(): string
    {
        return self::LIST_TYPES . self::ARRAY_TYPES . self::TEXT_TYPES;
    }

    /** @return list<string> the roles a question of this type may have */
    public static function allowedRoles(string $type): array
    {
        if ($type !== '' && strpos(self::LIST_TYPES, $type) !== false) {
            return [self::RATED, self::UNIT, self::PRIVATE, self::IGNORED];
        }
        if ($type !== '' && strpos(self::ARRAY_TYPES, $type) !== false) {
            return [self::RATED, self::PRIVATE, self::IGNORED];
        }
        if ($type !== '' && strpos(self::TEXT_TYPES, $type) !== false) {
            return [self::COMMENT, self::PRIVATE, self::IGNORED];
        }
        return [self::IGNORED];
    }

    public static function isArray(string $type): bool
    {
        return $type !== '' && strpos(self::ARRAY_TYPES, $type) !== false;
    }

    /** An unset attribute ('' or null) means the question is ignored. */
    public static function normalise(?string $role): string
    {
        $role = trim((string) $role);
        return $role === '' ? self::IGNORED : $role;
    }

    /**
     * Reads pingyiDimension: one dimension code for a whole question (or every row of an
     * array), or per row "SQ001=attitude; SQ002=efficiency" (also ':' and ',' or new lines).
     *
     * @return array{single: ?string, rows: array<string, string>, error: ?string}
     *   error holds the piece that could not be read
     */
    public static function parseDimension(?string $text): array
    {
        $text = trim((string) $text);
        $out = ['single' => null, 'rows' => [], 'error' => null];
        if ($text === '') {
            return $out;
        }
        if (!preg_match('/[=:;,\n]/', $text)) {
            if (!preg_match('/^[A-Za-z0-9_.-]{1,40}$/', $text)) {
                $out['error'] = $text;
                return $out;
            }
            $out['single'] = $text;
            return $out;
        }
        $rows = self::pairs($text, '[A-Za-z0-9_]{1,20}', '[A-Za-z0-9_.-]{1,40}');
        $out['rows'] = $rows['map'];
        $out['error'] = $rows['error'];
        return $out;
    }

    /**
     * The dimension of each subquestion of a rated array.
     *
     * @param list<string> $subquestions
     * @return array<string, ?string> subquestion code -> dimension (null = none given)
     */
    public static function rowDimensions(?string $text, array $subquestions): array
    {
        $spec = self::parseDimension($text);
        $out = [];
        foreach ($subquestions as $sq) {
            $out[$sq] = $spec['single'] ?? ($spec['rows'][$sq] ?? null);
        }
        return $out;
    }

    /**
     * Reads pingyiCodeMap: "1=A1; 2=A2" (also ':' and ',' or new lines), each side a code of
     * at most 5 letters or digits (what LimeSurvey allows for an answer code, and what the
     * binding schema allows for answer_map and code_map).
     *
     * @return array{map: array<string, string>, error: ?string}
     *   error holds the piece that could not be read
     */
    public static function parseCodeMap(?string $text): array
    {
        return self::pairs(trim((string) $text), '[A-Za-z0-9]{1,5}', '[A-Za-z0-9]{1,5}');
    }

    /**
     * "key=value" pieces separated by ';', ',' or new lines ('=' or ':' between), each
     * side matching its pattern; the first piece that does not match is the error (and
     * the map is left as read so far).
     *
     * @return array{map: array<string, string>, error: ?string}
     */
    private static function pairs(string $text, string $key, string $value): array
    {
        $out = ['map' => [], 'error' => null];
        foreach (preg_split('/[;,\n]+/', $text) ?: [] as $piece) {
            $piece = trim($piece);
            if ($piece === '') {
                continue;
            }
            if (!preg_match('/^(' . $key . ')\s*[=:]\s*(' . $value . ')$/', $piece, $m)) {
                $out['error'] = $piece;
                return $out;
            }
            $out['map'][$m[1]] = $m[2];
        }
        return $out;
    }
}
