"""``python -m bench.stages``: what the bare-double goal asks of the CPU, stage by stage.

Issue 4 wants a sync from the double into SQLite in at most 1.5x the floor (fetching and
decoding the same windows). This measures each stage of a sync of N responses one after
the other in ONE process, the bare double serving from threads of the same process, so
that ``time.process_time`` counts every CPU second a sync costs the machine:

- fetch: the RC2 exports, as LimeSurvey sent them (the client's and the double's work);
- decode: base64, JSON, the rows parsed (``limesurvey.parse_export``);
- map: ``pull._split`` (``map.map_row`` per row, the content hash included);
- write: ``store.write_window`` into a fresh SQLite file, ``WINDOWS_PER_COMMIT`` windows
  per transaction as the sync writes them (SQLite's own work included: it runs in this
  process), then the same into a fresh PostgreSQL database (its backend's CPU read from
  ``/proc``: the server runs on this machine).

Then the floor, as ``python -m bench`` measures it (a child fetching and decoding, the
double here), and the bound: no schedule of those CPU seconds over the machine's cores
can finish sooner than their sum divided by the cores, whatever runs beside what.
Nothing here is a timed test; the figures go to bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from bench import common
from bench.__main__ import PG_ADMIN, child, fresh_postgres

T = TypeVar("T")


def _timed(fn: Callable[[], T]) -> tuple[T, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def _server_cpu(pid: int | None) -> float:
    """CPU seconds a PostgreSQL backend on this machine has used (``/proc``); 0 without."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stages")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--window", type=int, default=1000)
    parser.add_argument("--pg", default=PG_ADMIN, help="PostgreSQL admin URL ('' to skip)")
    args = parser.parse_args(argv)

    from sync import db as database
    from sync import store
    from sync.cli.catalogue import store_catalogue
    from sync.limesurvey import LimeSurveyClient, parse_export
    from sync.pull import WINDOWS_PER_COMMIT, _split

    password = secrets.token_urlsafe(12)
    os.environ[common.PASSWORD_ENV] = password
    cat = common.catalogue()
    binding = common.binding()
    double = common.double_with(cat, args.n, password)
    cores = os.cpu_count() or 1
    print(
        f"bench.stages: {args.n:,} responses, window {args.window}, {platform.machine()}, "
        f"{cores} cores"
    )
    with double.serve() as url:
        site = common.site(url, args.window)
        with LimeSurveyClient(site, common.secret(password)) as client:
            client.login()
            client.export_window_result(common.SURVEY_ID, 1, args.n)  # warm the double's cache

            def fetch() -> list[Any]:
                return [
                    client.export_window_result(common.SURVEY_ID, lo, lo + args.window - 1)
                    for lo in range(1, args.n + 1, args.window)
                ]

            raws, fetch_s, fetch_cpu = _timed(fetch)
        floor = child("floor", url, password, n=args.n, window=args.window)

    def decode() -> list[Any]:
        return [
            parse_export(r, zone=site.zone, survey_id=common.SURVEY_ID, unreadable=[]) for r in raws
        ]

    rows, decode_s, decode_cpu = _timed(decode)
    reads, map_s, map_cpu = _timed(lambda: [_split(r, binding, cat, None) for r in rows])

    def write_into(url: str) -> tuple[int, float, float, float]:
        """The windows written as the sync writes them: (responses, wall s, CPU s here,
        CPU s of the database server's backend; 0 for SQLite, which runs in this process)."""
        engine = database.make_engine(url)
        database.upgrade(engine)
        with engine.begin() as conn:
            store_catalogue(conn, cat)
        key = store.SurveyKey(common.SITE, common.SURVEY_ID)
        with engine.connect() as conn:  # one connection: the pool hands the same one back
            backend = (
                conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
                if engine.dialect.name == "postgresql"
                else None
            )

        def write() -> int:
            written = 0
            for at in range(0, len(reads), WINDOWS_PER_COMMIT):
                group = reads[at : at + WINDOWS_PER_COMMIT]
                seen = [i for r in group for i in r.seen]
                window = store.Window(
                    key=key,
                    mapped=[m for r in group for m in r.mapped],
                    seen=seen,
                    high_water=max(seen),
                )
                written += store.write_window(engine, window).inserted
            return written

        server_before = _server_cpu(backend)
        written, wall, cpu = _timed(write)
        server = _server_cpu(backend) - server_before
        engine.dispose()
        return written, wall, cpu, server

    head = [
        ("fetch (the client's and the double's work)", fetch_s, fetch_cpu),
        ("decode (base64, JSON, rows)", decode_s, decode_cpu),
        ("map (map_row, content hash)", map_s, map_cpu),
    ]
    print("stages one after the other, in one process:")
    for name, wall, cpu in head:
        print(f"  {name:<52} {wall:6.2f} s wall, {cpu:6.2f} s CPU")
    before = sum(cpu for _, _, cpu in head)
    with tempfile.TemporaryDirectory() as tmp:
        targets = [("SQLite", f"sqlite:///{Path(tmp) / 'stages.db'}", 1.5)]
        with contextlib.ExitStack() as stack:
            if args.pg:
                targets.append(("PostgreSQL", stack.enter_context(fresh_postgres(args.pg)), 2.0))
            for name, url, goal in targets:
                written, wall, cpu, server = write_into(url)
                extra = f" + {server:.2f} s of its server" if server else ""
                print(
                    f"  {'write into ' + name + f' ({written:,} responses)':<52} {wall:6.2f} s "
                    f"wall, {cpu:6.2f} s CPU{extra}"
                )
                total = before + cpu + server
                bound = total / cores
                print(
                    f"    a sync into {name} costs the machine {total:.2f} s of CPU: spread "
                    f"perfectly over {cores} cores, no sooner than {bound:.2f} s = "
                    f"{bound / floor['seconds']:.2f}x the floor (goal <= {goal}x)"
                )
    print(f"floor (a child fetching and decoding, the double here): {floor['seconds']:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
