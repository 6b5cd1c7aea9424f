"""Interleaved A/B of the sync between source trees, on ONE double (``python -m bench.ab``).

``--tree`` names a directory holding a copy of the repository (``git worktree add`` or
``git archive | tar x``); the sync child runs with that directory as its working
directory, so ``import sync`` finds that tree's code before the editable install. Runs
alternate between the trees (A B A B ...), so a machine whose load changes affects both
alike; the figures are printed per run and as medians. ``--profile DIR`` runs each child
under cProfile (the main thread, i.e. the writer) and keeps the profiles there.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import secrets
import statistics
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import common
from bench.__main__ import PG_ADMIN, child, fresh_postgres


def _child(tree: Path, url: str, password: str, db: str, profile: Path | None) -> dict[str, Any]:
    python = [sys.executable]
    if profile is not None:
        python += ["-m", "cProfile", "-o", str(profile)]
    return child("sync", url, password, cwd=tree, python=python, db=db)


@contextlib.contextmanager
def _database(kind: str, work: Path, label: str) -> Iterator[str]:
    if kind == "sqlite":
        path = work / f"{label}.db"
        yield f"sqlite:///{path}"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        with fresh_postgres(PG_ADMIN) as url:
            yield url


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab")
    parser.add_argument("--tree", type=Path, action="append", required=True)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--paced", action="store_true", help="pace the double like LimeSurvey")
    parser.add_argument("--profile", type=Path, help="keep a cProfile of each run here")
    args = parser.parse_args(argv)
    say = functools.partial(print, flush=True)
    password = secrets.token_urlsafe(18)
    double = common.double_with(common.catalogue(), args.n, password)
    seconds: dict[Path, list[float]] = {tree: [] for tree in args.tree}
    with tempfile.TemporaryDirectory(prefix="pingyi-ab-") as tmp, double.serve() as url:
        work = Path(tmp)
        _child(args.tree[0], url, password, f"sqlite:///{work / 'warm.db'}", None)
        double.pace = common.LS_SECONDS_PER_ROW if args.paced else 0.0
        for run in range(args.repeat):
            for i, tree in enumerate(args.tree):
                profile = None
                if args.profile is not None:
                    args.profile.mkdir(parents=True, exist_ok=True)
                    profile = args.profile / f"{i}-{run}.prof"
                with _database(args.db, work, f"{i}-{run}") as db:
                    out = _child(tree, url, password, db, profile)
                seconds[tree].append(out["seconds"])
                say(
                    f"run {run} tree {i} ({tree}): {out['seconds']:.2f} s, cpu "
                    f"{out['cpu_s']:.2f} s, rss {out['max_rss_mb']:.0f} MB, {out['rows']} rows"
                )
    for i, tree in enumerate(args.tree):
        say(
            f"tree {i} ({tree}): median {statistics.median(seconds[tree]):.2f} s "
            f"({', '.join(f'{s:.2f}' for s in seconds[tree])}), load {os.getloadavg()[0]:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
