"""The LimeSurvey RemoteControl 2 client.

``citric.Session`` does the JSON-RPC, holds the session key and raises typed errors; this
module adds what a daemon needs on top of it:

- connect/read timeouts from ``SiteConfig`` (citric sets none);
- the one retry policy (``sync.retry``) around every call;
- the translation of every failure into ``sync.errors``, in one place
  (:func:`translate`): transient ones are retried, ``Invalid session key`` logs in again
  once, a refused login is never repeated (three refusals lock the IP out, admins too);
- reading exports into typed :class:`ExportRow` (dates in UTC, ``""`` and ``null`` as
  "no answer", meta columns apart from answers, ip/referrer/e-mail dropped).

The password and the session key never appear in a log line, an exception or a repr:
messages built from server text go through :func:`_redact`, and exceptions from
``requests`` (whose ``request.body`` holds both) are not chained.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from types import TracebackType
from typing import Any, NamedTuple, Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import requests
from citric.exceptions import (
    InvalidJSONResponseError,
    LimeSurveyApiError,
    LimeSurveyStatusError,
    ResponseMismatchError,
    RPCInterfaceNotEnabledError,
)
from citric.session import Session
from pydantic import SecretStr
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from sync.config import SiteConfig
from sync.errors import (
    ConfigError,
    InputError,
    Location,
    LoginRefused,
    PermanentError,
    PingyiError,
    SessionExpired,
    TransientError,
)
from sync.logging import register_secret
from sync.retry import DEFAULT_POLICY, RetryPolicy

log = logging.getLogger(__name__)

#: Export columns that describe the response, not an answer (``code`` headings).
META_COLUMNS = frozenset(
    {"id", "submitdate", "lastpage", "startlanguage", "seed", "token", "startdate", "datestamp"}
)
#: Columns never copied anywhere: who answered, from where.
PRIVATE_COLUMNS = frozenset({"ipaddr", "refurl", "email", "firstname", "lastname"})
_NOT_ANSWERS = META_COLUMNS | PRIVATE_COLUMNS
#: ``submitdate`` of a completed response in a survey with ``datestamp=N``.
TIME_UNKNOWN = "1980-01-01 00:00:00"
#: what LimeSurvey writes; the fraction where a client gave one and the database kept it
#: (PostgreSQL's timestamp does, MariaDB's datetime drops it)
_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f")

#: Statuses that mean "nothing here", not a failure, per method.
_EMPTY_STATUSES: dict[str, tuple[str, ...]] = {
    # an active survey with no row at all; "No Response found" from ranged exports of
    # other 6.x builds
    "export_responses": ("No Data, could not get max id.", "No Response found"),
    "list_questions": ("No questions found",),
    "list_surveys": ("No surveys found",),
}
#: What a person can do about a status (shown with the error).
_HINTS: dict[str, str] = {
    "No permission": "the survey does not exist or the user may not read its responses",
    "No Data, survey table does not exist.": "the survey is not active",
    "No survey response table": "the survey is not active",
    "Error: Invalid survey ID": "no such survey on this site",
}
#: Database errors (RC2 ``error`` strings) that pass when the server recovers.
_TRANSIENT_DB = re.compile(
    r"gone away|Lost connection|Deadlock|Lock wait timeout|Too many connections|"
    r"\b(?:2002|2006|2013|1205|1213|1040)\b",
    re.IGNORECASE,
)
#: Login requests per client that may have reached LimeSurvey without an answer we could
#: read (reset, timeout, cut short): below the lockout's three counted failures.
_MAX_UNANSWERED_LOGINS = 2
#: LimeSurvey's lockout counts failed logins within ``timeOutTime`` (default 600 s).
_LOCKOUT_WINDOW = 600.0
#: Scattered ids (pending, quarantined) are re-read in spans of at most this many windows,
#: one export each, the rows not asked for dropped: on a real LimeSurvey an export call
#: costs more than a few hundred extra rows, and the demo's 2,408 scattered pending ids
#: took 427 calls in ranges that stopped at every gap of 20.
SPAN_WINDOWS = 4


# --------------------------------------------------------------------------- rows


class ExportRow(NamedTuple):
    """One response from ``export_responses`` (``json``, ``code`` headings, ``short``)."""

    response_id: int
    completed: bool
    #: UTC; None when incomplete or when the time is unknown (``time_unknown``)
    submitted_at: datetime | None
    #: completed, but the survey records no dates (``submitdate`` 1980-01-01)
    time_unknown: bool
    started_at: datetime | None
    language: str | None
    token: str | None
    #: question columns only (``code`` / ``code[SQ]``), no answer = None
    answers: dict[str, str | None]
    last_page: int | None = None


@dataclass(frozen=True)
class Summary:
    completed: int
    incomplete: int
    full: int


@dataclass(frozen=True)
class QuestionInfo:
    """A top-level question with what a binding needs from it."""

    qid: int
    code: str
    type: str
    gid: int = 0
    text: str = ""
    #: non-i18n attributes, plugin attributes included (``syncDimension`` ...)
    attributes: dict[str, Any] = field(default_factory=dict)
    #: i18n attributes, base language
    attributes_lang: dict[str, Any] = field(default_factory=dict)
    #: answer code -> label, in LimeSurvey's order
    answeroptions: dict[str, str] = field(default_factory=dict)
    #: subquestion code -> text, in LimeSurvey's order
    subquestions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SurveyInfo:
    sid: int
    title: str
    active: bool
    starts_at: datetime | None = None
    expires_at: datetime | None = None


def parse_site_time(text: object, zone: ZoneInfo, where: Location, column: str) -> datetime | None:
    """``YYYY-MM-DD HH:MM:SS`` in the site's zone -> aware UTC; null or ``""`` -> None."""
    if text is None or text == "":
        return None
    if (
        isinstance(text, str)
        and len(text) == 19
        and text[4] == text[7] == "-"
        and text[10] == " "
        and text[13] == text[16] == ":"
    ):
        # the one form LimeSurvey writes: fromisoformat reads it several times faster
        # than strptime (three dates per row, on every row of an export)
        try:
            local = datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            return local.replace(tzinfo=zone).astimezone(UTC)
    for form in _DATE_FORMATS:
        try:
            local = datetime.strptime(str(text), form)
        except ValueError:
            continue
        return local.replace(tzinfo=zone).astimezone(UTC)
    raise InputError(
        where,
        f"column {column}: {text!r} is not a LimeSurvey date",
        "expected YYYY-MM-DD HH:MM:SS; check the survey's export",
    )


def _answer(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    return str(value)


def _int_or_none(value: object) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(str(value))
    except ValueError:
        return None


def parse_row(raw: Mapping[str, Any], *, zone: ZoneInfo, survey_id: int) -> ExportRow:
    """One flat export object -> :class:`ExportRow`."""
    try:
        rid = int(raw["id"])
    except (KeyError, TypeError, ValueError):
        raise InputError(
            Location(survey_id=survey_id),
            f"export row without a usable id: {raw.get('id')!r}",
            "export with heading type 'code' and response type 'short'",
        ) from None
    where = Location(survey_id=survey_id, response_id=rid)
    submit = raw.get("submitdate")
    time_unknown = submit == TIME_UNKNOWN
    completed = submit is not None and submit != ""
    submitted_at = None if time_unknown else parse_site_time(submit, zone, where, "submitdate")
    return ExportRow(
        response_id=rid,
        completed=completed,
        submitted_at=submitted_at,
        time_unknown=time_unknown,
        started_at=parse_site_time(raw.get("startdate"), zone, where, "startdate"),
        language=_answer(raw.get("startlanguage")),
        token=_answer(raw.get("token")),
        answers={
            key: value if value.__class__ is str and value != "" else _answer(value)
            for key, value in raw.items()
            if key not in _NOT_ANSWERS
        },
        last_page=_int_or_none(raw.get("lastpage")),
    )


#: base64 characters below which a window's document is decoded at once to see whether
#: it holds any row (``{"responses": []}`` is 24; one row of the narrowest survey, 200+)
_SMALL_DOCUMENT = 1024


def export_document(result: object, *, survey_id: int) -> list[dict[str, Any]]:
    """The base64 result of ``export_responses`` (JSON document) -> its raw row objects.

    A result that does not decode is a damaged reply (``TransientError``)."""
    try:
        document = json.loads(base64.b64decode(str(result), validate=True))
        rows = document["responses"]
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise TypeError("responses is not a list of objects")
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise TransientError(
            f"survey {survey_id}: export document unreadable ({type(exc).__name__}); "
            "the reply was probably cut short"
        ) from None
    return rows


def parse_export(
    result: object,
    *,
    zone: ZoneInfo,
    survey_id: int,
    unreadable: list[tuple[int, InputError]] | None = None,
) -> list[ExportRow]:
    """The base64 result of ``export_responses`` (JSON document) -> rows, by id (a row
    that cannot be read: see ``parse_rows``)."""
    document = export_document(result, survey_id=survey_id)
    return parse_rows(document, zone=zone, survey_id=survey_id, unreadable=unreadable)


def parse_rows(
    rows: Iterable[Mapping[str, Any]],
    *,
    zone: ZoneInfo,
    survey_id: int,
    unreadable: list[tuple[int, InputError]] | None = None,
) -> list[ExportRow]:
    """An export document's raw row objects -> rows, by id.

    A row that cannot be read (a date that is not one) raises the ``InputError`` that
    names it; given ``unreadable``, it goes there with its response id instead, and the
    other rows go on (a sync quarantines it). A row without a usable id always raises:
    there is nothing to name it by."""
    parsed: list[ExportRow] = []
    for raw in rows:
        try:
            parsed.append(parse_row(raw, zone=zone, survey_id=survey_id))
        except InputError as exc:
            if unreadable is None or exc.where.response_id is None:
                raise
            unreadable.append((exc.where.response_id, exc))
    parsed.sort(key=lambda row: row.response_id)
    return parsed


def id_ranges(
    ids: Iterable[int], *, max_gap: int = 0, max_span: int | None = None
) -> list[tuple[int, int]]:
    """Sorted inclusive ``(from, to)`` ranges covering ``ids``; ids at most ``max_gap``
    apart share a range unless it would span more than ``max_span`` ids."""
    ranges: list[tuple[int, int]] = []
    for rid in sorted(set(ids)):
        if ranges:
            start, end = ranges[-1]
            close = rid - end <= max_gap + 1
            fits = max_span is None or rid - start + 1 <= max_span
            if close and fits:
                ranges[-1] = (start, rid)
                continue
        ranges.append((rid, rid))
    return ranges


def read_spans(ids: Iterable[int], window: int) -> list[tuple[int, int]]:
    """The id ranges ``export_ids`` reads ``ids`` in, one export call each: ids less than a
    window apart share a range, and a range spans at most ``SPAN_WINDOWS`` windows (so a
    read holds a bounded number of rows)."""
    return id_ranges(ids, max_gap=window, max_span=SPAN_WINDOWS * window)


# ------------------------------------------------------------------ login memory


def site_fingerprint(site: SiteConfig, password: SecretStr) -> str:
    """A value that changes when the site's url, user or password changes.

    Stored beside a refused login so that a corrected configuration is tried at once.
    scrypt, salted with the url and user, so the stored value does not give the
    password away to whoever reads the database."""
    salt = f"pingyi-site-v1\0{site.url}\0{site.user}".encode()
    digest = hashlib.scrypt(
        password.get_secret_value().encode(), salt=salt, n=2**14, r=8, p=1, dklen=32
    )
    return "v1:" + digest.hex()


def login_allowed(
    last_refused_at: datetime | None,
    config_fingerprint_then: str | None,
    config_fingerprint_now: str,
    backoff: timedelta | float,
    *,
    now: datetime | None = None,
) -> bool:
    """May the daemon try to log in to a site whose last login was refused?

    Yes if it was never refused, if the configuration changed since (someone fixed the
    password), or if ``backoff`` (a ``timedelta`` or seconds) has passed. Naive times are
    taken as UTC (SQLite gives naive datetimes back)."""
    if last_refused_at is None:
        return True
    if config_fingerprint_then != config_fingerprint_now:
        return True
    wait = backoff if isinstance(backoff, timedelta) else timedelta(seconds=backoff)
    if last_refused_at.tzinfo is None:
        last_refused_at = last_refused_at.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    if current.tzinfo is None:
        current = current.replace(tzinfo=UTC)
    return current - last_refused_at >= wait


# ------------------------------------------------------------------ failures


class _ErrorPage(HTMLParser):
    """Pulls the human message out of an HTML error page (LimeSurvey puts it in
    ``<h2 class="error-title">``; proxies in ``<title>``/``<h1>``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: dict[str, list[str]] = {"h2": [], "h1": [], "title": [], "body": []}
        self._open: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "style"}:
            self._skip += 1
        elif tag in {"h1", "h2", "title"}:
            self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style"}:
            self._skip = max(0, self._skip - 1)
        elif self._open and self._open[-1] == tag:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._open:
            self.texts[self._open[-1]].append(data)
        self.texts["body"].append(data)


def html_error_message(body: str, limit: int = 300) -> str:
    """The readable message of an HTML (or plain text) error body, one line."""
    parser = _ErrorPage()
    try:
        parser.feed(body)
        parser.close()
    except Exception:  # a broken page still has a message somewhere
        return " ".join(body.split())[:limit]
    for tag in ("h2", "h1", "title", "body"):
        text = " ".join(" ".join(parser.texts[tag]).split())
        if text:
            return text[:limit]
    return "(empty page)"


def _redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def _status_text(exc: LimeSurveyStatusError) -> str:
    return str(exc.args[0]) if exc.args else str(exc)


def _root_cause(exc: BaseException) -> str:
    """The innermost reason of a requests error, without urls or request bodies."""
    seen: BaseException = exc
    while True:
        inner = seen.__cause__ or seen.__context__
        if inner is None or inner is seen:
            break
        seen = inner
    if seen.args and isinstance(seen.args[-1], BaseException):
        seen = seen.args[-1]
    text = str(seen)
    # urllib3 says "<conn object at 0x..>: Failed to establish...": keep the reason.
    text = text.split(">: ", 1)[-1]
    return f"{type(seen).__name__}: {text}"[:200]


def translate(
    exc: BaseException,
    *,
    site: str,
    method: str,
    where: str = "",
    secrets: Sequence[str] = (),
) -> PingyiError | None:
    """THE mapping of citric/requests failures to ``sync.errors``; None if ``exc`` is not
    a failure of the call (a bug: let it through).

    ``where`` is added to the message (" survey 111111"); ``secrets`` are blanked out of
    any text that came from the server."""
    head = f"site {site}: {method}{where}"
    if isinstance(exc, PingyiError):
        return exc
    if isinstance(exc, LimeSurveyStatusError):
        status = _redact(_status_text(exc), secrets)
        if status == "Invalid session key":
            return SessionExpired(f"{head}: session key expired or released")
        if method == "get_session_key":
            return LoginRefused(site, status)
        hint = _HINTS.get(status)
        return PermanentError(
            f"{head}: LimeSurvey says {status!r}" + (f" ({hint})" if hint else "")
        )
    if isinstance(exc, LimeSurveyApiError):
        message = _redact(str(exc), secrets)[:300]
        if _TRANSIENT_DB.search(message):
            return TransientError(f"{head}: LimeSurvey database error: {message}")
        return PermanentError(f"{head}: LimeSurvey error: {message}")
    if isinstance(exc, RPCInterfaceNotEnabledError):
        return TransientError(
            f"{head}: empty reply (if it persists: is the JSON-RPC interface enabled in "
            "LimeSurvey's global settings?)"
        )
    if isinstance(exc, InvalidJSONResponseError):
        doc = getattr(exc.__cause__, "doc", "") or ""
        if doc.lstrip().startswith("<"):
            page = _redact(html_error_message(doc), secrets)
            return TransientError(f"{head}: HTML page instead of JSON: {page}")
        return TransientError(f"{head}: reply is not JSON (cut short?), {len(doc)} characters")
    if isinstance(exc, ResponseMismatchError):
        return TransientError(f"{head}: reply to another request (a proxy or a cache?)")
    if isinstance(exc, requests.HTTPError):
        response = exc.response
        code = response.status_code if response is not None else 0
        page = _redact(html_error_message(response.text), secrets) if response is not None else ""
        if code >= 500 or code in {408, 429}:
            return TransientError(f"{head}: HTTP {code} from LimeSurvey: {page}")
        return PermanentError(f"{head}: HTTP {code} (check the site url): {page}")
    if isinstance(
        exc,
        (
            requests.exceptions.InvalidURL,
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema,
        ),
    ):
        return ConfigError(f"site {site}: url is not usable: {type(exc).__name__}")
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return TransientError(f"{head}: no connection within the connect timeout")
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return TransientError(f"{head}: no reply within the read timeout")
    if isinstance(
        exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)
    ):
        return TransientError(f"{head}: reply cut short ({_root_cause(exc)})")
    if isinstance(exc, requests.exceptions.ConnectionError):
        return TransientError(f"{head}: connection failed ({_root_cause(exc)})")
    if isinstance(exc, (KeyError, TypeError)):
        # citric reads data["id"]: a JSON reply that is not an RPC object
        return TransientError(f"{head}: reply is not a JSON-RPC object")
    return None


def _never_delivered(exc: BaseException) -> bool:
    """Did the request certainly not reach LimeSurvey (no connection was made)?"""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError) and exc.args:
        reason = getattr(exc.args[0], "reason", exc.args[0])
        return isinstance(reason, (NewConnectionError, ConnectionRefusedError))
    return False


# ------------------------------------------------------------------ client


class CallLog:
    """The RC2 requests a client sent: ``len()`` and ``count(method)`` over its whole
    life, the last ``keep`` method names for inspection. A daemon keeps one client per
    site for months: a plain list would grow without end."""

    def __init__(self, keep: int = 1000) -> None:
        self._recent: deque[str] = deque(maxlen=keep)
        self._by_method: Counter[str] = Counter()
        self._total = 0
        self._lock = threading.Lock()

    def append(self, method: str) -> None:
        with self._lock:
            self._recent.append(method)
            self._by_method[method] += 1
            self._total += 1

    def __len__(self) -> int:
        return self._total

    def count(self, method: str) -> int:
        return self._by_method[method]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._recent))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CallLog):
            return self._total == other._total and list(self._recent) == list(other._recent)
        if isinstance(other, list):
            return self._total == len(other) and list(self._recent) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"CallLog({list(self._recent)!r}, total={self._total})"


class _TimeoutAdapter(HTTPAdapter):
    """citric passes no timeout; a request without one may hang for ever."""

    def __init__(self, connect: float, read: float) -> None:
        super().__init__()
        self._timeout = (connect, read)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().send(request, **kwargs)


#: ids per ids-only export when a whole survey's completed ids are listed: LimeSurvey
#: 6.2.1's export time grows with the rows up to about 10,000 and much faster beyond
#: (docs/real-limesurvey-check.md)
PROBE_SPAN = 10_000


def _ids_of(result: Any, sid: int) -> list[int]:
    """The ids of an ids-only export (None: no rows)."""
    if result is None:
        return []
    ids: list[int] = []
    for raw in export_document(result, survey_id=sid):
        try:
            ids.append(int(raw["id"]))
        except (KeyError, TypeError, ValueError):
            raise InputError(
                Location(survey_id=sid), f"ids-only export row without an id: {raw!r}"
            ) from None
    return ids


class LimeSurveyClient:
    """One site's RC2, logged in lazily, the key released on exit.

    ``http``: a ``requests.Session`` to reuse (proxies, TLS settings); the client mounts
    a timeout adapter for the site's url on it and closes it on exit like citric does.
    ``retry``: the retry policy (tests inject one that does not sleep).
    """

    def __init__(
        self,
        site: SiteConfig,
        password: SecretStr,
        *,
        http: requests.Session | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.site = site
        self._password = password
        self._retry = retry or DEFAULT_POLICY
        self._http = http or requests.Session()
        parts = urlsplit(site.url)
        self._http.mount(
            f"{parts.scheme}://{parts.netloc}/",
            _TimeoutAdapter(site.connect_timeout, site.read_timeout),
        )
        self._session: Session | None = None
        self._refused: LoginRefused | None = None
        # keys issued to this client, to blank them out of server text; older ones are
        # long expired
        self._keys_seen: deque[str] = deque(maxlen=16)
        # when login requests went unanswered (monotonic seconds)
        self._unanswered: deque[float] = deque()
        # one login at a time: two threads must not both try a wrong password
        self._login_lock = threading.Lock()
        #: RC2 requests sent (logins and releases included)
        self.calls = CallLog()
        self.logins = 0
        self.retries = 0

    def __repr__(self) -> str:
        return f"LimeSurveyClient(site={self.site.name!r}, user={self.site.user!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- plumbing --------------------------------------------------------------

    @property
    def _secrets(self) -> list[str]:
        return [self._password.get_secret_value(), *self._keys_seen]

    def _count(self, method: str) -> None:
        self.calls.append(method)

    def _login(self, stale: Session | None = None) -> Session:
        """Log in unless another thread already replaced ``stale`` with a live session."""
        with self._login_lock:
            if self._session is not None and self._session is not stale:
                return self._session
            return self._login_now()

    def _login_now(self) -> Session:
        if self._refused is not None:
            # One refused login per client, ever: the next one could lock the IP out.
            raise self._refused
        now = time.monotonic()
        while self._unanswered and now - self._unanswered[0] > _LOCKOUT_WINDOW:
            self._unanswered.popleft()
        if len(self._unanswered) >= _MAX_UNANSWERED_LOGINS:
            # Each of them may have been a refused login LimeSurvey counted; a third
            # refusal within its window would lock the IP out.
            raise TransientError(
                f"site {self.site.name}: get_session_key: {len(self._unanswered)} login "
                "requests got no readable answer; no other before the lockout window passes"
            )
        self._count("get_session_key")
        self.logins += 1
        try:
            session = Session(
                self.site.url,
                self.site.user,
                self._password.get_secret_value(),
                requests_session=self._http,
            )
        except Exception as exc:
            mapped = translate(
                exc, site=self.site.name, method="get_session_key", secrets=self._secrets
            )
            if mapped is None:
                raise
            if isinstance(mapped, LoginRefused):
                self._refused = mapped
                log.error("%s", mapped)
            elif not _never_delivered(exc):
                self._unanswered.append(time.monotonic())
            raise mapped from None
        self._unanswered.clear()
        if session.key:
            self._keys_seen.append(session.key)
            register_secret(session.key)  # the log handlers' safety net (sync.logging)
        log.info("site %s: logged in as %s", self.site.name, self.site.user)
        self._session = session
        return session

    def _send(self, session: Session, method: str, params: tuple[Any, ...], where: str) -> Any:
        self._count(method)
        log.debug("site %s: %s%s", self.site.name, method, where)
        try:
            return session.rpc(method, *params)
        except LimeSurveyStatusError as exc:
            status = _status_text(exc)
            if status.startswith(_EMPTY_STATUSES.get(method, ())):
                return None
            mapped = translate(
                exc, site=self.site.name, method=method, where=where, secrets=self._secrets
            )
        except Exception as exc:
            mapped = translate(
                exc, site=self.site.name, method=method, where=where, secrets=self._secrets
            )
            if mapped is None:
                raise
        assert mapped is not None
        raise mapped from None

    def _attempt(self, method: str, params: tuple[Any, ...], where: str) -> Any:
        session = self._session or self._login()
        try:
            return self._send(session, method, params, where)
        except SessionExpired:
            # Keys expire 2 h after login whatever the use: log in again, once.
            log.info("site %s: session key expired, logging in again", self.site.name)
            session = self._login(stale=session)
        try:
            return self._send(session, method, params, where)
        except SessionExpired:
            # A key refused right after it was issued (keys purged, a balancer without
            # shared sessions): no second login here; back off and try the whole again.
            self._session = None
            raise TransientError(
                f"site {self.site.name}: {method}{where}: a fresh session key was refused"
            ) from None

    def _on_retry(self, exc: BaseException) -> None:
        self.retries += 1

    def rpc(self, method: str, *params: Any, where: str = "") -> Any:
        """One RC2 call (the key is added), retried and translated. A status that means
        "nothing here" for ``method`` gives None."""
        return self._retry.retrying("limesurvey", self._on_retry)(
            self._attempt, method, params, where
        )

    def login(self) -> None:
        """Log in now (``doctor``); otherwise the first call does."""
        if self._session is None:
            self._retry.retrying("limesurvey", self._on_retry)(self._login)

    def close(self) -> None:
        """Release the session key (errors ignored: the key expires anyway)."""
        session, self._session = self._session, None
        if session is not None:
            self._count("release_session_key")
            try:
                session.close()
            except Exception as exc:
                log.debug(
                    "site %s: release_session_key failed (%s), ignored",
                    self.site.name,
                    type(exc).__name__,
                )
        self._http.close()

    # -- typed calls -----------------------------------------------------------

    def _export(
        self,
        sid: int,
        from_id: int,
        to_id: int | None,
        fields: list[str] | None,
        where: str,
        *,
        completion: str = "all",
    ) -> Any:
        """``export_responses`` as we always ask for it: JSON, complete and incomplete
        (``completion``), ``code`` headings, ``short`` answers (ints and nulls kept; FACTS.md)."""
        params: list[Any] = [sid, "json", None, completion, "code", "short", from_id, to_id]
        if fields is not None:
            params.append(fields)
        return self.rpc("export_responses", *params, where=where)

    def export_window(self, sid: int, from_id: int, to_id: int) -> list[ExportRow]:
        """Responses with ``from_id <= id <= to_id``, complete or not, sorted by id."""
        result = self.export_window_result(sid, from_id, to_id)
        return [] if result is None else parse_export(result, zone=self.site.zone, survey_id=sid)

    def export_window_result(self, sid: int, from_id: int, to_id: int) -> str | None:
        """``export_window``'s export as LimeSurvey sent it (the base64 document), not
        yet decoded (``export_document`` does that), or None when the window holds no row.

        A pass asks for the next window as soon as this one's reply is in, and decodes
        it beside the next export: against a LimeSurvey as slow as 6.2.1, decoding
        before asking added about a tenth to every window's turn. Whether the window is
        empty is told here, so a pass asks for nothing past the window that ends it:
        an empty document is a few dozen characters, decoded at once."""
        if from_id > to_id:
            return None
        result = self._export(sid, from_id, to_id, None, f" survey {sid} ids {from_id}..{to_id}")
        if result is None:
            return None
        text = str(result)
        if len(text) < _SMALL_DOCUMENT and not export_document(text, survey_id=sid):
            return None
        return text

    def export_ids(self, sid: int, ids: Iterable[int]) -> list[ExportRow]:
        """The rows of these ids that still exist (a deleted id is simply absent)."""
        wanted = set(ids)
        rows: list[ExportRow] = []
        for start, end in read_spans(wanted, self.site.window):
            rows.extend(r for r in self.export_window(sid, start, end) if r.response_id in wanted)
        return rows

    def ids_above(self, sid: int, high_water: int) -> list[int]:
        """Ids of all responses above ``high_water`` (an ids-only export): the probe that
        jumps a gap of deleted ids."""
        result = self._export(
            sid, high_water + 1, None, ["id"], f" survey {sid} ids > {high_water}"
        )
        return sorted(_ids_of(result, sid))

    def completed_ids(self, sid: int, low: int, high: int) -> list[int]:
        """Ids of the completed responses with ``low <= id <= high``: ids-only exports of
        ``PROBE_SPAN`` ids each (the probe for completed responses that appeared below
        the high water, see ``pull``)."""
        ids: list[int] = []
        for lo in range(low, high + 1, PROBE_SPAN):
            hi = min(high, lo + PROBE_SPAN - 1)
            where = f" survey {sid} completed ids {lo}..{hi}"
            result = self._export(sid, lo, hi, ["id"], where, completion="complete")
            ids.extend(_ids_of(result, sid))
        return sorted(ids)

    def summary(self, sid: int) -> Summary:
        result = self.rpc("get_summary", sid, where=f" survey {sid}")
        if not isinstance(result, Mapping) or "completed_responses" not in result:
            raise PermanentError(
                f"site {self.site.name}: get_summary survey {sid}: no counts "
                "(the survey is not active)"
            )
        return Summary(
            completed=int(result.get("completed_responses") or 0),
            incomplete=int(result.get("incomplete_responses") or 0),
            full=int(result.get("full_responses") or 0),
        )

    def survey_properties(self, sid: int) -> dict[str, Any]:
        result = self.rpc("get_survey_properties", sid, where=f" survey {sid}")
        if not isinstance(result, dict):
            raise PermanentError(f"site {self.site.name}: survey {sid}: no properties")
        return result

    def list_surveys(self) -> list[SurveyInfo]:
        result = self.rpc("list_surveys") or []
        zone = self.site.zone
        surveys = []
        for item in result:
            sid = int(item["sid"])
            where = Location(survey_id=sid)
            surveys.append(
                SurveyInfo(
                    sid=sid,
                    title=str(item.get("surveyls_title") or ""),
                    active=item.get("active") == "Y",
                    starts_at=parse_site_time(item.get("startdate"), zone, where, "startdate"),
                    expires_at=parse_site_time(item.get("expires"), zone, where, "expires"),
                )
            )
        return surveys

    def questions(self, sid: int) -> list[QuestionInfo]:
        """Top-level questions with attributes (plugin ones included), answer options and
        subquestions: one ``list_questions`` and one ``get_question_properties`` each."""
        listed = self.rpc("list_questions", sid, where=f" survey {sid}") or []
        children: dict[int, list[Mapping[str, Any]]] = {}
        for item in listed:
            parent = int(item.get("parent_qid") or 0)
            if parent:
                children.setdefault(parent, []).append(item)
        out: list[QuestionInfo] = []
        for item in listed:
            if int(item.get("parent_qid") or 0):
                continue
            qid = int(item["qid"])
            props = self.rpc("get_question_properties", qid, where=f" survey {sid} question {qid}")
            props = props if isinstance(props, Mapping) else {}
            out.append(_question_info(item, props, children.get(qid, [])))
        return out


def _mapping(value: object) -> dict[str, Any]:
    # RC2 gives "No available answers" (a string) instead of an empty object.
    return dict(value) if isinstance(value, Mapping) else {}


def _question_info(
    item: Mapping[str, Any], props: Mapping[str, Any], children: Sequence[Mapping[str, Any]]
) -> QuestionInfo:
    options = sorted(
        _mapping(props.get("answeroptions")).items(),
        key=lambda kv: int(kv[1].get("order") or 0) if isinstance(kv[1], Mapping) else 0,
    )
    answeroptions = {
        str(code): str(opt.get("answer", "")) if isinstance(opt, Mapping) else str(opt)
        for code, opt in options
    }
    subs = _mapping(props.get("subquestions"))
    if subs:
        subquestions = {
            str(sq["title"]): str(sq.get("question", ""))
            for sq in subs.values()
            if isinstance(sq, Mapping) and "title" in sq
        }
    else:
        ordered = sorted(children, key=lambda c: int(c.get("question_order") or 0))
        subquestions = {str(c["title"]): str(c.get("question", "")) for c in ordered}
    return QuestionInfo(
        qid=int(item["qid"]),
        code=str(item.get("title", "")),
        type=str(item.get("type", "")),
        gid=int(item.get("gid") or 0),
        text=str(item.get("question") or ""),
        attributes=_mapping(props.get("attributes")),
        attributes_lang=_mapping(props.get("attributes_lang")),
        answeroptions=answeroptions,
        subquestions=subquestions,
    )
