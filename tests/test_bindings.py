"""The binding document: model, shorthand expansion, JSON Schema in step with the model."""

from __future__ import annotations

import json

import jsonschema
import pytest
from pydantic import ValidationError

from sync.bindings import SCHEMA_PATH, Binding, RatingItem, binding_schema, schema_text

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
