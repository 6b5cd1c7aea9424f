"""Test data shared by the sync tests: a small catalogue, a binding like survey 111111's,
export rows, and the same survey in the LimeSurvey double."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import SecretStr
from sqlalchemy.engine import Engine

from sync.bindings import Binding
from sync.catalogue import Catalogue
from sync.config import SiteConfig
from sync.limesurvey import ExportRow, LimeSurveyClient
from sync.retry import RetryPolicy
from sync.testing.double import LimeSurveyDouble
from sync.testing.samples import satisfaction_survey

LEVELS = [
    {"code": "A1", "label": "非常满意", "points": 100, "rank": 5},
    {"code": "A2", "label": "满意", "points": 80, "rank": 4},
    {"code": "A3", "label": "基本满意", "points": 60, "rank": 3},
    {"code": "A4", "label": "不满意", "points": 30, "rank": 2},
    {"code": "A5", "label": "非常不满意", "points": 0, "rank": 1},
]

CATALOGUE_DOC: dict[str, Any] = {
    "name": "河西区",
    "systems": {
        "edu": {"code": "edu", "name": "教育系统"},
        "health": {"code": "health", "name": "卫生系统"},
        "tax": {"code": "tax", "name": "税务系统"},
    },
    "units": {
        "U0101": {"code": "U0101", "name": "第一小学", "system": "edu"},
        "U0102": {"code": "U0102", "name": "第二小学", "system": "edu"},
        "U0201": {"code": "U0201", "name": "区人民医院", "system": "health"},
        "U0901": {"code": "U0901", "name": "国税第一税务所", "system": "tax"},
    },
    "dimensions": {
        "overall": {"code": "overall", "name": "总体评价"},
        "attitude": {"code": "attitude", "name": "服务意识"},
        "efficiency": {"code": "efficiency", "name": "工作效率"},
    },
    "groups": {"citizens": {"code": "citizens", "name": "群众"}},
    "scales": {
        "five_level": {
            "code": "five_level",
            "name": "五级满意度",
            "levels": LEVELS,
            "excluded": [{"code": "A6", "label": "不了解"}],
        }
    },
    "campaigns": {
        "2022": {
            "code": "2022",
            "name": "2022年民主评议政风行风",
            "year": 2022,
            "scale": "five_level",
            "groups": {
                "citizens": {
                    "weight": 1.0,
                    "dimension_weights": {"overall": 0.4, "attitude": 0.3, "efficiency": 0.3},
                }
            },
            "systems": ["edu", "health"],
        }
    },
}

BINDING_DOC: dict[str, Any] = {
    "version": 1,
    "site": "district",
    "survey_id": 111111,
    "campaign": "2022",
    "group": "citizens",
    "title": "群众满意度调查",
    "unit": {"source": "question", "column": "office"},
    "ratings": [
        {"column": "overall", "dimension": "overall"},
        {"question": "detail", "subquestions": {"SQ001": "attitude", "SQ002": "efficiency"}},
    ],
    "comments": [{"column": "comment"}],
    "private": ["phone"],
    "token": "drop",
}

COLUMNS = ("office", "overall", "detail[SQ001]", "detail[SQ002]", "comment", "phone")


def make_catalogue(doc: dict[str, Any] | None = None) -> Catalogue:
    return Catalogue.model_validate(doc or CATALOGUE_DOC)


def make_binding(doc: dict[str, Any] | None = None, **changes: Any) -> Binding:
    return Binding.model_validate({**(doc or BINDING_DOC), **changes})


def answers(rid: int, **overrides: str | None) -> dict[str, str | None]:
    """A deterministic, varied answer set for response ``rid``."""
    codes = ["A1", "A2", "A3", "A4", "A5", "A6"]
    out: dict[str, str | None] = {
        "office": ["U0101", "U0102", "U0201"][rid % 3],
        "overall": codes[rid % 6],
        "detail[SQ001]": codes[(rid // 2) % 5],
        "detail[SQ002]": codes[(rid // 3) % 6] if rid % 7 else None,
        "comment": "办事很快，工作人员态度好。" if rid % 5 else f"第{rid}条：排队😡𠮷",
        "phone": "13800000000",
    }
    if rid == 7:  # the row the map tests look at: a clean, fully satisfied answer
        out.update(
            {
                "office": "U0101",
                "overall": "A1",
                "detail[SQ002]": "A2",
                "comment": "办事很快，工作人员态度好。",
            }
        )
    out.update(overrides)
    return out


def make_row(
    rid: int,
    cells: dict[str, str | None] | None = None,
    *,
    completed: bool = True,
    **overrides: str | None,
) -> ExportRow:
    return ExportRow(
        response_id=rid,
        completed=completed,
        submitted_at=dt.datetime(2024, 3, 1, 2, 15, 30, tzinfo=dt.UTC) if completed else None,
        time_unknown=False,
        started_at=dt.datetime(2024, 3, 1, 2, 5, tzinfo=dt.UTC),
        language="zh-Hans",
        token=None,
        answers=answers(rid, **{**(cells or {}), **overrides}),
    )


def load_catalogue_rows(engine: Engine, catalogue: Catalogue) -> None:
    """The catalogue tables the records refer to (foreign keys), as ``catalogue load``
    would fill them; enough for the sync tests."""
    from sync import models
    from sync.upsert import upsert

    def put(table: Any, rows: list[dict[str, Any]], key: tuple[str, ...]) -> None:
        if rows:
            upsert(conn, table, rows, key, [k for k in rows[0] if k not in key])

    with engine.begin() as conn:
        put(
            models.System,
            [{"code": s.code, "name": s.name} for s in catalogue.systems.values()],
            ("code",),
        )
        put(
            models.Unit,
            [
                {"code": u.code, "name": u.name, "system_code": u.system}
                for u in catalogue.units.values()
            ],
            ("code",),
        )
        put(
            models.Dimension,
            [{"code": d.code, "name": d.name} for d in catalogue.dimensions.values()],
            ("code",),
        )
        put(
            models.RespondentGroup,
            [{"code": g.code, "name": g.name} for g in catalogue.groups.values()],
            ("code",),
        )
        put(
            models.Scale,
            [
                {
                    "code": s.code,
                    "name": s.name,
                    "levels": [lv.model_dump() for lv in s.levels],
                    "excluded": [ex.model_dump() for ex in s.excluded],
                }
                for s in catalogue.scales.values()
            ],
            ("code",),
        )
        put(
            models.Campaign,
            [
                {"code": c.code, "name": c.name, "year": c.year, "scale_code": c.scale}
                for c in catalogue.campaigns.values()
            ],
            ("code",),
        )


# -- the same survey in the LimeSurvey double ------------------------------------------

PASSWORD = "secret"
TEST_OFFICES = (("U0101", "第一小学"), ("U0102", "第二小学"), ("U0201", "区人民医院"))


def make_double(sid: int = 111111) -> LimeSurveyDouble:
    double = LimeSurveyDouble(users={"admin": PASSWORD}, timezone=dt.UTC)
    double.add_survey(satisfaction_survey(sid, offices=TEST_OFFICES))
    return double


def double_row(rid: int, *, completed: bool = True, **overrides: str | None) -> dict[str, Any]:
    """Response ``rid`` as the double stores it (export code headings)."""
    row: dict[str, Any] = dict(answers(rid, **overrides))
    row["id"] = rid
    row["submitdate"] = "2024-03-01 10:15:30" if completed else None
    row["lastpage"] = None if completed else 1
    # fixed dates: two doubles loaded at different times hold the same responses
    row["startdate"] = "2024-03-01 10:05:00"
    row["datestamp"] = "2024-03-01 10:15:30"
    return row


def make_site(url: str, *, window: int = 10, name: str = "district") -> SiteConfig:
    return SiteConfig(name=name, url=url, user="admin", window=window, timezone="UTC")


def make_client(site: SiteConfig, *, attempts: int = 5) -> LimeSurveyClient:
    policy = RetryPolicy(attempts=attempts, max_seconds=60, sleep=lambda _s: None)
    return LimeSurveyClient(site, SecretStr(PASSWORD), retry=policy)
