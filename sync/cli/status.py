"""``pingyi status``: where each survey's sync stands, from the records database only
(no LimeSurvey call, no secret): high water, pending ids, time since the last success,
the last error and its kind, open quarantine entries, completed responses LimeSurvey
counted that the records lack, and each site's login state."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import click
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync import db as database
from sync import siteclock, sites
from sync.cli import Context, pass_context
from sync.config import Config
from sync.errors import PingyiError
from sync.models import Quarantine, SyncCursor, SyncPending, TallyStale


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def collect(engine: Engine, config: Config, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The status document (``--json`` prints it as is)."""
    current = now or database.utcnow()
    bound: set[tuple[str, int]] = set()
    try:
        from sync import catalogue as catalogue_mod

        catalogue = catalogue_mod.load_catalogue(config.mappings)
        bound = {(s.name, b.survey_id) for s, b in sites.bindings(config, catalogue)}
        # bound by the site's plugin (read before each pass; its failures are on the cursor)
        bound |= {(s.name, sid) for s, sid in sites.plugin_surveys(config, catalogue)}
    except PingyiError:
        pass  # status still shows what the database knows
    with engine.connect() as conn:
        cursors = {
            (row.site, row.survey_id): row for row in conn.execute(sa.select(SyncCursor)).all()
        }
        pending = {
            (s, i): n
            for s, i, n in conn.execute(
                sa.select(SyncPending.site, SyncPending.survey_id, sa.func.count()).group_by(
                    SyncPending.site, SyncPending.survey_id
                )
            )
        }
        stale = TallyStale
        waiting = [
            {"campaign": c, "units_waiting": n, "since": _iso(since)}
            for c, n, since in conn.execute(
                sa.select(stale.campaign_code, sa.func.count(), sa.func.min(stale.marked_at))
                .group_by(stale.campaign_code)
                .order_by(stale.campaign_code)
            )
        ]
        held = {
            (s, i): n
            for s, i, n in conn.execute(
                sa.select(Quarantine.site, Quarantine.survey_id, sa.func.count())
                .where(Quarantine.resolved_at.is_(None))
                .group_by(Quarantine.site, Quarantine.survey_id)
            )
        }
    zones = {s.name: s.timezone for s in config.sites}
    surveys = []
    for site, sid in sorted(bound | set(cursors) | set(pending) | set(held)):
        cur = cursors.get((site, sid))
        last_ok = cur.last_success_at if cur is not None else None
        failing = (
            cur is not None
            and cur.last_error_at is not None
            and (last_ok is None or cur.last_error_at > last_ok)
        )
        surveys.append(
            {
                "site": site,
                "survey_id": sid,
                "bound": (site, sid) in bound,
                "high_water": cur.high_water if cur is not None else 0,
                "pending": pending.get((site, sid), 0),
                "lag_seconds": round((current - last_ok).total_seconds(), 1) if last_ok else None,
                "last_success_at": _iso(last_ok),
                "last_full_at": _iso(cur.last_full_at) if cur is not None else None,
                "failing": failing,
                "last_error": cur.last_error if cur is not None else None,
                "last_error_kind": cur.last_error_kind if cur is not None else None,
                "last_error_at": _iso(cur.last_error_at) if cur is not None else None,
                "quarantined": held.get((site, sid), 0),
                "shortfall": (cur.shortfall or 0) if cur is not None else 0,
                **_clock(cur, zones.get(site)),
            }
        )
    site_states = []
    for site in config.sites:
        state = sites.login_state(engine, site.name)
        site_states.append(
            {
                "site": site.name,
                "url": site.url,
                "user": site.user,
                "login": "refused" if state.refused else "ok",
                "login_refused_at": _iso(state.refused_at),
                "login_refused_reason": state.reason,
            }
        )
    # units whose records changed since their results were last composed: a refresh
    # follows every pass, so a lasting entry means refreshes are failing (see the log)
    return {
        "now": current.isoformat(),
        "sites": site_states,
        "surveys": surveys,
        "results": waiting,
    }


def _clock(cur: Any, zone: str | None) -> dict[str, Any]:
    """The last clock reading (``sync.siteclock``), unless it was made under another
    timezone than the site's now: changing it is the remedy, and the next webhook
    measures again (the next pass clears the old reading)."""
    if cur is None or cur.clock_offset is None or (zone is not None and cur.clock_zone != zone):
        return {"clock_offset_seconds": None, "clock_read_at": None, "clock_zone": None}
    return {
        "clock_offset_seconds": cur.clock_offset,
        "clock_read_at": _iso(cur.clock_read_at),
        "clock_zone": cur.clock_zone,
    }


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@pass_context
def status(ctx: Context, as_json: bool) -> None:
    """Show each survey's sync state and each site's login state."""
    with database.opened(ctx.config) as engine:
        doc = collect(engine, ctx.config)
    if as_json:
        click.echo(json.dumps(doc, ensure_ascii=False, indent=2))
        return
    for site in doc["sites"]:
        line = f"site {site['site']} ({site['url']}, user {site['user']}): login {site['login']}"
        if site["login"] == "refused":
            line += f" since {site['login_refused_at']}: {site['login_refused_reason']}"
        click.echo(line)
    if not doc["surveys"]:
        click.echo("no survey synced or bound yet")
    for s in doc["surveys"]:
        line = (
            f"{s['site']} survey {s['survey_id']}: high water {s['high_water']}, "
            f"pending {s['pending']}, quarantined {s['quarantined']}, "
            f"last success {_ago(s['lag_seconds'])}"
        )
        if s["shortfall"] > 0:
            line += (
                f"; LimeSurvey counts {s['shortfall']} completed responses the records lack "
                "(`pingyi resync` looks for them below the high water)"
            )
        elif s["shortfall"] < 0:
            line += (
                f"; the records hold {-s['shortfall']} completed responses LimeSurvey no longer "
                "has (deleted there, or the survey was deactivated: see "
                "docs/status-and-errors.md before any `resync --full`)"
            )
        if siteclock.off(s["clock_offset_seconds"]):
            line += (
                f"; submit dates read {s['clock_offset_seconds'] / 3600:+.2f} h off in the pass of "
                f"{s['clock_read_at']} (timezone {s['clock_zone']}): the site's timezone or a "
                "clock is wrong (docs/status-and-errors.md)"
            )
        if not s["bound"]:
            line += " (no binding now)"
        if s["failing"]:
            line += (
                f"; FAILING ({s['last_error_kind']}) since {s['last_error_at']}: {s['last_error']}"
            )
        click.echo(line)
    for r in doc["results"]:
        click.echo(
            f"results of campaign {r['campaign']}: {r['units_waiting']} units changed since "
            f"{r['since']} wait for a refresh (pingyi results rebuild does it now)"
        )
