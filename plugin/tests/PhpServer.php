<?php

declare(strict_types=1);

namespace Pingyi\Tests;

/** `php -S` on a free loopback port with a router script, for real-HTTP tests. */
final class PhpServer
{
    /** @var resource */
    private $process;
    /** @var int */
    public $port;

    /** @param array<string, string> $env */
    public function __construct(string $router, array $env = [])
    {
        $sock = stream_socket_server('tcp://127.0.0.1:0');
        $name = stream_socket_get_name($sock, false);
        fclose($sock);
        $this->port = (int) substr((string) $name, strrpos((string) $name, ':') + 1);
        $cmd = [PHP_BINARY, '-S', '127.0.0.1:' . $this->port, $router];
        $this->process = proc_open($cmd, [1 => ['file', '/dev/null', 'w'], 2 => ['file', '/dev/null', 'w']], $pipes, dirname($router), $env + getenv());
        $deadline = microtime(true) + 10;
        while (microtime(true) < $deadline) {
            $conn = @fsockopen('127.0.0.1', $this->port, $errno, $errstr, 0.2);
            if ($conn) {
                fclose($conn);
                return;
            }
            usleep(50000);
        }
        throw new \RuntimeException('php -S did not start');
    }

    public function url(string $path = ''): string
    {
        return 'http://127.0.0.1:' . $this->port . $path;
    }

    public function stop(): void
    {
        proc_terminate($this->process);
        proc_close($this->process);
    }
}
