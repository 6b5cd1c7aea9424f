<?php

declare(strict_types=1);

namespace Pingyi;

/**
 * The one HMAC-SHA256 scheme shared with the daemon (sync/signing.py):
 *
 *     signature = "sha256=" . hex(HMAC-SHA256(secret, "{timestamp}.{payload}"))
 *
 * payload is the raw body (webhook, manifest reply) or the canonical query without the
 * signature (manifest request, see canonicalQuery()). Both sides are tested against the
 * same vectors (tests/fixtures/plugin/signing_vectors.json).
 */
final class Signer
{
    public const TIMESTAMP_HEADER = 'X-Pingyi-Timestamp';
    public const SIGNATURE_HEADER = 'X-Pingyi-Signature';
    public const DEFAULT_REPLAY_SECONDS = 300;

    /** @var string */
    private $secret;
    /** @var int */
    private $replaySeconds;

    public function __construct(string $secret, int $replaySeconds = self::DEFAULT_REPLAY_SECONDS)
    {
        if ($secret === '') {
            // An empty key signs everything "validly" for anyone: refuse it outright.
            throw new SignatureException('shared secret not configured');
        }
        $this->secret = $secret;
        $this->replaySeconds = $replaySeconds;
    }

    public function sign(int $timestamp, string $payload): string
    {
        return 'sha256=' . hash_hmac('sha256', $timestamp . '.' . $payload, $this->secret);
    }

    /**
     * Checks a signature and returns the timestamp. Throws SignatureException whose
     * message says which check failed, never the secret or the expected signature.
     */
    public function verify(?string $timestamp, ?string $signature, string $payload, ?int $now = null): int
    {
        if ($timestamp === null || $timestamp === '' || $signature === null || $signature === '') {
            throw new SignatureException('unsigned request: timestamp or signature missing');
        }
        $timestamp = trim($timestamp);
        if (!preg_match('/^-?[0-9]{1,19}$/', $timestamp)) {
            throw new SignatureException('malformed timestamp');
        }
        $ts = (int) $timestamp;
        $current = $now ?? time();
        if (abs($current - $ts) > $this->replaySeconds) {
            throw new SignatureException(
                "timestamp outside the {$this->replaySeconds} s replay window (clock skew or a replay)"
            );
        }
        if (!hash_equals($this->sign($ts, $payload), trim($signature))) {
            throw new SignatureException('bad signature (wrong shared secret or altered body)');
        }
        return $ts;
    }

    /**
     * The manifest request's signed payload: "sid=<sid>&ts=<ts>", rebuilt from the parsed
     * parameters so that LimeSurvey's own routing parameters (r, plugin, function) and the
     * URL form (path or query) do not change what is signed.
     */
    public static function canonicalQuery(int $surveyId, int $timestamp): string
    {
        return 'sid=' . $surveyId . '&ts=' . $timestamp;
    }
}
