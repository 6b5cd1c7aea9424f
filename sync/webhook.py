"""The daemon's small HTTP face: the completion webhook, ``/healthz``, ``/metrics`` and
``/catalogue.json``, as a WSGI app served by waitress.

The webhook only *wakes* the scheduler; the pass itself reads LimeSurvey as usual, so a
webhook can at worst cause an early pass, never put data in the database. Still, it is
checked before anything else happens:

1. size: ``Content-Length`` above ``daemon.webhook_max_body`` is refused (413) before a
   byte of the body is read; a body without a length is read only up to the limit;
2. signature: HMAC-SHA256 over ``timestamp.body`` (``sync.signing``), the timestamp within
   the replay window, else 401;
3. replay: a (timestamp, signature) pair already accepted inside the window is refused
   (409), so a captured request cannot be fired again and again;
4. shape: JSON ``{"survey_id": int, "response_id": str|int, "site"?: str}``, else 400.

Rejections are logged with the reason, the peer and the size, never the body (it names
a respondent's response) nor the signature.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from waitress import wasyncore
from waitress.server import BaseWSGIServer, create_server

from sync import signing
from sync.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from sync.metrics import Metrics

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
Environ = Mapping[str, Any]


@dataclass(frozen=True)
class WebhookEvent:
    survey_id: int
    response_id: str
    #: optional: which site sent it, when one survey id exists on two sites
    site: str | None = None


class ReplayCache:
    """Accepted (timestamp, signature) pairs, forgotten once outside the replay window.

    Only requests with a valid signature get here, so a forger cannot fill it; the size
    cap is a backstop against a plugin gone mad."""

    def __init__(self, window_seconds: float, max_entries: int = 100_000) -> None:
        self.window = window_seconds
        self.max_entries = max_entries
        self._seen: OrderedDict[tuple[int, str], float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, timestamp: int, signature: str, now: float) -> bool:
        """True the first time a pair is offered within the window, False after."""
        key = (timestamp, signature.strip().lower())
        with self._lock:
            self._prune(now)
            if key in self._seen:
                return False
            # a signature stays valid while its timestamp is inside the window on either
            # side of now, so remember it until then
            self._seen[key] = timestamp + self.window
            while len(self._seen) > self.max_entries:
                self._seen.popitem(last=False)
            return True

    def _prune(self, now: float) -> None:
        stale = [k for k, until in self._seen.items() if until < now]
        for k in stale:
            del self._seen[k]


class Rejected(Exception):
    def __init__(self, status: str, outcome: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.outcome = outcome
        self.reason = reason


def parse_event(body: bytes) -> WebhookEvent:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Rejected("400 Bad Request", "malformed", "body is not UTF-8 JSON") from None
    if not isinstance(data, dict):
        raise Rejected("400 Bad Request", "malformed", "body must be a JSON object")
    survey_id = data.get("survey_id")
    response_id = data.get("response_id")
    site = data.get("site")
    if not isinstance(survey_id, int) or isinstance(survey_id, bool) or survey_id <= 0:
        raise Rejected("400 Bad Request", "malformed", "survey_id must be a positive integer")
    if isinstance(response_id, bool) or not isinstance(response_id, int | str):
        raise Rejected("400 Bad Request", "malformed", "response_id must be a string or integer")
    if site is not None and not isinstance(site, str):
        raise Rejected("400 Bad Request", "malformed", "site must be a string when given")
    return WebhookEvent(survey_id=survey_id, response_id=str(response_id), site=site)


class DaemonApp:
    """The WSGI application. Everything it acts on is injected, so tests drive it with
    stand-ins and the daemon with the real scheduler."""

    def __init__(
        self,
        *,
        metrics: Metrics,
        on_event: Callable[[WebhookEvent], bool],
        health: Callable[[], tuple[bool, dict[str, Any]]],
        secret: bytes | None,
        max_body: int = 16_384,
        replay_seconds: int = signing.DEFAULT_REPLAY_SECONDS,
        catalogue_json: Callable[[], dict[str, Any]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.metrics = metrics
        self.on_event = on_event
        self.health = health
        self.secret = secret
        self.max_body = max_body
        self.replay_seconds = replay_seconds
        self.catalogue_json = catalogue_json
        self.clock = clock
        self.replays = ReplayCache(replay_seconds)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/webhook":
            if method != "POST":
                return _json(start_response, "405 Method Not Allowed", {"error": "POST only"})
            return self._webhook(environ, start_response)
        if method not in {"GET", "HEAD"}:
            return _json(start_response, "405 Method Not Allowed", {"error": "GET only"})
        if path == "/healthz":
            ok, detail = self.health()
            return _json(start_response, "200 OK" if ok else "503 Service Unavailable", detail)
        if path == "/metrics":
            body = self.metrics.exposition()
            start_response(
                "200 OK",
                [("Content-Type", METRICS_CONTENT_TYPE), ("Content-Length", str(len(body)))],
            )
            return [body]
        if path == "/catalogue.json" and self.catalogue_json is not None:
            return _json(start_response, "200 OK", self.catalogue_json())
        return _json(start_response, "404 Not Found", {"error": f"no such path {path}"})

    def _webhook(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        peer = environ.get("REMOTE_ADDR", "?")
        try:
            body = self._read_body(environ)
            event = self._check(environ, body)
        except Rejected as rej:
            self.metrics.webhooks.labels(outcome=rej.outcome).inc()
            log.warning(
                "webhook rejected (%s): %s [from %s, %s bytes]",
                rej.outcome,
                rej.reason,
                peer,
                environ.get("CONTENT_LENGTH") or "unknown",
            )
            return _json(start_response, rej.status, {"error": rej.reason})
        known = self.on_event(event)
        if not known:
            self.metrics.webhooks.labels(outcome="unbound").inc()
            log.warning(
                "webhook for survey %s (site %s) ignored: no such survey is synced here",
                event.survey_id,
                event.site or "any",
            )
            return _json(
                start_response,
                "404 Not Found",
                {"error": f"survey {event.survey_id} is not bound to any configured site"},
            )
        self.metrics.webhooks.labels(outcome="accepted").inc()
        log.info("webhook: pass queued for survey %s", event.survey_id)
        return _json(start_response, "202 Accepted", {"queued": True})

    def _read_body(self, environ: Environ) -> bytes:
        raw_length = environ.get("CONTENT_LENGTH") or ""
        stream = environ["wsgi.input"]
        if raw_length:
            try:
                length = int(raw_length)
            except ValueError:
                raise Rejected("400 Bad Request", "malformed", "bad Content-Length") from None
            if length > self.max_body:
                raise Rejected(
                    "413 Content Too Large",
                    "oversized",
                    f"body of {length} bytes exceeds the {self.max_body}-byte limit",
                )
            body: bytes = stream.read(length)
            return body
        # no length given (chunked): read one byte past the limit to know it was exceeded
        body = stream.read(self.max_body + 1)
        if len(body) > self.max_body:
            raise Rejected(
                "413 Content Too Large", "oversized", f"body exceeds the {self.max_body}-byte limit"
            )
        return body

    def _check(self, environ: Environ, body: bytes) -> WebhookEvent:
        if self.secret is None:
            raise Rejected(
                "503 Service Unavailable",
                "disabled",
                "webhook disabled: no shared secret configured (daemon.webhook_secret_env)",
            )
        timestamp = environ.get("HTTP_X_PINGYI_TIMESTAMP")
        signature = environ.get("HTTP_X_PINGYI_SIGNATURE")
        now = self.clock()
        try:
            ts = signing.verify(
                self.secret,
                timestamp,
                signature,
                body,
                now=now,
                replay_seconds=self.replay_seconds,
            )
        except signing.SignatureError as exc:
            outcome = "stale" if "window" in str(exc) else "forged"
            raise Rejected("401 Unauthorized", outcome, str(exc)) from None
        assert signature is not None  # verify() refused a missing one
        if not self.replays.first_time(ts, signature, now):
            raise Rejected(
                "409 Conflict", "replayed", "this signed request was already received (replay)"
            )
        return parse_event(body)


def _json(start_response: StartResponse, status: str, payload: object) -> list[bytes]:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    start_response(
        status,
        [("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [body]


def parse_listen(listen: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port``."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"daemon.listen must be host:port, got {listen!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


class HttpServer:
    """waitress in a background thread, with a clean stop.

    waitress is a production WSGI server in pure Python: no C build on the district's
    servers, a bounded thread pool, request size limits and slow-client handling built in."""

    def __init__(self, app: DaemonApp, listen: str, *, threads: int = 4) -> None:
        host, port = parse_listen(listen)
        # our own socket map, so stopping this server never touches another in the process
        self._map: dict[int, Any] = {}
        server = create_server(
            app,
            map=self._map,
            host=host,
            port=port,
            threads=threads,
            ident="pingyi",
            # waitress's own cap, above ours, so our app sees and logs the 413 itself
            max_request_body_size=max(app.max_body * 4, 1 << 20),
            asyncore_loop_timeout=0.5,
            clear_untrusted_proxy_headers=True,
        )
        if not isinstance(server, BaseWSGIServer):  # one host:port gives one socket
            raise TypeError("expected a single-socket waitress server")
        self.server = server
        self.host, raw_port = server.getsockname()
        self.port = int(raw_port)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="pingyi-http", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def _serve(self) -> None:
        # waitress's own run() loops until its map is empty; closing the map from another
        # thread races its select() (EBADF). Loop here instead and close in this thread.
        while not self._stopping.is_set():
            wasyncore.loop(timeout=0.5, map=self._map, use_poll=True, count=1)
        self.server.task_dispatcher.shutdown(timeout=5)
        wasyncore.close_all(self._map)

    def stop(self, timeout: float = 6.0) -> None:
        self._stopping.set()
        self.server.pull_trigger()  # wake the poll now rather than at its timeout
        self._thread.join(timeout)
