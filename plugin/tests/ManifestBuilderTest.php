<?php

declare(strict_types=1);

use PHPUnit\Framework\TestCase;
use Pingyi\ManifestBuilder;
use Pingyi\ManifestEndpoint;
use Pingyi\ManifestException;
use Pingyi\Signer;
use Pingyi\Tests\Samples;
use Pingyi\Validator;

final class ManifestBuilderTest extends TestCase
{
    /**
     * The surveys whose manifests are committed to tests/fixtures/plugin/ for the daemon's
     * tests: each is what this builder emits, signed as the endpoint signs it.
     *
     * @return array<string, array{0: array<string, mixed>}>
     */
    public function surveys(): array
    {
        $base = Samples::survey();
        $fixed = $base;
        $fixed['sid'] = 222222;
        $fixed['title'] = '企业评议（第一税务所窗口）';
        $fixed['settings'] = ['unit_source' => 'fixed', 'unit' => 'U0101', 'group' => 'enterprises', 'token' => 'hash'] + $fixed['settings'];
        $fixed = Samples::questionChanged($fixed, 'office', static function (array $q): array {
            return ['role' => 'ignored'] + $q;
        });
        // one dimension for every row of the array; a private array; no title
        $single = Samples::questionChanged($base, 'detail', static function (array $q): array {
            return ['dimension' => 'attitude'] + $q;
        });
        $single['sid'] = 333333;
        $single['title'] = null;
        $single['questions'][] = Samples::q(6, 'household', 'F', 'private', '', ['A1', 'A2'], ['SQ001', 'SQ002']);
        $single['questions'][] = Samples::q(7, 'note', 'U', 'ignored', '', []);
        return [
            'question_unit' => [$base],
            'fixed_unit' => [$fixed],
            'array_single_dimension' => [$single],
            'mapped_codes' => [Samples::mappedCodes()],
        ];
    }

    /** @dataProvider surveys */
    public function testEmitsASchemaValidSignedManifestAndWritesTheFixture(array $survey): void
    {
        $name = $this->dataName();
        $this->assertSame([], array_filter(
            (new Validator())->validate($survey, Samples::catalogue()),
            static function (array $p): bool {
                return $p['severity'] === 'error';
            }
        ), 'the sample survey itself must be valid');
        $doc = (new ManifestBuilder(Samples::SITE))->build($survey);
        $reply = (new ManifestEndpoint(new Signer(Samples::SECRET), new ManifestBuilder(Samples::SITE)))
            ->reply(200, $doc, Samples::NOW);
        $this->assertSchemaValid($reply['body']);

        file_put_contents(PINGYI_FIXTURES . "/manifest_{$name}.json", $reply['body']);
        file_put_contents(PINGYI_FIXTURES . "/manifest_{$name}.headers.json", json_encode([
            Signer::TIMESTAMP_HEADER => $reply['headers'][Signer::TIMESTAMP_HEADER],
            Signer::SIGNATURE_HEADER => $reply['headers'][Signer::SIGNATURE_HEADER],
        ], JSON_PRETTY_PRINT) . "\n");
        $this->assertSame(Samples::NOW, (new Signer(Samples::SECRET))->verify(
            $reply['headers'][Signer::TIMESTAMP_HEADER],
            $reply['headers'][Signer::SIGNATURE_HEADER],
            (string) file_get_contents(PINGYI_FIXTURES . "/manifest_{$name}.json"),
            Samples::NOW
        ));
    }

    public function testQuestionUnitSurveyDocument(): void
    {
        $doc = json_decode(ManifestBuilder::toJson((new ManifestBuilder(Samples::SITE))->build(Samples::survey())), true);
        $this->assertSame([
            'version' => 1,
            'site' => 'district',
            'survey_id' => 111111,
            'campaign' => '2022',
            'group' => 'citizens',
            'title' => '群众满意度调查 𠮷 😀',
            'unit' => ['source' => 'question', 'column' => 'office'],
            'ratings' => [
                ['column' => 'overall', 'dimension' => 'overall'],
                ['question' => 'detail', 'subquestions' => [
                    'SQ001' => 'attitude', 'SQ002' => 'efficiency', 'SQ003' => 'integrity', 'SQ004' => 'openness',
                ]],
            ],
            'comments' => [['column' => 'comment', 'dimension' => null]],
            'private' => ['phone'],
            'token' => 'drop',
            'source' => 'plugin',
        ], $doc);
    }

    public function testScaleAndCodeMapsAreEmittedWhereTheDesignerSetThem(): void
    {
        $doc = json_decode(ManifestBuilder::toJson((new ManifestBuilder(Samples::SITE))->build(Samples::mappedCodes())), true);
        $this->assertSame([
            'source' => 'question', 'column' => 'office',
            'code_map' => ['1' => 'U0101', '2' => 'U0102', '3' => 'U0103', '4' => 'U0104', '5' => 'U0105', '6' => 'U0106'],
        ], $doc['unit']);
        $toScale = ['5' => 'A1', '4' => 'A2', '3' => 'A3', '2' => 'A4', '1' => 'A5', '0' => 'A6'];
        $this->assertSame(
            ['column' => 'overall', 'dimension' => 'overall', 'scale' => 'five_level', 'answer_map' => $toScale],
            $doc['ratings'][0]
        );
        $this->assertSame('five_level', $doc['ratings'][1]['scale']);
        $this->assertSame($toScale, $doc['ratings'][1]['answer_map']);
        // the map's codes are JSON object keys even where PHP made them integers
        $json = ManifestBuilder::toJson((new ManifestBuilder(Samples::SITE))->build(Samples::mappedCodes()));
        $this->assertStringContainsString('"answer_map":{"5":"A1","4":"A2"', $json);
    }

    public function testNoScaleOrMapUnlessSet(): void
    {
        $doc = (new ManifestBuilder(Samples::SITE))->build(Samples::survey());
        $this->assertArrayNotHasKey('code_map', $doc['unit']);
        foreach ($doc['ratings'] as $rating) {
            $this->assertArrayNotHasKey('scale', $rating);
            $this->assertArrayNotHasKey('answer_map', $rating);
        }
    }

    public function testChineseIsWrittenAsItselfNotEscaped(): void
    {
        $json = ManifestBuilder::toJson((new ManifestBuilder(Samples::SITE))->build(Samples::survey()));
        $this->assertStringContainsString('群众满意度调查 𠮷 😀', $json);
        $this->assertStringNotContainsString('\\u', $json);
    }

    public function testPrivateArrayListsEveryColumnAndSingleDimensionCoversEveryRow(): void
    {
        $survey = $this->surveys()['array_single_dimension'][0];
        $doc = (new ManifestBuilder(Samples::SITE))->build($survey);
        $this->assertSame(['phone', 'household[SQ001]', 'household[SQ002]'], $doc['private']);
        $this->assertEquals(
            (object) ['SQ001' => 'attitude', 'SQ002' => 'attitude', 'SQ003' => 'attitude', 'SQ004' => 'attitude'],
            $doc['ratings'][1]['subquestions']
        );
        $this->assertArrayNotHasKey('title', $doc);
    }

    public function testNumericSubquestionCodesStayAnObject(): void
    {
        $survey = Samples::questionChanged(Samples::survey(), 'detail', static function (array $q): array {
            return ['dimension' => 'attitude', 'subquestions' => ['0', '1']] + $q;
        });
        $json = ManifestBuilder::toJson((new ManifestBuilder(Samples::SITE))->build($survey));
        $this->assertStringContainsString('"subquestions":{"0":"attitude","1":"attitude"}', $json);
    }

    /** @return array<string, array{0: callable}> */
    public function unbuildable(): array
    {
        return [
            'no campaign' => [static function (array $s): array {
                $s['settings']['campaign'] = ' ';
                return $s;
            }],
            'no unit source' => [static function (array $s): array {
                return Samples::questionChanged($s, 'office', static function (array $q): array {
                    return ['role' => ''] + $q;
                });
            }],
            'fixed without unit' => [static function (array $s): array {
                $s['settings']['unit_source'] = 'fixed';
                return $s;
            }],
            'rated without dimension' => [static function (array $s): array {
                return Samples::questionChanged($s, 'overall', static function (array $q): array {
                    return ['dimension' => ''] + $q;
                });
            }],
            'unreadable code map' => [static function (array $s): array {
                return Samples::questionChanged($s, 'overall', static function (array $q): array {
                    return ['code_map' => '1=A1; 非常满意=A1'] + $q;
                });
            }],
            'array row without dimension' => [static function (array $s): array {
                return Samples::questionChanged($s, 'detail', static function (array $q): array {
                    return ['dimension' => 'SQ001=attitude'] + $q;
                });
            }],
        ];
    }

    /** @dataProvider unbuildable */
    public function testRefusesWhatItCannotExpress(callable $break): void
    {
        $this->expectException(ManifestException::class);
        (new ManifestBuilder(Samples::SITE))->build($break(Samples::survey()));
    }

    public function testRefusesABadSiteName(): void
    {
        $this->expectException(ManifestException::class);
        new ManifestBuilder('河西 district');
    }

    public function testTheSchemaRejectsABrokenDocument(): void
    {
        // guards the guard: the schema check below must be able to fail
        $doc = (new ManifestBuilder(Samples::SITE))->build(Samples::survey());
        $doc['unit'] = ['source' => 'fixed', 'unit' => 'U010101'];
        $this->assertNotSame([], $this->schemaErrors(ManifestBuilder::toJson($doc)));
        $doc = (new ManifestBuilder(Samples::SITE))->build(Samples::survey());
        $doc['surprise'] = 1;
        $this->assertNotSame([], $this->schemaErrors(ManifestBuilder::toJson($doc)));
    }

    private function assertSchemaValid(string $json): void
    {
        $this->assertSame([], $this->schemaErrors($json));
    }

    /**
     * Debian's justinrainbow/json-schema 5.2 speaks draft-04; the schema file is 2020-12
     * (pydantic). Two keywords differ in meaning: a numeric exclusiveMinimum becomes the
     * draft-04 pair, const a one-value enum. propertyNames is not checked here; the
     * Python test checks the same files against the 2020-12 schema with every keyword.
     *
     * @param mixed $node
     * @return mixed
     */
    private static function asDraft4($node)
    {
        if (is_array($node)) {
            return array_map([self::class, 'asDraft4'], $node);
        }
        if (!is_object($node)) {
            return $node;
        }
        $out = new \stdClass();
        foreach (get_object_vars($node) as $key => $value) {
            if ($key === 'exclusiveMinimum' && is_numeric($value)) {
                $out->minimum = $value;
                $out->exclusiveMinimum = true;
            } elseif ($key === 'const') {
                $out->enum = [$value];
            } elseif ($key === '$schema') {
                continue;
            } else {
                $out->{$key} = self::asDraft4($value);
            }
        }
        return $out;
    }

    /** @return list<string> */
    private function schemaErrors(string $json): array
    {
        if (!class_exists(\JsonSchema\Validator::class)) {
            $this->markTestSkipped('php-json-schema (Debian) not installed: schema checked on the Python side only');
        }
        $this->assertFileExists(PINGYI_SCHEMA);
        $schema = self::asDraft4(json_decode((string) file_get_contents(PINGYI_SCHEMA)));
        $data = json_decode($json);
        $validator = new \JsonSchema\Validator();
        $validator->validate($data, $schema);
        $errors = [];
        foreach ($validator->getErrors() as $error) {
            $errors[] = $error['property'] . ': ' . $error['message'];
        }
        return $errors;
    }
}
