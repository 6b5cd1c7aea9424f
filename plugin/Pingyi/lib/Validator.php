<?php

declare(strict_types=1);

namespace Pingyi;

/**
 * Everything the daemon would reject in a survey's Pingyi settings, found before the
 * survey is activated. Pure: the survey snapshot and the catalogue come in as arrays.
 *
 * Survey snapshot (what SurveyReader makes from LimeSurvey):
 *   ['sid' => int, 'title' => ?string,
 *    'settings' => ['enabled' => bool, 'campaign' => string, 'group' => string,
 *                   'unit_source' => 'question'|'fixed'|'', 'unit' => string,
 *                   'token' => 'drop'|'hash'],
 *    'questions' => list of ['qid' => int, 'code' => string, 'type' => string,
 *                   'role' => string, 'dimension' => string,
 *                   'scale' => string, 'code_map' => string (both optional),
 *                   'answers' => list<string>, 'subquestions' => list<string>]]
 * Catalogue: the daemon's /catalogue.json (sync.catalogue.public_json), or null when it
 * could not be read (then codes are not checked and a warning says so).
 *
 * Each problem: ['severity' => 'error'|'warning', 'code' => string, 'qid' => ?int,
 *                'question' => ?string, 'message' => ['zh' => ..., 'en' => ...]]
 */
final class Validator
{
    public const MAX_ANSWER_CODE = 5;

    /**
     * @param array<string, mixed> $survey
     * @param array<string, mixed>|null $catalogue
     * @return list<array<string, mixed>>
     */
    public function validate(array $survey, ?array $catalogue, ?string $catalogueError = null): array
    {
        $problems = [];
        $settings = $survey['settings'] ?? [];
        if (empty($settings['enabled'])) {
            return [self::problem('warning', 'not_enabled')];
        }
        if ($catalogue === null) {
            $problems[] = self::problem('warning', 'catalogue_unavailable', null, [
                'detail' => $catalogueError ?? '-',
            ]);
        }
        $index = $catalogue === null ? null : self::index($catalogue);

        $campaign = trim((string) ($settings['campaign'] ?? ''));
        $group = trim((string) ($settings['group'] ?? ''));
        if ($campaign === '') {
            $problems[] = self::problem('error', 'campaign_missing');
        } elseif ($index !== null && !isset($index['campaigns'][$campaign])) {
            $problems[] = self::problem('error', 'campaign_unknown', null, ['code' => $campaign]);
        }
        if ($group === '') {
            $problems[] = self::problem('error', 'group_missing');
        } elseif ($index !== null && !isset($index['groups'][$group])) {
            $problems[] = self::problem('error', 'group_unknown', null, ['code' => $group]);
        } elseif ($index !== null && isset($index['campaigns'][$campaign])) {
            $members = $index['campaigns'][$campaign]['groups'] ?? [];
            if ($members && !in_array($group, $members, true)) {
                $problems[] = self::problem('error', 'group_not_in_campaign', null, [
                    'code' => $group, 'campaign' => $campaign,
                ]);
            }
        }

        $questions = $survey['questions'] ?? [];
        $problems = array_merge($problems, $this->checkUnit($settings, $questions, $index));
        $scale = self::campaignScale($index, $campaign);
        $rated = 0;
        foreach ($questions as $q) {
            $role = QuestionRoles::normalise($q['role'] ?? '');
            if (!in_array($role, QuestionRoles::ROLES, true)) {
                $problems[] = self::problem('error', 'role_unknown', $q, ['role' => $role]);
                continue;
            }
            if (!in_array($role, QuestionRoles::allowedRoles((string) $q['type']), true)) {
                $problems[] = self::problem('error', 'role_not_for_type', $q, [
                    'role' => $role, 'type' => $q['type'],
                ]);
                continue;
            }
            if ($role === QuestionRoles::RATED) {
                $rated++;
                $problems = array_merge($problems, $this->checkRated($q, $index, $scale));
            } elseif ($role === QuestionRoles::COMMENT && trim((string) ($q['dimension'] ?? '')) !== '') {
                $problems = array_merge($problems, $this->checkDimensionCode(
                    $q,
                    trim((string) $q['dimension']),
                    $index
                ));
            }
            // a scale means something only to a rated question, a code map also to the unit one
            $stray = ($role !== QuestionRoles::RATED && trim((string) ($q['scale'] ?? '')) !== '')
                || (!in_array($role, [QuestionRoles::RATED, QuestionRoles::UNIT], true) && trim((string) ($q['code_map'] ?? '')) !== '');
            if ($stray && $role !== QuestionRoles::IGNORED) {
                $problems[] = self::problem('warning', 'code_map_not_used', $q, ['role' => $role]);
            }
        }
        if ($rated === 0) {
            $problems[] = self::problem('error', 'no_rated_question');
        }
        return $problems;
    }

    /** @param list<array<string, mixed>> $problems */
    public static function hasErrors(array $problems): bool
    {
        foreach ($problems as $p) {
            if ($p['severity'] === 'error') {
                return true;
            }
        }
        return false;
    }

    /**
     * @param array<string, mixed> $settings
     * @param list<array<string, mixed>> $questions
     * @param array<string, array<string, mixed>>|null $index
     * @return list<array<string, mixed>>
     */
    private function checkUnit(array $settings, array $questions, ?array $index): array
    {
        $problems = [];
        $unitQuestions = array_values(array_filter(
            $questions,
            static function (array $q): bool {
                return QuestionRoles::normalise($q['role'] ?? '') === QuestionRoles::UNIT;
            }
        ));
        $source = (string) ($settings['unit_source'] ?? '');
        if ($source === 'fixed') {
            $unit = trim((string) ($settings['unit'] ?? ''));
            if ($unit === '') {
                $problems[] = self::problem('error', 'unit_fixed_missing');
            } elseif ($index !== null && !isset($index['units'][$unit])) {
                $problems[] = self::problem('error', 'unit_fixed_unknown', null, ['code' => $unit]);
            } elseif (strlen($unit) > self::MAX_ANSWER_CODE) {
                $problems[] = self::problem('error', 'unit_code_too_long', null, [
                    'q' => '-', 'code' => $unit,
                ]);
            }
            foreach ($unitQuestions as $q) {
                $problems[] = self::problem('error', 'unit_question_and_fixed', $q);
            }
            return $problems;
        }
        if (count($unitQuestions) === 0) {
            return [self::problem('error', 'unit_source_missing')];
        }
        if (count($unitQuestions) > 1) {
            foreach (array_slice($unitQuestions, 1) as $q) {
                $problems[] = self::problem('error', 'unit_question_many', $q);
            }
        }
        $q = $unitQuestions[0];
        if (strpos(QuestionRoles::LIST_TYPES, (string) $q['type']) === false) {
            return $problems; // reported as role_not_for_type with the other roles
        }
        $map = $this->codeMap($q, $problems);
        if ($map === null) {
            return $problems; // the answers are checked once the map can be read
        }
        foreach ($q['answers'] ?? [] as $code) {
            $code = (string) $code;
            $unit = $map[$code] ?? $code;
            if (strlen($code) > self::MAX_ANSWER_CODE) {
                $problems[] = self::problem('error', 'unit_code_too_long', $q, ['code' => $code]);
            } elseif ($index !== null && !isset($index['units'][$unit])) {
                $problems[] = $unit === $code
                    ? self::problem('error', 'unit_code_unknown', $q, ['code' => $code])
                    : self::problem('error', 'mapped_unit_code_unknown', $q, ['code' => $code, 'mapped' => $unit]);
            }
        }
        return $problems;
    }

    /**
     * @param array<string, mixed> $q
     * @param array<string, array<string, mixed>>|null $index
     * @param array{code: string, codes: list<string>}|null $scale
     * @return list<array<string, mixed>>
     */
    private function checkRated(array $q, ?array $index, ?array $scale): array
    {
        $problems = [];
        $text = (string) ($q['dimension'] ?? '');
        $spec = QuestionRoles::parseDimension($text);
        if ($spec['error'] !== null) {
            return [self::problem('error', 'dimension_syntax', $q, ['code' => $spec['error']])];
        }
        if (QuestionRoles::isArray((string) $q['type'])) {
            $subs = array_map('strval', $q['subquestions'] ?? []);
            foreach (array_keys($spec['rows']) as $named) {
                if (!in_array((string) $named, $subs, true)) {
                    $problems[] = self::problem('error', 'row_unknown', $q, ['code' => $named]);
                }
            }
            if ($spec['single'] === null && !$spec['rows']) {
                $problems[] = self::problem('error', 'rated_without_dimension', $q);
            } else {
                foreach (QuestionRoles::rowDimensions($text, $subs) as $sq => $dim) {
                    if ($dim === null) {
                        $problems[] = self::problem('error', 'row_without_dimension', $q, ['code' => $sq]);
                    }
                }
            }
            $dimensions = $spec['single'] !== null ? [$spec['single']] : array_values($spec['rows']);
        } else {
            if ($spec['rows']) {
                return [self::problem('error', 'dimension_syntax', $q, ['code' => $text])];
            }
            if ($spec['single'] === null) {
                return [self::problem('error', 'rated_without_dimension', $q)];
            }
            $dimensions = [$spec['single']];
        }
        foreach (array_unique($dimensions) as $dim) {
            $problems = array_merge($problems, $this->checkDimensionCode($q, $dim, $index));
        }
        $own = trim((string) ($q['scale'] ?? ''));
        if ($own !== '') {
            if (!preg_match('/^[A-Za-z0-9_.-]{1,40}$/', $own)) {
                $problems[] = self::problem('error', 'scale_syntax', $q, ['code' => $own]);
                $scale = null;
            } elseif ($index !== null && !isset($index['scales'][$own])) {
                $problems[] = self::problem('error', 'scale_unknown', $q, ['code' => $own]);
                $scale = null;
            } else {
                $scale = self::scale($index, $own);
            }
        }
        $map = $this->codeMap($q, $problems);
        $answers = array_map('strval', $q['answers'] ?? []);
        if (!$answers) {
            $problems[] = self::problem('error', 'no_answers', $q);
        } elseif ($scale !== null && $map !== null) {
            foreach ($answers as $code) {
                $level = $map[$code] ?? $code;
                if (in_array($level, $scale['codes'], true)) {
                    continue;
                }
                $problems[] = $level === $code
                    ? self::problem('error', 'answer_outside_scale', $q, ['code' => $code, 'scale' => $scale['code']])
                    : self::problem('error', 'mapped_answer_outside_scale', $q, [
                        'code' => $code, 'mapped' => $level, 'scale' => $scale['code'],
                    ]);
            }
        }
        return $problems;
    }

    /**
     * The question's pingyiCodeMap, read; a piece that cannot be read is an error (and
     * null comes back: the answers are not checked against a map half read), an answer
     * code the question does not have a warning (both added to $problems).
     *
     * @param array<string, mixed> $q
     * @param list<array<string, mixed>> $problems
     * @return array<string, string>|null
     */
    private function codeMap(array $q, array &$problems): ?array
    {
        $parsed = QuestionRoles::parseCodeMap((string) ($q['code_map'] ?? ''));
        if ($parsed['error'] !== null) {
            $problems[] = self::problem('error', 'code_map_syntax', $q, ['code' => $parsed['error']]);
            return null;
        }
        $answers = array_map('strval', $q['answers'] ?? []);
        foreach (array_keys($parsed['map']) as $code) {
            if (!in_array((string) $code, $answers, true)) {
                $problems[] = self::problem('warning', 'code_map_unused', $q, ['code' => (string) $code]);
            }
        }
        return $parsed['map'];
    }

    /**
     * @param array<string, mixed> $q
     * @param array<string, array<string, mixed>>|null $index
     * @return list<array<string, mixed>>
     */
    private function checkDimensionCode(array $q, string $dim, ?array $index): array
    {
        if (!preg_match('/^[A-Za-z0-9_.-]{1,40}$/', $dim)) {
            return [self::problem('error', 'dimension_syntax', $q, ['code' => $dim])];
        }
        if ($index !== null && !isset($index['dimensions'][$dim])) {
            return [self::problem('error', 'dimension_unknown', $q, ['code' => $dim])];
        }
        return [];
    }

    /**
     * The campaign's scale: its level codes plus the "don't know" codes (stored, not counted).
     *
     * @param array<string, array<string, mixed>>|null $index
     * @return array{code: string, codes: list<string>}|null
     */
    private static function campaignScale(?array $index, string $campaign): ?array
    {
        if ($index === null || !isset($index['campaigns'][$campaign])) {
            return null;
        }
        return self::scale($index, (string) ($index['campaigns'][$campaign]['scale'] ?? ''));
    }

    /**
     * A scale's level codes plus its "don't know" codes.
     *
     * @param array<string, array<string, mixed>>|null $index
     * @return array{code: string, codes: list<string>}|null
     */
    private static function scale(?array $index, string $code): ?array
    {
        if ($index === null || !isset($index['scales'][$code])) {
            return null;
        }
        $scale = $index['scales'][$code];
        $codes = [];
        foreach (array_merge($scale['levels'] ?? [], $scale['excluded'] ?? []) as $level) {
            $codes[] = (string) $level['code'];
        }
        return ['code' => $code, 'codes' => $codes];
    }

    /**
     * @param array<string, mixed> $catalogue
     * @return array<string, array<string, mixed>> kind -> code -> entry
     */
    private static function index(array $catalogue): array
    {
        $out = [];
        foreach (['units', 'dimensions', 'groups', 'scales', 'campaigns', 'systems'] as $kind) {
            $out[$kind] = [];
            foreach ($catalogue[$kind] ?? [] as $entry) {
                if (is_array($entry) && isset($entry['code'])) {
                    $out[$kind][(string) $entry['code']] = $entry;
                }
            }
        }
        return $out;
    }

    /**
     * @param array<string, mixed>|null $q
     * @param array<string, string|int> $params
     * @return array<string, mixed>
     */
    private static function problem(string $severity, string $code, ?array $q = null, array $params = []): array
    {
        if ($q !== null) {
            $params['q'] = (string) $q['code'];
        }
        return [
            'severity' => $severity,
            'code' => $code,
            'qid' => $q === null ? null : (int) $q['qid'],
            'question' => $q === null ? null : (string) $q['code'],
            'message' => Messages::both($code, $params),
        ];
    }
}
