"""``pingyi appeal``: exclude a response from scoring after an upheld appeal (申诉复核),
or take the exclusion back. The unit's results are refreshed at once."""

from __future__ import annotations

import json

import click

from sync.cli import Context, pass_context
from sync.cli.results import campaign_option, opened, pick_campaign


@click.group()
def appeal() -> None:
    """Appeals: add, revert, list."""


@appeal.command("add")
@click.argument("response")
@click.option("--reason", required=True, help="Why the rating is excluded.")
@click.option("--by", "by", required=True, help="Who decided the appeal.")
@pass_context
def add(ctx: Context, response: str, reason: str, by: str) -> None:
    """Exclude RESPONSE (SITE:SURVEY:ID or SURVEY:ID) from scoring."""
    from sync import ledger, score

    with opened(ctx) as (engine, catalogue):
        change = ledger.add_appeal(engine, response, reason=reason, by=by)
        # the appeal marked its unit: the refresh counts it again
        score.refresh(engine, catalogue, change.campaign)
    click.echo(
        f"appeal {change.appeal_id}: response {response} excluded from unit {change.unit}'s "
        f"scores ({change.items_moved} ledger items appealed); results refreshed"
    )


@appeal.command("revert")
@click.argument("appeal_id", type=int)
@click.option("--by", "by", required=True, help="Who takes the appeal back.")
@click.option("--reason", help="Why.")
@pass_context
def revert(ctx: Context, appeal_id: int, by: str, reason: str | None) -> None:
    """Take an upheld appeal back: the response counts again."""
    from sync import ledger, score

    with opened(ctx) as (engine, catalogue):
        change = ledger.revert_appeal(engine, appeal_id, by=by, reason=reason)
        # the appeal marked its unit: the refresh counts it again
        score.refresh(engine, catalogue, change.campaign)
    click.echo(
        f"appeal {appeal_id} revoked: the response counts again for unit {change.unit} "
        f"({change.items_moved} ledger items reopened); results refreshed"
    )


@appeal.command("list")
@campaign_option
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
@pass_context
def list_appeals(ctx: Context, campaign: str | None, as_json: bool) -> None:
    """Every appeal with who, when and why."""
    from sync import ledger

    with opened(ctx) as (engine, catalogue):
        rows = ledger.appeals(engine, pick_campaign(catalogue, campaign))
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return
    if not rows:
        click.echo("no appeals")
    for a in rows:
        line = (
            f"{a['id']}: {a['status']} {a['site']}:{a['survey_id']}:{a['response_id']} "
            f"unit {a['unit_code']} by {a['filed_by']} at {a['filed_at']:%Y-%m-%d %H:%M}: "
            f"{a['reason']}"
        )
        if a["revoked_by"]:
            line += f" (revoked by {a['revoked_by']} at {a['revoked_at']:%Y-%m-%d %H:%M})"
        click.echo(line)
