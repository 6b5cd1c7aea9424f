"""The rectification ledger and appeals, on every backend."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync import ledger, score
from sync import models as m
from sync.catalogue import Catalogue
from sync.errors import InputError
from tests.test_score_db import (
    Ballot,
    make_catalogue,
    units_by_code,
    write_ballots,
    write_catalogue,
)

NATIONAL_DAY = [dt.date(2022, 10, d) for d in range(1, 8)]
TIAOXIU = [dt.date(2022, 10, 8), dt.date(2022, 10, 9)]


def setup(engine: Engine) -> tuple[Catalogue, list[int]]:
    cat = make_catalogue(
        {"S1": ["U1", "U2"]},
        exempt={"U2": "上年度先进"},
        holidays=NATIONAL_DAY,
        extra_workdays=TIAOXIU,
    )
    ballots = [
        Ballot("U1", "citizens", {"service": "A1", "efficiency": "A1"}),
        Ballot(
            "U1",
            "citizens",
            {"service": "A2", "efficiency": "A4"},
            comment="窗口人员态度生硬，排队两小时 😡",
            comment_dimension="efficiency",
        ),
        Ballot("U1", "enterprises", {"service": "A2", "integrity": "A1"}),
        Ballot("U1", "enterprises", {"service": "A2", "integrity": "A5"}, comment="吃拿卡要"),
        Ballot("U1", "citizens", {"service": "A5"}, deleted=True),
        # exempt from rating, not from rectification (免评不免建)
        Ballot("U2", "citizens", {"service": "A5"}),
    ]
    with engine.begin() as conn:
        write_catalogue(conn, cat)
        pks = write_ballots(conn, ballots)
    score.rebuild(engine, cat, "2022")
    return cat, pks


def test_items_raised_once_with_deadline_and_comment(engine: Engine) -> None:
    cat, _ = setup(engine)
    report = ledger.raise_items(engine, cat, "2022", today=dt.date(2022, 10, 10))
    # ratings: U1 efficiency A4, U1 integrity A5, U2 service A5 (exempt); deleted one not
    # dimensions (>= 2 answers, below 80 %): U1 efficiency 1/2, U1 integrity 1/2
    assert (report.rating_items, report.dimension_items, report.created) == (3, 2, 5)
    got = {i["source_key"]: i for i in ledger.items(engine, campaign="2022")}
    rating = [i for i in got.values() if i["source"] == "rating"]
    assert sorted(i["unit_code"] for i in rating) == ["U1", "U1", "U2"]
    eff = next(i for i in rating if i["dimension_code"] == "efficiency")
    assert eff["comment"] == "窗口人员态度生硬，排队两小时 😡"
    assert eff["content"].startswith("群众评价「办事效率」为不满意")
    integ = next(i for i in rating if i["dimension_code"] == "integrity")
    assert integ["comment"] == "吃拿卡要"  # a general comment (no dimension) is quoted
    # submitted Fri 30 Sep 2022 (Shanghai); 15 working days across National Day, the
    # 8th and 9th October worked: 8, 9, 10-14, 17-21, 24, 25, 26
    assert eff["deadline"] == dt.date(2022, 10, 26)
    assert (
        got["dimension:2022:U1:efficiency"]["content"] == "「办事效率」满意率 50.0%（1/2）低于 80%"
    )
    # 15 working days after Mon 10 Oct (the day raised): 11-14, 17-21, 24-28, 31 Oct
    assert got["dimension:2022:U1:efficiency"]["deadline"] == dt.date(2022, 10, 31)
    # again, and after a rebuild: nothing new
    assert ledger.raise_items(engine, cat, "2022").created == 0
    score.rebuild(engine, cat, "2022")
    assert ledger.raise_items(engine, cat, "2022").created == 0
    assert len(ledger.items(engine)) == 5
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(m.LedgerEvent)).scalar() == 5


def test_status_history_and_refusals(engine: Engine) -> None:
    cat, _ = setup(engine)
    ledger.raise_items(engine, cat, "2022", today=dt.date(2022, 10, 10))
    item = ledger.items(engine, unit="U2")[0]["id"]
    with pytest.raises(InputError, match="cannot go from open to rectified"):
        ledger.change(engine, item, "rectified", by="区评议办")
    with pytest.raises(InputError, match="needs a responsible person"):
        ledger.change(engine, item, "assigned", by="区评议办")
    with pytest.raises(InputError, match="unknown status 'done'"):
        ledger.change(engine, item, "done", by="区评议办")
    ledger.assign(engine, item, "张科长", by="区评议办", deadline=dt.date(2022, 11, 1))
    ledger.change(engine, item, "rectified", by="张科长", note="已约谈窗口人员")
    ledger.change(engine, item, "verified", by="监督员李𠮷")
    with pytest.raises(InputError, match=r"allowed from verified: none \(it is closed\)"):
        ledger.change(engine, item, "assigned", by="x", note=None)
    row, events = ledger.history(engine, item)
    assert row["status"] == "verified"
    assert row["closed_at"] is not None
    assert row["responsible"] == "张科长"
    assert row["deadline"] == dt.date(2022, 11, 1)
    steps = [(e["status_from"], e["status_to"], e["actor"]) for e in events]
    assert steps == [
        (None, "open", "pingyi"),
        ("open", "assigned", "区评议办"),
        ("assigned", "rectified", "张科长"),
        ("rectified", "verified", "监督员李𠮷"),
    ]
    assert events[1]["note"] == "责任人: 张科长; 整改期限: 2022-11-01"
    with pytest.raises(InputError, match="ledger item 999999: no such item"):
        ledger.history(engine, 999999)


def test_overdue(engine: Engine) -> None:
    cat, _ = setup(engine)
    ledger.raise_items(engine, cat, "2022", today=dt.date(2022, 10, 10))
    assert ledger.overdue(engine, dt.date(2022, 10, 26)) == []  # due by the end of the day
    late = ledger.overdue(engine, dt.date(2022, 10, 27), campaign="2022")
    assert len(late) == 3
    assert late[0]["unit_name"].endswith("𠮷")
    first = late[0]["id"]
    ledger.assign(engine, first, "王主任", by="区评议办")
    assert len(ledger.overdue(engine, dt.date(2022, 10, 27))) == 3  # assigned, still late
    ledger.change(engine, first, "rectified", by="王主任")
    assert len(ledger.overdue(engine, dt.date(2022, 10, 27))) == 2
    assert len(ledger.overdue(engine, dt.date(2022, 11, 1))) == 4


def test_appeal_excludes_and_reverts(engine: Engine) -> None:
    cat, pks = setup(engine)
    ledger.raise_items(engine, cat, "2022", today=dt.date(2022, 10, 10))
    with engine.connect() as conn:
        rid = conn.execute(
            sa.select(m.Response.response_id).where(m.Response.id == pks[3])
        ).scalar_one()
    before = units_by_code(engine)["U1"]
    change = ledger.add_appeal(engine, f"111111:{rid}", reason="竞争对手恶意差评", by="复核组")
    assert (change.unit, change.items_moved) == ("U1", 1)
    score.refresh(engine, cat, "2022", {change.unit})
    after = units_by_code(engine)["U1"]
    assert after["responses"] == before["responses"] - 1
    with engine.connect() as conn:
        assert ledger.excluded_by_unit(conn, "2022") == {"U1": 1}
    appealed = ledger.items(engine, status="appealed")
    assert [i["response_pk"] for i in appealed] == [pks[3]]
    with pytest.raises(InputError, match="already excluded by appeal"):
        ledger.add_appeal(engine, f"district:111111:{rid}", reason="again", by="复核组")
    ledger.revert_appeal(engine, change.appeal_id, by="复核组", reason="复核有误")
    score.refresh(engine, cat, "2022", {"U1"})
    assert units_by_code(engine)["U1"] == {**before, **_stamps(units_by_code(engine)["U1"])}
    assert ledger.items(engine, status="appealed") == []
    listed = ledger.appeals(engine, "2022")
    assert [(a["status"], a["revoked_by"]) for a in listed] == [("revoked", "复核组")]
    with pytest.raises(InputError, match="is revoked, not upheld"):
        ledger.revert_appeal(engine, change.appeal_id, by="复核组")
    with pytest.raises(InputError, match="not a response reference"):
        ledger.add_appeal(engine, "abc", reason="x", by="y")
    with pytest.raises(InputError, match="no such response"):
        ledger.add_appeal(engine, "111111:999999", reason="x", by="y")


def _stamps(row: dict[str, object]) -> dict[str, object]:
    return {k: row[k] for k in ("created_at", "updated_at", "computed_at")}
