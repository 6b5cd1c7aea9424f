<?php

// `php -S 127.0.0.1:PORT record_router.php`: records each request (method, path, headers,
// body) as one JSON line in $PINGYI_RECORD and answers with the status in $PINGYI_STATUS.

declare(strict_types=1);

$headers = [];
foreach ($_SERVER as $key => $value) {
    if (strncmp($key, 'HTTP_', 5) === 0) {
        $headers[str_replace('_', '-', substr($key, 5))] = $value;
    }
}
if (isset($_SERVER['CONTENT_TYPE'])) {
    $headers['CONTENT-TYPE'] = $_SERVER['CONTENT_TYPE'];
}
file_put_contents((string) getenv('PINGYI_RECORD'), json_encode([
    'method' => $_SERVER['REQUEST_METHOD'],
    'path' => $_SERVER['REQUEST_URI'],
    'headers' => $headers,
    'body' => file_get_contents('php://input'),
]) . "\n", FILE_APPEND);
$delay = (float) getenv('PINGYI_DELAY');
if ($delay > 0) {
    usleep((int) ($delay * 1e6));
}
http_response_code((int) (getenv('PINGYI_STATUS') ?: 202));
header('Content-Type: application/json');
echo '{"ok":true}';
