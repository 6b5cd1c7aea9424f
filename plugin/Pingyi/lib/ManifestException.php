<?php

declare(strict_types=1);

namespace Pingyi;

/** The survey's settings cannot be expressed as a binding document (run the Validator). */
final class ManifestException extends \RuntimeException
{
}
