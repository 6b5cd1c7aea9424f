<?php

declare(strict_types=1);

use PHPUnit\Framework\TestCase;
use Pingyi\CatalogueCache;
use Pingyi\Http;
use Pingyi\Tests\Samples;

final class FakeHttp extends Http
{
    /** @var list<array{status: int, headers: array<string, string>, body: string, error: ?string}> */
    public $replies = [];
    /** @var list<string> */
    public $urls = [];

    public function request(string $method, string $url, array $headers = [], string $body = '', float $connectTimeout = 2.0, float $timeout = 2.0): array
    {
        $this->urls[] = $url;
        return array_shift($this->replies) ?? ['status' => 0, 'headers' => [], 'body' => '', 'error' => 'Connection refused'];
    }
}

final class CatalogueCacheTest extends TestCase
{
    /** @var mixed */
    private $stored = null;

    private function cache(FakeHttp $http): CatalogueCache
    {
        return new CatalogueCache('http://daemon/catalogue.json', function () {
            return $this->stored;
        }, function (array $value): void {
            $this->stored = $value;
        }, $http, 3600);
    }

    private static function ok(): array
    {
        return ['status' => 200, 'headers' => [], 'body' => json_encode(Samples::catalogue()), 'error' => null];
    }

    public function testFetchesOnceThenServesFromTheCacheUntilStale(): void
    {
        $http = new FakeHttp();
        $http->replies = [self::ok(), self::ok()];
        $cache = $this->cache($http);
        $first = $cache->get(Samples::NOW);
        $this->assertSame(Samples::catalogue()['units'], $first['catalogue']['units']);
        $this->assertNull($first['error']);
        $cache->get(Samples::NOW + 3599);
        $this->assertCount(1, $http->urls);
        $cache->get(Samples::NOW + 3600);
        $this->assertCount(2, $http->urls);
        $this->assertSame('http://daemon/catalogue.json', $http->urls[0]);
    }

    public function testAFailedRefreshKeepsTheOldCopyAndSaysWhy(): void
    {
        $http = new FakeHttp();
        $http->replies = [self::ok(), ['status' => 502, 'headers' => [], 'body' => '', 'error' => null]];
        $cache = $this->cache($http);
        $cache->refresh(Samples::NOW);
        $again = $cache->refresh(Samples::NOW + 10);
        $this->assertSame('HTTP 502', $again['error']);
        $this->assertSame(Samples::NOW, $again['fetched_at']);
        $this->assertNotNull($again['catalogue']);
    }

    public function testNothingCachedAndNoDaemon(): void
    {
        $result = $this->cache(new FakeHttp())->get(Samples::NOW);
        $this->assertNull($result['catalogue']);
        $this->assertSame('Connection refused', $result['error']);
    }

    public function testAWrongShapeIsNotCached(): void
    {
        $http = new FakeHttp();
        $http->replies = [['status' => 200, 'headers' => [], 'body' => '{"units": []}', 'error' => null]];
        $result = $this->cache($http)->refresh(Samples::NOW);
        $this->assertStringContainsString('no "systems" list', (string) $result['error']);
        $this->assertNull($this->stored);
    }
}
