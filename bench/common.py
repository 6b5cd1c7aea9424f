"""The benchmark survey: one unit question, ten rated items and a comment per response.

Built from the repository's catalogue like the demo's surveys, under its own survey id on a
site named ``bench``, so a benchmark never touches the demo's records.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from sync.bindings import Binding
from sync.catalogue import Catalogue, load_catalogue
from sync.config import SiteConfig
from sync.testing.demo import COMPLAINTS, PRAISE, DemoSurvey, build_survey
from sync.testing.double import LimeSurveyDouble

ROOT = Path(__file__).resolve().parent.parent
MAPPINGS = ROOT / "mappings"
SITE = "bench"
SURVEY_ID = 900001
USER = "bench"
PASSWORD_ENV = "PINGYI_BENCH_LS_PASSWORD"
RATED = (
    "service_awareness",
    "service_level",
    "work_style",
    "efficiency",
    "law_enforcement",
    "integrity",
    "openness",
    "rectification",
    "standard_enforcement",
)
BINDING: dict[str, Any] = {
    "version": 1,
    "site": SITE,
    "survey_id": SURVEY_ID,
    "campaign": "2022",
    "group": "citizens",
    "title": "基准测试问卷",
    "unit": {"source": "question", "column": "unit"},
    "ratings": [
        {"column": "overall", "dimension": "overall"},
        {
            "question": "q",
            "subquestions": {f"SQ{i:03d}": d for i, d in enumerate(RATED, start=1)},
        },
    ],
    "comments": [{"column": "comment"}],
    "private": ["phone"],
    "token": "drop",
}


def catalogue() -> Catalogue:
    return load_catalogue(MAPPINGS)


def binding() -> Binding:
    return Binding.model_validate(BINDING)


def survey(cat: Catalogue) -> DemoSurvey:
    return build_survey(cat, binding())


def rows(survey: DemoSurvey, n: int, *, seed: int = 1, start: int = 0) -> Iterator[dict[str, Any]]:
    """``n`` complete responses, each with all ten items and a comment (as the brief of the
    benchmark says: the heavy case)."""
    rng = random.Random(seed)
    codes = ("A1", "A2", "A3", "A4", "A5", "A6")
    weights = (40, 30, 15, 6, 4, 5)
    texts = PRAISE + COMPLAINTS[""] + ("办事很快👍", "名字里的𠮷字打不出来😡")
    columns = [item.column for item in survey.items]
    units = list(survey.units)
    for i in range(start, start + n):
        row: dict[str, Any] = dict(
            zip(columns, rng.choices(codes, weights, k=len(columns)), strict=True)
        )
        row["unit"] = units[i % len(units)]
        row["comment"] = rng.choice(texts)
        row["phone"] = None
        row["submitdate"] = f"2022-{3 + i % 9:02d}-{1 + i % 28:02d} 10:{i % 60:02d}:00"
        yield row


def double_with(cat: Catalogue, n: int, password: str) -> LimeSurveyDouble:
    double = LimeSurveyDouble(users={USER: password})
    s = survey(cat)
    double.add_survey(s.spec)
    double.load_responses(s.sid, rows(s, n))
    return double


def site(url: str, window: int = 1000) -> SiteConfig:
    return SiteConfig(name=SITE, url=url, user=USER, window=window)


def secret(value: str) -> SecretStr:
    return SecretStr(value)
