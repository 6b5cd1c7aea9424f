"""pull: a catch-up decodes and maps in a worker process; the records are the same as
without one, and a worker that fails or dies changes nothing but where the work is done."""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from sync import db, pull
from sync.errors import InputError
from tests.syncdata import double_row
from tests.test_pull import SID, Rig, canonical, make_rig, stored


def _die(raw: object) -> Any:
    """Stands in for the worker's decoding: the worker process dies mid-window."""
    os._exit(3)


def _fresh(tmp_path: Path, name: str) -> Engine:
    made = db.make_engine(f"sqlite:///{tmp_path / name}")
    db.upgrade(made)
    return made


@pytest.fixture
def rigs(tmp_path: Path) -> Iterator[tuple[Rig, Rig]]:
    """Two rigs with the same 75 responses (8 windows of 10; response 55 quarantined)."""
    engines = [_fresh(tmp_path, "a.db"), _fresh(tmp_path, "b.db")]
    made: list[Generator[Rig, None, None]] = [make_rig(e) for e in engines]  # type: ignore[misc]
    pair = (next(made[0]), next(made[1]))
    for rig in pair:
        rows = [double_row(i) for i in range(1, 76)]
        rows[54]["office"] = "X9"  # a unit the catalogue does not know
        rig.double.load_responses(SID, rows)
    yield pair
    for gen in made:
        gen.close()
    for e in engines:
        e.dispose()


def _spy_workers(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    started: list[Any] = []
    real = pull._start_worker

    def spy(decoder: Any) -> Any:
        pool = real(decoder)
        started.append(pool)
        return pool

    monkeypatch.setattr(pull, "_start_worker", spy)
    return started


def test_catch_up_in_a_worker_stores_what_the_pass_alone_stores(
    rigs: tuple[Rig, Rig], monkeypatch: pytest.MonkeyPatch
) -> None:
    with_worker, alone = rigs
    started = _spy_workers(monkeypatch)
    report = with_worker.run()
    assert len(started) == 1
    assert started[0] is not None
    monkeypatch.setattr(pull, "_start_worker", lambda decoder: None)
    baseline = alone.run()
    assert (report.inserted, report.quarantined) == (74, 1)
    # the same RC2 calls: the worker decodes, the pass's own client fetches
    assert (baseline.inserted, baseline.quarantined, baseline.rc2_calls) == (
        74,
        1,
        report.rc2_calls,
    )
    assert canonical(with_worker.engine) == canonical(alone.engine)


def test_a_small_pass_starts_no_worker(
    rigs: tuple[Rig, Rig], monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = rigs[0]
    rig.run()
    started = _spy_workers(monkeypatch)
    rig.load(range(76, 81))  # 5 new: one window
    assert rig.run().inserted == 5
    assert started == []


def test_a_dying_worker_falls_back_to_decoding_here(
    rigs: tuple[Rig, Rig], monkeypatch: pytest.MonkeyPatch
) -> None:
    with_worker, alone = rigs
    started = _spy_workers(monkeypatch)
    monkeypatch.setattr(pull, "_decode_in_worker", _die)
    report = with_worker.run()
    assert len(started) == 1
    assert (report.inserted, report.quarantined) == (74, 1)
    monkeypatch.setattr(pull, "_start_worker", lambda decoder: None)
    alone.run()
    assert canonical(with_worker.engine) == canonical(alone.engine)


def test_a_bad_row_in_a_worker_window_fails_the_pass_as_without_one(
    rigs: tuple[Rig, Rig], monkeypatch: pytest.MonkeyPatch
) -> None:
    with_worker, alone = rigs
    for rig in rigs:
        rig.double.set_response(SID, 65, {"startdate": "yesterday"})
    started = _spy_workers(monkeypatch)
    with pytest.raises(InputError) as raised:
        with_worker.run()
    assert len(started) == 1
    assert started[0] is not None
    monkeypatch.setattr(pull, "_start_worker", lambda decoder: None)
    with pytest.raises(InputError) as expected:
        alone.run()
    assert str(raised.value) == str(expected.value)
    assert "65" in str(raised.value)
    # the transactions before the bad window's are stored (4 windows each), in both
    assert stored(with_worker.engine) == stored(alone.engine) == list(range(1, 41))
