"""``pingyi doctor``: is this installation ready? One line per check, OK or FAIL with
what to do; exit 1 when anything failed.

Checks are plain functions in ``CHECKS``, run in order. To add one (e.g. LimeSurvey
reachable, login works), write ``def check_x(ctx: Context) -> Outcome`` and append it
with ``@check``; raise a ``PingyiError`` or return ``Outcome(False, ...)`` to fail. A
check that needs an earlier one to have passed can look at ``ctx`` state itself; an
unexpected exception in one check is reported as its FAIL and the others still run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa

from sync import db as database
from sync.cli import Context, pass_context
from sync.errors import PingyiError


@dataclass(frozen=True)
class Outcome:
    ok: bool
    #: what was found, one line ("config from ./pingyi.toml")
    detail: str
    #: what to do about a failure
    fix: str = ""


Check = Callable[[Context], Outcome]


@dataclass(frozen=True)
class Registered:
    name: str
    function: Check
    #: names of checks that must have passed for this one to mean anything
    needs: tuple[str, ...] = ()


#: the checks in the order they run; other modules append with ``@check``
CHECKS: list[Registered] = []


def check(name: str, needs: tuple[str, ...] = ()) -> Callable[[Check], Check]:
    def register(function: Check) -> Check:
        CHECKS.append(Registered(name, function, needs))
        return function

    return register


@check("config")
def check_config(ctx: Context) -> Outcome:
    config = ctx.config
    sites = ", ".join(site.name for site in config.sites) or "no sites"
    return Outcome(True, f"parsed from {config.source} ({sites}; mappings {config.mappings})")


@check("database", needs=("config",))
def check_database(ctx: Context) -> Outcome:
    url = sa.make_url(ctx.config.database.url)
    file = url.database if url.get_backend_name() == "sqlite" else None
    # Connecting would create an empty file, and then every later command finds it.
    if file and file != ":memory:" and not Path(file).is_file():
        return Outcome(False, f"SQLite file {file} does not exist", "run pingyi db upgrade")
    with database.opened(ctx.config) as engine, engine.connect() as conn:
        conn.execute(sa.select(1))
    return Outcome(True, f"reachable: {database.describe(ctx.config)}")


@check("migrations", needs=("database",))
def check_migrations(ctx: Context) -> Outcome:
    with database.opened(ctx.config) as engine:
        current = database.current_revisions(engine)
        heads = database.head_revisions()
    have = ", ".join(sorted(current)) or "no Pingyi tables"
    if current == heads:
        return Outcome(True, f"at head ({have})")
    return Outcome(
        False,
        f"database at {have}, this version needs {', '.join(sorted(heads))}",
        "run pingyi db upgrade",
    )


def _site_outcome(findings: list[Any]) -> Outcome:
    failed = [f for f in findings if not f.ok]
    if not findings:
        return Outcome(True, "no sites configured")
    if failed:
        return Outcome(False, "; ".join(f.detail for f in failed), failed[0].fix)
    return Outcome(True, "; ".join(f.detail for f in findings))


@check("limesurvey reachable", needs=("config",))
def check_limesurvey(ctx: Context) -> Outcome:
    """Reachable and RC2 on, per site, without a login (helper G1, sync.sites)."""
    from sync import sites

    return _site_outcome([f for site in ctx.config.sites for f in sites.probe_rc2(site)])


@check("limesurvey login", needs=("limesurvey reachable", "migrations"))
def check_limesurvey_login(ctx: Context) -> Outcome:
    """ONE login per site; none while a site is in the refused state (sync.sites)."""
    from sync import sites

    with database.opened(ctx.config) as engine:
        return _site_outcome([sites.check_login(engine, site) for site in ctx.config.sites])


@check("site timezones", needs=("migrations",))
def check_site_clocks(ctx: Context) -> Outcome:
    """The last clock reading of each survey under its site's timezone (sync.siteclock,
    as ``status`` shows them): no database writes, no LimeSurvey call."""
    from sync import siteclock
    from sync.cli.status import collect

    with database.opened(ctx.config) as engine:
        surveys = collect(engine, ctx.config)["surveys"]
    measured = [s for s in surveys if s["clock_offset_seconds"] is not None]
    off = [s for s in measured if siteclock.off(s["clock_offset_seconds"])]
    if off:
        return Outcome(
            False,
            "; ".join(
                f"site {s['site']} survey {s['survey_id']}: submit dates read "
                f"{s['clock_offset_seconds'] / 3600:+.2f} h off in the pass of "
                f"{s['clock_read_at']} (timezone {s['clock_zone']})"
                for s in off
            ),
            "set the site's timezone in pingyi.toml to LimeSurvey's (the daemon's log names "
            "the probable one), restart the daemon, then pingyi resync --full "
            "(docs/status-and-errors.md)",
        )
    if not measured:
        return Outcome(True, "not measured yet (completion webhooks measure them)")
    return Outcome(
        True, f"{len(measured)} of {len(surveys)} surveys measured, all within 10 minutes"
    )


def run_checks(ctx: Context) -> list[tuple[str, Outcome]]:
    results: list[tuple[str, Outcome]] = []
    passed: set[str] = set()
    for registered in CHECKS:
        missing = [need for need in registered.needs if need not in passed]
        try:
            if missing:
                outcome = Outcome(False, f"not checked: {', '.join(missing)} failed")
            else:
                outcome = registered.function(ctx)
        except PingyiError as exc:
            outcome = Outcome(False, str(exc), _fix_for(exc))
        except Exception as exc:  # one broken check must not hide the others
            outcome = Outcome(False, f"{type(exc).__name__}: {exc}")
        results.append((registered.name, outcome))
        if outcome.ok:
            passed.add(registered.name)
    return results


def _fix_for(exc: PingyiError) -> str:
    return {
        "config": "fix the configuration (pingyi --config PATH, $PINGYI_CONFIG, ./pingyi.toml)",
        "transient": "check the server is running and the URL, user and network are right",
    }.get(exc.kind, "")


@click.command()
@pass_context
def doctor(ctx: Context) -> None:
    """Check the configuration, the database and the LimeSurvey sites."""
    failed = 0
    for name, outcome in run_checks(ctx):
        word = "OK  " if outcome.ok else "FAIL"
        line = f"{word} {name}: {outcome.detail}"
        if not outcome.ok and outcome.fix:
            line += f" -> {outcome.fix}"
        click.echo(line)
        failed += not outcome.ok
    if failed:
        raise SystemExit(1)
