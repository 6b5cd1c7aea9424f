<?php

declare(strict_types=1);

namespace Pingyi;

/**
 * Tells the daemon that a response was completed, so it syncs that survey now instead of
 * at its next poll. The respondent must never wait for or see this: the request goes out
 * after the page has been handed back (handPageBack), with short timeouts
 * (CONNECT_TIMEOUT, TIMEOUT), and a failure is only logged: the daemon's polling picks
 * the response up anyway. After a try the daemon did not answer, the next ones wait a
 * minute (DaemonPause). Only ids travel: no answers, no token.
 */
final class WebhookSender
{
    /**
     * Seconds. The daemon answers a webhook as soon as it has checked the signature (it
     * queues the pass), so a reply takes milliseconds; under Apache mod_php the
     * respondent's connection stays open until the webhook returns, so these bound what a
     * daemon that is down behind a firewall, or hung, costs each completing respondent
     * (measured: 2.07-2.09 s with 2 s timeouts, docs/real-limesurvey-check.md).
     */
    public const CONNECT_TIMEOUT = 0.5;
    public const TIMEOUT = 1.0;

    /** @var string */
    private $url;
    /** @var Signer */
    private $signer;
    /** @var Http */
    private $http;
    /** @var callable(string, string): void */
    private $logger;
    /** @var float */
    private $connectTimeout;
    /** @var float */
    private $timeout;
    /** @var string */
    private $site;
    /** @var DaemonPause|null */
    private $pause;

    /** @param callable(string, string): void|null $logger (message, level "info"|"warning") */
    public function __construct(
        string $daemonUrl,
        Signer $signer,
        ?Http $http = null,
        ?callable $logger = null,
        float $connectTimeout = self::CONNECT_TIMEOUT,
        float $timeout = self::TIMEOUT,
        string $site = '',
        ?DaemonPause $pause = null
    ) {
        $this->site = $site;
        $this->pause = $pause;
        $this->url = rtrim($daemonUrl, '/') . '/webhook';
        $this->signer = $signer;
        $this->http = $http ?? new Http();
        $this->logger = $logger ?? static function (string $message, string $level): void {
        };
        $this->connectTimeout = $connectTimeout;
        $this->timeout = $timeout;
    }

    /**
     * The request as it will be sent (tests check it without a network).
     *
     * @return array{url: string, headers: array<string, string>, body: string}
     */
    public function buildRequest(int $surveyId, string $responseId, ?int $now = null): array
    {
        $ts = $now ?? time();
        // Response ids are auto-increment integers in LimeSurvey; the event hands them over
        // as strings. Send a number when it is one, so the daemon sees its own id type.
        $id = ctype_digit($responseId) ? (int) $responseId : $responseId;
        $event = ['survey_id' => $surveyId, 'response_id' => $id];
        if ($this->site !== '') {
            // one daemon may serve several LimeSurvey sites with overlapping survey ids
            $event['site'] = $this->site;
        }
        $body = json_encode($event, JSON_UNESCAPED_UNICODE | JSON_THROW_ON_ERROR);
        return [
            'url' => $this->url,
            'headers' => [
                'Content-Type' => 'application/json',
                Signer::TIMESTAMP_HEADER => (string) $ts,
                Signer::SIGNATURE_HEADER => $this->signer->sign($ts, $body),
                'User-Agent' => 'Pingyi-LimeSurvey-plugin',
            ],
            'body' => $body,
        ];
    }

    /** Sends now; true when the daemon accepted it (2xx). Never throws. */
    public function send(int $surveyId, string $responseId): bool
    {
        $since = $this->pause !== null ? $this->pause->since() : null;
        if ($since !== null && $this->pause !== null) {
            ($this->logger)("webhook for survey {$surveyId} response {$responseId} not sent: the daemon "
                . 'did not answer at ' . gmdate('H:i:s', $since) . ' UTC, next try after '
                . gmdate('H:i:s', $this->pause->until($since)) . ' UTC; polling will pick it up', 'info');
            return false;
        }
        try {
            $req = $this->buildRequest($surveyId, $responseId);
            $res = $this->http->request('POST', $req['url'], $req['headers'], $req['body'], $this->connectTimeout, $this->timeout);
        } catch (\Throwable $e) {
            ($this->logger)("webhook for survey {$surveyId} response {$responseId} not sent: "
                . get_class($e) . '; polling will pick it up', 'warning');
            return false;
        }
        $paused = '';
        if ($this->pause !== null) {
            // no answer at all (refused, timed out): pause; any answer, even an error, came
            // quickly and says the daemon is there
            if ($res['status'] === 0) {
                $paused = $this->pause->failed()
                    ? '; the next webhooks wait ' . $this->pause->seconds() . ' s'
                    : '; no pause could be recorded in ' . dirname($this->pause->path())
                        . ' (not writable), so every webhook will try';
            } else {
                $this->pause->answered();
            }
        }
        if ($res['status'] >= 200 && $res['status'] < 300) {
            ($this->logger)("webhook for survey {$surveyId} response {$responseId} accepted", 'info');
            return true;
        }
        $why = $res['status'] === 0 ? (string) $res['error'] : 'HTTP ' . $res['status'];
        ($this->logger)("webhook to {$this->url} for survey {$surveyId} response {$responseId} failed: "
            . "{$why}{$paused}; the daemon's polling will pick it up", 'warning');
        return false;
    }

    /**
     * Sends once the respondent's page is out: at shutdown, after the page has been handed
     * back (see handPageBack).
     */
    public function sendAfterResponse(int $surveyId, string $responseId): void
    {
        register_shutdown_function(function () use ($surveyId, $responseId): void {
            ignore_user_abort(true);
            self::handPageBack();
            $this->send($surveyId, $responseId);
        });
    }

    /**
     * PHP runs shutdown functions before it flushes its output buffers, so without this the
     * end of the page (under mod_php, php.ini's output_buffering: 4 KB on Debian) would wait
     * for the webhook, up to its timeouts when the daemon hangs. PHP-FPM and LiteSpeed end
     * the request outright. Elsewhere (mod_php, the CLI server) the buffers go to the
     * respondent now; the connection itself stays open until the webhook returns.
     */
    private static function handPageBack(): void
    {
        if (function_exists('fastcgi_finish_request')) {
            fastcgi_finish_request();
            return;
        }
        if (function_exists('litespeed_finish_request')) {
            litespeed_finish_request();
            return;
        }
        while (ob_get_level() > 0 && @ob_end_flush()) {
            // a buffer that cannot be removed stops the loop; PHP flushes it at the end
        }
        flush();
    }
}
