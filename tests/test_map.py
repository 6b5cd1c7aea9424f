"""map_row: one exported row through a binding and the catalogue (pure, no I/O)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.bindings import Binding
from sync.catalogue import Catalogue
from sync.errors import ConfigError
from sync.limesurvey import ExportRow
from sync.map import Mapped, Rejected, map_row, token_hash
from tests.syncdata import BINDING_DOC, make_binding, make_catalogue, make_row


@pytest.fixture
def catalogue() -> Catalogue:
    return make_catalogue()


@pytest.fixture
def binding() -> Binding:
    return make_binding()


def mapped(row: ExportRow, binding: Binding, catalogue: Catalogue, **kw: Any) -> Mapped:
    out = map_row(row, binding, catalogue, token_key=kw.get("token_key"))
    assert isinstance(out, Mapped), out
    return out


def rejected(row: ExportRow, binding: Binding, catalogue: Catalogue) -> Rejected:
    out = map_row(row, binding, catalogue, token_key=None)
    assert isinstance(out, Rejected), out
    return out


def test_a_full_row_maps_every_rating_and_comment(catalogue: Catalogue, binding: Binding) -> None:
    out = mapped(make_row(7), binding, catalogue)
    assert out.response.unit == "U0101"
    assert out.response.campaign == "2022"
    assert out.response.group == "citizens"
    assert out.response.response_id == 7
    assert out.response.survey_id == 111111
    by_item = {o.item: o for o in out.observations}
    assert set(by_item) == {"overall", "detail[SQ001]", "detail[SQ002]"}
    assert by_item["overall"].dimension == "overall"
    assert by_item["detail[SQ001]"].dimension == "attitude"
    assert by_item["overall"].points == 100.0
    assert by_item["overall"].satisfied
    assert not by_item["overall"].dissatisfied
    assert [c.text for c in out.comments] == ["办事很快，工作人员态度好。"]


@pytest.mark.parametrize(
    ("code", "points", "satisfied", "dissatisfied"),
    [
        ("A1", 100.0, True, False),
        ("A2", 80.0, True, False),
        ("A3", 60.0, True, False),
        ("A4", 30.0, False, True),
        ("A5", 0.0, False, True),
    ],
)
def test_levels_give_points_and_satisfaction(
    code: str,
    points: float,
    satisfied: bool,
    dissatisfied: bool,
) -> None:
    out = mapped(make_row(1, overall=code), make_binding(), make_catalogue())
    obs = next(o for o in out.observations if o.item == "overall")
    assert (obs.raw_code, obs.level, obs.points) == (code, code, points)
    assert (obs.counted, obs.satisfied, obs.dissatisfied) == (True, satisfied, dissatisfied)


def test_dont_know_is_stored_not_counted(catalogue: Catalogue, binding: Binding) -> None:
    out = mapped(make_row(1, overall="A6"), binding, catalogue)
    obs = next(o for o in out.observations if o.item == "overall")
    assert obs.raw_code == "A6"
    assert obs.counted is False
    assert obs.points is None
    assert obs.level is None
    assert not obs.satisfied
    assert not obs.dissatisfied


@pytest.mark.parametrize("blank", [None, ""])
def test_unanswered_rating_is_no_observation(
    catalogue: Catalogue, binding: Binding, blank: str | None
) -> None:
    out = mapped(make_row(1, overall=blank), binding, catalogue)
    assert "overall" not in {o.item for o in out.observations}
    assert len(out.observations) == 2


@pytest.mark.parametrize("blank", [None, "", "  \n"])
def test_empty_comment_is_no_comment(
    catalogue: Catalogue, binding: Binding, blank: str | None
) -> None:
    assert mapped(make_row(1, comment=blank), binding, catalogue).comments == []


def test_comment_bytes_survive(catalogue: Catalogue, binding: Binding) -> None:
    text = "排队两个小时😡，名字里有𠮷字的系统打不出来！\n第二行：“引号”、<b>标签</b>、 "
    out = mapped(make_row(1, comment=text), binding, catalogue)
    assert out.comments[0].text.encode("utf-8") == text.encode("utf-8")


def test_unknown_unit_names_column_survey_response_and_fix(
    catalogue: Catalogue, binding: Binding
) -> None:
    out = rejected(make_row(7, office="X9"), binding, catalogue)
    assert out.reason_code == "unknown_unit"
    assert "'X9'" in out.reason
    assert "column office" in out.reason
    assert "survey 111111 response 7" in out.reason
    assert "catalogue.yaml" in out.reason
    assert "unit.code_map" in out.reason
    assert out.detail["code"] == "X9"
    assert out.detail["response_id"] == 7


def test_unit_code_map(catalogue: Catalogue) -> None:
    doc = dict(BINDING_DOC)
    doc["unit"] = {"source": "question", "column": "office", "code_map": {"1": "U0102"}}
    binding = make_binding(doc)
    out = mapped(make_row(1, office="1"), binding, catalogue)
    assert out.response.unit == "U0102"
    # an unmapped code that is a unit code still works
    assert mapped(make_row(2, office="U0101"), binding, catalogue).response.unit == "U0101"


def test_fixed_unit_needs_no_column(catalogue: Catalogue) -> None:
    doc = dict(BINDING_DOC)
    doc["unit"] = {"source": "fixed", "unit": "U0201"}
    binding = make_binding(doc)
    row = make_row(1)
    answers = {k: v for k, v in row.answers.items() if k != "office"}
    out = mapped(row._replace(answers=answers), binding, catalogue)
    assert out.response.unit == "U0201"


@pytest.mark.parametrize("blank", [None, ""])
def test_unanswered_unit_is_no_unit(
    catalogue: Catalogue, binding: Binding, blank: str | None
) -> None:
    out = rejected(make_row(3, office=blank), binding, catalogue)
    assert out.reason_code == "no_unit"
    assert "response 3" in out.reason


def test_unknown_answer_code(catalogue: Catalogue, binding: Binding) -> None:
    out = rejected(make_row(4, {"detail[SQ002]": "A9"}), binding, catalogue)
    assert out.reason_code == "unknown_answer"
    assert "'A9'" in out.reason
    assert "detail[SQ002]" in out.reason
    assert "answer_map" in out.reason


def test_answer_map(catalogue: Catalogue) -> None:
    doc = dict(BINDING_DOC)
    doc["ratings"] = [
        {"column": "overall", "dimension": "overall", "answer_map": {"B1": "A1", "B9": "A6"}}
    ]
    binding = make_binding(doc)
    out = mapped(make_row(1, overall="B1"), binding, catalogue)
    assert (out.observations[0].raw_code, out.observations[0].level) == ("B1", "A1")
    assert out.observations[0].points == 100.0
    dont_know = mapped(make_row(1, overall="B9"), binding, catalogue).observations[0]
    assert dont_know.counted is False


def test_missing_column(catalogue: Catalogue, binding: Binding) -> None:
    row = make_row(5)
    answers = {k: v for k, v in row.answers.items() if k != "detail[SQ001]"}
    out = rejected(row._replace(answers=answers), binding, catalogue)
    assert out.reason_code == "missing_column"
    assert "detail[SQ001]" in out.reason


def test_missing_comment_column(catalogue: Catalogue, binding: Binding) -> None:
    row = make_row(5)
    answers = {k: v for k, v in row.answers.items() if k != "comment"}
    assert rejected(row._replace(answers=answers), binding, catalogue).reason_code == (
        "missing_column"
    )


def test_unit_outside_campaign(catalogue: Catalogue, binding: Binding) -> None:
    out = rejected(make_row(6, office="U0901"), binding, catalogue)
    assert out.reason_code == "unit_outside_campaign"
    assert "U0901" in out.reason


def test_private_and_personal_columns_never_copied(catalogue: Catalogue, binding: Binding) -> None:
    row = make_row(1, phone="13800000000", ipaddr="10.1.2.3", email="a@b.cn")
    out = mapped(row._replace(token="tok-secret"), binding, catalogue)
    blob = repr(out)
    for secret in ("13800000000", "10.1.2.3", "a@b.cn", "tok-secret"):
        assert secret not in blob
    assert out.response.token_hash is None


def test_token_is_kept_only_as_keyed_hash(catalogue: Catalogue) -> None:
    doc = dict(BINDING_DOC)
    doc["token"] = "hash"
    binding = make_binding(doc)
    row = make_row(1)._replace(token="tok-secret")
    out = mapped(row, binding, catalogue, token_key=b"k1")
    assert out.response.token_hash == token_hash("tok-secret", b"k1")
    assert "tok-secret" not in repr(out)
    other = mapped(row, binding, catalogue, token_key=b"k2")
    assert other.response.token_hash != out.response.token_hash
    with pytest.raises(ConfigError, match="token"):
        map_row(row, binding, catalogue, token_key=None)


def test_hash_is_stable_and_sees_every_edit(catalogue: Catalogue, binding: Binding) -> None:
    base = mapped(make_row(1), binding, catalogue)
    assert (make_row(1).answers["overall"], make_row(1).answers["office"]) == ("A2", "U0102")
    assert mapped(make_row(1), binding, catalogue).content_hash == base.content_hash
    edits: list[dict[str, Any]] = [
        {"overall": "A5"},
        {"comment": "改了"},
        {"office": "U0201"},
        {"detail[SQ002]": None},
    ]
    hashes = {mapped(make_row(1, e), binding, catalogue).content_hash for e in edits}
    assert base.content_hash not in hashes
    assert len(hashes) == len(edits)
    later = make_row(1)._replace(submitted_at=dt.datetime(2024, 3, 2, 1, 0, tzinfo=dt.UTC))
    assert mapped(later, binding, catalogue).content_hash != base.content_hash


def test_hash_ignores_columns_the_binding_does_not_name(
    catalogue: Catalogue, binding: Binding
) -> None:
    a = mapped(make_row(1, phone="1"), binding, catalogue)
    b = mapped(make_row(1, phone="2"), binding, catalogue)
    assert a.content_hash == b.content_hash


CODES = st.sampled_from(["A1", "A2", "A3", "A4", "A5", "A6", "", None])


@settings(max_examples=200, deadline=None)
@given(
    overall=CODES,
    sq1=CODES,
    sq2=CODES,
    comment=st.one_of(st.none(), st.text(max_size=30)),
    office=st.sampled_from(["U0101", "U0102", "U0201", "X", "", None, "U0901"]),
)
def test_map_row_properties(
    overall: str | None, sq1: str | None, sq2: str | None, comment: str | None, office: str | None
) -> None:
    catalogue, binding = make_catalogue(), make_binding()
    row = make_row(
        9,
        {"detail[SQ001]": sq1, "detail[SQ002]": sq2},
        overall=overall,
        office=office,
        comment=comment,
    )
    out = map_row(row, binding, catalogue, token_key=None)
    assert out == map_row(row, binding, catalogue, token_key=None)  # pure
    if office not in ("U0101", "U0102", "U0201"):
        assert isinstance(out, Rejected)
        return
    assert isinstance(out, Mapped)
    answered = {"overall": overall, "detail[SQ001]": sq1, "detail[SQ002]": sq2}
    assert {o.item for o in out.observations} == {k for k, v in answered.items() if v}
    for obs in out.observations:
        assert obs.counted == (obs.raw_code != "A6")
        assert obs.counted == (obs.points is not None)
        assert not (obs.satisfied and obs.dissatisfied)
        assert obs.satisfied or obs.dissatisfied or not obs.counted
    assert len(out.comments) == (1 if comment and comment.strip() else 0)
    if out.comments:
        assert out.comments[0].text == comment


def test_an_unknown_answer_points_at_the_rating_entry_to_fix() -> None:
    """The reason names the line of the binding's rating entry, where an answer_map goes,
    not the top of the file."""
    from pathlib import Path

    from sync.catalogue import load_catalogue

    mappings = Path(__file__).resolve().parent.parent / "mappings"
    catalogue = load_catalogue(mappings)
    binding = next(b for b in catalogue.bindings.values() if b.survey_id == 410006)
    path = mappings / "surveys" / "taxpayers_410006.yaml"
    line = 1 + next(
        i
        for i, text in enumerate(path.read_text(encoding="utf-8").splitlines())
        if text.strip().startswith("- question: tax")
    )
    cells: dict[str, str | None] = dict.fromkeys(binding.columns())
    cells[next(iter(binding.columns() & {"unit", "office"}), "unit")] = "T0101"
    cells["tax[SQ001]"] = "0"
    out = rejected(make_row(9, cells), binding, catalogue)
    assert out.reason_code == "unknown_answer"
    assert f"taxpayers_410006.yaml:{line}" in out.reason, out.reason
