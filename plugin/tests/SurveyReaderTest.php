<?php

declare(strict_types=1);

use PHPUnit\Framework\TestCase;
use Pingyi\ManifestBuilder;
use Pingyi\SurveyReader;
use Pingyi\Tests\Samples;
use Pingyi\Validator;

require_once __DIR__ . '/stubs/LimeSurveyModels.php';

/** SurveyReader over LimeSurvey-shaped rows (the capture survey 111111) gives Samples::survey(). */
final class SurveyReaderTest extends TestCase
{
    protected function setUp(): void
    {
        $title = (object) ['surveyls_title' => '群众满意度调查 𠮷 😀'];
        $q = static function (int $qid, int $gid, int $order, string $type, string $title, int $parent = 0, int $scale = 0): array {
            return ['qid' => $qid, 'gid' => $gid, 'sid' => 111111, 'question_order' => $order, 'type' => $type,
                'title' => $title, 'parent_qid' => $parent, 'scale_id' => $scale];
        };
        $answers = [];
        $aid = 0;
        foreach (['U0101', 'U0102', 'U0103', 'U0104', 'U0105', 'U0106'] as $i => $code) {
            $answers[] = ['aid' => ++$aid, 'qid' => 1, 'code' => $code, 'sortorder' => $i, 'scale_id' => 0];
        }
        foreach ([2, 3] as $qid) {
            // sortorder reversed against insertion: the reader must sort
            foreach (['A6', 'A5', 'A4', 'A3', 'A2', 'A1'] as $i => $code) {
                $answers[] = ['aid' => ++$aid, 'qid' => $qid, 'code' => $code, 'sortorder' => 5 - $i, 'scale_id' => 0];
            }
        }
        $attr = static function (int $qaid, int $qid, string $name, string $value): array {
            return ['qaid' => $qaid, 'qid' => $qid, 'attribute' => $name, 'value' => $value, 'language' => null];
        };
        StubTables::$rows = [
            'Survey' => [['sid' => 111111, 'language' => 'zh-Hans', 'correct_relation_defaultlanguage' => $title]],
            'QuestionGroup' => [['gid' => 20, 'sid' => 111111, 'group_order' => 1], ['gid' => 10, 'sid' => 111111, 'group_order' => 0]],
            'Question' => [
                // group 20 comes second although its gid is larger; order within a group counts
                $q(5, 20, 3, 'S', 'phone'),
                $q(4, 20, 2, 'T', 'comment'),
                $q(3, 20, 1, 'F', 'detail'),
                $q(31, 20, 1, 'T', 'SQ001', 3), $q(32, 20, 2, 'T', 'SQ002', 3),
                $q(33, 20, 3, 'T', 'SQ003', 3), $q(34, 20, 4, 'T', 'SQ004', 3),
                $q(35, 20, 5, 'T', 'X1', 3, 1), // scale 1: not a row of the rating
                $q(2, 10, 2, 'L', 'overall'),
                $q(1, 10, 1, 'L', 'office'),
                $q(9, 10, 1, 'L', 'other_survey'),
            ],
            'Answer' => $answers,
            'QuestionAttribute' => [
                $attr(1, 1, 'pingyiRole', 'unit'),
                $attr(2, 2, 'pingyiRole', 'rated'),
                $attr(3, 2, 'pingyiDimension', 'overall'),
                $attr(4, 3, 'pingyiRole', 'rated'),
                $attr(5, 3, 'pingyiDimension', 'SQ001=attitude; SQ002=efficiency; SQ003=integrity; SQ004=openness'),
                $attr(6, 4, 'pingyiRole', 'comment'),
                $attr(7, 5, 'pingyiRole', 'private'),
                $attr(8, 5, 'hidden', '1'),
            ],
        ];
        StubTables::$rows['Question'][10]['sid'] = 222222;
    }

    public function testReadsTheSurveyAsTheSnapshotTheBuilderTakes(): void
    {
        $settings = ['enabled' => '1', 'campaign' => ' 2022 ', 'group' => 'citizens', 'unit_source' => 'question', 'unit' => null, 'token' => null];
        $snapshot = (new SurveyReader())->read(111111, $settings);
        $this->assertSame(Samples::survey(), $snapshot);
        $this->assertSame([], (new Validator())->validate($snapshot, Samples::catalogue()));
        $this->assertSame(
            (string) file_get_contents(PINGYI_FIXTURES . '/manifest_question_unit.json'),
            ManifestBuilder::toJson((new ManifestBuilder(Samples::SITE))->build($snapshot))
        );
    }

    public function testReadsTheScaleAndTheCodeMap(): void
    {
        StubTables::$rows['QuestionAttribute'][] = ['qaid' => 20, 'qid' => 2, 'attribute' => 'pingyiScale', 'value' => 'five_level', 'language' => null];
        StubTables::$rows['QuestionAttribute'][] = ['qaid' => 21, 'qid' => 2, 'attribute' => 'pingyiCodeMap', 'value' => "A1=A1\nA6=A6", 'language' => null];
        StubTables::$rows['QuestionAttribute'][] = ['qaid' => 22, 'qid' => 1, 'attribute' => 'pingyiCodeMap', 'value' => 'U0101=U0102', 'language' => null];
        $snapshot = (new SurveyReader())->read(111111, ['enabled' => '1', 'campaign' => '2022', 'group' => 'citizens', 'unit_source' => 'question']);
        $this->assertNotNull($snapshot);
        [$office, $overall, $detail] = $snapshot['questions'];
        $this->assertSame(['five_level', "A1=A1\nA6=A6"], [$overall['scale'], $overall['code_map']]);
        $this->assertSame(['', 'U0101=U0102'], [$office['scale'], $office['code_map']]);
        $this->assertSame(['', ''], [$detail['scale'], $detail['code_map']]);
        $doc = (new ManifestBuilder(Samples::SITE))->build($snapshot);
        $this->assertEquals((object) ['U0101' => 'U0102'], $doc['unit']['code_map']);
        $this->assertSame('five_level', $doc['ratings'][0]['scale']);
    }

    public function testAMissingSurveyIsNull(): void
    {
        $this->assertNull((new SurveyReader())->read(999999, []));
    }

    public function testSettingsFromStorageAreNormalised(): void
    {
        $this->assertSame(
            ['enabled' => false, 'campaign' => '', 'group' => '', 'unit_source' => '', 'unit' => '', 'token' => 'drop'],
            SurveyReader::settings(['enabled' => '0', 'unit_source' => 'bogus', 'token' => 'keep'])
        );
    }
}
