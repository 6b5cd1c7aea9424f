"""The daemon's HTTP face over real HTTP on loopback (waitress), with a stand-in scheduler."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from sync import signing
from sync.metrics import Metrics
from sync.webhook import DaemonApp, HttpServer, ReplayCache, WebhookEvent, parse_listen

SECRET = b"shared-secret-for-tests-only"
#: a marker that would only reach the logs if a body did
MARKER = "身份证-𠮷-😀-BODY-MARKER-7731"


@dataclass
class Recorder:
    events: list[WebhookEvent] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    bound: set[int] = field(default_factory=lambda: {111111})

    def __call__(self, event: WebhookEvent) -> bool:
        if event.survey_id not in self.bound:
            return False
        self.events.append(event)
        self.arrived.set()
        return True


@dataclass
class Served:
    url: str
    recorder: Recorder
    metrics: Metrics
    app: DaemonApp


@pytest.fixture
def served() -> Iterator[Served]:
    metrics = Metrics()
    recorder = Recorder()
    app = DaemonApp(
        metrics=metrics,
        on_event=recorder,
        health=lambda: (True, {"status": "ok", "sites": {"district": {"state": "ok"}}}),
        secret=SECRET,
        max_body=1024,
        replay_seconds=300,
        catalogue_json=lambda: {"units": {"U0101": {"name": "区教育局"}}},
    )
    server = HttpServer(app, "127.0.0.1:0")
    server.start()
    try:
        yield Served(server.url, recorder, metrics, app)
    finally:
        server.stop()


def _body(survey_id: object = 111111, response_id: object = 42, **extra: Any) -> bytes:
    payload = {"survey_id": survey_id, "response_id": response_id, "note": MARKER, **extra}
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def _post(
    url: str,
    body: bytes,
    *,
    ts: int | None = None,
    secret: bytes = SECRET,
    signature: str | None = None,
) -> requests.Response:
    ts = int(time.time()) if ts is None else ts
    sig = signature if signature is not None else signing.sign(secret, ts, body)
    headers = {
        signing.TIMESTAMP_HEADER: str(ts),
        signing.SIGNATURE_HEADER: sig,
        "Content-Type": "application/json",
    }
    return requests.post(url + "/webhook", data=body, headers=headers, timeout=5)


def _no_body_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    assert caplog.records, "the rejection must be logged"
    assert MARKER not in caplog.text
    for record in caplog.records:
        assert MARKER not in record.getMessage()
        assert "sha256=" not in record.getMessage()


def test_valid_webhook_wakes_the_scheduler_quickly(served: Served) -> None:
    started = time.monotonic()
    resp = _post(served.url, _body(response_id="42"))
    assert resp.status_code == 202
    assert served.recorder.arrived.wait(1.0)
    assert time.monotonic() - started < 1.0
    assert served.recorder.events == [WebhookEvent(survey_id=111111, response_id="42")]


def test_forged_signature_is_401_and_not_logged(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    resp = _post(served.url, _body(), secret=b"not-the-secret")
    assert resp.status_code == 401
    assert "bad signature" in resp.json()["error"]
    assert not served.recorder.events
    _no_body_in_logs(caplog)
    assert "forged" in caplog.text


def test_altered_body_is_401(served: Served) -> None:
    ts = int(time.time())
    sig = signing.sign(SECRET, ts, _body(response_id=1))
    resp = _post(served.url, _body(response_id=2), ts=ts, signature=sig)
    assert resp.status_code == 401


def test_unsigned_is_401(served: Served) -> None:
    resp = requests.post(served.url + "/webhook", data=_body(), timeout=5)
    assert resp.status_code == 401
    assert not served.recorder.events


def test_stale_timestamp_is_401(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    old = int(time.time()) - 301
    resp = _post(served.url, _body(), ts=old)
    assert resp.status_code == 401
    assert "replay window" in resp.json()["error"]
    assert not served.recorder.events
    _no_body_in_logs(caplog)


def test_replay_is_409(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    ts = int(time.time())
    body = _body()
    sig = signing.sign(SECRET, ts, body)
    assert _post(served.url, body, ts=ts, signature=sig).status_code == 202
    caplog.clear()
    again = _post(served.url, body, ts=ts, signature=sig)
    assert again.status_code == 409
    assert len(served.recorder.events) == 1
    _no_body_in_logs(caplog)


def test_oversized_is_413_before_reading(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    big = _body(padding="x" * 2000)
    resp = _post(served.url, big)
    assert resp.status_code == 413
    assert not served.recorder.events
    _no_body_in_logs(caplog)
    assert "1024-byte limit" in caplog.text


def test_oversized_chunked_is_413(served: Served) -> None:
    """No Content-Length: the app reads one byte past the limit and stops."""
    ts = int(time.time())
    big = _body(padding="y" * 5000)

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(big), 512):
            yield big[i : i + 512]

    headers = {
        signing.TIMESTAMP_HEADER: str(ts),
        signing.SIGNATURE_HEADER: signing.sign(SECRET, ts, big),
    }
    resp = requests.post(served.url + "/webhook", data=chunks(), headers=headers, timeout=5)
    assert resp.status_code == 413


def test_malformed_payload_is_400(served: Served) -> None:
    assert _post(served.url, b"not json").status_code == 400
    assert _post(served.url, _body(survey_id="111111")).status_code == 400
    assert _post(served.url, _body(survey_id=True)).status_code == 400
    assert _post(served.url, _body(response_id=None)).status_code == 400
    assert not served.recorder.events


def test_unbound_survey_is_404(served: Served) -> None:
    resp = _post(served.url, _body(survey_id=999))
    assert resp.status_code == 404
    assert "999" in resp.json()["error"]


def test_webhook_disabled_without_secret() -> None:
    app = DaemonApp(metrics=Metrics(), on_event=Recorder(), health=lambda: (True, {}), secret=None)
    server = HttpServer(app, "127.0.0.1:0")
    server.start()
    try:
        resp = _post(server.url, _body())
        assert resp.status_code == 503
        assert "no shared secret" in resp.json()["error"]
    finally:
        server.stop()


def test_get_on_webhook_is_405(served: Served) -> None:
    assert requests.get(served.url + "/webhook", timeout=5).status_code == 405


def test_healthz(served: Served) -> None:
    resp = requests.get(served.url + "/healthz", timeout=5)
    assert resp.status_code == 200
    assert resp.json()["sites"]["district"]["state"] == "ok"


def test_healthz_unhealthy_is_503() -> None:
    app = DaemonApp(
        metrics=Metrics(),
        on_event=Recorder(),
        health=lambda: (False, {"status": "stopping"}),
        secret=SECRET,
    )
    server = HttpServer(app, "127.0.0.1:0")
    server.start()
    try:
        resp = requests.get(server.url + "/healthz", timeout=5)
        assert resp.status_code == 503
        assert resp.json() == {"status": "stopping"}
    finally:
        server.stop()


def test_metrics_count_webhook_outcomes(served: Served) -> None:
    _post(served.url, _body())
    _post(served.url, _body(), secret=b"wrong")
    _post(served.url, _body(padding="z" * 4000))
    served.metrics.success("district", 111111, time.time() - 30)
    resp = requests.get(served.url + "/metrics", timeout=5)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    text = resp.text
    assert 'pingyi_webhooks_total{outcome="accepted"} 1.0' in text
    assert 'pingyi_webhooks_total{outcome="forged"} 1.0' in text
    assert 'pingyi_webhooks_total{outcome="oversized"} 1.0' in text
    lag = [
        line
        for line in text.splitlines()
        if line.startswith('pingyi_sync_lag_seconds{site="district",survey="111111"}')
    ]
    assert len(lag) == 1
    assert 29.0 <= float(lag[0].split()[-1]) < 60.0


def test_catalogue_json_keeps_chinese(served: Served) -> None:
    resp = requests.get(served.url + "/catalogue.json", timeout=5)
    assert resp.status_code == 200
    assert resp.json() == {"units": {"U0101": {"name": "区教育局"}}}
    assert "区教育局".encode() in resp.content  # not \\u-escaped


def test_unknown_path_is_404(served: Served) -> None:
    assert requests.get(served.url + "/nope", timeout=5).status_code == 404


def test_replay_cache_forgets_outside_window() -> None:
    cache = ReplayCache(window_seconds=300)
    assert cache.first_time(1000, "sha256=ab", now=1000)
    assert not cache.first_time(1000, "SHA256=AB", now=1200)
    # past ts + window the timestamp alone is refused by verify(), so the entry can go
    assert cache.first_time(1000, "sha256=ab", now=1301)


def test_replay_cache_is_bounded() -> None:
    cache = ReplayCache(window_seconds=300, max_entries=10)
    for i in range(50):
        assert cache.first_time(1000, f"sig{i}", now=1000)
    assert len(cache._seen) == 10


def test_parse_listen() -> None:
    assert parse_listen("127.0.0.1:8765") == ("127.0.0.1", 8765)
    assert parse_listen("[::1]:9000") == ("::1", 9000)
    with pytest.raises(ValueError, match="host:port"):
        parse_listen("localhost")
