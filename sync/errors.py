"""The one error taxonomy. Every failure the rest of the code acts on is one of these.

How a caller reacts is decided by the class, never by parsing messages:

- ``TransientError``: retry with back-off (``sync.retry``), the work is not lost.
- ``SessionExpired``: log in again once and repeat the call.
- ``LoginRefused``: never retried; the site is marked failed until its config changes.
- ``PermanentError``: this survey (or request) cannot succeed as it is; report, do not retry.
- ``InputError``: bad input from a person (a YAML file, a binding, a row); it says where
  and what to do, and nothing else is lost.

Messages must never contain a secret (password, session key, shared secret).
"""

from __future__ import annotations

from dataclasses import dataclass


class PingyiError(Exception):
    """Base class: everything Pingyi raises on purpose."""

    #: a short, stable word for metrics and ``status`` ("transient", "login", ...)
    kind: str = "error"


class ConfigError(PingyiError):
    """The configuration cannot be used (missing secret, bad TOML, unknown key)."""

    kind = "config"


class TransientError(PingyiError):
    """A failure that may pass: connection refused/reset, timeout, HTTP 5xx, an HTML error
    page, an empty or truncated body, a database that went away."""

    kind = "transient"


class SessionExpired(PingyiError):
    """LimeSurvey answered ``Invalid session key``: keys expire 2 h after login, whatever
    the use, so a long run meets this normally."""

    kind = "session"


class LoginRefused(PingyiError):
    """LimeSurvey refused the login (wrong credentials or the IP lockout).

    Never retried: three failed logins lock the whole IP out for 10 minutes, admins
    included."""

    kind = "login"

    def __init__(self, site: str, reason: str) -> None:
        super().__init__(f"login refused for site {site}: {reason}")
        self.site = site
        self.reason = reason


class PermanentError(PingyiError):
    """Not found, no permission, inactive survey, a malformed request: repeating the same
    call gives the same answer."""

    kind = "permanent"


@dataclass(frozen=True)
class Location:
    """Where bad input is: a file and line, or a survey and response."""

    file: str | None = None
    line: int | None = None
    key: str | None = None
    survey_id: int | None = None
    response_id: int | None = None

    def __str__(self) -> str:
        parts: list[str] = []
        if self.file is not None:
            parts.append(f"{self.file}:{self.line}" if self.line is not None else self.file)
        if self.key:
            parts.append(self.key)
        if self.survey_id is not None:
            parts.append(f"survey {self.survey_id}")
        if self.response_id is not None:
            parts.append(f"response {self.response_id}")
        return " ".join(parts) or "<unknown>"


class InputError(PingyiError):
    """Bad input from a person. Says where and what to do."""

    kind = "input"

    def __init__(self, where: Location, problem: str, fix: str = "") -> None:
        self.where = where
        self.problem = problem
        self.fix = fix
        text = f"{where}: {problem}"
        if fix:
            text += f" ({fix})"
        super().__init__(text)
