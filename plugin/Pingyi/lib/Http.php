<?php

declare(strict_types=1);

namespace Pingyi;

/**
 * The plugin's only way out to the network: one request, short timeouts, no exceptions
 * from the transport (a failure is a result with status 0 and an error text).
 * curl when the extension is there (it has a separate connect timeout), else PHP streams.
 */
class Http
{
    /**
     * @param array<string, string> $headers
     * @return array{status: int, headers: array<string, string>, body: string, error: ?string}
     */
    public function request(
        string $method,
        string $url,
        array $headers = [],
        string $body = '',
        float $connectTimeout = 2.0,
        float $timeout = 2.0
    ): array {
        if (!preg_match('#^https?://#i', $url)) {
            return ['status' => 0, 'headers' => [], 'body' => '', 'error' => 'not an http(s) URL'];
        }
        return function_exists('curl_init')
            ? $this->viaCurl($method, $url, $headers, $body, $connectTimeout, $timeout)
            : $this->viaStreams($method, $url, $headers, $body, $timeout);
    }

    /**
     * @param array<string, string> $headers
     * @return array{status: int, headers: array<string, string>, body: string, error: ?string}
     */
    private function viaCurl(string $method, string $url, array $headers, string $body, float $connect, float $timeout): array
    {
        $received = [];
        $ch = curl_init($url);
        $lines = [];
        foreach ($headers as $name => $value) {
            $lines[] = $name . ': ' . $value;
        }
        curl_setopt_array($ch, [
            CURLOPT_CUSTOMREQUEST => $method,
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_HTTPHEADER => $lines,
            CURLOPT_CONNECTTIMEOUT_MS => (int) ($connect * 1000),
            CURLOPT_TIMEOUT_MS => (int) ($timeout * 1000),
            CURLOPT_FOLLOWLOCATION => false,
            CURLOPT_NOSIGNAL => true,
            CURLOPT_HEADERFUNCTION => static function ($ch, string $line) use (&$received): int {
                $parts = explode(':', $line, 2);
                if (count($parts) === 2) {
                    $received[strtolower(trim($parts[0]))] = trim($parts[1]);
                }
                return strlen($line);
            },
        ]);
        if ($method !== 'GET') {
            curl_setopt($ch, CURLOPT_POSTFIELDS, $body);
        }
        $out = curl_exec($ch);
        $status = (int) curl_getinfo($ch, CURLINFO_RESPONSE_CODE);
        $error = $out === false ? curl_error($ch) : null;
        curl_close($ch);
        return [
            'status' => $out === false ? 0 : $status,
            'headers' => $received,
            'body' => is_string($out) ? $out : '',
            'error' => $error,
        ];
    }

    /**
     * @param array<string, string> $headers
     * @return array{status: int, headers: array<string, string>, body: string, error: ?string}
     */
    private function viaStreams(string $method, string $url, array $headers, string $body, float $timeout): array
    {
        $lines = '';
        foreach ($headers as $name => $value) {
            $lines .= $name . ': ' . $value . "\r\n";
        }
        $context = stream_context_create(['http' => [
            'method' => $method,
            'header' => $lines,
            'content' => $body,
            'timeout' => $timeout,
            'ignore_errors' => true,
            'follow_location' => 0,
        ]]);
        $error = null;
        set_error_handler(static function (int $no, string $msg) use (&$error): bool {
            $error = $msg;
            return true;
        });
        try {
            $out = file_get_contents($url, false, $context);
        } finally {
            restore_error_handler();
        }
        $status = 0;
        $received = [];
        foreach ($http_response_header ?? [] as $line) {
            if (preg_match('#^HTTP/\S+\s+(\d{3})#', $line, $m)) {
                $status = (int) $m[1];
            } elseif (strpos($line, ':') !== false) {
                [$name, $value] = explode(':', $line, 2);
                $received[strtolower(trim($name))] = trim($value);
            }
        }
        return [
            'status' => $out === false ? 0 : $status,
            'headers' => $received,
            'body' => is_string($out) ? $out : '',
            'error' => $out === false ? ($error ?? 'request failed') : null,
        ];
    }
}
