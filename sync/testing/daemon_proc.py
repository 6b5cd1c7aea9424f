"""``pingyi run`` in a subprocess, for tests and the benchmark: started with a JSON log on
stderr, its HTTP address read from the "listening on" line, its log lines kept."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path


def launch(
    config: Path, env: dict[str, str], *, cwd: Path | None = None, timeout: float = 30.0
) -> tuple[subprocess.Popen[str], str, list[str]]:
    """Start ``python -m sync --config CONFIG run`` (the config must say ``log_format =
    "json"`` and ``listen = "127.0.0.1:0"``); returns the process, its base URL and the
    list its stderr lines are appended to. A daemon that does not say where it listens
    within ``timeout`` is killed and reported with its last lines."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sync", "--config", str(config), "run"],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    lines: list[str] = []
    found: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if not found and '"listening on' in line:
                found.append(json.loads(line)["url"])
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(timeout) or not found:
        proc.kill()
        proc.wait()
        raise AssertionError("pingyi run did not start:\n" + "".join(lines[-40:]))
    return proc, found[0], lines
