"""``pingyi demo``: the whole pipeline on a made-up year, on this machine, in a minute.

A LimeSurvey double serves the district's surveys (built from ``mappings/``) with tens of
thousands of generated responses on loopback; a temporary ``pingyi.toml`` points a site at
it (the password travels in an environment variable, as it must in production); the
records database is migrated, the catalogue loaded, every survey synced with the real
client and ``sync.pull.run_pass``, respondents finish some incomplete responses and a
second pass picks them up; then results, ledger and report are built where those pieces
exist. What it prints is what a new user wants to know, checked against the generator's
own record of what it made.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import secrets
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click
import sqlalchemy as sa

from sync import config as config_mod
from sync import db as database
from sync import models as m
from sync.cli import Context, pass_context
from sync.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from sync.catalogue import Catalogue
    from sync.pull import PassReport
    from sync.testing.demo import DemoData

DEFAULT_DB = Path("pingyi-demo.db")
DEFAULT_OUT = Path("pingyi-demo")
PASSWORD_ENV = "PINGYI_DEMO_LS_PASSWORD"
TOKEN_KEY_ENV = "PINGYI_DEMO_TOKEN_KEY"
DEMO_USER = "pingyi-demo"
#: the demo site reads its dates in a site's default timezone, and the double writes them in it
DEMO_ZONE = config_mod.DEFAULT_TIMEZONE
SITE = "district"


def _toml(value: str) -> str:
    # a TOML basic string is a JSON string without \u escapes of non-BMP characters
    return json.dumps(value, ensure_ascii=False)


def write_config(path: Path, *, url: str, database_url: str, mappings: Path) -> Path:
    """A pingyi.toml for the demo: the password and token key by environment variable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Written by `pingyi demo`: a site on the LimeSurvey double the demo ran.\n"
        "# The double is gone once the demo ends; status, results and quarantine read the\n"
        "# records database only and work with this file.\n"
        f"mappings = {_toml(str(mappings.resolve()))}\n\n"
        f"[database]\nurl = {_toml(database_url)}\n\n"
        f"[daemon]\ntoken_hash_key_env = {_toml(TOKEN_KEY_ENV)}\n\n"
        f"[[sites]]\nname = {_toml(SITE)}\nurl = {_toml(url)}\nuser = {_toml(DEMO_USER)}\n"
        f"password_env = {_toml(PASSWORD_ENV)}\ntimezone = {_toml(DEMO_ZONE)}\n",
        encoding="utf-8",
    )
    return path


@dataclass
class Pass:
    """One sync round over every survey."""

    reports: dict[int, PassReport] = field(default_factory=dict)
    seconds: float = 0.0

    def total(self, name: str) -> int:
        return sum(int(getattr(r, name)) for r in self.reports.values())


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str, int], Callable[[int, int], None]]]:
    """A progress bar per survey on a terminal; nothing otherwise (lines follow)."""
    if not enabled:
        yield lambda _label, _total: lambda _done, _extra: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
    ) as bar:

        def track(label: str, total: int) -> Callable[[int, int], None]:
            task = bar.add_task(label, total=total)
            return lambda done, _extra: bar.update(task, completed=done)

        yield track


def sync_all(
    engine: Engine,
    catalogue: Catalogue,
    config: config_mod.Config,
    data: DemoData,
    *,
    kind: str,
    show_progress: bool,
) -> Pass:
    """One pass of ``sync.pull.run_pass`` over every demo survey with the real client."""
    from sync.limesurvey import LimeSurveyClient
    from sync.pull import run_pass

    site = config.site(SITE)
    token_key = config.daemon.token_hash_key.reveal().get_secret_value().encode("utf-8")
    out = Pass()
    started = time.perf_counter()
    with _progress(show_progress) as track:
        for survey in data.surveys:
            label = f"{survey.sid} {catalogue.groups[survey.group].name}"
            with LimeSurveyClient(site, site.password.reveal()) as client:
                out.reports[survey.sid] = run_pass(
                    engine,
                    client,
                    site,
                    survey.binding,
                    catalogue,
                    kind=kind,
                    token_key=token_key,
                    progress=track(label, len(data.rows[survey.sid])),
                    pending_max_age_days=10_000,  # the demo's year is in the past
                )
    out.seconds = time.perf_counter() - started
    return out


# -- what the records hold ----------------------------------------------------------------


def _scalar(conn: sa.Connection, query: Any) -> int:
    return int(conn.execute(query).scalar_one() or 0)


@dataclass
class Records:
    by_group: dict[str, int]
    by_survey: dict[int, int]
    observations: int
    dont_know: int
    comments: int
    pending: dict[int, int]
    quarantine: list[tuple[str, int, str]]  # reason code, count, one example reason
    quarantine_by_survey: dict[int, Counter[str]]


def read_records(engine: Engine, survey_ids: list[int]) -> Records:
    r = m.Response.__table__
    o = m.Observation.__table__
    c = m.Comment.__table__
    q = m.Quarantine.__table__
    p = m.SyncPending.__table__
    mine = sa.and_(r.c.site == SITE, r.c.survey_id.in_(survey_ids), r.c.deleted_at.is_(None))
    with engine.connect() as conn:
        by_group = {
            str(g): int(n)
            for g, n in conn.execute(
                sa.select(r.c.group_code, sa.func.count()).where(mine).group_by(r.c.group_code)
            )
        }
        by_survey = {
            int(s): int(n)
            for s, n in conn.execute(
                sa.select(r.c.survey_id, sa.func.count()).where(mine).group_by(r.c.survey_id)
            )
        }
        joined = o.join(r, o.c.response_pk == r.c.id)
        observations = _scalar(conn, sa.select(sa.func.count()).select_from(joined).where(mine))
        dont_know = _scalar(
            conn,
            sa.select(sa.func.count()).select_from(joined).where(mine, o.c.counted.is_(False)),
        )
        comments = _scalar(
            conn,
            sa.select(sa.func.count())
            .select_from(c.join(r, c.c.response_pk == r.c.id))
            .where(mine),
        )
        pending = {
            int(s): int(n)
            for s, n in conn.execute(
                sa.select(p.c.survey_id, sa.func.count())
                .where(p.c.site == SITE, p.c.survey_id.in_(survey_ids))
                .group_by(p.c.survey_id)
            )
        }
        open_q = sa.and_(q.c.site == SITE, q.c.survey_id.in_(survey_ids), q.c.resolved_at.is_(None))
        quarantine = [
            (str(code), int(n), str(example))
            for code, n, example in conn.execute(
                sa.select(q.c.reason_code, sa.func.count(), sa.func.min(q.c.reason))
                .where(open_q)
                .group_by(q.c.reason_code)
                .order_by(sa.func.count().desc(), q.c.reason_code)
            )
        ]
        by_survey_q: dict[int, Counter[str]] = {}
        for sid, code, n in conn.execute(
            sa.select(q.c.survey_id, q.c.reason_code, sa.func.count())
            .where(open_q)
            .group_by(q.c.survey_id, q.c.reason_code)
        ):
            by_survey_q.setdefault(int(sid), Counter())[str(code)] = int(n)
    return Records(
        by_group, by_survey, observations, dont_know, comments, pending, quarantine, by_survey_q
    )


def check_against(data: DemoData, records: Records) -> list[str]:
    """Where the records differ from what the generator made (empty: they agree)."""
    problems = []
    for sid, exp in data.expected.items():
        got = {
            "stored": records.by_survey.get(sid, 0),
            "pending": records.pending.get(sid, 0),
            "quarantined": sum(records.quarantine_by_survey.get(sid, Counter()).values()),
        }
        want = {"stored": exp.stored, "pending": exp.pending, "quarantined": exp.quarantined}
        problems += [
            f"survey {sid}: {k} {got[k]}, the generator made {want[k]}"
            for k in want
            if got[k] != want[k]
        ]
    made = sum(e.observations for e in data.expected.values())
    if records.observations != made:
        problems.append(f"observations {records.observations}, the generator made {made}")
    made = sum(e.comments for e in data.expected.values())
    if records.comments != made:
        problems.append(f"comments {records.comments}, the generator made {made}")
    return problems


# -- the optional later steps ---------------------------------------------------------------


def _module(name: str) -> Any | None:
    return importlib.import_module(name) if importlib.util.find_spec(name) else None


def build_results(
    engine: Engine,
    catalogue: Catalogue,
    campaign: str,
    out: Path,
    say: Callable[[str], None],
    *,
    failures: list[str],
) -> Path | None:
    """Results, ledger and report, each only if its module is in this checkout."""
    score = _module("sync.score")
    if score is not None and hasattr(score, "rebuild"):
        t = time.perf_counter()
        rep = score.rebuild(engine, catalogue, campaign)
        say(
            f"results: campaign {campaign}: {rep.units_recomputed} units scored, "
            f"{rep.units_ranked} ranked, in {time.perf_counter() - t:.2f} s"
        )
    else:
        say("results: skipped (sync.score.rebuild is not in this checkout yet)")
    ledger = _module("sync.ledger")
    build = getattr(ledger, "raise_items", None)
    if build is not None:
        t = time.perf_counter()
        try:
            raised = build(engine, catalogue, campaign)
        except Exception as exc:
            # the sync's figures above stand; say what broke and fail the demo at the end
            say(f"ledger: FAILED in sync.ledger.raise_items: {type(exc).__name__}: {exc}")
            failures.append("ledger")
        else:
            with engine.connect() as conn:
                items = _scalar(
                    conn, sa.select(sa.func.count()).select_from(m.LedgerItem.__table__)
                )
            kinds = ""
            if hasattr(raised, "rating_items") and hasattr(raised, "dimension_items"):
                kinds = (
                    f" ({raised.rating_items:,} complaints, one per dissatisfied response; "
                    f"{raised.dimension_items:,} dimensions below the threshold)"
                )
            say(f"ledger: {items:,} rectification items{kinds}, in {time.perf_counter() - t:.2f} s")
    else:
        say("ledger: skipped (sync.ledger.raise_items is not in this checkout yet)")
    report = _module("sync.report")
    write = getattr(report, "write_report", None)
    if write is None:
        say("report: skipped (sync.report.write_report is not in this checkout yet)")
        return None
    path = out / "report.html"
    written = write(engine, catalogue, campaign, path)
    return Path(written) if isinstance(written, (str, Path)) else path


def ranking(engine: Engine, campaign: str, n: int) -> tuple[list[Any], list[Any]]:
    """The top and bottom ``n`` graded units by composite score."""
    u = m.ResultUnit.__table__
    unit = m.Unit.__table__
    query = (
        sa.select(
            u.c.unit_code, unit.c.name, u.c.system_code, u.c.composite, u.c.grade, u.c.grade_reason
        )
        .join(unit, unit.c.code == u.c.unit_code)
        .where(u.c.campaign_code == campaign, u.c.composite.is_not(None), u.c.exempt.is_(False))
    )
    with engine.connect() as conn:
        top = list(conn.execute(query.order_by(u.c.composite.desc(), u.c.unit_code).limit(n)))
        bottom = list(conn.execute(query.order_by(u.c.composite, u.c.unit_code).limit(n)))
    return top, bottom


# -- the command ----------------------------------------------------------------------------


def _database_url(ctx: Context, db: Path | None) -> tuple[str, Path | None]:
    """The demo's database: --db, else the config's when --config was given, else
    ``pingyi-demo.db``. Returns the URL and the SQLite file the demo may start afresh."""
    if db is not None:
        return f"sqlite:///{db.resolve()}", None
    if ctx.config_path is not None:
        return ctx.config.database_url, None
    return f"sqlite:///{DEFAULT_DB.resolve()}", DEFAULT_DB


def _fresh(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(path) + suffix).unlink(missing_ok=True)


@click.command()
@click.option("--responses", "n", default=30_000, show_default=True, help="Responses to make.")
@click.option("--seed", default=2022, show_default=True, help="Same seed, same responses.")
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"SQLite file (default: the --config database, else {DEFAULT_DB}, started afresh).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_OUT,
    show_default=True,
    help="Folder for the demo's pingyi.toml and report.",
)
@click.option(
    "--mappings",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Catalogue and bindings (default: the config's, ./mappings).",
)
@pass_context
def demo(
    ctx: Context, *, n: int, seed: int, db: Path | None, out: Path, mappings: Path | None
) -> None:
    """Sync a generated year of appraisal responses from a LimeSurvey double on loopback
    into a records database, score it and say what happened."""
    from sync.catalogue import load_catalogue
    from sync.cli.catalogue import store_catalogue
    from sync.testing.demo import generate
    from sync.testing.double import LimeSurveyDouble

    began = time.perf_counter()
    say = click.echo
    folder = mappings or ctx.config.mappings
    if not (folder / "catalogue.yaml").is_file():
        raise ConfigError(
            f"no catalogue at {folder / 'catalogue.yaml'}: run the demo from the repository "
            "root or give --mappings"
        )
    catalogue = load_catalogue(folder)
    url, fresh = _database_url(ctx, db)
    if fresh is not None:
        _fresh(fresh)

    t = time.perf_counter()
    data = generate(catalogue, n, seed)
    password = secrets.token_urlsafe(18)
    # the double writes "now" in the zone the demo's site config reads its dates in
    double = LimeSurveyDouble(users={DEMO_USER: password}, seed=seed, timezone=ZoneInfo(DEMO_ZONE))
    data.load(double)
    gen_s = time.perf_counter() - t
    campaigns = sorted({s.binding.campaign for s in data.surveys})
    shown = database.describe(config_mod.Config(database=config_mod.DatabaseConfig(url=url)))
    say(f"Pingyi demo: {data.total:,} responses (seed {seed}) in {len(data.surveys)} surveys")
    say(
        f"  catalogue {folder}: {len(catalogue.systems)} systems, {len(catalogue.units)} units, "
        f"{len(catalogue.groups)} respondent groups, campaign(s) {', '.join(campaigns)}"
    )
    say(f"  generated and loaded into the LimeSurvey double in {gen_s:.1f} s")
    say(f"  records database: {shown}")

    os.environ[PASSWORD_ENV] = password  # the config names the variable, never the value
    os.environ.setdefault(TOKEN_KEY_ENV, secrets.token_hex(32))
    terminal = sys.stdout.isatty()
    with double.serve() as rc_url:
        config_path = write_config(
            out / "pingyi.toml", url=rc_url, database_url=url, mappings=folder
        )
        config = config_mod.load(config_path)
        say(f"  LimeSurvey double at {rc_url} (user {DEMO_USER}, password in ${PASSWORD_ENV})")
        engine = database.make_engine(url)
        try:
            with database.reporting(config):
                database.upgrade(engine)
                with engine.begin() as conn:
                    store_catalogue(conn, catalogue)
                first = sync_all(
                    engine, catalogue, config, data, kind="demo", show_progress=terminal
                )
                _print_pass("first pass", first, catalogue, data, say)
                finished = data.complete_later(double)
                second = sync_all(engine, catalogue, config, data, kind="poll", show_progress=False)
                say(
                    f"respondents then finished {finished:,} incomplete responses; second pass: "
                    f"{second.total('fetched'):,} rows re-read, "
                    f"{second.total('inserted'):,} stored, "
                    f"{second.total('rc2_calls')} RC2 calls, {second.seconds:.2f} s"
                )
                records = read_records(engine, [s.sid for s in data.surveys])
                _print_records(records, catalogue, say)
                problems = check_against(data, records)
                if problems:
                    say("CHECK FAILED against the generator's own record:")
                    for p in problems:
                        say(f"  {p}")
                else:
                    say("  checked: the records hold exactly what the generator made")
                say("")
                report = None
                failures: list[str] = []
                for campaign in campaigns:
                    report = build_results(engine, catalogue, campaign, out, say, failures=failures)
                    _print_ranking(engine, campaign, say)
        finally:
            engine.dispose()
    say("")
    if report is not None:
        say(f"report: {report.resolve()}")
    say(f"done in {time.perf_counter() - began:.1f} s. Try next:")
    cfg = str(config_path)
    for command in ("status", "results", "quarantine list", "ledger summary"):
        say(f"  pingyi --config {cfg} {command}")
    if problems:
        raise click.ClickException("the demo's records differ from what it generated")
    if failures:
        raise click.ClickException(f"the demo's {' and '.join(failures)} step failed (above)")


def _print_pass(
    title: str,
    p: Pass,
    catalogue: Catalogue,
    data: DemoData,
    say: Callable[[str], None],
) -> None:
    fetched = p.total("fetched")
    rate = fetched / p.seconds if p.seconds else 0.0
    say(
        f"{title}: {fetched:,} rows fetched and stored in {p.seconds:.1f} s "
        f"({rate:,.0f} rows/s), {p.total('rc2_calls')} RC2 calls"
    )
    say(
        f"  {'survey':>7} {'group':<14} {'fetched':>8} {'stored':>7} {'pending':>8} {'quarant.':>8}"
    )
    for survey in data.surveys:
        r = p.reports[survey.sid]
        name = catalogue.groups[survey.group].name
        say(
            f"  {survey.sid:>7} {name:<{14 - _wide(name)}} {r.fetched:>8,} {r.inserted:>7,} "
            f"{r.pending:>8,} {r.quarantined:>8,}"
        )


def _wide(text: str) -> int:
    """How many more columns than characters ``text`` takes (CJK are two wide)."""
    return sum(1 for ch in text if ord(ch) > 0x2E80)


def _print_records(records: Records, catalogue: Catalogue, say: Callable[[str], None]) -> None:
    say("records:")
    total = sum(records.by_group.values())
    groups = ", ".join(
        f"{catalogue.groups[g].name} {records.by_group[g]:,}"
        for g in catalogue.groups
        if g in records.by_group
    )
    say(f"  responses: {total:,} ({groups})")
    say(
        f"  observations: {records.observations:,} ratings, of which "
        f"{records.dont_know:,} 不了解 (stored, not counted); comments: {records.comments:,}"
    )
    say(f"  pending: {sum(records.pending.values()):,} incomplete responses, re-read every pass")
    quarantined = sum(n for _, n, _ in records.quarantine)
    say(f"  quarantine: {quarantined} responses (`pingyi quarantine list` shows them)")
    for code, count, example in records.quarantine:
        say(f"    {code:<15} {count:>4}  e.g. {example}")


def _print_ranking(engine: Engine, campaign: str, say: Callable[[str], None]) -> None:
    try:
        top, bottom = ranking(engine, campaign, 5)
    except sa.exc.SQLAlchemyError:
        return
    if not top:
        return

    from sync.score import GRADE_NAMES

    def line(row: Any) -> str:
        grade = GRADE_NAMES.get(row.grade, row.grade or "")
        reason = f" ({row.grade_reason})" if row.grade_reason else ""
        return f"    {row.unit_code} {row.name}: {float(row.composite):.2f} {grade}{reason}"

    say(f"  top 5 of campaign {campaign}:")
    for row in top:
        say(line(row))
    say("  bottom 5:")
    for row in bottom:
        say(line(row))
