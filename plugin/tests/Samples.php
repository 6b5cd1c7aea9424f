<?php

declare(strict_types=1);

namespace Pingyi\Tests;

/**
 * Surveys and a catalogue shaped like the capture survey 111111 (office L with unit codes,
 * overall L A1..A5, detail F SQ001..SQ004, comment T, phone S) and like
 * sync.catalogue.public_json. Shared by every test so a fixture means one thing.
 */
final class Samples
{
    public const SECRET = 'pingyi-test-secret-评议-𠮷';
    public const SITE = 'district';
    /** fixed so the committed fixtures do not change from run to run */
    public const NOW = 1700000000;

    /** @return array<string, mixed> */
    public static function catalogue(): array
    {
        $units = [];
        foreach (['U0101', 'U0102', 'U0103', 'U0104', 'U0105', 'U0106'] as $i => $code) {
            $units[] = ['code' => $code, 'name' => '第' . ($i + 1) . '税务所', 'system' => 'tax'];
        }
        return [
            'name' => '河西区',
            'systems' => [['code' => 'tax', 'name' => '税务系统']],
            'units' => $units,
            'dimensions' => [
                ['code' => 'overall', 'name' => '总体满意度', 'systems' => []],
                ['code' => 'attitude', 'name' => '服务意识', 'systems' => []],
                ['code' => 'efficiency', 'name' => '工作效率', 'systems' => []],
                ['code' => 'integrity', 'name' => '廉洁自律', 'systems' => []],
                ['code' => 'openness', 'name' => '政务公开', 'systems' => []],
            ],
            'groups' => [
                ['code' => 'citizens', 'name' => '群众'],
                ['code' => 'enterprises', 'name' => '企业'],
                ['code' => 'supervisors', 'name' => '监督员'],
            ],
            'scales' => [[
                'code' => 'five_level',
                'name' => '五级满意度',
                'levels' => [
                    ['code' => 'A1', 'label' => '非常满意', 'points' => 100.0, 'rank' => 5],
                    ['code' => 'A2', 'label' => '满意', 'points' => 80.0, 'rank' => 4],
                    ['code' => 'A3', 'label' => '基本满意', 'points' => 60.0, 'rank' => 3],
                    ['code' => 'A4', 'label' => '不满意', 'points' => 30.0, 'rank' => 2],
                    ['code' => 'A5', 'label' => '非常不满意', 'points' => 0.0, 'rank' => 1],
                ],
                'excluded' => [['code' => 'A6', 'label' => '不了解']],
            ]],
            'campaigns' => [[
                'code' => '2022', 'name' => '2022年度民主评议政风行风', 'year' => 2022,
                'scale' => 'five_level', 'groups' => ['citizens', 'enterprises'], 'systems' => [],
            ]],
        ];
    }

    /** @return array<string, mixed> */
    public static function survey(): array
    {
        $scale = ['A1', 'A2', 'A3', 'A4', 'A5', 'A6'];
        return [
            'sid' => 111111,
            'title' => '群众满意度调查 𠮷 😀',
            'settings' => [
                'enabled' => true, 'campaign' => '2022', 'group' => 'citizens',
                'unit_source' => 'question', 'unit' => '', 'token' => 'drop',
            ],
            'questions' => [
                self::q(1, 'office', 'L', 'unit', '', ['U0101', 'U0102', 'U0103', 'U0104', 'U0105', 'U0106']),
                self::q(2, 'overall', 'L', 'rated', 'overall', $scale),
                self::q(3, 'detail', 'F', 'rated', 'SQ001=attitude; SQ002=efficiency; SQ003=integrity; SQ004=openness', $scale, ['SQ001', 'SQ002', 'SQ003', 'SQ004']),
                self::q(4, 'comment', 'T', 'comment', '', []),
                self::q(5, 'phone', 'S', 'private', '', []),
            ],
        ];
    }

    /**
     * The sample survey built on answer codes of its own (1..6 for the units, 5..0 for the
     * ratings, as a survey made before Pingyi often has), mapped to the catalogue's codes
     * with pingyiCodeMap, and the scale named on each rated question.
     *
     * @return array<string, mixed>
     */
    public static function mappedCodes(): array
    {
        $survey = self::survey();
        $survey['sid'] = 444444;
        $ratings = ['5', '4', '3', '2', '1', '0'];
        $toScale = '5=A1; 4=A2; 3=A3; 2=A4; 1=A5; 0=A6';
        $survey = self::questionChanged($survey, 'office', static function (array $q): array {
            return ['answers' => ['1', '2', '3', '4', '5', '6'], 'code_map' => "1=U0101\n2=U0102\n3=U0103\n4=U0104\n5=U0105\n6=U0106"] + $q;
        });
        foreach (['overall', 'detail'] as $code) {
            $survey = self::questionChanged($survey, $code, static function (array $q) use ($ratings, $toScale): array {
                return ['answers' => $ratings, 'scale' => 'five_level', 'code_map' => $toScale] + $q;
            });
        }
        return $survey;
    }

    /**
     * @param list<string> $answers
     * @param list<string> $subquestions
     * @return array<string, mixed>
     */
    public static function q(int $qid, string $code, string $type, string $role, string $dimension, array $answers, array $subquestions = []): array
    {
        return [
            'qid' => $qid, 'code' => $code, 'type' => $type, 'role' => $role,
            'dimension' => $dimension, 'scale' => '', 'code_map' => '',
            'answers' => $answers, 'subquestions' => $subquestions,
        ];
    }

    /**
     * @param array<string, mixed> $survey
     * @param callable(array<string, mixed>): array<string, mixed> $change
     * @return array<string, mixed>
     */
    public static function questionChanged(array $survey, string $code, callable $change): array
    {
        foreach ($survey['questions'] as $i => $q) {
            if ($q['code'] === $code) {
                $survey['questions'][$i] = $change($q);
            }
        }
        return $survey;
    }
}
