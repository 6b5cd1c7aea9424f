"""Survey locks: two holders against the real PostgreSQL and MariaDB on this machine,
and the one-daemon-per-SQLite-file lock across real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync.errors import ConfigError
from sync.locks import (
    DaemonLock,
    LocalLocker,
    MySQLLocker,
    PostgresLocker,
    lock_key,
    lock_name,
    make_locker,
)
from tests.conftest import require_server

PG_URL = os.environ.get(
    "PINGYI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MARIADB_URL = os.environ.get(
    "PINGYI_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test?charset=utf8mb4"
)


def _engine(backend: str, url: str) -> Iterator[Engine]:
    require_server(backend)
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def pg() -> Iterator[Engine]:
    yield from _engine("postgresql", PG_URL)


@pytest.fixture
def pg2() -> Iterator[Engine]:
    """A second engine: a second daemon has its own pool and its own sessions."""
    yield from _engine("postgresql", PG_URL)


def test_lock_key_is_stable_and_distinct() -> None:
    assert lock_key("district", 111111) == lock_key("district", 111111)
    assert lock_key("district", 111111) != lock_key("district", 111112)
    assert lock_key("district", 1) != lock_key("town", 1)
    # signed 64-bit, what pg_try_advisory_lock(bigint) takes
    assert -(2**63) <= lock_key("区站点𠮷", 2**31) < 2**63
    assert len(lock_name("a" * 200, 1)) <= 64


@pytest.mark.db
@pytest.mark.parametrize(
    ("backend", "url", "locker"),
    [("postgresql", PG_URL, PostgresLocker), ("mariadb", MARIADB_URL, MySQLLocker)],
    ids=["pg", "maria"],
)
def test_two_daemons_never_hold_one_survey_at_once(
    backend: str, url: str, locker: type[PostgresLocker | MySQLLocker]
) -> None:
    # two daemons: two pools, two sessions
    engines = [next(_engine(backend, url)) for _ in range(2)]
    first, second = locker(engines[0]), locker(engines[1])
    with first.hold("district", 4242) as got_first:
        assert got_first
        with second.hold("district", 4242) as got_second:
            assert not got_second
        # a different survey is free for the other daemon: the work spreads
        with second.hold("district", 4243) as other:
            assert other
    with second.hold("district", 4242) as after_release:
        assert after_release
    for engine in engines:
        engine.dispose()


@pytest.mark.db
def test_postgres_lock_is_held_in_the_database(pg: Engine, pg2: Engine) -> None:
    key = lock_key("district", 5151)
    query = sa.text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND ((classid::bigint << 32) | objid::bigint) = (:k)::bigint"
    )
    with PostgresLocker(pg).hold("district", 5151) as got, pg2.connect() as conn:
        assert got
        assert conn.execute(query, {"k": key}).scalar() == 1
    with pg2.connect() as conn:
        assert conn.execute(query, {"k": key}).scalar() == 0


@pytest.mark.db
def test_postgres_lock_goes_away_with_a_dead_session(pg: Engine, pg2: Engine) -> None:
    """A daemon killed mid-pass must not keep its survey locked forever."""
    locker = PostgresLocker(pg)
    holder = locker.hold("district", 6161)
    assert holder.__enter__()
    with pg2.connect() as conn:
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                "AND ((classid::bigint << 32) | objid::bigint) = (:k)::bigint"
            ),
            {"k": lock_key("district", 6161)},
        )
        conn.commit()
    holder.__exit__(None, None, None)  # release fails quietly: the session is gone
    with PostgresLocker(pg2).hold("district", 6161) as got:
        assert got


@pytest.mark.db
def test_postgres_threads_contend_for_one_survey(pg: Engine, pg2: Engine) -> None:
    """Many concurrent tries: at any moment at most one holder."""
    lockers = [PostgresLocker(pg), PostgresLocker(pg2)]
    holders = 0
    max_holders = 0
    wins = 0
    mutex = threading.Lock()

    def worker(locker: PostgresLocker) -> None:
        nonlocal holders, max_holders, wins
        for _ in range(20):
            with locker.hold("district", 7171) as got:
                if not got:
                    continue
                with mutex:
                    holders += 1
                    wins += 1
                    max_holders = max(max_holders, holders)
                threading.Event().wait(0.002)
                with mutex:
                    holders -= 1

    threads = [threading.Thread(target=worker, args=(lockers[i % 2],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max_holders == 1
    assert wins >= 1


def test_make_locker_picks_by_dialect(pg: Engine, tmp_path: Path) -> None:
    assert isinstance(make_locker(pg), PostgresLocker)
    sqlite = sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    assert isinstance(make_locker(sqlite), LocalLocker)
    sqlite.dispose()


def test_local_locker_is_exclusive_and_released_on_error() -> None:
    locker = LocalLocker()

    def failing_pass() -> None:
        with locker.hold("s", 1) as got:
            assert got
            with locker.hold("s", 1) as again:
                assert not again
            raise RuntimeError("pass failed")

    with pytest.raises(RuntimeError):
        failing_pass()
    with locker.hold("s", 1) as after:
        assert after


_HOLD_SCRIPT = """
import sys, time
import sqlalchemy as sa
from sync.locks import DaemonLock
lock = DaemonLock(sa.create_engine("sqlite:///" + sys.argv[1]))
lock.acquire()
print("held", flush=True)
time.sleep(30)
"""


def test_sqlite_allows_one_daemon(tmp_path: Path) -> None:
    db = tmp_path / "pingyi.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    with subprocess.Popen(
        [sys.executable, "-c", _HOLD_SCRIPT, str(db)], stdout=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "held"
            with pytest.raises(ConfigError, match=rf"pid {proc.pid}\b.*one daemon"):
                DaemonLock(engine).acquire()
        finally:
            proc.kill()
    # the kernel dropped the dead daemon's lock: no stale lock to clean up by hand
    with DaemonLock(engine) as lock:
        assert lock.path is not None
        assert lock.path.read_text(encoding="utf-8").strip() == str(os.getpid())
    engine.dispose()
