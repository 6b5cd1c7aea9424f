"""``pingyi resync``: sync a survey (or every survey of a site or campaign) now.

Without options it is an ordinary pass (new responses, pending ones). ``--full``
re-reads every response, updates the edited ones and marks deleted ones; ``--from-id``/
``--to-id`` re-read a range; ``--dry-run`` says what would change and writes nothing.
SIGTERM or Ctrl-C finishes the current window, commits it and stops.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from sync import catalogue as catalogue_mod
from sync import db as database
from sync import ledger, sites, store
from sync.bindings import Binding
from sync.cli import Context, pass_context
from sync.config import SiteConfig
from sync.errors import ConfigError, PermanentError, PingyiError
from sync.pull import PassReport, run_pass

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from sync.limesurvey import LimeSurveyClient


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM/SIGINT: the pass ends after the window it is storing."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, _frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextmanager
def progress_display(enabled: bool, label: str) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar in a terminal; plain lines (every 10 000 rows) otherwise."""
    if enabled and sys.stderr.isatty():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            transient=True,
        ) as bar:
            task = bar.add_task(label, total=None)
            yield lambda done, _total: bar.update(task, completed=done)
        return
    shown = [0]

    def plain(done: int, _total: int) -> None:
        if enabled and done - shown[0] >= 10_000:
            shown[0] = done
            click.echo(f"{label}: {done} responses read", err=True)

    yield plain


#: a full resync asks first when LimeSurvey holds fewer completed responses than the
#: records by more than this many and more than this share of the records
FULL_DELETE_ASK_COUNT = 10
FULL_DELETE_ASK_SHARE = 0.1


def full_resync_allowed(
    engine: Engine, client: LimeSurveyClient, site: str, sid: int, *, ask: bool
) -> None:
    """Before a full resync: if LimeSurvey holds many fewer completed responses than the
    records, the survey was more likely deactivated (its responses archived) than cleaned
    up, and a full resync would mark the stored ones deleted. Ask (``ask``), or refuse."""
    completed = client.summary(sid).completed
    known = store.known_completed(engine, store.SurveyKey(site, sid))
    missing = known - completed
    if missing <= max(FULL_DELETE_ASK_COUNT, known * FULL_DELETE_ASK_SHARE):
        return
    warning = (
        f"{site} survey {sid}: LimeSurvey holds {completed} completed responses, the records "
        f"{known}: a full resync would mark up to {missing} stored responses deleted "
        "(excluded from the scores). If the survey was deactivated in LimeSurvey, bring its "
        "responses back first (Responses > Import from a deactivated survey table, 'Preserve "
        "response IDs' ticked); `--dry-run` shows what would change"
    )
    if ask and click.confirm(f"{warning}. Go on?", default=False, err=True):
        return
    raise PermanentError(f"{warning}; not done (add --yes to go on without asking)")


def summary_line(site: str, sid: int, report: PassReport) -> str:
    verb = "would" if report.dry_run else "did"
    return (
        f"{site} survey {sid}: {verb} insert {report.inserted}, update {report.updated}, "
        f"delete {report.deleted}, quarantine {report.quarantined}; unchanged "
        f"{report.unchanged}, pending {report.pending}, high water {report.high_water}, "
        f"{report.fetched} read in {report.duration_s:.1f} s ({report.rc2_calls} RC2 calls)"
        + (" [stopped]" if report.stopped else "")
        + (
            f"; {report.found_below} completed below the high water were missing, "
            + ("would be read" if report.dry_run else "read now")
            if report.found_below
            else ""
        )
        + (
            f"; LimeSurvey still counts {report.shortfall} completed more than the records"
            if report.shortfall and report.shortfall > 0
            else ""
        )
        + (
            f"; submit dates read {report.clock_offset_s / 3600:+.2f} h off the clock: check "
            "the site's timezone (see the warning above)"
            if report.clock_wrong and report.clock_offset_s is not None
            else ""
        )
    )


@click.command()
@click.option("--site", "site_name", help="Site name from pingyi.toml (default: every site).")
@click.option("--survey", type=int, help="Survey id (default: every bound survey).")
@click.option("--campaign", help="Only surveys bound to this campaign.")
@click.option("--from-id", type=click.IntRange(min=1), help="Re-read ids from this one.")
@click.option("--to-id", type=click.IntRange(min=1), help="Re-read ids up to this one.")
@click.option("--full", is_flag=True, help="Re-read everything; find edits and deletes.")
@click.option("--dry-run", is_flag=True, help="Say what would change; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@click.option(
    "--yes",
    is_flag=True,
    help="Do not ask before a full resync that would mark many stored responses deleted.",
)
@pass_context
def resync(  # noqa: PLR0917 (click passes every option by position)
    ctx: Context,
    site_name: str | None,
    survey: int | None,
    campaign: str | None,
    from_id: int | None,
    to_id: int | None,
    full: bool,
    dry_run: bool,
    as_json: bool,
    yes: bool,
) -> None:
    """Sync surveys now (a pass, a full re-read, or an id range)."""
    if (from_id is None) != (to_id is None):
        raise click.UsageError("give both --from-id and --to-id, or neither")
    if from_id is not None and to_id is not None and from_id > to_id:
        raise click.UsageError(f"--from-id {from_id} is above --to-id {to_id}")
    if from_id is not None and full:
        raise click.UsageError("--full re-reads everything: leave out --from-id/--to-id")
    config = ctx.config
    catalogue = catalogue_mod.load_catalogue(config.mappings)
    chosen: list[tuple[SiteConfig, int, Binding | None]] = [
        (site, b.survey_id, b)
        for site, b in sites.bindings(
            config, catalogue, site=site_name, survey=survey, campaign=campaign
        )
    ]
    # bound by the site's plugin: read below (their campaign is known only then)
    chosen += [
        (site, sid, None)
        for site, sid in sites.plugin_surveys(config, catalogue, site=site_name, survey=survey)
    ]
    if not chosen:
        raise ConfigError(
            "no bound survey matches "
            + " ".join(
                f"--{k} {v}"
                for k, v in (("site", site_name), ("survey", survey), ("campaign", campaign))
                if v is not None
            )
            + f" (bindings in {config.mappings}/surveys/, sites in {config.source})"
        )
    kind = "full" if full else "resync"
    id_range = (from_id, to_id) if from_id is not None and to_id is not None else None
    results: list[dict[str, Any]] = []
    failed = 0
    with database.opened(config) as engine, stop_on_signals() as stop:
        if not database.is_current(engine):
            raise ConfigError("the records database is not migrated: run pingyi db upgrade")
        plugin = sites.plugin_bindings(config, catalogue, None if dry_run else engine)
        for site, sid, yaml in chosen:
            entry: dict[str, Any] = {"site": site.name, "survey_id": sid}
            try:
                if yaml is None:
                    binding = plugin.binding(site, sid)
                    if campaign is not None and binding.campaign != campaign:
                        continue
                else:
                    binding = yaml
                    plugin.compare(site, yaml)
                with sites.session(engine, site) as client:
                    if full and not (dry_run or yes):
                        full_resync_allowed(
                            engine, client, site.name, sid, ask=not as_json and sys.stdin.isatty()
                        )
                    with progress_display(not as_json, f"{site.name} {sid}") as progress:
                        report = run_pass(
                            engine,
                            client,
                            site,
                            binding,
                            catalogue,
                            kind=kind,
                            full=full,
                            id_range=id_range,
                            dry_run=dry_run,
                            stop=stop,
                            progress=progress,
                            token_key=sites.token_key(config, binding),
                            pending_max_age_days=config.daemon.pending_max_age_days,
                            # IT staff asked: look below the high water now if counts differ
                            probe=True,
                        )
            except PingyiError as exc:
                failed += 1
                entry.update(ok=False, error=str(exc), error_kind=exc.kind)
                if not as_json:
                    click.echo(f"{site.name} survey {sid}: FAILED ({exc.kind}): {exc}", err=True)
            else:
                entry.update(ok=True, **report.as_dict())
                if not as_json:
                    click.echo(summary_line(site.name, sid, report))
                if not dry_run and report.touched:
                    # results and ledger follow the records at once, as after a daemon pass
                    raised = ledger.after_sync(engine, catalogue, report.touched)
                    entry["results_refreshed_units"] = len(report.touched)
                    entry["ledger_items_raised"] = sum(r.created for r in raised.values())
                    if not as_json:
                        click.echo(
                            f"  results refreshed for {len(report.touched)} units; "
                            f"{entry['ledger_items_raised']} new ledger items"
                        )
            results.append(entry)
            if stop.is_set():
                break
    if as_json:
        click.echo(json.dumps({"results": results}, ensure_ascii=False, indent=2, default=str))
    if failed:
        raise SystemExit(1)
