"""Results: from counted observations to scores, ranks and grades.

Two halves. The rules (pure, no I/O, top of this file) turn tallies into figures; the
database half (bottom) gets the tallies with one GROUP BY and writes the figures with
``sync.upsert.upsert``. Every number can be recomputed by hand from the stored
responses with the rules below and the campaign file:

- **Counted**: an observation counts when its answer is a scale level (not unanswered,
  not a "don't know" code), its response is not deleted and not excluded by an upheld
  appeal (申诉复核).
- **Dimension** (unit, group, dimension): count, mean points, satisfaction rate
  (answers in the campaign's satisfied levels / counted answers) with a Wilson 95%
  interval. Means are exact: the database counts answers per points value, the mean is
  computed as a fraction and only rounded when shown.
- **Group score** (unit, group): the mean points of its dimensions, weighted by the
  group's ``dimension_weights``, renormalised over the dimensions that have answers
  (a dimension nobody answered does not pull the score to 0; the unit is flagged).
  No weights written: every answered dimension weighs the same. Dimensions answered
  but given no weight are shown, not scored.
- **Sample**: a group's sample is the number of responses with at least one counted
  answer. Below the group's ``min_sample`` (else the campaign's) the group is
  *insufficient*: shown, flagged, never part of the composite.
- **Composite** (questionnaire score): the group scores weighted by the campaign's group
  weights, renormalised over the sufficient groups; the unit is flagged when any of the
  campaign's groups is missing or insufficient. No sufficient group: no score.
- **Unit satisfaction rate**: pooled over every counted answer about the unit from the
  campaign's groups (insufficient ones included: it describes, it does not score).
- **Final score**: ``questionnaire_weight * composite + work_assessment_weight * work``
  when the office entered a work-assessment score; otherwise the composite alone
  (the questionnaire weight renormalised to 1), flagged ``no_work_assessment``.
  The published score is the final score rounded half-up to 2 decimals; ranks and
  grades use the published score, so a reader who sees two equal scores sees two
  equal ranks.
- **Ranks**: within the system and within the district, over units that are not exempt
  and have a score (vetoed units keep their rank: the veto changes the grade, not the
  arithmetic). Equal keys share a rank (1, 1, 3). The key is the published score
  (tie rule ``share``), or the score, then the unit's satisfaction rate, then its number
  of responses (``satisfaction_rate_then_count``).
- **Grades** per system: 后进 for a vetoed unit (一票否决, with its reason), whatever its
  score. 先进 for the best units with a score >= ``advanced_min``, at most
  ``floor(advanced_quota * graded units of the system)`` of them; the quota is a ceiling:
  when units tied on the ranking key straddle it, none of them is 先进 (they are 达标).
  达标 for a score >= ``passing_min``; 后进 below. Exempt units (免评) are listed with
  their reason and get neither rank nor grade. A unit without a score gets no grade.
- **System**: the mean of its ranked units' published scores and the pooled
  satisfaction rate of their counted answers.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from sync.catalogue import Campaign

#: 95% two-sided normal quantile, to the precision that matters for 4-decimal output
Z95 = 1.959963984540054

#: grade codes as stored (``ResultUnit.grade``) and their published names
ADVANCED = "advanced"
PASSING = "passing"
LAGGING = "lagging"
GRADE_NAMES = {ADVANCED: "先进", PASSING: "达标", LAGGING: "后进"}

TieRule = Literal["share", "satisfaction_rate_then_count"]
GroupStatus = Literal["ok", "insufficient", "unscored", "not_in_campaign"]


# ---------------------------------------------------------------------------------------
# small exact helpers
# ---------------------------------------------------------------------------------------


def exact(value: float | int | str | Fraction | Decimal) -> Fraction:
    """The number as written: 0.1 from a YAML file is 1/10, not the nearest binary float."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, float):
        return Fraction(repr(value))
    return Fraction(value)


def published(value: Fraction, places: int = 2) -> Decimal:
    """Round half-up to ``places`` decimals, as a person rounds a published table."""
    quantum = Decimal(1).scaleb(-places)
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(
        quantum, rounding=ROUND_HALF_UP
    )


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval for a proportion; ``None`` when there is nothing to estimate.

    It stays inside [0, 1] and behaves at 0% and 100% and for tiny samples, where the
    textbook p ± z·sqrt(p(1-p)/n) collapses to a point. Answers are treated as
    independent trials; answers from one respondent are not, so read it as a lower
    bound on the uncertainty."""
    if n <= 0:
        return None
    if not 0 <= successes <= n:
        raise ValueError(f"successes {successes} outside 0..{n}")
    p = successes / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # at 0% and 100% the bound is exactly 0 or 1; floating point would miss it by an ulp
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


# ---------------------------------------------------------------------------------------
# the rules, as plain data (built from the campaign by ``rules_for``)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupRules:
    weight: Fraction
    min_sample: int
    #: dimension code -> weight; empty = every answered dimension weighs the same
    dimension_weights: Mapping[str, Fraction] = field(default_factory=dict)


@dataclass(frozen=True)
class Rules:
    groups: Mapping[str, GroupRules]
    questionnaire_weight: Fraction = Fraction(7, 10)
    work_assessment_weight: Fraction = Fraction(3, 10)
    advanced_min: Fraction = Fraction(75)
    passing_min: Fraction = Fraction(60)
    advanced_quota: Fraction = Fraction(3, 10)
    tie_rule: TieRule = "share"
    #: unit code -> reason
    exempt: Mapping[str, str] = field(default_factory=dict)
    veto: Mapping[str, str] = field(default_factory=dict)


def rules_for(campaign: Campaign) -> Rules:
    """The campaign file's rules, with its weights taken exactly as written."""
    groups = {
        code: GroupRules(
            weight=exact(rule.weight),
            min_sample=campaign.group_min_sample(code),
            dimension_weights={d: exact(w) for d, w in rule.dimension_weights.items()},
        )
        for code, rule in campaign.groups.items()
    }
    grades = campaign.grades
    return Rules(
        groups=groups,
        questionnaire_weight=exact(campaign.questionnaire_weight),
        work_assessment_weight=exact(campaign.work_assessment_weight),
        advanced_min=exact(grades.advanced_min),
        passing_min=exact(grades.passing_min),
        advanced_quota=exact(grades.advanced_quota),
        tie_rule=grades.tie,
        exempt=campaign.exempt_units(),
        veto=campaign.vetoed_units(),
    )


# ---------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """Counted answers of one (unit, group, dimension): what the GROUP BY returns."""

    count: int = 0
    points: Fraction = Fraction(0)  # exact sum of points
    satisfied: int = 0
    dissatisfied: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            self.count + other.count,
            self.points + other.points,
            self.satisfied + other.satisfied,
            self.dissatisfied + other.dissatisfied,
        )

    @property
    def mean(self) -> Fraction | None:
        return self.points / self.count if self.count else None


@dataclass(frozen=True)
class DimensionFigure:
    unit: str
    group: str
    dimension: str
    tally: Tally

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson(self.tally.satisfied, self.tally.count)


@dataclass(frozen=True)
class GroupFigure:
    unit: str
    group: str
    responses: int
    tally: Tally  # pooled over the group's dimensions
    score: Fraction | None
    status: GroupStatus
    weight: Fraction | None  # the campaign weight (before renormalisation)
    missing_dimensions: tuple[str, ...] = ()


@dataclass(frozen=True)
class UnitFigure:
    """A unit's standing. Ranks and grade are filled by ``rank_and_grade``."""

    unit: str
    system: str
    responses: int
    satisfied: int
    counted: int
    questionnaire: Fraction | None
    work: Fraction | None
    final: Fraction | None
    flags: tuple[str, ...]
    exempt_reason: str | None = None
    veto_reason: str | None = None
    system_rank: int | None = None
    district_rank: int | None = None
    grade: str | None = None
    grade_reason: str | None = None

    @property
    def exempt(self) -> bool:
        return self.exempt_reason is not None

    @property
    def score(self) -> Decimal | None:
        return None if self.final is None else published(self.final)

    @property
    def rate(self) -> Fraction | None:
        return Fraction(self.satisfied, self.counted) if self.counted else None


@dataclass(frozen=True)
class SystemFigure:
    system: str
    units: int  # ranked units
    score: Decimal | None  # mean of ranked units' published scores
    satisfied: int
    counted: int
    advanced: int
    passing: int
    lagging: int
    exempt: int


def group_score(
    rule: GroupRules | None, dims: Mapping[str, Tally]
) -> tuple[Fraction | None, tuple[str, ...]]:
    """The dimension-weighted mean of dimension means, and the weighted dimensions missing."""
    answered = {d: t for d, t in dims.items() if t.count}
    if rule is None or not rule.dimension_weights:
        weights = dict.fromkeys(answered, Fraction(1))
        missing: tuple[str, ...] = ()
    else:
        weights = {d: w for d, w in rule.dimension_weights.items() if d in answered and w > 0}
        missing = tuple(
            sorted(d for d, w in rule.dimension_weights.items() if w > 0 and d not in answered)
        )
    total = sum(weights.values(), Fraction(0))
    if not total:
        return None, missing
    parts = (w * answered[d].points / answered[d].count for d, w in weights.items())
    return sum(parts, Fraction(0)) / total, missing


def compose_unit(
    rules: Rules,
    *,
    unit: str,
    system: str,
    tallies: Mapping[tuple[str, str], Tally],
    responses: Mapping[str, int],
    work: Fraction | None,
) -> tuple[UnitFigure, list[GroupFigure]]:
    """One unit's group figures and composite. ``tallies``: (group, dimension) -> tally;
    ``responses``: group -> responses with at least one counted answer."""
    by_group: dict[str, dict[str, Tally]] = defaultdict(dict)
    for (group, dim), tally in tallies.items():
        by_group[group][dim] = tally
    flags: list[str] = []
    groups: list[GroupFigure] = []
    weighted: list[tuple[Fraction, Fraction]] = []
    for group in sorted(set(by_group) | set(rules.groups)):
        rule = rules.groups.get(group)
        dims = by_group.get(group, {})
        pooled = sum(dims.values(), Tally())
        n = responses.get(group, 0)
        if rule is not None and not pooled.count:
            flags.append(f"group_missing:{group}")
            continue
        score, missing = group_score(rule, dims)
        flags.extend(f"dimension_missing:{group}/{d}" for d in missing)
        status: GroupStatus
        if rule is None:
            status = "not_in_campaign"
        elif n < rule.min_sample:
            status = "insufficient"
            flags.append(f"group_insufficient:{group}")
        elif score is None:
            status = "unscored"
            flags.append(f"group_unscored:{group}")
        else:
            status = "ok"
            if rule.weight > 0:
                weighted.append((rule.weight, score))
        groups.append(
            GroupFigure(
                unit,
                group,
                n,
                pooled,
                score,
                status,
                None if rule is None else rule.weight,
                missing,
            )
        )
    total_weight = sum((w for w, _ in weighted), Fraction(0))
    questionnaire = (
        sum((w * s for w, s in weighted), Fraction(0)) / total_weight if total_weight else None
    )
    final: Fraction | None = None
    if questionnaire is not None:
        if work is None:
            flags.append("no_work_assessment")
            final = questionnaire
        else:
            final = rules.questionnaire_weight * questionnaire + rules.work_assessment_weight * work
    else:
        flags.append("no_score")
    counted = [g for g in groups if g.status != "not_in_campaign"]
    figure = UnitFigure(
        unit=unit,
        system=system,
        responses=sum(g.responses for g in counted),
        satisfied=sum(g.tally.satisfied for g in counted),
        counted=sum(g.tally.count for g in counted),
        questionnaire=questionnaire,
        work=work,
        final=final,
        flags=tuple(flags),
        exempt_reason=rules.exempt.get(unit),
        veto_reason=rules.veto.get(unit),
    )
    return figure, groups


RankKey = tuple[Decimal | float | int, ...]


def _rank_key(rules: Rules, unit: UnitFigure) -> RankKey:
    score = unit.score
    assert score is not None
    if rules.tie_rule == "share":
        return (score,)
    # the rate as a float: two different rates of real sample sizes never share a float,
    # and a rate read back from the results table compares equal to a freshly computed one
    return (score, float(unit.rate or 0), unit.responses)


def _competition_ranks(rules: Rules, units: Iterable[UnitFigure]) -> dict[str, int]:
    """1, 1, 3: equal keys share the better rank; order among equals by unit code."""
    ordered = sorted(units, key=lambda u: u.unit)
    ordered.sort(key=lambda u: _rank_key(rules, u), reverse=True)
    ranks: dict[str, int] = {}
    previous: RankKey | None = None
    rank = 0
    for position, unit in enumerate(ordered, start=1):
        key = _rank_key(rules, unit)
        if key != previous:
            rank = position
            previous = key
        ranks[unit.unit] = rank
    return ranks


def _advanced(rules: Rules, members: list[UnitFigure], ranks: Mapping[str, int]) -> set[str]:
    graded = [u for u in members if u.veto_reason is not None or u.final is not None]
    cap = math.floor(rules.advanced_quota * len(graded))
    eligible = [
        u
        for u in members
        if u.veto_reason is None and u.score is not None and u.score >= rules.advanced_min
    ]
    by_rank: dict[int, list[str]] = defaultdict(list)
    for u in eligible:
        by_rank[ranks[u.unit]].append(u.unit)
    chosen: set[str] = set()
    for rank in sorted(by_rank):
        tied = by_rank[rank]
        if len(chosen) + len(tied) > cap:
            break  # the quota is a ceiling: a tie across it promotes none of the tied
        chosen.update(tied)
    return chosen


def rank_and_grade(
    rules: Rules, units: Iterable[UnitFigure]
) -> tuple[dict[str, UnitFigure], dict[str, SystemFigure]]:
    """Ranks within system and district, grades per system, and the system roll-up."""
    # the campaign's lists decide, whatever the figures were built with
    everyone = {
        u.unit: replace(
            u, exempt_reason=rules.exempt.get(u.unit), veto_reason=rules.veto.get(u.unit)
        )
        for u in units
    }
    ranked = [u for u in everyone.values() if not u.exempt and u.final is not None]
    district = _competition_ranks(rules, ranked)
    systems: dict[str, list[UnitFigure]] = defaultdict(list)
    for u in everyone.values():
        systems[u.system].append(u)
    out: dict[str, UnitFigure] = {}
    rollup: dict[str, SystemFigure] = {}
    for system, all_members in sorted(systems.items()):
        members = [u for u in all_members if not u.exempt]
        in_rank = [u for u in members if u.final is not None]
        ranks = _competition_ranks(rules, in_rank)
        advanced = _advanced(rules, members, ranks)
        counts = {ADVANCED: 0, PASSING: 0, LAGGING: 0}
        for u in all_members:
            grade: str | None = None
            reason: str | None = None
            if u.exempt:
                reason = f"免评: {u.exempt_reason}"
            elif u.veto_reason is not None:
                grade, reason = LAGGING, f"一票否决: {u.veto_reason}"
            elif u.score is None:
                reason = "无有效评议样本"
            elif u.unit in advanced:
                grade = ADVANCED
            elif u.score >= rules.advanced_min:
                grade, reason = PASSING, "先进名额已满"
            elif u.score >= rules.passing_min:
                grade = PASSING
            else:
                grade = LAGGING
            if grade is not None:
                counts[grade] += 1
            out[u.unit] = replace(
                u,
                system_rank=ranks.get(u.unit),
                district_rank=district.get(u.unit),
                grade=grade,
                grade_reason=reason,
            )
        scores = [u.score for u in in_rank if u.score is not None]
        mean = (
            published(sum((exact(s) for s in scores), Fraction(0)) / len(scores))
            if scores
            else None
        )
        rollup[system] = SystemFigure(
            system=system,
            units=len(in_rank),
            score=mean,
            satisfied=sum(u.satisfied for u in in_rank),
            counted=sum(u.counted for u in in_rank),
            advanced=counts[ADVANCED],
            passing=counts[PASSING],
            lagging=counts[LAGGING],
            exempt=sum(1 for u in all_members if u.exempt),
        )
    return out, rollup
