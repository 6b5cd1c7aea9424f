"""The rectification ledger and appeals, on every backend."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sync import ledger, score
from sync import models as m
from sync.catalogue import Catalogue
from sync.db import utcnow
from sync.errors import InputError
from tests.test_score_db import (
    DISSATISFIED,
    POINTS,
    SATISFIED,
    Ballot,
    make_catalogue,
    units_by_code,
    uphold_appeal,
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
    # the excluded response is no complaint now, but its item stays appealed, not withdrawn;
    # the dimension item it helped raise is withdrawn (the rest are not below the threshold)
    dimension_items = {
        i["id"]: i["status"] for i in ledger.items(engine) if i["source"] == "dimension"
    }
    quiet = ledger.raise_items(engine, cat, "2022")
    assert (quiet.created, quiet.updated, quiet.closed, quiet.rating_items) == (0, 0, 1, 2)
    [withdrawn] = ledger.items(engine, status="withdrawn")
    assert withdrawn["source"] == "dimension"
    assert dimension_items[withdrawn["id"]] == "open"
    assert ledger.items(engine, status="appealed") == appealed
    with pytest.raises(InputError, match="already excluded by appeal"):
        ledger.add_appeal(engine, f"district:111111:{rid}", reason="again", by="复核组")
    ledger.revert_appeal(engine, change.appeal_id, by="复核组", reason="复核有误")
    score.refresh(engine, cat, "2022", {"U1"})
    assert units_by_code(engine)["U1"] == {**before, **_stamps(units_by_code(engine)["U1"])}
    assert ledger.items(engine, status="appealed") == []
    assert _complaint(engine, pks[3])["status"] == "open"
    again = ledger.raise_items(engine, cat, "2022")
    assert (again.created, again.closed, again.reopened, again.rating_items) == (0, 0, 1, 3)
    assert ledger.history(engine, withdrawn["id"])[0]["status"] == "open"
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


# -- one item per complaint, following its response --------------------------------------


def _edit(conn: Connection, pk: int, dimension: str, code: str) -> None:
    """An edit in LimeSurvey as the sync stores it: the answer's observation rewritten."""
    o = m.Observation
    conn.execute(
        sa.update(o)
        .where(o.response_pk == pk, o.dimension_code == dimension)
        .values(
            raw_code=code,
            level_code=code if code in POINTS else None,
            points=POINTS.get(code),
            counted=code in POINTS,
            satisfied=code in SATISFIED,
            dissatisfied=code in DISSATISFIED,
        )
    )


def _rid(engine: Engine, pk: int) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(sa.select(m.Response.response_id).where(m.Response.id == pk)).scalar_one()
        )


def _complaint(engine: Engine, pk: int) -> dict[str, Any]:
    found = [i for i in ledger.items(engine) if i["response_pk"] == pk and i["source"] == "rating"]
    assert len(found) == 1, found
    return found[0]


def _events(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(m.LedgerEvent)).scalar_one())


def test_one_item_per_complaint_with_every_dimension_and_comment(engine: Engine) -> None:
    cat = make_catalogue({"S1": ["U1", "U2"]})
    ballots = [
        Ballot(
            "U1",
            "citizens",
            {"service": "A4", "efficiency": "A5", "integrity": "A1"},
            comment="排队两小时，态度生硬 😡",
        ),
        Ballot("U1", "enterprises", {"service": "A6", "efficiency": "A5"}),  # 不了解: not listed
        Ballot("U1", "citizens", {"service": "A6", "efficiency": "A3"}),  # no complaint
        Ballot("U2", "citizens", {"service": "A2"}),
    ]
    with engine.begin() as conn:
        write_catalogue(conn, cat)
        pks = write_ballots(conn, ballots)
        conn.execute(
            sa.insert(m.Comment),
            [
                # about a dissatisfied dimension: quoted; about a satisfied one: not
                {
                    "response_pk": pks[0],
                    "item": "why_eff",
                    "dimension_code": "efficiency",
                    "text": "办事拖拉𠮷",
                },
                {
                    "response_pk": pks[0],
                    "item": "why_int",
                    "dimension_code": "integrity",
                    "text": "廉洁方面没问题",
                },
            ],
        )
    score.rebuild(engine, cat, "2022")
    report = ledger.raise_items(engine, cat, "2022", today=dt.date(2022, 10, 10))
    # U1 efficiency 0/2 is the one dimension below 80 % with at least 2 counted answers
    assert (report.rating_items, report.dimension_items, report.created) == (2, 1, 3)
    both = _complaint(engine, pks[0])
    rid = _rid(engine, pks[0])
    assert both["content"] == (
        f"群众评价「办事效率」为非常不满意、「服务态度」为不满意（问卷 111111 答卷 {rid}）"
    )
    assert both["dimension_code"] is None
    assert both["comment"] == "排队两小时，态度生硬 😡\n办事拖拉𠮷"
    assert both["source_key"] == f"complaint:district:111111:{_rid(engine, pks[0])}"
    one = _complaint(engine, pks[1])
    assert (
        one["content"]
        == f"企业评价「办事效率」为非常不满意（问卷 111111 答卷 {_rid(engine, pks[1])}）"
    )
    assert (one["dimension_code"], one["comment"]) == ("efficiency", None)
    assert _events(engine) == 3
    # a rebuild and a second raise find every item already there
    score.rebuild(engine, cat, "2022")
    again = ledger.raise_items(engine, cat, "2022", units=["U1"])
    assert (again.created, again.updated, again.closed, again.reopened) == (0, 0, 0, 0)
    assert len(ledger.items(engine)) == 3
    assert _events(engine) == 3


def test_an_edit_rewrites_the_item_and_a_lost_complaint_is_withdrawn(engine: Engine) -> None:
    cat, pks = setup(engine)
    ledger.raise_items(engine, cat, "2022", today=dt.date(2022, 10, 10))
    late = {i["id"] for i in ledger.overdue(engine, dt.date(2022, 10, 27))}
    eff, integ, exempt = (_complaint(engine, pks[i]) for i in (1, 3, 5))
    assert {eff["id"], integ["id"], exempt["id"]} <= late
    ledger.assign(engine, integ["id"], "王主任", by="区评议办")
    with engine.begin() as conn:
        _edit(conn, pks[1], "service", "A5")  # now two dissatisfied dimensions
        _edit(conn, pks[3], "integrity", "A2")  # no longer a complaint (assigned item)
        conn.execute(
            sa.update(m.Response).where(m.Response.id == pks[5]).values(deleted_at=utcnow())
        )
    report = ledger.raise_items(engine, cat, "2022", units=["U1", "U2"])
    assert (report.created, report.updated, report.closed, report.reopened) == (0, 1, 2, 0)

    row, events = ledger.history(engine, eff["id"])
    assert row["content"].startswith("群众评价「办事效率」为不满意、「服务态度」为非常不满意（")
    assert (row["status"], row["dimension_code"]) == ("open", None)
    assert row["comment"] == "窗口人员态度生硬，排队两小时 😡"  # about efficiency: still quoted
    assert (events[-1]["status_from"], events[-1]["status_to"]) == ("open", "open")
    assert events[-1]["note"] == f"内容已更新（答卷修改）；原内容: {eff['content']}"

    row, events = ledger.history(engine, integ["id"])
    assert row["status"] == "withdrawn"
    assert row["closed_at"] is not None
    assert row["responsible"] == "王主任"  # kept: who was on it
    assert (events[-1]["status_from"], events[-1]["actor"]) == ("assigned", "pingyi")
    assert events[-1]["note"] == "撤销：答卷已修改，不再有计入的不满意评价"
    row, events = ledger.history(engine, exempt["id"])
    assert (row["status"], events[-1]["note"]) == ("withdrawn", "撤销：答卷已在 LimeSurvey 中删除")
    now_late = {i["id"] for i in ledger.overdue(engine, dt.date(2022, 10, 27))}
    assert now_late == late - {integ["id"], exempt["id"]}

    # withdrawn follows the records: nobody moves an item into or out of it
    with pytest.raises(InputError, match="withdrawn follows the records"):
        ledger.change(engine, eff["id"], "withdrawn", by="区评议办")
    with pytest.raises(InputError, match="withdrawn follows the records"):
        ledger.change(engine, integ["id"], "open", by="区评议办")

    # rectified work stands when the complaint goes; a complaint again reopens its item
    ledger.assign(engine, eff["id"], "张科长", by="区评议办")
    ledger.change(engine, eff["id"], "rectified", by="张科长")
    with engine.begin() as conn:
        _edit(conn, pks[1], "service", "A1")
        _edit(conn, pks[1], "efficiency", "A1")
        _edit(conn, pks[3], "integrity", "A4")
    before = _events(engine)
    report = ledger.raise_items(engine, cat, "2022")
    assert (report.created, report.updated, report.closed, report.reopened) == (0, 0, 0, 1)
    assert ledger.history(engine, eff["id"])[0]["status"] == "rectified"
    row, events = ledger.history(engine, integ["id"])
    assert (row["status"], row["closed_at"]) == ("open", None)
    assert row["content"].startswith("企业评价「廉洁自律」为不满意（")
    assert (events[-1]["status_from"], events[-1]["status_to"]) == ("withdrawn", "open")
    assert events[-1]["note"].startswith(
        "答卷再次有不满意评价，重新打开；原内容: 企业评价「廉洁自律」为非常不满意"
    )
    assert _events(engine) == before + 1
    # and nothing more to do
    report = ledger.raise_items(engine, cat, "2022")
    assert (report.created, report.updated, report.closed, report.reopened) == (0, 0, 0, 0)
    assert _events(engine) == before + 1


def test_an_upheld_appeal_the_ledger_did_not_see_moves_the_item(engine: Engine) -> None:
    cat, pks = setup(engine)
    ledger.raise_items(engine, cat, "2022", today=dt.date(2022, 10, 10))
    with engine.begin() as conn:
        appeal = uphold_appeal(conn, pks[1], reason="重复提交")
    report = ledger.raise_items(engine, cat, "2022")
    assert report.closed == 1
    row, events = ledger.history(engine, _complaint(engine, pks[1])["id"])
    assert row["status"] == "appealed"
    assert events[-1]["note"] == f"申诉复核成立（申诉 {appeal}）: 重复提交"
    ledger.revert_appeal(engine, appeal, by="复核组")
    assert _complaint(engine, pks[1])["status"] == "open"
    assert ledger.raise_items(engine, cat, "2022").closed == 0


def test_older_per_answer_items_are_left_alone(engine: Engine) -> None:
    cat, pks = setup(engine)
    rid = _rid(engine, pks[1])
    with engine.begin() as conn:
        conn.execute(
            sa.insert(m.LedgerItem).values(
                source_key=f"rating:district:111111:{rid}:q_efficiency",
                source="rating",
                campaign_code="2022",
                unit_code="U1",
                dimension_code="efficiency",
                response_pk=pks[1],
                content="旧条目",
                status="open",
            )
        )
    report = ledger.raise_items(engine, cat, "2022", today=dt.date(2022, 10, 10))
    assert (report.rating_items, report.closed, report.updated) == (3, 0, 0)
    old = [i for i in ledger.items(engine) if i["source_key"].startswith("rating:")]
    assert [(i["content"], i["status"]) for i in old] == [("旧条目", "open")]
    assert _complaint_count(engine) == 3


def _complaint_count(engine: Engine) -> int:
    return sum(i["source_key"].startswith("complaint:") for i in ledger.items(engine))


def test_a_dimension_item_follows_its_rate_while_pending(engine: Engine) -> None:
    cat = make_catalogue({"S1": ["U1"]})
    with engine.begin() as conn:
        write_catalogue(conn, cat)
        write_ballots(conn, [Ballot("U1", "citizens", {"efficiency": "A5"})] * 2)
    score.rebuild(engine, cat, "2022")
    ledger.raise_items(engine, cat, "2022", today=dt.date(2022, 10, 10))
    [item] = [i for i in ledger.items(engine) if i["source"] == "dimension"]
    assert item["content"] == "「办事效率」满意率 0.0%（0/2）低于 80%"

    # ten satisfied answers later: 10/12 is not below 80 %, and nobody acted on it yet
    with engine.begin() as conn:
        good = write_ballots(conn, [Ballot("U1", "citizens", {"efficiency": "A1"})] * 10)
    score.refresh(engine, cat, "2022", {"U1"})
    report = ledger.raise_items(engine, cat, "2022", units=["U1"])
    assert (report.dimension_items, report.closed, report.reopened) == (0, 1, 0)
    row, events = ledger.history(engine, item["id"])
    assert row["status"] == "withdrawn"
    assert events[-1]["note"] == "撤销：满意率回升至 83.3%（10/12），不低于 80%"

    # three of them excluded on appeal: 7/9 is below again, and the item says so
    for pk in good[:3]:
        ledger.add_appeal(engine, f"district:111111:{_rid(engine, pk)}", reason="刷单", by="复核组")
    score.refresh(engine, cat, "2022")
    report = ledger.raise_items(engine, cat, "2022", units=["U1"])
    assert (report.dimension_items, report.closed, report.reopened, report.created) == (1, 0, 1, 0)
    row, events = ledger.history(engine, item["id"])
    assert (row["status"], row["content"]) == ("open", "「办事效率」满意率 77.8%（7/9）低于 80%")
    assert events[-1]["note"].startswith(
        "满意率再次低于 80%，重新打开；原内容: 「办事效率」满意率 0.0%"
    )

    # once the work is done, the item keeps its status whatever the rate does
    ledger.assign(engine, item["id"], "王主任", by="区评议办")
    ledger.change(engine, item["id"], "rectified", by="王主任")
    with engine.begin() as conn:
        write_ballots(conn, [Ballot("U1", "citizens", {"efficiency": "A1"})] * 10)
    score.refresh(engine, cat, "2022", {"U1"})
    assert ledger.raise_items(engine, cat, "2022", units=["U1"]).closed == 0
    assert ledger.history(engine, item["id"])[0]["status"] == "rectified"
