"""One measured piece of work, in its own process (``python -m bench.child MODE ...``).

The LimeSurvey double runs in the parent; the work measured here runs alone in this
process, so its time is not shared with the double's JSON encoding (one GIL each) and its
peak memory (``ru_maxrss``) is the sync's own. Prints one JSON object.

Modes: ``floor`` (fetch and decode every window, store nothing), ``sync`` (a full
``run_pass`` into ``--db``), ``pass`` (one more pass on an already synced ``--db``, after
logging in, so only the pass's own RC2 calls count), ``pandas`` (what a user would write:
citric's export of the whole survey, a DataFrame, ``to_sql``), ``sqlite-own`` (SQLite's
own share of a sync: the rows a ``sync`` stored in ``--db``, read back and built into
statement parameters beforehand, written again into a new database by raw ``sqlite3`` as
the sync writes them: only the binding and SQLite's b-tree work is timed).
"""

from __future__ import annotations

import argparse
import importlib
import json
import resource
import sys
import time
from typing import Any

from bench import common


def floor(url: str, n: int, window: int) -> dict[str, Any]:
    from sync.limesurvey import LimeSurveyClient

    site = common.site(url, window)
    with LimeSurveyClient(site, common.secret(common.password())) as client:
        client.login()
        started = time.perf_counter()
        rows = 0
        lo = 1
        while True:
            got = client.export_window(common.SURVEY_ID, lo, lo + window - 1)
            if not got and lo > n:
                break
            rows += len(got)
            lo += window
        seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": seconds}


def _engine(db: str) -> Any:
    from sync import db as database
    from sync.cli.catalogue import store_catalogue

    engine = database.make_engine(db)
    database.upgrade(engine)
    with engine.begin() as conn:
        store_catalogue(conn, common.catalogue())
    return engine


def sync(url: str, db: str, window: int) -> dict[str, Any]:
    from sync.limesurvey import LimeSurveyClient
    from sync.pull import run_pass

    engine = _engine(db)
    cat = common.catalogue()
    site = common.site(url, window)
    try:
        with LimeSurveyClient(site, common.secret(common.password())) as client:
            client.login()
            started = time.perf_counter()
            report = run_pass(engine, client, site, common.binding(), cat, kind="bench")
            seconds = time.perf_counter() - started
    finally:
        engine.dispose()
    return {
        "rows": report.inserted,
        "fetched": report.fetched,
        "seconds": seconds,
        "rc2_calls": report.rc2_calls,
        "windows": report.windows,
    }


#: the tables a sync writes per response, and the order of their rows
_WRITTEN = (
    ("pingyi_response", "id"),
    ("pingyi_observation", "response_pk, item"),
    ("pingyi_comment", "response_pk, item"),
)


def sqlite_own(db: str, window: int) -> dict[str, Any]:
    """The floor of a SQLite sync's storing: the same rows, the same transactions (a
    window of ``WINDOWS_PER_COMMIT`` x ``window`` responses each), multi-row INSERTs of
    ``SQLITE_ROWS_PER_INSERT`` rows, with nothing to fetch, map or build while timed."""
    import bisect
    import itertools
    import sqlite3
    from pathlib import Path

    import sqlalchemy as sa

    from sync.pull import WINDOWS_PER_COMMIT

    # the statements' text as the sync makes it
    from sync.store import SQLITE_ROWS_PER_INSERT, _sqlite_insert

    source = str(sa.make_url(db).database)
    target = Path(source).with_name(f"own-{Path(source).name}")
    engine = _engine(f"sqlite:///{target}")  # migrated, with the catalogue
    read = sqlite3.connect(source)
    # (table, columns, rows, each row's response id)
    tables: list[tuple[str, list[str], list[tuple[Any, ...]], list[int]]] = []
    for table, order in _WRITTEN:
        cursor = read.execute(f"SELECT * FROM {table} ORDER BY {order}")
        rows = cursor.fetchall()
        tables.append((table, [d[0] for d in cursor.description], rows, [r[0] for r in rows]))
    read.close()
    responses = tables[0][2]
    per_commit = WINDOWS_PER_COMMIT * window
    chain = itertools.chain.from_iterable
    # every transaction's statements, parameters flattened, before the clock starts
    transactions: list[list[tuple[str, tuple[Any, ...]]]] = []
    for at in range(0, len(responses), per_commit):
        lo, hi = responses[at][0], responses[min(at + per_commit, len(responses)) - 1][0]
        statements: list[tuple[str, tuple[Any, ...]]] = []
        for table, names, rows, keys in tables:
            part = rows[bisect.bisect_left(keys, lo) : bisect.bisect_right(keys, hi)]
            for start in range(0, len(part), SQLITE_ROWS_PER_INSERT):
                chunk = part[start : start + SQLITE_ROWS_PER_INSERT]
                sql = _sqlite_insert(table, tuple(names), len(chunk))
                statements.append((sql, tuple(chain(chunk))))
        transactions.append(statements)
    raw = engine.raw_connection()  # the sync's connection settings (WAL, cache, ...)
    driver: Any = raw.driver_connection
    started = time.perf_counter()
    for statements in transactions:
        for sql, params in statements:
            driver.execute(sql, params)
        driver.commit()
    seconds = time.perf_counter() - started
    raw.close()
    engine.dispose()
    return {
        "rows": len(responses),
        "observations": len(tables[1][2]),
        "comments": len(tables[2][2]),
        "seconds": seconds,
    }


def pandas(url: str, db: str) -> dict[str, Any]:
    citric = importlib.import_module("citric")
    pd: Any = importlib.import_module("pandas")
    import sqlalchemy as sa

    engine = sa.create_engine(db)
    try:
        with citric.Client(url, common.user(), common.password()) as client:
            started = time.perf_counter()
            raw = client.export_responses(common.SURVEY_ID, file_format="json")
            frame = pd.DataFrame(json.loads(raw)["responses"])
            frame.to_sql("bench_pandas_responses", engine, if_exists="replace", index=False)
            seconds = time.perf_counter() - started
    finally:
        engine.dispose()
    return {"rows": len(frame), "seconds": seconds}


def _peak_rss_mb(usage: resource.struct_rusage) -> float:
    """This process's own peak resident memory.

    Not ``ru_maxrss``: Linux carries the high-water mark of the address space a process
    had before ``exec`` (the fork of the parent) into it, so a child of the benchmark,
    whose parent holds the double's rows, reported the parent's size (161 MB for a floor
    run that stores nothing; 368 MB with the 400k double). ``VmHWM`` belongs to the
    address space ``exec`` made."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return usage.ru_maxrss / 1024  # kilobytes on Linux


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.child")
    parser.add_argument("mode", choices=("floor", "sync", "pass", "pandas", "sqlite-own"))
    parser.add_argument("--url", required=True)
    parser.add_argument("--db", default="")
    parser.add_argument("--n", type=int, default=0)
    parser.add_argument("--window", type=int, default=1000)
    args = parser.parse_args(argv)
    if args.mode == "floor":
        out = floor(args.url, args.n, args.window)
    elif args.mode in ("sync", "pass"):
        out = sync(args.url, args.db, args.window)
    elif args.mode == "sqlite-own":
        out = sqlite_own(args.db, args.window)
    else:
        out = pandas(args.url, args.db)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out["max_rss_mb"] = _peak_rss_mb(usage)
    # the whole process's CPU (imports and login included): less disturbed by a busy
    # machine than the wall clock, for comparing runs
    out["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 3)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
