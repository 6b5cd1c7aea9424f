"""The rectification ledger (整改台账) and appeals (申诉复核).

Items are raised from the records, never typed twice:

- **rating**: every dissatisfied answer (the campaign's dissatisfied levels) of a live
  response, with the rater's comments on that response quoted. Key
  ``rating:<site>:<survey>:<response id>:<column>``: LimeSurvey's own identity, so a
  resync, a rebuild or a second daemon finds the item already there.
- **dimension**: a unit's dimension whose satisfaction rate (all groups' counted answers,
  from the results) falls below the campaign's ``satisfaction_threshold``, once it has
  at least the campaign's ``min_sample`` answers. Key ``dimension:<campaign>:<unit>:<dim>``.

Exempt units' items are raised too (免评不免建). The deadline is the campaign's
``deadline_working_days`` after the rating's local submission date (or the day the item
is raised when LimeSurvey recorded no time), on the campaign's working-day calendar.

Status: open -> assigned -> rectified -> verified; open/assigned -> appealed; a revoked or
rejected appeal sends the item back to open; a failed verification sends a rectified
item back to assigned. Every change is a LedgerEvent with who, when and a note.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sync import models as m
from sync.db import utcnow
from sync.errors import InputError, Location
from sync.score import campaign_of, exact, refresh
from sync.upsert import upsert
from sync.workdays import WorkCalendar

if TYPE_CHECKING:
    from sync.catalogue import Campaign, Catalogue

S = m.LedgerStatus
#: allowed status changes; anything else is refused with the list of what is allowed
TRANSITIONS: dict[str, frozenset[str]] = {
    S.OPEN: frozenset({S.ASSIGNED, S.APPEALED}),
    S.ASSIGNED: frozenset({S.ASSIGNED, S.RECTIFIED, S.APPEALED}),
    S.RECTIFIED: frozenset({S.VERIFIED, S.ASSIGNED}),
    S.VERIFIED: frozenset(),
    S.APPEALED: frozenset({S.OPEN}),
}
#: statuses in which a passed deadline makes an item overdue
PENDING = (S.OPEN.value, S.ASSIGNED.value)
DEFAULT_ZONE = ZoneInfo("Asia/Shanghai")


def calendar_of(campaign: Campaign) -> WorkCalendar:
    rect = campaign.rectification
    return WorkCalendar.of(rect.holidays, rect.extra_workdays)


@dataclass(frozen=True)
class LedgerSyncReport:
    created: int
    rating_items: int
    dimension_items: int


def _item_where(item_id: int) -> Location:
    return Location(key=f"ledger item {item_id}")


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
    """Create the items the records call for and that do not exist yet (idempotent)."""

    campaign = campaign_of(catalogue, campaign_code)
    scale = catalogue.scales[campaign.scale]
    labels = {lv.code: lv.label for lv in scale.levels}
    cal = calendar_of(campaign)
    days = campaign.rectification.deadline_working_days
    today = today or dt.datetime.now(zone).date()
    now = utcnow()
    o, r, c = m.Observation, m.Response, m.Comment
    unit_filter = sa.true() if units is None else o.unit_code.in_(sorted(set(units)))
    upheld = (
        sa.select(m.Appeal.id)
        .where(m.Appeal.response_pk == r.id, m.Appeal.status == m.AppealStatus.UPHELD.value)
        .exists()
    )
    with engine.begin() as conn:
        rated = conn.execute(
            sa.select(
                o.response_pk,
                o.item,
                o.unit_code,
                o.group_code,
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
            .where(
                o.campaign_code == campaign_code,
                o.dissatisfied.is_(True),
                o.counted.is_(True),
                r.deleted_at.is_(None),
                ~upheld,
                unit_filter,
            )
            .order_by(r.id, o.item)
        ).all()
        comments: dict[int, list[tuple[str | None, str]]] = {}
        pks = sorted({row.response_pk for row in rated})
        for start in range(0, len(pks), 500):
            for pk, dim, text in conn.execute(
                sa.select(c.response_pk, c.dimension_code, c.text)
                .where(c.response_pk.in_(pks[start : start + 500]))
                .order_by(c.response_pk, c.item)
            ):
                comments.setdefault(pk, []).append((dim, text))
        rows: list[dict[str, Any]] = []
        for row in rated:
            start_day = (
                row.submitted_at.astimezone(zone).date()
                if row.submitted_at is not None and not row.time_unknown
                else today
            )
            said = [
                t for d, t in comments.get(row.response_pk, []) if d in (None, row.dimension_code)
            ]
            level = labels.get(row.level_code or "", row.raw_code)
            rows.append(
                _item_row(
                    source_key=f"rating:{row.site}:{row.survey_id}:{row.response_id}:{row.item}",
                    source="rating",
                    campaign=campaign_code,
                    unit=row.unit_code,
                    dimension=row.dimension_code,
                    response_pk=row.response_pk,
                    content=(
                        f"{_name(catalogue.groups, row.group_code)}评价"
                        f"「{_name(catalogue.dimensions, row.dimension_code)}」为{level}"
                        f"（问卷 {row.survey_id} 答卷 {row.response_id}）"
                    ),
                    comment="\n".join(said) or None,
                    deadline=cal.add_working_days(start_day, days),
                    now=now,
                )
            )
        n_rating = len(rows)
        rows.extend(
            _dimension_rows(
                conn,
                catalogue,
                campaign=campaign,
                units=units,
                deadline=cal.add_working_days(today, days),
                now=now,
            )
        )
        created = _insert_new(conn, rows, actor, now)
    return LedgerSyncReport(created, n_rating, len(rows) - n_rating)


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
) -> list[dict[str, Any]]:
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
    rows = []
    for unit, dim, sat_sum, cnt_sum in conn.execute(query):
        sat, cnt = int(sat_sum or 0), int(cnt_sum or 0)
        # exact: a rate equal to the threshold is not below it
        if cnt < campaign.min_sample or sat >= exact(threshold) * cnt:
            continue
        rows.append(
            _item_row(
                source_key=f"dimension:{campaign.code}:{unit}:{dim}",
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
        )
    return rows


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
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (it is closed)"
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
    values["closed_at"] = now if target is S.VERIFIED else None
    conn.execute(sa.update(i).where(i.id == item_id).values(**values))
    detail = [note] if note else []
    if responsible:
        detail.append(f"责任人: {responsible}")
    if deadline is not None:
        detail.append(f"整改期限: {deadline.isoformat()}")
    conn.execute(
        sa.insert(m.LedgerEvent).values(
            item_id=item_id,
            at=now,
            status_from=current.value,
            status_to=target.value,
            actor=by,
            note="; ".join(detail) or None,
        )
    )


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


def overdue(engine: Engine, today: dt.date, campaign: str | None = None) -> list[dict[str, Any]]:
    """Open or assigned items past their deadline, the longest overdue first."""
    i = m.LedgerItem
    query = (
        sa.select(i, m.Unit.name.label("unit_name"))
        .join(m.Unit, m.Unit.code == i.unit_code)
        .where(i.status.in_(PENDING), i.deadline < today)
        .order_by(i.deadline, i.id)
    )
    if campaign is not None:
        query = query.where(i.campaign_code == campaign)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def items(
    engine: Engine,
    *,
    campaign: str | None = None,
    unit: str | None = None,
    status: str | None = None,
) -> list[dict[str, Any]]:
    i = m.LedgerItem
    query = (
        sa.select(i, m.Unit.name.label("unit_name"))
        .join(m.Unit, m.Unit.code == i.unit_code)
        .order_by(i.id)
    )
    if campaign is not None:
        query = query.where(i.campaign_code == campaign)
    if unit is not None:
        query = query.where(i.unit_code == unit)
    if status is not None:
        query = query.where(i.status == status)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


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
    """What follows every sync pass that wrote something: the touched units' results are
    refreshed (``score.refresh``: only those units, then ranks and grades), and the ledger
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
        refresh(engine, catalogue, campaign, units)
        reports[campaign] = raise_items(engine, catalogue, campaign, units=units, today=today)
    return reports
