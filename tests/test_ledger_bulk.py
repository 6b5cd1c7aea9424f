"""The office's view of the ledger: bulk assignment, the summary, list filters, through the
library and the command line, on every backend."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from sqlalchemy.engine import Engine

from sync import ledger, score
from sync import models as m
from sync.cli import cli
from sync.errors import InputError
from tests.test_score_db import Ballot, make_catalogue, write_ballots, write_catalogue

ROOT = Path(__file__).resolve().parents[1]
TODAY = dt.date(2022, 10, 27)  # the complaints' deadline (26 Oct) has passed


@pytest.fixture
def filled(engine: Engine) -> Engine:
    """Two systems, three units: complaints in each (3, 2, 1), dimension items in U1 (2)
    and U2 (1)."""
    cat = make_catalogue({"S1": ["U1", "U2"], "S2": ["U3"]})
    bad = {"service": "A4", "efficiency": "A5"}
    ballots = [
        *(Ballot("U1", "citizens", bad) for _ in range(3)),
        Ballot("U1", "citizens", {"service": "A1", "efficiency": "A1"}),
        *(Ballot("U2", "enterprises", {"integrity": "A5"}) for _ in range(2)),
        Ballot("U3", "citizens", {"service": "A4"}, comment="𠮷"),
    ]
    with engine.begin() as conn:
        write_catalogue(conn, cat)
        write_ballots(conn, ballots)
    score.rebuild(engine, cat, "2022")
    ledger.raise_items(engine, cat, "2022", today=dt.date(2022, 10, 10))
    return engine


def _statuses(engine: Engine) -> dict[int, tuple[str, str | None]]:
    i = m.LedgerItem
    with engine.connect() as conn:
        return {r.id: (r.status, r.responsible) for r in conn.execute(sa.select(i))}


def _events_by_item(engine: Engine) -> Counter[int]:
    with engine.connect() as conn:
        return Counter(conn.execute(sa.select(m.LedgerEvent.item_id)).scalars())


def test_bulk_assign_with_filters_and_a_dry_run(filled: Engine) -> None:
    engine = filled
    with pytest.raises(InputError, match="refusing to assign every item"):
        ledger.assign_many(engine, ledger.ItemFilter(campaign="2022"), "张科长", by="区评议办")
    before, events = _statuses(engine), _events_by_item(engine)
    s1 = ledger.ItemFilter(campaign="2022", system="S1", source="rating")
    plan = ledger.assign_many(engine, s1, "张科长", by="区评议办", dry_run=True)
    assert (plan.matched, plan.assigned, plan.unchanged, plan.skipped) == (5, 5, 0, {})
    assert _statuses(engine) == before  # a dry run changes nothing
    assert _events_by_item(engine) == events

    done = ledger.assign_many(
        engine, s1, "张科长", by="区评议办", note="集中交办", deadline=dt.date(2022, 11, 30)
    )
    assert done == plan
    after = _statuses(engine)
    changed = {k for k in after if after[k] != before[k]}
    assert len(changed) == 5
    assert all(after[k] == ("assigned", "张科长") for k in changed)
    # the U3 complaint and U1's dimension item are outside the filters
    untouched = [x for x in ledger.items(engine) if x["id"] not in changed]
    assert sorted((x["unit_code"], x["source"]) for x in untouched) == [
        ("U1", "dimension"),
        ("U1", "dimension"),
        ("U2", "dimension"),
        ("U3", "rating"),
    ]
    # one event per item, with the step and the note
    assert _events_by_item(engine) - events == Counter(changed)
    _row, history = ledger.history(engine, min(changed))
    assert (history[-1]["status_from"], history[-1]["status_to"], history[-1]["actor"]) == (
        "open",
        "assigned",
        "区评议办",
    )
    assert history[-1]["note"] == "集中交办; 责任人: 张科长; 整改期限: 2022-11-30"
    assert ledger.overdue(engine, TODAY, "2022") == [
        x for x in ledger.overdue(engine, TODAY, "2022") if x["id"] not in changed
    ]

    # the same command again records nothing; a rectified item is left as it is
    first = min(changed)
    ledger.change(engine, first, "rectified", by="张科长")
    again = ledger.assign_many(engine, s1, "张科长", by="区评议办", deadline=dt.date(2022, 11, 30))
    assert (again.matched, again.assigned, again.unchanged, again.skipped) == (
        5,
        0,
        4,
        {"rectified": 1},
    )
    # someone else takes U2's items over
    u2 = ledger.ItemFilter(campaign="2022", unit="U2", status="assigned")
    moved = ledger.assign_many(engine, u2, "李𠮷", by="区评议办")
    assert (moved.matched, moved.assigned) == (2, 2)
    assert {(x["source"], x["responsible"]) for x in ledger.items(engine, unit="U2")} == {
        ("rating", "李𠮷"),
        ("dimension", None),
    }


def test_summary_matches_the_items_table(filled: Engine) -> None:
    engine = filled
    some = [x["id"] for x in ledger.items(engine, unit="U1")][:2]
    ledger.assign(engine, some[0], "王主任", by="区评议办", deadline=dt.date(2022, 12, 31))
    ledger.assign(engine, some[1], "王主任", by="区评议办")
    ledger.change(engine, some[1], "rectified", by="王主任")  # past its deadline, but done
    got = {u["unit"]: u for u in ledger.summary(engine, "2022", TODAY)}

    i = m.LedgerItem
    with engine.connect() as conn:
        rows = conn.execute(sa.select(i.unit_code, i.status, i.deadline)).all()
        systems = dict(conn.execute(sa.select(m.Unit.code, m.Unit.system_code)).all())
    expected: dict[str, dict[str, object]] = {}
    for unit, status, deadline in rows:
        doc = expected.setdefault(
            unit, {"by_status": Counter[str](), "total": 0, "overdue": 0, "system": systems[unit]}
        )
        doc["by_status"][status] += 1  # type: ignore[index]
        doc["total"] += 1  # type: ignore[operator]
        if status in ("open", "assigned") and deadline is not None and deadline < TODAY:
            doc["overdue"] += 1  # type: ignore[operator]
    assert set(got) == set(expected) == {"U1", "U2", "U3"}
    for unit, doc in expected.items():
        by_status = {k: v for k, v in got[unit]["by_status"].items() if v}
        assert by_status == dict(doc["by_status"])  # type: ignore[call-overload]
        assert (got[unit]["total"], got[unit]["overdue"], got[unit]["system"]) == (
            doc["total"],
            doc["overdue"],
            doc["system"],
        )
    assert got["U1"]["unit_name"] == "U1办事处𠮷"
    assert got["U1"]["by_status"]["rectified"] == 1
    # the complaints were due 21 Oct, the dimension items (raised 10 Oct) are due 31 Oct
    assert (got["U1"]["total"], got["U1"]["overdue"]) == (5, 1)
    assert ledger.summary(engine, "2022", dt.date(2022, 10, 1)) == [
        {**u, "overdue": 0} for u in ledger.summary(engine, "2022", TODAY)
    ]


# -- the command line ---------------------------------------------------------------------


def _config(engine: Engine, tmp_path: Path) -> Path:
    url = engine.url.render_as_string(hide_password=False)
    path = tmp_path / "pingyi.toml"
    path.write_text(
        f'mappings = "{ROOT / "mappings"}"\n[database]\nurl = "{url}"\n', encoding="utf-8"
    )
    return path


def _run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)


def test_ledger_commands(filled: Engine, tmp_path: Path) -> None:
    engine = filled
    config = _config(engine, tmp_path)
    base = ("--campaign", "2022")
    refused = _run(config, "ledger", "assign", *base, "--unit", "U1", "--to", "张科长", "--by", "x")
    assert refused.exit_code == 2
    assert "and --all" in refused.output
    before = _statuses(engine)
    dry = _run(
        config, "ledger", "assign", *base, "--unit", "U1", "--all", "--dry-run",
        "--to", "张科长", "--by", "区评议办",
    )  # fmt: skip
    assert dry.exit_code == 0, dry.output
    assert dry.output.strip() == "5 items match; 5 will be assigned to 张科长"
    assert _statuses(engine) == before
    done = _run(
        config, "ledger", "assign", *base, "--unit", "U1", "--source", "rating", "--all",
        "--to", "张科长", "--by", "区评议办",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert done.output.splitlines() == [
        "3 items match; 3 will be assigned to 张科长",
        "3 items match; 3 assigned to 张科长",
    ]

    doc = json.loads(
        _run(config, "ledger", "summary", *base, "--today", "2022-10-27", "--json").output
    )
    assert doc["total"]["total"] == len(before)
    assert doc["total"]["by_status"]["assigned"] == 3
    assert [s["system"] for s in doc["systems"]] == ["S1", "S2"]
    assert doc["units"] == [
        {**u, "by_status": u["by_status"]} for u in ledger.summary(engine, "2022", TODAY)
    ]
    text = _run(config, "ledger", "summary", *base, "--today", "2022-10-27").output
    assert "U3 U3办事处𠮷" in text
    assert "全区合计" in text

    listed = json.loads(_run(config, "ledger", "list", *base, "--system", "S2", "--json").output)
    assert [x["unit_code"] for x in listed] == ["U3"]
    late = _run(
        config, "ledger", "list", *base, "--overdue", "--today", "2022-10-27", "--limit", "1"
    )
    overdue = ledger.overdue(engine, TODAY, "2022")
    assert f"逾期整改事项 2022（{len(overdue)} 项，显示前 1 项）" in late.output
