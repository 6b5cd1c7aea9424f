<?php

declare(strict_types=1);

// The plugin ships without Composer: map Pingyi\Foo to lib/Foo.php.
spl_autoload_register(static function (string $class): void {
    if (strncmp($class, 'Pingyi\\', 7) !== 0) {
        return;
    }
    $file = __DIR__ . '/' . str_replace('\\', '/', substr($class, 7)) . '.php';
    if (is_file($file)) {
        require $file;
    }
});
