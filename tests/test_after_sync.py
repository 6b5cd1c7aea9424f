"""What follows a sync pass: the touched units' results and ledger items (issue 5, item 4:
"results refresh after each sync pass that touched the campaign (only the affected units)").
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync import ledger, score
from sync import models as m
from tests.test_pull import SID, Rig, make_rig


@pytest.fixture
def rig(engine: Engine) -> Iterator[Rig]:
    yield from make_rig(engine, window=25)


def _results(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    tables = {
        "dimension": (m.ResultDimension, ("unit_code", "group_code", "dimension_code")),
        "group": (m.ResultGroup, ("unit_code", "group_code")),
        "unit": (m.ResultUnit, ("unit_code",)),
        "system": (m.ResultSystem, ("system_code",)),
    }
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for name, (model, order) in tables.items():
            cols = [
                c
                for c in model.__table__.columns
                if c.name not in ("id", "computed_at", "created_at", "updated_at")
            ]
            out[name] = [
                tuple(row)
                for row in conn.execute(
                    sa.select(*cols).order_by(*(model.__table__.c[o] for o in order))
                )
            ]
    return out


def _count(engine: Engine, stmt: sa.Select[Any]) -> int:
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def test_a_pass_refreshes_the_touched_units_and_raises_their_items(rig: Rig) -> None:
    rig.load(range(1, 91))
    report = rig.run()
    assert report.inserted == 90
    units = {unit for _, unit in report.touched}
    assert units == {"U0101", "U0102", "U0201"}

    made = ledger.after_sync(rig.engine, rig.catalogue, report.touched)

    scored = {row[1] for row in _results(rig.engine)["unit"]}
    assert units <= scored
    # one rating item per complaint: per response with a dissatisfied, counted answer,
    # counted from the records
    o, r = m.Observation, m.Response
    complaints = {
        f"complaint:{site}:{survey}:{rid}"
        for site, survey, rid in _rows(
            rig.engine,
            sa.select(r.site, r.survey_id, r.response_id)
            .distinct()
            .join(o, o.response_pk == r.id)
            .where(o.dissatisfied.is_(True), o.counted.is_(True)),
        )
    }
    dissatisfied = _count(
        rig.engine,
        sa.select(sa.func.count())
        .select_from(o)
        .where(o.dissatisfied.is_(True), o.counted.is_(True)),
    )
    # several answers of one response make one item
    assert 0 < len(complaints) < dissatisfied
    assert made["2022"].rating_items == len(complaints)
    keys = {
        key
        for (key,) in _rows(
            rig.engine,
            sa.select(m.LedgerItem.source_key).where(m.LedgerItem.source == "rating"),
        )
    }
    assert keys == complaints


def _rows(engine: Engine, stmt: sa.Select[*tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(stmt)]


def test_after_sync_is_idempotent_and_equals_a_rebuild(rig: Rig) -> None:
    rig.load(range(1, 61))
    first = rig.run()
    ledger.after_sync(rig.engine, rig.catalogue, first.touched)
    rig.load(range(61, 76))
    second = rig.run()
    assert second.inserted == 15
    ledger.after_sync(rig.engine, rig.catalogue, second.touched)
    items = _count(rig.engine, sa.select(sa.func.count()).select_from(m.LedgerItem))
    incremental = _results(rig.engine)

    again = ledger.after_sync(rig.engine, rig.catalogue, second.touched)
    assert again["2022"].created == 0
    assert _count(rig.engine, sa.select(sa.func.count()).select_from(m.LedgerItem)) == items

    score.rebuild(rig.engine, rig.catalogue, "2022")
    assert _results(rig.engine) == incremental


def test_nothing_touched_means_nothing_done(rig: Rig) -> None:
    assert ledger.after_sync(rig.engine, rig.catalogue, set()) == {}
    assert _results(rig.engine)["unit"] == []


def _item(engine: Engine, rid: int) -> dict[str, Any]:
    key = f"complaint:district:111111:{rid}"
    [found] = [i for i in ledger.items(engine) if i["source_key"] == key]
    return found


def test_edits_and_deletes_in_limesurvey_reach_the_items(rig: Rig) -> None:
    rig.load(range(1, 31))
    ledger.after_sync(rig.engine, rig.catalogue, rig.run().touched)
    # response 9 rates all three dimensions dissatisfied, 3 only the overall one (tests.syncdata)
    nine = _item(rig.engine, 9)
    assert nine["content"] == (
        "群众评价「服务意识」为非常不满意、「工作效率」为不满意、「总体评价」为不满意"
        "（问卷 111111 答卷 9）"
    )
    assert nine["dimension_code"] is None
    three = _item(rig.engine, 3)
    assert three["dimension_code"] == "overall"
    four = _item(rig.engine, 4)

    rig.double.set_response(SID, 9, {"detail[SQ001]": "A1"})
    rig.double.set_response(SID, 3, {"overall": "A2"})
    rig.double.delete_response(SID, 4)
    report = rig.run(full=True)
    made = ledger.after_sync(rig.engine, rig.catalogue, report.touched)["2022"]
    assert (made.created, made.updated, made.closed, made.reopened) == (0, 1, 2, 0)
    row, events = ledger.history(rig.engine, nine["id"])
    assert (
        row["content"] == "群众评价「工作效率」为不满意、「总体评价」为不满意（问卷 111111 答卷 9）"
    )
    assert events[-1]["note"] == f"内容已更新（答卷修改）；原内容: {nine['content']}"
    assert ledger.history(rig.engine, three["id"])[0]["status"] == "withdrawn"
    row, events = ledger.history(rig.engine, four["id"])
    assert (row["status"], events[-1]["note"]) == ("withdrawn", "撤销：答卷已在 LimeSurvey 中删除")

    rig.double.set_response(SID, 3, {"overall": "A5"})
    report = rig.run(full=True)
    made = ledger.after_sync(rig.engine, rig.catalogue, report.touched)["2022"]
    assert (made.created, made.updated, made.closed, made.reopened) == (0, 0, 0, 1)
    assert ledger.history(rig.engine, three["id"])[0]["content"].startswith(
        "群众评价「总体评价」为非常不满意"
    )
