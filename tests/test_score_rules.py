"""The scoring rules on small cases computed by hand (no database)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from sync.score import (
    ADVANCED,
    LAGGING,
    PASSING,
    GroupRules,
    Rules,
    UnitFigure,
    compose_unit,
    published,
    rank_and_grade,
    wilson,
)
from sync.tallies import Tally, exact

F = Fraction


def tally(*points: int, satisfied: int = 0, dissatisfied: int = 0) -> Tally:
    return Tally(len(points), F(sum(points)), satisfied, dissatisfied)


RULES = Rules(
    groups={
        "citizens": GroupRules(F(1, 2), 2, {"service": F(6, 10), "efficiency": F(4, 10)}),
        "enterprises": GroupRules(F(3, 10), 2),
        "supervisors": GroupRules(F(2, 10), 3),
    },
)

TALLIES = {
    # service 100, 80, 60 -> 80; efficiency 100, 30 -> 65; 0.6*80 + 0.4*65 = 74
    ("citizens", "service"): tally(100, 80, 60, satisfied=3),
    ("citizens", "efficiency"): tally(100, 30, satisfied=1, dissatisfied=1),
    # equal weights: (80 + 50) / 2 = 65
    ("enterprises", "service"): tally(80, 80, satisfied=2),
    ("enterprises", "integrity"): tally(100, 0, satisfied=1, dissatisfied=1),
    # one response, minimum 3: insufficient
    ("supervisors", "service"): tally(100, satisfied=1),
}
RESPONSES = {"citizens": 3, "enterprises": 2, "supervisors": 1}


def test_wilson_by_hand() -> None:
    low, high = wilson(8, 10) or (0, 0)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    low, high = wilson(0, 10) or (0, 0)
    assert (low, round(high, 4)) == (0.0, 0.2775)
    low, high = wilson(10, 10) or (0, 0)
    assert (round(low, 4), high) == (0.7225, 1.0)
    assert wilson(0, 0) is None
    with pytest.raises(ValueError, match="outside"):
        wilson(3, 2)


def test_exact_and_published() -> None:
    assert exact(0.1) == F(1, 10)
    assert published(F(70625, 1000)) == Decimal("70.63")  # half-up, not half-even
    assert published(F(2, 3)) == Decimal("0.67")


def test_composite_renormalised_over_sufficient_groups() -> None:
    unit, groups = compose_unit(
        RULES, unit="U1", system="S", tallies=TALLIES, responses=RESPONSES, work=F(90)
    )
    by = {g.group: g for g in groups}
    assert by["citizens"].score == 74
    assert by["enterprises"].score == 65
    assert by["supervisors"].status == "insufficient"
    assert by["supervisors"].score == 100  # shown, not used
    # (0.5*74 + 0.3*65) / 0.8 = 70.625; 0.7*70.625 + 0.3*90 = 76.4375
    assert unit.questionnaire == F(70625, 1000)
    assert unit.final == F(764375, 10000)
    assert unit.score == Decimal("76.44")
    assert unit.flags == ("group_insufficient:supervisors",)
    assert (unit.responses, unit.counted, unit.satisfied) == (6, 10, 8)


def test_no_work_assessment_is_questionnaire_only_and_flagged() -> None:
    unit, _ = compose_unit(
        RULES, unit="U1", system="S", tallies=TALLIES, responses=RESPONSES, work=None
    )
    assert unit.final == F(70625, 1000)
    assert unit.score == Decimal("70.63")
    assert "no_work_assessment" in unit.flags


def test_missing_dimension_and_group() -> None:
    tallies = {("citizens", "service"): tally(100, 80, 60, satisfied=3)}
    unit, groups = compose_unit(
        RULES, unit="U1", system="S", tallies=tallies, responses={"citizens": 3}, work=None
    )
    assert [g.group for g in groups] == ["citizens"]
    assert groups[0].score == 80  # efficiency renormalised away
    assert groups[0].missing_dimensions == ("efficiency",)
    assert unit.final == 80
    assert set(unit.flags) == {
        "dimension_missing:citizens/efficiency",
        "group_missing:enterprises",
        "group_missing:supervisors",
        "no_work_assessment",
    }


def test_no_sufficient_group_no_score() -> None:
    tallies = {("supervisors", "service"): tally(100, satisfied=1)}
    unit, _ = compose_unit(
        RULES, unit="U1", system="S", tallies=tallies, responses={"supervisors": 1}, work=F(99)
    )
    assert unit.final is None
    assert "no_score" in unit.flags


def fig(unit: str, score: float | None, system: str = "S", *, rate: int = 5) -> UnitFigure:
    final = None if score is None else exact(score)
    return UnitFigure(unit, system, 10, rate, 10, final, None, final, ())


def test_quota_ceiling_with_a_tie_at_the_boundary() -> None:
    # 10 graded units (the vetoed one included): at most floor(0.3*10) = 3 先进
    rules = Rules(groups={}, veto={"J": "重大责任事故"}, exempt={"K": "上年度先进"})
    scores = {"A": 90, "B": 88, "C": 85, "D": 85, "E": 80, "F": 70, "G": 65, "H": 60}
    units = [fig(u, s) for u, s in scores.items()]
    units += [fig("I", 50), fig("J", 95), fig("K", 99), fig("L", None)]
    out, systems = rank_and_grade(rules, units)
    ranks = {u: out[u].system_rank for u in "ABCDEFGHIJ"}
    assert ranks == {
        "A": 2,
        "B": 3,
        "C": 4,
        "D": 4,
        "E": 6,
        "F": 7,
        "G": 8,
        "H": 9,
        "I": 10,
        "J": 1,
    }
    grades = {u: out[u].grade for u in "ABCDEFGHIJKL"}
    assert grades == {
        "A": ADVANCED,  # C and D tie for the third place: neither is 先进, the ceiling holds
        "B": ADVANCED,
        "C": PASSING,
        "D": PASSING,
        "E": PASSING,
        "F": PASSING,
        "G": PASSING,
        "H": PASSING,  # 60.00 >= 60
        "I": LAGGING,
        "J": LAGGING,
        "K": None,
        "L": None,
    }
    assert out["J"].grade_reason == "一票否决: 重大责任事故"
    assert out["K"].grade_reason == "免评: 上年度先进"
    assert out["K"].system_rank is None
    assert out["K"].district_rank is None
    assert out["C"].grade_reason == "先进名额已满"
    s = systems["S"]
    assert (s.units, s.advanced, s.passing, s.lagging, s.exempt) == (10, 2, 6, 2, 1)
    # mean of the 10 ranked units' published scores: 768 / 10
    assert s.score == Decimal("76.80")


def test_tie_broken_by_satisfaction_rate_then_responses() -> None:
    rules = Rules(groups={}, tie_rule="satisfaction_rate_then_count")
    units = [fig("A", 90), fig("B", 88), fig("C", 85, rate=6), fig("D", 85, rate=5)]
    units += [fig(u, 50) for u in "EFGHIJ"]
    out, _ = rank_and_grade(rules, units)
    assert [out[u].system_rank for u in "ABCD"] == [1, 2, 3, 4]
    assert [out[u].grade for u in "ABCD"] == [ADVANCED, ADVANCED, ADVANCED, PASSING]
    assert {out[u].system_rank for u in "EFGHIJ"} == {5}  # still tied: shared rank


def test_quota_rounds_down_and_needs_the_band() -> None:
    rules = Rules(groups={})
    # 9 graded: floor(2.7) = 2; only one unit reaches 75
    units = [fig("A", 80), fig("B", 74.99)] + [fig(u, 70) for u in "CDEFGHI"]
    out, _ = rank_and_grade(rules, units)
    assert out["A"].grade == ADVANCED
    assert out["B"].grade == PASSING
    assert out["B"].grade_reason is None


def test_district_ranks_across_systems() -> None:
    rules = Rules(groups={})
    units = [fig("A", 80, "S1"), fig("B", 90, "S2"), fig("C", 80, "S2"), fig("D", 70, "S1")]
    out, systems = rank_and_grade(rules, units)
    assert {u: out[u].district_rank for u in "ABCD"} == {"A": 2, "B": 1, "C": 2, "D": 4}
    assert {u: out[u].system_rank for u in "ABCD"} == {"A": 1, "B": 1, "C": 2, "D": 2}
    assert systems["S1"].score == Decimal("75.00")
