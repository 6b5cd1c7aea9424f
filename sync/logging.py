"""Daemon logs: plain text for a terminal, JSON lines for journald/Loki, never a secret.

Code must not log secrets in the first place; ``RedactFilter`` is the safety net for the
day someone logs a request object or an exception that carries one. It sits on the
handler, so it sees every record from every library (requests, urllib3, waitress...),
and it scrubs the formatted message and the traceback text:

- exact values registered with ``register_secret`` (the passwords, the webhook secret and
  the token-hash key, once read);
- things shaped like secrets: ``password=...``/``"password": "..."`` style pairs, HTTP
  ``Authorization`` values, ``user:password@`` in URLs, ``sha256=<hex>`` signatures, and
  32-character random keys (a LimeSurvey session key, a survey token).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any, Literal

REDACTED = "[REDACTED]"

_known: set[str] = set()
_known_lock = threading.Lock()

#: shortest registered value we scrub; a 1-3 character "secret" would shred every message
_MIN_SECRET = 4

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # key=value, key: value, "key": "value" for secret-sounding keys
    (
        re.compile(
            r"""(?ix)
            (["']?\b[\w-]*(?:password|passwd|secret|sess(?:ion)?_?key|token|api_?key)["']?
             \s*[:=]\s*)
            (?:"[^"]*"|'[^']*'|[^\s,;&}\])]+)
            """
        ),
        rf"\1{REDACTED}",
    ),
    (re.compile(r"(?i)(authorization\s*[:=]\s*)(?:\w+\s+)?[^\s,;]+"), rf"\1{REDACTED}"),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@"), rf"\1{REDACTED}@"),
    (re.compile(r"(?i)\bsha256=[0-9a-f]{16,}"), f"sha256={REDACTED}"),
    # LimeSurvey session keys (32 characters, letters and digits, may hold ~ _ -) and
    # tokens: at least one digit and one letter, so plain words are left alone
    (
        re.compile(
            r"(?a)(?<![\w~-])(?=[\w~-]{0,31}\d)(?=[\w~-]{0,31}[A-Za-z])[A-Za-z0-9~_-]{32}(?![\w~-])"
        ),
        REDACTED,
    ),
)


def register_secret(value: str | None) -> None:
    """Remember a secret's value so any log line that contains it is scrubbed."""
    if value and len(value) >= _MIN_SECRET:
        with _known_lock:
            _known.add(value)


def forget_secrets() -> None:
    """For tests: drop every registered value."""
    with _known_lock:
        _known.clear()


def redact(text: str) -> str:
    with _known_lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactFilter(logging.Filter):
    """Rewrites each record in place with its message and traceback scrubbed."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken %-format must not lose the record
            message = f"{record.msg!r} (unformattable arguments)"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
            # the formatter would re-render the raw traceback from exc_info otherwise
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


#: attributes every LogRecord has; anything else came in through ``extra=``
_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; Chinese kept as is (no \\u escapes); ``extra=`` fields kept."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = (
                    value if isinstance(value, str | int | float | bool | None) else str(value)
                )
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        return json.dumps(out, ensure_ascii=False, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup(
    log_format: Literal["text", "json"] = "text",
    *,
    level: int = logging.INFO,
    stream: IO[str] | None = None,
    secrets: Iterable[str | None] = (),
) -> logging.Handler:
    """Replace the root handlers with one redacting handler in the chosen format."""
    for value in secrets:
        register_secret(value)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    handler.addFilter(RedactFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # waitress logs every queue hiccup at WARNING; keep it but not its per-request chatter
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    return handler
