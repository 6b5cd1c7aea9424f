"""``python -m bench``: the sync's figures, measured as ratios within ONE run.

(a) a full sync of N responses (10 rated items and a comment each) from the LimeSurvey
    double into SQLite and into a fresh PostgreSQL database, against the floor (fetching
    and decoding the same windows, storing nothing) and against what a user would write
    (citric + pandas ``DataFrame.to_sql``);
(a') the same against the double paced like the real LimeSurvey 6.2.1 (an export of n rows
    takes n x ``common.LS_SECONDS_PER_ROW``, from FACTS.md's capture, up to 10,000 rows
    and grows as n squared past that, as measured on a real 6.2.1): storing overlaps
    LimeSurvey's export time, which the bare double (2-3x faster than LimeSurvey) hides;
(b) the peak memory of a sync of N and of 4N responses (``VmHWM`` of the process);
(c) an idle pass over N synced responses (RC2 calls, time), and one with 10 new ones;
(d) webhook-to-row latency: ``pingyi run`` in a subprocess, signed webhooks one at a time,
    the time until each new response's row is in the database (``bench.webhook``);
(d') the daemon's answer time to webhooks during its first pass over N responses.

``--limesurvey URL`` runs (a) alone against a real LimeSurvey instead of the double: the
site must hold survey 900001 shaped as ``bench/common.py`` describes (the binding
``common.BINDING``) with ``--n`` responses; the RC2 user and password come from the
environment (``PINGYI_BENCH_LS_USER``, ``PINGYI_BENCH_LS_PASSWORD``), never the command line.

The double runs here; every measured piece runs in its own process (``bench.child``).
Needs the ``bench`` extra (pandas): ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import common

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def child(
    mode: str,
    url: str,
    password: str,
    *,
    cwd: Path = common.ROOT,
    python: Sequence[str] = (sys.executable,),
    **options: Any,
) -> dict[str, Any]:
    """``bench.child MODE`` in a process of its own, in ``cwd`` (a source tree: its
    ``sync`` is imported), run by ``python`` (``bench.ab`` adds cProfile); its JSON."""
    args = [*python, "-m", "bench.child", mode, "--url", url]
    for name, value in options.items():
        args += [f"--{name}", str(value)]
    env = {**os.environ, common.PASSWORD_ENV: password}
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False, cwd=cwd)
    if done.returncode != 0:
        raise SystemExit(f"{cwd}: bench.child {mode} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@contextlib.contextmanager
def fresh_postgres(admin_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for one run, dropped afterwards."""
    import sqlalchemy as sa

    name = f"pingyi_bench_{os.getpid()}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(sa.text(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8'"))
        yield sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def rate(r: dict[str, Any]) -> str:
    rows = r.get("rows", 0)
    return f"{r['seconds']:.2f} s, {rows / r['seconds']:,.0f} rows/s" if r["seconds"] else "-"


def full_sync(
    url: str, password: str, args: argparse.Namespace, work: Path, *, sqlite_url: str, label: str
) -> dict[str, Any]:
    """(a): the floor, a full sync into SQLite and into a fresh PostgreSQL database, and
    citric + pandas, against the double as it is serving now (bare or paced)."""
    say = functools.partial(print, flush=True)
    opts: dict[str, Any] = {"window": args.window}
    out: dict[str, Any] = {}
    floor = out["floor"] = child("floor", url, password, n=args.n, **opts)
    say(f"({label}) floor (fetch + decode, no store): {rate(floor)}")
    lite = out["sqlite"] = child("sync", url, password, db=sqlite_url, **opts)
    say(
        f"    sync into SQLite:     {rate(lite)}  = "
        f"{lite['seconds'] / floor['seconds']:.2f}x floor (goal <= 1.5x), "
        f"{lite['rc2_calls']} RC2 calls"
    )
    if label in ("bare", "live"):
        # the rows that sync stored, written again by raw sqlite3 with nothing else to do:
        # how much of the sync is SQLite's own work, which no change of ours takes away
        own = out["sqlite_own"] = child("sqlite-own", url, password, db=sqlite_url, **opts)
        say(
            f"    of which SQLite's own work (the same rows by raw sqlite3, built "
            f"beforehand): {own['seconds']:.2f} s = {own['seconds'] / floor['seconds']:.2f}x "
            f"floor, {own['seconds'] / lite['seconds']:.0%} of the sync"
        )
    if args.pg:
        with fresh_postgres(args.pg) as pg_url:
            pg = out["postgres"] = child("sync", url, password, db=pg_url, **opts)
            say(
                f"    sync into PostgreSQL: {rate(pg)}  = "
                f"{pg['seconds'] / floor['seconds']:.2f}x floor (goal <= 2x)"
            )
            pdpg = out["pandas_postgres"] = child("pandas", url, password, db=pg_url)
            say(f"    citric + pandas to_sql into PostgreSQL: {rate(pdpg)}")
    pandas_db = f"sqlite:///{work / f'pandas-{label}.db'}"
    pdl = out["pandas_sqlite"] = child("pandas", url, password, db=pandas_db)
    say(f"    citric + pandas to_sql into SQLite:     {rate(pdl)}")
    if label == "paced":
        # a stricter floor than fetch + decode (which the floor child does one after the
        # other): LimeSurvey's own export time alone, as the pacing sets it
        export_s = out["export_s"] = floor["rows"] * common.LS_SECONDS_PER_ROW
        ratios = ", ".join(
            f"{name} {out[name]['seconds'] / export_s:.2f}x"
            for name in ("sqlite", "postgres")
            if name in out
        )
        say(f"    against LimeSurvey's export time alone ({export_s:.2f} s): {ratios}")
    return out


def _header(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
        "n": args.n,
        "window": args.window,
    }


def live(args: argparse.Namespace) -> int:
    """(a) against a real LimeSurvey: the floor, the syncs and pandas, as against the
    double; nothing is added to the site, so (b), (c) and (d) are not run."""
    say = functools.partial(print, flush=True)
    password = common.password()
    results = _header(args) | {"limesurvey": args.limesurvey, "user": common.user()}
    say(
        f"bench: a real LimeSurvey, survey {common.SURVEY_ID}, {args.n:,} responses, "
        f"window {args.window}, {results['machine']}"
    )
    with tempfile.TemporaryDirectory(prefix="pingyi-bench-") as tmp:
        work = Path(tmp)
        # a first export warms LimeSurvey's caches (PHP opcache, MariaDB's buffers)
        child("floor", args.limesurvey, password, n=args.n, window=args.window)
        results.update(
            full_sync(
                args.limesurvey,
                password,
                args,
                work,
                sqlite_url=f"sqlite:///{work / 'live.db'}",
                label="live",
            )
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--n", type=int, default=100_000, help="responses for (a) and (c)")
    parser.add_argument("--big", type=int, default=400_000, help="responses for (b)'s 2nd run")
    parser.add_argument("--pg", default=PG_ADMIN, help="PostgreSQL admin URL ('' to skip)")
    parser.add_argument("--window", type=int, default=1000)
    parser.add_argument("--webhooks", type=int, default=50, help="webhooks for (d) (0: skip)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--limesurvey",
        metavar="URL",
        help="measure (a) against this real LimeSurvey's RC2 URL instead of the double",
    )
    parser.add_argument(
        "--no-paced",
        dest="paced",
        action="store_false",
        help="skip (a) against the double paced like a real LimeSurvey",
    )
    args = parser.parse_args(argv)
    if args.limesurvey:
        return live(args)

    say = functools.partial(print, flush=True)
    cat = common.catalogue()
    password = secrets.token_urlsafe(18)
    results: dict[str, Any] = _header(args)
    say(f"bench: {args.n:,} responses, window {args.window}, {results['machine']}")
    with tempfile.TemporaryDirectory(prefix="pingyi-bench-") as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        double = common.double_with(cat, args.n, password)
        say(f"  double loaded in {time.perf_counter() - t:.1f} s")
        with double.serve() as url:
            opts: dict[str, Any] = {"window": args.window}
            # a first export warms the double's per-row JSON cache, as a long-running
            # LimeSurvey's own caches would be; every measured run then sees the same server
            child("floor", url, password, n=args.n, **opts)
            sqlite_url = f"sqlite:///{work / 'bench.db'}"
            results.update(
                full_sync(url, password, args, work, sqlite_url=sqlite_url, label="bare")
            )
            if args.paced:
                double.pace = common.LS_SECONDS_PER_ROW
                say(
                    f"(a') the same, the double paced like LimeSurvey 6.2.1 "
                    f"({1 / common.LS_SECONDS_PER_ROW:,.0f} rows/s, FACTS.md 'Export speed')"
                )
                paced = full_sync(
                    url,
                    password,
                    args,
                    work,
                    sqlite_url=f"sqlite:///{work / 'paced.db'}",
                    label="paced",
                )
                results["paced"] = paced
                double.pace = 0.0
            idle = child("pass", url, password, db=sqlite_url, **opts)
            results["idle"] = idle
            double.load_responses(
                common.SURVEY_ID, common.rows(common.survey(cat), 10, seed=9, start=args.n)
            )
            ten = child("pass", url, password, db=sqlite_url, **opts)
            results["ten_new"] = ten
            say(
                f"(c) idle pass over {args.n:,}: {idle['rc2_calls']} RC2 calls (goal <= 2), "
                f"{idle['seconds'] * 1000:.0f} ms; 10 new: {ten['rows']} stored, "
                f"{ten['rc2_calls']} RC2 calls, {ten['seconds'] * 1000:.0f} ms"
            )
        del double
        if args.big:
            big_double = common.double_with(cat, args.big, password)
            with big_double.serve() as url:
                big = child("sync", url, password, db=f"sqlite:///{work / 'big.db'}", **opts)
            del big_double
            results["big"] = big
            small_mb, big_mb = results["sqlite"]["max_rss_mb"], big["max_rss_mb"]
            say(
                f"(b) peak memory: sync of {args.n:,}: {small_mb:.0f} MB, of {args.big:,}: "
                f"{big_mb:.0f} MB ({(big_mb / small_mb - 1) * 100:+.1f}%; goal within 10%, "
                f"< 150 MB); the {args.big:,} sync ran at {rate(big)}"
            )
        if args.webhooks:
            from bench import webhook

            hooks = webhook.measure(work, webhooks=args.webhooks)
            results["webhook"] = hooks
            say(
                f"(d) webhook-to-row over {hooks['webhooks']} webhooks (pingyi run, SQLite, "
                f"{hooks['existing']:,} responses stored): p50 {hooks['p50_s'] * 1000:.0f} ms, "
                f"p95 {hooks['p95_s'] * 1000:.0f} ms, max {hooks['max_s'] * 1000:.0f} ms"
            )
            busy = webhook.answer_times(work / "busy", existing=args.n)
            results["webhook_busy"] = busy
            say(
                f"(d') the daemon's answer to {busy['webhooks']} webhooks during its first pass "
                f"over {busy['existing']:,} responses: p50 {busy['p50_s'] * 1000:.0f} ms, p95 "
                f"{busy['p95_s'] * 1000:.0f} ms, p99 {busy['p99_s'] * 1000:.0f} ms, max "
                f"{busy['max_s'] * 1000:.0f} ms (the plugin waits 1 s, then pauses a minute)"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
