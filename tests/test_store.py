"""store.write_window on every backend: one transaction, idempotent, bulk."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync import store
from sync.errors import ConfigError, TransientError
from sync.map import Mapped, Rejected, map_row
from sync.models import Comment, Observation, Quarantine, Response, SyncCursor, SyncPending
from sync.retry import RetryPolicy
from tests.syncdata import load_catalogue_rows, make_binding, make_catalogue, make_row

KEY = store.SurveyKey("district", 111111)
NOW = dt.datetime(2024, 3, 5, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def db(engine: Engine) -> Engine:
    load_catalogue_rows(engine, make_catalogue())
    return engine


def outcome(rid: int, **cells: Any) -> Mapped | Rejected:
    return map_row(make_row(rid, cells), make_binding(), make_catalogue(), token_key=None)


def window(*rids: int, **kw: Any) -> store.Window:
    mapped: list[Mapped] = []
    rejected: list[tuple[int, Rejected]] = []
    for rid in rids:
        out = outcome(rid)
        if isinstance(out, Mapped):
            mapped.append(out)
        else:
            rejected.append((rid, out))
    kw.setdefault("seen", list(rids))
    kw.setdefault("now", NOW)
    return store.Window(key=KEY, mapped=mapped, rejected=rejected, **kw)


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {
            "responses": sorted(
                conn.execute(
                    sa.select(
                        Response.response_id,
                        Response.unit_code,
                        Response.content_hash,
                        Response.deleted_at,
                        Response.updated_at,
                    )
                ).all()
            ),
            "observations": sorted(
                conn.execute(
                    sa.select(Response.response_id, Observation.item, Observation.raw_code).join(
                        Response, Response.id == Observation.response_pk
                    )
                ).all()
            ),
            "comments": sorted(
                conn.execute(
                    sa.select(Response.response_id, Comment.item, Comment.text).join(
                        Response, Response.id == Comment.response_pk
                    )
                ).all()
            ),
            "quarantine": sorted(
                conn.execute(
                    sa.select(
                        Quarantine.response_id, Quarantine.reason_code, Quarantine.resolved_at
                    )
                ).all()
            ),
            "pending": sorted(conn.execute(sa.select(SyncPending.response_id)).all()),
            "cursor": [tuple(r) for r in conn.execute(sa.select(SyncCursor.high_water))],
        }


def test_window_writes_rows_children_and_cursor(db: Engine) -> None:
    result = store.write_window(db, window(1, 2, 3, high_water=3))
    assert (result.inserted, result.updated, result.unchanged) == (3, 0, 0)
    state = dump(db)
    assert [r[0] for r in state["responses"]] == [1, 2, 3]
    assert len(state["observations"]) == sum(
        len(o.observations) for o in (outcome(1), outcome(2), outcome(3)) if isinstance(o, Mapped)
    )
    assert state["cursor"] == [(3,)]
    units = {o.response.unit for o in (outcome(1), outcome(2), outcome(3)) if isinstance(o, Mapped)}
    assert result.touched == {("2022", unit) for unit in units}


def test_replayed_window_writes_nothing(db: Engine) -> None:
    store.write_window(db, window(1, 2, 3, high_water=3))
    before = dump(db)
    result = store.write_window(db, window(1, 2, 3, high_water=3))
    assert (result.inserted, result.updated, result.unchanged) == (0, 0, 3)
    assert result.touched == set()
    assert dump(db) == before  # updated_at included: not even touched


def test_changed_response_is_updated_and_children_replaced(db: Engine) -> None:
    store.write_window(db, window(1, 2))
    edited = outcome(2, overall="A5", comment="改：𠮷😡")
    assert isinstance(edited, Mapped)
    result = store.write_window(db, store.Window(KEY, mapped=[edited], seen=[2], now=NOW))
    assert (result.inserted, result.updated, result.unchanged) == (0, 1, 0)
    state = dump(db)
    assert (2, "overall", make_row(2).answers["overall"]) not in state["observations"]
    assert (2, "overall", "A5") in state["observations"]
    assert (2, "comment", "改：𠮷😡") in state["comments"]
    assert len([o for o in state["observations"] if o[0] == 2]) == len(edited.observations)


def test_unit_change_touches_old_and_new_unit(db: Engine) -> None:
    store.write_window(db, window(1))
    moved = outcome(1, office="U0201")
    assert isinstance(moved, Mapped)
    result = store.write_window(db, store.Window(KEY, mapped=[moved], seen=[1], now=NOW))
    old = outcome(1)
    assert isinstance(old, Mapped)
    assert result.touched == {("2022", old.response.unit), ("2022", "U0201")}


def test_vanished_ids_in_a_reread_range_are_marked_deleted_and_kept(db: Engine) -> None:
    store.write_window(db, window(1, 2, 3, 4))
    result = store.write_window(db, window(1, 3, vanish_range=(1, 10)))
    assert result.deleted == 2
    state = dump(db)
    deleted = {r[0] for r in state["responses"] if r[3] is not None}
    assert deleted == {2, 4}
    assert len(state["responses"]) == 4
    # a deleted id that reappears (restored) is live again
    again = store.write_window(db, window(2, seen=[2]))
    assert again.updated == 1
    assert {r[0] for r in dump(db)["responses"] if r[3] is not None} == {4}


def test_bad_row_is_quarantined_then_resolved(db: Engine) -> None:
    bad = outcome(5, office="X9")
    assert isinstance(bad, Rejected)
    result = store.write_window(
        db, store.Window(KEY, mapped=[], rejected=[(5, bad)], seen=[5], now=NOW)
    )
    assert result.quarantined == 1
    assert dump(db)["quarantine"] == [(5, "unknown_unit", None)]
    # a second sighting counts an attempt and keeps it open
    store.write_window(db, store.Window(KEY, rejected=[(5, bad)], seen=[5], now=NOW))
    with db.connect() as conn:
        assert conn.execute(sa.select(Quarantine.attempts)).scalar_one() == 2
    assert store.known_completed(db, KEY) == 1
    store.write_window(db, window(5))
    assert dump(db)["quarantine"][0][2] is not None  # resolved
    assert store.known_completed(db, KEY) == 1


def test_pending_ids_join_and_leave(db: Engine) -> None:
    store.write_window(db, store.Window(KEY, incomplete=[7, 8], seen=[7, 8], now=NOW))
    state = store.load_state(db, KEY)
    assert set(state.pending) == {7, 8}
    assert state.pending[7] == NOW
    # seen again later: first sighting kept
    later = NOW + dt.timedelta(days=3)
    store.write_window(db, store.Window(KEY, incomplete=[7], seen=[7], now=later))
    assert store.load_state(db, KEY).pending[7] == NOW
    store.write_window(db, window(7, drop_pending=[8]))
    assert store.load_state(db, KEY).pending == {}


def test_dry_run_counts_and_writes_nothing(db: Engine) -> None:
    store.write_window(db, window(1, 2))
    before = dump(db)
    edited = outcome(2, overall="A5")
    assert isinstance(edited, Mapped)
    fresh = outcome(3)
    assert isinstance(fresh, Mapped)
    result = store.write_window(
        db,
        store.Window(KEY, mapped=[edited, fresh], seen=[2, 3], vanish_range=(1, 3), now=NOW),
        dry_run=True,
    )
    assert (result.inserted, result.updated, result.deleted) == (1, 1, 1)
    assert dump(db) == before


def test_a_failing_window_leaves_nothing_behind(db: Engine) -> None:
    bad = outcome(1)
    assert isinstance(bad, Mapped)
    # a second rating of the same item breaks the observations' key, after the response
    # row was written: the window's transaction must take the response back too
    broken_obs = [*bad.observations, bad.observations[0]]
    broken = Mapped(bad.response, broken_obs, bad.comments, bad.content_hash)
    with pytest.raises(sa.exc.IntegrityError):
        store.write_window(db, store.Window(KEY, mapped=[broken], seen=[1], high_water=1, now=NOW))
    with pytest.raises(ConfigError, match="pingyi catalogue load"):
        store.call(
            lambda: store.write_window(
                db, store.Window(KEY, mapped=[broken], seen=[1], high_water=1, now=NOW)
            )
        )
    state = dump(db)
    assert state["responses"] == []
    assert state["cursor"] == []


def test_call_retries_a_database_that_went_away() -> None:
    attempts: list[int] = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        return "ok"

    policy = RetryPolicy(attempts=5, sleep=lambda _s: None)
    assert store.call(flaky, policy) == "ok"
    assert len(attempts) == 3

    def broken() -> str:
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("gone"))

    with pytest.raises(TransientError, match="database unavailable"):
        store.call(broken, RetryPolicy(attempts=2, sleep=lambda _s: None))


def test_ids_are_looked_up_by_a_few_ranges_or_by_lists() -> None:
    assert store._id_spans(range(1001, 2001)) == [(1001, 2000)]
    assert store._id_spans([5, 3, 90, 400]) == [(3, 90), (400, 400)]
    assert store._id_spans([]) == []
    scattered = range(0, 100_000, 1000)  # more than 8 ranges: IN lists
    assert store._id_spans(scattered) is None


def test_sqlite_new_keys_are_checked_and_fall_back_when_they_do_not_match(
    db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite takes a new response's key as "the last n ids" only when the first and the
    last of them are the responses just inserted; otherwise the keys are read back, and the
    records come out the same either way."""
    store.write_window(db, window(1, 2, 3))
    mapped = window(1, 2, 3).mapped
    with db.connect() as conn:
        # responses 1 and 2 are not the last two rows written (2 and 3 are)
        assert store._sqlite_new_pks(conn, mapped[:2]) is None
        if db.dialect.name == "sqlite":
            assert store._sqlite_new_pks(conn, mapped) is not None
    fast = dump(db)

    monkeypatch.setattr(store, "_sqlite_new_pks", lambda conn, inserts: None)
    with db.begin() as conn:
        for table in (Observation, Comment, Response):
            conn.execute(sa.delete(table))
    store.write_window(db, window(1, 2, 3))
    slow = dump(db)
    key = ("responses", "observations", "comments")
    assert {k: fast[k] for k in key} == {k: slow[k] for k in key}
    assert len(slow["observations"]) > 3


def _odd(m: Mapped, rid: int) -> Mapped:
    """``m`` with values that need escaping in COPY's text format and a comment likewise."""
    o = m.observations[0]
    odd = dataclasses.replace(o, item="tab\there", raw_code="back\\slash", level="new\nline")
    text = "a\tcomment\\with\r\nbreaks and 𠮷"
    comments = [c._replace(text=text) for c in m.comments] or m.comments
    response = m.response._replace(response_id=rid)
    return m._replace(response=response, observations=[odd, *m.observations[1:]], comments=comments)


def test_awkward_values_are_stored_as_given(db: Engine) -> None:
    """Tabs, backslashes and line breaks in codes and comments survive every bulk path
    (COPY text on PostgreSQL, multi-row INSERTs on SQLite, executemany on MariaDB)."""
    first = outcome(1, comment="x")
    assert isinstance(first, Mapped)
    assert first.comments
    m = _odd(first, 1)
    store.write_window(db, store.Window(key=KEY, mapped=[m], seen=[1], now=NOW))
    with db.connect() as conn:
        rows = conn.execute(
            sa.select(Observation.item, Observation.raw_code, Observation.level_code).where(
                Observation.item == "tab\there"
            )
        ).all()
        texts = conn.execute(sa.select(Comment.text)).scalars().all()
        points = conn.execute(sa.select(Observation.points, Observation.counted)).all()
    assert rows == [("tab\there", "back\\slash", "new\nline")]
    assert texts == [m.comments[0].text]
    assert sorted(points, key=repr) == sorted(
        ((o.points, o.counted) for o in m.observations), key=repr
    )


def test_many_rows_go_in_whole_statements_and_the_rest(
    db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite writes rows in statements of ``SQLITE_ROWS_PER_INSERT`` rows and the rest in
    statements of 2^k rows: every row arrives once, whatever the count."""
    monkeypatch.setattr(store, "SQLITE_ROWS_PER_INSERT", 7)
    rids = list(range(1, 24))
    store.write_window(db, window(*rids, high_water=23))
    state = dump(db)
    expected = [o for o in (outcome(r) for r in rids) if isinstance(o, Mapped)]
    assert [r[0] for r in state["responses"]] == [m.response.response_id for m in expected]
    assert len(state["observations"]) == sum(len(m.observations) for m in expected)
    assert len(set(state["observations"])) == len(state["observations"])
    assert len(state["comments"]) == sum(len(m.comments) for m in expected)


def test_new_responses_dates_are_stored_as_the_orm_stores_them(db: Engine) -> None:
    """The bulk insert's dates (SQLite: text made without the column type) read back as
    the same aware datetimes, and as the same stored value, as an update's."""
    store.write_window(db, window(1, 2))
    changed = outcome(2, comment="changed")
    assert isinstance(changed, Mapped)
    store.write_window(db, store.Window(key=KEY, mapped=[changed], seen=[2], now=NOW))
    with db.connect() as conn:
        dates = conn.execute(
            sa.select(Response.response_id, Response.submitted_at, Response.started_at).order_by(
                Response.response_id
            )
        ).all()
        raw = conn.execute(
            sa.text("SELECT submitted_at, started_at FROM pingyi_response ORDER BY response_id")
        ).all()
    first = outcome(1)
    assert isinstance(first, Mapped)
    assert dates[0][1:] == (first.response.submitted_at, first.response.started_at)
    assert dates[0][1:] == dates[1][1:]
    assert raw[0] == raw[1]  # 1 by the bulk insert, 2 by the update's upsert


def test_copy_text() -> None:
    assert store._copy_text(None) == "\\N"
    assert store._copy_text(True) == "t"
    assert store._copy_text(False) == "f"
    assert store._copy_text(3) == "3"
    assert store._copy_text(2.5) == "2.5"
    assert store._copy_text("a\\b\tc\nd\re") == "a\\\\b\\tc\\nd\\re"
    with pytest.raises(TypeError):
        store._copy_text(object())
