<?php

declare(strict_types=1);

require __DIR__ . '/../Pingyi/lib/autoload.php';
require __DIR__ . '/Samples.php';
require __DIR__ . '/PhpServer.php';

// Debian's php-json-schema (justinrainbow/json-schema); the tests that need it skip
// with a reason when it is missing.
if (is_file('/usr/share/php/JsonSchema/autoload.php')) {
    require_once '/usr/share/php/JsonSchema/autoload.php';
}

define('PINGYI_REPO', dirname(__DIR__, 2));
define('PINGYI_FIXTURES', PINGYI_REPO . '/tests/fixtures/plugin');
define('PINGYI_SCHEMA', PINGYI_REPO . '/sync/schema/binding.schema.json');
