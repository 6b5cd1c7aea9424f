<?php

declare(strict_types=1);

use PHPUnit\Framework\TestCase;
use Pingyi\DaemonPause;
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

    private function pausing(string $daemonUrl, DaemonPause $pause, float $timeout = 0.3): WebhookSender
    {
        $logger = function (string $message, string $level): void {
            $this->logged[] = [$level, $message];
        };
        return new WebhookSender($daemonUrl, new Signer(Samples::SECRET), null, $logger, $timeout, $timeout, 'district', $pause);
    }

    /** Connections a listening socket that never answers has been sent (then closed). */
    private static function attempts($daemon): int
    {
        $n = 0;
        while (($conn = @stream_socket_accept($daemon, 0.2)) !== false) {
            fclose($conn);
            $n++;
        }
        return $n;
    }

    /**
     * A hung daemon and a class of respondents finishing at once: without the pause every
     * completion would wait for the timeout (under mod_php, holding a web server worker);
     * with it only the first does, and the others are not even sent.
     */
    public function testAfterADaemonThatDidNotAnswerTheNextWebhooksWait(): void
    {
        $daemon = stream_socket_server('tcp://127.0.0.1:0');  // accepts, never answers
        $this->assertNotFalse($daemon);
        $url = 'http://' . stream_socket_get_name($daemon, false);
        $dir = sys_get_temp_dir() . '/pingyi-pause-' . bin2hex(random_bytes(4));
        mkdir($dir);
        try {
            $pause = new DaemonPause($url, $dir);
            $start = microtime(true);
            $this->assertFalse($this->pausing($url, $pause)->send(111111, '1'));
            $first = microtime(true) - $start;
            $this->assertGreaterThanOrEqual(0.25, $first, 'the first one waits for its timeout');
            $this->assertStringContainsString('the next webhooks wait 60 s', $this->logged[0][1]);
            $start = microtime(true);
            for ($rid = 2; $rid <= 20; $rid++) {
                $this->assertFalse($this->pausing($url, new DaemonPause($url, $dir))->send(111111, (string) $rid));
            }
            $this->assertLessThan($first, microtime(true) - $start, '19 more took less than the first alone');
            $this->assertSame(1, self::attempts($daemon), 'only the first was sent');
            $this->assertSame('info', $this->logged[1][0]);
            $this->assertStringContainsString('not sent: the daemon did not answer at', $this->logged[1][1]);
            $this->assertStringContainsString('polling will pick it up', $this->logged[1][1]);
            // another daemon (another LimeSurvey on this host) is not paused by this one
            $this->assertNull((new DaemonPause('http://127.0.0.1:1', $dir))->since());
        } finally {
            fclose($daemon);
            array_map('unlink', (array) glob($dir . '/*'));
            rmdir($dir);
        }
    }

    public function testThePauseEndsAndAnAnswerClearsIt(): void
    {
        $server = new PhpServer(__DIR__ . '/server/record_router.php', ['PINGYI_RECORD' => $this->record, 'PINGYI_STATUS' => '202']);
        $now = 1_800_000_000;
        $clock = static function () use (&$now): int {
            return $now;
        };
        $pause = new DaemonPause($server->url(), sys_get_temp_dir(), 60, $clock);
        try {
            $pause->failed();  // the daemon did not answer a minute ago ...
            $this->assertSame($now, $pause->since());
            $this->assertFalse($this->pausing($server->url(), $pause)->send(111111, '1'));
            $now += 59;
            $this->assertFalse($this->pausing($server->url(), $pause)->send(111111, '2'));
            $this->assertSame('', (string) file_get_contents($this->record), 'nothing sent while paused');
            $now += 1;  // ... and now it is a minute
            $this->assertNull($pause->since());
            $this->assertTrue($this->pausing($server->url(), $pause)->send(111111, '3'));
            $this->assertFileDoesNotExist($pause->path(), 'an answer ends the pause');
        } finally {
            $server->stop();
            @unlink($pause->path());
        }
        $got = json_decode(trim((string) file_get_contents($this->record)), true);
        $this->assertSame('{"survey_id":111111,"response_id":3,"site":"district"}', $got['body']);
    }

    public function testAPauseThatCannotBeRecordedIsNotClaimed(): void
    {
        $sock = stream_socket_server('tcp://127.0.0.1:0');
        $url = 'http://' . stream_socket_get_name($sock, false);
        fclose($sock);  // nobody listening
        $pause = new DaemonPause($url, '/nonexistent-folder-' . bin2hex(random_bytes(4)));
        $this->assertFalse($this->pausing($url, $pause)->send(111111, '1'));
        $this->assertStringContainsString('no pause could be recorded in /nonexistent-folder-', $this->logged[0][1]);
        $this->assertStringNotContainsString('the next webhooks wait', $this->logged[0][1]);
        $this->assertNull($pause->since());
    }

    public function testAnErrorAnswerDoesNotPause(): void
    {
        $server = new PhpServer(__DIR__ . '/server/record_router.php', ['PINGYI_RECORD' => $this->record, 'PINGYI_STATUS' => '401']);
        $pause = new DaemonPause($server->url(), sys_get_temp_dir());
        try {
            $this->assertFalse($this->pausing($server->url(), $pause)->send(111111, '1'));
            $this->assertFalse($this->pausing($server->url(), $pause)->send(111111, '2'));
        } finally {
            $server->stop();
            @unlink($pause->path());
        }
        // a quick refusal (a wrong secret) costs the respondent nothing: both were sent
        $this->assertCount(2, file((string) $this->record));
        $this->assertStringNotContainsString('wait', $this->logged[0][1]);
    }

    public function testAnInvalidUrlDoesNotThrow(): void
    {
        $this->assertFalse($this->sender('not a url')->send(1, '1'));
    }
}
