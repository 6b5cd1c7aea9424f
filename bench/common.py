"""The benchmark survey: one unit question, ten rated items and a comment per response.

Built from the repository's catalogue like the demo's surveys, under its own survey id on a
site named ``bench``, so a benchmark never touches the demo's records.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from sync.bindings import Binding
from sync.catalogue import Catalogue, load_catalogue
from sync.config import SiteConfig
from sync.testing.demo import COMPLAINTS, PRAISE, DemoSurvey, build_survey
from sync.testing.double import LimeSurveyDouble

ROOT = Path(__file__).resolve().parent.parent
MAPPINGS = ROOT / "mappings"
SITE = "bench"
SURVEY_ID = 900001
USER = "bench"
PASSWORD_ENV = "PINGYI_BENCH_LS_PASSWORD"
#: the RC2 user on a live LimeSurvey (``python -m bench --limesurvey URL``); the double's is USER
USER_ENV = "PINGYI_BENCH_LS_USER"
RATED = (
    "service_awareness",
    "service_level",
    "work_style",
    "efficiency",
    "law_enforcement",
    "integrity",
    "openness",
    "rectification",
    "standard_enforcement",
)
BINDING: dict[str, Any] = {
    "version": 1,
    "site": SITE,
    "survey_id": SURVEY_ID,
    "campaign": "2022",
    "group": "citizens",
    "title": "基准测试问卷",
    "unit": {"source": "question", "column": "unit"},
    "ratings": [
        {"column": "overall", "dimension": "overall"},
        {
            "question": "q",
            "subquestions": {f"SQ{i:03d}": d for i, d in enumerate(RATED, start=1)},
        },
    ],
    "comments": [{"column": "comment"}],
    "private": ["phone"],
    "token": "drop",
}


def catalogue() -> Catalogue:
    return load_catalogue(MAPPINGS)


def binding() -> Binding:
    return Binding.model_validate(BINDING)


def survey(cat: Catalogue) -> DemoSurvey:
    return build_survey(cat, binding())


def rows(survey: DemoSurvey, n: int, *, seed: int = 1, start: int = 0) -> Iterator[dict[str, Any]]:
    """``n`` complete responses, each with all ten items and a comment (as the brief of the
    benchmark says: the heavy case)."""
    rng = random.Random(seed)
    codes = ("A1", "A2", "A3", "A4", "A5", "A6")
    weights = (40, 30, 15, 6, 4, 5)
    texts = PRAISE + COMPLAINTS[""] + ("办事很快👍", "名字里的𠮷字打不出来😡")
    columns = [item.column for item in survey.items]
    units = list(survey.units)
    for i in range(start, start + n):
        row: dict[str, Any] = dict(
            zip(columns, rng.choices(codes, weights, k=len(columns)), strict=True)
        )
        row["unit"] = units[i % len(units)]
        row["comment"] = rng.choice(texts)
        row["phone"] = None
        row["submitdate"] = f"2022-{3 + i % 9:02d}-{1 + i % 28:02d} 10:{i % 60:02d}:00"
        yield row


#: LimeSurvey 6.2.1's own export time per row, for the paced double. From the capture in
#: /work/shared/limesurvey-6.2.1/FACTS.md ("Export speed") and perf/export_throughput.json:
#: the same 2-vCPU host, JSON, ``code``/``short``, paged in 1,000-id windows as the sync
#: pages: 10,000 rows in 0.802 s (1,000 rows in 0.078 s), i.e. about 12.5k rows/s. Those
#: rows had 8 answer columns, the benchmark's have 13, so a real LimeSurvey would, if
#: anything, take longer for these: the pacing gives the sync no more cover than it has.
LS_SECONDS_PER_ROW = 0.802 / 10_000

#: rows of one export up to which LimeSurvey's export time grows with the rows (the
#: captures went up to 10,000); past it, as the square of the rows: one export of ids
#: 1..n from LimeSurvey 6.2.1 under PHP-FPM on the same host (session 4,
#: docs/real-limesurvey-check.md) took 0.93 s for 10,000 rows, 3.05 s for 20,000,
#: 10.85 s for 40,000 and about 85 s for 100,000 (the pacing: 3.2, 12.8 and 80 s).
#: Only an export of the whole survey at once (citric + pandas) is that large; the sync
#: asks for windows of 1,000.
LS_LINEAR_ROWS = 10_000


def ls_export_seconds(rows: int, per_row: float = LS_SECONDS_PER_ROW) -> float:
    """How long LimeSurvey 6.2.1 takes to export ``rows`` rows in one call."""
    if rows <= LS_LINEAR_ROWS:
        return rows * per_row
    return LS_LINEAR_ROWS * per_row * (rows / LS_LINEAR_ROWS) ** 2


class PacedDouble(LimeSurveyDouble):
    """The double, optionally as slow as a real LimeSurvey: an export of ``n`` rows takes
    at least ``ls_export_seconds(n, pace)`` seconds (``n * pace`` up to
    ``LS_LINEAR_ROWS`` rows; the double's own time counts towards it, so a paced export
    is not double-charged). ``pace = 0`` is the bare double.

    The wait is in the request's own server thread, outside the double's lock, so
    exports run side by side as on LimeSurvey's PHP workers."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pace = 0.0
        self._rows = threading.local()

    def _document(  # noqa: PLR0917  (the double's own signature)
        self,
        s: Any,
        ids: list[int],
        doc_type: Any,
        lang: Any,
        completion: Any,
        heading: Any,
        rtype: Any,
        fields: Any,
    ) -> str:
        self._rows.n = len(ids)
        return super()._document(s, ids, doc_type, lang, completion, heading, rtype, fields)

    def handle_rpc(self, body: bytes, content_type: str, ip: str) -> tuple[int, str, bytes, str]:
        started = time.perf_counter()
        self._rows.n = 0
        answer = super().handle_rpc(body, content_type, ip)
        if self.pace > 0 and answer[3].startswith("export_responses"):
            left = ls_export_seconds(self._rows.n, self.pace) - (time.perf_counter() - started)
            if left > 0:
                time.sleep(left)
        return answer


def double_with(cat: Catalogue, n: int, password: str) -> PacedDouble:
    # dates written in UTC, as bench.webhook's site reads them (its passes compare them
    # with the moments the webhooks were heard, sync.siteclock)
    double = PacedDouble(users={USER: password}, timezone=UTC)
    s = survey(cat)
    double.add_survey(s.spec)
    double.load_responses(s.sid, rows(s, n))
    return double


def password() -> str:
    """The RC2 password the benches log in with, from the environment only (never the
    command line): the double's (set by the parent for its children) or a live site's."""
    value = os.environ.get(PASSWORD_ENV)
    if not value:
        raise SystemExit(
            f"set {PASSWORD_ENV} (and, for a live site, {USER_ENV}) in the environment"
        )
    return value


def user() -> str:
    """The RC2 user the children log in as: the double's, or a live site's."""
    return os.environ.get(USER_ENV) or USER


def site(url: str, window: int = 1000) -> SiteConfig:
    return SiteConfig(name=SITE, url=url, user=user(), window=window)


def secret(value: str) -> SecretStr:
    return SecretStr(value)
