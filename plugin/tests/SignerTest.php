<?php

declare(strict_types=1);

use PHPUnit\Framework\TestCase;
use Pingyi\SignatureException;
use Pingyi\Signer;
use Pingyi\Tests\Samples;

final class SignerTest extends TestCase
{
    public function testMatchesAVectorComputedBySyncSigning(): void
    {
        // sync.signing.sign(SECRET.encode(), 1700000000, b'{"survey_id":111111,"response_id":42}')
        $signer = new Signer(Samples::SECRET);
        $this->assertSame(
            'sha256=cb98ebf7255b4162ad847c066c43a74d3a305696579d1d93fd3d3f455fc9d14b',
            $signer->sign(1700000000, '{"survey_id":111111,"response_id":42}')
        );
        $this->assertSame(
            'sha256=37c39ff90c9eaf98b76f1cf1a38399fa408e930f34e04a5179d0dc6489fe9c78',
            (new Signer('k'))->sign(1, '')
        );
    }

    public function testVerifiesItsOwnSignatureAndReturnsTheTimestamp(): void
    {
        $signer = new Signer(Samples::SECRET);
        $sig = $signer->sign(Samples::NOW, '评议 𠮷 😀');
        $this->assertSame(Samples::NOW, $signer->verify((string) Samples::NOW, $sig, '评议 𠮷 😀', Samples::NOW + 10));
        // surrounding whitespace from a header does not matter
        $this->assertSame(Samples::NOW, $signer->verify(' ' . Samples::NOW, $sig . ' ', '评议 𠮷 😀', Samples::NOW));
    }

    /** @return array<string, array{0: ?string, 1: ?string, 2: string, 3: int, 4: string}> */
    public function refusals(): array
    {
        $good = (new Signer(Samples::SECRET))->sign(Samples::NOW, 'body');
        $other = (new Signer('another secret'))->sign(Samples::NOW, 'body');
        return [
            'no timestamp' => [null, $good, 'body', Samples::NOW, 'unsigned'],
            'no signature' => [(string) Samples::NOW, '', 'body', Samples::NOW, 'unsigned'],
            'malformed timestamp' => ['17e8', $good, 'body', Samples::NOW, 'malformed timestamp'],
            'too old' => [(string) Samples::NOW, $good, 'body', Samples::NOW + 301, 'replay window'],
            'from the future' => [(string) Samples::NOW, $good, 'body', Samples::NOW - 301, 'replay window'],
            'wrong secret' => [(string) Samples::NOW, $other, 'body', Samples::NOW, 'bad signature'],
            'altered body' => [(string) Samples::NOW, $good, 'body!', Samples::NOW, 'bad signature'],
            'another timestamp' => [(string) (Samples::NOW + 1), $good, 'body', Samples::NOW, 'bad signature'],
            'no prefix' => [(string) Samples::NOW, substr($good, 7), 'body', Samples::NOW, 'bad signature'],
        ];
    }

    /** @dataProvider refusals */
    public function testRefuses(?string $ts, ?string $sig, string $body, int $now, string $why): void
    {
        try {
            (new Signer(Samples::SECRET))->verify($ts, $sig, $body, $now);
            $this->fail('accepted');
        } catch (SignatureException $e) {
            $this->assertStringContainsString($why, $e->getMessage());
            $this->assertStringNotContainsString(Samples::SECRET, $e->getMessage());
        }
    }

    public function testAnEmptySecretIsRefused(): void
    {
        $this->expectException(SignatureException::class);
        new Signer('');
    }

    public function testTheCanonicalQueryIsSidThenTs(): void
    {
        $this->assertSame('sid=111111&ts=1700000000', Signer::canonicalQuery(111111, 1700000000));
    }

    /**
     * Writes the vectors the Python side checks with sync.signing (tests/test_plugin_manifest.py),
     * so both implementations are held to the same bytes.
     */
    public function testWritesSharedSigningVectors(): void
    {
        $cases = [
            ['secret' => Samples::SECRET, 'timestamp' => Samples::NOW, 'payload' => '{"survey_id":111111,"response_id":42}'],
            ['secret' => 'k', 'timestamp' => 1, 'payload' => ''],
            ['secret' => Samples::SECRET, 'timestamp' => Samples::NOW, 'payload' => Signer::canonicalQuery(111111, Samples::NOW)],
            ['secret' => 'ключ', 'timestamp' => 2000000000, 'payload' => "群众满意度 𠮷 😀\n\x00\xff"],
        ];
        $vectors = [];
        foreach ($cases as $case) {
            $vectors[] = [
                'secret_hex' => bin2hex($case['secret']),
                'timestamp' => $case['timestamp'],
                'payload_hex' => bin2hex($case['payload']),
                'signature' => (new Signer($case['secret']))->sign($case['timestamp'], $case['payload']),
            ];
        }
        $file = PINGYI_FIXTURES . '/signing_vectors.json';
        file_put_contents($file, json_encode($vectors, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES) . "\n");
        $this->assertCount(4, json_decode((string) file_get_contents($file), true));
    }
}
