"""The demo district's catalogue: what it holds, where each thing was written, and that
every byte of its Chinese text survives YAML -> model -> JSON."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from sync.catalogue import Campaign, Unit, _validate, load, load_catalogue, public_json
from sync.cli import cli
from sync.errors import InputError
from sync.yamlsource import load_yaml, parse_yaml

MAPPINGS = Path(__file__).resolve().parent.parent / "mappings"
JI = "𠮷"  # U+20BB7, four bytes in UTF-8


@pytest.fixture(scope="module")
def catalogue_lines() -> list[str]:
    return (MAPPINGS / "catalogue.yaml").read_text(encoding="utf-8").splitlines()


def line_of_text(lines: list[str], text: str) -> int:
    hits = [i + 1 for i, line in enumerate(lines) if line.strip().startswith(text)]
    assert len(hits) == 1
    return hits[0]


def test_nine_systems_and_136_units_as_in_the_speech() -> None:
    cat = load_catalogue(MAPPINGS)
    assert len(cat.systems) == 9
    assert len(cat.units) == 136
    assert all(cat.units_of(code) for code in cat.systems)
    assert all(len(code) <= 5 for code in cat.units)
    names = {u.name for u in cat.units.values()}
    # named in the speech: 区房管局, 国税第一税务所, 地税河西分局
    assert {"河西区房地产管理局", "河西区国家税务局第一税务所", "天津市地方税务局河西分局"} <= names
    assert set(cat.groups) == {
        "self",
        "community",
        "citizens",
        "enterprises",
        "taxpayers",
        "supervisors",
        "representatives",
    }
    assert cat.dimensions["fees"].applies_to("edu")
    assert not cat.dimensions["fees"].applies_to("health")
    assert cat.dimensions["overall"].applies_to("health")


def test_the_2022_campaign() -> None:
    cat = load_catalogue(MAPPINGS)
    camp = cat.campaigns["2022"]
    scale = cat.scales[camp.scale]
    assert [lv.points for lv in scale.by_rank()] == [100, 80, 60, 30, 0]
    assert [ex.code for ex in scale.excluded] == ["A6"]
    assert camp.satisfied(scale) == ("A1", "A2", "A3")
    assert camp.dissatisfied(scale) == ("A4", "A5")
    assert sum(g.weight for g in camp.groups.values()) == pytest.approx(1)
    for rule in camp.groups.values():
        assert sum(rule.dimension_weights.values()) == pytest.approx(1)
    assert camp.group_min_sample("citizens") == 50
    assert camp.group_min_sample("enterprises") == camp.min_sample == 30
    exempt = camp.exempt_units()
    assert len(exempt) == 3
    assert cat.units["T0201"].name == "天津市地方税务局河西分局"
    assert "T0201" in exempt
    assert camp.vetoed_units() == {}
    rect = camp.rectification
    assert rect.deadline_working_days == 15
    assert all(day.weekday() >= 5 for day in rect.extra_workdays)
    assert not set(rect.holidays) & set(rect.extra_workdays)
    assert (camp.grades.advanced_min, camp.grades.passing_min) == (75, 60)


def test_defaults_when_the_levels_are_not_listed() -> None:
    cat = load_catalogue(MAPPINGS)
    camp = cat.campaigns["2022"].model_copy(
        update={"satisfied_levels": (), "dissatisfied_levels": ()}
    )
    scale = cat.scales["five_level"]
    assert camp.satisfied(scale) == ("A1", "A2", "A3")
    assert camp.dissatisfied(scale) == ("A4", "A5")


def test_every_object_remembers_where_it_was_written(catalogue_lines: list[str]) -> None:
    cat = load_catalogue(MAPPINGS)
    unit = cat.units["C0301"]
    assert unit.where.file == str(MAPPINGS / "catalogue.yaml")
    assert unit.where.line == line_of_text(catalogue_lines, "C0301:")
    assert cat.units["H0101"].where.line == line_of_text(catalogue_lines, "H0101:")
    binding = cat.bindings[("district", 111111)]
    assert binding.where.file == str(MAPPINGS / "surveys" / "citizens_111111.yaml")
    text = (MAPPINGS / "surveys" / "citizens_111111.yaml").read_text(encoding="utf-8")
    assert binding.line_at("survey_id") == text.splitlines().index("survey_id: 111111") + 1
    # where is not part of what a thing is
    assert unit == Unit(code="C0301", name=unit.name, system="civil", street=unit.street)


def test_four_byte_chinese_survives_yaml_model_and_json_byte_for_byte(tmp_path: Path) -> None:
    raw = (MAPPINGS / "catalogue.yaml").read_bytes()
    name = "𠮷庆里社区服务站"
    assert name.encode("utf-8") in raw
    assert JI.encode("utf-8") == b"\xf0\xa0\xae\xb7"
    cat = load_catalogue(MAPPINGS)
    assert cat.units["C0301"].name.encode("utf-8") == name.encode("utf-8")
    served = json.dumps(public_json(cat), ensure_ascii=False).encode("utf-8")
    assert name.encode("utf-8") in served
    assert {"code": "C0301", "name": name, "system": "civil"} in json.loads(served)["units"]

    # and through `pingyi validate --json`: a warning that names the unit
    copy = tmp_path / "mappings"
    shutil.copytree(MAPPINGS, copy)
    campaign = copy / "campaigns" / "2022.yaml"
    others = [s for s in cat.systems if s != "civil"]
    text = campaign.read_text(encoding="utf-8")
    campaign.write_text(text.replace("systems: []", f"systems: [{', '.join(others)}]"), "utf-8")
    binding = copy / "surveys" / "community_410005.yaml"
    binding.write_text(
        binding.read_text(encoding="utf-8").replace("unit: H0101", "unit: C0301"), "utf-8"
    )
    result = CliRunner().invoke(cli, ["validate", "--json", str(copy)])
    assert result.exit_code == 0, result.output
    assert name.encode("utf-8") in result.stdout_bytes
    messages = [p["message"] for p in json.loads(result.stdout_bytes.decode("utf-8"))]
    assert any(f"'C0301' ({name})" in m for m in messages)


def test_public_json_keeps_the_files_order() -> None:
    cat = load_catalogue(MAPPINGS)
    data = public_json(cat)
    assert [u["code"] for u in data["units"]][:3] == ["E0101", "E0102", "E0103"]
    assert data["name"] == "天津市河西区"
    assert data["campaigns"] == [
        {
            "code": "2022",
            "name": "2022年度河西区民主评议政风行风",
            "year": 2022,
            "scale": "five_level",
            "groups": list(cat.campaigns["2022"].groups),
            "systems": [],
        }
    ]
    assert data["scales"][0]["levels"][1] == {
        "code": "A2",
        "label": "满意",
        "points": 80,
        "rank": 4,
    }
    json.dumps(data)  # plain JSON types only


def test_load_catalogue_raises_at_the_first_error_and_counts_the_rest(tmp_path: Path) -> None:
    copy = tmp_path / "mappings"
    shutil.copytree(MAPPINGS, copy)
    path = copy / "surveys" / "self_410004.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("group: self", "group: selves").replace("SQ008: rectification", "SQ008: x")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_catalogue(copy)
    err = info.value
    assert err.where.file == str(path)
    assert err.where.line == text.splitlines().index("group: selves") + 1
    assert "unknown respondent group 'selves'" in str(err)
    assert "1 more: run pingyi validate" in str(err)


def test_an_unquoted_campaign_code_is_refused_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "2023.yaml"
    path.write_text(
        "code: 2023\nname: 测试\nyear: 2023\nscale: five_level\ngroups: {}\n", encoding="utf-8"
    )
    errors: list[InputError] = []
    assert _validate(Campaign, load_yaml(path), str(path), (), errors) is None
    assert [(e.where.line, e.where.key) for e in errors] == [(1, "code")]
    assert "quote it" in errors[0].fix


def test_yaml_problems_are_input_errors_with_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(InputError) as dup:
        parse_yaml("units:\n  E0101: 甲\n  E0101: 乙\n", "c.yaml")
    assert (dup.value.where.file, dup.value.where.line) == ("c.yaml", 3)
    assert "first on line 2" in str(dup.value)

    with pytest.raises(InputError) as syntax:
        parse_yaml("a: 1\n\tb: 2\n", "t.yaml")
    assert syntax.value.where.line == 2

    gbk = tmp_path / "gbk.yaml"
    gbk.write_bytes("a: 1\nname: 河西区\n".encode("gbk"))
    with pytest.raises(InputError) as enc:
        load_yaml(gbk)
    assert enc.value.where.line == 2
    assert "UTF-8" in str(enc.value)

    bom = tmp_path / "bom.yaml"
    bom.write_bytes(f"name: {JI}😀\n".encode("utf-8-sig"))
    assert load_yaml(bom) == {"name": f"{JI}😀"}


def test_a_missing_catalogue_is_an_input_error(tmp_path: Path) -> None:
    loaded = load(tmp_path)
    assert [e.problem for e in loaded.errors] == ["catalogue file not found"]
    with pytest.raises(InputError, match="catalogue file not found"):
        load_catalogue(tmp_path)
