"""The benchmark survey for a real LimeSurvey (``python -m bench.seed``), for
``python -m bench --limesurvey URL``:

    python -m bench.seed lss > bench-900001.lss
        the survey the double serves (``bench/common.py``) as a LimeSurvey .lss: import it
        (RC2 ``import_survey`` or the admin UI) and activate it;
    python -m bench.seed sql --url URL --n 100000 > responses.sql
        ``common.rows`` (the double's responses) as INSERTs into the survey's response
        table, named by the question ids the site gave the import (RC2
        ``list_questions``; user and password from PINGYI_BENCH_LS_USER /
        PINGYI_BENCH_LS_PASSWORD); then ``mysql --default-character-set=utf8mb4 <db> <
        responses.sql``. RC2 ``add_response`` manages 73 a second (FACTS.md), 23 minutes
        for 100,000.

Only for a LimeSurvey kept for measuring: the INSERTs write LimeSurvey's own table.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from bench import common

#: the response table's own columns before the answers, as LimeSurvey 6.2.1 makes them
_HEAD = ("id", "submitdate", "lastpage", "startlanguage", "seed", "startdate", "datestamp")


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def columns_by_code(questions: list[dict[str, Any]], sid: int) -> dict[str, str]:
    """Export heading (``code`` / ``code[SQ]``) -> response table column (SGQA), from RC2
    ``list_questions``: ``<sid>X<gid>X<qid>`` and, for a subquestion, its parent's name
    followed by its own code (the parent of subquestions has no column of its own)."""
    by_qid = {int(q["qid"]): q for q in questions}
    parents = {int(q["parent_qid"]) for q in questions}
    out: dict[str, str] = {}
    for q in questions:
        parent = int(q["parent_qid"])
        if parent == 0:
            if int(q["qid"]) not in parents:  # an array's own row has no column
                out[q["title"]] = f"{sid}X{q['gid']}X{q['qid']}"
        else:
            top = by_qid[parent]
            out[f"{top['title']}[{q['title']}]"] = f"{sid}X{top['gid']}X{parent}{q['title']}"
    return out


def inserts(table: str, columns: dict[str, str], n: int, *, batch: int = 1000) -> Iterator[str]:
    """``n`` benchmark responses as multi-row INSERTs into ``table``."""
    cat = common.catalogue()
    survey = common.survey(cat)
    names = [*_HEAD, *columns.values()]
    head = f"INSERT INTO `{table}` ({', '.join(f'`{c}`' for c in names)}) VALUES\n"
    rows: list[str] = []
    for i, row in enumerate(common.rows(survey, n), start=1):
        when = row["submitdate"]
        values = [i, when, 2, survey.spec.language, str(100_000 + i), when, when]
        values += [row.get(code) for code in columns]
        rows.append(f"({', '.join(_literal(v) for v in values)})")
        if len(rows) == batch:
            yield head + ",\n".join(rows) + ";\n"
            rows.clear()
    if rows:
        yield head + ",\n".join(rows) + ";\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.seed")
    parser.add_argument("what", choices=("lss", "sql"))
    parser.add_argument("--sid", type=int, default=common.SURVEY_ID)
    parser.add_argument("--url", help="the site's RC2 URL (sql)")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--prefix", default="lime_", help="LimeSurvey's table prefix")
    args = parser.parse_args(argv)
    if args.what == "lss":
        from sync.testing.lss import write_lss

        spec = replace(common.survey(common.catalogue()).spec, sid=args.sid)
        sys.stdout.write(write_lss(spec))
        return 0
    if not args.url:
        parser.error("sql needs --url")
    from sync.limesurvey import LimeSurveyClient

    with LimeSurveyClient(common.site(args.url), common.secret(common.password())) as client:
        questions = client.rpc("list_questions", args.sid)
    columns = columns_by_code(questions, args.sid)
    sys.stdout.write("SET NAMES utf8mb4;\n")
    for statement in inserts(f"{args.prefix}survey_{args.sid}", columns, args.n):
        sys.stdout.write(statement)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
