<?php

declare(strict_types=1);

namespace Pingyi;

/**
 * After a webhook the daemon did not answer (down, hung, firewalled), the next ones wait
 * SECONDS before one is tried again. Under Apache mod_php the respondent's connection
 * stays open while the webhook waits (up to WebhookSender::TIMEOUT): with the daemon hung,
 * every completion would hold a web server worker for that second. Paused, only those
 * already sending when the first one failed do; the daemon's polling reads the responses
 * meanwhile (measured on a real LimeSurvey under mod_php: ten completions one after the
 * other, 1,023 ms each without the pause, 19-23 ms after the first with it;
 * docs/real-limesurvey-check.md, "Fourth check").
 *
 * The state is the modification time of one small file per daemon URL, shared by every
 * PHP worker on the host (LimeSurvey's runtime folder, else the system temp folder):
 * a stat per completion, no lock. Two workers that fail at the same moment both touch it,
 * which is harmless.
 */
final class DaemonPause
{
    public const SECONDS = 60;

    /** @var string */
    private $path;
    /** @var int */
    private $seconds;
    /** @var callable(): int */
    private $clock;

    /** @param (callable(): int)|null $clock */
    public function __construct(string $daemonUrl, ?string $dir = null, int $seconds = self::SECONDS, ?callable $clock = null)
    {
        $folder = rtrim($dir ?? sys_get_temp_dir(), '/\\');
        // one file per daemon URL: two LimeSurvey installations on one host, pointing to
        // two daemons, do not pause each other
        $this->path = $folder . '/pingyi-webhook-' . substr(sha1($daemonUrl), 0, 16) . '.pause';
        $this->seconds = $seconds;
        $this->clock = $clock ?? static function (): int {
            return time();
        };
    }

    /** When the daemon last failed to answer, if that is less than SECONDS ago; else null. */
    public function since(): ?int
    {
        clearstatcache(true, $this->path);
        $at = @filemtime($this->path);
        if ($at === false) {
            return null;
        }
        $now = ($this->clock)();
        return $now - $at < $this->seconds && $at <= $now ? $at : null;
    }

    /** The second the next try is due (for the log). */
    public function until(int $since): int
    {
        return $since + $this->seconds;
    }

    /** Starts the pause; false when it could not be recorded (the folder not writable). */
    public function failed(): bool
    {
        // (setting a file's time needs its owner: in a shared temp folder with the sticky
        // bit, another user's file of the same name cannot be touched)
        return @touch($this->path, ($this->clock)());
    }

    public function answered(): void
    {
        // silenced: open_basedir may keep the temp folder out of reach
        if (@is_file($this->path)) {
            @unlink($this->path);
        }
    }

    public function seconds(): int
    {
        return $this->seconds;
    }

    public function path(): string
    {
        return $this->path;
    }
}
