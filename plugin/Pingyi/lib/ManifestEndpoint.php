<?php

declare(strict_types=1);

namespace Pingyi;

/**
 * The signed manifest request, answered without LimeSurvey in the way (Pingyi.php only
 * writes what handle() returns). The URL is public (newUnsecureRequest has no login), so
 * nothing is said before the daemon's signature over "sid=<sid>&ts=<ts>" checks out, and
 * every reply is signed over its body for the daemon to check in turn.
 */
final class ManifestEndpoint
{
    /** @var Signer */
    private $signer;
    /** @var ManifestBuilder */
    private $builder;
    /** @var Validator */
    private $validator;

    public function __construct(Signer $signer, ManifestBuilder $builder, ?Validator $validator = null)
    {
        $this->signer = $signer;
        $this->builder = $builder;
        $this->validator = $validator ?? new Validator();
    }

    /**
     * @param array<string, mixed> $query the request's parameters (sid, ts, sig)
     * @param callable(int): ?array<string, mixed> $loadSurvey survey snapshot, null if none
     * @param array<string, mixed>|null $catalogue
     * @return array{status: int, headers: array<string, string>, body: string}
     */
    public function handle(array $query, callable $loadSurvey, ?array $catalogue, ?string $catalogueError = null, ?int $now = null): array
    {
        $now = $now ?? time();
        $sid = (string) ($query['sid'] ?? '');
        $ts = isset($query['ts']) ? (string) $query['ts'] : null;
        $sig = isset($query['sig']) ? (string) $query['sig'] : null;
        if (!ctype_digit($sid) || (int) $sid <= 0) {
            return $this->reply(400, ['error' => 'sid must be a positive survey id'], $now);
        }
        try {
            $this->signer->verify($ts, $sig, Signer::canonicalQuery((int) $sid, (int) $ts), $now);
        } catch (SignatureException $e) {
            return $this->reply(403, ['error' => $e->getMessage()], $now);
        }
        $survey = $loadSurvey((int) $sid);
        if ($survey === null) {
            return $this->reply(404, ['error' => "survey {$sid} not found"], $now);
        }
        if (empty($survey['settings']['enabled'])) {
            return $this->reply(404, ['error' => "Pingyi is not enabled for survey {$sid}"], $now);
        }
        $problems = $this->validator->validate($survey, $catalogue, $catalogueError);
        if (Validator::hasErrors($problems)) {
            return $this->reply(422, [
                'error' => "survey {$sid}: the Pingyi settings are invalid",
                'problems' => $problems,
            ], $now);
        }
        try {
            $doc = $this->builder->build($survey);
        } catch (ManifestException $e) {
            return $this->reply(422, ['error' => $e->getMessage(), 'problems' => []], $now);
        }
        return $this->reply(200, $doc, $now);
    }

    /**
     * @param array<string, mixed> $payload
     * @return array{status: int, headers: array<string, string>, body: string}
     */
    public function reply(int $status, array $payload, int $now): array
    {
        $body = ManifestBuilder::toJson($payload);
        return [
            'status' => $status,
            'headers' => [
                'Content-Type' => 'application/json; charset=utf-8',
                'Cache-Control' => 'no-store',
                Signer::TIMESTAMP_HEADER => (string) $now,
                Signer::SIGNATURE_HEADER => $this->signer->sign($now, $body),
            ],
            'body' => $body,
        ];
    }
}
