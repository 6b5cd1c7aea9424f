"""The records database: the declarative base, the engine, and Alembic run from code.

Pingyi may live inside a district's existing records database, so every table is named
``pingyi_<name>`` (the Alembic version table too), and an optional schema (a PostgreSQL
schema, a MariaDB/MySQL database) keeps it apart; the models never name a schema, the
engine maps ``None`` to it through ``schema_translate_map``.

The same models run on SQLite (embedded default), PostgreSQL (production) and
MariaDB/MySQL, so the column types here are the portable ones:

- datetimes are aware UTC in Python and stored as naive UTC with microseconds on every
  backend (one representation to compare and GROUP BY; no server time zone involved);
- ``str`` is ``VARCHAR(255)``; long text is ``Text`` (``MEDIUMTEXT`` on MySQL);
- MariaDB/MySQL tables are ``utf8mb4`` with the binary collation: 4-byte characters
  (𠮷, emoji) survive and codes compare exactly as in Python, SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, mapped_column

from sync.config import Config
from sync.errors import ConfigError, TransientError

#: every Pingyi table starts with this, so a shared database can tell ours apart
TABLE_PREFIX = "pingyi_"
VERSION_TABLE = f"{TABLE_PREFIX}alembic_version"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"

#: constraint names short enough for PostgreSQL (63) and MySQL (64); checked by a test
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}

#: table options for MariaDB/MySQL; the other dialects ignore ``mysql_*`` keys
MYSQL_TABLE_OPTIONS: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
    "mysql_engine": "InnoDB",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """An aware datetime in Python, naive UTC in the database.

    A naive value is refused: it would be ambiguous (site-local or UTC?), and that
    mistake is what the time-zone handling in ``map`` exists to prevent."""

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            # DATETIME without fsp drops microseconds, and then equal values differ.
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime(timezone=False))

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given: pass an aware datetime")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite through a raw text() query
            value = dt.datetime.fromisoformat(value)
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC)


#: text without a length; MySQL's TEXT stops at 64 KiB (about 21 000 Chinese characters)
LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
#: an auto-increment key that is a real rowid on SQLite (only INTEGER PRIMARY KEY is)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

#: annotations for columns whose type is not the plain default of their Python type
LongText = Annotated[str, mapped_column(LONG_TEXT)]
Code = Annotated[str, mapped_column(sa.String(64))]
IdKey = Annotated[int, mapped_column(BIG_ID, primary_key=True, autoincrement=True)]


class Base(DeclarativeBase):
    """Base of every Pingyi model (``sync.models``)."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy reads it as a class attribute)
        dt.datetime: UTCDateTime(),
        dt.date: sa.Date(),
        str: sa.String(255),
        int: sa.Integer(),
        float: sa.Double(),
        bool: sa.Boolean(),
        dict[str, Any]: sa.JSON(),
        list[Any]: sa.JSON(),
    }


def table_args(*items: Any) -> tuple[Any, ...]:
    """``__table_args__`` for a model: its indexes/constraints plus the MySQL options."""
    return (*items, dict(MYSQL_TABLE_OPTIONS))


# -- engine -----------------------------------------------------------------------------


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL: readers (status, reports) do not block the daemon's writes.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # A sync's inserts touch the right edge of each key's b-tree and one leaf per
        # unit of the (campaign, unit) index: 8 MiB of page cache holds them (100,000
        # responses: as fast as with 32 MiB, 26 MB less peak memory; SQLite's default
        # 2 MiB was ~3% slower, and 12% slower when observations had three b-trees).
        # Fewer, larger checkpoints (32 MiB of WAL) took 8% off a 20k sync.
        cursor.execute("PRAGMA cache_size=-8192")
        cursor.execute("PRAGMA wal_autocheckpoint=8000")
    finally:
        cursor.close()


def make_engine(url: str | sa.URL, schema: str | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url`` with Pingyi's settings; ``schema`` holds the tables if given."""
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    options: dict[str, Any] = {}
    if backend == "sqlite":
        if schema:
            raise ConfigError(
                "database.schema is not supported on SQLite: remove it or use PostgreSQL/MariaDB"
            )
    elif backend in ("mysql", "mariadb"):
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
        options["pool_pre_ping"] = True
        options["pool_recycle"] = 3600  # MySQL drops idle connections after wait_timeout
    else:
        options["pool_pre_ping"] = True
    options.update(kwargs)
    engine = sa.create_engine(parsed, **options)
    if backend == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    if schema:
        engine = engine.execution_options(schema_translate_map={None: schema})
    return engine


def engine_for(config: Config) -> Engine:
    """The engine the configuration names (``[database] url`` and ``schema``)."""
    return make_engine(config.database.url, config.database.schema_)


def describe(config: Config) -> str:
    """The configured database for messages: URL without password, plus the schema."""
    url = sa.make_url(config.database.url).render_as_string(hide_password=True)
    schema = config.database.schema_
    return f"{url} schema {schema}" if schema else url


@contextlib.contextmanager
def reporting(config: Config) -> Iterator[None]:
    """Turn "cannot reach the database" into one clear ``TransientError``."""
    try:
        yield
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        raise TransientError(
            f"database {describe(config)} unreachable or refused: {' '.join(str(exc.orig).split())}"
        ) from None


@contextlib.contextmanager
def opened(config: Config) -> Iterator[Engine]:
    """The configured engine for one command: errors reported, the pool closed after."""
    engine = engine_for(config)
    try:
        with reporting(config):
            yield engine
    finally:
        engine.dispose()


def engine_schema(engine: Engine | Connection) -> str | None:
    """The schema ``make_engine`` was given (from the engine's translate map)."""
    options = engine.get_execution_options()
    schema: str | None = (options.get("schema_translate_map") or {}).get(None)
    return schema


def qualified_table(engine: Engine | Connection, table: str) -> str:
    """``table`` as raw SQL must name it: with ``engine_schema`` in front, since the
    translate map does not reach raw SQL (migrations' own statements)."""
    preparer = engine.dialect.identifier_preparer
    schema = engine_schema(engine)
    name = preparer.quote(table)
    return name if schema is None else f"{preparer.quote_schema(schema)}.{name}"


# -- migrations -------------------------------------------------------------------------


def alembic_config(connection: Connection | None = None) -> AlembicConfig:
    """Alembic's config built in code: no alembic.ini, works from an installed package."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def migration_options(schema: str | None) -> dict[str, Any]:
    """The options env.py and ``is_current`` give Alembic's migration context."""
    return {
        "version_table": VERSION_TABLE,
        "version_table_schema": schema,
    }


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic's filter: Pingyi may share a records database, so autogenerate and
    ``check`` look at (and would drop) only tables named ``pingyi_*``."""
    if type_ == "table":
        return name is not None and name.startswith(TABLE_PREFIX)
    return True


def _ensure_schema(connection: Connection, schema: str) -> None:
    preparer = connection.dialect.identifier_preparer
    quoted = preparer.quote_identifier(schema)
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))
    elif connection.dialect.name in ("mysql", "mariadb"):
        connection.execute(
            sa.text(
                f"CREATE DATABASE IF NOT EXISTS {quoted} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            )
        )


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (creating the configured schema if missing)."""
    schema = engine_schema(engine)
    with engine.begin() as connection:
        if schema:
            _ensure_schema(connection, schema)
        command.upgrade(alembic_config(connection), revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Migrate down to ``revision`` ("base" removes every Pingyi table)."""
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), revision)


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def current_revisions(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts=migration_options(engine_schema(engine))
        )
        return set(context.get_current_heads())


def is_current(engine: Engine) -> bool:
    """True when the database is migrated to the head revision of this package."""
    return current_revisions(engine) == head_revisions()
