"""Results: from counted observations to scores, ranks and grades.

Two halves. The rules (pure, no I/O, top of this file) turn tallies into figures; the
database half (bottom) reads the tallies ``sync.tallies`` keeps (the GROUP BY sums of
the observations, per unit, counted again for every unit a change touched) and writes
the figures with ``sync.upsert.upsert``. Every number can be recomputed by hand from
the stored responses with the rules below and the campaign file:

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

import csv
import gc
import io
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from functools import cached_property
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sync import models as m
from sync import tallies
from sync.errors import InputError, Location
from sync.locks import results_lock
from sync.tallies import Tally, exact, fsum
from sync.upsert import upsert

if TYPE_CHECKING:
    from sync.catalogue import Campaign, Catalogue

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

    @cached_property
    def weighted(self) -> tuple[tuple[str, Fraction], ...]:
        """The dimensions with a positive weight, in the campaign's order."""
        return tuple((d, w) for d, w in self.dimension_weights.items() if w > 0)

    @cached_property
    def weighted_total(self) -> Fraction:
        return fsum(w for _, w in self.weighted)


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
    #: the groups the composite was computed from
    groups_used: tuple[str, ...] = ()
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
    missing: tuple[str, ...] = ()
    if rule is None or not rule.dimension_weights:
        weights = dict.fromkeys(answered, Fraction(1))
        total = Fraction(len(weights))
    else:
        weights = {d: w for d, w in rule.weighted if d in answered}
        if len(weights) == len(rule.weighted):  # the usual case: every one answered
            total = rule.weighted_total
        else:
            missing = tuple(sorted(d for d, _ in rule.weighted if d not in answered))
            total = fsum(weights.values())
    if not total:
        return None, missing
    # sum of w * points / count over the dimensions, as one numerator and denominator:
    # the same exact value as adding Fractions, without reducing after every step
    num, den = 0, 1
    for d, w in weights.items():
        t = answered[d]
        a = w.numerator * t.points.numerator
        b = w.denominator * t.points.denominator * t.count
        num, den = num * b + a * den, den * b
    return Fraction(num, den) / total, missing


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
    used: list[str] = []
    for group in sorted(set(by_group) | set(rules.groups)):
        rule = rules.groups.get(group)
        dims = by_group.get(group, {})
        pooled = Tally.pool(dims.values())
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
                used.append(group)
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
    total_weight = fsum(w for w, _ in weighted)
    questionnaire = fsum(w * s for w, s in weighted) / total_weight if total_weight else None
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
        groups_used=tuple(used),
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


# ---------------------------------------------------------------------------------------
# the database half: tallies by GROUP BY, figures written with the one upsert
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefreshReport:
    campaign: str
    units_recomputed: int  # units whose figures were composed (all of the campaign's)
    units_recounted: int  # of which counted again from the observations
    units_ranked: int
    observations: int  # counted observations the figures rest on
    #: units whose kept sums a recount found different (``tallies``); should be none
    drifted: tuple[str, ...]
    duration_s: float


DIMENSION_KEY = ("campaign_code", "unit_code", "group_code", "dimension_code")
GROUP_KEY = ("campaign_code", "unit_code", "group_code")
UNIT_KEY = ("campaign_code", "unit_code")
NONE = Tally()


def _float(value: Fraction | Decimal | None) -> float | None:
    return None if value is None else float(value)


def _rate(satisfied: int, counted: int) -> dict[str, float | None]:
    if not counted:
        return {"satisfaction_rate": None, "rate_low": None, "rate_high": None}
    low, high = wilson(satisfied, counted) or (0.0, 0.0)
    return {
        "satisfaction_rate": satisfied / counted,
        "rate_low": round(low, 6),
        "rate_high": round(high, 6),
    }


def _table(model: type[Any]) -> sa.Table:
    table = model.__table__
    assert isinstance(table, sa.Table)
    return table


def _replace_rows(
    conn: Connection,
    table: type[Any],
    *,
    campaign: str,
    rows: list[dict[str, Any]],
    key: tuple[str, ...],
    units: Iterable[str] | None = None,
) -> None:
    """Make the campaign's stored rows (of ``units`` only, if given) equal ``rows``:
    upsert the rows that are new or differ, delete the ones the figures no longer have
    (a dimension whose only answers were appealed away, a unit that left the campaign).
    Rows already equal are not written at all, so a rebuild that changes nothing writes
    nothing and costs about one read of the results."""
    t = _table(table)
    scope = sa.and_(
        t.c.campaign_code == campaign,
        sa.true() if units is None else t.c.unit_code.in_(sorted(units)),
    )
    names = list(rows[0]) if rows else list(key)
    # rows as plain tuples in ``names`` order, built by itemgetter (in C): one tuple
    # comparison per row (a key has two columns at least, so itemgetter gives tuples)
    assert len(key) > 1
    of_key, of_row = itemgetter(*key), itemgetter(*names)
    stored_key = itemgetter(*(names.index(k) for k in key))
    stored = {
        stored_key(r): tuple(r)
        for r in conn.execute(sa.select(*(t.c[n] for n in names)).where(scope)).all()
    }
    fresh = {of_key(r): r for r in rows}
    stale = [k for k in stored if k not in fresh]
    for chunk_start in range(0, len(stale), 500):
        chunk = stale[chunk_start : chunk_start + 500]
        conn.execute(t.delete().where(sa.tuple_(*(t.c[k] for k in key)).in_(chunk)))
    changed = [r for k, r in fresh.items() if stored.get(k) != of_row(r)]
    if changed:
        update = [c for c in names if c not in key]
        upsert(conn, table, changed, key=key, update=update)


def _work_scores(conn: Connection, campaign: str) -> dict[str, Fraction]:
    w = m.WorkAssessment
    rows = conn.execute(sa.select(w.unit_code, w.score).where(w.campaign_code == campaign))
    return {unit: exact(score) for unit, score in rows}


def campaign_of(catalogue: Catalogue, code: str) -> Campaign:
    try:
        return catalogue.campaigns[code]
    except KeyError:
        known = ", ".join(sorted(catalogue.campaigns)) or "none"
        raise InputError(
            Location(key=f"campaign {code}"),
            f"no campaign {code!r} in the catalogue (known: {known})",
            "give --campaign with one of the known codes, or add mappings/campaigns/<code>.yaml",
        ) from None


def refresh(
    engine: Engine,
    catalogue: Catalogue,
    campaign_code: str,
    units: set[str] | None = None,
    *,
    recount: bool = False,
) -> RefreshReport:
    """Bring the campaign's results up to date: count again the units whose records
    changed (``tallies``: the units every writer marked stale, plus ``units``; every
    unit with ``recount``), then compose every unit's figures from the kept sums, rank,
    grade and roll up the systems. One transaction: a reader sees the old results or the
    new ones, never a mix. Only result rows that differ are written. Refreshes of one
    campaign take turns (``locks.results_lock``), whichever daemon or command runs them."""
    started = time.perf_counter()
    campaign = campaign_of(catalogue, campaign_code)
    rules = rules_for(campaign)
    scope = {u.code: u.system for u in catalogue.campaign_units(campaign_code)}
    # The figures are a few thousand small objects: a collection pass in the middle of
    # building them costs as much as composing them, and none of them is a cycle.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with engine.connect() as conn, results_lock(conn, campaign_code), conn.begin():
            counted = tallies.update(conn, campaign_code, units or (), recount=recount)
            sums = tallies.read(conn, campaign_code)
            work = _work_scores(conn, campaign_code)
            figures: list[UnitFigure] = []
            group_rows: list[dict[str, Any]] = []
            for unit in sorted(scope):
                figure, groups = compose_unit(
                    rules,
                    unit=unit,
                    system=scope[unit],
                    tallies=sums.by_unit.get(unit, {}),
                    responses=sums.responses.get(unit, {}),
                    work=work.get(unit),
                )
                figures.append(figure)
                group_rows.extend(_group_row(campaign_code, g) for g in groups)
            # A dimension's figures (count, mean, rate, interval) are those of its sums
            # alone, with no campaign rule in them: written when the sums are counted
            # again, left alone when they are not. Group and unit figures, ranks, grades
            # and systems depend on the campaign file and on the other units: composed
            # anew every time.
            recounted = None if counted.everything else counted.recounted
            dim_rows = [
                _dimension_row(
                    campaign_code, key, answers, sums.by_unit.get(key[0], {}).get(key[1:], NONE)
                )
                for key, answers in sums.answers.items()
                if key[0] in scope and (recounted is None or key[0] in recounted)
            ]
            if recounted is None or recounted:
                _replace_rows(
                    conn,
                    m.ResultDimension,
                    campaign=campaign_code,
                    rows=dim_rows,
                    key=DIMENSION_KEY,
                    units=recounted,
                )
            ranked, systems = rank_and_grade(rules, figures)
            unit_rows = [_unit_row(campaign_code, rules, f) for f in ranked.values()]
            for table, rows, key in (
                (m.ResultGroup, group_rows, GROUP_KEY),
                (m.ResultUnit, unit_rows, UNIT_KEY),
            ):
                _replace_rows(conn, table, campaign=campaign_code, rows=rows, key=key)
            # units that left the campaign take their dimension rows with them
            detail = _table(m.ResultDimension)
            conn.execute(
                detail.delete().where(
                    detail.c.campaign_code == campaign_code,
                    detail.c.unit_code.not_in(sorted(scope)),
                )
            )
            _write_systems(conn, campaign_code, systems)
    finally:
        if collecting:
            gc.enable()
    return RefreshReport(
        campaign=campaign_code,
        units_recomputed=len(figures),
        units_recounted=len(counted.recounted),
        units_ranked=sum(1 for f in ranked.values() if f.district_rank is not None),
        observations=sums.observations,
        drifted=tuple(sorted(counted.drifted)),
        duration_s=time.perf_counter() - started,
    )


def rebuild(
    engine: Engine, catalogue: Catalogue, campaign_code: str, *, recount: bool = False
) -> RefreshReport:
    """Every figure of the campaign composed again from the kept sums (a dimension's
    figures with its sums); with ``recount``, every sum counted again from the stored
    observations and every dimension row rewritten (and any kept sum that differed
    reported)."""
    return refresh(engine, catalogue, campaign_code, None, recount=recount)


def _dimension_row(
    campaign: str, key: tuple[str, str, str], answers: int, t: Tally
) -> dict[str, Any]:
    unit, group, dim = key
    return {
        "campaign_code": campaign,
        "unit_code": unit,
        "group_code": group,
        "dimension_code": dim,
        "answers": answers,
        "counted": t.count,
        "satisfied": t.satisfied,
        "dissatisfied": t.dissatisfied,
        # the float nearest the exact mean (int / int rounds correctly), as _float(t.mean)
        # gives, without building the Fraction
        "mean_points": t.points.numerator / (t.points.denominator * t.count) if t.count else None,
        **_rate(t.satisfied, t.count),
    }


def _group_row(campaign: str, g: GroupFigure) -> dict[str, Any]:
    return {
        "campaign_code": campaign,
        "unit_code": g.unit,
        "group_code": g.group,
        "responses": g.responses,
        "insufficient": g.status == "insufficient",
        "score": _float(g.score),
        **_rate(g.tally.satisfied, g.tally.count),
    }


def _unit_row(campaign: str, rules: Rules, f: UnitFigure) -> dict[str, Any]:
    used = sorted(f.groups_used)
    return {
        "campaign_code": campaign,
        "unit_code": f.unit,
        "system_code": f.system,
        "responses": f.responses,
        "questionnaire_score": _float(f.questionnaire),
        "work_score": _float(f.work),
        # the published score (2 decimals): what ranks and grades were decided on
        "composite": _float(f.score),
        "satisfaction_rate": _float(f.rate),
        "renormalised": f.final is not None and set(used) != set(rules.groups),
        "groups_present": used,
        "rank_in_system": f.system_rank,
        "rank_in_district": f.district_rank,
        "grade": f.grade,
        "grade_reason": f.grade_reason,
        "exempt": f.exempt,
        "vetoed": f.veto_reason is not None,
    }


def _write_systems(conn: Connection, campaign: str, systems: Mapping[str, SystemFigure]) -> None:
    scored = sorted((s.score for s in systems.values() if s.score is not None), reverse=True)
    rows = [
        {
            "campaign_code": campaign,
            "system_code": s.system,
            "units_scored": s.units,
            "score": _float(s.score),
            "satisfaction_rate": s.satisfied / s.counted if s.counted else None,
            "rank": None if s.score is None else scored.index(s.score) + 1,
        }
        for s in systems.values()
    ]
    t = _table(m.ResultSystem)
    conn.execute(
        t.delete().where(t.c.campaign_code == campaign, t.c.system_code.not_in(sorted(systems)))
    )
    upsert(
        conn,
        m.ResultSystem,
        rows,
        key=("campaign_code", "system_code"),
        update=[c for c in rows[0] if c not in ("campaign_code", "system_code")] if rows else [],
    )


# ---------------------------------------------------------------------------------------
# the office's work assessment (30 %), from a CSV the office keeps
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkScore:
    unit: str
    score: float
    note: str | None


def read_work_csv(catalogue: Catalogue, path: Path) -> list[WorkScore]:
    """``unit,score[,note]`` (UTF-8, a BOM from Excel is fine), scores 0..100.

    Every problem names the file and line and stops the import: half an import would
    leave units scored on different bases."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(Location(file=str(path)), f"cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(
            Location(file=str(path)), "not UTF-8", "save the sheet as CSV UTF-8"
        ) from None
    reader = csv.DictReader(io.StringIO(text))
    fields = {(f or "").strip() for f in reader.fieldnames or ()}
    if not {"unit", "score"} <= fields:
        raise InputError(
            Location(file=str(path), line=1),
            "the header must name unit and score",
            f"found {sorted(fields)}; write unit,score,note",
        )
    out: list[WorkScore] = []
    seen: set[str] = set()
    for row in reader:
        where = Location(file=str(path), line=reader.line_num)
        clean = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        unit, raw = clean.get("unit", ""), clean.get("score", "")
        if unit not in catalogue.units:
            raise InputError(where, f"unknown unit {unit!r}", "use a unit code of the catalogue")
        if unit in seen:
            raise InputError(where, f"unit {unit!r} given twice", "keep one row per unit")
        seen.add(unit)
        try:
            value = float(raw)
        except ValueError:
            raise InputError(where, f"score {raw!r} is not a number") from None
        if not 0 <= value <= 100 or math.isnan(value):
            raise InputError(where, f"score {raw} is outside 0..100")
        out.append(WorkScore(unit, value, clean.get("note") or None))
    return out


def import_work(
    engine: Engine, catalogue: Catalogue, campaign_code: str, path: Path, *, entered_by: str
) -> set[str]:
    """Store the work-assessment scores of a CSV; returns the units to refresh."""
    campaign_of(catalogue, campaign_code)
    scores = read_work_csv(catalogue, path)
    rows = [
        {
            "campaign_code": campaign_code,
            "unit_code": s.unit,
            "score": s.score,
            "note": s.note,
            "entered_by": entered_by,
        }
        for s in scores
    ]
    with engine.begin() as conn:
        upsert(
            conn,
            m.WorkAssessment,
            rows,
            key=("campaign_code", "unit_code"),
            update=("score", "note", "entered_by"),
        )
    return {s.unit for s in scores}
