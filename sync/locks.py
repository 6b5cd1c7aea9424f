"""Who syncs which survey when several daemons share one records database.

There is no coordinator of our own: a survey is synced by whichever daemon holds its
lock for the length of the pass, and the others skip it until their next turn.

- PostgreSQL: ``pg_try_advisory_lock`` on a 64-bit key derived from (site, survey id),
  held on a connection of its own. Advisory locks belong to the session, so the lock goes
  away by itself if the daemon dies or its connection drops; nothing is left to clean up.
- MariaDB/MySQL: ``GET_LOCK(name, 0)``, also session-scoped.
- SQLite: one daemon per database file. ``DaemonLock`` takes an exclusive ``flock`` on a
  file beside the database at start-up; a second daemon refuses to start with a message
  that says so. Survey locks are then only needed inside the one process.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sync.errors import ConfigError, TransientError

log = logging.getLogger(__name__)

#: namespace so our keys do not collide with another application's advisory locks
_NAMESPACE = b"pingyi.survey\x00"


def lock_key(site: str, survey_id: int) -> int:
    """A stable signed 64-bit key for (site, survey): the same in every daemon, every run."""
    digest = hashlib.blake2b(
        _NAMESPACE + site.encode("utf-8") + b"\x00" + str(survey_id).encode("ascii"),
        digest_size=8,
    ).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_name(site: str, survey_id: int) -> str:
    """The ``GET_LOCK`` name (MySQL caps names at 64 characters, so hash long site names)."""
    return f"pingyi:{lock_key(site, survey_id) & 0xFFFFFFFFFFFFFFFF:016x}"


#: how long a refresh waits for another process's refresh of the same campaign (MariaDB)
RESULTS_LOCK_WAIT_S = 600


def results_lock_key(campaign: str) -> int:
    """The advisory key for one campaign's results (a namespace of its own)."""
    digest = hashlib.blake2b(
        b"pingyi.results\x00" + campaign.encode("utf-8"), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextlib.contextmanager
def results_lock(conn: Connection, campaign: str) -> Iterator[None]:
    """One refresh of a campaign's results at a time, across processes: two refreshes
    replacing the same units' sums at once would collide on their keys. Waits (does not
    skip, unlike the survey locks: the second refresh has changes of its own to count).
    Session-scoped, taken and released outside the caller's transaction on ``conn``, so
    it covers the whole transaction including its commit. SQLite needs none: its write
    lock already admits one writer at a time."""
    name = conn.dialect.name
    if name == "postgresql":
        key: int | str = results_lock_key(campaign)
        acquire, release = "SELECT pg_advisory_lock(:k)", "SELECT pg_advisory_unlock(:k)"
    elif name in {"mysql", "mariadb"}:
        key = f"pingyi:results:{results_lock_key(campaign) & 0xFFFFFFFFFFFFFFFF:016x}"
        acquire = f"SELECT GET_LOCK(:k, {RESULTS_LOCK_WAIT_S})"
        release = "SELECT RELEASE_LOCK(:k)"
    else:
        yield
        return
    got = conn.execute(sa.text(acquire), {"k": key}).scalar()
    conn.commit()
    if name != "postgresql" and got != 1:  # pg_advisory_lock waits as long as it takes
        raise TransientError(
            f"the results of campaign {campaign} have been refreshed by another process for "
            f"over {RESULTS_LOCK_WAIT_S} s; tried again at the next pass"
        )
    try:
        yield
    finally:
        try:
            conn.rollback()  # whatever the caller left open, before the lock goes
            conn.execute(sa.text(release), {"k": key})
            conn.commit()
        except Exception:  # the session is gone, and with it the lock
            log.warning("could not release the results lock; dropping the connection")
            conn.invalidate()


class SurveyLocker(Protocol):
    def hold(self, site: str, survey_id: int) -> contextlib.AbstractContextManager[bool]:
        """Try once, without waiting; yields whether this process holds the survey."""


class LocalLocker:
    """Survey locks inside one process (SQLite, where one daemon owns the database)."""

    def __init__(self) -> None:
        self._held: set[tuple[str, int]] = set()
        self._mutex = threading.Lock()

    @contextlib.contextmanager
    def hold(self, site: str, survey_id: int) -> Iterator[bool]:
        key = (site, survey_id)
        with self._mutex:
            if key in self._held:
                got = False
            else:
                self._held.add(key)
                got = True
        try:
            yield got
        finally:
            if got:
                with self._mutex:
                    self._held.discard(key)


class _SessionLocker:
    """A session-scoped database lock held on a connection of its own for the pass."""

    acquire_sql: str = ""
    release_sql: str = ""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._local = LocalLocker()

    def _param(self, site: str, survey_id: int) -> int | str:
        raise NotImplementedError

    @contextlib.contextmanager
    def hold(self, site: str, survey_id: int) -> Iterator[bool]:
        # Two threads of one daemon must not both think they hold it: a session lock is
        # re-entrant for its own session, but each hold uses its own connection anyway.
        with self._local.hold(site, survey_id) as local:
            if not local:
                yield False
                return
            param = self._param(site, survey_id)
            conn = self.engine.connect()
            try:
                got = bool(conn.execute(sa.text(self.acquire_sql), {"k": param}).scalar())
                conn.commit()
            except Exception:
                conn.close()
                raise
            try:
                yield got
            finally:
                self._release(conn, got, param)

    def _release(self, conn: Connection, got: bool, param: int | str) -> None:
        try:
            if got:
                conn.execute(sa.text(self.release_sql), {"k": param})
                conn.commit()
        except Exception:  # the session is gone, and with it the lock
            log.warning("could not release survey lock; dropping the connection", exc_info=True)
            conn.invalidate()
        finally:
            conn.close()


class PostgresLocker(_SessionLocker):
    acquire_sql = "SELECT pg_try_advisory_lock(:k)"
    release_sql = "SELECT pg_advisory_unlock(:k)"

    def _param(self, site: str, survey_id: int) -> int:
        return lock_key(site, survey_id)


class MySQLLocker(_SessionLocker):
    acquire_sql = "SELECT GET_LOCK(:k, 0)"
    release_sql = "SELECT RELEASE_LOCK(:k)"

    def _param(self, site: str, survey_id: int) -> str:
        return lock_name(site, survey_id)


def make_locker(engine: Engine) -> SurveyLocker:
    """The right survey lock for the database behind ``engine``."""
    name = engine.dialect.name
    if name == "postgresql":
        return PostgresLocker(engine)
    if name in {"mysql", "mariadb"}:
        return MySQLLocker(engine)
    return LocalLocker()


class DaemonLock:
    """At most one daemon per SQLite file: an exclusive ``flock`` beside the database.

    The kernel drops a ``flock`` when the process exits however it exits, so a crashed
    daemon never leaves a stale lock behind. A no-op for server databases."""

    def __init__(self, engine: Engine) -> None:
        self.path: Path | None = None
        if engine.dialect.name == "sqlite":
            database = engine.url.database
            if database and database != ":memory:":
                self.path = Path(database).with_name(Path(database).name + ".daemon.lock")
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        if self.path is None:
            return
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise ConfigError(
                f"another pingyi daemon (pid {holder}) already runs against this SQLite "
                f"database (lock {self.path}); SQLite supports one daemon - stop the other "
                "or use PostgreSQL to run several"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self) -> DaemonLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
