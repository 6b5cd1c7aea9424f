"""write_lss: a SurveySpec as a LimeSurvey .lss that parse_lss (and LimeSurvey 6.2.1's own
import, checked by hand: docs/real-limesurvey-check.md) reads back; and bench.seed's
response-table columns from RC2 list_questions."""

from __future__ import annotations

from dataclasses import replace

from pydantic import SecretStr

from bench import common
from bench.seed import columns_by_code, inserts
from sync.config import SiteConfig
from sync.limesurvey import LimeSurveyClient
from sync.testing.double import LimeSurveyDouble
from sync.testing.lss import DEFAULT_THEMES, parse_lss, write_lss
from sync.testing.samples import satisfaction_survey
from sync.testing.spec import SurveySpec


def _themed(spec: SurveySpec) -> SurveySpec:
    """``spec`` with every question's theme as write_lss fills an unset one."""
    groups = [
        replace(
            g,
            questions=[
                replace(q, theme=q.theme or DEFAULT_THEMES.get(q.type)) for q in g.questions
            ],
        )
        for g in spec.groups
    ]
    return replace(spec, groups=groups)


def test_the_benchmark_survey_goes_round_trip() -> None:
    spec = replace(common.survey(common.catalogue()).spec, sid=900002)
    text = write_lss(spec)
    back = parse_lss(text)
    assert (back.sid, back.title, back.language) == (900002, spec.title, spec.language)
    assert back.groups == _themed(spec).groups
    assert "𠮷庆里社区服务站" in text  # a 4-byte character as itself
    assert len(back.groups[0].questions[0].answers) == 136


def test_the_sample_survey_goes_round_trip_with_attributes() -> None:
    spec = satisfaction_survey(111112)
    back = parse_lss(write_lss(spec))
    assert back.groups == _themed(spec).groups
    assert (back.anonymized, back.datestamp) == (spec.anonymized, spec.datestamp)


def test_seed_names_the_response_table_columns_from_list_questions() -> None:
    """The double imports the .lss like LimeSurvey (its own question ids) and answers
    list_questions like 6.2.1: every export heading gets its SGQA column, the array's own
    row none."""
    spec = replace(common.survey(common.catalogue()).spec, sid=900003)
    double = LimeSurveyDouble(users={"admin": "pw"})
    sid = double.import_lss(write_lss(spec).encode())
    with double.serve() as url:
        site = SiteConfig(name="bench", url=url, user="admin")
        with LimeSurveyClient(site, SecretStr("pw")) as client:
            questions = client.rpc("list_questions", sid)
    columns = columns_by_code(questions, sid)
    headings = {"unit", "overall", "comment", "phone"} | {f"q[SQ{i:03d}]" for i in range(1, 10)}
    assert set(columns) == headings
    by_title = {q["title"]: q for q in questions if int(q["parent_qid"]) == 0}
    array = by_title["q"]
    assert columns["q[SQ004]"] == f"{sid}X{array['gid']}X{array['qid']}SQ004"
    assert columns["unit"] == f"{sid}X{by_title['unit']['gid']}X{by_title['unit']['qid']}"
    first = next(inserts(f"lime_survey_{sid}", columns, 3))
    assert first.count("\n(") == 3
    assert "'2022-03-01 10:00:00'" in first
