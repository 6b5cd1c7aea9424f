"""Every published figure against an independent, deliberately plain recomputation from
the raw ballots, on random campaigns: missing groups, tiny samples, exempt and vetoed
units, ties, appeals, deleted responses, work assessments present or not.

SQLite only (speed); the same SQL runs on PostgreSQL and MariaDB in test_score_db."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from sync import models as m
from sync import score
from sync.catalogue import Catalogue, GroupRule
from tests.test_score_db import (
    DISSATISFIED,
    POINTS,
    SATISFIED,
    Ballot,
    make_catalogue,
    snapshot,
    uphold_appeal,
    write_ballots,
    write_catalogue,
)

# mostly good answers, so scores cross the 75-point band and the quota matters
CODES = ["A1"] * 8 + ["A2", "A2", "A3", "A4", "A5", "A6"]
DIMS = ["service", "efficiency", "integrity"]
GROUP_CODES = ["citizens", "enterprises", "supervisors"]


@contextmanager
def memory_engine() -> Iterator[Engine]:
    engine = sa.create_engine("sqlite://", poolclass=sa.pool.StaticPool)
    sa.event.listen(engine, "connect", lambda c, _r: c.execute("PRAGMA foreign_keys=ON"))
    m.Base.metadata.create_all(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@st.composite
def campaigns(draw: st.DrawFn) -> dict[str, Any]:
    n_systems = draw(st.integers(1, 2))
    systems = {
        f"S{s}": [f"U{s}{u}" for u in range(draw(st.integers(1, 7)))] for s in range(n_systems)
    }
    units = [u for us in systems.values() for u in us]
    # each unit its own handful of ballots (0 to 8: empty, tiny and adequate samples)
    ballots = [
        b
        for unit in units
        for b in draw(
            st.lists(
                st.builds(
                    Ballot,
                    unit=st.just(unit),
                    group=st.sampled_from(GROUP_CODES),
                    answers=st.dictionaries(
                        st.sampled_from(DIMS), st.sampled_from(CODES), min_size=0, max_size=3
                    ),
                    deleted=st.sampled_from([False, False, False, True]),
                ),
                max_size=8,
            )
        )
    ]
    # a twin gets exactly its source's ballots (and work score, below): exact ties, also
    # across the 先进 quota boundary
    pairs = {
        u: t
        for us in systems.values()
        for u, t in draw(st.lists(st.tuples(st.sampled_from(us), st.sampled_from(us)), max_size=3))
    }
    twins = {t: u for u, t in pairs.items() if t != u and t not in pairs}
    ballots = [b for b in ballots if b.unit not in twins] + [
        Ballot(t, b.group, dict(b.answers), b.deleted)
        for t, u in twins.items()
        for b in ballots
        if b.unit == u
    ]
    weights = draw(st.sampled_from([(0.5, 0.3, 0.2), (1.0, 0.0, 0.0), (0.4, 0.4, 0.2)]))
    dim_weights = draw(st.sampled_from([{}, {"service": 0.6, "efficiency": 0.4}]))
    groups = {
        g: GroupRule(
            weight=w,
            min_sample=draw(st.sampled_from([None, 1, 3])),
            dimension_weights=dim_weights if g == "citizens" else {},
        )
        for g, w in zip(GROUP_CODES, weights, strict=True)
    }
    exempt = draw(st.lists(st.sampled_from(units), max_size=2, unique=True))
    veto = draw(st.lists(st.sampled_from(units), max_size=2, unique=True))
    work = draw(
        st.dictionaries(st.sampled_from(units), st.sampled_from([50.0, 75.5, 90.0, 100.0]))
        | st.just(dict.fromkeys(units, 90.0))
    )
    for t, u in twins.items():
        work.pop(t, None)
        if u in work:
            work[t] = work[u]
    return {
        "systems": systems,
        "ballots": ballots,
        "groups": groups,
        "exempt": dict.fromkeys(exempt, "上年度免评"),
        "veto": {u: "重大事故" for u in veto if u not in exempt},
        "tie": draw(st.sampled_from(["share", "satisfaction_rate_then_count"])),
        "min_sample": draw(st.integers(1, 3)),
        "appealed": draw(st.sets(st.integers(0, 99), max_size=8)),
        "work": work,
    }


# ----------------------------------------------------------------- the plain recomputation


def half_up(x: Fraction) -> Decimal:
    return (Decimal(x.numerator) / Decimal(x.denominator)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )


def expected(case: dict[str, Any], cat: Catalogue) -> dict[str, dict[str, Any]]:
    camp = cat.campaigns["2022"]
    live = [b for i, b in enumerate(case["ballots"]) if not b.deleted and i not in case["appealed"]]
    out: dict[str, dict[str, Any]] = {}
    for system, units in case["systems"].items():
        for unit in units:
            group_scores: dict[str, Fraction] = {}
            sat = counted = responses = 0
            for g, rule in camp.groups.items():
                mine = [b for b in live if b.unit == unit and b.group == g]
                points: dict[str, list[Fraction]] = {}
                for b in mine:
                    for d, code in b.answers.items():
                        if code in POINTS:
                            points.setdefault(d, []).append(Fraction(int(POINTS[code])))
                            counted += 1
                            sat += code in SATISFIED
                n = sum(1 for b in mine if any(c in POINTS for c in b.answers.values()))
                responses += n
                if not points:
                    continue
                means = {d: sum(v) / len(v) for d, v in points.items()}
                if rule.dimension_weights:
                    w = {
                        d: Fraction(str(x))
                        for d, x in rule.dimension_weights.items()
                        if d in means and x > 0
                    }
                else:
                    w = dict.fromkeys(means, Fraction(1))
                need = rule.min_sample if rule.min_sample is not None else case["min_sample"]
                if not w or n < need or rule.weight == 0:
                    continue
                group_scores[g] = Fraction(sum(w[d] * means[d] for d in w)) / sum(w.values())
            total = sum(Fraction(str(camp.groups[g].weight)) for g in group_scores)
            final: Fraction | None = None
            if total:
                q = (
                    sum(Fraction(str(camp.groups[g].weight)) * s for g, s in group_scores.items())
                    / total
                )
                work = case["work"].get(unit)
                final = (
                    q
                    if work is None
                    else (Fraction(7, 10) * q + Fraction(3, 10) * Fraction(str(work)))
                )
            out[unit] = {
                "system": system,
                "score": None if final is None else half_up(final),
                "rate": sat / counted if counted else None,
                "responses": responses,
                "exempt": unit in case["exempt"],
                "veto": unit in case["veto"],
            }
    return out


def key(case: dict[str, Any], u: dict[str, Any]) -> tuple[Any, ...]:
    if case["tie"] == "share":
        return (u["score"],)
    return (u["score"], u["rate"] or 0.0, u["responses"])


def plain_ranks(case: dict[str, Any], units: dict[str, dict[str, Any]]) -> dict[str, int]:
    # rank = 1 + number of units with a strictly better key
    return {
        c: 1 + sum(1 for o in units.values() if key(case, o) > key(case, u))
        for c, u in units.items()
    }


def plain_grades(case: dict[str, Any], exp: dict[str, dict[str, Any]]) -> dict[str, str | None]:
    grades: dict[str, str | None] = {}
    for system in case["systems"]:
        members = {c: u for c, u in exp.items() if u["system"] == system and not u["exempt"]}
        graded = [c for c, u in members.items() if u["veto"] or u["score"] is not None]
        cap = math.floor(Fraction(3, 10) * len(graded))
        ranked = {c: u for c, u in members.items() if u["score"] is not None}
        ranks = plain_ranks(case, ranked)
        eligible = [c for c, u in ranked.items() if not u["veto"] and u["score"] >= 75]
        advanced: set[str] = set()
        # take whole tie groups from the top while they fit under the cap
        for r in sorted({ranks[c] for c in eligible}):
            tied = {c for c in eligible if ranks[c] == r}
            if len(advanced) + len(tied) > cap:
                break
            advanced |= tied
        for c, u in exp.items():
            if u["system"] != system:
                continue
            if u["exempt"]:
                grades[c] = None
            elif u["veto"]:
                grades[c] = score.LAGGING
            elif u["score"] is None:
                grades[c] = None
            elif c in advanced:
                grades[c] = score.ADVANCED
            elif u["score"] >= 60:
                grades[c] = score.PASSING
            else:
                grades[c] = score.LAGGING
    return grades


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=campaigns())
def test_every_figure_matches_a_plain_recomputation(case: dict[str, Any]) -> None:
    cat = make_catalogue(
        case["systems"],
        groups=case["groups"],
        exempt=case["exempt"],
        veto=case["veto"],
        tie=case["tie"],
        min_sample=case["min_sample"],
    )
    with memory_engine() as engine:
        with engine.begin() as conn:
            write_catalogue(conn, cat)
            pks = write_ballots(conn, case["ballots"])
            for i in case["appealed"]:
                if i < len(pks):
                    uphold_appeal(conn, pks[i])
            for unit, value in case["work"].items():
                conn.execute(
                    sa.insert(m.WorkAssessment).values(
                        campaign_code="2022", unit_code=unit, score=value
                    )
                )
        score.rebuild(engine, cat, "2022")
        with engine.connect() as conn:
            got = {r["unit_code"]: r for r in conn.execute(sa.select(m.ResultUnit)).mappings()}
            dims = conn.execute(sa.select(m.ResultDimension)).mappings().all()
        exp = expected(case, cat)
        assert set(got) == set(exp)
        for unit, e in exp.items():
            g = got[unit]
            want = None if e["score"] is None else float(e["score"])
            assert g["composite"] == want, unit
            assert g["responses"] == e["responses"], unit
            assert g["satisfaction_rate"] == e["rate"], unit
            assert g["exempt"] is e["exempt"]
        ranked = {c: u for c, u in exp.items() if not u["exempt"] and u["score"] is not None}
        district = plain_ranks(case, ranked)
        assert {c: got[c]["rank_in_district"] for c in exp} == {c: district.get(c) for c in exp}
        for system in case["systems"]:
            in_system = {c: u for c, u in ranked.items() if u["system"] == system}
            ranks = plain_ranks(case, in_system)
            assert {c: got[c]["rank_in_system"] for c in exp if exp[c]["system"] == system} == {
                c: ranks.get(c) for c in exp if exp[c]["system"] == system
            }
        assert {c: got[c]["grade"] for c in exp} == plain_grades(case, exp)
        # dimension rows: counts and exact means from the live, unappealed ballots
        live = [
            b for i, b in enumerate(case["ballots"]) if not b.deleted and i not in case["appealed"]
        ]
        for row in dims:
            pts = [
                POINTS[c]
                for b in live
                if (b.unit, b.group) == (row["unit_code"], row["group_code"])
                for d, c in b.answers.items()
                if d == row["dimension_code"] and c in POINTS
            ]
            dis = [
                c
                for b in live
                if (b.unit, b.group) == (row["unit_code"], row["group_code"])
                for d, c in b.answers.items()
                if d == row["dimension_code"] and c in DISSATISFIED
            ]
            assert row["counted"] == len(pts)
            assert row["dissatisfied"] == len(dis)
            assert row["mean_points"] == (
                float(Fraction(sum(map(int, pts)), len(pts))) if pts else None
            )
        # a refresh of any subset after a rebuild changes nothing
        before = snapshot(engine)
        some = set(list(exp)[::2])
        score.refresh(engine, cat, "2022", some)
        assert snapshot(engine) == before
