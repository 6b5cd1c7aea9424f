"""``pingyi db upgrade`` + ``pingyi catalogue load`` on every backend: the demo catalogue
lands (136 units in 9 systems), loading twice changes nothing, a renamed unit is renamed
in place; ``pingyi db current|downgrade`` and ``pingyi doctor``."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

import sync.models as m
from sync import db
from sync.cli import cli

MAPPINGS = Path(__file__).resolve().parent.parent / "mappings"


def run(url: str, *args: str) -> Result:
    runner = CliRunner()
    return runner.invoke(cli, list(args), env={"PINGYI_DATABASE_URL": url, "PINGYI_CONFIG": ""})


def ok(url: str, *args: str) -> str:
    result = run(url, *args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def snapshot(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every catalogue table's rows, timestamps included, in key order."""
    engine = db.make_engine(url)
    tables = [
        m.Scale,
        m.System,
        m.RespondentGroup,
        m.Dimension,
        m.Unit,
        m.Campaign,
        m.CampaignUnit,
        m.SurveyBinding,
    ]
    out: dict[str, list[tuple[object, ...]]] = {}
    with engine.connect() as conn:
        for model in tables:
            table = model.__table__
            query = sa.select(table).order_by(*table.primary_key.columns)  # type: ignore[attr-defined]
            out[table.name] = [tuple(row) for row in conn.execute(query)]  # type: ignore[attr-defined]
    engine.dispose()
    return out


def counts(output: str) -> dict[str, tuple[int, int, int]]:
    found = re.findall(r"^\s+(\w+)\s+(\d+) rows, (\d+) new, (\d+) changed$", output, re.M)
    return {name: (int(rows), int(new), int(changed)) for name, rows, new, changed in found}


def test_load_twice_changes_nothing_and_rename_updates_in_place(
    db_url: str, tmp_path: Path
) -> None:
    ok(db_url, "db", "upgrade")
    first = counts(ok(db_url, "catalogue", "load", str(MAPPINGS)))
    assert first["unit"] == (136, 136, 0)
    assert first["system"] == (9, 9, 0)
    assert first["campaign_unit"][1] == first["campaign_unit"][0] > 0
    before = snapshot(db_url)
    assert len(before["pingyi_unit"]) == 136
    assert len(before["pingyi_system"]) == 9

    second = counts(ok(db_url, "catalogue", "load", str(MAPPINGS)))
    assert all(new == 0 and changed == 0 for _, new, changed in second.values()), second
    assert snapshot(db_url) == before

    # Rename one unit (a 4-byte character included) in a copy of mappings/.
    copy = tmp_path / "mappings"
    shutil.copytree(MAPPINGS, copy)
    catalogue = copy / "catalogue.yaml"
    text = catalogue.read_text(encoding="utf-8")
    old_name = "河西区第一中心小学"
    assert text.count(old_name) == 1
    catalogue.write_text(text.replace(old_name, "河西区第一中心小学𠮷😀"), encoding="utf-8")
    third = counts(ok(db_url, "catalogue", "load", str(copy)))
    assert third["unit"] == (136, 0, 1)
    after = snapshot(db_url)
    renamed = {row[0]: row for row in after["pingyi_unit"]}["E0101"]
    original = {row[0]: row for row in before["pingyi_unit"]}["E0101"]
    assert renamed[1] == "河西区第一中心小学𠮷😀"
    assert [row[0] for row in after["pingyi_unit"]] == [row[0] for row in before["pingyi_unit"]]
    names = [c.name for c in m.Unit.__table__.columns]
    assert renamed[names.index("created_at")] == original[names.index("created_at")]
    assert [r for r in after["pingyi_unit"] if r[0] != "E0101"] == [
        r for r in before["pingyi_unit"] if r[0] != "E0101"
    ]


def test_catalogue_rows_carry_the_campaign_rules(engine: sa.Engine) -> None:
    from sync.catalogue import load_catalogue
    from sync.cli.catalogue import store_catalogue

    catalogue = load_catalogue(MAPPINGS)
    with engine.begin() as conn:
        store_catalogue(conn, catalogue)
    with engine.connect() as conn:
        campaign = conn.execute(sa.select(m.Campaign)).one()
        binding_count = conn.execute(
            sa.select(sa.func.count()).select_from(m.SurveyBinding)
        ).scalar_one()
        exempt = conn.execute(
            sa.select(m.CampaignUnit.unit_code, m.CampaignUnit.exempt_reason).where(
                m.CampaignUnit.exempt.is_(True)
            )
        ).all()
    expected = catalogue.campaigns[campaign.code]
    assert campaign.rules["groups"].keys() == expected.groups.keys()
    assert campaign.questionnaire_weight == expected.questionnaire_weight
    assert binding_count == len(catalogue.bindings)
    assert expected.exempt_units()  # the demo campaign has exempt units
    assert {row[0]: row[1] for row in exempt} == expected.exempt_units()


def test_load_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    result = run(url, "catalogue", "load", str(MAPPINGS))
    assert result.exit_code == 1
    assert "run pingyi db upgrade" in result.output


def test_db_current_and_downgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    assert "NOT at head" in ok(url, "db", "current")
    ok(url, "db", "upgrade")
    assert "up to date" in ok(url, "db", "current")
    refused = run(url, "db", "downgrade", "base")  # asks first; no answer = no
    assert refused.exit_code == 1
    assert "up to date" in ok(url, "db", "current")
    assert "base (no Pingyi tables)" in ok(url, "db", "downgrade", "base", "--yes")
    assert "NOT at head" in ok(url, "db", "current")


def test_doctor(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    missing = run(url, "doctor")
    assert missing.exit_code == 1
    assert "FAIL database: SQLite file" in missing.output
    assert not (tmp_path / "d.db").exists()
    ok(url, "db", "upgrade")
    out = ok(url, "doctor")
    assert re.findall(r"^(OK  |FAIL) (\w+):", out, re.M) == [
        ("OK  ", "config"),
        ("OK  ", "database"),
        ("OK  ", "migrations"),
    ]


def test_doctor_reports_an_unreachable_server_without_the_password() -> None:
    url = "postgresql+psycopg://pingyi:s3cret-pw@127.0.0.1:1/records"
    result = run(url, "doctor")
    assert result.exit_code == 1
    assert "FAIL database:" in result.output
    assert "FAIL migrations: not checked: database failed" in result.output
    assert "s3cret-pw" not in result.output


@pytest.mark.parametrize("broken", ["[database\nurl = 1"])
def test_doctor_reports_a_broken_config(tmp_path: Path, broken: str) -> None:
    config = tmp_path / "pingyi.toml"
    config.write_text(broken, encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(config), "doctor"])
    assert result.exit_code == 1
    assert result.output.startswith("FAIL config:")
    assert "not checked: config failed" in result.output
