"""``python -m bench.results_rebuild``: ``pingyi results rebuild`` over 1,000,000
observations on PostgreSQL, against a bare ``SELECT count(*)`` over the same table.

The observations are generated in the database (``generate_series``), 10 per response,
spread over the district's 136 units and four respondent groups, 1 % of the responses
deleted and 100 excluded by upheld appeals. Goal: the rebuild takes under 3x the count.
Both are timed warm and in turns, ``--repeat`` times each; best and median are printed.

The rebuild composes every unit's figures from the sums ``sync.tallies`` keeps; the
first one (no sums kept yet) counts every unit, as ``--recount`` does, and both are
printed too, as is a rebuild after marks on 11 units (what follows a sync pass) and,
for the daemon, ``ledger.after_sync`` for one touched unit at this size.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import sqlalchemy as sa

from bench.__main__ import PG_ADMIN, fresh_postgres
from bench.common import MAPPINGS, RATED
from sync import db, ledger, score, tallies
from sync.catalogue import load_catalogue
from sync.cli.catalogue import store_catalogue

GROUPS = ("citizens", "enterprises", "community", "supervisors")
#: the bench survey's rated dimensions and the overall rating
DIMENSIONS = ("overall", *RATED)


def _sql_array(values: tuple[str, ...] | list[str]) -> str:
    return "ARRAY[" + ",".join(f"'{v}'" for v in values) + "]"


def generate(engine: sa.Engine, units: list[str], observations: int) -> None:
    responses = observations // 10
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT setseed(0.2022)"))
        conn.execute(
            sa.text(
                f"""
                INSERT INTO pingyi_response (id, site, survey_id, response_id, campaign_code,
                    group_code, unit_code, submitted_at, time_unknown, content_hash,
                    deleted_at, created_at, updated_at)
                SELECT g, 'bench', 900001 + g % 4, g, '2022',
                    ({_sql_array(GROUPS)})[1 + g % 4],
                    ({_sql_array(units)})[1 + (g / 4) % {len(units)}],
                    now(), false, md5(g::text),
                    CASE WHEN g % 100 = 7 THEN now() END, now(), now()
                FROM generate_series(1, {responses}) AS g
                """
            )
        )
        conn.execute(
            sa.text(
                f"""
                INSERT INTO pingyi_observation (response_pk, dimension_code, item, raw_code,
                    level_code, points, counted, satisfied, dissatisfied)
                SELECT r.id,
                    ({_sql_array(DIMENSIONS)})[1 + d % {len(DIMENSIONS)}], 'q' || d,
                    'A' || lv, CASE WHEN lv < 6 THEN 'A' || lv END,
                    (ARRAY[100, 80, 60, 30, 0, NULL])[lv], lv < 6, lv <= 3, lv IN (4, 5)
                FROM pingyi_response r
                CROSS JOIN generate_series(1, 10) AS d
                CROSS JOIN LATERAL (SELECT 1 + floor(random() * 6)::int + 0 * d AS lv) x
                """
            )
        )
        conn.execute(
            sa.text(
                """
                INSERT INTO pingyi_appeal (response_pk, status, reason, filed_by, filed_at,
                    created_at, updated_at)
                SELECT g * 97, 'upheld', '恶意差评', 'bench', now(), now(), now()
                FROM generate_series(1, 100) AS g
                """
            )
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def best(fn: Callable[[], object], repeat: int) -> float:
    return min(timed(fn) for _ in range(repeat))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observations", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--admin-url", default=PG_ADMIN)
    args = parser.parse_args(argv)

    catalogue = load_catalogue(MAPPINGS)
    with fresh_postgres(args.admin_url) as url:
        engine = db.make_engine(url)
        try:
            db.upgrade(engine)
            with engine.begin() as conn:
                store_catalogue(conn, catalogue)
            started = time.perf_counter()
            generate(engine, sorted(catalogue.units), args.observations)
            print(
                f"generated {args.observations:,} observations in "
                f"{time.perf_counter() - started:.1f} s"
            )

            def count() -> object:
                with engine.connect() as conn:
                    return conn.execute(sa.text("SELECT count(*) FROM pingyi_observation")).scalar()

            count()  # warm the cache for both
            started = time.perf_counter()
            # no sums kept yet: the first one counts every unit and writes every result row
            first = score.rebuild(engine, catalogue, "2022")
            t_first = time.perf_counter() - started
            # count(*) and rebuild taken in turns, so a busy moment of the machine weighs on both
            counts: list[float] = []
            rebuilds: list[float] = []
            reports: list[score.RefreshReport] = []
            for _ in range(args.repeat):
                counts.append(timed(count))
                rebuilds.append(
                    timed(lambda: reports.append(score.rebuild(engine, catalogue, "2022")))
                )
            t_count, t_rebuild = min(counts), min(rebuilds)
            m_count, m_rebuild = statistics.median(counts), statistics.median(rebuilds)
            recounts: list[score.RefreshReport] = []
            t_recount = best(
                lambda: recounts.append(score.rebuild(engine, catalogue, "2022", recount=True)),
                args.repeat,
            )
            touched = [
                ("2022", unit) for unit in sorted(catalogue.units)[:: len(catalogue.units) // 10]
            ]

            def after_a_pass() -> None:
                with engine.begin() as conn:
                    tallies.mark_stale(conn, touched)
                score.rebuild(engine, catalogue, "2022")

            t_pass = best(after_a_pass, args.repeat)
            rep = reports[-1]
            print(
                f"SELECT count(*): {t_count * 1000:.0f} ms best, {m_count * 1000:.0f} ms median "
                f"(of {args.repeat}, taken in turns with the rebuild)"
            )
            print(
                "first rebuild (counts every unit, writes every result row): "
                f"{t_first * 1000:.0f} ms"
                f" ({first.units_recounted} units counted)"
            )
            print(
                f"results rebuild: {t_rebuild * 1000:.0f} ms best, "
                f"{m_rebuild * 1000:.0f} ms median "
                f"({rep.units_recomputed} units composed, {rep.units_recounted} counted again, "
                f"{rep.observations:,} counted answers)"
            )
            print(
                f"results rebuild after a pass touched {len(touched)} units (they are counted "
                f"again): {t_pass * 1000:.0f} ms = {t_pass / t_count:.2f}x count(*)"
            )
            drifted = sorted({u for r in recounts for u in r.drifted})
            print(
                f"results rebuild --recount (every unit counted again from the observations): "
                f"{t_recount * 1000:.0f} ms = {t_recount / t_count:.2f}x count(*); "
                f"units whose kept sums differed: {len(drifted)}"
            )
            print(
                f"ratio rebuild / count(*): {t_rebuild / t_count:.2f} best to best, "
                f"{m_rebuild / m_count:.2f} median to median (goal < 3)"
            )
            # what the daemon does after every pass, at this size: the ledger first raised
            # whole (once, like the year's first sync), then after_sync for one touched unit
            started = time.perf_counter()
            raised = ledger.raise_items(engine, catalogue, "2022")
            t_raise = time.perf_counter() - started
            one = [("2022", sorted(catalogue.units)[0])]

            def after_one_unit() -> None:
                with engine.begin() as conn:
                    tallies.mark_stale(conn, one)
                ledger.after_sync(engine, catalogue, one)

            t_after = best(after_one_unit, args.repeat)
            print(
                f"ledger raised whole: {raised.created:,} items in {t_raise:.1f} s; after a pass "
                f"touching one unit (its sums counted again, results composed, its items "
                f"raised): {t_after * 1000:.0f} ms"
            )
            return 0
        finally:
            engine.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
