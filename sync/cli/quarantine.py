"""``pingyi quarantine``: responses that could not be mapped, why, and a retry.

``list`` shows the open entries (``--all`` the resolved ones too), ``show ID`` one entry
in full, ``retry ID...`` or ``retry --all`` re-reads those responses from LimeSurvey and
maps them with the current catalogue and bindings (fix the mapping first, then retry).
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import click
import sqlalchemy as sa

from sync import catalogue as catalogue_mod
from sync import db as database
from sync import ledger, sites
from sync.cli import Context, pass_context
from sync.errors import ConfigError, PingyiError
from sync.models import Quarantine
from sync.pull import run_pass


def _entry(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "site": row.site,
        "survey_id": row.survey_id,
        "response_id": row.response_id,
        "reason_code": row.reason_code,
        "reason": row.reason,
        "detail": row.detail,
        "first_seen_at": row.first_seen_at.isoformat(),
        "last_seen_at": row.last_seen_at.isoformat(),
        "attempts": row.attempts,
        "resolved_at": row.resolved_at.isoformat() if row.resolved_at else None,
    }


@click.group()
def quarantine() -> None:
    """Responses that could not be mapped (unknown unit, unknown answer code, ...)."""


@quarantine.command("list")
@click.option("--site", "site_name", help="Only this site.")
@click.option("--survey", type=int, help="Only this survey.")
@click.option("--all", "everything", is_flag=True, help="Include resolved entries.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@pass_context
def list_(
    ctx: Context, site_name: str | None, survey: int | None, everything: bool, as_json: bool
) -> None:
    """List quarantined responses, oldest first."""
    query = sa.select(Quarantine).order_by(Quarantine.id)
    if not everything:
        query = query.where(Quarantine.resolved_at.is_(None))
    if site_name:
        query = query.where(Quarantine.site == site_name)
    if survey:
        query = query.where(Quarantine.survey_id == survey)
    with database.opened(ctx.config) as engine, engine.connect() as conn:
        entries = [_entry(row) for row in conn.execute(query)]
    if as_json:
        click.echo(json.dumps({"entries": entries}, ensure_ascii=False, indent=2))
        return
    if not entries:
        click.echo("quarantine is empty")
    for e in entries:
        state = f" resolved {e['resolved_at']}" if e["resolved_at"] else ""
        click.echo(
            f"#{e['id']} {e['site']} survey {e['survey_id']} response {e['response_id']} "
            f"[{e['reason_code']}] x{e['attempts']}{state}: {e['reason']}"
        )


@quarantine.command()
@click.argument("entry_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
@pass_context
def show(ctx: Context, entry_id: int, as_json: bool) -> None:
    """Show one entry in full (ENTRY_ID from ``quarantine list``)."""
    with database.opened(ctx.config) as engine, engine.connect() as conn:
        row = conn.execute(sa.select(Quarantine).where(Quarantine.id == entry_id)).first()
    if row is None:
        raise ConfigError(f"no quarantine entry #{entry_id} (see pingyi quarantine list)")
    entry = _entry(row)
    if as_json:
        click.echo(json.dumps(entry, ensure_ascii=False, indent=2))
        return
    for key, value in entry.items():
        shown = json.dumps(value, ensure_ascii=False, sort_keys=True) if key == "detail" else value
        click.echo(f"{key}: {shown}")


@quarantine.command()
@click.argument("entry_ids", type=int, nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Retry every open entry.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@pass_context
def retry(ctx: Context, entry_ids: tuple[int, ...], everything: bool, as_json: bool) -> None:
    """Re-read entries from LimeSurvey and map them with the current mappings."""
    if bool(entry_ids) == everything:
        raise click.UsageError("give entry ids or --all (not both)")
    config = ctx.config
    catalogue = catalogue_mod.load_catalogue(config.mappings)
    query = sa.select(Quarantine.id, Quarantine.site, Quarantine.survey_id, Quarantine.response_id)
    query = query.where(Quarantine.resolved_at.is_(None))
    if entry_ids:
        query = query.where(Quarantine.id.in_(entry_ids))
    results: list[dict[str, Any]] = []
    failed = 0
    with database.opened(config) as engine:
        with engine.connect() as conn:
            rows = conn.execute(query).all()
        if entry_ids:
            missing = sorted(set(entry_ids) - {r.id for r in rows})
            if missing:
                raise ConfigError(
                    f"no open quarantine entry {', '.join(f'#{i}' for i in missing)} "
                    "(see pingyi quarantine list --all)"
                )
        groups: dict[tuple[str, int], list[int]] = defaultdict(list)
        for row in rows:
            groups[(row.site, row.survey_id)].append(row.response_id)
        plugin = sites.plugin_bindings(config, catalogue, engine)
        for (site_name, sid), ids in sorted(groups.items()):
            entry: dict[str, Any] = {"site": site_name, "survey_id": sid, "responses": len(ids)}
            try:
                site = config.site(site_name)
                binding = catalogue.bindings.get((site_name, sid))
                if binding is None and sid in site.surveys and site.plugin_url:
                    binding = plugin.binding(site, sid)
                if binding is None:
                    raise ConfigError(
                        f"survey {sid} of site {site_name} has no binding now; add one in "
                        f"{config.mappings}/surveys/"
                    )
                with sites.session(engine, site) as client:
                    report = run_pass(
                        engine, client, site, binding, catalogue,
                        kind="retry", ids=ids, token_key=sites.token_key(config, binding),
                    )  # fmt: skip
            except PingyiError as exc:
                failed += 1
                entry.update(ok=False, error=str(exc), error_kind=exc.kind)
            else:
                if report.touched:
                    ledger.after_sync(engine, catalogue, report.touched)
                stored = report.inserted + report.updated + report.unchanged
                entry.update(
                    ok=True,
                    stored=stored,
                    still_quarantined=report.quarantined,
                    resolved=report.resolved,
                    vanished=report.deleted,
                )
            results.append(entry)
    if as_json:
        click.echo(json.dumps({"results": results}, ensure_ascii=False, indent=2))
    else:
        for e in results:
            if e["ok"]:
                click.echo(
                    f"{e['site']} survey {e['survey_id']}: {e['stored']} of {e['responses']} "
                    f"stored, {e['resolved']} resolved, {e['still_quarantined']} still quarantined"
                )
            else:
                click.echo(f"{e['site']} survey {e['survey_id']}: FAILED: {e['error']}", err=True)
    if failed:
        raise SystemExit(1)
