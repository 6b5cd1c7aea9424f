<?php

declare(strict_types=1);

namespace Pingyi;

/** A signature is missing, wrong, or outside the replay window. */
final class SignatureException extends \RuntimeException
{
}
