<?php

declare(strict_types=1);

use PHPUnit\Framework\TestCase;
use Pingyi\ManifestBuilder;
use Pingyi\ManifestEndpoint;
use Pingyi\Signer;
use Pingyi\Tests\Samples;

final class ManifestEndpointTest extends TestCase
{
    private function handle(array $query, ?array $survey = null, int $now = Samples::NOW): array
    {
        $survey = $survey ?? Samples::survey();
        $endpoint = new ManifestEndpoint(new Signer(Samples::SECRET), new ManifestBuilder(Samples::SITE));
        return $endpoint->handle($query, static function (int $sid) use ($survey): ?array {
            return $sid === $survey['sid'] ? $survey : null;
        }, Samples::catalogue(), null, $now);
    }

    private static function query(int $sid, int $ts, string $secret = Samples::SECRET): array
    {
        return ['sid' => (string) $sid, 'ts' => (string) $ts, 'sig' => (new Signer($secret))->sign($ts, Signer::canonicalQuery($sid, $ts))];
    }

    public function testASignedRequestGetsTheSignedDocument(): void
    {
        $reply = $this->handle(self::query(111111, Samples::NOW - 20));
        $this->assertSame(200, $reply['status']);
        $this->assertSame(ManifestBuilder::toJson((new ManifestBuilder(Samples::SITE))->build(Samples::survey())), $reply['body']);
        $this->assertSame(Samples::NOW, (new Signer(Samples::SECRET))->verify(
            $reply['headers']['X-Pingyi-Timestamp'],
            $reply['headers']['X-Pingyi-Signature'],
            $reply['body'],
            Samples::NOW
        ));
        $this->assertSame('no-store', $reply['headers']['Cache-Control']);
    }

    /** @return array<string, array{0: array<string, string>, 1: int, 2: string}> */
    public function refused(): array
    {
        $q = self::query(111111, Samples::NOW);
        return [
            'no signature' => [['sid' => '111111', 'ts' => (string) Samples::NOW], 403, 'unsigned'],
            'wrong secret' => [self::query(111111, Samples::NOW, 'another'), 403, 'bad signature'],
            'stale' => [self::query(111111, Samples::NOW - 301), 403, 'replay window'],
            'signature for another survey' => [['sid' => '222222'] + $q, 403, 'bad signature'],
            'bad sid' => [['sid' => '1 OR 1=1'] + $q, 400, 'sid'],
            'unknown survey' => [self::query(999999, Samples::NOW), 404, 'not found'],
        ];
    }

    /** @dataProvider refused */
    public function testRefuses(array $query, int $status, string $why): void
    {
        $reply = $this->handle($query);
        $this->assertSame($status, $reply['status']);
        $this->assertStringContainsString($why, json_decode($reply['body'], true)['error']);
        $this->assertStringNotContainsString('office', $reply['body'], 'nothing of the survey leaks');
    }

    public function testADisabledSurveyIsNotServed(): void
    {
        $survey = Samples::survey();
        $survey['settings']['enabled'] = false;
        $this->assertSame(404, $this->handle(self::query(111111, Samples::NOW), $survey)['status']);
    }

    public function testInvalidSettingsAnswer422WithTheProblems(): void
    {
        $survey = Samples::questionChanged(Samples::survey(), 'overall', static function (array $q): array {
            return ['dimension' => ''] + $q;
        });
        $reply = $this->handle(self::query(111111, Samples::NOW), $survey);
        $this->assertSame(422, $reply['status']);
        $body = json_decode($reply['body'], true);
        $this->assertSame('rated_without_dimension', $body['problems'][0]['code']);
        $this->assertSame(2, $body['problems'][0]['qid']);
    }
}
