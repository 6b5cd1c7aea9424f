"""Tallies: the sums of the scorable observations that every result is composed from.

A campaign's results rest on a few thousand sums: per unit, group and dimension the
answers, the counted answers, their exact points and the satisfied and dissatisfied
ones, and per unit and group the responses with a counted answer. Counting them takes
a GROUP BY over every observation (about 0.3 s per million rows on PostgreSQL), and a
sync pass touches a few units, so the sums are kept per unit (``TallyDimension``,
``TallySample``) and only the units a change touched are counted again:

- every transaction that changes a response, its observations or an appeal calls
  ``mark_stale`` with the (campaign, unit) pairs it touched, in that same transaction
  (``store`` and the appeal functions in ``ledger`` do), so a crash loses no mark;
- ``update`` (run by ``score.refresh`` in its own transaction) takes the marks, counts
  those units again from the observations, and replaces their sums. A campaign that
  has no sums yet (a new database, one upgraded from before the tallies) is counted
  whole; ``recount=True`` counts every unit again and reports any unit whose kept sums
  differed (a row written behind Pingyi's back: nothing else should cause one).

The sums are counts, so they are exact: the points as a fraction (``"1735/2"``), never
a float sum. Each unit's sums are always a count of its observations in one snapshot.

A dimension's published figures (``ResultDimension``: count, mean, rate, interval) are a
function of its sums alone, so ``score.refresh`` writes them when the sums are counted
and leaves them alone otherwise. A change to how those figures are computed must come
with a migration that deletes the kept sums (``pingyi_tally_dimension``), so the first
refresh after the upgrade counts and writes everything again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import InstrumentedAttribute

from sync import models as m
from sync.db import utcnow
from sync.upsert import upsert

__all__ = ["Counts", "Tally", "TallyUpdate", "exact", "fsum", "mark_stale", "read", "update"]


def exact(value: float | int | str | Fraction | Decimal) -> Fraction:
    """The number as written: 0.1 from a YAML file is 1/10, not the nearest binary float."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, float):
        return Fraction(repr(value))
    return Fraction(value)


def fsum(values: Iterable[Fraction]) -> Fraction:
    """The exact sum of ``values``, reduced once at the end: ``sum()`` of Fractions
    reduces after every addition, which is most of the cost of composing the results."""
    num, den = 0, 1
    for v in values:
        if v.denominator == den:
            num += v.numerator
        else:
            num, den = num * v.denominator + v.numerator * den, den * v.denominator
    return Fraction(num, den)


@dataclass(frozen=True)
class Tally:
    """Counted answers of one (unit, group, dimension)."""

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

    @classmethod
    def pool(cls, tallies: Iterable[Tally]) -> Tally:
        """The sum of ``tallies`` (a group's dimensions pooled): one Fraction at the
        end rather than one per addition, which costs more than the rest of a rebuild."""
        listed = list(tallies)
        return cls(
            sum(t.count for t in listed),
            fsum(t.points for t in listed),
            sum(t.satisfied for t in listed),
            sum(t.dissatisfied for t in listed),
        )


@dataclass
class Counts:
    """A campaign's sums as the results read them."""

    #: unit -> (group, dimension) -> counted answers; only pairs with one at least
    by_unit: dict[str, dict[tuple[str, str], Tally]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    #: (unit, group, dimension) -> answers, "don't know" included
    answers: dict[tuple[str, str, str], int] = field(default_factory=dict)
    #: unit -> group -> live responses with a counted answer
    responses: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    #: counted observations in all
    observations: int = 0


@dataclass(frozen=True)
class TallyUpdate:
    #: units counted again from the observations
    recounted: frozenset[str]
    #: (recount only) units whose kept sums were not what the observations give
    drifted: frozenset[str] = frozenset()
    #: every unit of the campaign was counted (``recount``, or no sums were kept)
    everything: bool = False


def mark_stale(conn: Connection, pairs: Iterable[tuple[str, str]]) -> None:
    """Mark (campaign, unit) pairs for recounting, in the caller's transaction.

    An upsert that always writes ``marked_at``: a recount deleting the same mark waits
    for this transaction's commit (the row is locked) and then counts what it wrote."""
    now = utcnow()
    rows = [
        {"campaign_code": campaign, "unit_code": unit, "marked_at": now}
        for campaign, unit in sorted(set(pairs))
    ]
    if rows:
        upsert(conn, m.TallyStale, rows, ("campaign_code", "unit_code"), ["marked_at"])


def _units(
    column: InstrumentedAttribute[str], units: frozenset[str] | None
) -> sa.ColumnElement[bool]:
    return sa.true() if units is None else column.in_(sorted(units))


def _take_marks(conn: Connection, campaign: str) -> set[str]:
    """Delete the campaign's marks and return their units. The DELETE comes before any
    count, so a writer marking a unit again either committed before it (and is counted)
    or marks it anew after it (and is counted next time)."""
    s = m.TallyStale
    mine = s.campaign_code == campaign
    if conn.dialect.delete_returning:  # PostgreSQL, SQLite, MariaDB 10.5+
        return set(conn.execute(sa.delete(s).where(mine).returning(s.unit_code)).scalars())
    # MySQL: a locking read waits for the writer the same way, then the delete
    units = set(conn.execute(sa.select(s.unit_code).where(mine).with_for_update()).scalars())
    if units:
        conn.execute(sa.delete(s).where(mine, s.unit_code.in_(sorted(units))))
    return units


def _count(
    conn: Connection, campaign: str, units: frozenset[str] | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The two GROUP BYs over the observations of ``units`` (all when ``None``): answers
    per points value (summed exactly here, not by the database), and the live responses
    with a counted answer per (unit, group)."""
    o, r = m.Observation, m.Response
    if conn.dialect.name == "postgresql":
        # the aggregate has few groups but the planner guesses many: with the default
        # 4 MB it sorts 1M rows on disk instead of hashing them
        conn.execute(sa.text("SET LOCAL work_mem = '128MB'"))
    # satisfied/dissatisfied are summed, not grouped on: fewer keys, a cheaper hash
    keys = (r.unit_code, r.group_code, o.dimension_code, o.counted, o.points)
    # An observation's unit and group are its response's (migration 0006: a rating holds
    # nothing its response holds). A few units: their live responses by the response
    # table's (campaign, unit) index, then each one's observations by their key
    # (response_pk, item); a whole campaign: every response joined to its ratings. The
    # exclusion is tested on the response, so that the planner has nothing to check on
    # the observation side but the key.
    query = (
        sa.select(
            *keys,
            sa.func.count(),
            sa.func.sum(sa.case((o.satisfied.is_(True), 1), else_=0)),
            sa.func.sum(sa.case((o.dissatisfied.is_(True), 1), else_=0)),
        )
        .join(r, r.id == o.response_pk)
        .where(r.campaign_code == campaign, _units(r.unit_code, units), m.in_scope(r.id))
        .group_by(*keys)
    )
    rows = conn.execute(query).all()
    # plain integers per key, one Fraction per distinct points value: a Fraction per
    # row of the GROUP BY costs more than the rest of the arithmetic
    sums: dict[tuple[str, str, str], list[Any]] = {}
    points_of: dict[float, Fraction] = {}
    for unit, group, dim, counted, points, n, sat, dissat in rows:
        acc = sums.get((unit, group, dim))
        if acc is None:
            acc = sums[(unit, group, dim)] = [0, 0, Fraction(0), 0, 0]
        acc[0] += n
        if not counted or points is None:
            continue
        value = points_of.get(points)
        if value is None:
            value = points_of[points] = exact(points)
        acc[1] += n
        acc[2] += value * n
        acc[3] += int(sat)
        acc[4] += int(dissat)
    dimension_rows = [
        {
            "campaign_code": campaign,
            "unit_code": unit,
            "group_code": group,
            "dimension_code": dim,
            "answers": answers,
            "counted": counted,
            "points_sum": str(total),
            "satisfied": sat,
            "dissatisfied": dissat,
        }
        for (unit, group, dim), (answers, counted, total, sat, dissat) in sorted(sums.items())
    ]
    # from the (ten times smaller) responses: live, not appealed, one counted answer at least
    answered = (
        sa.select(o.response_pk)
        .where(o.response_pk == r.id, o.counted.is_(True), o.points.is_not(None))
        .exists()
    )
    per_group = (
        sa.select(r.unit_code, r.group_code, sa.func.count())
        .where(
            r.campaign_code == campaign,
            _units(r.unit_code, units),
            r.id.not_in(m.excluded_responses()),
            answered,
        )
        .group_by(r.unit_code, r.group_code)
    )
    sample_rows = [
        {"campaign_code": campaign, "unit_code": unit, "group_code": group, "responses": n}
        for unit, group, n in sorted(conn.execute(per_group).all())
    ]
    return dimension_rows, sample_rows


_DIMENSION_KEY = ("campaign_code", "unit_code", "group_code", "dimension_code")
_DIMENSION_SUMS = ("answers", "counted", "points_sum", "satisfied", "dissatisfied")
_SAMPLE_KEY = ("campaign_code", "unit_code", "group_code")


def _kept(
    conn: Connection, table: type[Any], names: tuple[str, ...], campaign: str
) -> dict[str, set[tuple[Any, ...]]]:
    """The kept rows per unit, as tuples of ``names``: what a recount compares against."""
    t = m.Base.metadata.tables[table.__tablename__]
    out: dict[str, set[tuple[Any, ...]]] = defaultdict(set)
    for row in conn.execute(
        sa.select(*(t.c[n] for n in names)).where(t.c.campaign_code == campaign)
    ):
        out[row[1]].add(tuple(row))
    return out


def _as_kept(rows: list[dict[str, Any]], names: tuple[str, ...]) -> dict[str, set[tuple[Any, ...]]]:
    out: dict[str, set[tuple[Any, ...]]] = defaultdict(set)
    for row in rows:
        out[row["unit_code"]].add(tuple(row[n] for n in names))
    return out


def update(
    conn: Connection, campaign: str, units: Iterable[str] = (), *, recount: bool = False
) -> TallyUpdate:
    """Bring the campaign's sums up to date in ``conn``'s transaction: count again the
    units marked stale, ``units``, or (``recount``, or no sums kept yet) every unit."""
    marked = _take_marks(conn, campaign)
    d, s = m.TallyDimension, m.TallySample
    if not recount:
        recount = (
            conn.execute(sa.select(d.unit_code).where(d.campaign_code == campaign).limit(1)).first()
            is None
        )
    targets = None if recount else frozenset(marked | set(units))
    if targets is not None and not targets:
        return TallyUpdate(frozenset())
    dimension_rows, sample_rows = _count(conn, campaign, targets)
    drifted: set[str] = set()
    if recount:
        for names, table, rows in (
            ((*_DIMENSION_KEY, *_DIMENSION_SUMS), d, dimension_rows),
            ((*_SAMPLE_KEY, "responses"), s, sample_rows),
        ):
            before = _kept(conn, table, names, campaign)
            after = _as_kept(rows, names)
            drifted |= {u for u in set(before) | set(after) if before.get(u) != after.get(u)}
            if table is d and not before:
                drifted = set()  # nothing was kept: a first count, not a drift
                break
    for table in (d, s):
        conn.execute(
            sa.delete(table).where(
                table.campaign_code == campaign, _units(table.unit_code, targets)
            )
        )
    if dimension_rows:
        conn.execute(sa.insert(d), dimension_rows)
    if sample_rows:
        conn.execute(sa.insert(s), sample_rows)
    counted = (
        frozenset(r["unit_code"] for r in dimension_rows) | frozenset(marked)
        if targets is None
        else targets
    )
    return TallyUpdate(counted, frozenset(drifted), everything=targets is None)


def read(conn: Connection, campaign: str) -> Counts:
    """The campaign's kept sums (bring them up to date with ``update`` first)."""
    d, s = m.TallyDimension, m.TallySample
    out = Counts()
    fractions: dict[str, Fraction] = {}
    rows = conn.execute(
        sa.select(
            d.unit_code,
            d.group_code,
            d.dimension_code,
            d.answers,
            d.counted,
            d.points_sum,
            d.satisfied,
            d.dissatisfied,
        ).where(d.campaign_code == campaign)
    ).all()
    for unit, group, dim, answers, counted, points, sat, dissat in rows:
        out.answers[(unit, group, dim)] = answers
        if not counted:
            continue
        total = fractions.get(points)
        if total is None:
            # most sums are whole numbers: int() parses them faster than Fraction()
            total = fractions[points] = Fraction(points if "/" in points else int(points))
        out.by_unit[unit][(group, dim)] = Tally(counted, total, sat, dissat)
        out.observations += counted
    for unit, group, n in conn.execute(
        sa.select(s.unit_code, s.group_code, s.responses).where(s.campaign_code == campaign)
    ):
        out.responses[unit][group] = n
    return out
