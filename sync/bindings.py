"""The binding document: what the columns of one LimeSurvey survey mean.

One schema, two authors: a YAML file in ``mappings/surveys/`` (``source: yaml``) or the
LimeSurvey plugin's manifest (``source: plugin``, JSON validated with
``Binding.model_validate``). ``sync/schema/binding.schema.json`` is generated from
``Binding`` (``python -m sync.bindings --write-schema``) so the PHP plugin's tests check
their output against the same rules; a test keeps the file and the model in step.

Limits come from LimeSurvey 6.2.1: answer option codes (so unit codes chosen from a list
question) are at most 5 characters, question and subquestion codes at most 20.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag

from sync.yamlsource import LENGTH_HELP, PATTERN_HELP, UNION_TAGS, Located

SCHEMA_PATH = Path(__file__).parent / "schema" / "binding.schema.json"
SCHEMA_ID = "https://pingyi.invalid/schema/binding.schema.json"

ANSWER_RE = r"^[A-Za-z0-9]+$"
QUESTION_RE = r"^[A-Za-z_][A-Za-z0-9_]*$"
COLUMN_RE = r"^[A-Za-z_][A-Za-z0-9_]{0,19}(\[[A-Za-z0-9_#]{1,41}\])?$"
CODE_RE = r"^[A-Za-z0-9_.-]+$"

#: a LimeSurvey answer option code: unit codes and scale level codes are these
AnswerCode = Annotated[str, Field(min_length=1, max_length=5, pattern=ANSWER_RE)]
#: a LimeSurvey question or subquestion code
QuestionCode = Annotated[str, Field(min_length=1, max_length=20, pattern=QUESTION_RE)]
#: an export heading (``code`` headings): ``question`` or ``question[SUBQUESTION]``
Column = Annotated[str, Field(min_length=1, max_length=64, pattern=COLUMN_RE)]
#: a code in the catalogue (dimension, group, scale, campaign, system)
Code = Annotated[str, Field(min_length=1, max_length=40, pattern=CODE_RE)]
SiteName = Annotated[str, Field(min_length=1, pattern=CODE_RE)]

UNION_TAGS.update({"unit-question", "unit-fixed", "rating-column", "rating-array"})
PATTERN_HELP.update(
    {
        ANSWER_RE: "a LimeSurvey answer code: letters and digits only, e.g. E0101 or A1",
        QUESTION_RE: "a LimeSurvey question code: a letter first, then letters, digits or _",
        COLUMN_RE: "an export heading: QUESTION or QUESTION[SUBQUESTION], the question code"
        " a letter first and at most 20 characters (LimeSurvey's limit)",
        CODE_RE: "a code: ASCII letters, digits, _ . - only (names may be Chinese, codes not)",
    }
)
LENGTH_HELP.update(
    {
        5: "LimeSurvey answer option codes are at most 5 characters, and a unit picked from a"
        " list question is one: shorten it (e.g. E0101) or map it with code_map",
        20: "LimeSurvey question codes are at most 20 characters: shorten it",
    }
)


class QuestionUnit(Located):
    """The unit is the answer to a list question (answer code = unit code, or mapped)."""

    source: Literal["question"]
    column: Column
    #: answer code -> unit code, for surveys whose answer codes are not unit codes
    code_map: dict[AnswerCode, AnswerCode] = Field(default_factory=dict)


class FixedUnit(Located):
    """Every response of the survey rates one unit (e.g. a survey handed out at its window)."""

    source: Literal["fixed"]
    unit: AnswerCode


def _unit_tag(value: Any) -> str | None:
    source = value.get("source") if isinstance(value, dict) else getattr(value, "source", None)
    return {"question": "unit-question", "fixed": "unit-fixed"}.get(str(source))


UnitSource = Annotated[
    Annotated[QuestionUnit, Tag("unit-question")] | Annotated[FixedUnit, Tag("unit-fixed")],
    Discriminator(
        _unit_tag,
        custom_error_type="unit_source",
        custom_error_message="unit.source must be 'question' or 'fixed'",
    ),
]


class RatingColumn(Located):
    """One export column rates one dimension."""

    column: Column
    dimension: Code
    #: default: the campaign's scale
    scale: Code | None = None
    #: answer code -> scale level code, for questions whose codes are not the scale's
    answer_map: dict[AnswerCode, AnswerCode] = Field(default_factory=dict)


class RatingArray(Located):
    """Shorthand for an array question: each subquestion rates one dimension."""

    question: QuestionCode
    subquestions: Annotated[dict[QuestionCode, Code], Field(min_length=1)]
    scale: Code | None = None
    answer_map: dict[AnswerCode, AnswerCode] = Field(default_factory=dict)


def _rating_tag(value: Any) -> str:
    if isinstance(value, dict):
        return "rating-array" if "question" in value else "rating-column"
    return "rating-array" if isinstance(value, RatingArray) else "rating-column"


Rating = Annotated[
    Annotated[RatingColumn, Tag("rating-column")] | Annotated[RatingArray, Tag("rating-array")],
    Discriminator(_rating_tag),
]


class CommentColumn(Located):
    """Free text kept as a comment (it goes with the rater's bad ratings into the ledger)."""

    column: Column
    dimension: Code | None = None


@dataclass(frozen=True)
class RatingItem:
    """One export column that rates one dimension (array shorthand expanded)."""

    column: str
    dimension: str
    scale: str | None = None
    answer_map: Mapping[str, str] = field(default_factory=dict)


class Binding(Located):
    """How one survey's export columns map onto the catalogue."""

    version: Literal[1] = 1
    #: a site name from pingyi.toml
    site: SiteName
    survey_id: Annotated[int, Field(gt=0)]
    campaign: Code
    #: respondent group code
    group: Code
    #: informational
    title: str | None = None
    unit: UnitSource
    ratings: tuple[Rating, ...] = ()
    comments: tuple[CommentColumn, ...] = ()
    #: columns never copied (ip, referrer, e-mail and token are never copied anyway)
    private: tuple[Column, ...] = ()
    #: "hash" keeps a keyed hash of the token to detect duplicate submissions
    token: Literal["drop", "hash"] = "drop"
    #: who wrote the binding; a YAML file pins a survey and wins over the plugin
    source: Literal["yaml", "plugin"] = "yaml"

    @property
    def key(self) -> tuple[str, int]:
        return (self.site, self.survey_id)

    def rating_items(self) -> list[RatingItem]:
        """Every rated column, in document order, array questions expanded to
        ``question[SUBQUESTION]`` columns."""
        items: list[RatingItem] = []
        for rating in self.ratings:
            if isinstance(rating, RatingArray):
                items.extend(
                    RatingItem(
                        column=f"{rating.question}[{sub}]",
                        dimension=dimension,
                        scale=rating.scale,
                        answer_map=dict(rating.answer_map),
                    )
                    for sub, dimension in rating.subquestions.items()
                )
            else:
                items.append(
                    RatingItem(
                        column=rating.column,
                        dimension=rating.dimension,
                        scale=rating.scale,
                        answer_map=dict(rating.answer_map),
                    )
                )
        return items

    def columns(self) -> set[str]:
        """Every export column the binding names (unit, ratings, comments, private)."""
        out = {item.column for item in self.rating_items()}
        out.update(c.column for c in self.comments)
        out.update(self.private)
        if isinstance(self.unit, QuestionUnit):
            out.add(self.unit.column)
        return out


def binding_schema() -> dict[str, Any]:
    """The JSON Schema of the binding document, as the plugin must emit it."""
    schema = Binding.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
    }


def schema_text() -> str:
    """The exact text of ``sync/schema/binding.schema.json`` (UTF-8, LF, final newline)."""
    return json.dumps(binding_schema(), ensure_ascii=False, indent=2) + "\n"


def main(argv: list[str]) -> int:
    if argv == ["--write-schema"]:
        SCHEMA_PATH.parent.mkdir(parents=True, exist_ok=True)
        SCHEMA_PATH.write_text(schema_text(), encoding="utf-8")
        print(f"wrote {SCHEMA_PATH}")
        return 0
    if argv == ["--check-schema"]:
        current = SCHEMA_PATH.read_text(encoding="utf-8") if SCHEMA_PATH.exists() else ""
        if current != schema_text():
            print(f"{SCHEMA_PATH} is out of date: run python -m sync.bindings --write-schema")
            return 1
        return 0
    print("usage: python -m sync.bindings --write-schema | --check-schema", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
