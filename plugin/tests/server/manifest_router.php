<?php

// `php -S 127.0.0.1:PORT manifest_router.php`: the plugin's real manifest endpoint code
// (ManifestEndpoint) over HTTP, serving the sample survey 111111, for the daemon's test
// of sync.manifest.fetch_manifest. The secret comes from PINGYI_TEST_SECRET.

declare(strict_types=1);

require __DIR__ . '/../../Pingyi/lib/autoload.php';
require __DIR__ . '/../Samples.php';

use Pingyi\ManifestBuilder;
use Pingyi\ManifestEndpoint;
use Pingyi\Signer;
use Pingyi\Tests\Samples;

$endpoint = new ManifestEndpoint(new Signer((string) getenv('PINGYI_TEST_SECRET')), new ManifestBuilder(Samples::SITE));
$surveys = [111111 => Samples::survey()];
$broken = Samples::survey();
$broken['sid'] = 444444;
$broken['questions'][1]['dimension'] = '';
$surveys[444444] = $broken;

$reply = $endpoint->handle($_GET, static function (int $sid) use ($surveys): ?array {
    return $surveys[$sid] ?? null;
}, Samples::catalogue());
http_response_code($reply['status']);
foreach ($reply['headers'] as $name => $value) {
    header($name . ': ' . $value);
}
echo $reply['body'];
