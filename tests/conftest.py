"""Shared fixtures. Database fixtures give every test a fresh, empty database on each
backend (SQLite file, the PostgreSQL and the MariaDB on this machine).

``db_url`` runs a test once per backend; ``PINGYI_TEST_BACKENDS=sqlite`` (a comma list)
limits the backends. A listed backend whose server cannot be reached FAILS the test with
what to do; it is never skipped silently. Servers come from ``PINGYI_TEST_POSTGRES_URL``
and ``PINGYI_TEST_MARIADB_URL`` (defaults: the local test servers).
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

BACKENDS = ("sqlite", "postgresql", "mariadb")
SERVER_URLS = {
    "postgresql": (
        "PINGYI_TEST_POSTGRES_URL",
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    ),
    "mariadb": (
        "PINGYI_TEST_MARIADB_URL",
        "mysql+pymysql://root@127.0.0.1:3306/test?charset=utf8mb4",
    ),
}
_RUN = uuid.uuid4().hex[:8]
_counter = itertools.count(1)


def selected_backends() -> list[str]:
    raw = os.environ.get("PINGYI_TEST_BACKENDS", "")
    chosen = [name.strip() for name in raw.split(",") if name.strip()] or list(BACKENDS)
    unknown = sorted(set(chosen) - set(BACKENDS))
    if unknown:
        raise pytest.UsageError(
            f"PINGYI_TEST_BACKENDS names unknown backends {unknown}; use {', '.join(BACKENDS)}"
        )
    return chosen


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "db_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


def require_server(backend: str) -> None:
    """For tests that talk to a database server directly: skipped only when
    PINGYI_TEST_BACKENDS leaves the backend out; an unreachable server fails the test."""
    if backend not in selected_backends():
        pytest.skip(f"{backend} left out by PINGYI_TEST_BACKENDS")
    _admin_engine(backend).dispose()


def _server(backend: str) -> sa.URL:
    env, default = SERVER_URLS[backend]
    return sa.make_url(os.environ.get(env) or default)


def _admin_engine(backend: str) -> Engine:
    url = _server(backend)
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as exc:
        env = SERVER_URLS[backend][0]
        pytest.fail(
            f"{backend} test server unreachable at {url.render_as_string(hide_password=True)}: "
            f"{exc.orig}. Start it, point {env} at one, or run with "
            f"PINGYI_TEST_BACKENDS=sqlite to leave it out.",
            pytrace=False,
        )
    return engine


class Databases:
    """Creates empty databases on the test servers and drops them again."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.created: list[tuple[Engine, str]] = []

    def create(self, backend: str) -> sa.URL:
        if backend == "sqlite":
            return sa.make_url(f"sqlite:///{self.folder / f'pingyi-{next(_counter)}.db'}")
        admin = _admin_engine(backend)
        name = f"pingyi_test_{_RUN}_{os.getpid()}_{next(_counter)}"
        with admin.connect() as conn:
            if backend == "postgresql":
                conn.execute(sa.text(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8'"))
            else:
                conn.execute(
                    sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
                )
        self.created.append((admin, name))
        return _server(backend).set(database=name)

    def drop_all(self) -> None:
        while self.created:
            admin, name = self.created.pop()
            with admin.connect() as conn:
                if admin.dialect.name == "postgresql":
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                else:
                    conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
            admin.dispose()


@pytest.fixture
def fresh_database(tmp_path: Path) -> Iterator[Callable[[str], sa.URL]]:
    """A factory: ``fresh_database(backend)`` -> the URL of a new empty database, dropped
    when the test ends."""
    databases = Databases(tmp_path)
    yield databases.create
    databases.drop_all()


@pytest.fixture(params=selected_backends())
def db_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend


@pytest.fixture
def db_url(db_backend: str, fresh_database: Callable[[str], sa.URL]) -> str:
    """A fresh EMPTY database on each backend, as a URL string (password included)."""
    url = fresh_database(db_backend)
    return url.render_as_string(hide_password=False)


class Migrated:
    """One database per backend migrated to head, shared by a test session."""

    def __init__(self, folder: Path) -> None:
        self.databases = Databases(folder)
        self.engines: dict[str, Engine] = {}

    def engine(self, backend: str) -> Engine:
        from sync import db

        if backend not in self.engines:
            made = db.make_engine(self.databases.create(backend))
            db.upgrade(made)
            self.engines[backend] = made
        return self.engines[backend]

    def close(self) -> None:
        for made in self.engines.values():
            made.dispose()
        self.databases.drop_all()


@pytest.fixture(scope="session")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Migrated]:
    # Migrating takes seconds on MariaDB: once per backend and session, not per test.
    shared = Migrated(tmp_path_factory.mktemp("migrated"))
    yield shared
    shared.close()


@pytest.fixture
def engine(db_backend: str, migrated: Migrated) -> Iterator[Engine]:
    """A database at head with empty Pingyi tables, on each backend (``sync.db``'s
    engine, as the daemon makes it).

    Shared by the session's tests and emptied after each one, so do not change its
    schema: test migrations on ``db_url``."""
    from sync.models import Base

    made = migrated.engine(db_backend)
    yield made
    with made.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
