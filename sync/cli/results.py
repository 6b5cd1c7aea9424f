"""``pingyi results``: the ranked results per system, as a table, CSV, JSON, an Excel
sheet or the HTML report; ``results rebuild``; ``results import-work``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from sqlalchemy.engine import Engine

from sync import db as database
from sync.catalogue import Catalogue, load_catalogue
from sync.cli import Context, pass_context
from sync.errors import InputError, Location


@contextmanager
def opened(ctx: Context) -> Iterator[tuple[Engine, Catalogue]]:
    """The configured database and the catalogue from ``mappings/``."""
    catalogue = load_catalogue(ctx.config.mappings)
    with database.opened(ctx.config) as engine:
        yield engine, catalogue


def pick_campaign(catalogue: Catalogue, code: str | None) -> str:
    """The given campaign, else the latest year's."""
    if code is not None:
        return code
    if not catalogue.campaigns:
        raise InputError(
            Location(key="campaign"),
            "the catalogue has no campaign",
            "add mappings/campaigns/<code>.yaml",
        )
    return max(catalogue.campaigns.values(), key=lambda c: (c.year, c.code)).code


campaign_option = click.option(
    "--campaign", "campaign", help="Campaign code (default: the latest year's)."
)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def print_tables(doc: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{doc['campaign_name']}[/bold]  (campaign {doc['campaign']})")
    for s in doc["systems"]:
        score = "—" if s["score"] is None else f"{s['score']:.2f}"
        table = Table(
            title=f"{s['system_name']}  系统得分 {score}  参评 {s['units_scored']}",
            title_justify="left",
        )
        table.add_column("排名", justify="right")
        table.add_column("全区", justify="right")
        # names are never cut or wrapped: they are what people search the table for
        table.add_column("单位", no_wrap=True)
        table.add_column("综合得分", justify="right", no_wrap=True)
        table.add_column("满意率 (95% 区间)", justify="right")
        table.add_column("答卷", justify="right")
        table.add_column("等次", no_wrap=True)
        table.add_column("说明", overflow="fold")
        for u in s["units"]:
            rate = _pct(u["satisfaction_rate"])
            if u["rate_low"] is not None:
                rate += f" ({_pct(u['rate_low'])}–{_pct(u['rate_high'])})"
            table.add_row(
                str(u["rank_in_system"] or "—"),
                str(u["rank_in_district"] or "—"),
                u["unit_name"],
                "—" if u["composite"] is None else f"{u['composite']:.2f}",
                rate,
                str(u["responses"]),
                u["grade"] or ("免评" if u["exempt"] else "—"),
                "；".join(x for x in (u["grade_reason"], u["notes"]) if x),
            )
        console.print(table)
    if doc["excluded_responses"]:
        console.print(f"申诉剔除答卷 {doc['excluded_responses']} 份（见 pingyi appeal list）")
    console.print(f"逾期整改事项 {len(doc['overdue'])} 项（见 pingyi ledger overdue）")


@click.group(invoke_without_command=True)
@campaign_option
@click.option("--system", help="Only this system (code).")
@click.option("--csv", "as_csv", is_flag=True, help="CSV on stdout.")
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
@click.option(
    "--xlsx",
    "xlsx",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the year-end assessment sheet (Excel) to FILE.",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report (one self-contained HTML file) to FILE.",
)
@click.pass_context
def results(
    click_ctx: click.Context,
    *,
    campaign: str | None,
    system: str | None,
    as_csv: bool,
    as_json: bool,
    xlsx: Path | None,
    html_path: Path | None,
) -> None:
    """Ranked results per system (scores, satisfaction with 95% intervals, grades)."""
    if click_ctx.invoked_subcommand is not None:
        return
    from sync import report

    ctx: Context = click_ctx.find_object(Context)  # type: ignore[assignment]
    with opened(ctx) as (engine, catalogue):
        code = pick_campaign(catalogue, campaign)
        if system is not None and system not in catalogue.systems:
            known = ", ".join(catalogue.systems)
            raise InputError(Location(key="--system"), f"unknown system {system!r}", f"use {known}")
        doc = report.collect(engine, catalogue, code, system=system, today=dt.date.today())
    if as_csv:
        click.echo(report.to_csv(doc), nl=False)
    elif as_json:
        click.echo(report.to_json(doc))
    if xlsx is not None:
        report.write_xlsx(doc, xlsx)
        click.echo(f"wrote {xlsx}", err=True)
    if html_path is not None:
        html_path.parent.mkdir(parents=True, exist_ok=True)
        html_path.write_text(report.to_html(doc), encoding="utf-8")
        click.echo(f"wrote {html_path}", err=True)
    if not (as_csv or as_json or xlsx or html_path):
        if not doc["systems"]:
            click.echo(f"no results for campaign {code} yet: run pingyi results rebuild")
            return
        print_tables(doc)


@results.command("rebuild")
@campaign_option
@click.option(
    "--recount",
    is_flag=True,
    help="Count every unit's sums again from the stored observations first (slower), and "
    "report any unit whose kept sums differed.",
)
@pass_context
def rebuild(ctx: Context, campaign: str | None, recount: bool) -> None:
    """Recompute every result of the campaign, then raise the rectification items they
    call for.

    The figures are composed from sums kept per unit (``pingyi_tally_*``), counted again
    from the observations for every unit a sync, an appeal or a deletion touched (and
    each dimension's figures written with its sums); with --recount every unit is counted
    again and every dimension row rewritten. Use --recount after changing the records or
    the results by hand, after restoring a backup of only some tables, after upgrading
    Pingyi, or whenever a number is in doubt: a unit it reports was wrong until then."""
    from sync import ledger, score

    with opened(ctx) as (engine, catalogue):
        code = pick_campaign(catalogue, campaign)
        rep = score.rebuild(engine, catalogue, code, recount=recount)
        items = ledger.raise_items(engine, catalogue, code)
    click.echo(
        f"campaign {code}: {rep.units_recomputed} units, {rep.units_ranked} ranked, "
        f"{rep.observations} counted answers ({rep.units_recounted} units counted again "
        f"from the observations), in {rep.duration_s:.2f} s; ledger: {items.created} new items"
    )
    if rep.drifted:
        click.echo(
            f"warning: the kept sums of {len(rep.drifted)} units differed from their "
            f"observations and are now corrected: {', '.join(rep.drifted)}. Something wrote "
            "the records without marking them (a hand edit, a partial restore); the results "
            "published before this rebuild may differ for these units.",
            err=True,
        )


@results.command("import-work")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@campaign_option
@click.option("--by", "by", default="区评议办", show_default=True, help="Who entered the scores.")
@pass_context
def import_work(ctx: Context, csv_file: Path, campaign: str | None, by: str) -> None:
    """Import the office's work-assessment scores (CSV: unit,score[,note]) and refresh."""
    from sync import score

    with opened(ctx) as (engine, catalogue):
        code = pick_campaign(catalogue, campaign)
        units = score.import_work(engine, catalogue, code, csv_file, entered_by=by)
        # work scores are no sums of the records: the figures are composed anew, nothing
        # needs counting again
        score.refresh(engine, catalogue, code)
    click.echo(f"campaign {code}: {len(units)} work-assessment scores imported, results refreshed")
