"""Scoring through the database: hand-computed figures on every backend, refresh equal
to rebuild, appeals and deletions excluded, work assessments imported from CSV.

The helpers here (a small catalogue, ballots written as Response/Observation rows) are
shared by the other result, ledger and report tests."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sync import models as m
from sync import score
from sync.catalogue import (
    Campaign,
    Catalogue,
    Dimension,
    ExcludedCode,
    GradeRules,
    GroupRule,
    Level,
    RectificationRules,
    RespondentGroup,
    Scale,
    System,
    Unit,
    UnitNote,
)
from sync.errors import InputError

SCALE = Scale(
    code="five",
    name="五级满意度",
    levels=(
        Level(code="A1", label="非常满意", points=100, rank=5),
        Level(code="A2", label="满意", points=80, rank=4),
        Level(code="A3", label="基本满意", points=60, rank=3),
        Level(code="A4", label="不满意", points=30, rank=2),
        Level(code="A5", label="非常不满意", points=0, rank=1),
    ),
    excluded=(ExcludedCode(code="A6", label="不了解"),),
)
POINTS = {lv.code: lv.points for lv in SCALE.levels}
SATISFIED = {"A1", "A2", "A3"}
DISSATISFIED = {"A4", "A5"}
DIMENSIONS = {"service": "服务态度", "efficiency": "办事效率", "integrity": "廉洁自律"}
GROUPS = {"citizens": "群众", "enterprises": "企业", "supervisors": "政风行风监督员"}


def make_catalogue(
    systems: dict[str, list[str]],
    *,
    groups: dict[str, GroupRule] | None = None,
    exempt: dict[str, str] | None = None,
    veto: dict[str, str] | None = None,
    tie: Literal["share", "satisfaction_rate_then_count"] = "share",
    min_sample: int = 2,
    holidays: Sequence[dt.date] = (),
    extra_workdays: Sequence[dt.date] = (),
    threshold: float = 0.8,
) -> Catalogue:
    """Systems S1.. with units U..; unit names carry a 4-byte character to prove it
    survives every backend."""
    rules = groups or {
        "citizens": GroupRule(weight=0.5, dimension_weights={"service": 0.6, "efficiency": 0.4}),
        "enterprises": GroupRule(weight=0.3),
        "supervisors": GroupRule(weight=0.2, min_sample=3),
    }
    campaign = Campaign(
        code="2022",
        name="2022年度民主评议政风行风",
        year=2022,
        scale="five",
        groups=rules,
        satisfied_levels=tuple(sorted(SATISFIED)),
        dissatisfied_levels=tuple(sorted(DISSATISFIED)),
        min_sample=min_sample,
        grades=GradeRules(tie=tie),
        rectification=RectificationRules(
            holidays=tuple(holidays),
            extra_workdays=tuple(extra_workdays),
            satisfaction_threshold=threshold,
        ),
        exempt=tuple(UnitNote(unit=u, reason=r) for u, r in (exempt or {}).items()),
        veto=tuple(UnitNote(unit=u, reason=r) for u, r in (veto or {}).items()),
    )
    return Catalogue(
        systems={s: System(code=s, name=f"{s}系统") for s in systems},
        units={
            u: Unit(code=u, name=f"{u}办事处𠮷", system=s)
            for s, units in systems.items()
            for u in units
        },
        dimensions={d: Dimension(code=d, name=n) for d, n in DIMENSIONS.items()},
        groups={g: RespondentGroup(code=g, name=n) for g, n in GROUPS.items()},
        scales={"five": SCALE},
        campaigns={"2022": campaign},
    )


def write_catalogue(conn: Connection, cat: Catalogue) -> None:
    """The catalogue rows the records refer to (what ``pingyi catalogue load`` writes)."""
    conn.execute(
        sa.insert(m.System), [{"code": s.code, "name": s.name} for s in cat.systems.values()]
    )
    conn.execute(
        sa.insert(m.Unit),
        [{"code": u.code, "name": u.name, "system_code": u.system} for u in cat.units.values()],
    )
    conn.execute(
        sa.insert(m.Dimension),
        [{"code": d.code, "name": d.name} for d in cat.dimensions.values()],
    )
    conn.execute(
        sa.insert(m.RespondentGroup),
        [{"code": g.code, "name": g.name} for g in cat.groups.values()],
    )
    conn.execute(
        sa.insert(m.Scale),
        [
            {
                "code": s.code,
                "name": s.name,
                "levels": [lv.model_dump() for lv in s.levels],
                "excluded": [ex.model_dump() for ex in s.excluded],
            }
            for s in cat.scales.values()
        ],
    )
    conn.execute(
        sa.insert(m.Campaign),
        [
            {"code": c.code, "name": c.name, "year": c.year, "scale_code": c.scale}
            for c in cat.campaigns.values()
        ],
    )


@dataclass
class Ballot:
    """One response: the unit, the rater group and the level code per dimension
    ("A6" = don't know)."""

    unit: str
    group: str
    answers: dict[str, str]
    deleted: bool = False
    comment: str | None = None
    comment_dimension: str | None = None
    submitted: dt.datetime = field(
        default_factory=lambda: dt.datetime(2022, 9, 30, 10, tzinfo=dt.UTC)
    )


_ids = itertools.count(1)


def write_ballots(conn: Connection, ballots: Iterable[Ballot], campaign: str = "2022") -> list[int]:
    """Responses, observations and comments as the sync would store them; returns the
    response primary keys in order."""
    pks: list[int] = []
    for b in ballots:
        rid = next(_ids)
        pk = conn.execute(
            sa.insert(m.Response).values(
                site="district",
                survey_id=111111,
                response_id=rid,
                campaign_code=campaign,
                group_code=b.group,
                unit_code=b.unit,
                submitted_at=b.submitted,
                content_hash=f"{rid:064x}",
                deleted_at=b.submitted if b.deleted else None,
            )
        ).inserted_primary_key
        assert pk is not None
        pks.append(int(pk[0]))
        rows: list[dict[str, Any]] = []
        for dim, code in b.answers.items():
            counted = code in POINTS
            rows.append(
                {
                    "response_pk": pks[-1],
                    "campaign_code": campaign,
                    "unit_code": b.unit,
                    "group_code": b.group,
                    "dimension_code": dim,
                    "item": f"q_{dim}",
                    "raw_code": code,
                    "level_code": code if counted else None,
                    "points": POINTS.get(code),
                    "counted": counted,
                    "satisfied": code in SATISFIED,
                    "dissatisfied": code in DISSATISFIED,
                }
            )
        if rows:
            conn.execute(sa.insert(m.Observation), rows)
        if b.comment is not None:
            conn.execute(
                sa.insert(m.Comment).values(
                    response_pk=pks[-1],
                    item="comment",
                    dimension_code=b.comment_dimension,
                    text=b.comment,
                )
            )
    return pks


def uphold_appeal(conn: Connection, response_pk: int, reason: str = "恶意差评") -> int:
    key = conn.execute(
        sa.insert(m.Appeal).values(
            response_pk=response_pk,
            status=m.AppealStatus.UPHELD.value,
            reason=reason,
            filed_by="区评议办",
        )
    ).inserted_primary_key
    assert key is not None
    return int(key[0])


RESULT_TABLES = (m.ResultDimension, m.ResultGroup, m.ResultUnit, m.ResultSystem)
_VOLATILE = {"created_at", "updated_at", "computed_at"}


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every result row, without timestamps, sorted: for comparing two computations."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for model in RESULT_TABLES:
            table = score._table(model)
            cols = [c for c in table.c if c.name not in _VOLATILE]
            rows = conn.execute(sa.select(*cols)).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


def units_by_code(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(m.ResultUnit)).mappings().all()
    return {r["unit_code"]: dict(r) for r in rows}


# ---------------------------------------------------------------------------------------


def hand_case() -> tuple[Catalogue, list[Ballot]]:
    """U1 as in test_score_rules: citizens 74, enterprises 65, supervisors insufficient."""
    cat = make_catalogue({"S1": ["U1", "U2"]}, veto={"U2": "班子成员被立案审查"})
    ballots = [
        Ballot("U1", "citizens", {"service": "A1", "efficiency": "A1"}),
        Ballot("U1", "citizens", {"service": "A2", "efficiency": "A4"}, comment="窗口人员态度生硬"),
        Ballot("U1", "citizens", {"service": "A3", "efficiency": "A6"}),
        Ballot("U1", "enterprises", {"service": "A2", "integrity": "A1"}),
        Ballot("U1", "enterprises", {"service": "A2", "integrity": "A5"}),
        Ballot("U1", "supervisors", {"service": "A1"}),
        # deleted in LimeSurvey: kept, not scored
        Ballot("U1", "citizens", {"service": "A5", "efficiency": "A5"}, deleted=True),
        Ballot("U2", "citizens", {"service": "A1", "efficiency": "A1"}),
        Ballot("U2", "citizens", {"service": "A1", "efficiency": "A1"}),
    ]
    return cat, ballots


def test_hand_computed_figures(engine: Engine) -> None:
    cat, ballots = hand_case()
    with engine.begin() as conn:
        write_catalogue(conn, cat)
        pks = write_ballots(conn, ballots)
        # an upheld appeal takes out a 非常满意 from enterprises: 1 response left, insufficient
        uphold_appeal(conn, pks[3])
    report = score.rebuild(engine, cat, "2022")
    assert report.units_recomputed == 2
    units = units_by_code(engine)
    u1 = units["U1"]
    # citizens only now: 0.6*80 + 0.4*65 = 74
    assert u1["questionnaire_score"] == 74
    assert u1["composite"] == 74.0
    assert u1["groups_present"] == ["citizens"]
    assert u1["renormalised"] is True
    # U2 (vetoed) is ranked on its score but graded 后进; the 2 graded units allow
    # floor(0.3 * 2) = 0 先进
    assert (u1["grade"], u1["grade_reason"]) == (score.PASSING, None)
    assert (u1["rank_in_system"], units["U2"]["rank_in_system"]) == (2, 1)
    assert units["U2"]["grade"] == score.LAGGING
    assert units["U2"]["grade_reason"] == "一票否决: 班子成员被立案审查"
    assert units["U2"]["vetoed"] is True
    # pooled: citizens 4 of 5, enterprises 1 of 2, supervisors 1 of 1
    assert u1["satisfaction_rate"] == 0.75
    assert u1["responses"] == 5
    with engine.connect() as conn:
        eff = (
            conn.execute(
                sa.select(m.ResultDimension).where(
                    m.ResultDimension.unit_code == "U1",
                    m.ResultDimension.group_code == "citizens",
                    m.ResultDimension.dimension_code == "efficiency",
                )
            )
            .mappings()
            .one()
        )
        groups = {
            r["group_code"]: r
            for r in conn.execute(sa.select(m.ResultGroup).where(m.ResultGroup.unit_code == "U1"))
            .mappings()
            .all()
        }
        system = conn.execute(sa.select(m.ResultSystem)).mappings().one()
    assert (eff["answers"], eff["counted"], eff["satisfied"], eff["dissatisfied"]) == (3, 2, 1, 1)
    assert (eff["mean_points"], eff["satisfaction_rate"]) == (65, 0.5)
    assert (eff["rate_low"], eff["rate_high"]) == (0.094531, 0.905469)
    assert groups["enterprises"]["insufficient"] is True
    assert groups["enterprises"]["responses"] == 1
    assert groups["citizens"]["score"] == 74
    assert (system["score"], system["units_scored"], system["rank"]) == (87.0, 2, 1)


def test_refresh_equals_rebuild_after_revoking_an_appeal(engine: Engine) -> None:
    cat, ballots = hand_case()
    with engine.begin() as conn:
        write_catalogue(conn, cat)
        pks = write_ballots(conn, ballots)
        appeal = uphold_appeal(conn, pks[3])
    score.rebuild(engine, cat, "2022")
    with engine.begin() as conn:
        conn.execute(
            sa.update(m.Appeal)
            .where(m.Appeal.id == appeal)
            .values(status=m.AppealStatus.REVOKED.value)
        )
    report = score.refresh(engine, cat, "2022", {"U1"})
    assert report.units_recounted == 1
    refreshed = snapshot(engine)
    u1 = units_by_code(engine)["U1"]
    # (0.5*74 + 0.3*65) / 0.8 = 70.625, published half-up
    assert u1["composite"] == 70.63
    assert u1["groups_present"] == ["citizens", "enterprises"]
    score.rebuild(engine, cat, "2022")
    assert snapshot(engine) == refreshed


def test_work_assessment_import(engine: Engine, tmp_path: Path) -> None:
    cat, ballots = hand_case()
    with engine.begin() as conn:
        write_catalogue(conn, cat)
        write_ballots(conn, ballots)
    csv = tmp_path / "work.csv"
    csv.write_text("unit,score,note\nU1,90,暗访两次 𠮷\n", encoding="utf-8")
    assert score.import_work(engine, cat, "2022", csv, entered_by="区评议办") == {"U1"}
    score.rebuild(engine, cat, "2022")
    u1 = units_by_code(engine)["U1"]
    # 0.7 * 70.625 + 0.3 * 90 = 76.4375
    assert (u1["work_score"], u1["composite"]) == (90, 76.44)
    assert (u1["grade"], u1["grade_reason"]) == (score.PASSING, "先进名额已满")
    with engine.connect() as conn:
        note = conn.execute(sa.select(m.WorkAssessment.note)).scalar_one()
    assert note == "暗访两次 𠮷"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("unit,score\nU9,90\n", "work.csv:2: unknown unit 'U9'"),
        ("unit,score\nU1,abc\n", "work.csv:2: score 'abc' is not a number"),
        ("unit,score\nU1,101\n", "work.csv:2: score 101 is outside 0..100"),
        ("unit,points\nU1,90\n", "work.csv:1: the header must name unit and score"),
        ("unit,score\nU1,90\nU1,80\n", "work.csv:3: unit 'U1' given twice"),
    ],
)
def test_work_assessment_bad_rows(tmp_path: Path, text: str, problem: str) -> None:
    cat, _ = hand_case()
    csv = tmp_path / "work.csv"
    csv.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        score.read_work_csv(cat, csv)
    assert str(caught.value).startswith(str(csv.parent) + "/" + problem)


def test_unknown_campaign(tmp_path: Path) -> None:
    cat, _ = hand_case()
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(InputError, match=r"no campaign '2099'.*known: 2022"):
        score.rebuild(engine, cat, "2099")
