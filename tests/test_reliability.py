"""Nothing lost, nothing duplicated: faults on the wire and kill -9 mid-sync must end in
the same records as a clean run (a canonical dump of responses, observations, comments,
quarantine, pending ids and the cursor). Sizes are kept small for CI."""

from __future__ import annotations

import contextlib
import os
import random
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync import db
from sync.errors import PingyiError
from sync.models import Comment, Observation, Quarantine, Response, SyncCursor, SyncPending
from sync.pull import run_pass
from sync.retry import retry_count
from sync.testing.double import LimeSurveyDouble
from sync.testing.faults import Faults
from tests.syncdata import (
    PASSWORD,
    double_row,
    load_catalogue_rows,
    make_binding,
    make_catalogue,
    make_client,
    make_double,
    make_site,
)

SID = 111111
#: CI size; the larger run of issue 4 (50,000 responses, 20 kills) is the same test with
#: PINGYI_RELIABILITY_N=50000 PINGYI_RELIABILITY_KILLS=20 (see bench/README.md)
N = int(os.environ.get("PINGYI_RELIABILITY_N", "2000"))
KILLS = int(os.environ.get("PINGYI_RELIABILITY_KILLS", "5"))
REPO = Path(__file__).resolve().parent.parent


def survey_rows() -> list[dict[str, Any]]:
    """N responses: some incomplete, a few with a unit the catalogue does not know, and
    a gap of deleted ids."""
    rows = []
    for rid in range(1, N + 1):
        if 700 <= rid < 760:
            continue  # deleted before the first sync: a gap wider than a window
        row = double_row(rid, completed=rid % 9 != 0)
        if rid % 250 == 0:
            row["office"] = "X9"
        rows.append(row)
    return rows


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Everything a sync decides, without times that depend on when it ran."""
    with engine.connect() as conn:

        def rows(query: Any) -> list[tuple[Any, ...]]:
            return sorted(tuple(r) for r in conn.execute(query))

        return {
            "responses": rows(
                sa.select(
                    Response.site,
                    Response.survey_id,
                    Response.response_id,
                    Response.campaign_code,
                    Response.group_code,
                    Response.unit_code,
                    Response.submitted_at,
                    Response.time_unknown,
                    Response.language,
                    Response.content_hash,
                    Response.deleted_at.is_(None),
                )
            ),
            "observations": rows(
                sa.select(
                    Response.response_id,
                    Observation.item,
                    Observation.dimension_code,
                    Observation.raw_code,
                    Observation.level_code,
                    Observation.points,
                    Observation.counted,
                    Observation.satisfied,
                    Observation.dissatisfied,
                ).join(Response, Response.id == Observation.response_pk)
            ),
            "comments": rows(
                sa.select(Response.response_id, Comment.item, Comment.text).join(
                    Response, Response.id == Comment.response_pk
                )
            ),
            "quarantine": rows(
                sa.select(
                    Quarantine.response_id,
                    Quarantine.reason_code,
                    Quarantine.resolved_at.is_(None),
                )
            ),
            "pending": rows(sa.select(SyncPending.response_id)),
            "cursor": rows(sa.select(SyncCursor.site, SyncCursor.survey_id, SyncCursor.high_water)),
        }


def fresh_engine(path: Path) -> Engine:
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    load_catalogue_rows(engine, make_catalogue())
    return engine


def clean_dump(tmp_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    double = make_double(SID)
    double.load_responses(SID, survey_rows())
    engine = fresh_engine(tmp_path / "clean.db")
    with double.serve() as url:
        site = make_site(url, window=100)
        with make_client(site) as client:
            run_pass(engine, client, site, make_binding(), make_catalogue())
    out = dump(engine)
    engine.dispose()
    return out


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[Any, ...]]]:
    return clean_dump(tmp_path_factory.mktemp("clean"))


def test_the_clean_dump_holds_what_the_survey_has(
    expected: dict[str, list[tuple[Any, ...]]],
) -> None:
    rows = survey_rows()
    complete = [r for r in rows if r["submitdate"] is not None]
    bad = [r for r in complete if r["office"] == "X9"]
    assert len(expected["responses"]) == len(complete) - len(bad)
    assert len(expected["quarantine"]) == len(bad)
    assert len(expected["pending"]) == len(rows) - len(complete)
    assert expected["cursor"] == [("district", SID, N)]


@pytest.mark.slow
def test_faults_on_ten_percent_of_calls_change_nothing(
    tmp_path: Path, expected: dict[str, list[tuple[Any, ...]]]
) -> None:
    double = make_double(SID)
    double.load_responses(SID, survey_rows())
    double.faults = Faults(rate=0.1, seed=7, timeout_sleep=0.6)
    engine = fresh_engine(tmp_path / "faulty.db")
    retries = 0
    passes = 0
    with double.serve() as url:
        site = make_site(url, window=10).model_copy(update={"read_timeout": 0.3})
        # A pass may still give up (a login that got no answer twice is not retried,
        # by design): the daemon would run the next pass, and so do we.
        for _ in range(8):
            passes += 1
            client = make_client(site, attempts=6)
            try:
                with client:
                    report = run_pass(engine, client, site, make_binding(), make_catalogue())
            except PingyiError:
                continue
            finally:
                retries += client.retries
            if report.high_water == N:
                break
    assert double.faults.count() > 10, "the run met too few faults to prove anything"
    assert retries <= double.faults.count() + 5  # bounded: about one retry per fault
    assert passes < 8
    assert dump(engine) == expected


def _resync(config: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PINGYI_TEST_LS_PASSWORD": PASSWORD}
    env.pop("PINGYI_DATABASE_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "sync", "--config", str(config), "resync", "--survey", str(SID)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.fixture
def served_double() -> Iterator[tuple[LimeSurveyDouble, str]]:
    double = make_double(SID)
    double.load_responses(SID, survey_rows())
    with double.serve() as url:
        yield double, url


@pytest.mark.slow
def test_kill_minus_nine_mid_sync_then_restart(
    tmp_path: Path,
    served_double: tuple[LimeSurveyDouble, str],
    expected: dict[str, list[tuple[Any, ...]]],
) -> None:
    double, url = served_double
    # a slow LimeSurvey, so that the kills land inside the sync, between and in windows
    double.faults = Faults(rate=0.0, latency=(0.04, 0.1), seed=1)
    engine = fresh_engine(tmp_path / "crash.db")
    config = _write_config(tmp_path, url, tmp_path / "crash.db")
    rng = random.Random(int(os.environ.get("PINGYI_CRASH_SEED", "11")))
    kills = 0
    for _ in range(KILLS):
        proc = _resync(config)
        time.sleep(rng.uniform(0.8, 2.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.communicate(timeout=30)
    final = _resync(config)
    _out, err = final.communicate(timeout=180 + N // 50)
    assert final.returncode == 0, err.decode()
    assert kills >= KILLS * 3 // 5, "the sync finished before most kills: make it slower"
    assert dump(engine) == expected
    engine.dispose()


def _write_config(root: Path, url: str, database: Path) -> Path:
    config = root / "pingyi.toml"
    config.write_text(
        f"""mappings = "{root / "mappings"}"

[database]
url = "sqlite:///{database}"

[[sites]]
name = "district"
url = "{url}"
user = "admin"
password_env = "PINGYI_TEST_LS_PASSWORD"
window = 50
timezone = "UTC"
""",
        encoding="utf-8",
    )
    _write_mappings(root)
    return config


@pytest.mark.slow
def test_sigterm_finishes_the_window_commits_and_exits_0(
    tmp_path: Path, served_double: tuple[LimeSurveyDouble, str]
) -> None:
    double, url = served_double
    double.faults = Faults(rate=0.0, latency=(0.04, 0.08), seed=2)
    engine = fresh_engine(tmp_path / "term.db")
    config = _write_config(tmp_path, url, tmp_path / "term.db")
    proc = _resync(config)
    # SIGTERM once the sync is under way (a window committed), not while the interpreter
    # is still importing, which takes seconds on a busy machine and dies of the signal
    deadline = time.monotonic() + 60
    while not dump(engine)["responses"] and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the resync ended before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert "[stopped]" in out.decode(), out.decode()
    state = dump(engine)
    (cursor,) = state["cursor"]
    assert 0 < cursor[2] < N
    # everything up to the committed high water is in, nothing above it
    assert all(r[2] <= cursor[2] for r in state["responses"])
    engine.dispose()


def _write_mappings(root: Path) -> None:
    """The test catalogue and binding as YAML, so the subprocess loads what the tests map."""
    import yaml

    from tests.syncdata import BINDING_DOC, CATALOGUE_DOC

    mappings = root / "mappings"
    (mappings / "campaigns").mkdir(parents=True)
    (mappings / "surveys").mkdir()
    doc = CATALOGUE_DOC
    catalogue = {
        "version": 1,
        "district": {"name": doc["name"], "code": "test"},
        "scales": {
            code: {"name": s["name"], "levels": s["levels"], "excluded": s["excluded"]}
            for code, s in doc["scales"].items()
        },
        "groups": {code: g["name"] for code, g in doc["groups"].items()},
        "dimensions": {code: d["name"] for code, d in doc["dimensions"].items()},
        "systems": {
            code: {
                "name": s["name"],
                "units": {
                    u["code"]: u["name"] for u in doc["units"].values() if u["system"] == code
                },
            }
            for code, s in doc["systems"].items()
        },
    }
    (mappings / "catalogue.yaml").write_text(
        yaml.safe_dump(catalogue, allow_unicode=True), encoding="utf-8"
    )
    campaign = dict(doc["campaigns"]["2022"])
    (mappings / "campaigns" / "2022.yaml").write_text(
        yaml.safe_dump(campaign, allow_unicode=True), encoding="utf-8"
    )
    (mappings / "surveys" / "citizens.yaml").write_text(
        yaml.safe_dump(BINDING_DOC, allow_unicode=True), encoding="utf-8"
    )


class Proxy:
    """A TCP proxy on loopback that can cut every connection and refuse new ones for a
    while: a database server that went away and came back."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = threading.Event()
        self.up.set()
        self.cuts = 0
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up.is_set():
                client.close()
                continue
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, server]
            threading.Thread(target=self._relay, args=(client, server), daemon=True).start()

    def _relay(self, client: socket.socket, server: socket.socket) -> None:
        """Both directions of one connection in one thread, and sockets closed only by it,
        under the lock ``outage`` shuts them down with. (With a thread per direction and
        ``outage`` closing sockets, a closed descriptor was reused at once by the next
        connection, and a late recv or send of the old one then stole or injected bytes
        in the new one: PostgreSQL and psycopg each waiting for the other for ever.)"""
        peer = {client: server, server: client}
        try:
            while True:
                ready, _, _ = select.select([client, server], [], [])
                for src in ready:
                    data = src.recv(65536)
                    if not data:
                        return
                    peer[src].sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                for s in (client, server):
                    if s in self._conns:
                        self._conns.remove(s)
                    with contextlib.suppress(OSError):
                        s.close()

    def outage(self, seconds: float) -> None:
        self.up.clear()
        self.cuts += 1
        with self._lock:
            for s in self._conns:  # each relay sees the end and closes its own
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
        threading.Timer(seconds, self.up.set).start()

    def close(self) -> None:
        self.listener.close()


@pytest.mark.slow
def test_postgresql_outage_mid_pass_is_waited_out(
    fresh_database: Callable[[str], sa.URL],
    expected: dict[str, list[tuple[Any, ...]]],
) -> None:
    url = fresh_database("postgresql")
    proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
    via_proxy = url.set(host="127.0.0.1", port=proxy.port)
    engine = db.make_engine(via_proxy)
    db.upgrade(engine)
    load_catalogue_rows(engine, make_catalogue())
    double = make_double(SID)
    double.load_responses(SID, survey_rows())
    # two outages, mid-pass, while windows are being written
    double.after_exports(5, lambda _d: proxy.outage(1.5))
    double.after_exports(15, lambda _d: proxy.outage(1.0))
    retried = retry_count("database")
    try:
        with double.serve() as ls_url:
            site = make_site(ls_url, window=100)
            with make_client(site) as client:
                report = run_pass(engine, client, site, make_binding(), make_catalogue())
        assert proxy.cuts == 2
        assert retry_count("database") > retried  # the pass did meet the outage
        assert report.high_water == N
        assert dump(engine) == expected
    finally:
        engine.dispose()
        proxy.close()
