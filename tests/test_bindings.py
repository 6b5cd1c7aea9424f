"""The binding document: model, shorthand expansion, JSON Schema in step with the model."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from pydantic import ValidationError

import sync.bindings as bindings_mod
from sync.bindings import (
    SCHEMA_PATH,
    Binding,
    QuestionUnit,
    RatingItem,
    binding_schema,
    schema_text,
)
from sync.yamlsource import load_yaml

DOC = {
    "version": 1,
    "site": "district",
    "survey_id": 111111,
    "campaign": "2022",
    "group": "citizens",
    "title": "群众满意度调查 𠮷",
    "unit": {"source": "question", "column": "office", "code_map": {"U0101": "G0101"}},
    "ratings": [
        {"column": "overall", "dimension": "overall"},
        {"question": "detail", "subquestions": {"SQ001": "efficiency", "SQ002": "attitude"}},
    ],
    "comments": [{"column": "comment"}],
    "private": ["phone"],
}


def test_schema_file_is_what_the_model_generates() -> None:
    # if this fails: python -m sync.bindings --write-schema, and commit the file
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text()
    assert json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))["title"] == "Binding"


def test_rating_items_expand_the_array_shorthand_in_order() -> None:
    binding = Binding.model_validate(DOC)
    assert binding.rating_items() == [
        RatingItem("overall", "overall"),
        RatingItem("detail[SQ001]", "efficiency"),
        RatingItem("detail[SQ002]", "attitude"),
    ]
    assert binding.columns() == {
        "office",
        "overall",
        "detail[SQ001]",
        "detail[SQ002]",
        "comment",
        "phone",
    }
    assert binding.key == ("district", 111111)
    assert binding.title == "群众满意度调查 𠮷"


def test_fixed_unit_names_no_unit_column() -> None:
    doc = {**DOC, "unit": {"source": "fixed", "unit": "H0101"}}
    binding = Binding.model_validate(doc)
    assert "office" not in binding.columns()


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"unit": {"source": "fixed", "unit": "H01011"}}, ("unit", "unit")),
        ({"unit": {"source": "list", "column": "office"}}, ("unit",)),
        (
            {"ratings": [{"column": "a_question_code_longer_than_20", "dimension": "x"}]},
            ("ratings", 0, "column"),
        ),
        ({"token": "keep"}, ("token",)),
        ({"ip": "1.2.3.4"}, ("ip",)),
    ],
)
def test_bad_documents_are_refused_by_model_and_schema(
    change: dict[str, object], where: tuple[object, ...]
) -> None:
    doc = {**DOC, **change}
    with pytest.raises(ValidationError) as info:
        Binding.model_validate(doc)
    locs = [
        tuple(p for p in e["loc"] if not str(p).startswith(("unit-", "rating-")))
        for e in info.value.errors()
    ]
    assert where in locs
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, binding_schema())


def test_schema_accepts_the_model_dump() -> None:
    binding = Binding.model_validate(DOC)
    jsonschema.validate(binding.model_dump(mode="json"), binding_schema())
    assert Binding.model_validate(binding.model_dump(mode="json")) == binding


MAPPINGS = Path(__file__).resolve().parent.parent / "mappings"


@pytest.mark.parametrize(
    "path", sorted((MAPPINGS / "surveys").glob("*.yaml")), ids=lambda p: p.name
)
def test_every_example_binding_is_valid_json_for_the_schema(path: Path) -> None:
    # what the plugin would serve: the same document as JSON
    document = json.loads(json.dumps(load_yaml(path), ensure_ascii=False))
    jsonschema.validate(document, binding_schema())
    binding = Binding.model_validate(document)
    assert binding.rating_items(), "every example rates something"


def test_the_captured_survey_111111_binding_names_its_real_columns() -> None:
    binding = Binding.model_validate(load_yaml(MAPPINGS / "surveys" / "citizens_111111.yaml"))
    # export headings of the capture (limesurvey-6.2.1/README.md)
    assert binding.columns() == {
        "office",
        "overall",
        "detail[SQ001]",
        "detail[SQ002]",
        "detail[SQ003]",
        "detail[SQ004]",
        "comment",
        "phone",
    }
    assert isinstance(binding.unit, QuestionUnit)
    assert sorted(binding.unit.code_map) == [f"U010{i}" for i in range(1, 7)]
    assert binding.private == ("phone",)


def test_write_schema_regenerates_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "schema" / "binding.schema.json"
    monkeypatch.setattr(bindings_mod, "SCHEMA_PATH", target)
    assert bindings_mod.main(["--check-schema"]) == 1
    assert bindings_mod.main(["--write-schema"]) == 0
    assert bindings_mod.main(["--check-schema"]) == 0
    assert target.read_bytes() == schema_text().encode("utf-8")
