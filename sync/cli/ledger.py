"""``pingyi ledger``: the rectification ledger (整改台账)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import click

from sync.cli import Context, pass_context
from sync.cli.results import campaign_option, opened, pick_campaign

STATUSES = ["open", "assigned", "rectified", "verified", "appealed"]


def _json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, ensure_ascii=False, indent=2, default=str)


def _print(rows: list[dict[str, Any]], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for name in ("编号", "单位", "来源", "内容", "状态", "责任人", "整改期限"):
        table.add_column(name)
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
    Console().print(table)


@click.group()
def ledger() -> None:
    """Rectification items: list, show, assign, update, overdue."""


@ledger.command("list")
@campaign_option
@click.option("--unit", help="Only this unit (code).")
@click.option("--status", type=click.Choice(STATUSES), help="Only items in this status.")
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
@pass_context
def list_items(
    ctx: Context, campaign: str | None, unit: str | None, status: str | None, as_json: bool
) -> None:
    """List items."""
    from sync import ledger as lg

    with opened(ctx) as (engine, catalogue):
        code = pick_campaign(catalogue, campaign)
        rows = lg.items(engine, campaign=code, unit=unit, status=status)
    if as_json:
        click.echo(_json(rows))
    else:
        _print(rows, f"整改台账 {code}（{len(rows)} 项）")


@ledger.command("raise")
@campaign_option
@pass_context
def raise_cmd(ctx: Context, campaign: str | None) -> None:
    """Create the items the records call for (idempotent)."""
    from sync import ledger as lg

    with opened(ctx) as (engine, catalogue):
        code = pick_campaign(catalogue, campaign)
        rep = lg.raise_items(engine, catalogue, code)
    click.echo(
        f"campaign {code}: {rep.created} new items "
        f"({rep.rating_items} from ratings, {rep.dimension_items} from dimensions in all)"
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
@click.argument("item_id", type=int)
@click.option("--to", "responsible", required=True, help="The responsible person (整改责任人).")
@click.option("--by", "by", required=True, help="Who assigns.")
@click.option("--deadline", type=click.DateTime(["%Y-%m-%d"]), help="A new deadline.")
@click.option("--note", help="A note for the history.")
@pass_context
def assign(
    ctx: Context,
    *,
    item_id: int,
    responsible: str,
    by: str,
    deadline: dt.datetime | None,
    note: str | None,
) -> None:
    """Assign an item to a responsible person."""
    from sync import ledger as lg

    with opened(ctx) as (engine, _catalogue):
        lg.assign(
            engine,
            item_id,
            responsible,
            by=by,
            note=note,
            deadline=deadline.date() if deadline else None,
        )
    click.echo(f"item {item_id}: assigned to {responsible}")


@ledger.command("update")
@click.argument("item_id", type=int)
@click.option("--status", type=click.Choice(STATUSES), required=True)
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
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), help="Count as of this day.")
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
@pass_context
def overdue(ctx: Context, campaign: str | None, today: dt.datetime | None, as_json: bool) -> None:
    """Open or assigned items past their deadline."""
    from sync import ledger as lg

    with opened(ctx) as (engine, catalogue):
        code = pick_campaign(catalogue, campaign)
        rows = lg.overdue(engine, today.date() if today else dt.date.today(), campaign=code)
    if as_json:
        click.echo(_json(rows))
    else:
        _print(rows, f"逾期整改事项 {code}（{len(rows)} 项）")
