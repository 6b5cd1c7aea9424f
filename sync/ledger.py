"""The rectification ledger (整改台账) and appeals (申诉复核).

Items are raised from the records, never typed twice:

- **rating**: one item per complaint, i.e. per live response with at least one
  dissatisfied answer that counts (``models.scorable()``: counted, response not deleted,
  no upheld appeal). Its content names every dissatisfied dimension with its level
  (群众评价「服务意识」为不满意、「工作效率」为非常不满意（问卷 410001 答卷 123）); its comment
  carries the rater's comments that are general or about one of those dimensions;
  ``dimension_code`` is the dimension when there is only one, else null. Key
  ``complaint:<site>:<survey>:<response id>``: LimeSurvey's own identity, so a resync, a
  rebuild or a second daemon finds the item already there. (Items with the older
  per-answer keys ``rating:...:<column>`` are left as they are.)
- **dimension**: a unit's dimension whose satisfaction rate (all groups' counted answers,
  from the results) falls below the campaign's ``satisfaction_threshold``, once it has
  at least the campaign's ``min_sample`` answers. Key ``dimension:<campaign>:<unit>:<dim>``.
  Raised once. While it is pending (open or assigned) it follows the rate: a rate back
  at or above the threshold (or answers back below the minimum, after deletions or
  appeals) withdraws it with the rate in its history; a withdrawn item whose rate falls
  below again reopens with the new rate as its content. A rectified or verified item
  keeps its status: the work was done.

A complaint item follows its response, every raise:

- the response's dissatisfied set (or unit, or comments) changes: the item's content is
  rewritten in place, whatever its status, with a history event that keeps the old text;
- the response stops being a complaint while the item is pending (open or assigned):
  edited to satisfied, or deleted in LimeSurvey, it goes to ``withdrawn`` (closed) with
  the reason in its history; excluded by an upheld appeal, it goes to ``appealed`` as
  ``add_appeal`` does. A rectified or verified item keeps its status: the work was done;
- a withdrawn item whose response is a complaint again goes back to ``open``.

``withdrawn`` follows the records only: no person moves an item into or out of it.
Automatic moves are compare-and-set updates, so two daemons raising the same items at
once record each change once and never fail on each other.

Exempt units' items are raised too (免评不免建). The deadline is the campaign's
``deadline_working_days`` after the rating's local submission date (or the day the item
is raised when LimeSurvey recorded no time), on the campaign's working-day calendar; it
is not moved by later edits.

Status: open -> assigned -> rectified -> verified; open/assigned -> appealed; a revoked or
rejected appeal sends the item back to open; a failed verification sends a rectified
item back to assigned; open/assigned -> withdrawn -> open as above. Every change is a
LedgerEvent with who, when and a note.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sync import models as m
from sync import tallies
from sync.db import utcnow
from sync.errors import InputError, Location
from sync.score import campaign_of, refresh
from sync.tallies import exact
from sync.upsert import upsert
from sync.workdays import WorkCalendar

if TYPE_CHECKING:
    from sync.catalogue import Campaign, Catalogue

S = m.LedgerStatus
#: allowed status changes; anything else is refused with the list of what is allowed
TRANSITIONS: dict[str, frozenset[str]] = {
    S.OPEN: frozenset({S.ASSIGNED, S.APPEALED, S.WITHDRAWN}),
    S.ASSIGNED: frozenset({S.ASSIGNED, S.RECTIFIED, S.APPEALED, S.WITHDRAWN}),
    S.RECTIFIED: frozenset({S.VERIFIED, S.ASSIGNED}),
    S.VERIFIED: frozenset(),
    S.APPEALED: frozenset({S.OPEN}),
    S.WITHDRAWN: frozenset({S.OPEN}),
}
#: statuses only the records set (raise_items), never a person
BY_RECORDS = frozenset({S.WITHDRAWN})
#: statuses in which a passed deadline makes an item overdue
PENDING = (S.OPEN.value, S.ASSIGNED.value)
#: statuses that close an item (``closed_at`` set)
CLOSED = frozenset({S.VERIFIED, S.WITHDRAWN})
COMPLAINT = "complaint:"
DEFAULT_ZONE = ZoneInfo("Asia/Shanghai")
_CHUNK = 500
_Row = sa.Row[*tuple[Any, ...]]
_Query = TypeVar("_Query", bound=sa.Select[*tuple[Any, ...]])


def calendar_of(campaign: Campaign) -> WorkCalendar:
    rect = campaign.rectification
    return WorkCalendar.of(rect.holidays, rect.extra_workdays)


@dataclass(frozen=True)
class LedgerSyncReport:
    created: int
    #: complaint items the records call for now (new or not)
    rating_items: int
    dimension_items: int
    #: complaint items whose content was rewritten after an edit
    updated: int = 0
    #: pending items withdrawn (or appealed) because their response no longer counts or
    #: their dimension's rate recovered
    closed: int = 0
    #: withdrawn items whose response is a complaint again, or whose rate fell again
    reopened: int = 0


def _item_where(item_id: int) -> Location:
    return Location(key=f"ledger item {item_id}")


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def complaint_key(site: str, survey_id: int, response_id: int) -> str:
    return f"{COMPLAINT}{site}:{survey_id}:{response_id}"


def raise_items(
    engine: Engine,
    catalogue: Catalogue,
    campaign_code: str,
    *,
    units: Iterable[str] | None = None,
    today: dt.date | None = None,
    zone: ZoneInfo = DEFAULT_ZONE,
    actor: str = "pingyi",
) -> LedgerSyncReport:
    """Bring the ledger in line with the records (idempotent): create the items they call
    for, rewrite complaint items whose response was edited, close or reopen complaint
    items whose response stopped or started being a complaint (see the module's rules).

    ``units`` limits the work to those units' items and responses (``after_sync``)."""

    campaign = campaign_of(catalogue, campaign_code)
    cal = calendar_of(campaign)
    days = campaign.rectification.deadline_working_days
    today = today or dt.datetime.now(zone).date()
    now = utcnow()
    unit_list = None if units is None else sorted(set(units))
    with engine.begin() as conn:
        existing = _complaint_items(conn, campaign_code, unit_list)
        wanted = _complaint_rows(
            conn,
            catalogue,
            campaign,
            unit_list,
            also=sorted({x["response_pk"] for x in existing.values() if x["response_pk"]}),
            calendar=cal,
            today=today,
            zone=zone,
            now=now,
        )
        # a response that moved here from a unit outside ``units`` brings its item along
        missing = sorted(k for k in wanted if k not in existing)
        for keys in _chunks(missing):
            existing.update(_complaint_items(conn, campaign_code, None, keys=keys))
        below, rates = _dimension_rows(
            conn,
            catalogue,
            campaign=campaign,
            units=unit_list,
            deadline=cal.add_working_days(today, days),
            now=now,
        )
        raised = _items(conn, campaign_code, unit_list, source="dimension")
        fresh = [row for key, row in wanted.items() if key not in existing]
        fresh += [row for key, row in below.items() if key not in raised]
        created = _insert_new(conn, fresh, actor, now)
        updated = reopened = closed = 0
        for key, row in wanted.items():
            item = existing.get(key)
            if item is None:
                continue
            if item["status"] == S.WITHDRAWN.value:
                reopened += _reopen(conn, item, row, actor=actor, now=now)
            elif _differs(item, row):
                updated += _rewrite(conn, item, row, actor=actor, now=now)
        gone = [x for k, x in existing.items() if k not in wanted and x["status"] in PENDING]
        if gone:
            closed = _close_gone(conn, gone, actor=actor, now=now)
        for key, item in raised.items():
            if key in below and item["status"] == S.WITHDRAWN.value:
                note = (
                    f"满意率再次低于 {campaign.rectification.satisfaction_threshold:.0%}，重新打开"
                )
                reopened += _reopen(conn, item, below[key], actor=actor, now=now, note=note)
            elif key not in below and item["status"] in PENDING:
                note = _recovered(campaign, *rates.get(key, (0, 0)))
                closed += _move(conn, item, S.WITHDRAWN, actor=actor, now=now, note=note)
    return LedgerSyncReport(created, len(wanted), len(below), updated, closed, reopened)


def _recovered(campaign: Campaign, sat: int, cnt: int) -> str:
    threshold = campaign.rectification.satisfaction_threshold
    if cnt < campaign.min_sample:
        return f"撤销：计入的回答只剩 {cnt} 份，少于最低样本 {campaign.min_sample} 份"
    return f"撤销：满意率回升至 {sat / cnt:.1%}（{sat}/{cnt}），不低于 {threshold:.0%}"


_TRACKED = ("unit_code", "dimension_code", "content", "comment")


def _complaint_items(
    conn: Connection,
    campaign_code: str,
    units: list[str] | None,
    *,
    keys: Sequence[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """The campaign's complaint items (in ``units``, or with ``keys``) by source key."""
    found = _items(conn, campaign_code, units, source="rating", keys=keys)
    # older per-answer items: left alone
    return {k: x for k, x in found.items() if k.startswith(COMPLAINT)}


def _items(
    conn: Connection,
    campaign_code: str,
    units: list[str] | None,
    *,
    source: str,
    keys: Sequence[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """The campaign's items from ``source`` (in ``units``, or with ``keys``) by key."""
    i = m.LedgerItem
    query = sa.select(
        i.id, i.source_key, i.status, i.response_pk, *(i.__table__.c[c] for c in _TRACKED)
    ).where(i.campaign_code == campaign_code, i.source == source)
    if keys is not None:
        query = query.where(i.source_key.in_(keys))
    elif units is not None:
        query = query.where(i.unit_code.in_(units))
    return {row["source_key"]: dict(row) for row in conn.execute(query).mappings()}


def _complaint_rows(
    conn: Connection,
    catalogue: Catalogue,
    campaign: Campaign,
    units: list[str] | None,
    *,
    also: list[int],
    calendar: WorkCalendar,
    today: dt.date,
    zone: ZoneInfo,
    now: dt.datetime,
) -> dict[str, dict[str, Any]]:
    """One item row per response with a dissatisfied answer that counts, in ``units`` or
    among the responses ``also`` (those of the items in scope: an edit may have moved
    one to another unit), by source key."""
    o, r = m.Observation, m.Response
    query = (
        sa.select(
            o.response_pk,
            r.unit_code,
            r.group_code,
            o.dimension_code,
            o.level_code,
            o.raw_code,
            r.site,
            r.survey_id,
            r.response_id,
            r.submitted_at,
            r.time_unknown,
        )
        .join(r, r.id == o.response_pk)
        .where(r.campaign_code == campaign.code, o.dissatisfied.is_(True))
        .order_by(o.response_pk, o.item)
    )
    rated: dict[int, list[_Row]] = {}
    scorable = query.where(m.scorable())
    # a few units: by their responses (the response table's (campaign, unit) index),
    # then the observations by their key; the exclusion tested on the response
    found = scorable if units is None else query.where(r.unit_code.in_(units), m.scorable(r.id))
    for row in conn.execute(found):
        rated.setdefault(row.response_pk, []).append(row)
    if units is not None:
        # mostly still here; the rest were edited, deleted, appealed, or moved elsewhere
        elsewhere = [pk for pk in also if pk not in rated]
        for pks in _chunks(elsewhere):
            for row in conn.execute(scorable.where(o.response_pk.in_(pks))):
                rated.setdefault(row.response_pk, []).append(row)
    comments: dict[int, list[tuple[str | None, str]]] = {}
    for pks in _chunks(sorted(rated)):
        c = m.Comment
        for pk, dim, text in conn.execute(
            sa.select(c.response_pk, c.dimension_code, c.text)
            .where(c.response_pk.in_(pks))
            .order_by(c.response_pk, c.item)
        ):
            comments.setdefault(pk, []).append((dim, text))
    labels = {lv.code: lv.label for lv in catalogue.scales[campaign.scale].levels}
    days = campaign.rectification.deadline_working_days
    out: dict[str, dict[str, Any]] = {}
    for pk, answers in rated.items():
        first = answers[0]
        dims = list(dict.fromkeys(a.dimension_code for a in answers))
        said = [t for d, t in comments.get(pk, []) if d is None or d in dims]
        start_day = (
            first.submitted_at.astimezone(zone).date()
            if first.submitted_at is not None and not first.time_unknown
            else today
        )
        levels = list(
            dict.fromkeys(
                f"「{_name(catalogue.dimensions, a.dimension_code)}」"
                f"为{labels.get(a.level_code or '', a.raw_code)}"
                for a in answers
            )
        )
        key = complaint_key(first.site, first.survey_id, first.response_id)
        out[key] = _item_row(
            source_key=key,
            source="rating",
            campaign=campaign.code,
            unit=first.unit_code,
            dimension=dims[0] if len(dims) == 1 else None,
            response_pk=pk,
            content=(
                f"{_name(catalogue.groups, first.group_code)}评价{'、'.join(levels)}"
                f"（问卷 {first.survey_id} 答卷 {first.response_id}）"
            ),
            comment="\n".join(said) or None,
            deadline=calendar.add_working_days(start_day, days),
            now=now,
        )
    return out


def _differs(item: dict[str, Any], row: dict[str, Any]) -> bool:
    return any(item[c] != row[c] for c in _TRACKED)


def _unchanged(item: dict[str, Any]) -> sa.ColumnElement[bool]:
    """The item still as read: the compare in a compare-and-set update."""
    i = m.LedgerItem
    return sa.and_(
        i.id == item["id"],
        i.status == item["status"],
        *(i.__table__.c[c].is_not_distinct_from(item[c]) for c in _TRACKED),
    )


def _record(
    conn: Connection,
    item: dict[str, Any],
    status_to: str,
    *,
    actor: str,
    now: dt.datetime,
    note: str,
) -> None:
    conn.execute(
        sa.insert(m.LedgerEvent).values(
            item_id=item["id"],
            at=now,
            status_from=item["status"],
            status_to=status_to,
            actor=actor,
            note=note,
        )
    )


def _rewrite(
    conn: Connection, item: dict[str, Any], row: dict[str, Any], *, actor: str, now: dt.datetime
) -> int:
    """The response was edited: the item says what it says now; the old text stays in the
    history."""
    done = conn.execute(
        sa.update(m.LedgerItem)
        .where(_unchanged(item))
        .values(**{c: row[c] for c in _TRACKED}, response_pk=row["response_pk"])
    ).rowcount
    if done != 1:
        return 0  # changed meanwhile (another daemon did it): its event is the record
    note = "内容已更新（答卷修改）；" + _what_changed(item, row)
    _record(conn, item, item["status"], actor=actor, now=now, note=note)
    return 1


def _what_changed(item: dict[str, Any], row: dict[str, Any]) -> str:
    was = []
    if item["content"] != row["content"]:
        was.append(f"原内容: {item['content']}")
    if item["comment"] != row["comment"]:
        was.append(f"原评议意见: {item['comment'] or '—'}")
    if item["unit_code"] != row["unit_code"]:
        was.append(f"原单位: {item['unit_code']}")
    return "；".join(was)


def _reopen(
    conn: Connection,
    item: dict[str, Any],
    row: dict[str, Any],
    *,
    actor: str,
    now: dt.datetime,
    note: str = "答卷再次有不满意评价，重新打开",
) -> int:
    """A withdrawn item whose cause is back (a response edited back into a complaint, a
    rate below the threshold again): open again, saying what it says now."""
    done = conn.execute(
        sa.update(m.LedgerItem)
        .where(_unchanged(item))
        .values(
            **{c: row[c] for c in _TRACKED},
            response_pk=row["response_pk"],
            status=S.OPEN.value,
            closed_at=None,
        )
    ).rowcount
    if done != 1:
        return 0
    if _differs(item, row):
        note += "；" + _what_changed(item, row)
    _record(conn, item, S.OPEN.value, actor=actor, now=now, note=note)
    return 1


def _close_gone(
    conn: Connection, gone: list[dict[str, Any]], *, actor: str, now: dt.datetime
) -> int:
    """Pending items whose response no longer counts as a complaint: appealed when an
    upheld appeal excluded it (as ``add_appeal`` would have done), else withdrawn with
    the reason in the history."""
    r, a = m.Response, m.Appeal
    pks = sorted({x["response_pk"] for x in gone if x["response_pk"] is not None})
    deleted: set[int] = set()
    upheld: dict[int, tuple[int, str]] = {}
    for chunk in _chunks(pks):
        deleted.update(
            conn.execute(
                sa.select(r.id).where(r.id.in_(chunk), r.deleted_at.is_not(None))
            ).scalars()
        )
        for pk, appeal_id, reason in conn.execute(
            sa.select(a.response_pk, a.id, a.reason).where(
                a.response_pk.in_(chunk), a.status == m.AppealStatus.UPHELD.value
            )
        ):
            upheld[pk] = (int(appeal_id), reason)
    closed = 0
    for item in gone:
        pk = item["response_pk"]
        target = S.WITHDRAWN
        if pk is None:
            note = "撤销：答卷已不在记录中"
        elif pk in upheld:
            target = S.APPEALED
            note = f"申诉复核成立（申诉 {upheld[pk][0]}）: {upheld[pk][1]}"
        elif pk in deleted:
            note = "撤销：答卷已在 LimeSurvey 中删除"
        else:
            note = "撤销：答卷已修改，不再有计入的不满意评价"
        closed += _move(conn, item, target, actor=actor, now=now, note=note)
    return closed


def _move(
    conn: Connection,
    item: dict[str, Any],
    target: m.LedgerStatus,
    *,
    actor: str,
    now: dt.datetime,
    note: str,
) -> int:
    """The records move ``item`` to ``target`` (compare-and-set: 0 when it changed
    meanwhile, another daemon's event being the record)."""
    done = conn.execute(
        sa.update(m.LedgerItem)
        .where(_unchanged(item))
        .values(status=target.value, closed_at=now if target in CLOSED else None)
    ).rowcount
    if done != 1:
        return 0
    _record(conn, item, target.value, actor=actor, now=now, note=note)
    return 1


def _name(table: Any, code: str) -> str:
    found = table.get(code)
    return found.name if found is not None else code


def _item_row(**kw: Any) -> dict[str, Any]:
    return {
        "source_key": kw["source_key"],
        "source": kw["source"],
        "campaign_code": kw["campaign"],
        "unit_code": kw["unit"],
        "dimension_code": kw["dimension"],
        "response_pk": kw["response_pk"],
        "content": kw["content"],
        "comment": kw["comment"],
        "responsible": None,
        "deadline": kw["deadline"],
        "status": S.OPEN.value,
        "opened_at": kw["now"],
    }


def _dimension_rows(
    conn: Connection,
    catalogue: Catalogue,
    *,
    campaign: Campaign,
    units: Iterable[str] | None,
    deadline: dt.date,
    now: dt.datetime,
) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[int, int]]]:
    """The items the dimensions below the threshold call for, by key, and every
    dimension's (satisfied, counted) by the same key."""
    d = m.ResultDimension
    threshold = campaign.rectification.satisfaction_threshold
    query = (
        sa.select(
            d.unit_code,
            d.dimension_code,
            sa.func.sum(d.satisfied).label("sat"),
            sa.func.sum(d.counted).label("cnt"),
        )
        .where(d.campaign_code == campaign.code, d.group_code.in_(sorted(campaign.groups)))
        .group_by(d.unit_code, d.dimension_code)
        .order_by(d.unit_code, d.dimension_code)
    )
    if units is not None:
        query = query.where(d.unit_code.in_(sorted(set(units))))
    below: dict[str, dict[str, Any]] = {}
    rates: dict[str, tuple[int, int]] = {}
    for unit, dim, sat_sum, cnt_sum in conn.execute(query):
        sat, cnt = int(sat_sum or 0), int(cnt_sum or 0)
        key = f"dimension:{campaign.code}:{unit}:{dim}"
        rates[key] = (sat, cnt)
        # exact: a rate equal to the threshold is not below it
        if cnt < campaign.min_sample or sat >= exact(threshold) * cnt:
            continue
        below[key] = _item_row(
            source_key=key,
            source="dimension",
            campaign=campaign.code,
            unit=unit,
            dimension=dim,
            response_pk=None,
            content=(
                f"「{_name(catalogue.dimensions, dim)}」满意率 {sat / cnt:.1%}"
                f"（{sat}/{cnt}）低于 {threshold:.0%}"
            ),
            comment=None,
            deadline=deadline,
            now=now,
        )
    return below, rates


def _insert_new(conn: Connection, rows: list[dict[str, Any]], actor: str, now: dt.datetime) -> int:
    """Insert items whose source_key is new, each with its opening event."""
    if not rows:
        return 0
    i = m.LedgerItem
    keys = [r["source_key"] for r in rows]
    existing: set[str] = set()
    for start in range(0, len(keys), 500):
        existing.update(
            conn.execute(
                sa.select(i.source_key).where(i.source_key.in_(keys[start : start + 500]))
            ).scalars()
        )
    fresh = [r for r in rows if r["source_key"] not in existing]
    # the upsert makes a concurrent raise (another daemon) a no-op, not an error
    upsert(conn, m.LedgerItem, fresh, key=("source_key",), update=())
    ids: dict[str, int] = {}
    new_keys = [r["source_key"] for r in fresh]
    for start in range(0, len(new_keys), 500):
        ids.update(
            (k, int(v))
            for k, v in conn.execute(
                sa.select(i.source_key, i.id).where(i.source_key.in_(new_keys[start : start + 500]))
            )
        )
    events = [
        {
            "item_id": item_id,
            "at": now,
            "status_from": None,
            "status_to": S.OPEN.value,
            "actor": actor,
            "note": "由评议记录生成",
        }
        for item_id in ids.values()
    ]
    if events:
        conn.execute(sa.insert(m.LedgerEvent), events)
    return len(events)


# ------------------------------------------------------------------------- transitions


def change(
    engine: Engine,
    item_id: int,
    status: str,
    *,
    by: str,
    note: str | None = None,
    responsible: str | None = None,
    deadline: dt.date | None = None,
) -> None:
    """Move an item to ``status`` (refused unless TRANSITIONS allows it), recording who,
    when and why."""
    if not by.strip():
        raise InputError(_item_where(item_id), "who made the change is required", "give --by")
    try:
        target = S(status)
    except ValueError:
        allowed = ", ".join(s.value for s in S)
        raise InputError(
            _item_where(item_id), f"unknown status {status!r}", f"use one of {allowed}"
        ) from None
    with engine.begin() as conn:
        _change(conn, item_id, target, by=by, note=note, responsible=responsible, deadline=deadline)


def _change(
    conn: Connection,
    item_id: int,
    target: m.LedgerStatus,
    *,
    by: str,
    note: str | None,
    responsible: str | None = None,
    deadline: dt.date | None = None,
) -> None:
    i = m.LedgerItem
    row = conn.execute(
        sa.select(i.status, i.responsible).where(i.id == item_id).with_for_update()
    ).first()
    if row is None:
        raise InputError(_item_where(item_id), "no such item", "see pingyi ledger list")
    current = S(row.status)
    if current in BY_RECORDS or target in BY_RECORDS:
        raise InputError(
            _item_where(item_id),
            f"cannot go from {current.value} to {target.value}: withdrawn follows the records",
            "an item is withdrawn when its response no longer has a dissatisfied rating, and "
            "reopens when it has one again (pingyi ledger raise)",
        )
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current] - BY_RECORDS)) or "none (it is closed)"
        raise InputError(
            _item_where(item_id),
            f"cannot go from {current.value} to {target.value}",
            f"allowed from {current.value}: {allowed}",
        )
    who = responsible or row.responsible
    if target is S.ASSIGNED and not who:
        raise InputError(
            _item_where(item_id), "an assigned item needs a responsible person", "give --to"
        )
    now = utcnow()
    values: dict[str, Any] = {"status": target.value, "responsible": who}
    if deadline is not None:
        values["deadline"] = deadline
    values["closed_at"] = now if target in CLOSED else None
    conn.execute(sa.update(i).where(i.id == item_id).values(**values))
    conn.execute(
        sa.insert(m.LedgerEvent).values(
            item_id=item_id,
            at=now,
            status_from=current.value,
            status_to=target.value,
            actor=by,
            note=_note(note, responsible, deadline),
        )
    )


def _note(note: str | None, responsible: str | None, deadline: dt.date | None) -> str | None:
    detail = [note] if note else []
    if responsible:
        detail.append(f"责任人: {responsible}")
    if deadline is not None:
        detail.append(f"整改期限: {deadline.isoformat()}")
    return "; ".join(detail) or None


def assign(
    engine: Engine,
    item_id: int,
    responsible: str,
    *,
    by: str,
    note: str | None = None,
    deadline: dt.date | None = None,
) -> None:
    change(
        engine, item_id, S.ASSIGNED, by=by, note=note, responsible=responsible, deadline=deadline
    )


@dataclass(frozen=True)
class ItemFilter:
    """Which items: every field given narrows the selection (all of them together)."""

    campaign: str | None = None
    unit: str | None = None
    system: str | None = None
    status: str | None = None
    source: str | None = None
    #: open or assigned with a deadline before this day
    overdue_on: dt.date | None = None

    def narrows(self) -> bool:
        """Something beyond the campaign: what a bulk change insists on."""
        return any(x is not None for x in (self.unit, self.system, self.status, self.source)) or (
            self.overdue_on is not None
        )

    def apply(self, query: _Query) -> _Query:
        """``query`` selects from LedgerItem joined to Unit."""
        i = m.LedgerItem
        if self.campaign is not None:
            query = query.where(i.campaign_code == self.campaign)
        if self.unit is not None:
            query = query.where(i.unit_code == self.unit)
        if self.system is not None:
            query = query.where(m.Unit.system_code == self.system)
        if self.status is not None:
            query = query.where(i.status == self.status)
        if self.source is not None:
            query = query.where(i.source == self.source)
        if self.overdue_on is not None:
            query = query.where(i.status.in_(PENDING), i.deadline < self.overdue_on)
        return query


@dataclass(frozen=True)
class BulkAssign:
    matched: int
    #: items assigned (or, in a dry run, that would be)
    assigned: int
    #: matched items already assigned to this person with this deadline: left alone
    unchanged: int
    #: matched items neither open nor assigned, by status: left alone
    skipped: dict[str, int] = field(default_factory=dict)


def assign_many(
    engine: Engine,
    which: ItemFilter,
    responsible: str,
    *,
    by: str,
    note: str | None = None,
    deadline: dt.date | None = None,
    dry_run: bool = False,
) -> BulkAssign:
    """Assign every item ``which`` selects to ``responsible``, one history event per item,
    all or nothing. Only open and assigned items are assigned; the others (rectified,
    verified, appealed, withdrawn) are counted, not touched."""
    where = Location(key="ledger assign")
    if not which.narrows():
        raise InputError(
            where,
            "refusing to assign every item of the campaign",
            "narrow it with --unit, --system, --status, --source or --overdue",
        )
    if not by.strip() or not responsible.strip():
        raise InputError(where, "a bulk assignment needs --to and --by")
    i = m.LedgerItem
    query = which.apply(
        sa.select(i.id, i.status, i.responsible, i.deadline)
        .join(m.Unit, m.Unit.code == i.unit_code)
        .order_by(i.id)
    )
    with engine.begin() as conn:
        rows = conn.execute(query.with_for_update(of=i) if not dry_run else query).all()
        skipped: dict[str, int] = {}
        todo: list[_Row] = []
        unchanged = 0
        for row in rows:
            # a rectified item goes back to assigned only on a failed verification, one
            # by one: never by a bulk assignment
            if row.status not in PENDING:
                skipped[row.status] = skipped.get(row.status, 0) + 1
            elif (
                row.status == S.ASSIGNED.value
                and row.responsible == responsible
                and (deadline is None or row.deadline == deadline)
            ):
                unchanged += 1  # the same command run twice records nothing new
            else:
                todo.append(row)
        report = BulkAssign(len(rows), len(todo), unchanged, skipped)
        if dry_run or not todo:
            return report
        now = utcnow()
        values: dict[str, Any] = {
            "status": S.ASSIGNED.value,
            "responsible": responsible,
            "closed_at": None,
        }
        if deadline is not None:
            values["deadline"] = deadline
        detail = _note(note, responsible, deadline)
        for chunk in _chunks(todo):
            conn.execute(sa.update(i).where(i.id.in_([r.id for r in chunk])).values(**values))
            conn.execute(
                sa.insert(m.LedgerEvent),
                [
                    {
                        "item_id": r.id,
                        "at": now,
                        "status_from": r.status,
                        "status_to": S.ASSIGNED.value,
                        "actor": by,
                        "note": detail,
                    }
                    for r in chunk
                ],
            )
        return report


# ----------------------------------------------------------------------------- reading


def overdue(engine: Engine, today: dt.date, campaign: str | None = None) -> list[dict[str, Any]]:
    """Open or assigned items past their deadline, the longest overdue first."""
    return items(engine, ItemFilter(campaign=campaign, overdue_on=today))


def items(
    engine: Engine,
    which: ItemFilter | None = None,
    *,
    campaign: str | None = None,
    unit: str | None = None,
    status: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Items with their unit's name; overdue ones the longest overdue first, the rest by
    id. ``campaign``/``unit``/``status`` are a shorthand for ``which``."""
    which = which or ItemFilter(campaign=campaign, unit=unit, status=status)
    i = m.LedgerItem
    query = which.apply(
        sa.select(i, m.Unit.name.label("unit_name"), m.Unit.system_code).join(
            m.Unit, m.Unit.code == i.unit_code
        )
    )
    query = query.order_by(i.deadline, i.id) if which.overdue_on else query.order_by(i.id)
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def count(engine: Engine, which: ItemFilter) -> int:
    i = m.LedgerItem
    query = which.apply(sa.select(sa.func.count(i.id)).join(m.Unit, m.Unit.code == i.unit_code))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def summary(engine: Engine, campaign: str, today: dt.date) -> list[dict[str, Any]]:
    """Per unit with items: its system, items by status, all items, overdue items (open or
    assigned past the deadline as of ``today``). Ordered by system, then unit code."""
    i, u = m.LedgerItem, m.Unit
    late = sa.case((sa.and_(i.status.in_(PENDING), i.deadline < today), 1), else_=0)
    query = (
        sa.select(
            u.system_code,
            m.System.name.label("system_name"),
            i.unit_code,
            u.name.label("unit_name"),
            i.status,
            sa.func.count(i.id).label("n"),
            sa.func.sum(late).label("late"),
        )
        .join(u, u.code == i.unit_code)
        .join(m.System, m.System.code == u.system_code)
        .where(i.campaign_code == campaign)
        .group_by(u.system_code, m.System.name, i.unit_code, u.name, i.status)
        .order_by(u.system_code, i.unit_code)
    )
    units: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            doc = units.setdefault(
                row.unit_code,
                {
                    "system": row.system_code,
                    "system_name": row.system_name,
                    "unit": row.unit_code,
                    "unit_name": row.unit_name,
                    "by_status": dict.fromkeys((s.value for s in S), 0),
                    "total": 0,
                    "overdue": 0,
                },
            )
            doc["by_status"][row.status] = doc["by_status"].get(row.status, 0) + int(row.n)
            doc["total"] += int(row.n)
            doc["overdue"] += int(row.late or 0)
    return list(units.values())


def history(engine: Engine, item_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    i, e = m.LedgerItem, m.LedgerEvent
    with engine.connect() as conn:
        item = conn.execute(sa.select(i).where(i.id == item_id)).mappings().first()
        if item is None:
            raise InputError(_item_where(item_id), "no such item", "see pingyi ledger list")
        events = conn.execute(
            sa.select(e).where(e.item_id == item_id).order_by(e.at, e.id)
        ).mappings()
        return dict(item), [dict(ev) for ev in events]


# ------------------------------------------------------------------------------ appeals

_RESPONSE_RE = re.compile(r"^(?:(?P<site>[A-Za-z0-9_.-]+):)?(?P<survey>\d+):(?P<rid>\d+)$")


@dataclass(frozen=True)
class AppealChange:
    appeal_id: int
    campaign: str
    unit: str
    items_moved: int


def find_response(conn: Connection, ref: str) -> m.Response:
    """``SITE:SURVEY:RESPONSE`` or ``SURVEY:RESPONSE`` (when one site has that survey)."""
    match = _RESPONSE_RE.match(ref.strip())
    where = Location(key=f"response {ref}")
    if match is None:
        raise InputError(where, "not a response reference", "write SITE:SURVEY:ID or SURVEY:ID")
    r = m.Response
    query = sa.select(r).where(
        r.survey_id == int(match["survey"]), r.response_id == int(match["rid"])
    )
    if match["site"]:
        query = query.where(r.site == match["site"])
    from sqlalchemy.orm import Session

    found = Session(bind=conn).execute(query).scalars().all()
    if not found:
        raise InputError(where, "no such response in the records", "check pingyi status")
    if len(found) > 1:
        sites = ", ".join(sorted(x.site for x in found))
        raise InputError(where, f"in several sites ({sites})", "write SITE:SURVEY:ID")
    return found[0]


def add_appeal(engine: Engine, ref: str, *, reason: str, by: str) -> AppealChange:
    """An upheld appeal: the response leaves the scores; its pending ledger items go to
    ``appealed``. Refresh the unit's results afterwards (the CLI does)."""
    if not reason.strip() or not by.strip():
        raise InputError(
            Location(key=f"response {ref}"), "an appeal needs a reason and who decided it"
        )
    now = utcnow()
    with engine.begin() as conn:
        resp = find_response(conn, ref)
        a = m.Appeal
        already = conn.execute(
            sa.select(a.id).where(a.response_pk == resp.id, a.status == m.AppealStatus.UPHELD.value)
        ).scalar()
        if already is not None:
            raise InputError(
                Location(key=f"response {ref}"),
                f"already excluded by appeal {already}",
                f"pingyi appeal revert {already} first to change it",
            )
        key = conn.execute(
            sa.insert(a).values(
                response_pk=resp.id,
                status=m.AppealStatus.UPHELD.value,
                reason=reason,
                filed_by=by,
                filed_at=now,
                decided_by=by,
                decided_at=now,
            )
        ).inserted_primary_key
        assert key is not None
        tallies.mark_stale(conn, [(resp.campaign_code, resp.unit_code)])
        moved = _move_items(
            conn,
            resp.id,
            statuses=PENDING,
            target=S.APPEALED,
            by=by,
            note=f"申诉复核成立: {reason}",
        )
        return AppealChange(int(key[0]), resp.campaign_code, resp.unit_code, moved)


def revert_appeal(
    engine: Engine, appeal_id: int, *, by: str, reason: str | None = None
) -> AppealChange:
    """Take an upheld appeal back: the response counts again, its items reopen."""
    a = m.Appeal
    where = Location(key=f"appeal {appeal_id}")
    with engine.begin() as conn:
        row = conn.execute(sa.select(a.status, a.response_pk).where(a.id == appeal_id)).first()
        if row is None:
            raise InputError(where, "no such appeal", "see pingyi appeal list")
        if row.status != m.AppealStatus.UPHELD.value:
            raise InputError(where, f"is {row.status}, not upheld: nothing to revert")
        conn.execute(
            sa.update(a)
            .where(a.id == appeal_id)
            .values(
                status=m.AppealStatus.REVOKED.value,
                revoked_by=by,
                revoked_at=utcnow(),
                revoke_reason=reason,
            )
        )
        resp = conn.execute(
            sa.select(m.Response.campaign_code, m.Response.unit_code).where(
                m.Response.id == row.response_pk
            )
        ).one()
        tallies.mark_stale(conn, [(resp.campaign_code, resp.unit_code)])
        moved = _move_items(
            conn,
            row.response_pk,
            statuses=(S.APPEALED.value,),
            target=S.OPEN,
            by=by,
            note=f"申诉 {appeal_id} 撤销",
        )
        return AppealChange(appeal_id, resp.campaign_code, resp.unit_code, moved)


def _move_items(
    conn: Connection,
    response_pk: int,
    *,
    statuses: tuple[str, ...],
    target: m.LedgerStatus,
    by: str,
    note: str,
) -> int:
    i = m.LedgerItem
    ids = (
        conn.execute(sa.select(i.id).where(i.response_pk == response_pk, i.status.in_(statuses)))
        .scalars()
        .all()
    )
    for item_id in ids:
        _change(conn, item_id, target, by=by, note=note)
    return len(ids)


def appeals(engine: Engine, campaign: str | None = None) -> list[dict[str, Any]]:
    a, r = m.Appeal, m.Response
    query = (
        sa.select(
            a.id,
            a.status,
            a.reason,
            a.filed_by,
            a.filed_at,
            a.revoked_by,
            a.revoked_at,
            r.site,
            r.survey_id,
            r.response_id,
            r.campaign_code,
            r.unit_code,
        )
        .join(r, r.id == a.response_pk)
        .order_by(a.id)
    )
    if campaign is not None:
        query = query.where(r.campaign_code == campaign)
    with engine.connect() as conn:
        return [dict(x) for x in conn.execute(query).mappings()]


def excluded_by_unit(conn: Connection, campaign: str) -> dict[str, int]:
    """Responses excluded by upheld appeals, per unit: the results' provenance."""
    a, r = m.Appeal, m.Response
    rows = conn.execute(
        sa.select(r.unit_code, sa.func.count(sa.distinct(r.id)))
        .join(a, a.response_pk == r.id)
        .where(r.campaign_code == campaign, a.status == m.AppealStatus.UPHELD.value)
        .group_by(r.unit_code)
    )
    return {unit: int(n) for unit, n in rows}


def after_sync(
    engine: Engine,
    catalogue: Catalogue,
    touched: Iterable[tuple[str, str]],
    *,
    today: dt.date | None = None,
) -> dict[str, LedgerSyncReport]:
    """What follows every sync pass that wrote something: the touched units are counted
    again and the campaign's results composed anew (``score.refresh``), and the ledger
    items their new ratings call for are raised. The daemon, ``resync`` and
    ``quarantine retry`` all call this, so results never lag the records they come from.

    ``touched`` is ``PassReport.touched``: (campaign, unit) pairs."""
    by_campaign: dict[str, set[str]] = {}
    for campaign, unit in touched:
        by_campaign.setdefault(campaign, set()).add(unit)
    reports: dict[str, LedgerSyncReport] = {}
    for campaign, units in sorted(by_campaign.items()):
        if campaign not in catalogue.campaigns:
            continue  # a response of a campaign no longer in mappings/: kept, not scored
        refresh(engine, catalogue, campaign)  # store marked the units it touched
        reports[campaign] = raise_items(engine, catalogue, campaign, units=units, today=today)
    return reports
