"""Surveys for the LimeSurvey double, defined as plain data.

A ``SurveySpec`` is what a survey administrator would build in LimeSurvey: groups of
questions with codes, types, answer options and subquestions. ``sync.testing.lss`` reads
the same thing from a LimeSurvey ``.lss`` export. Group and question ids are given by
the double when the survey is added, as LimeSurvey renumbers them on import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class AnswerOption:
    code: str  # at most 5 characters in LimeSurvey (lime_answers.code varchar(5))
    label: str
    assessment_value: int = 0


@dataclass
class SubQuestion:
    code: str
    text: str
    relevance: str = "1"


@dataclass
class QuestionSpec:
    code: str  # the question "title", the export heading with ``code`` headings
    type: str  # LimeSurvey type letter: L, F, T, S, N, M, ...
    text: str = ""
    help: str = ""
    mandatory: bool = False
    answers: list[AnswerOption] = field(default_factory=list)
    subquestions: list[SubQuestion] = field(default_factory=list)
    #: non-i18n attributes that differ from the type's defaults (hide_tip="1", ...)
    attributes: dict[str, str] = field(default_factory=dict)
    #: i18n attributes: name -> {language: value}
    attributes_lang: dict[str, dict[str, str]] = field(default_factory=dict)
    theme: str | None = None  # question_theme_name; None = the type's default theme
    other: bool = False
    preg: str = ""
    relevance: str = "1"
    subquestion_type: str = "T"  # what lime_questions says for subquestions (LS ignores it)


@dataclass
class GroupSpec:
    name: str
    questions: list[QuestionSpec] = field(default_factory=list)
    description: str = ""
    relevance: str = "1"
    randomization_group: str = ""


@dataclass
class SurveySpec:
    sid: int
    title: str
    language: str = "zh-Hans"
    groups: list[GroupSpec] = field(default_factory=list)
    active: bool = False
    anonymized: bool = False
    datestamp: bool = True
    alloweditaftercompletion: bool = False
    description: str = ""
    additional_languages: tuple[str, ...] = ()
    #: a participant table exists (activate_tokens): exports gain the token column
    participant_table: bool = False
    #: further lime_surveys columns, verbatim (e.g. from an .lss), applied last
    properties: dict[str, Any] = field(default_factory=dict)
    #: further surveys_languagesettings columns for the base language
    language_settings: dict[str, Any] = field(default_factory=dict)
