"""``pingyi validate``: the shipped mappings are clean; broken copies name file:line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from sync.cli import cli
from sync.validate import Problem, validate

MAPPINGS = Path(__file__).resolve().parent.parent / "mappings"


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    target = tmp_path / "mappings"
    shutil.copytree(MAPPINGS, target)
    return target


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["validate", *args])


def edit(path: Path, old: str, new: str) -> int:
    """Replace the one line equal to ``old`` (stripped) and return its 1-based number."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if line.strip() == old]
    assert len(hits) == 1, f"{old!r} found {len(hits)} times in {path}"
    i = hits[0]
    lines[i] = lines[i].replace(old, new)
    path.write_text("".join(lines), encoding="utf-8")
    return i + 1


def problems(result: Result) -> list[dict[str, object]]:
    data = json.loads(result.stdout)
    assert isinstance(data, list)
    return data


def test_the_shipped_mappings_are_clean() -> None:
    result = run(str(MAPPINGS))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "136 units" in result.stderr
    assert "0 errors, 0 warnings" in result.stderr


def test_default_path_is_the_configs_mappings_folder(copy: Path, tmp_path: Path) -> None:
    config = tmp_path / "pingyi.toml"
    config.write_text('mappings = "mappings"\n', encoding="utf-8")
    line = edit(copy / "surveys" / "self_410004.yaml", "group: self", "group: selves")
    result = CliRunner().invoke(cli, ["--config", str(config), "validate"])
    assert result.exit_code == 1
    assert f"{copy / 'surveys' / 'self_410004.yaml'}:{line}: group: unknown respondent group" in (
        result.stdout
    )


def test_three_edits_give_three_errors_at_the_edited_lines(copy: Path) -> None:
    binding = copy / "surveys" / "community_410005.yaml"
    campaign = copy / "campaigns" / "2022.yaml"
    catalogue = copy / "catalogue.yaml"
    unit_line = edit(binding, "unit: H0101", "unit: H0199")
    weight_line = edit(campaign, "weight: 0.25", "weight: 0.15")
    code_line = edit(catalogue, "E0105: 河西区卫津路小学", "E01050: 河西区卫津路小学")

    result = run(str(copy))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert f"{binding}:{unit_line}: unit.unit: unknown unit 'H0199'" in "\n".join(lines)
    assert any(
        line.startswith(f"{catalogue}:{code_line}: ") and "'E01050'" in line for line in lines
    )
    weights = [line for line in lines if line.startswith(f"{campaign}:")]
    assert len(weights) == 1
    # reported at groups:, naming each weight with its line, the edited one among them
    assert "group weights add up to 0.9, not 1" in weights[0]
    assert f"citizens 0.15 on line {weight_line}" in weights[0]

    as_json = problems(run("--json", str(copy)))
    assert {(p["file"], p["line"]) for p in as_json if p["severity"] == "error"} >= {
        (str(binding), unit_line),
        (str(catalogue), code_line),
    }
    assert all(set(p) == {"severity", "file", "line", "key", "message", "fix"} for p in as_json)


def test_a_yaml_syntax_error_is_a_problem_not_a_traceback(copy: Path) -> None:
    bad = copy / "surveys" / "representatives_410007.yaml"
    line = edit(bad, "group: representatives", "group: [representatives")
    result = run(str(copy))
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert any(
        out.startswith(f"{bad}:") and "not valid YAML" in out for out in result.stdout.splitlines()
    )
    reported = [p for p in validate(copy) if p.file == str(bad)]
    assert len(reported) == 1
    # the flow sequence opened on the edited line is found unclosed on the next one
    assert reported[0].line == line + 1


def test_missing_folder_is_an_error_not_a_crash(tmp_path: Path) -> None:
    result = run(str(tmp_path / "nowhere"))
    assert result.exit_code == 1
    assert "catalogue file not found" in result.stdout


def _one(copy: Path, file: str, old: str, new: str) -> tuple[Problem, int]:
    path = copy / file
    line = edit(path, old, new)
    found = [p for p in validate(copy) if p.file == str(path)]
    assert len(found) == 1, [str(p) for p in found]
    return found[0], line


CASES: list[tuple[str, str, str, str, str]] = [
    # file, old line, new line, expected key, words in the message
    ("surveys/citizens_111111.yaml", "group: citizens", "group: citizen", "group", "unknown"),
    ("surveys/citizens_111111.yaml", 'campaign: "2022"', 'campaign: "2021"', "campaign", "unknown"),
    (
        "surveys/citizens_111111.yaml",
        "U0103: C0203",
        "U0103: C9203",
        "unit.code_map.U0103",
        "unknown unit",
    ),
    (
        "surveys/citizens_111111.yaml",
        "SQ004: openness           # 信息公开",
        "SQ004: openess",
        "ratings[1].subquestions.SQ004",
        "unknown dimension",
    ),
    (
        "surveys/citizens_111111.yaml",
        "- column: comment",
        "- column: overall",
        "comments[0].column",
        "used twice",
    ),
    (
        "surveys/citizens_111111.yaml",
        "column: office",
        "column: office_where_you_did_it",
        "unit.column",
        "not allowed",
    ),
    (
        "surveys/citizens_111111.yaml",
        "U0101: C0201    # 东城区政务服务中心 in the survey -> 大营门街便民服务中心",
        "U01011: C0201",
        "unit.code_map.U01011",
        "longer than 5",
    ),
    (
        "surveys/citizens_111111.yaml",
        "survey_id: 111111",
        "survey_id: 410002",
        "binding",
        "defined twice",
    ),
    (
        "surveys/taxpayers_410006.yaml",
        'answer_map: {"5": A1, "4": A2, "3": A3, "2": A4, "1": A5, "9": A6}',
        'answer_map: {"5": A1, "9": A9}',
        "ratings[0].answer_map.9",
        "not an answer",
    ),
    (
        "campaigns/2022.yaml",
        "satisfied_levels: [A1, A2, A3]",
        "satisfied_levels: [A1, A2, A7]",
        "satisfied_levels[2]",
        "not a level",
    ),
    ("campaigns/2022.yaml", "- unit: G0101", "- unit: G0199", "exempt[1].unit", "unknown unit"),
    (
        "campaigns/2022.yaml",
        "veto: []",
        "veto: [{unit: T0201, reason: 测试}]",
        "veto[0].unit",
        "both exempt and vetoed",
    ),
    (
        "campaigns/2022.yaml",
        "integrity: 0.20",
        "integrity: 0.10",
        "groups.representatives.dimension_weights",
        "add up to 0.9",
    ),
    ("campaigns/2022.yaml", "scale: five_level", "scale: seven_level", "scale", "unknown scale"),
    (
        "campaigns/2022.yaml",
        "- 2022-05-07  # 劳动节调休 (Saturday)",
        "- 2022-05-04",
        "rectification.extra_workdays[4]",
        "both a holiday",
    ),
    (
        "catalogue.yaml",
        "systems: [edu]",
        "systems: [education]",
        "dimensions.fees.systems[0]",
        "unknown system",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[3] for c in CASES])
def test_each_cross_reference_is_checked(copy: Path, case: tuple[str, str, str, str, str]) -> None:
    file, old, new, key, words = case
    path = copy / file
    text = path.read_text(encoding="utf-8")
    line = text[: text.index(old)].count("\n") + 1
    # only the first occurrence (e.g. three dimensions say "systems: [edu]")
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    # one error (a consequence may add warnings: fees then applies to no unit)
    found = [p for p in validate(copy) if p.severity == "error"]
    assert len(found) == 1, [str(p) for p in found]
    problem = found[0]
    assert problem.key == key
    assert words in problem.message
    assert problem.fix
    if key == "binding":
        # the second file read with the same (site, survey_id) is the one reported
        assert problem.file == str(copy / "surveys" / "enterprises_410002.yaml")
    elif "add up to" in words:
        # reported at the weights' mapping, naming each weight with its line
        assert problem.file == str(path)
        assert f"on line {line}" in problem.message
    else:
        assert (problem.file, problem.line) == (str(path), line)


def test_a_dimension_no_unit_can_have_is_a_warning_and_exits_0(copy: Path) -> None:
    # a hospital survey asking about 教育乱收费
    problem, line = _one(
        copy, "surveys/community_410005.yaml", "dimension: access", "dimension: fees"
    )
    assert (problem.severity, problem.line, problem.key) == (
        "warning",
        line,
        "ratings[2].dimension",
    )
    result = run(str(copy))
    assert result.exit_code == 0
    assert f":{line}: warning: ratings[2].dimension: dimension 'fees' (教育乱收费)" in result.stdout


def test_a_duplicate_key_in_one_file_names_both_lines(copy: Path) -> None:
    path = copy / "catalogue.yaml"
    text = path.read_text(encoding="utf-8")
    first = text[: text.index("      H0102: ")].count("\n") + 1
    text = text.replace("      H0103: 河西区妇幼保健院", "      H0102: 河西区妇幼保健院")
    path.write_text(text, encoding="utf-8")
    found = [p for p in validate(copy) if p.file == str(path)]
    assert found[0].line == first + 1
    assert f"duplicate key 'H0102' (first on line {first})" in found[0].message


def test_a_unit_code_in_two_systems_is_a_duplicate(copy: Path) -> None:
    problem, line = _one(copy, "catalogue.yaml", "G0206: 河西邮政营业所", "E0101: 河西邮政营业所")
    assert problem.line == line
    assert "duplicate unit code 'E0101'" in problem.message
    assert "system 'edu'" in problem.message


def test_a_binding_for_a_site_not_configured_is_a_warning(copy: Path, tmp_path: Path) -> None:
    config = tmp_path / "pingyi.toml"
    config.write_text(
        'mappings = "mappings"\n[[sites]]\nname = "district"\nurl = "http://127.0.0.1/x"\n'
        'user = "admin"\n',
        encoding="utf-8",
    )
    line = edit(copy / "surveys" / "self_410004.yaml", "site: district", "site: city")
    result = CliRunner().invoke(cli, ["--config", str(config), "validate"])
    assert result.exit_code == 0, result.output
    assert f"self_410004.yaml:{line}: warning: site: no site 'city'" in result.stdout
    assert "1 warning" in result.stderr
