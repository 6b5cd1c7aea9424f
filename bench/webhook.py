"""(d) webhook-to-row latency: the real daemon (``pingyi run``) in a subprocess against the
LimeSurvey double, one signed completion webhook per new response, the time until that
response's row is in the records database.

The webhook only wakes the scheduler (``sync.webhook``), so what is measured is the whole
path a completed response takes: the POST, the wake-up, a pass (pending re-reads, the new
window, the end check) and the commit. The daemon's own interval is an hour, so no row
arrives by a scheduled pass. Webhooks are sent one at a time, each after the previous
row appeared.

(d') ``answer_times``: how fast the same daemon answers webhooks while it is busiest, in
its first pass over a big survey.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa
import yaml

from bench import common
from sync import signing
from sync.testing.daemon_proc import launch

#: how long one row may take before the measurement gives up
ROW_TIMEOUT = 30.0


def _config(work: Path, ls_url: str, db_url: str) -> Path:
    mappings = work / "mappings"
    shutil.copytree(common.MAPPINGS, mappings, ignore=shutil.ignore_patterns("surveys"))
    (mappings / "surveys").mkdir()
    binding = yaml.safe_dump(common.BINDING, allow_unicode=True, sort_keys=False)
    (mappings / "surveys" / f"bench_{common.SURVEY_ID}.yaml").write_text(binding, "utf-8")
    path = work / "pingyi.toml"
    path.write_text(
        "\n".join(
            [
                f'mappings = "{mappings}"',
                "[database]",
                f'url = "{db_url}"',
                "[daemon]",
                "interval_seconds = 3600",
                "jitter_seconds = 0",
                'listen = "127.0.0.1:0"',
                'log_format = "json"',
                'webhook_secret_env = "PINGYI_BENCH_WEBHOOK_SECRET"',
                "[[sites]]",
                f'name = "{common.SITE}"',
                f'url = "{ls_url}"',
                f'user = "{common.USER}"',
                f'password_env = "{common.PASSWORD_ENV}"',
                'timezone = "UTC"',
                f"surveys = [{common.SURVEY_ID}]",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    return path


def _prepare_db(db_url: str) -> None:
    """What an operator does before ``pingyi run``: migrate, load the catalogue."""
    from sync import db
    from sync.cli.catalogue import store_catalogue

    engine = db.make_engine(db_url)
    try:
        db.upgrade(engine)
        with engine.begin() as conn:
            store_catalogue(conn, common.catalogue())
    finally:
        engine.dispose()


def _stored(engine: sa.Engine, rid: int | None = None) -> int:
    query = "SELECT count(*) FROM pingyi_response WHERE survey_id = :sid"
    params: dict[str, Any] = {"sid": common.SURVEY_ID}
    if rid is not None:
        query += " AND response_id = :rid"
        params["rid"] = rid
    with engine.connect() as conn:
        return int(conn.execute(sa.text(query), params).scalar() or 0)


def _wait(check: Any, timeout: float, step: float = 0.005) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return False


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile by the nearest-rank method (no interpolation)."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(len(ordered) * q)) - 1]


@contextlib.contextmanager
def _daemon(
    work: Path, existing: int
) -> Iterator[tuple[Any, str, sa.Engine, Callable[[int], int]]]:
    """``pingyi run`` (SQLite, interval one hour) against a double holding ``existing``
    responses: yields the double, the daemon's URL, the records' engine and ``post``,
    which sends one signed completion webhook for a response id and returns the status."""
    work.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(18)
    secret = secrets.token_urlsafe(24)
    double = common.double_with(common.catalogue(), existing, password)
    db_url = f"sqlite:///{work / 'webhook.db'}"
    _prepare_db(db_url)
    with double.serve() as ls_url:
        config = _config(work, ls_url, db_url)
        env = {
            **os.environ,
            common.PASSWORD_ENV: password,
            "PINGYI_BENCH_WEBHOOK_SECRET": secret,
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("PINGYI_CONFIG", None)
        env.pop("PINGYI_DATABASE_URL", None)
        proc, url, _lines = launch(config, env, cwd=common.ROOT, timeout=60)
        engine = sa.create_engine(db_url)

        def post(rid: int) -> int:
            body = json.dumps({"survey_id": common.SURVEY_ID, "response_id": rid}).encode()
            stamp = int(time.time())
            reply = requests.post(
                url + "/webhook",
                data=body,
                headers={
                    signing.TIMESTAMP_HEADER: str(stamp),
                    signing.SIGNATURE_HEADER: signing.sign(secret.encode(), stamp, body),
                },
                timeout=10,
            )
            return reply.status_code

        try:
            yield double, url, engine, post
        finally:
            engine.dispose()
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def measure(work: Path, *, existing: int = 1000, webhooks: int = 50) -> dict[str, Any]:
    """Start ``pingyi run`` on a survey of ``existing`` responses, then ``webhooks`` times:
    add one response to the double, POST its signed webhook, wait for its row."""
    survey = common.survey(common.catalogue())
    latencies: list[float] = []
    with _daemon(work, existing) as (double, _url, engine, post):
        if not _wait(lambda: _stored(engine) == existing, 120):
            raise SystemExit("the first pass did not finish")
        for i in range(webhooks):
            new = common.rows(survey, 1, seed=100 + i, start=existing + i)
            [rid] = double.load_responses(common.SURVEY_ID, new)
            started = time.monotonic()
            status = post(rid)
            if status != 202:
                raise SystemExit(f"webhook refused: {status}")
            if not _wait(lambda rid=rid: _stored(engine, rid) == 1, ROW_TIMEOUT):
                raise SystemExit(f"response {rid} did not arrive within {ROW_TIMEOUT} s")
            latencies.append(time.monotonic() - started)
    return {
        "webhooks": len(latencies),
        "existing": existing,
        "p50_s": percentile(latencies, 0.50),
        "p95_s": percentile(latencies, 0.95),
        "max_s": max(latencies),
    }


def answer_times(work: Path, *, existing: int = 100_000, every: float = 0.05) -> dict[str, Any]:
    """How long the daemon takes to answer a webhook while it is busiest: during its
    first pass over ``existing`` responses, one webhook every ``every`` seconds, the time
    until its 202. The plugin gives up after ``WebhookSender::TIMEOUT`` (1 s) and then
    pauses its webhooks for a minute (``DaemonPause``): a busy daemon must answer well
    inside that."""
    times: list[float] = []
    with _daemon(work, existing) as (_double, _url, engine, post):
        deadline = time.monotonic() + 300
        while _stored(engine) < existing and time.monotonic() < deadline:
            started = time.perf_counter()
            status = post(len(times) + 1)  # a new id each time: a repeat would be a replay
            times.append(time.perf_counter() - started)
            if status != 202:
                raise SystemExit(f"webhook refused: {status}")
            time.sleep(every)
    return {
        "webhooks": len(times),
        "existing": existing,
        "p50_s": percentile(times, 0.50),
        "p95_s": percentile(times, 0.95),
        "p99_s": percentile(times, 0.99),
        "max_s": max(times),
    }


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="pingyi-bench-webhook-") as tmp:
        print(json.dumps(measure(Path(tmp))))
