"""The daemon: schedule, guarded passes, sites with refused logins, webhook wake-up, stop,
metrics and logs. In-process with a stand-in pass (the real one is exercised by the
subprocess tests at the end)."""

from __future__ import annotations

import datetime as dt
import functools
import io
import itertools
import json
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync import signing
from sync.bindings import Binding
from sync.catalogue import Catalogue
from sync.config import SiteConfig
from sync.daemon import Daemon, MemoryGate, Schedule, binding_problems
from sync.errors import LoginRefused, PermanentError, TransientError
from sync.limesurvey import LimeSurveyClient
from sync.locks import PostgresLocker
from sync.logging import REDACTED, RedactFilter, forget_secrets, redact, register_secret, setup
from sync.pull import PassReport
from sync.testing.daemon_proc import launch
from tests.conftest import require_server

SECRET = b"daemon-test-secret"
PG_URL = os.environ.get(
    "PINGYI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


# -- the schedule ----------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_schedule_runs_each_survey_then_waits_the_interval() -> None:
    clock = FakeClock()
    sched = Schedule([("a", 1), ("a", 2)], interval=60, jitter=0, clock=clock)
    assert sched.take(lambda k: True) == (("a", 1), "poll")
    assert sched.take(lambda k: True) == (("a", 2), "poll")
    sched.done(("a", 1))
    sched.done(("a", 2))
    clock.now += 59
    sched.wake(("a", 2))  # a webhook makes it due at once
    assert sched.take(lambda k: True) == (("a", 2), "webhook")
    sched.done(("a", 2))
    clock.now += 1
    assert sched.take(lambda k: k[1] == 1) == (("a", 1), "poll")


def test_schedule_coalesces_a_burst_into_one_more_pass() -> None:
    clock = FakeClock()
    sched = Schedule([("a", 1)], interval=60, jitter=0, clock=clock)
    assert sched.take(lambda k: True) is not None
    for _ in range(10):  # ten webhooks during the pass
        sched.wake(("a", 1))
    sched.done(("a", 1))
    assert sched.take(lambda k: True) == (("a", 1), "webhook")
    sched.done(("a", 1))
    # and no more: the next one is an interval away
    sched.close()
    assert sched.take(lambda k: True) is None


def test_schedule_keeps_the_ids_webhooks_name_for_the_next_pass() -> None:
    heard = iter(dt.datetime(2026, 11, 26, 8, m, tzinfo=dt.UTC) for m in range(60))
    sched = Schedule(
        [("a", 1), ("a", 2)], interval=60, jitter=0, clock=FakeClock(), wall=lambda: next(heard)
    )
    assert sched.take(lambda k: k[1] == 1) is not None
    sched.wake(("a", 1), "webhook", 7)  # during the pass, heard at 08:00
    sched.wake(("a", 1), "webhook", 8)  # 08:01
    sched.wake(("a", 2), "webhook", 9)  # 08:02
    sched.wake(("a", 3), "webhook", 10)  # not a survey of this daemon
    sched.wake(("a", 1), "webhook", 7)  # 08:03: named again, first heard at 08:00
    at = {7: heard_at(8, 0), 8: heard_at(8, 1)}
    assert sched.hints(("a", 1)) == at
    assert sched.hints(("a", 1)) == {}  # handed over once
    sched.keep_hints(("a", 1), at)  # a failed pass gives them back, with their times
    assert sched.hints(("a", 1)) == at
    assert sched.hints(("a", 2)) == {9: heard_at(8, 2)}
    assert sched.hints(("a", 3)) == {}


def heard_at(hour: int, minute: int) -> dt.datetime:
    return dt.datetime(2026, 11, 26, hour, minute, tzinfo=dt.UTC)


def test_schedule_jitter_spreads_within_bounds() -> None:
    import random

    clock = FakeClock()
    keys = [("a", i) for i in range(200)]
    sched = Schedule(keys, interval=60, jitter=10, clock=clock, rng=random.Random(1))
    dues = list(sched._due.values())
    assert all(1000 <= d <= 1010 for d in dues)
    assert max(dues) - min(dues) > 5  # actually spread, not all at once


def test_schedule_ignores_unknown_survey() -> None:
    sched = Schedule([("a", 1)], interval=60, jitter=0)
    sched.wake(("a", 99))
    assert ("a", 99) not in sched._due


# -- stand-ins ---------------------------------------------------------------------------


@dataclass
class StandInPass:
    """Behaves like run_pass: per survey a script of outcomes, records who ran when."""

    fail: dict[tuple[str, int], BaseException] = field(default_factory=dict)
    delay: float = 0.0
    windows: int = 1
    calls: list[tuple[str, int, str]] = field(default_factory=list)
    #: the ``hinted`` ids each call was given
    hinted: list[frozenset[int]] = field(default_factory=list)
    #: and when each was heard
    heard: list[dict[int, dt.datetime]] = field(default_factory=list)
    running: dict[tuple[str, int], int] = field(default_factory=lambda: defaultdict(int))
    max_running: dict[tuple[str, int], int] = field(default_factory=lambda: defaultdict(int))
    arrived: threading.Event = field(default_factory=threading.Event)
    mutex: threading.Lock = field(default_factory=threading.Lock)

    def __call__(
        self,
        engine: Engine,
        client: LimeSurveyClient,
        site: SiteConfig,
        binding: Binding,
        catalogue: Catalogue,
        *,
        kind: str = "poll",
        stop: threading.Event | None = None,
        token_key: bytes | None = None,
        pending_max_age_days: float = 30.0,
        hinted: Mapping[int, dt.datetime] | None = None,
    ) -> PassReport:
        key = (site.name, binding.survey_id)
        with self.mutex:
            self.calls.append((site.name, binding.survey_id, kind))
            self.hinted.append(frozenset(hinted or ()))
            self.heard.append(dict(hinted or {}))
            self.running[key] += 1
            self.max_running[key] = max(self.max_running[key], self.running[key])
        self.arrived.set()
        try:
            if key in self.fail:
                raise self.fail[key]
            report = PassReport(fetched=1, inserted=1, rc2_calls=2, duration_s=0.01, shortfall=0)
            report.touched = {("2022", "U0101")}
            for _ in range(self.windows):
                time.sleep(self.delay)
                report.windows += 1
                if stop is not None and stop.is_set():
                    report.stopped = True
                    break
            return report
        finally:
            with self.mutex:
                self.running[key] -= 1

    def count(self, site: str, sid: int, kind: str | None = None) -> int:
        with self.mutex:
            return sum(1 for c in self.calls if c[:2] == (site, sid) and kind in (None, c[2]))


class StandInClient:
    def __init__(self, site: SiteConfig) -> None:
        self.site = site
        self.closed = False
        self.retries = 0

    def close(self) -> None:
        self.closed = True


def _site(name: str, **kw: Any) -> SiteConfig:
    return SiteConfig(name=name, url=f"http://127.0.0.1:9/{name}", user="sync", **kw)


def _binding(site: str, sid: int) -> Binding:
    return Binding.model_validate(
        {
            "version": 1,
            "site": site,
            "survey_id": sid,
            "campaign": "2022",
            "group": "citizens",
            "unit": {"source": "fixed", "unit": "U0101"},
            "ratings": [{"column": "overall", "dimension": "overall"}],
        }
    )


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'pingyi.db'}")
    yield engine
    engine.dispose()


def make_daemon(
    engine: Engine,
    fake: StandInPass,
    sites: list[SiteConfig],
    sids: dict[str, list[int]],
    **kw: Any,
) -> Daemon:
    jobs = {(s, sid): _binding(s, sid) for s, ids in sids.items() for sid in ids}
    clients: list[StandInClient] = []

    def factory(site: SiteConfig) -> LimeSurveyClient:
        client = StandInClient(site)
        clients.append(client)
        return cast(LimeSurveyClient, client)

    options: dict[str, Any] = {
        "interval": 3600.0,
        "jitter": 0.0,
        "listen": "127.0.0.1:0",
        "webhook_secret": SECRET,
    }
    options.update(kw)
    daemon = Daemon(
        engine=engine,
        catalogue=cast(Catalogue, None),
        sites=sites,
        jobs=jobs,
        pass_fn=fake,
        client_factory=factory,
        **options,
    )
    daemon.test_clients = clients  # type: ignore[attr-defined]
    return daemon


def _wait(cond: Callable[[], bool], timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def _post_webhook(url: str, survey_id: int, response_id: int = 1) -> requests.Response:
    body = json.dumps({"survey_id": survey_id, "response_id": response_id}).encode()
    ts = int(time.time())
    return requests.post(
        url + "/webhook",
        data=body,
        headers={
            signing.TIMESTAMP_HEADER: str(ts),
            signing.SIGNATURE_HEADER: signing.sign(SECRET, ts, body),
        },
        timeout=5,
    )


# -- the daemon in-process --------------------------------------------------------------


def test_webhook_triggers_a_pass_quickly(sqlite_engine: Engine) -> None:
    fake = StandInPass()
    daemon = make_daemon(sqlite_engine, fake, [_site("district")], {"district": [111]})
    daemon.start()
    try:
        assert _wait(lambda: fake.count("district", 111) == 1)  # the first round
        assert daemon.http is not None
        started = time.monotonic()
        assert _post_webhook(daemon.http.url, 111).status_code == 202
        assert _wait(lambda: fake.count("district", 111, "webhook") == 1, 2.0)
        assert time.monotonic() - started < 1.0
        assert _post_webhook(daemon.http.url, 999).status_code == 404
    finally:
        daemon.stop()
    assert fake.count("district", 111) == 2  # polling interval is an hour: no extra pass
    # the webhook's response id went to its pass (to be looked up if below the high water)
    assert fake.hinted == [frozenset(), frozenset({1})]


def test_a_failed_pass_leaves_the_webhooks_ids_to_the_next(sqlite_engine: Engine) -> None:
    fake = StandInPass(fail={("district", 111): TransientError("connection reset")})
    daemon = make_daemon(sqlite_engine, fake, [_site("district")], {"district": [111]})
    daemon.start()
    try:
        assert _wait(lambda: fake.count("district", 111) == 1)  # the first round
        assert daemon.http is not None
        assert _post_webhook(daemon.http.url, 111, response_id=7).status_code == 202
        assert _wait(lambda: fake.count("district", 111) == 2)  # fails, with 7
        assert _wait(lambda: daemon.status[("district", 111)].last_error_kind is not None)
        del fake.fail[("district", 111)]
        assert _post_webhook(daemon.http.url, 111, response_id=8).status_code == 202
        assert _wait(lambda: fake.count("district", 111) == 3)
    finally:
        daemon.stop()
    assert fake.hinted == [frozenset(), frozenset({7}), frozenset({7, 8})]
    # given back with the moment 7 was heard, not the moment it was given back
    assert fake.heard[2][7] == fake.heard[1][7] <= fake.heard[2][8]


def test_a_failing_survey_does_not_stop_the_others(sqlite_engine: Engine) -> None:
    fake = StandInPass(
        fail={
            ("district", 1): PermanentError("survey 1: no permission to export responses"),
            ("district", 2): RuntimeError("a bug"),
            ("district", 3): TransientError("connection reset"),
        }
    )
    daemon = make_daemon(
        sqlite_engine, fake, [_site("district")], {"district": [1, 2, 3, 4]}, interval=0.05
    )
    daemon.start()
    try:
        assert _wait(lambda: fake.count("district", 4) >= 3)
        assert fake.count("district", 1) >= 2  # failed surveys are retried next round
        ok, detail = daemon.health()
    finally:
        daemon.stop()
    assert ok  # a failing survey is reported, the daemon is still healthy
    assert detail["status"] == "degraded"
    by_sid = {s["survey_id"]: s for s in detail["surveys"]}
    assert by_sid[1]["last_error_kind"] == "permanent"
    assert "no permission" in by_sid[1]["last_error"]
    assert by_sid[2]["last_error_kind"] == "bug"
    assert by_sid[3]["last_error_kind"] == "transient"
    assert by_sid[4]["last_error_kind"] is None
    assert by_sid[4]["last_success_age_s"] is not None
    text = daemon.metrics.exposition().decode()
    assert 'pingyi_errors_total{kind="permanent",site="district"}' in text
    assert 'pingyi_errors_total{kind="bug",site="district"}' in text


def test_refused_site_is_left_alone_while_the_other_syncs(sqlite_engine: Engine) -> None:
    fake = StandInPass(fail={("bad", 7): LoginRefused("bad", "Invalid user name or password")})
    daemon = make_daemon(
        sqlite_engine,
        fake,
        [_site("bad"), _site("good")],
        {"bad": [7, 8], "good": [9]},
        interval=0.05,
    )
    daemon.start()
    try:
        assert _wait(lambda: fake.count("good", 9) >= 5)
        _, detail = daemon.health()
    finally:
        daemon.stop()
    # exactly one login attempt's worth of passes on the bad site, ever
    assert fake.count("bad", 7) + fake.count("bad", 8) == 1
    assert detail["sites"]["bad"]["state"] == "login_refused"
    assert "Invalid user name" in detail["sites"]["bad"]["reason"]
    assert detail["sites"]["good"]["state"] == "ok"
    clients = daemon.test_clients  # type: ignore[attr-defined]
    assert all(c.closed for c in clients)  # session keys released on stop
    text = daemon.metrics.exposition().decode()
    assert 'pingyi_site_login_refused{site="bad"} 1.0' in text


def test_memory_gate_allows_one_try_after_backoff() -> None:
    clock = FakeClock()
    gate = MemoryGate(clock)
    site = _site("s", login_backoff_seconds=600)
    assert gate.allowed(site) == (True, None)
    gate.refused(site, "wrong password")
    assert gate.allowed(site) == (False, "wrong password")
    clock.now += 599
    assert not gate.allowed(site)[0]
    clock.now += 1
    assert gate.allowed(site)[0]


def test_stop_finishes_the_current_window(sqlite_engine: Engine) -> None:
    fake = StandInPass(delay=0.1, windows=1000)
    daemon = make_daemon(sqlite_engine, fake, [_site("district")], {"district": [1]})
    reports: list[PassReport | None] = []
    original = daemon.run_one

    def spy(key: tuple[str, int], kind: str = "poll") -> PassReport | None:
        report = original(key, kind)
        reports.append(report)
        return report

    daemon.run_one = spy  # type: ignore[method-assign]
    daemon.start()
    assert fake.arrived.wait(2)
    time.sleep(0.25)
    started = time.monotonic()
    daemon.stop()
    assert time.monotonic() - started < 1.0
    assert len(reports) == 1
    report = reports[0]
    assert report is not None
    assert report.stopped
    assert 1 <= report.windows < 1000


def test_after_pass_hooks_get_the_report_and_may_fail(sqlite_engine: Engine) -> None:
    seen: list[set[tuple[str, str]]] = []

    def refresh(engine: Engine, catalogue: Catalogue, site: SiteConfig, report: PassReport) -> None:
        seen.append(report.touched)

    def broken(engine: Engine, catalogue: Catalogue, site: SiteConfig, report: PassReport) -> None:
        raise RuntimeError("results table locked")

    fake = StandInPass()
    daemon = make_daemon(
        sqlite_engine, fake, [_site("d")], {"d": [1]}, after_pass=[broken, refresh], listen=None
    )
    assert daemon.run_once() == 0
    assert seen == [{("2022", "U0101")}]
    assert 'kind="after_pass"' in daemon.metrics.exposition().decode()


def test_run_once_counts_failures(sqlite_engine: Engine) -> None:
    fake = StandInPass(fail={("d", 2): PermanentError("survey 2 is not active")})
    daemon = make_daemon(sqlite_engine, fake, [_site("d")], {"d": [1, 2, 3]}, listen=None)
    assert daemon.run_once() == 1
    assert [c[1] for c in fake.calls] == [1, 2, 3]


def test_metrics_after_passes(sqlite_engine: Engine) -> None:
    fake = StandInPass()
    daemon = make_daemon(sqlite_engine, fake, [_site("d")], {"d": [5]})
    daemon.start()
    try:
        assert _wait(lambda: fake.count("d", 5) == 1)
        assert daemon.http is not None
        assert _wait(lambda: daemon.status[("d", 5)].passes == 1)
        text = requests.get(daemon.http.url + "/metrics", timeout=5).text
        health = requests.get(daemon.http.url + "/healthz", timeout=5)
    finally:
        daemon.stop()
    assert 'pingyi_responses_synced_total{outcome="inserted",site="d",survey="5"} 1.0' in text
    assert 'pingyi_rc2_calls_total{site="d"} 2.0' in text
    assert 'pingyi_pass_duration_seconds_count{site="d"} 1.0' in text
    assert 'pingyi_sync_lag_seconds{site="d",survey="5"}' in text
    assert 'pingyi_shortfall_responses{site="d",survey="5"} 0.0' in text
    assert health.status_code == 200
    assert health.json()["status"] == "ok"


def test_one_daemon_per_sqlite_file(sqlite_engine: Engine) -> None:
    from sync.errors import ConfigError

    first = make_daemon(sqlite_engine, StandInPass(), [_site("d")], {"d": [1]}, listen=None)
    second = make_daemon(sqlite_engine, StandInPass(), [_site("d")], {"d": [1]}, listen=None)
    first.start()
    try:
        with pytest.raises(ConfigError, match="SQLite supports one daemon"):
            second.start()
    finally:
        first.stop()


@pytest.mark.db
def test_two_daemons_on_postgres_never_sync_one_survey_at_once() -> None:
    require_server("postgresql")
    engines = [sa.create_engine(PG_URL) for _ in range(2)]
    fake = StandInPass(delay=0.02)  # shared: it sees both daemons' passes
    sids = {"district": [11, 12, 13]}
    daemons = [
        make_daemon(e, fake, [_site("district")], sids, interval=0.01, locker=PostgresLocker(e))
        for e in engines
    ]
    by_daemon: list[list[Any]] = [[], []]
    for i, daemon in enumerate(daemons):
        original = daemon.run_one

        def spy(
            key: tuple[str, int], kind: str = "poll", _o: Any = original, _i: int = i
        ) -> PassReport | None:
            report: PassReport | None = _o(key, kind)
            if report is not None:
                by_daemon[_i].append(key)
            return report

        daemon.run_one = spy  # type: ignore[method-assign]

    def stood_back() -> int:
        """Times a daemon found a survey held by the other (so they did meet)."""
        return sum(
            s.last_skip == "held by another daemon" for d in daemons for s in d.status.values()
        ) + sum(
            1
            for d in daemons
            for line in d.metrics.exposition().decode().splitlines()
            if line.startswith('pingyi_passes_total{result="locked"')
        )

    for daemon in daemons:
        daemon.start()
    try:
        # run until both have worked and they have met at least once (a loaded machine
        # may take a while to make them collide; the bound only stops a broken test)
        assert _wait(lambda: len(fake.calls) >= 60 and all(by_daemon) and stood_back() >= 1, 60), (
            len(fake.calls),
            [len(b) for b in by_daemon],
            stood_back(),
        )
    finally:
        for daemon in daemons:
            daemon.stop()
        for engine in engines:
            engine.dispose()
    assert all(v == 1 for v in fake.max_running.values()), dict(fake.max_running)


def test_binding_problems_name_what_to_fix() -> None:
    bindings = {("d", 1): _binding("d", 1), ("d", 2): _binding("d", 2), ("x", 3): _binding("x", 3)}
    catalogue = cast(Catalogue, SimpleNamespace(bindings=bindings))
    problems = binding_problems([_site("d", surveys=(1, 9)), _site("e")], catalogue)
    assert len(problems) == 2
    assert any("survey 9" in p and "no binding" in p for p in problems)
    assert any("'x'" in p and "not configured" in p for p in problems)
    assert binding_problems([_site("d"), _site("x")], catalogue) == []


# -- logs --------------------------------------------------------------------------------


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    yield stream
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    forget_secrets()


SESSION_KEY = "a8Xk2mQ9pL4vR7tN1bC6dF3gH5jK0wYz"  # LimeSurvey: 32 random characters
TILDE_KEY = "x~9_Lm-2QpR7tN1bC6dF3gH5jK0wYz4A"  # ... which may include ~ _ -


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_logs_never_carry_a_secret(captured: io.StringIO, fmt: str) -> None:
    setup(fmt, stream=captured, secrets=["Pässw0rd-𠮷-secret"])  # type: ignore[arg-type]
    log = logging.getLogger("sync.test")
    log.warning("login with %s failed", "Pässw0rd-𠮷-secret")
    log.warning("rpc list_surveys(%s)", SESSION_KEY)
    log.warning("key %s released", TILDE_KEY)
    log.warning("request: {'method': 'get_session_key', 'password': 'other-pw'}")
    log.warning("db postgresql://pingyi:dbpass@db.local/pingyi unreachable")
    log.warning("header X-Pingyi-Signature: sha256=%s", "ab" * 32)
    try:
        raise ValueError(f"session key {SESSION_KEY} expired")
    except ValueError:
        log.exception("pass failed")
    out = captured.getvalue()
    for secret in ("Pässw0rd-𠮷-secret", SESSION_KEY, TILDE_KEY, "other-pw", "dbpass", "ab" * 32):
        assert secret not in out
    assert out.count(REDACTED) >= 6
    assert "login with" in out
    assert "pass failed" in out
    assert "ValueError" in out


def test_json_logs_are_one_object_a_line_and_keep_chinese(captured: io.StringIO) -> None:
    setup("json", stream=captured)
    logging.getLogger("sync.x").info("单位 %s 𠮷 😀", "区教育局", extra={"survey_id": 111})
    lines = captured.getvalue().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["msg"] == "单位 区教育局 𠮷 😀"
    assert record["survey_id"] == 111
    assert record["level"] == "info"
    assert "区教育局" in lines[0]  # not \\u-escaped


def test_redaction_leaves_ordinary_text_alone() -> None:
    text = "survey 111111 response 42: 3 fetched, content hash " + "0" * 64
    assert redact(text) == text
    assert redact("单位 U0101 区教育局 非常满意") == "单位 U0101 区教育局 非常满意"


def test_redact_filter_handles_bad_format_args() -> None:
    record = logging.LogRecord("x", logging.INFO, "f", 1, "%d items", ("nope",), None)
    assert RedactFilter().filter(record)
    assert "unformattable" in record.getMessage()


def test_registered_short_values_are_ignored() -> None:
    register_secret("ab")
    try:
        assert redact("absolutely fine") == "absolutely fine"
    finally:
        forget_secrets()


# -- the real daemon in a subprocess, against the LimeSurvey double ----------------------

REPO = Path(__file__).resolve().parent.parent
SID = 111111
LS_PASSWORD = "Ls-pässwörd-𠮷-2024"
WEBHOOK_SECRET = "webhook-shared-secret-for-the-subprocess"


@dataclass
class Live:
    """A daemon subprocess: its HTTP address and its log lines (JSON)."""

    proc: subprocess.Popen[str]
    url: str
    lines: list[str]

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in list(self.lines) if line.startswith("{")]

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = requests.get(self.url + "/healthz", timeout=5).json()
        return result


@dataclass
class Setup:
    tmp: Path
    double: Any
    db_url: str
    config: Path
    env: dict[str, str]


def _write_config(
    tmp: Path, db_url: str, ls_url: str, *, sites: list[dict[str, Any]], interval: float
) -> Path:
    lines = [
        f'mappings = "{tmp / "mappings"}"',
        "[database]",
        f'url = "{db_url}"',
        "[daemon]",
        f"interval_seconds = {interval}",
        "jitter_seconds = 0.1",
        'listen = "127.0.0.1:0"',
        'log_format = "json"',
        'webhook_secret_env = "PINGYI_WEBHOOK_SECRET"',
    ]
    for site in sites:
        lines += [
            "[[sites]]",
            f'name = "{site["name"]}"',
            f'url = "{ls_url}"',
            f'user = "{site.get("user", "admin")}"',
            f'password_env = "{site["password_env"]}"',
            'timezone = "UTC"',
            f"surveys = [{SID}]",
            "window = 10",
        ]
    path = tmp / "pingyi.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _prepare(
    tmp: Path, db_url: str, *, extra_sites: tuple[str, ...] = (), interval: float = 3600
) -> Setup:
    from sync.testing.double import LimeSurveyDouble
    from sync.testing.samples import satisfaction_rows, satisfaction_survey

    shutil.copytree(REPO / "mappings", tmp / "mappings")
    citizens = (tmp / "mappings" / "surveys" / "citizens_111111.yaml").read_text("utf-8")
    for name in extra_sites:  # the same survey bound on another site
        text = citizens.replace("site: district", f"site: {name}")
        (tmp / "mappings" / "surveys" / f"{name}_111111.yaml").write_text(text, "utf-8")
    double = LimeSurveyDouble(users={"admin": LS_PASSWORD}, timezone=dt.UTC)
    double.add_survey(satisfaction_survey(SID))
    double.load_responses(SID, satisfaction_rows(25, seed=3))
    ls_url = double.start()
    sites = [{"name": "district", "password_env": "PINGYI_TEST_LS_PASSWORD"}]
    sites += [{"name": n, "password_env": "PINGYI_TEST_WRONG_PASSWORD"} for n in extra_sites]
    config = _write_config(tmp, db_url, ls_url, sites=sites, interval=interval)
    env = {
        **os.environ,
        "PINGYI_TEST_LS_PASSWORD": LS_PASSWORD,
        "PINGYI_TEST_WRONG_PASSWORD": "not-the-password",
        "PINGYI_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("PINGYI_CONFIG", None)
    env.pop("PINGYI_DATABASE_URL", None)
    # what an operator does first (`pingyi db upgrade`, `pingyi catalogue load`), in-process
    from sync import db
    from sync.catalogue import load_catalogue
    from sync.cli.catalogue import store_catalogue

    engine = db.make_engine(db_url)
    db.upgrade(engine)
    with engine.begin() as conn:
        store_catalogue(conn, load_catalogue(tmp / "mappings"))
    engine.dispose()
    return Setup(tmp, double, db_url, config, env)


@pytest.fixture
def live_sqlite(tmp_path: Path) -> Iterator[Setup]:
    setup = _prepare(tmp_path, f"sqlite:///{tmp_path / 'pingyi.db'}")
    yield setup
    setup.double.stop()


def _launch(setup: Setup) -> Live:
    proc, url, lines = launch(setup.config, setup.env)
    return Live(proc, url, lines)


def _stop(live: Live) -> int:
    if live.proc.poll() is None:
        live.proc.send_signal(signal.SIGTERM)
    try:
        return live.proc.wait(30)
    finally:
        if live.proc.poll() is None:
            live.proc.kill()
            live.proc.wait()
        if live.proc.stderr is not None:
            live.proc.stderr.close()


def _count(engine: Engine, rid: int | None = None) -> int:
    query = "SELECT count(*) FROM pingyi_response WHERE survey_id = :sid"
    params: dict[str, Any] = {"sid": SID}
    if rid is not None:
        query += " AND response_id = :rid"
        params["rid"] = rid
    with engine.connect() as conn:
        return int(conn.execute(sa.text(query), params).scalar() or 0)


def _passes_at_least(live: Live, n: int) -> bool:
    total: int = sum(s["passes"] for s in live.health()["surveys"])
    return total >= n


def _completed_in_double(double: Any) -> list[int]:
    ids = double.response_ids(SID)
    return [i for i in ids if double.get_response(SID, i).get("submitdate")]


@pytest.mark.slow
def test_subprocess_webhook_to_row_then_sigterm(live_sqlite: Setup) -> None:
    setup = live_sqlite
    engine = sa.create_engine(setup.db_url)
    live = _launch(setup)
    try:
        done = _completed_in_double(setup.double)
        assert _wait(lambda: _count(engine) == len(done), 20), "".join(live.lines)
        [rid] = setup.double.load_responses(
            SID,
            [
                {
                    "office": "U0102",
                    "overall": "A1",
                    "comment": "新的一条：很好👍𠮷",
                    "phone": "13800000000",
                }
            ],
        )
        body = json.dumps({"survey_id": SID, "response_id": rid}).encode()
        ts = int(time.time())
        started = time.monotonic()
        resp = requests.post(
            live.url + "/webhook",
            data=body,
            headers={
                signing.TIMESTAMP_HEADER: str(ts),
                signing.SIGNATURE_HEADER: signing.sign(WEBHOOK_SECRET.encode(), ts, body),
            },
            timeout=5,
        )
        assert resp.status_code == 202
        assert _wait(lambda: _count(engine, rid) == 1, 10), "".join(live.lines)
        latency = time.monotonic() - started
        print(f"\nwebhook -> row in the database: {latency:.3f} s")
        assert latency < 10.0
        health = live.health()
        assert health["status"] == "ok", health
        metrics = requests.get(live.url + "/metrics", timeout=5).text
        assert 'pingyi_webhooks_total{outcome="accepted"} 1.0' in metrics
        # the response's submit date against the moment its webhook was heard: the
        # double and the site's config are both UTC, so seconds apart, not hours (set
        # when the pass ends, a moment after its row is in)
        gauge = f'pingyi_clock_offset_seconds{{site="district",survey="{SID}"}} '

        def clock_offset() -> list[float]:
            text = requests.get(live.url + "/metrics", timeout=5).text
            return [float(x.split(" ")[-1]) for x in text.splitlines() if x.startswith(gauge)]

        assert _wait(lambda: bool(clock_offset()), 10)
        [offset] = clock_offset()
        assert abs(offset) < 60
        public = requests.get(live.url + "/catalogue.json", timeout=5).json()
        assert any(u["code"] == "C0201" for u in public["units"])
    finally:
        code = _stop(live)
    assert code == 0, "".join(live.lines)
    # consistent after the stop: every completed response once, the cursor at the top
    all_ids = setup.double.response_ids(SID)
    done = _completed_in_double(setup.double)
    assert _count(engine) == len(done)
    with engine.connect() as conn:
        high_water = conn.execute(
            sa.text("SELECT high_water FROM pingyi_sync_cursor WHERE survey_id = :s"), {"s": SID}
        ).scalar()
        unfinished = conn.execute(
            sa.text("SELECT count(*) FROM pingyi_sync_run WHERE finished_at IS NULL")
        ).scalar()
        comment = conn.execute(
            sa.text(
                "SELECT c.text FROM pingyi_comment c JOIN pingyi_response r "
                "ON c.response_pk = r.id WHERE r.response_id = :rid"
            ),
            {"rid": rid},
        ).scalar()
    engine.dispose()
    assert high_water == max(all_ids)
    assert unfinished == 0
    assert comment == "新的一条：很好👍𠮷"
    text = "".join(live.lines)
    assert LS_PASSWORD not in text
    assert WEBHOOK_SECRET not in text
    assert any(r["msg"] == "stopped cleanly" for r in live.records())


@pytest.mark.slow
def test_subprocess_refused_site_left_alone_other_site_syncs(tmp_path: Path) -> None:
    setup = _prepare(
        tmp_path, f"sqlite:///{tmp_path / 'pingyi.db'}", extra_sites=("branch",), interval=0.3
    )
    engine = sa.create_engine(setup.db_url)
    live = _launch(setup)
    try:

        def good_passes() -> int:
            surveys = live.health()["surveys"]
            return sum(s["passes"] for s in surveys if s["site"] == "district")

        assert _wait(lambda: good_passes() >= 3, 20), "".join(live.lines)
        logins_then = setup.double.calls.count("get_session_key")
        passes_then = good_passes()
        assert _wait(lambda: good_passes() >= passes_then + 3, 20)
        health = live.health()
        logins_now = setup.double.calls.count("get_session_key")
    finally:
        code = _stop(live)
        setup.double.stop()
    assert code == 0
    assert health["sites"]["branch"]["state"] == "login_refused", health
    assert health["sites"]["district"]["state"] == "ok"
    # no new login attempt while the good site kept syncing: the IP is never locked out
    assert logins_now == logins_then
    assert logins_now <= 3
    assert _count(engine) == len(_completed_in_double(setup.double))
    # recorded where `pingyi status` and the next daemon read it
    with engine.connect() as conn:
        refused: dict[str, str | None] = dict(
            conn.execute(sa.text("SELECT site, login_refused_reason FROM pingyi_site_state")).all()
        )
    engine.dispose()
    assert refused.get("branch")
    assert refused.get("district") is None
    assert "not-the-password" not in "".join(live.lines)


@pytest.mark.slow
@pytest.mark.db
def test_subprocess_two_daemons_on_postgres_take_turns(
    tmp_path: Path, fresh_database: Callable[[str], sa.URL]
) -> None:
    url = fresh_database("postgresql").render_as_string(hide_password=False)
    setup = _prepare(tmp_path, url, interval=0.2)
    lives = [_launch(setup), _launch(setup)]
    engine = sa.create_engine(url)
    try:
        for live in lives:
            assert _wait(functools.partial(_passes_at_least, live, 3), 30)
        setup.double.load_responses(SID, [{"office": "U0101", "overall": "A2"}])
        done = len(_completed_in_double(setup.double))
        assert _wait(lambda: _count(engine) == done, 20)
    finally:
        codes = [_stop(live) for live in lives]
        setup.double.stop()
    assert codes == [0, 0]
    with engine.connect() as conn:
        runs = conn.execute(
            sa.text(
                "SELECT worker, started_at, finished_at FROM pingyi_sync_run "
                "WHERE survey_id = :s ORDER BY started_at"
            ),
            {"s": SID},
        ).all()
    engine.dispose()
    workers = {r.worker for r in runs}
    assert len(workers) == 2, workers  # both daemons did passes
    # and no two passes over the survey ever overlapped in time
    for before, after in itertools.pairwise(runs):
        assert before.finished_at is not None
        assert before.finished_at <= after.started_at, (before, after)
