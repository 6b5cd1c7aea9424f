"""pull: the cursor (pure) and run_pass over real HTTP against the LimeSurvey double."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from sync import db, store
from sync.bindings import Binding
from sync.catalogue import Catalogue
from sync.config import SiteConfig
from sync.limesurvey import LimeSurveyClient, read_spans
from sync.models import Observation, Quarantine, Response, SyncRun
from sync.pull import (
    PROBE_INTERVAL,
    Cursor,
    PassReport,
    _Prefetch,
    _Read,
    end_decision,
    run_pass,
    windows,
)
from sync.testing.double import LimeSurveyDouble
from tests.syncdata import (
    double_row,
    load_catalogue_rows,
    make_binding,
    make_catalogue,
    make_client,
    make_double,
    make_site,
)

SID = 111111
KEY = store.SurveyKey("district", SID)


# -- the cursor ---------------------------------------------------------------------------


def test_cursor_moves_to_the_largest_id_seen() -> None:
    c = Cursor().seen([1, 2, 5], [3, 4])
    assert c == Cursor(5, frozenset({3, 4}))
    c = c.seen([3], [])
    assert c == Cursor(5, frozenset({4}))
    assert c.seen([], []) == c
    assert c.dropped([4]) == Cursor(5, frozenset())


def test_cursor_never_goes_back() -> None:
    assert Cursor(100).seen([3], [2]).high_water == 100


def test_next_window() -> None:
    assert Cursor(10).next_window(5) == (11, 15)


@given(st.lists(st.tuples(st.sets(st.integers(1, 500)), st.sets(st.integers(1, 500))), max_size=8))
def test_cursor_properties(steps: list[tuple[set[int], set[int]]]) -> None:
    c = Cursor()
    seen: set[int] = set()
    for done, incomplete in steps:
        complete = done - incomplete
        before = c
        c = c.seen(complete, incomplete)
        seen |= complete | incomplete
        assert c.high_water == max(seen, default=0)
        assert c.high_water >= before.high_water
        assert incomplete <= c.pending
        assert not (complete & c.pending)


def test_windows() -> None:
    assert list(windows(1, 10, stop_after=25)) == [(1, 10), (11, 20), (21, 25)]
    spans = windows(5, 3)
    assert [next(spans) for _ in range(3)] == [(5, 7), (8, 10), (11, 13)]


def _reading(
    process: Any, stop_after: int | None, empty_from: int, asked: threading.Event | None = None
) -> tuple[Any, list[int]]:
    """A ``_Prefetch`` over windows of 10 ids from 1 whose documents are empty from id
    ``empty_from`` on; returns it and the list of window starts fetched so far.
    ``asked`` is set when the second window's export is asked for."""
    fetched: list[int] = []

    def fetch(lo: int, hi: int) -> list[dict[str, Any]]:
        fetched.append(lo)
        if lo == 11 and asked is not None:
            asked.set()
        return [] if lo >= empty_from else [{"id": lo}]

    prefetch = _Prefetch(fetch, process, windows(1, 10), stop_when_empty_after=stop_after)
    return prefetch, fetched


def _read(document: Any) -> _Read:
    return _Read([int(row["id"]) for row in document], [], [], [], [])


def test_prefetch_asks_for_the_next_export_while_mapping_this_one() -> None:
    """The next window's export is asked for before this one is parsed and mapped:
    LimeSurvey's export time and our decoding overlap."""
    second_asked = threading.Event()
    overlapped: list[bool] = []

    def process(document: Any) -> _Read:
        if not overlapped:
            # waits (at most 30 s, only so that a broken prefetch fails instead of hanging)
            overlapped.append(second_asked.wait(timeout=30))
        return _read(document)

    prefetch, fetched = _reading(process, stop_after=0, empty_from=31, asked=second_asked)
    try:
        got = [lo for lo, _hi, _read_ in prefetch]
    finally:
        prefetch.close()
    assert overlapped == [True]
    assert got == [1, 11, 21, 31]
    assert fetched == [1, 11, 21, 31]


def test_prefetch_asks_for_nothing_past_the_empty_window_that_ends_the_reading() -> None:
    prefetch, fetched = _reading(_read, stop_after=15, empty_from=21)
    try:
        got = [(lo, read.seen) for lo, _hi, read in prefetch]
    finally:
        prefetch.close()
    assert got == [(1, [1]), (11, [11]), (21, [])]
    assert fetched == [1, 11, 21]
    # an empty window below the limit does not end it
    prefetch, fetched = _reading(_read, stop_after=45, empty_from=21)
    try:
        assert [lo for lo, _hi, _r in prefetch] == [1, 11, 21, 31, 41]
    finally:
        prefetch.close()
    assert fetched == [1, 11, 21, 31, 41]


def test_prefetch_waits_for_the_writer_when_its_slots_are_taken() -> None:
    """Windows fetched and not yet taken by the writer hold a slot each: a writer that is
    behind stops the exports (memory does not grow with the survey), and each window it
    takes lets one more export be asked for."""
    fetched: list[int] = []
    more = threading.Condition()

    def fetch(lo: int, hi: int) -> list[dict[str, Any]]:
        with more:
            fetched.append(lo)
            more.notify_all()
        return [{"id": lo}]

    def reaches(n: int, seconds: float = 10.0) -> bool:
        with more:
            return more.wait_for(lambda: len(fetched) >= n, timeout=seconds)

    prefetch = _Prefetch(fetch, _read, windows(1, 10), stop_when_empty_after=None)
    try:
        assert reaches(_Prefetch.SLOTS)
        assert not reaches(_Prefetch.SLOTS + 1, seconds=0.3)
        reading = iter(prefetch)
        assert next(reading)[0] == 1
        assert reaches(_Prefetch.SLOTS + 1)
        assert not reaches(_Prefetch.SLOTS + 2, seconds=0.3)
    finally:
        prefetch.close()


def test_prefetch_hands_a_failed_export_to_the_reader() -> None:
    def fetch(lo: int, hi: int) -> list[dict[str, Any]]:
        if lo > 1:
            raise RuntimeError("export failed")
        return [{"id": lo}]

    prefetch = _Prefetch(fetch, _read, windows(1, 10), stop_when_empty_after=0)
    reading = iter(prefetch)
    try:
        assert next(reading)[0] == 1
        with pytest.raises(RuntimeError, match="export failed"):
            next(reading)
    finally:
        prefetch.close()


def test_end_decision() -> None:
    assert end_decision(10, 10)
    assert not end_decision(11, 10)
    assert not end_decision(9, 10)


# -- run_pass against the double ----------------------------------------------------------


@dataclass
class Rig:
    double: LimeSurveyDouble
    site: SiteConfig
    client: LimeSurveyClient
    engine: Engine
    binding: Binding
    catalogue: Catalogue

    def run(self, **kw: Any) -> PassReport:
        return run_pass(self.engine, self.client, self.site, self.binding, self.catalogue, **kw)

    def load(self, ids: Any, **kw: Any) -> None:
        self.double.load_responses(SID, [double_row(i, **kw) for i in ids])


def make_rig(engine: Engine, *, window: int = 10) -> Iterator[Rig]:
    load_catalogue_rows(engine, make_catalogue())
    double = make_double(SID)
    with double.serve() as url:
        site = make_site(url, window=window)
        with make_client(site) as client:
            yield Rig(double, site, client, engine, make_binding(), make_catalogue())


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    made = db.make_engine(f"sqlite:///{tmp_path / 'pull.db'}")
    db.upgrade(made)
    yield made
    made.dispose()


@pytest.fixture
def rig(sqlite_engine: Engine) -> Iterator[Rig]:
    yield from make_rig(sqlite_engine)


@pytest.fixture
def any_rig(engine: Engine) -> Iterator[Rig]:
    yield from make_rig(engine)


def stored(engine: Engine, *, live: bool = True) -> list[int]:
    query = sa.select(Response.response_id).where(Response.survey_id == SID)
    if live:
        query = query.where(Response.deleted_at.is_(None))
    with engine.connect() as conn:
        return sorted(conn.execute(query).scalars())


def canonical(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {
            "responses": [
                tuple(r)
                for r in conn.execute(
                    sa.select(
                        Response.response_id,
                        Response.unit_code,
                        Response.content_hash,
                        Response.deleted_at.is_(None),
                    ).order_by(Response.response_id)
                )
            ],
            "observations": sorted(
                tuple(r)
                for r in conn.execute(
                    sa.select(Response.response_id, Observation.item, Observation.points).join(
                        Response, Response.id == Observation.response_pk
                    )
                )
            ),
            "quarantine": sorted(
                tuple(r)
                for r in conn.execute(
                    sa.select(
                        Quarantine.response_id,
                        Quarantine.reason_code,
                        Quarantine.resolved_at.is_(None),
                    )
                )
            ),
        }


def test_first_pass_stores_complete_and_keeps_incomplete_pending(any_rig: Rig) -> None:
    rig = any_rig
    rig.load(range(1, 26))
    rig.load(range(26, 31), completed=False)
    report = rig.run()
    assert stored(rig.engine) == list(range(1, 26))
    assert report.inserted == 25
    assert report.pending == 5
    assert report.high_water == 30
    state = store.load_state(rig.engine, KEY)
    assert (state.high_water, set(state.pending)) == (30, set(range(26, 31)))
    with rig.engine.connect() as conn:
        run = conn.execute(sa.select(SyncRun.status, SyncRun.inserted, SyncRun.fetched)).one()
    assert tuple(run) == ("ok", 25, 30)


def test_late_completion_is_stored(rig: Rig) -> None:
    rig.load(range(1, 6))
    rig.load([6, 7], completed=False)
    rig.run()
    assert stored(rig.engine) == [1, 2, 3, 4, 5]
    rig.double.set_response(SID, 6, {"submitdate": "2024-03-02 09:00:00", "lastpage": 2})
    report = rig.run()
    assert stored(rig.engine) == [1, 2, 3, 4, 5, 6]
    assert report.inserted == 1
    assert set(store.load_state(rig.engine, KEY).pending) == {7}


def test_pending_expires_and_is_counted(rig: Rig) -> None:
    rig.load([1])
    rig.load([2], completed=False)
    rig.run()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=31)
    report = rig.run(now=lambda: later, pending_max_age_days=30)
    assert report.expired == 1
    assert store.load_state(rig.engine, KEY).pending == {}


def test_gap_of_deleted_ids_is_jumped_and_never_loops(rig: Rig) -> None:
    rig.load(range(1, 31))
    rig.load(range(200, 211))  # ids 31..199 deleted (never seen)
    report = rig.run()
    assert stored(rig.engine) == [*range(1, 31), *range(200, 211)]
    assert report.high_water == 210
    # the jump cost one summary and one probe, not 17 empty windows
    assert rig.double.calls.count("export_responses") < 12
    # an idle pass afterwards is two calls
    assert rig.run().rc2_calls <= 2


def test_deleted_tail_does_not_loop(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    rig.load(range(1, 21))
    rig.run()
    for rid in range(15, 21):
        rig.double.delete_response(SID, rid)
    with caplog.at_level("WARNING", logger="sync.pull"):
        report = rig.run()  # LimeSurvey has fewer than we hold: one probe, then stop
    assert report.rc2_calls <= 3
    assert report.inserted == 0
    # deleted, or a survey deactivated (its responses archived): the log says how to tell
    assert "LimeSurvey holds 14 completed responses, the records 20" in caplog.text
    assert "Preserve response IDs" in caplog.text
    assert "`pingyi resync --full --dry-run`" in caplog.text


def test_completed_responses_given_ids_below_the_high_water_are_found(
    any_rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    # LimeSurvey on PostgreSQL: a response added with an explicit id (50) does not move the
    # id sequence, so the next responses get ids 4 and 5, below the high water
    rig = any_rig
    rig.load([1, 2, 3, 50])
    assert rig.run().high_water == 50
    rig.load([4, 5])
    rig.load([6], completed=False)
    with caplog.at_level("WARNING", logger="sync.pull"):
        report = rig.run()
    assert stored(rig.engine) == [1, 2, 3, 4, 5, 50]
    assert (report.found_below, report.inserted, report.shortfall) == (2, 2, 0)
    assert "2 completed responses below the high water 50" in caplog.text
    assert "ids 4, 5" in caplog.text
    # the incomplete one is not looked for: it is no shortfall (a completed count)
    assert store.load_state(rig.engine, KEY).pending == {}
    # and with nothing missing any more, an idle pass is two calls again
    assert rig.run().rc2_calls <= 2


def test_an_id_a_webhook_named_is_read_at_once_below_the_high_water(rig: Rig) -> None:
    start = dt.datetime(2026, 11, 26, 8, 0, tzinfo=dt.UTC)
    rig.load([1, 2, 3, 50])
    rig.run(now=lambda: start)
    rig.load([4])
    assert rig.run(now=lambda: start).found_below == 1  # the listing: now not due for a while
    rig.load([5, 6])
    before = len(rig.double.calls)
    # the daemon's pass after the webhook of response 5 (6 had none: it waits for the listing)
    report = rig.run(now=lambda: start, hinted=dict.fromkeys([5, 3, 77], start))
    assert (report.found_below, report.probed, report.shortfall) == (1, False, 1)
    assert stored(rig.engine) == [1, 2, 3, 4, 5, 50]
    # windows, summary, ids above, one export of the named id: no listing of the survey
    assert rig.double.calls[before:].count("export_responses") == 3


def test_a_dry_run_counts_what_it_would_find_below_the_high_water(rig: Rig) -> None:
    rig.load([1, 2, 3, 50])
    rig.run()
    rig.load([51])  # new above the high water: no listing for these
    report = rig.run(dry_run=True, probe=True)
    assert (report.inserted, report.probed, report.shortfall) == (1, False, None)
    rig.load([4, 5])
    report = rig.run(dry_run=True, probe=True)
    assert (report.inserted, report.found_below) == (3, 2)
    assert stored(rig.engine) == [1, 2, 3, 50]


def test_the_listing_below_the_high_water_waits_its_interval_unless_asked(rig: Rig) -> None:
    from sync.cli.status import collect
    from sync.config import Config

    start = dt.datetime(2026, 11, 26, 8, 0, tzinfo=dt.UTC)
    rig.load([1, 2, 3, 50])
    rig.run(now=lambda: start)
    rig.load([4])
    assert rig.run(now=lambda: start).found_below == 1
    # a second one within PROBE_INTERVAL waits: it could be a completion racing the pass
    rig.load([5])
    five_minutes = start + dt.timedelta(minutes=5)
    report = rig.run(now=lambda: five_minutes)
    assert (report.probed, report.found_below, report.shortfall) == (False, 0, 1)
    assert stored(rig.engine) == [1, 2, 3, 4, 50]
    [survey] = collect(rig.engine, Config(), now=five_minutes)["surveys"]
    assert survey["shortfall"] == 1
    # `pingyi resync` asks for it at once
    report = rig.run(now=lambda: five_minutes, probe=True)
    assert (report.found_below, report.shortfall) == (1, 0)
    assert stored(rig.engine) == [1, 2, 3, 4, 5, 50]
    [survey] = collect(rig.engine, Config(), now=five_minutes)["surveys"]
    assert survey["shortfall"] == 0
    # and the daemon's own passes look again once the interval since the last look has passed
    rig.load([6])
    almost = five_minutes + PROBE_INTERVAL - dt.timedelta(seconds=1)
    assert rig.run(now=lambda: almost).found_below == 0
    assert rig.run(now=lambda: five_minutes + PROBE_INTERVAL).found_below == 1


def test_idle_pass_is_at_most_two_calls(any_rig: Rig) -> None:
    rig = any_rig
    rig.load(range(1, 41))
    rig.run()
    before = len(rig.double.calls)
    report = rig.run()
    assert report.rc2_calls <= 2
    assert len(rig.double.calls) - before <= 2
    assert (report.inserted, report.updated, report.fetched) == (0, 0, 0)


def test_full_resync_finds_edits_and_deletes(rig: Rig) -> None:
    rig.load(range(1, 31))
    rig.run()
    assert double_row(4)["overall"] == "A5"
    rig.double.set_response(SID, 4, {"overall": "A1"})
    rig.double.delete_response(SID, 9)
    assert rig.run().updated == 0  # an ordinary pass cannot see edits
    report = rig.run(full=True)
    assert (report.updated, report.deleted, report.unchanged) == (1, 1, 28)
    assert 9 not in stored(rig.engine)
    assert 9 in stored(rig.engine, live=False)
    assert ("2022", "U0102") in report.touched
    with rig.engine.connect() as conn:
        points = conn.execute(
            sa.select(Observation.points)
            .join(Response, Response.id == Observation.response_pk)
            .where(Response.response_id == 4, Observation.item == "overall")
        ).scalar_one()
    assert points == 100.0


def test_replayed_windows_change_nothing(rig: Rig) -> None:
    rig.load(range(1, 31))
    rig.load([31], completed=False)
    rig.run()
    before = canonical(rig.engine)
    # an older cursor: the windows after it are read and written again
    with rig.engine.begin() as conn:
        conn.execute(sa.text("UPDATE pingyi_sync_cursor SET high_water = 0"))
    report = rig.run()
    assert (report.inserted, report.updated, report.unchanged) == (0, 0, 30)
    assert report.high_water == 31
    assert canonical(rig.engine) == before


def test_ten_new_among_many_is_fast(sqlite_engine: Engine) -> None:
    for rig in make_rig(sqlite_engine, window=1000):
        rig.load(range(1, 5001))
        rig.run()
        rig.load(range(5001, 5011))
        started = time.monotonic()
        report = rig.run()
        elapsed = time.monotonic() - started
        assert report.inserted == 10
        assert report.fetched == 10
        assert report.rc2_calls <= 3
        assert elapsed < 2.0


def only_quarantine_entry(engine: Engine) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(Quarantine.response_id, Quarantine.reason_code, Quarantine.reason)
        ).one()


def test_bad_row_is_quarantined_others_go_on(rig: Rig) -> None:
    rows = [double_row(i) for i in range(1, 11)]
    rows[4]["office"] = "X9"  # response 5: a unit the catalogue does not know
    rig.double.load_responses(SID, rows)
    report = rig.run()
    assert report.quarantined == 1
    assert stored(rig.engine) == [1, 2, 3, 4, 6, 7, 8, 9, 10]
    entry = only_quarantine_entry(rig.engine)
    assert entry.response_id == 5
    assert entry.reason_code == "unknown_unit"
    assert "X9" in entry.reason
    # the next pass does not count it as missing (no probe, two calls)
    assert rig.run().rc2_calls <= 2


def test_unreadable_row_is_quarantined_others_go_on(rig: Rig) -> None:
    """A row whose date is not a date cannot even be parsed: it is quarantined with what
    is wrong and where, the rest of its window is stored, the pass goes on; once fixed
    in LimeSurvey, quarantine retry's re-read stores it."""
    rig.load(range(1, 11))
    rig.double.set_response(SID, 4, {"submitdate": "01/03/2024 9:00"})
    report = rig.run()
    assert report.quarantined == 1
    assert stored(rig.engine) == [1, 2, 3, 5, 6, 7, 8, 9, 10]
    entry = only_quarantine_entry(rig.engine)
    assert entry.response_id == 4
    assert entry.reason_code == "unreadable_row"
    assert "submitdate" in entry.reason
    assert "01/03/2024 9:00" in entry.reason
    assert f"survey {SID} response 4" in entry.reason
    assert rig.run().rc2_calls <= 2  # known, not missing: no probe
    rig.double.set_response(SID, 4, {"submitdate": "2024-03-01 09:00:00"})
    retried = rig.run(ids=[4])
    assert (retried.inserted, retried.resolved) == (1, 1)
    assert stored(rig.engine) == list(range(1, 11))


def test_dry_run_writes_nothing(rig: Rig) -> None:
    rig.load(range(1, 11))
    report = rig.run(dry_run=True)
    assert report.inserted == 10
    assert stored(rig.engine) == []
    with rig.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(SyncRun)).scalar_one() == 0
    assert store.load_state(rig.engine, KEY).high_water == 0


def test_stop_finishes_the_window_and_resumes(rig: Rig) -> None:
    rig.load(range(1, 51))
    stop = threading.Event()
    stop.set()
    report = rig.run(stop=stop)
    assert report.stopped
    assert stored(rig.engine) == list(range(1, 11))
    assert store.load_state(rig.engine, KEY).high_water == 10
    report = rig.run()
    assert stored(rig.engine) == list(range(1, 51))
    assert report.inserted == 40


def test_id_range_rereads_a_range_without_moving_the_cursor(rig: Rig) -> None:
    rig.load(range(1, 31))
    rig.run()
    rig.double.set_response(SID, 12, {"overall": "A5"})
    rig.double.set_response(SID, 25, {"overall": "A5"})
    report = rig.run(id_range=(10, 19))
    assert report.updated == 1
    assert store.load_state(rig.engine, KEY).high_water == 30
    assert rig.run(full=True).updated == 1  # 25 was outside the range


def test_progress_is_reported(rig: Rig) -> None:
    rig.load(range(1, 26))
    seen: list[int] = []
    rig.run(progress=lambda done, _total: seen.append(done))
    assert seen[-1] == 25
    assert seen == sorted(seen)


def test_windows_are_committed_a_few_at_a_time(rig: Rig) -> None:
    rig.load(range(1, 96))
    written: list[int] = []
    report = rig.run(progress=lambda done, _total: written.append(done))
    assert stored(rig.engine) == list(range(1, 96))
    # windows of 10: 1..40 and 41..80 in one transaction each, then 81..90, 91..100 (five
    # rows) and the empty 101..110 that ends the reading, written at once
    assert written == [40, 80, 95]
    assert report.windows == 11
    assert store.load_state(rig.engine, KEY).high_water == 95


def test_scattered_pending_ids_are_reread_in_few_calls(rig: Rig) -> None:
    waiting = [3, 9, 14, 22, 30, 35, 77, 80, 150]
    rig.load(i for i in range(1, 161) if i not in waiting)
    rig.load(waiting, completed=False)
    assert rig.run().pending == len(waiting)
    for rid in (3, 30, 80, 150):
        rig.double.set_response(SID, rid, {"submitdate": "2024-03-02 09:00:00", "lastpage": 2})
    rig.double.delete_response(SID, 14)
    before = rig.client.calls.count("export_responses")
    report = rig.run()
    rereads = rig.client.calls.count("export_responses") - before - 1  # 1: the empty window
    # ids at most a window (10) apart share one read of at most 4 windows: 3..35, 77..80, 150
    assert rereads == len(read_spans(waiting, 10)) == 3
    assert report.inserted == 4
    assert set(store.load_state(rig.engine, KEY).pending) == {9, 22, 35, 77}
    assert [i for i in (3, 30, 80, 150) if i in stored(rig.engine)] == [3, 30, 80, 150]
