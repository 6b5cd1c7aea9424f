<?php

declare(strict_types=1);

use PHPUnit\Framework\TestCase;
use Pingyi\Messages;
use Pingyi\Tests\Samples;
use Pingyi\Validator;

final class ValidatorTest extends TestCase
{
    /** @return list<array<string, mixed>> */
    private static function errors(array $survey, ?array $catalogue = null): array
    {
        $problems = (new Validator())->validate($survey, $catalogue ?? Samples::catalogue());
        return array_values(array_filter($problems, static function (array $p): bool {
            return $p['severity'] === 'error';
        }));
    }

    /** @return list<string> */
    private static function codes(array $problems): array
    {
        return array_map(static function (array $p): string {
            return $p['code'];
        }, $problems);
    }

    private static function change(string $code, array $fields): array
    {
        return Samples::questionChanged(Samples::survey(), $code, static function (array $q) use ($fields): array {
            return $fields + $q;
        });
    }

    public function testTheSampleSurveyHasNoProblems(): void
    {
        $this->assertSame([], (new Validator())->validate(Samples::survey(), Samples::catalogue()));
    }

    /** @return array<string, array{0: array<string, mixed>, 1: list<string>, 2: ?int}> */
    public function broken(): array
    {
        $s = Samples::survey();
        $noCampaign = $s;
        $noCampaign['settings']['campaign'] = '';
        $unknownCampaign = $s;
        $unknownCampaign['settings']['campaign'] = '2099';
        $unknownGroup = $s;
        $unknownGroup['settings']['group'] = 'aliens';
        $notInCampaign = $s;
        $notInCampaign['settings']['group'] = 'supervisors';
        $fixedUnknown = self::change('office', ['role' => 'ignored']);
        $fixedUnknown['settings']['unit_source'] = 'fixed';
        $fixedUnknown['settings']['unit'] = 'U9999';
        $fixedAndQuestion = $s;
        $fixedAndQuestion['settings']['unit_source'] = 'fixed';
        $fixedAndQuestion['settings']['unit'] = 'U0101';
        $twoUnits = $s;
        $twoUnits['questions'][] = Samples::q(9, 'office2', '!', 'unit', '', ['U0101']);
        return [
            'rated without dimension' => [self::change('overall', ['dimension' => '']), ['rated_without_dimension'], 2],
            'unknown dimension' => [self::change('overall', ['dimension' => 'happiness']), ['dimension_unknown'], 2],
            'answer outside scale' => [self::change('overall', ['answers' => ['A1', 'A2', 'X9']]), ['answer_outside_scale'], 2],
            'rated without answers' => [self::change('overall', ['answers' => []]), ['no_answers'], 2],
            'array row without dimension' => [self::change('detail', ['dimension' => 'SQ001=attitude; SQ002=efficiency; SQ003=integrity']), ['row_without_dimension'], 3],
            'array names a missing row' => [self::change('detail', ['dimension' => 'attitude; SQ009=efficiency']), ['dimension_syntax'], 3],
            'array row names missing subquestion' => [self::change('detail', ['dimension' => 'SQ001=attitude; SQ002=efficiency; SQ003=integrity; SQ004=openness; SQ009=openness']), ['row_unknown'], 3],
            'unreadable dimension' => [self::change('overall', ['dimension' => '总体']), ['dimension_syntax'], 2],
            'per-row on a list' => [self::change('overall', ['dimension' => 'SQ001=overall']), ['dimension_syntax'], 2],
            'unit code not in catalogue' => [self::change('office', ['answers' => ['U0101', 'U0777']]), ['unit_code_unknown'], 1],
            'unit code longer than 5' => [self::change('office', ['answers' => ['U0101', 'U010101']]), ['unit_code_too_long'], 1],
            'no unit source' => [self::change('office', ['role' => '']), ['unit_source_missing'], null],
            'two unit questions' => [$twoUnits, ['unit_question_many'], 9],
            'fixed unit unknown' => [$fixedUnknown, ['unit_fixed_unknown'], null],
            'fixed and a unit question' => [$fixedAndQuestion, ['unit_question_and_fixed'], 1],
            'no campaign' => [$noCampaign, ['campaign_missing'], null],
            'unknown campaign' => [$unknownCampaign, ['campaign_unknown'], null],
            'unknown group' => [$unknownGroup, ['group_unknown'], null],
            'group not in campaign' => [$notInCampaign, ['group_not_in_campaign'], null],
            'comment role on a list' => [self::change('overall', ['role' => 'comment']), ['role_not_for_type'], 2],
            'rated text question' => [self::change('comment', ['role' => 'rated', 'dimension' => 'overall']), ['role_not_for_type'], 4],
            'unknown role' => [self::change('phone', ['role' => 'secret']), ['role_unknown'], 5],
            'mapped answer outside scale' => [self::mapped('overall', ['code_map' => '5=A1; 4=A2; 3=A3; 2=A4; 1=A5; 0=A9']), ['mapped_answer_outside_scale'], 2],
            'answer left unmapped' => [self::mapped('detail', ['code_map' => '5=A1; 4=A2; 3=A3; 2=A4; 1=A5']), ['answer_outside_scale'], 3],
            'unknown scale' => [self::mapped('overall', ['scale' => 'ten_level']), ['scale_unknown'], 2],
            'scale not a code' => [self::mapped('overall', ['scale' => '五级']), ['scale_syntax'], 2],
            'unreadable code map' => [self::mapped('overall', ['code_map' => '5=A1, 4 -> A2']), ['code_map_syntax'], 2],
            'code map longer than 5' => [self::mapped('overall', ['code_map' => '5=A1; 4=A2; 3=A3; 2=A4; 1=A5; 0=A66666']), ['code_map_syntax'], 2],
            'mapped unit not in catalogue' => [self::mapped('office', ['code_map' => '1=U0101; 2=U0102; 3=U0103; 4=U0104; 5=U0105; 6=U0777']), ['mapped_unit_code_unknown'], 1],
            'unit answer left unmapped' => [self::mapped('office', ['code_map' => '1=U0101']), ['unit_code_unknown', 'unit_code_unknown', 'unit_code_unknown', 'unit_code_unknown', 'unit_code_unknown'], 1],
            'unknown comment dimension' => [self::change('comment', ['dimension' => 'nope']), ['dimension_unknown'], 4],
        ];
    }

    private static function mapped(string $code, array $fields): array
    {
        return Samples::questionChanged(Samples::mappedCodes(), $code, static function (array $q) use ($fields): array {
            return $fields + $q;
        });
    }

    public function testMappedCodesAreCheckedAfterTheirMap(): void
    {
        $this->assertSame([], (new Validator())->validate(Samples::mappedCodes(), Samples::catalogue()));
        // without their maps the same answer codes are outside the scale and the units
        $bare = Samples::mappedCodes();
        foreach ($bare['questions'] as $i => $q) {
            $bare['questions'][$i]['code_map'] = '';
        }
        $codes = self::codes(self::errors($bare));
        $this->assertContains('unit_code_unknown', $codes);
        $this->assertContains('answer_outside_scale', $codes);
    }

    public function testAMapKeyThatIsNoAnswerAndAStrayMapAreWarnings(): void
    {
        $survey = self::mapped('overall', ['code_map' => '5=A1; 4=A2; 3=A3; 2=A4; 1=A5; 0=A6; 9=A1']);
        $survey = Samples::questionChanged($survey, 'comment', static function (array $q): array {
            return ['code_map' => '1=A1'] + $q;
        });
        // a scale on the unit question means nothing either (its code map does)
        $survey = Samples::questionChanged($survey, 'office', static function (array $q): array {
            return ['scale' => 'five_level'] + $q;
        });
        $problems = (new Validator())->validate($survey, Samples::catalogue());
        $this->assertSame(['code_map_not_used', 'code_map_unused', 'code_map_not_used'], self::codes($problems));
        $this->assertSame(['office', 'overall', 'comment'], array_column($problems, 'question'));
        $this->assertFalse(Validator::hasErrors($problems));
        $this->assertStringContainsString('"9"', $problems[1]['message']['en']);
    }

    /** @dataProvider broken */
    public function testFindsWhatTheDaemonWouldReject(array $survey, array $codes, ?int $qid): void
    {
        $errors = self::errors($survey);
        $this->assertSame($codes, self::codes($errors));
        $this->assertSame($qid, $errors[0]['qid'], 'the problem links to its question');
        foreach ($errors as $p) {
            $this->assertNotSame('', $p['message']['zh']);
            $this->assertNotSame('', $p['message']['en']);
            $this->assertNotSame($p['message']['zh'], $p['message']['en']);
            if ($p['question'] !== null) {
                $this->assertStringContainsString($p['question'], $p['message']['zh']);
                $this->assertStringContainsString($p['question'], $p['message']['en']);
            }
        }
    }

    public function testWithoutACatalogueCodesAreNotCheckedButStructureIs(): void
    {
        $survey = self::change('overall', ['dimension' => 'happiness', 'answers' => ['Q']]);
        $problems = (new Validator())->validate($survey, null, 'HTTP 502');
        $this->assertSame(['catalogue_unavailable'], self::codes($problems));
        $this->assertSame('warning', $problems[0]['severity']);
        $this->assertStringContainsString('HTTP 502', $problems[0]['message']['en']);
        $survey = self::change('overall', ['dimension' => '']);
        $this->assertSame(['rated_without_dimension'], self::codes(self::errors($survey, null) ?: (new Validator())->validate($survey, null)));
    }

    public function testADisabledSurveyIsOnlyAWarning(): void
    {
        $survey = Samples::survey();
        $survey['settings']['enabled'] = false;
        $problems = (new Validator())->validate($survey, Samples::catalogue());
        $this->assertSame(['not_enabled'], self::codes($problems));
        $this->assertFalse(Validator::hasErrors($problems));
    }

    public function testEveryMessageHasBothLanguages(): void
    {
        foreach (Messages::TEXTS as $key => $texts) {
            $this->assertNotSame('', $texts['zh'], $key);
            $this->assertNotSame('', $texts['en'], $key);
        }
        $this->assertSame('en', Messages::lang('en-GB'));
        $this->assertSame('zh', Messages::lang('zh-Hans'));
    }
}
