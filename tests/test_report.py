"""The results commands and the HTML report, on the district's own catalogue
(``mappings/``: 9 systems, 136 units) with seeded ballots; the report is opened in
headless Chromium (Debian's ``chromium``; skipped only when /usr/bin/chromium is missing)
and a screenshot is left in ``out/report.png`` for people to look at."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from openpyxl import load_workbook
from sqlalchemy.engine import Engine

from sync import db, ledger, report, score
from sync import models as m
from sync.catalogue import Catalogue, load_catalogue
from sync.cli import cli
from tests.test_score_db import write_catalogue

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
POINTS = {"A1": 100.0, "A2": 80.0, "A3": 60.0, "A4": 30.0, "A5": 0.0}
#: responses per unit and group: citizens below their 100 for some units on purpose
SIZES = {
    "citizens": (90, 104),
    "supervisors": (5, 6),
    "enterprises": (30, 31),
    "community": (30, 31),
}


def seed(engine: Engine, cat: Catalogue, rng: random.Random) -> None:
    camp = cat.campaigns["2022"]
    with engine.begin() as conn:
        write_catalogue(conn, cat)
        responses: list[dict[str, Any]] = []
        observations: list[dict[str, Any]] = []
        comments: list[dict[str, Any]] = []
        pk = 0
        for unit in cat.units.values():
            quality = rng.uniform(0.3, 0.95)
            for group, (low, high) in SIZES.items():
                dims = [
                    d
                    for d in camp.groups[group].dimension_weights
                    if not cat.dimensions[d].systems or unit.system in cat.dimensions[d].systems
                ]
                for _ in range(rng.randint(low, high)):
                    pk += 1
                    responses.append(
                        {
                            "id": pk,
                            "site": "district",
                            "survey_id": 100 + list(SIZES).index(group),
                            "response_id": pk,
                            "campaign_code": "2022",
                            "group_code": group,
                            "unit_code": unit.code,
                            "submitted_at": dt.datetime(2022, 9, 1, tzinfo=dt.UTC),
                            "content_hash": f"{pk:064x}",
                        }
                    )
                    for d in dims:
                        roll = rng.random()
                        code = (
                            "A1" if roll < quality else rng.choice(["A2", "A3", "A3", "A4", "A5"])
                        )
                        observations.append(
                            {
                                "response_pk": pk,
                                "campaign_code": "2022",
                                "unit_code": unit.code,
                                "group_code": group,
                                "dimension_code": d,
                                "item": d,
                                "raw_code": code,
                                "level_code": code,
                                "points": POINTS[code],
                                "counted": True,
                                "satisfied": code in ("A1", "A2", "A3"),
                                "dissatisfied": code in ("A4", "A5"),
                            }
                        )
                    if rng.random() < 0.02:
                        comments.append(
                            {"response_pk": pk, "item": "comment", "text": "办事要跑三趟 𠮷😡"}
                        )
        conn.execute(sa.insert(m.Response), responses)
        conn.execute(sa.insert(m.Observation), observations)
        conn.execute(sa.insert(m.Comment), comments)
        units = sorted(cat.units)
        conn.execute(
            sa.insert(m.WorkAssessment),
            [
                {"campaign_code": "2022", "unit_code": u, "score": rng.choice([70.0, 85.0, 95.0])}
                for u in units[: len(units) // 2]
            ],
        )


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Engine, Catalogue]:
    """A migrated SQLite database of the whole district, scored and with its ledger, and
    a pingyi.toml pointing at it."""
    folder = tmp_path_factory.mktemp("district")
    url = f"sqlite:///{folder / 'pingyi.db'}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    cat = load_catalogue(ROOT / "mappings")
    seed(engine, cat, random.Random(2022))
    score.rebuild(engine, cat, "2022")
    ledger.raise_items(engine, cat, "2022", today=dt.date(2022, 9, 1))
    (folder / "pingyi.toml").write_text(
        f'mappings = "{ROOT / "mappings"}"\n[database]\nurl = "{url}"\n', encoding="utf-8"
    )
    return folder / "pingyi.toml", engine, cat


def run(config: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_results_table_csv_json(district: tuple[Path, Engine, Catalogue]) -> None:
    config, _engine, cat = district
    table = run(config, "results", "--system", "edu")
    assert "教育系统" in table or cat.systems["edu"].name in table
    first_edu = next(u for u in cat.units.values() if u.system == "edu" and u.code != "G0101")
    assert first_edu.name in table
    rows = list(csv.DictReader(io.StringIO(run(config, "results", "--csv"))))
    assert len(rows) == len(cat.units)
    exempt = [r for r in rows if r["说明"].startswith("免评")]
    assert sorted(r["单位代码"] for r in exempt) == ["G0101", "R0101", "T0201"]
    assert all(r["系统内排名"] == "" and r["等次"] == "" for r in exempt)
    doc = json.loads(run(config, "results", "--json"))
    for s in doc["systems"]:
        graded = [u for u in s["units"] if u["grade_code"] is not None]
        advanced = [u for u in graded if u["grade_code"] == "advanced"]
        assert len(advanced) <= int(0.3 * len(graded))
        assert all(u["composite"] >= 75 for u in advanced)
        ranks = [u["rank_in_system"] for u in s["units"] if u["rank_in_system"] is not None]
        assert ranks == sorted(ranks)


def test_results_xlsx(district: tuple[Path, Engine, Catalogue], tmp_path: Path) -> None:
    config, _engine, cat = district
    path = tmp_path / "年终考核.xlsx"
    run(config, "results", "--xlsx", str(path))
    book = load_workbook(path)
    assert book.sheetnames[0] == "全区汇总"
    assert book.sheetnames[-1] == "逾期整改"
    sheet = book["全区汇总"]
    header = [c.value for c in sheet[1]]
    assert header[:6] == ["系统", "系统内排名", "全区排名", "单位代码", "单位名称", "综合得分"]
    names = {row[4] for row in sheet.iter_rows(min_row=2, values_only=True) if row[3]}
    assert {u.name for u in cat.units.values()} <= names


def test_rebuild_ledger_and_appeal_commands(district: tuple[Path, Engine, Catalogue]) -> None:
    config, engine, _cat = district
    out = run(config, "results", "rebuild")
    assert re.search(r"campaign 2022: 136 units, \d+ ranked", out)
    assert "ledger: 0 new items" in out  # already raised: never twice
    overdue = json.loads(run(config, "ledger", "overdue", "--today", "2022-12-01", "--json"))
    assert overdue
    item = overdue[0]["id"]
    run(config, "ledger", "assign", str(item), "--to", "张科长", "--by", "区评议办")
    result = CliRunner().invoke(
        cli,
        [
            "--config",
            str(config),
            "ledger",
            "update",
            str(item),
            "--status",
            "verified",
            "--by",
            "x",
        ],
    )
    assert result.exit_code == 1
    assert "cannot go from assigned to verified" in result.output
    shown = run(config, "ledger", "show", str(item))
    assert "open -> assigned by 区评议办" in shown
    with engine.connect() as conn:
        resp = conn.execute(
            sa.select(m.Response.survey_id, m.Response.response_id, m.Response.unit_code).limit(1)
        ).one()
    out = run(
        config, "appeal", "add", f"{resp[0]}:{resp[1]}", "--reason", "恶意差评", "--by", "复核组"
    )
    appeal_id = re.search(r"appeal (\d+)", out)
    assert appeal_id is not None
    listed = run(config, "appeal", "list")
    assert "upheld" in listed
    assert "恶意差评" in listed
    doc = json.loads(run(config, "results", "--json"))
    unit = next(u for s in doc["systems"] for u in s["units"] if u["unit"] == resp[2])
    assert unit["excluded_responses"] == 1
    assert "申诉剔除 1 份答卷" in unit["notes"]
    run(config, "appeal", "revert", appeal_id[1], "--by", "复核组")
    doc = json.loads(run(config, "results", "--json"))
    unit = next(u for s in doc["systems"] for u in s["units"] if u["unit"] == resp[2])
    assert unit["excluded_responses"] == 0


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (/usr/bin/chromium)")
def test_html_report_renders_in_chromium(district: tuple[Path, Engine, Catalogue]) -> None:
    _config, engine, cat = district
    out_dir = ROOT / "out"
    out_dir.mkdir(exist_ok=True)
    path = report.write_report(
        engine, cat, "2022", out_dir / "report.html", today=dt.date(2022, 12, 1)
    )
    text = path.read_text(encoding="utf-8")
    # self-contained: nothing fetched from anywhere
    assert not re.search(r"<script|<link|src=|@import|url\(", text)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    dom = subprocess.run(
        [str(CHROMIUM), *flags, "--dump-dom", path.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert dom.count("<svg") == len(cat.systems)
    assert dom.count('class="bar"') >= len(cat.units) - 3  # every scored unit has its bar
    assert dom.count('class="rate"') >= len(cat.units) - 3
    assert cat.campaigns["2022"].name in dom
    for unit in cat.units.values():
        assert unit.name in dom  # every byte of every name survives
    assert "逾期整改事项" in dom
    png = out_dir / "report.png"
    png.unlink(missing_ok=True)
    subprocess.run(
        [str(CHROMIUM), *flags, f"--screenshot={png}", "--window-size=1200,2000", path.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rebuild_recount_reports_a_hand_edit(district: tuple[Path, Engine, Catalogue]) -> None:
    """The last test of the module: it changes a record behind Pingyi's back."""
    config, engine, _cat = district
    # the kept sums: a recount finds nothing to correct, until a row is changed by hand
    assert "warning" not in run(config, "results", "rebuild", "--recount")
    with engine.begin() as conn:
        o, r = m.Observation, m.Response
        pk, unit_code = conn.execute(
            sa.select(o.response_pk, r.unit_code)
            .join(r, r.id == o.response_pk)
            .where(o.counted.is_(True))
            .limit(1)
        ).one()
        conn.execute(sa.update(o).where(o.response_pk == pk).values(counted=False, points=None))
    out = run(config, "results", "rebuild", "--recount")
    assert "warning: the kept sums of 1 units differed from their observations" in out
    assert f"are now corrected: {unit_code}." in out
    assert "warning" not in run(config, "results", "rebuild", "--recount")
