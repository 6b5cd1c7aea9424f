<?php

// `php -S 127.0.0.1:PORT page_router.php`: a respondent's last page as LimeSurvey serves it
// under mod_php: the page sits in an output buffer (php.ini's output_buffering) when the
// completion webhook is scheduled; the webhook goes to $PINGYI_DAEMON with a 30 s timeout.

declare(strict_types=1);

require __DIR__ . '/../../Pingyi/lib/autoload.php';

use Pingyi\Signer;
use Pingyi\WebhookSender;

ob_start();
(new WebhookSender((string) getenv('PINGYI_DAEMON'), new Signer('page-router-secret'), null, null, 30.0, 30.0))
    ->sendAfterResponse(111111, '7');
header('Content-Type: text/html; charset=utf-8');
echo '<!DOCTYPE html><html><body><p>谢谢您的参与 👍</p>', str_repeat('<!-- padding -->', 100), '</body></html>';
