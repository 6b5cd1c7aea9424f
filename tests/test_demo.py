"""The demo: its generator (deterministic, the whole district, realistic proportions) and
``pingyi demo`` end to end into SQLite, checked against the generator's own record."""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from sync import models as m
from sync.catalogue import Catalogue, load_catalogue
from sync.cli import cli
from sync.cli.demo import PASSWORD_ENV, TOKEN_KEY_ENV
from sync.db import make_engine
from sync.testing.demo import DemoData, build_surveys, generate
from sync.testing.double import LimeSurveyDouble

MAPPINGS = Path(__file__).resolve().parent.parent / "mappings"


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue(MAPPINGS)


@pytest.fixture(scope="module")
def data(catalogue: Catalogue) -> DemoData:
    return generate(catalogue, 30_000, seed=11)


def test_same_seed_same_data_other_seed_other_data(catalogue: Catalogue, data: DemoData) -> None:
    again = generate(catalogue, 30_000, seed=11)
    assert again.rows == data.rows
    assert again.later == data.later
    assert again.expected == data.expected
    other = generate(catalogue, 3000, seed=12)
    assert other.rows != data.rows


def test_surveys_are_built_from_the_bindings(catalogue: Catalogue) -> None:
    surveys = {s.sid: s for s in build_surveys(catalogue)}
    assert set(surveys) == {sid for _, sid in catalogue.bindings}
    citizens = surveys[111111]
    office = citizens.spec.groups[0].questions[0]
    # the unit list offers the binding's code_map keys, not catalogue codes
    assert [a.code for a in office.answers] == [
        "U0101",
        "U0102",
        "U0103",
        "U0104",
        "U0105",
        "U0106",
    ]
    detail = next(q for g in citizens.spec.groups for q in g.questions if q.code == "detail")
    assert detail.type == "F"
    assert [a.code for a in detail.answers] == ["A1", "A2", "A3", "A4", "A5", "A6"]
    assert citizens.attributes["detail"]["pingyiDimension"].startswith("SQ001=efficiency;")
    assert citizens.attributes["phone"] == {"pingyiRole": "private"}
    # the taxpayers' survey keeps its own codes 1..5 and 9 (说不清 -> 不了解)
    tax = next(q for g in surveys[410006].spec.groups for q in g.questions if q.code == "tax")
    assert {a.code for a in tax.answers} == {"1", "2", "3", "4", "5", "9"}
    # ... and the plugin's attributes say how, as a designer would have set them
    assert (
        surveys[410006].attributes["tax"]["pingyiCodeMap"] == "5=A1; 4=A2; 3=A3; 2=A4; 1=A5; 9=A6"
    )
    assert citizens.attributes["office"] == {
        "pingyiRole": "unit",
        "pingyiCodeMap": "; ".join(f"U010{i}=C020{i}" for i in range(1, 7)),
    }
    assert "pingyiCodeMap" not in citizens.attributes["detail"]
    assert surveys[410003].spec.participant_table  # token: hash needs tokens
    double = LimeSurveyDouble()
    for s in surveys.values():
        double.add_survey(s.spec)
    assert "detail[SQ004]" in double.columns(111111)


def test_the_whole_district_in_realistic_proportions(catalogue: Catalogue, data: DemoData) -> None:
    assert data.total == 30_000
    assert {e.group for e in data.expected.values()} == set(catalogue.groups)
    rated = set().union(*(e.per_unit for e in data.expected.values()))
    assert rated == set(catalogue.units)  # all 136
    assert len(rated) == 136
    by_group = {e.group: e.rows for e in data.expected.values()}
    assert by_group["citizens"] > by_group["supervisors"] > by_group["self"]
    incomplete = sum(e.incomplete for e in data.expected.values())
    assert 0.05 < incomplete / data.total < 0.10
    assert 0 < sum(e.completed_later for e in data.expected.values()) < incomplete
    counted = sum(e.observations for e in data.expected.values())
    dont_know = sum(e.dont_know for e in data.expected.values())
    assert 0.03 < dont_know / counted < 0.07
    reasons: Counter[str] = Counter()
    for e in data.expected.values():
        reasons.update(e.bad)
    assert set(reasons) == {"unknown_unit", "unknown_answer", "no_unit"}
    assert sum(reasons.values()) < 0.01 * data.total
    # some groups fall below the campaign's minimum sample for a few units
    campaign = catalogue.campaigns["2022"]
    # the minimum sample is per group and unit, whichever of the group's surveys rated it
    per_group_unit: Counter[tuple[str, str]] = Counter()
    for e in data.expected.values():
        for unit, count in e.per_unit.items():
            per_group_unit[(e.group, unit)] += count
    short = [
        (group, unit)
        for (group, unit), count in per_group_unit.items()
        if count < campaign.group_min_sample(group)
    ]
    # (at the default size: a few units per group, not most of them)
    assert 0 < len(short) < 40
    assert len(data.bad_units) == 5
    assert any("𠮷" in text for text in data.comment_texts)
    assert any("排队" in text for text in data.comment_texts)


def test_demo_end_to_end_into_sqlite(
    tmp_path: Path, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the command puts the password in the environment: let pytest restore it afterwards
    monkeypatch.setenv(PASSWORD_ENV, "placeholder")
    monkeypatch.setenv(TOKEN_KEY_ENV, "k" * 64)
    db = tmp_path / "demo.db"
    args = ["demo", "--responses", "2000", "--seed", "5", "--db", str(db)]
    args += ["--out", str(tmp_path / "out"), "--mappings", str(MAPPINGS)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "the records hold exactly what the generator made" in result.output
    assert "unknown_unit" in result.output

    made = generate(catalogue, 2000, seed=5)
    engine = make_engine(f"sqlite:///{db}")
    r, o, c = m.Response.__table__, m.Observation.__table__, m.Comment.__table__
    q, p = m.Quarantine.__table__, m.SyncPending.__table__
    try:
        with engine.connect() as conn:
            stored = {
                int(sid): int(n)
                for sid, n in conn.execute(
                    sa.select(r.c.survey_id, sa.func.count()).group_by(r.c.survey_id)
                )
            }
            assert stored == {sid: e.stored for sid, e in made.expected.items()}
            pending = {
                int(sid): int(n)
                for sid, n in conn.execute(
                    sa.select(p.c.survey_id, sa.func.count()).group_by(p.c.survey_id)
                )
            }
            want = {sid: e.pending for sid, e in made.expected.items() if e.pending}
            assert pending == want
            reasons = Counter(
                {
                    (int(sid), str(code)): int(n)
                    for sid, code, n in conn.execute(
                        sa.select(q.c.survey_id, q.c.reason_code, sa.func.count()).group_by(
                            q.c.survey_id, q.c.reason_code
                        )
                    )
                }
            )
            assert reasons == Counter(
                {(sid, code): n for sid, e in made.expected.items() for code, n in e.bad.items()}
            )
            observations = conn.execute(sa.select(sa.func.count()).select_from(o)).scalar_one()
            assert observations == sum(e.observations for e in made.expected.values())
            not_counted = conn.execute(
                sa.select(sa.func.count()).select_from(o).where(o.c.counted.is_(False))
            ).scalar_one()
            assert not_counted == sum(e.dont_know for e in made.expected.values())
            texts = Counter(t for (t,) in conn.execute(sa.select(c.c.text)))
            assert texts == made.comment_texts  # byte for byte, 𠮷 and emoji included
            assert any("𠮷" in t for t in texts)
            # private columns (phone numbers, tax ids) never reach the records
            assert not any(re.search(r"13\d{9}|91120103MA", t) for t in texts)
            units = {u for (u,) in conn.execute(sa.select(r.c.unit_code).distinct())}
            assert len(units) == 136
    finally:
        engine.dispose()
    config = (tmp_path / "out" / "pingyi.toml").read_text(encoding="utf-8")
    assert f'password_env = "{PASSWORD_ENV}"' in config
    password = os.environ[PASSWORD_ENV]  # the one the demo made (restored after the test)
    assert password != "placeholder"
    assert password not in config
    assert password not in result.output
