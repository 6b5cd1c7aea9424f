<?php

declare(strict_types=1);

use PHPUnit\Framework\TestCase;
use Pingyi\Signer;
use Pingyi\Tests\PhpServer;
use Pingyi\Tests\Samples;
use Pingyi\WebhookSender;

final class WebhookSenderTest extends TestCase
{
    /** @var string */
    private $record;
    /** @var list<array{0: string, 1: string}> */
    private $logged = [];

    protected function setUp(): void
    {
        $this->record = (string) tempnam(sys_get_temp_dir(), 'pingyi-webhook');
        $this->logged = [];
    }

    protected function tearDown(): void
    {
        @unlink($this->record);
    }

    private function sender(string $daemonUrl, float $timeout = 2.0): WebhookSender
    {
        $logger = function (string $message, string $level): void {
            $this->logged[] = [$level, $message];
        };
        return new WebhookSender($daemonUrl, new Signer(Samples::SECRET), null, $logger, $timeout, $timeout, 'district');
    }

    public function testBuildsASignedRequestWithOnlyIds(): void
    {
        $req = $this->sender('http://daemon.example:8765/')->buildRequest(111111, '42', Samples::NOW);
        $this->assertSame('http://daemon.example:8765/webhook', $req['url']);
        $this->assertSame('{"survey_id":111111,"response_id":42,"site":"district"}', $req['body']);
        $this->assertSame((string) Samples::NOW, $req['headers']['X-Pingyi-Timestamp']);
        $this->assertSame(Samples::NOW, (new Signer(Samples::SECRET))->verify(
            $req['headers']['X-Pingyi-Timestamp'],
            $req['headers']['X-Pingyi-Signature'],
            $req['body'],
            Samples::NOW
        ));
        $this->assertSame('application/json', $req['headers']['Content-Type']);
    }

    public function testANonNumericResponseIdStaysAString(): void
    {
        $req = $this->sender('http://d')->buildRequest(1, 'abc', Samples::NOW);
        $this->assertStringContainsString('"response_id":"abc"', $req['body']);
    }

    public function testPostsToTheDaemonOverRealHttp(): void
    {
        $server = new PhpServer(__DIR__ . '/server/record_router.php', ['PINGYI_RECORD' => $this->record, 'PINGYI_STATUS' => '202']);
        try {
            $this->assertTrue($this->sender($server->url())->send(111111, '7'));
        } finally {
            $server->stop();
        }
        $got = json_decode(trim((string) file_get_contents($this->record)), true);
        $this->assertSame('POST', $got['method']);
        $this->assertSame('/webhook', $got['path']);
        $this->assertSame('{"survey_id":111111,"response_id":7,"site":"district"}', $got['body']);
        (new Signer(Samples::SECRET))->verify($got['headers']['X-PINGYI-TIMESTAMP'], $got['headers']['X-PINGYI-SIGNATURE'], $got['body']);
        $this->assertSame('info', $this->logged[0][0]);
    }

    public function testARefusalIsLoggedWithoutTheSecretAndReturnsFalse(): void
    {
        $server = new PhpServer(__DIR__ . '/server/record_router.php', ['PINGYI_RECORD' => $this->record, 'PINGYI_STATUS' => '401']);
        try {
            $this->assertFalse($this->sender($server->url())->send(111111, '7'));
        } finally {
            $server->stop();
        }
        $this->assertSame('warning', $this->logged[0][0]);
        $this->assertStringContainsString('HTTP 401', $this->logged[0][1]);
        $this->assertStringContainsString('polling', $this->logged[0][1]);
        $this->assertStringNotContainsString(Samples::SECRET, $this->logged[0][1]);
    }

    public function testASlowDaemonIsAbandonedAfterTheTimeout(): void
    {
        $server = new PhpServer(__DIR__ . '/server/record_router.php', ['PINGYI_RECORD' => $this->record, 'PINGYI_DELAY' => '3']);
        try {
            $start = microtime(true);
            $this->assertFalse($this->sender($server->url(), 0.5)->send(111111, '7'));
            $this->assertLessThan(1.5, microtime(true) - $start);
        } finally {
            $server->stop();
        }
    }

    public function testNobodyListeningIsQuickAndDoesNotThrow(): void
    {
        $sock = stream_socket_server('tcp://127.0.0.1:0');
        $name = (string) stream_socket_get_name($sock, false);
        fclose($sock);
        $start = microtime(true);
        $this->assertFalse($this->sender('http://' . $name)->send(111111, '7'));
        $this->assertLessThan(2.5, microtime(true) - $start);
        $this->assertSame('warning', $this->logged[0][0]);
    }

    /**
     * PHP runs shutdown functions before it flushes its output buffers: without fastcgi_finish_request
     * (mod_php, the CLI server) the end of the respondent's page would wait for the webhook. The
     * daemon here accepts and never answers; the whole page must arrive while the webhook waits.
     */
    public function testThePageReachesTheRespondentBeforeTheWebhookIsAnswered(): void
    {
        $daemon = stream_socket_server('tcp://127.0.0.1:0');
        $this->assertNotFalse($daemon);
        $server = new PhpServer(__DIR__ . '/server/page_router.php', ['PINGYI_DAEMON' => 'http://' . stream_socket_get_name($daemon, false)]);
        try {
            $page = fsockopen('127.0.0.1', $server->port);
            $this->assertNotFalse($page);
            stream_set_timeout($page, 10);  // the webhook's own timeout is 30 s
            fwrite($page, "GET /index.php/111111 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
            $got = '';
            while (strpos($got, '</html>') === false && !feof($page) && !stream_get_meta_data($page)['timed_out']) {
                $got .= (string) fread($page, 8192);
            }
            $this->assertStringContainsString('<p>谢谢您的参与 👍</p>', $got);
            $this->assertStringContainsString('</html>', $got, 'the end of the page waited for the webhook');
            // and the webhook was sent all the same, after the page: it is waiting for us
            $conn = stream_socket_accept($daemon, 10);
            $this->assertNotFalse($conn);
            $this->assertStringStartsWith('POST /webhook HTTP/1.', (string) fgets($conn));
            fwrite($conn, "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            fclose($conn);
            fclose($page);
        } finally {
            $server->stop();
            fclose($daemon);
        }
    }

    public function testAnInvalidUrlDoesNotThrow(): void
    {
        $this->assertFalse($this->sender('not a url')->send(1, '1'));
    }
}
