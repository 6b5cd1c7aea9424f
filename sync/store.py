"""Writing a sync window: responses, observations, comments, quarantine, pending ids and
the cursor, in ONE transaction.

This is the hot path of a sync, so it speaks in bulk statements (multi-row upserts,
executemany inserts, ``IN``/``BETWEEN`` updates), never one ORM object per row. It is
idempotent: a response whose ``content_hash`` is unchanged is not written at all, so a
replayed window (after a crash, a retry, a second daemon) changes nothing; a changed one
is updated and its observations and comments replaced.

Database failures that pass (a server that went away, SQLite busy) are turned into
``TransientError`` by :func:`call`, which retries the whole transaction with the one
retry policy: the window is written once, or not at all.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import os
import socket
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine

from sync import tallies
from sync.db import engine_schema as database_schema
from sync.db import qualified_table
from sync.errors import ConfigError, PingyiError, TransientError
from sync.map import Mapped, ObservationRecord, Rejected
from sync.models import (
    Comment,
    Observation,
    Quarantine,
    Response,
    RunStatus,
    SyncCursor,
    SyncPending,
    SyncRun,
)
from sync.retry import RetryPolicy
from sync.upsert import upsert

if TYPE_CHECKING:
    from sync.pull import PassReport

log = logging.getLogger(__name__)
T = TypeVar("T")

#: ids per IN (...) list: well under every backend's parameter limit
CHUNK = 500

#: a database outage is waited out longer than a LimeSurvey hiccup: losing the pass
#: would only mean doing it again, but a daemon that gives up in seconds is noisy
DB_POLICY = RetryPolicy(attempts=12, max_seconds=600.0, initial=0.5, maximum=60.0)

_RESPONSE_KEY = ("site", "survey_id", "response_id")
_RESPONSE_UPDATE = (
    "campaign_code",
    "group_code",
    "unit_code",
    "submitted_at",
    "time_unknown",
    "started_at",
    "language",
    "content_hash",
    "token_hash",
    "deleted_at",
)


@dataclass(frozen=True)
class SurveyKey:
    site: str
    survey_id: int


@dataclass
class State:
    high_water: int = 0
    #: pending response id -> first seen
    pending: dict[int, datetime] = field(default_factory=dict)
    #: when a pass last listed the completed ids below the high water
    probed_at: datetime | None = None
    #: the configured timezone the cursor's clock reading was made under, if any
    clock_zone: str | None = None


@dataclass
class Window:
    """What one window (or one batch of pending re-reads) brings to the records."""

    key: SurveyKey
    mapped: Sequence[Mapped] = ()
    rejected: Sequence[tuple[int, Rejected]] = ()
    incomplete: Sequence[int] = ()
    #: every id the export returned
    seen: Sequence[int] = ()
    #: the whole id range was re-read: ids in it that were not seen have vanished
    vanish_range: tuple[int, int] | None = None
    #: these ids were asked for and not returned: they vanished
    vanish_ids: Sequence[int] = ()
    #: pending ids to forget (expired, vanished)
    drop_pending: Sequence[int] = ()
    #: the cursor to promote with this window (None: leave it)
    high_water: int | None = None
    now: datetime | None = None


@dataclass
class WindowResult:
    """What writing a window did (or, dry, would do); ``pull.PassReport`` adds these up."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    #: responses that vanished from LimeSurvey, now marked deleted
    deleted: int = 0
    quarantined: int = 0
    #: quarantine entries whose response now maps or vanished
    resolved: int = 0
    #: the (campaign, unit) pairs whose results the window changed
    touched: set[tuple[str, str]] = field(default_factory=set)

    def add(self, other: WindowResult) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.deleted += other.deleted
        self.quarantined += other.quarantined
        self.resolved += other.resolved
        self.touched |= other.touched


# -- retrying database work ---------------------------------------------------------


def _is_transient(exc: sa_exc.DBAPIError) -> bool:
    # connection refused/reset/gone away, server shutting down, SQLite busy/locked (an
    # OperationalError for a missing table is not one, but a migrated database never
    # raises it, and repeating it would be harmless)
    return exc.connection_invalidated or isinstance(
        exc, sa_exc.OperationalError | sa_exc.InterfaceError
    )


def call(fn: Callable[[], T], policy: RetryPolicy | None = None) -> T:
    """Run database work, retrying it while the database is away."""

    def attempt() -> T:
        try:
            return fn()
        except sa_exc.IntegrityError as exc:
            # every code the records refer to is in the catalogue tables, unless the
            # catalogue changed and was not loaded into the database
            raise ConfigError(
                "the records database refused a response that refers to a code it does not "
                f"know ({str(exc.orig)[:200]}): run `pingyi catalogue load` after changing "
                "mappings/"
            ) from None
        except sa_exc.DBAPIError as exc:
            if _is_transient(exc):
                raise TransientError(
                    f"database unavailable ({type(exc.orig).__name__}), will retry"
                ) from None
            raise

    return (policy or DB_POLICY).call("database", attempt)


# -- reading state --------------------------------------------------------------------


def _chunks(ids: Iterable[int], size: int = CHUNK) -> Iterator[list[int]]:
    items = sorted(set(ids))
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _survey(model: Any, key: SurveyKey) -> sa.ColumnElement[bool]:
    return sa.and_(model.site == key.site, model.survey_id == key.survey_id)


def load_state(engine: Engine, key: SurveyKey) -> State:
    with engine.connect() as conn:
        cursor = conn.execute(
            sa.select(SyncCursor.high_water, SyncCursor.probed_at, SyncCursor.clock_zone).where(
                _survey(SyncCursor, key)
            )
        ).one_or_none()
        pending = conn.execute(
            sa.select(SyncPending.response_id, SyncPending.first_seen_at).where(
                _survey(SyncPending, key)
            )
        ).all()
    hw, probed_at, clock_zone = cursor if cursor is not None else (0, None, None)
    return State(hw or 0, {int(rid): seen for rid, seen in pending}, probed_at, clock_zone)


# What the records account for of a survey's completed responses: its live (not deleted)
# responses and its open quarantine entries. ``known_completed`` counts them (every pass),
# ``unaccounted`` finds ids outside them (on a shortfall).


def _live(key: SurveyKey) -> sa.ColumnElement[bool]:
    return sa.and_(_survey(Response, key), Response.deleted_at.is_(None))


def _held(key: SurveyKey) -> sa.ColumnElement[bool]:
    return sa.and_(_survey(Quarantine, key), Quarantine.resolved_at.is_(None))


def known_completed(engine: Engine, key: SurveyKey) -> int:
    """Completed responses the records account for: stored (not deleted) plus those in
    quarantine that are not also stored. Compared with LimeSurvey's own count."""
    live = sa.select(sa.func.count()).where(_live(key))
    stored = sa.select(Response.id).where(
        _live(key), Response.response_id == Quarantine.response_id
    )
    held = sa.select(sa.func.count()).where(_held(key), ~stored.exists())
    with engine.connect() as conn:
        return int(conn.execute(live).scalar_one()) + int(conn.execute(held).scalar_one())


def unaccounted(engine: Engine, key: SurveyKey, completed: Sequence[int]) -> list[int]:
    """Of ``completed`` (ids LimeSurvey holds as completed), those the records neither
    store (live) nor hold in open quarantine: what ``known_completed`` misses."""
    if not completed:
        return []
    lo, hi = min(completed), max(completed)
    live = sa.select(Response.response_id).where(_live(key), Response.response_id.between(lo, hi))
    held = sa.select(Quarantine.response_id).where(
        _held(key), Quarantine.response_id.between(lo, hi)
    )
    with engine.connect() as conn:
        known = set(conn.execute(live).scalars()) | set(conn.execute(held).scalars())
    return [rid for rid in completed if rid not in known]


# -- the window -------------------------------------------------------------------------


#: ids closer than this are looked up with one BETWEEN (rows not asked for are dropped)
_LOOKUP_GAP = 100
#: more ranges than this and the ids are looked up with IN lists instead
_LOOKUP_RANGES = 8


def _id_spans(ids: Iterable[int]) -> list[tuple[int, int]] | None:
    """``ids`` as a few BETWEEN ranges, or None when they are too scattered for that.

    A window's ids are one contiguous range, looked up on the unique index (site,
    survey_id, response_id) as a range scan. An ``IN`` list of hundreds of ids is not
    only slower to bind: PostgreSQL without statistics on a fresh table (autovacuum has
    not analysed it yet) filters it row by row over every stored response of the
    survey, which made a first sync quadratic."""
    spans: list[tuple[int, int]] = []
    for rid in sorted(set(ids)):
        if spans and rid - spans[-1][1] <= _LOOKUP_GAP:
            spans[-1] = (spans[-1][0], rid)
        else:
            spans.append((rid, rid))
            if len(spans) > _LOOKUP_RANGES:
                return None
    return spans


def _by_id(
    conn: Connection,
    model: Any,
    key: SurveyKey,
    ids: Sequence[int],
    *columns: Any,
    where: sa.ColumnElement[bool] | None = None,
) -> Iterator[Any]:
    """Rows of ``model`` in ``key``'s survey whose response_id is one of ``ids`` (and that
    meet ``where``); ``columns`` must include ``model.response_id``."""
    scope = _survey(model, key) if where is None else sa.and_(_survey(model, key), where)
    spans = _id_spans(ids)
    if spans is None:
        for chunk in _chunks(ids):
            yield from conn.execute(sa.select(*columns).where(scope, model.response_id.in_(chunk)))
        return
    wanted = set(ids)
    for lo, hi in spans:
        query = sa.select(*columns).where(scope, model.response_id.between(lo, hi))
        yield from (row for row in conn.execute(query) if row.response_id in wanted)


def _existing(conn: Connection, window: Window, ids: Sequence[int]) -> dict[int, Any]:
    cols = (
        Response.id,
        Response.response_id,
        Response.content_hash,
        Response.deleted_at,
        Response.campaign_code,
        Response.unit_code,
    )
    out: dict[int, Any] = {}
    if window.vanish_range is not None:
        lo, hi = window.vanish_range
        query = sa.select(*cols).where(
            _survey(Response, window.key), Response.response_id.between(lo, hi)
        )
        out.update((int(row.response_id), row) for row in conn.execute(query))
        ids = [i for i in ids if not lo <= i <= hi]
    out.update(
        (int(row.response_id), row) for row in _by_id(conn, Response, window.key, ids, *cols)
    )
    return out


#: a new response's columns, in ``_response_tuples`` order (the key, then what an
#: update may change, less ``deleted_at``: a new row is not deleted)
RESPONSE_COLUMNS = (*_RESPONSE_KEY, *(c for c in _RESPONSE_UPDATE if c != "deleted_at"))


def _response_tuples(conn: Connection, mapped: Sequence[Mapped]) -> list[tuple[Any, ...]]:
    """New responses as ``RESPONSE_COLUMNS`` tuples of driver values: the two datetimes
    as the column type converts them for this dialect (aware -> naive UTC; on SQLite the
    text SQLAlchemy stores, ``YYYY-MM-DD HH:MM:SS.ffffff``), everything else is as the
    driver takes it.

    On SQLite a UTC datetime (what ``limesurvey`` makes of every date) is formatted
    directly, three Python calls fewer per value (0.2 s per 20,000 responses). The
    processor is the dialect's (``dialect_impl``): the type's own one stopped at the
    naive datetime, and pysqlite's adapter then stored it without the microseconds,
    unlike every other write of the column (a string comparison in SQL told them apart)."""
    column_type = Response.__table__.c.submitted_at.type
    to_db = column_type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    sqlite = conn.dialect.name == "sqlite"

    def when(value: datetime | None) -> Any:
        if value is None or to_db is None:
            return value
        if sqlite and value.tzinfo is UTC:
            return value.replace(tzinfo=None).isoformat(" ", "microseconds")
        return to_db(value)

    return [
        (
            r.site,
            r.survey_id,
            r.response_id,
            r.campaign,
            r.group,
            r.unit,
            when(r.submitted_at),
            int(r.time_unknown),  # not a bool: see _rating
            when(r.started_at),
            r.language,
            m.content_hash,
            r.token_hash,
        )
        for m in mapped
        for r in (m.response,)
    ]


def _response_row(m: Mapped) -> dict[str, Any]:
    r = m.response
    return {
        "site": r.site,
        "survey_id": r.survey_id,
        "response_id": r.response_id,
        "campaign_code": r.campaign,
        "group_code": r.group,
        "unit_code": r.unit,
        "submitted_at": r.submitted_at,
        "time_unknown": r.time_unknown,
        "started_at": r.started_at,
        "language": r.language,
        "content_hash": m.content_hash,
        "token_hash": r.token_hash,
        "deleted_at": None,
    }


#: the order the bulk paths take an observation's values in: the response's key, then
#: the rating's (``_observation_rows``); the generic executemany path (MySQL) reorders
#: them into the statement's order
OBSERVATION_COLUMNS = (
    "response_pk",
    "item",
    "dimension_code",
    "raw_code",
    "level_code",
    "points",
    "counted",
    "satisfied",
    "dissatisfied",
)
COMMENT_COLUMNS = ("response_pk", "item", "dimension_code", "text")


def _rating(o: ObservationRecord) -> tuple[Any, ...]:
    """The rating's part of an observation row, its three flags as 1/0.

    pysqlite binds a ``bool`` (a subclass of ``int``) through its adaptation protocol,
    a failed adapter and ``__conform__`` lookup per value: three flags per observation
    cost as much as the rest of its insert (raw ``sqlite3``, 200,000 observations: 0.33 s
    with ``True``/``False``, 0.17 s with 1/0). Every backend takes 1/0 for a boolean
    (PostgreSQL's COPY text too)."""
    return (
        o.item,
        o.dimension,
        o.raw_code,
        o.level,
        o.points,
        int(o.counted),
        int(o.satisfied),
        int(o.dissatisfied),
    )


def _observation_rows(changed: Sequence[Mapped], pks: dict[int, int]) -> list[tuple[Any, ...]]:
    """Every observation of ``changed`` as an ``OBSERVATION_COLUMNS`` tuple (the hot path).

    ``map`` hands out one ``ObservationRecord`` per item and answer, shared by every
    response that gave that answer, so its part of the row is made once per window
    (keyed by identity: the records are alive as long as ``changed``)."""
    ratings: dict[int, tuple[Any, ...]] = {}
    rows: list[tuple[Any, ...]] = []
    append = rows.append
    for m in changed:
        head = (pks[m.response.response_id],)
        for o in m.observations:
            rating = ratings.get(id(o))
            if rating is None:
                rating = ratings[id(o)] = _rating(o)
            append(head + rating)
    return rows


def _comment_rows(changed: Sequence[Mapped], pks: dict[int, int]) -> list[tuple[Any, ...]]:
    return [
        (pks[m.response.response_id], c.item, c.dimension, c.text)
        for m in changed
        for c in m.comments
    ]


def _stamped(model: Any) -> bool:
    """Does ``model`` have ``created_at``/``updated_at``? (Observation and Comment carry
    their response's dates.)"""
    return "created_at" in model.__table__.c


def _with_stamps(
    model: Any, columns: Sequence[str], rows: list[tuple[Any, ...]], stamp: Any
) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """``columns`` and ``rows`` with ``created_at``/``updated_at`` (the window's one
    ``stamp``, in the form the path binds it) where ``model`` has them."""
    if not _stamped(model):
        return tuple(columns), rows
    return (*columns, "created_at", "updated_at"), [(*row, stamp, stamp) for row in rows]


def _stamp_text(now: datetime) -> str:
    """The window's timestamp as naive-UTC text, the form every backend reads as a
    timestamp and SQLite stores as is."""
    return now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _bulk_insert(model: Any, now: datetime) -> sa.Insert:
    """An executemany INSERT whose ``created_at``/``updated_at`` are one SQL literal.

    Stamping every row in Python costs a default call and a datetime conversion per
    column per row, more than the insert itself on SQLite; one literal in the statement
    costs nothing per row. The text is the naive-UTC form every backend reads as a
    timestamp (SQLite stores exactly this form)."""
    if not _stamped(model):
        return sa.insert(model)
    literal: sa.ColumnElement[Any] = sa.literal_column(f"'{_stamp_text(now)}'")
    return sa.insert(model).values(created_at=literal, updated_at=literal)


def _copies(conn: Connection) -> bool:
    """PostgreSQL through psycopg 3: new rows go in by ``COPY``."""
    return conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg"


@contextlib.contextmanager
def _copy(conn: Connection, model: Any, columns: Sequence[str]) -> Iterator[Any]:
    """A ``COPY <model> (columns) FROM STDIN`` (psycopg 3) in the window's transaction;
    a driver error is raised as SQLAlchemy raises its own statements' errors, so
    ``call`` tells a refused code (IntegrityError) from a server that went away
    (invalidated, retried)."""
    table = qualified_table(conn, model.__tablename__)
    names = ", ".join(conn.dialect.identifier_preparer.quote(c) for c in columns)
    statement = f"COPY {table} ({names}) FROM STDIN"
    driver: Any = conn.connection.driver_connection  # psycopg.Connection, in our transaction
    dbapi_error: type[Exception] = conn.dialect.loaded_dbapi.Error
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            yield copy
    except dbapi_error as exc:
        orig: Any = exc
        gone = conn.dialect.is_disconnect(orig, conn.connection.dbapi_connection, None)
        if gone:
            conn.invalidate()
        raise sa_exc.DBAPIError.instance(
            statement, None, exc, dbapi_error, connection_invalidated=gone, dialect=conn.dialect
        ) from None


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: Any) -> str:
    """One value in ``COPY``'s text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    raise TypeError(f"no COPY text for {type(value).__name__}")


#: observation lines per ``Copy.write``
_COPY_LINES = 5000


def _copy_observations(conn: Connection, changed: Sequence[Mapped], pks: dict[int, int]) -> None:
    """PostgreSQL: the observations of ``changed`` as ``COPY`` text made by us.

    Handing psycopg a tuple per row cost more than the server's own work for it (its
    per-value dumping, about 7 us a row); here a row is the response's key joined to
    the rating's part, formatted once per window (the ratings are shared
    ``ObservationRecord``s, keyed by identity)."""
    ratings: dict[int, str] = {}
    lines: list[str] = []
    with _copy(conn, Observation, OBSERVATION_COLUMNS) as copy:
        for m in changed:
            head = f"{pks[m.response.response_id]}\t"
            for o in m.observations:
                rating = ratings.get(id(o))
                if rating is None:
                    rating = ratings[id(o)] = "\t".join(map(_copy_text, _rating(o))) + "\n"
                lines.append(head + rating)
            if len(lines) >= _COPY_LINES:
                copy.write("".join(lines))
                lines.clear()
        if lines:
            copy.write("".join(lines))


def _copy_rows(
    conn: Connection, model: Any, now: datetime, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """PostgreSQL: the rows through ``COPY .. FROM STDIN`` (psycopg 3), in the window's
    transaction. COPY has no per-statement parsing or per-row round trip, which is what
    made an executemany of a million observations the slowest part of a PostgreSQL sync.
    ``created_at``/``updated_at``, where the table has them, take the window's one
    timestamp."""
    stamp = now.astimezone(UTC).replace(tzinfo=None)
    columns, rows = _with_stamps(model, columns, rows, stamp)
    with _copy(conn, model, columns) as copy:
        for row in rows:
            copy.write_row(row)


def _insert_many(
    conn: Connection,
    model: Any,
    now: datetime,
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
) -> None:
    """``_bulk_insert`` straight to the driver, for rows of driver values only (ints,
    strings, floats, booleans, None, and datetimes as the column type converts them).

    SQLAlchemy's executemany converts each value of each row through its type, which
    for observations (a handful per response) costs more than the database's own work.
    PostgreSQL takes the rows by COPY. With a schema translated at run time the ordinary
    path is taken elsewhere (the SQL text compiled here would not name the schema)."""
    if not rows:
        return
    if _copies(conn):
        _copy_rows(conn, model, now, columns, rows)
        return
    if database_schema(conn) is not None:
        conn.execute(_bulk_insert(model, now), [dict(zip(columns, r, strict=True)) for r in rows])
        return
    if conn.dialect.name == "sqlite":
        _sqlite_rows(conn, model, now, columns, rows)
        return
    compiled = _bulk_insert(model, now).compile(dialect=conn.dialect, column_keys=list(columns))
    order = compiled.positiontup
    if order is None:  # named paramstyles (PyMySQL)
        conn.exec_driver_sql(compiled.string, [dict(zip(columns, r, strict=True)) for r in rows])
    elif list(order) == list(columns):
        conn.exec_driver_sql(compiled.string, rows)
    else:
        index = [columns.index(name) for name in order]
        conn.exec_driver_sql(compiled.string, [tuple(r[i] for i in index) for r in rows])


#: rows per multi-row INSERT on SQLite (fewer if the variable limit is lower)
SQLITE_ROWS_PER_INSERT = 500


@functools.lru_cache(maxsize=64)
def _sqlite_insert(table: str, columns: tuple[str, ...], rows: int) -> str:
    """``INSERT INTO table (columns) VALUES`` ``rows`` groups of plain ``?`` parameters.

    Not numbered ones (``?NNN``): SQLite finds a numbered parameter by a scan of the
    statement's parameters, so preparing and binding grew with the square of the rows
    (raw ``sqlite3``, 200,000 observations in statements of 500 / 2,000 / 3,000 rows:
    0.21 / 0.67 / 1.49 s numbered, 0.18 / 0.18 / 0.19 s plain)."""
    group = f"({', '.join('?' * len(columns))})"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([group] * rows)}"


def _sqlite_rows(
    conn: Connection, model: Any, now: datetime, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """SQLite: the rows as multi-row ``INSERT .. VALUES (..), (..)`` statements of
    ``SQLITE_ROWS_PER_INSERT`` rows, instead of an executemany of one row each.

    pysqlite lets go of the GIL for every ``sqlite3_step`` and must take it back before
    the next row: with the prefetch thread decoding next to it, each row waited for the
    GIL, and a 40,000-response insert took 2-4x as long as alone. One step per few
    hundred rows waits that many times less, and the rows go into their b-trees while
    the other thread runs. The rows left over go in statements of 256, 128, ... 1 rows:
    so there are a few dozen different statements in all, which pysqlite's statement
    cache keeps. The timestamp of a table that has one is a value of every row, not a
    literal (with a new literal per window the cache kept 128 big statements: 30 MB)."""
    preparer = conn.dialect.identifier_preparer
    table = preparer.quote(model.__tablename__)
    names, rows = _with_stamps(model, [preparer.quote(c) for c in columns], rows, _stamp_text(now))
    driver: Any = conn.connection.driver_connection  # sqlite3.Connection
    limit = driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(names)
    per = max(1, min(SQLITE_ROWS_PER_INSERT, limit))
    chain = itertools.chain.from_iterable
    at = 0
    while at < len(rows):
        # the largest power of two left, for the rows left over
        size = min(per, 1 << ((len(rows) - at).bit_length() - 1))
        # one statement at a time: the parameters of all of them at once were
        # another copy of the window's rows in memory
        conn.exec_driver_sql(_sqlite_insert(table, names, size), tuple(chain(rows[at : at + size])))
        at += size


def _sqlite_new_pks(conn: Connection, inserts: Sequence[Mapped]) -> dict[int, int] | None:
    """SQLite: the ids the rows just inserted got, without reading them all back (0.7 s
    per 100,000 responses); None elsewhere, or if the check below fails.

    A rowid table gives a new row the largest id plus one, and from our first insert on
    this transaction holds the database's write lock, so no other writer's row comes
    between ours: they are the last ``len(inserts)`` ids, in order. The first and the last
    are checked against their response ids all the same."""
    if conn.dialect.name != "sqlite" or database_schema(conn) is not None:
        return None
    top = int(conn.execute(sa.select(sa.func.max(Response.id))).scalar_one() or 0)
    first = top - len(inserts) + 1
    ends = conn.execute(
        sa.select(Response.site, Response.survey_id, Response.response_id)
        .where(Response.id.in_({first, top}))
        .order_by(Response.id)
    ).all()
    expect = [inserts[0].response] if first == top else [inserts[0].response, inserts[-1].response]
    if [tuple(row) for row in ends] != [(r.site, r.survey_id, r.response_id) for r in expect]:
        return None
    return {m.response.response_id: first + i for i, m in enumerate(inserts)}


def write_window(engine: Engine, window: Window, *, dry_run: bool = False) -> WindowResult:
    """Write ``window`` in one transaction (``dry_run``: only count what would change)."""
    if dry_run:
        with engine.connect() as conn:
            return _apply(conn, window, dry_run=True)
    with engine.begin() as conn:
        return _apply(conn, window, dry_run=False)


def _apply(conn: Connection, window: Window, *, dry_run: bool) -> WindowResult:
    from sync.db import utcnow

    key = window.key
    now = window.now or utcnow()
    result = WindowResult()
    mapped_ids = [m.response.response_id for m in window.mapped]
    rejected_ids = [rid for rid, _ in window.rejected]
    existing = _existing(conn, window, [*mapped_ids, *window.vanish_ids])

    inserts: list[Mapped] = []
    updates: list[Mapped] = []
    for m in window.mapped:
        old = existing.get(m.response.response_id)
        if old is None:
            inserts.append(m)
        elif old.content_hash != m.content_hash or old.deleted_at is not None:
            updates.append(m)
            result.touched.add((old.campaign_code, old.unit_code))
        else:
            result.unchanged += 1
            continue
        result.touched.add((m.response.campaign, m.response.unit))
    result.inserted, result.updated = len(inserts), len(updates)

    seen = set(window.seen)
    vanished: list[int] = list(window.vanish_ids)
    if window.vanish_range is not None:
        lo, hi = window.vanish_range
        vanished.extend(rid for rid in existing if lo <= rid <= hi and rid not in seen)
    if window.vanish_range is not None:
        vanished.extend(_unseen_elsewhere(conn, key, window.vanish_range, seen))
    gone = [
        existing[rid]
        for rid in sorted(set(vanished))
        if rid in existing and existing[rid].deleted_at is None
    ]
    result.deleted = len(gone)
    result.touched.update((row.campaign_code, row.unit_code) for row in gone)
    result.quarantined = len(window.rejected)

    if dry_run:
        return result
    # the results' sums of these units are counted again at the next refresh
    tallies.mark_stale(conn, result.touched)

    # responses, then their keys for the children
    changed = [*inserts, *updates]
    if changed:
        # New rows (none in the table, read in this same transaction) go straight to the
        # driver (COPY on PostgreSQL); the multi-row upsert, compiled anew for every
        # window, is kept for the few that changed.
        new_pks: dict[int, int] | None = None
        if inserts:
            _insert_many(conn, Response, now, RESPONSE_COLUMNS, _response_tuples(conn, inserts))
            new_pks = _sqlite_new_pks(conn, inserts)
        if updates:
            upsert(
                conn, Response, [_response_row(m) for m in updates], _RESPONSE_KEY, _RESPONSE_UPDATE
            )
        pks = {rid: row.id for rid, row in existing.items()}
        if new_pks is not None:
            pks.update(new_pks)
        else:
            new_ids = [m.response.response_id for m in inserts]
            pks.update(
                (row.response_id, row.id)
                for row in _by_id(conn, Response, key, new_ids, Response.response_id, Response.id)
            )
        old_pks = [pks[m.response.response_id] for m in updates]
        for chunk in _chunks(old_pks):
            conn.execute(sa.delete(Observation).where(Observation.response_pk.in_(chunk)))
            conn.execute(sa.delete(Comment).where(Comment.response_pk.in_(chunk)))
        if _copies(conn):
            _copy_observations(conn, changed, pks)
        else:
            _insert_many(
                conn, Observation, now, OBSERVATION_COLUMNS, _observation_rows(changed, pks)
            )
        _insert_many(conn, Comment, now, COMMENT_COLUMNS, _comment_rows(changed, pks))

    if gone:
        for chunk in _chunks(row.id for row in gone):
            conn.execute(sa.update(Response).where(Response.id.in_(chunk)).values(deleted_at=now))

    _quarantine(conn, key, window.rejected, now)
    # quarantine entries whose response now maps, or vanished, are resolved (looked up
    # first: there are rarely any, and a lookup by range is cheaper than an update by IN)
    settled = [*mapped_ids, *vanished]
    still_open = Quarantine.resolved_at.is_(None)
    open_ids = [
        row.response_id
        for row in _by_id(conn, Quarantine, key, settled, Quarantine.response_id, where=still_open)
    ]
    result.resolved = len(open_ids)
    if open_ids:
        for chunk in _chunks(open_ids):
            conn.execute(
                sa.update(Quarantine)
                .where(_survey(Quarantine, key), Quarantine.response_id.in_(chunk))
                .where(Quarantine.resolved_at.is_(None))
                .values(resolved_at=now, updated_at=now)
            )
    _pending(conn, window, [*mapped_ids, *rejected_ids, *vanished], now)

    if window.high_water is not None:
        upsert(
            conn,
            SyncCursor,
            [{"site": key.site, "survey_id": key.survey_id, "high_water": window.high_water}],
            ("site", "survey_id"),
            ("high_water",),
        )
    return result


def _unseen_elsewhere(
    conn: Connection, key: SurveyKey, span: tuple[int, int], seen: set[int]
) -> list[int]:
    """Pending or quarantined ids in a re-read range that the export no longer has."""
    lo, hi = span
    pending = sa.select(SyncPending.response_id).where(
        _survey(SyncPending, key), SyncPending.response_id.between(lo, hi)
    )
    held = sa.select(Quarantine.response_id).where(
        _survey(Quarantine, key),
        Quarantine.response_id.between(lo, hi),
        Quarantine.resolved_at.is_(None),
    )
    ids = set(conn.execute(pending).scalars()) | set(conn.execute(held).scalars())
    return sorted(ids - seen)


def _quarantine(
    conn: Connection, key: SurveyKey, rejected: Sequence[tuple[int, Rejected]], now: datetime
) -> None:
    if not rejected:
        return
    ids = [rid for rid, _ in rejected]
    attempts: dict[int, int] = {}
    for chunk in _chunks(ids):
        query = sa.select(Quarantine.response_id, Quarantine.attempts).where(
            _survey(Quarantine, key), Quarantine.response_id.in_(chunk)
        )
        attempts.update((rid, n) for rid, n in conn.execute(query))
    rows = [
        {
            "site": key.site,
            "survey_id": key.survey_id,
            "response_id": rid,
            "reason_code": rej.reason_code,
            "reason": rej.reason,
            "detail": rej.detail,
            "first_seen_at": now,
            "last_seen_at": now,
            "attempts": attempts.get(rid, 0) + 1,
            "resolved_at": None,
        }
        for rid, rej in rejected
    ]
    upsert(
        conn,
        Quarantine,
        rows,
        _RESPONSE_KEY,
        ("reason_code", "reason", "detail", "last_seen_at", "attempts", "resolved_at"),
    )


def _pending(conn: Connection, window: Window, done: Sequence[int], now: datetime) -> None:
    key = window.key
    forget = {*done, *window.drop_pending}
    waiting = set(window.incomplete)
    # which of these ids are pending now: one lookup (by range, mostly), usually empty
    known = {
        row.response_id
        for row in _by_id(conn, SyncPending, key, sorted(forget | waiting), SyncPending.response_id)
    }
    for chunk in _chunks(forget & known):
        conn.execute(
            sa.delete(SyncPending).where(
                _survey(SyncPending, key), SyncPending.response_id.in_(chunk)
            )
        )
    # first_seen_at of a known pending id is kept: its age counts from the first sighting
    rows = [
        {
            "site": key.site,
            "survey_id": key.survey_id,
            "response_id": rid,
            "first_seen_at": now,
            "last_seen_at": now,
        }
        for rid in sorted(waiting - known)
    ]
    if rows:
        conn.execute(sa.insert(SyncPending), rows)


# -- the audit --------------------------------------------------------------------------


def start_run(
    engine: Engine, key: SurveyKey, kind: str, now: datetime, *, dry_run: bool = False
) -> int:
    worker = f"{socket.gethostname()}:{os.getpid()}"
    with engine.begin() as conn:
        result = conn.execute(
            sa.insert(SyncRun).values(
                kind=kind,
                site=key.site,
                survey_id=key.survey_id,
                worker=worker,
                dry_run=dry_run,
                started_at=now,
                status=RunStatus.RUNNING.value,
            )
        )
        pk = result.inserted_primary_key
        assert pk is not None
        return int(pk[0])


def finish_run(
    engine: Engine,
    key: SurveyKey,
    run_id: int | None,
    report: PassReport,
    now: datetime,
    *,
    error: BaseException | None,
) -> None:
    """Close the audit row and record the outcome on the cursor (``status`` reads it)."""
    if error is None:
        status = RunStatus.INTERRUPTED if report.stopped else RunStatus.OK
    else:
        status = RunStatus.FAILED
    kind = error.kind if isinstance(error, PingyiError) else ("error" if error else None)
    message = str(error)[:2000] if error is not None else None
    with engine.begin() as conn:
        if run_id is not None:
            conn.execute(
                sa.update(SyncRun)
                .where(SyncRun.id == run_id)
                .values(
                    finished_at=now,
                    status=status.value,
                    fetched=report.fetched,
                    inserted=report.inserted,
                    updated=report.updated,
                    unchanged=report.unchanged,
                    deleted=report.deleted,
                    quarantined=report.quarantined,
                    pending=report.pending,
                    rc2_calls=report.rc2_calls,
                    error=message,
                    error_kind=kind,
                    updated_at=now,
                )
            )
        row: dict[str, Any] = {"site": key.site, "survey_id": key.survey_id}
        if error is None:
            row["last_success_at"] = now
            if report.full:
                row["last_full_at"] = now
            if report.shortfall is not None:
                row["shortfall"] = report.shortfall or None
            if report.probed:
                row["probed_at"] = now
            if report.stale_clock:
                row.update(clock_offset=None, clock_read_at=None, clock_zone=None)
        else:
            row.update(last_error=message, last_error_kind=kind, last_error_at=now)
        if report.clock_offset_s is not None:  # (a failed pass's windows were read too)
            row.update(
                clock_offset=report.clock_offset_s, clock_read_at=now, clock_zone=report.zone
            )
        columns = [k for k in row if k not in ("site", "survey_id")]
        upsert(conn, SyncCursor, [row], ("site", "survey_id"), columns)
