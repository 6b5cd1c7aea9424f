"""The kept sums the results are composed from (``sync.tallies``), on every backend.

What must hold: every writer marks the units it touched in its own transaction; a
refresh counts exactly those again; the results then equal a recount of every unit from
the observations; a change made behind Pingyi's back is found by ``--recount``; and a
recount that meets a writer holding a mark waits for it and counts what it wrote."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync import ledger, score, tallies
from sync import models as m
from sync.catalogue import Catalogue
from sync.locks import results_lock
from tests.test_pull import SID, Rig, make_rig
from tests.test_score_db import (
    Ballot,
    hand_case,
    snapshot,
    units_by_code,
    write_ballots,
    write_catalogue,
)


@pytest.fixture
def rig(engine: Engine) -> Iterator[Rig]:
    yield from make_rig(engine, window=25)


def _scored_hand_case(engine: Engine) -> Catalogue:
    """test_score_db's hand case written and scored once (the sums kept)."""
    cat, ballots = hand_case()
    with engine.begin() as conn:
        write_catalogue(conn, cat)
        write_ballots(conn, ballots)
    score.rebuild(engine, cat, "2022")
    return cat


def _marks(engine: Engine) -> set[tuple[str, str]]:
    s = m.TallyStale
    with engine.connect() as conn:
        return {(c, u) for c, u in conn.execute(sa.select(s.campaign_code, s.unit_code))}


def _kept(engine: Engine) -> list[tuple[Any, ...]]:
    d = m.TallyDimension
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.select(
                    d.unit_code, d.group_code, d.dimension_code, d.answers, d.counted, d.points_sum
                ).order_by(d.unit_code, d.group_code, d.dimension_code)
            )
        ]


def test_appeals_mark_their_unit_and_a_refresh_counts_it_again(engine: Engine) -> None:
    cat, ballots = hand_case()
    with engine.begin() as conn:
        write_catalogue(conn, cat)
        pks = write_ballots(conn, ballots)
        rid = conn.execute(
            sa.select(m.Response.response_id).where(m.Response.id == pks[3])
        ).scalar_one()
    first = score.rebuild(engine, cat, "2022")
    assert first.units_recounted == 2  # no sums kept yet: every unit counted
    assert _marks(engine) == set()
    before = units_by_code(engine)["U1"]
    original = snapshot(engine)

    change = ledger.add_appeal(
        engine, f"district:111111:{rid}", reason="恶意差评 𠮷", by="区评议办"
    )
    assert _marks(engine) == {("2022", change.unit)}
    report = score.refresh(engine, cat, "2022")  # no units named: the marks say which
    assert (report.units_recounted, report.units_recomputed) == (1, 2)
    assert _marks(engine) == set()
    after = units_by_code(engine)["U1"]
    assert after["responses"] == before["responses"] - 1
    refreshed = snapshot(engine)
    check = score.rebuild(engine, cat, "2022", recount=True)
    assert check.drifted == ()
    assert snapshot(engine) == refreshed

    ledger.revert_appeal(engine, change.appeal_id, by="区评议办")
    assert _marks(engine) == {("2022", change.unit)}
    score.refresh(engine, cat, "2022")
    assert snapshot(engine) == original


def test_a_change_behind_pingyis_back_is_found_by_a_recount(engine: Engine) -> None:
    cat, ballots = hand_case()
    with engine.begin() as conn:
        write_catalogue(conn, cat)
        pks = write_ballots(conn, ballots)
    score.rebuild(engine, cat, "2022")
    kept, results = _kept(engine), snapshot(engine)
    with engine.begin() as conn:  # no mark: nothing in Pingyi writes like this
        conn.execute(
            sa.update(m.Observation)
            .where(m.Observation.response_pk == pks[0], m.Observation.counted.is_(True))
            .values(points=0.0, satisfied=False, dissatisfied=True)
        )
    # a rebuild composes from the kept sums: unchanged, as documented
    assert score.rebuild(engine, cat, "2022").units_recounted == 0
    assert (_kept(engine), snapshot(engine)) == (kept, results)

    unit = ballots[0].unit
    report = score.rebuild(engine, cat, "2022", recount=True)
    assert report.drifted == (unit,)
    assert _kept(engine) != kept
    assert snapshot(engine) != results
    assert score.rebuild(engine, cat, "2022", recount=True).drifted == ()


def test_a_recount_waits_for_a_writer_holding_the_mark(engine: Engine) -> None:
    cat = _scored_hand_case(engine)
    with engine.begin() as conn:
        tallies.mark_stale(conn, [("2022", "U1")])  # a mark left by an earlier pass
    counted_before = sum(r[4] for r in _kept(engine) if r[0] == "U1")

    writer = engine.connect()
    tx = writer.begin()
    # a sync window: its new ballot and its mark, not committed yet
    write_ballots(writer, [Ballot("U1", "citizens", {"service": "A1", "efficiency": "A2"})])
    tallies.mark_stale(writer, [("2022", "U1")])
    done: list[score.RefreshReport] = []
    refresher = threading.Thread(target=lambda: done.append(score.refresh(engine, cat, "2022")))
    refresher.start()
    refresher.join(timeout=1.0)
    # SQLite, PostgreSQL and MariaDB all make the refresh wait: the writer holds the lock
    assert refresher.is_alive()
    assert not done
    tx.commit()
    writer.close()
    refresher.join(timeout=30)
    assert len(done) == 1
    assert done[0].units_recounted == 1
    assert sum(r[4] for r in _kept(engine) if r[0] == "U1") == counted_before + 2
    assert _marks(engine) == set()
    assert score.rebuild(engine, cat, "2022", recount=True).drifted == ()


def test_store_marks_every_unit_a_pass_touches(rig: Rig) -> None:
    rig.load(range(1, 31))
    first = rig.run()
    assert _marks(rig.engine) == first.touched
    ledger.after_sync(rig.engine, rig.catalogue, first.touched)
    assert _marks(rig.engine) == set()

    rig.double.set_response(SID, 9, {"detail[SQ001]": "A1"})  # an edit
    rig.double.delete_response(SID, 4)  # a deletion
    report = rig.run(full=True)
    assert (report.updated, report.deleted) == (1, 1)
    assert _marks(rig.engine) == report.touched != set()
    ledger.after_sync(rig.engine, rig.catalogue, report.touched)
    assert _marks(rig.engine) == set()
    incremental = snapshot(rig.engine)
    assert score.rebuild(rig.engine, rig.catalogue, "2022", recount=True).drifted == ()
    assert snapshot(rig.engine) == incremental


def test_refreshes_of_one_campaign_take_turns(engine: Engine) -> None:
    cat = _scored_hand_case(engine)
    expected = snapshot(engine)
    errors: list[BaseException] = []

    def refresh() -> None:
        try:
            # units named, not marked: each refresh replaces both units' sums
            score.refresh(engine, cat, "2022", {"U1", "U2"})
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    if engine.dialect.name != "sqlite":  # SQLite's own write lock serialises them
        holder = engine.connect()
        with results_lock(holder, "2022"):
            waiting = threading.Thread(target=refresh)
            waiting.start()
            waiting.join(timeout=1.0)
            assert waiting.is_alive()  # another process is refreshing: it waits its turn
        waiting.join(timeout=30)
        holder.close()
        assert not waiting.is_alive()
    crowd = [threading.Thread(target=refresh) for _ in range(4)]
    for t in crowd:
        t.start()
    for t in crowd:
        t.join(timeout=60)
    assert errors == []
    assert snapshot(engine) == expected
    assert score.rebuild(engine, cat, "2022", recount=True).drifted == ()


def test_marks_are_taken_where_delete_returning_is_missing(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MySQL has no DELETE .. RETURNING: a locking read and a delete do the same."""
    cat = _scored_hand_case(engine)
    monkeypatch.setattr(engine.dialect, "delete_returning", False)
    with engine.begin() as conn:
        tallies.mark_stale(conn, [("2022", "U2")])
    assert score.refresh(engine, cat, "2022").units_recounted == 1
    assert _marks(engine) == set()


def test_dimension_rows_are_written_when_their_sums_are_counted(engine: Engine) -> None:
    """A dimension's figures are those of its sums alone: rewritten with them, not by
    every rebuild. A hand edit of one is put right by --recount (or the unit's next
    change), never by composing the other figures."""
    cat = _scored_hand_case(engine)
    right = snapshot(engine)
    d = m.ResultDimension
    with engine.begin() as conn:
        conn.execute(sa.update(d).where(d.unit_code == "U2").values(mean_points=1.0))
    score.rebuild(engine, cat, "2022")
    assert snapshot(engine) != right
    score.refresh(engine, cat, "2022", {"U2"})  # U2's sums counted again: its rows too
    assert snapshot(engine) == right
    with engine.begin() as conn:
        conn.execute(sa.update(d).where(d.unit_code == "U1").values(mean_points=1.0))
    assert score.rebuild(engine, cat, "2022", recount=True).drifted == ()
    assert snapshot(engine) == right


def test_work_scores_are_composed_without_counting_again(engine: Engine, tmp_path: Path) -> None:
    """What `pingyi results import-work` does: the office's scores are no sums of the
    records, so the refresh composes them in and counts nothing again."""
    cat = _scored_hand_case(engine)
    csv = tmp_path / "work.csv"
    csv.write_text("unit,score,note\nU1,90,暗访两次 𠮷\n", encoding="utf-8")
    assert score.import_work(engine, cat, "2022", csv, entered_by="区评议办") == {"U1"}
    report = score.refresh(engine, cat, "2022")
    assert report.units_recounted == 0
    # 0.7 * 70.625 + 0.3 * 90 = 76.4375, as test_score_db's rebuild gives
    u1 = units_by_code(engine)["U1"]
    assert (u1["work_score"], u1["composite"]) == (90, 76.44)
