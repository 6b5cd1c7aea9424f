<?php

declare(strict_types=1);

namespace Pingyi;

/**
 * The daemon's /catalogue.json (units, dimensions, groups, scales, campaigns), kept in the
 * plugin's settings so pick lists and the validator work when the daemon is down.
 * Refreshed when older than maxAge or on demand; a failed refresh keeps the old copy and
 * says why.
 */
final class CatalogueCache
{
    public const KINDS = ['systems', 'units', 'dimensions', 'groups', 'scales', 'campaigns'];

    /** @var string */
    private $url;
    /** @var callable(): mixed */
    private $load;
    /** @var callable(array<string, mixed>): void */
    private $save;
    /** @var Http */
    private $http;
    /** @var int */
    private $maxAge;

    /**
     * @param callable(): mixed $load returns what $save stored, or null
     * @param callable(array<string, mixed>): void $save
     */
    public function __construct(string $url, callable $load, callable $save, ?Http $http = null, int $maxAge = 3600)
    {
        $this->url = $url;
        $this->load = $load;
        $this->save = $save;
        $this->http = $http ?? new Http();
        $this->maxAge = $maxAge;
    }

    /** @return array{catalogue: ?array<string, mixed>, fetched_at: ?int, error: ?string} */
    public function get(?int $now = null): array
    {
        $now = $now ?? time();
        $cached = ($this->load)();
        if (is_array($cached) && isset($cached['catalogue'], $cached['fetched_at'])
            && $now - (int) $cached['fetched_at'] < $this->maxAge) {
            return ['catalogue' => $cached['catalogue'], 'fetched_at' => (int) $cached['fetched_at'], 'error' => null];
        }
        return $this->refresh($now);
    }

    /** @return array{catalogue: ?array<string, mixed>, fetched_at: ?int, error: ?string} */
    public function refresh(?int $now = null): array
    {
        $now = $now ?? time();
        $error = null;
        $res = $this->http->request('GET', $this->url, ['Accept' => 'application/json'], '', 2.0, 5.0);
        if ($res['status'] !== 200) {
            $error = $res['status'] === 0 ? (string) $res['error'] : 'HTTP ' . $res['status'];
        } else {
            $data = json_decode($res['body'], true);
            $error = self::shapeError($data);
            if ($error === null) {
                ($this->save)(['catalogue' => $data, 'fetched_at' => $now]);
                return ['catalogue' => $data, 'fetched_at' => $now, 'error' => null];
            }
        }
        $cached = ($this->load)();
        if (is_array($cached) && isset($cached['catalogue'], $cached['fetched_at'])) {
            return ['catalogue' => $cached['catalogue'], 'fetched_at' => (int) $cached['fetched_at'], 'error' => $error];
        }
        return ['catalogue' => null, 'fetched_at' => null, 'error' => $error];
    }

    /** @param mixed $data */
    private static function shapeError($data): ?string
    {
        if (!is_array($data)) {
            return 'not a JSON object';
        }
        foreach (self::KINDS as $kind) {
            if (!isset($data[$kind]) || !is_array($data[$kind])) {
                return "no \"{$kind}\" list";
            }
        }
        return null;
    }
}
