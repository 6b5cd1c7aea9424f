"""``pingyi ledger``: the rectification ledger (整改台账)."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from sync.cli import Context, pass_context
from sync.cli.results import campaign_option, opened, pick_campaign
from sync.models import LedgerStatus

if TYPE_CHECKING:
    from rich.console import Console

    from sync.ledger import BulkAssign, ItemFilter

STATUSES = [s.value for s in LedgerStatus]
#: what a person may set with ``update`` (withdrawn follows the records only)
SETTABLE = [s for s in STATUSES if s != LedgerStatus.WITHDRAWN.value]
SOURCES = ["rating", "dimension", "manual"]
#: short column headings for the summary, in STATUSES order
STATUS_LABELS = {
    "open": "待交办",
    "assigned": "整改中",
    "rectified": "已整改",
    "verified": "已验收",
    "appealed": "申诉",
    "withdrawn": "撤回",
}

day_type = click.DateTime(["%Y-%m-%d"])


def _json(rows: Any) -> str:
    return json.dumps(rows, ensure_ascii=False, indent=2, default=str)


def _console() -> Console:
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        # piped or redirected: rich would assume 80 columns and wrap the Chinese names
        console.width = max(console.width, 120)
    return console


def _print(rows: list[dict[str, Any]], title: str) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for name in ("编号", "单位", "来源", "内容", "状态", "责任人", "整改期限"):
        # long content folds onto more lines rather than being cut with an ellipsis
        table.add_column(name, overflow="fold" if name == "内容" else "ellipsis")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["unit_name"],
            r["source"],
            r["content"],
            r["status"],
            r["responsible"] or "—",
            r["deadline"].isoformat() if r["deadline"] else "—",
        )
    _console().print(table)


def _today(today: dt.datetime | None) -> dt.date:
    return today.date() if today else dt.date.today()


@dataclass(frozen=True)
class Filters:
    """The item filters ``list`` and ``assign`` share."""

    unit: str | None
    system: str | None
    status: str | None
    source: str | None
    overdue: bool
    today: dt.datetime | None

    def given(self) -> bool:
        return self.overdue or any(
            x is not None for x in (self.unit, self.system, self.status, self.source)
        )

    def of(self, campaign: str) -> ItemFilter:
        from sync.ledger import ItemFilter

        return ItemFilter(
            campaign=campaign,
            unit=self.unit,
            system=self.system,
            status=self.status,
            source=self.source,
            overdue_on=_today(self.today) if self.overdue else None,
        )


def filter_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--unit, --system, --status, --source, --overdue, --today as one ``filters``."""

    @functools.wraps(command)
    def with_filters(
        *args: Any,
        unit: str | None,
        system: str | None,
        status: str | None,
        source: str | None,
        overdue: bool,
        today: dt.datetime | None,
        **kwargs: Any,
    ) -> Any:
        filters = Filters(unit, system, status, source, overdue, today)
        return command(*args, filters=filters, **kwargs)

    options = [
        click.option("--unit", help="Only this unit's items (code)."),
        click.option("--system", help="Only the items of this system's units (code)."),
        click.option("--status", type=click.Choice(STATUSES), help="Only items in this status."),
        click.option("--source", type=click.Choice(SOURCES), help="Only items from this source."),
        click.option(
            "--overdue", is_flag=True, help="Only open or assigned items past the deadline."
        ),
        click.option("--today", type=day_type, help="Count overdue as of this day."),
    ]
    for option in reversed(options):
        with_filters = option(with_filters)
    return with_filters


@click.group()
def ledger() -> None:
    """Rectification items: summary, list, show, assign, update, overdue."""


@ledger.command("list")
@campaign_option
@filter_options
@click.option("--limit", type=click.IntRange(min=1), help="At most this many items.")
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
@pass_context
def list_items(
    ctx: Context, *, campaign: str | None, filters: Filters, limit: int | None, as_json: bool
) -> None:
    """List items (overdue ones the longest overdue first)."""
    from sync import ledger as lg

    with opened(ctx) as (engine, catalogue):
        code = pick_campaign(catalogue, campaign)
        which = filters.of(code)
        rows = lg.items(engine, which, limit=limit)
        total = lg.count(engine, which) if limit is not None and len(rows) == limit else len(rows)
    if as_json:
        click.echo(_json(rows))
        return
    shown = f"，显示前 {len(rows)} 项" if len(rows) < total else ""
    title = "逾期整改事项" if filters.overdue else "整改台账"
    _print(rows, f"{title} {code}（{total} 项{shown}）")


@ledger.command("summary")
@campaign_option
@click.option("--today", type=day_type, help="Count overdue as of this day.")
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
@pass_context
def summary(ctx: Context, campaign: str | None, today: dt.datetime | None, as_json: bool) -> None:
    """Per system and unit: items by status and how many are overdue."""
    from sync import ledger as lg

    day = _today(today)
    with opened(ctx) as (engine, catalogue):
        code = pick_campaign(catalogue, campaign)
        units = lg.summary(engine, code, day)
    # the catalogue's order (the office's own), codes it no longer has last
    systems_at = {c: n for n, c in enumerate(catalogue.systems)}
    units_at = {c: n for n, c in enumerate(catalogue.units)}
    units.sort(
        key=lambda u: (
            systems_at.get(u["system"], len(systems_at)),
            units_at.get(u["unit"], len(units_at)),
            u["unit"],
        )
    )
    systems = _roll_up(units, ("system", "system_name"))
    [total] = _roll_up(units, ())
    if as_json:
        click.echo(
            _json(
                {
                    "campaign": code,
                    "today": day.isoformat(),
                    "total": total,
                    "systems": systems,
                    "units": units,
                }
            )
        )
        return
    from rich.table import Table

    table = Table(title=f"整改台账汇总 {code}（逾期截至 {day.isoformat()}）", title_justify="left")
    table.add_column("系统 / 单位")
    for s in STATUSES:
        table.add_column(STATUS_LABELS[s], justify="right")
    table.add_column("合计", justify="right")
    table.add_column("逾期", justify="right")

    def cells(doc: dict[str, Any]) -> list[str]:
        return [str(doc["by_status"].get(s, 0)) for s in STATUSES] + [
            str(doc["total"]),
            str(doc["overdue"]),
        ]

    for sysdoc in systems:
        table.add_row(f"[bold]{sysdoc['system_name']}[/bold]", *cells(sysdoc), style="bold")
        for u in units:
            if u["system"] == sysdoc["system"]:
                table.add_row(f"  {u['unit']} {u['unit_name']}", *cells(u))
        table.add_section()
    table.add_row("全区合计", *cells(total), style="bold")
    _console().print(table)


def _roll_up(units: list[dict[str, Any]], by: tuple[str, ...]) -> list[dict[str, Any]]:
    """Units' counts summed per ``by`` key (``()``: one district total, also when there
    are no units)."""
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    if not by:
        out[()] = _zero()
    for u in units:
        doc = out.setdefault(tuple(u[k] for k in by), _zero(**{k: u[k] for k in by}))
        doc["units"] += 1
        for s, n in u["by_status"].items():
            doc["by_status"][s] = doc["by_status"].get(s, 0) + n
        doc["total"] += u["total"]
        doc["overdue"] += u["overdue"]
    return list(out.values())


def _zero(**keys: Any) -> dict[str, Any]:
    return {**keys, "units": 0, "by_status": dict.fromkeys(STATUSES, 0), "total": 0, "overdue": 0}


@ledger.command("raise")
@campaign_option
@pass_context
def raise_cmd(ctx: Context, campaign: str | None) -> None:
    """Bring the items in line with the records (idempotent)."""
    from sync import ledger as lg

    with opened(ctx) as (engine, catalogue):
        code = pick_campaign(catalogue, campaign)
        rep = lg.raise_items(engine, catalogue, code)
    click.echo(
        f"campaign {code}: {rep.created} new items "
        f"({rep.rating_items} from complaints, {rep.dimension_items} from dimensions in all); "
        f"{rep.updated} rewritten after an edit, {rep.closed} closed, {rep.reopened} reopened"
    )


@ledger.command("show")
@click.argument("item_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
@pass_context
def show(ctx: Context, item_id: int, as_json: bool) -> None:
    """One item with its full history."""
    from sync import ledger as lg

    with opened(ctx) as (engine, _catalogue):
        item, events = lg.history(engine, item_id)
    if as_json:
        click.echo(_json([{**item, "history": events}]))
        return
    click.echo(f"#{item['id']} {item['unit_code']} [{item['status']}] {item['content']}")
    if item["comment"]:
        click.echo(f"  评议意见: {item['comment']}")
    click.echo(f"  责任人: {item['responsible'] or '—'}  整改期限: {item['deadline'] or '—'}")
    for e in events:
        step = f"{e['status_from'] or '—'} -> {e['status_to']}"
        note = f"  {e['note']}" if e["note"] else ""
        click.echo(f"  {e['at']:%Y-%m-%d %H:%M} {step} by {e['actor']}{note}")


@ledger.command("assign")
@click.argument("item_id", type=int, required=False)
@click.option("--to", "responsible", required=True, help="The responsible person (整改责任人).")
@click.option("--by", "by", required=True, help="Who assigns.")
@click.option("--deadline", type=day_type, help="A new deadline.")
@click.option("--note", help="A note for the history.")
@campaign_option
@filter_options
@click.option("--all", "all_", is_flag=True, help="Assign every item the filters select.")
@click.option("--dry-run", is_flag=True, help="Say how many items would change; change none.")
@pass_context
def assign(
    ctx: Context,
    *,
    item_id: int | None,
    responsible: str,
    by: str,
    deadline: dt.datetime | None,
    note: str | None,
    campaign: str | None,
    filters: Filters,
    all_: bool,
    dry_run: bool,
) -> None:
    """Assign ITEM_ID, or with --all every item the filters select (one history event
    each), to a responsible person."""
    from sync import ledger as lg

    day = deadline.date() if deadline else None
    if item_id is not None:
        if filters.given() or all_:
            raise click.UsageError("give ITEM_ID or filters with --all, not both")
        if dry_run:
            raise click.UsageError("--dry-run is for --all")
        with opened(ctx) as (engine, _catalogue):
            lg.assign(engine, item_id, responsible, by=by, note=note, deadline=day)
        click.echo(f"item {item_id}: assigned to {responsible}")
        return
    if not (filters.given() and all_):
        raise click.UsageError(
            "give ITEM_ID, or filters (--unit, --system, --status, --source, --overdue) "
            "and --all to assign every item they select"
        )
    with opened(ctx) as (engine, catalogue):
        which = filters.of(pick_campaign(catalogue, campaign))
        plan = lg.assign_many(engine, which, responsible, by=by, deadline=day, dry_run=True)
        click.echo(_describe(plan, responsible, will=True))
        if dry_run or not plan.assigned:
            return
        done = lg.assign_many(engine, which, responsible, by=by, note=note, deadline=day)
    click.echo(_describe(done, responsible, will=False))


def _describe(rep: BulkAssign, responsible: str, *, will: bool) -> str:
    verb = "will be assigned" if will else "assigned"
    parts = [f"{rep.matched} items match; {rep.assigned} {verb} to {responsible}"]
    if rep.unchanged:
        parts.append(f"{rep.unchanged} already are")
    if rep.skipped:
        left = ", ".join(f"{n} {s}" for s, n in sorted(rep.skipped.items()))
        parts.append(f"left as they are: {left}")
    return "; ".join(parts)


@ledger.command("update")
@click.argument("item_id", type=int)
@click.option("--status", type=click.Choice(SETTABLE), required=True)
@click.option("--by", "by", required=True, help="Who makes the change.")
@click.option("--note", help="What was done, or why.")
@pass_context
def update(ctx: Context, item_id: int, status: str, by: str, note: str | None) -> None:
    """Move an item on (rectified, verified, ...); refused if the step is not allowed."""
    from sync import ledger as lg

    with opened(ctx) as (engine, _catalogue):
        lg.change(engine, item_id, status, by=by, note=note)
    click.echo(f"item {item_id}: {status}")


@ledger.command("overdue")
@campaign_option
@click.option("--today", type=day_type, help="Count as of this day.")
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
@pass_context
def overdue(ctx: Context, campaign: str | None, today: dt.datetime | None, as_json: bool) -> None:
    """Open or assigned items past their deadline."""
    from sync import ledger as lg

    with opened(ctx) as (engine, catalogue):
        code = pick_campaign(catalogue, campaign)
        rows = lg.overdue(engine, _today(today), campaign=code)
    if as_json:
        click.echo(_json(rows))
    else:
        _print(rows, f"逾期整改事项 {code}（{len(rows)} 项）")
