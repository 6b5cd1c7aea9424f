"""(d) webhook-to-row latency: the real daemon (``pingyi run``) in a subprocess against the
LimeSurvey double, one signed completion webhook per new response, the time until that
response's row is in the records database.

The webhook only wakes the scheduler (``sync.webhook``), so what is measured is the whole
path a completed response takes: the POST, the wake-up, a pass (pending re-reads, the new
window, the end check) and the commit. The daemon's own interval is an hour, so no row
arrives by a scheduled pass. Webhooks are sent one at a time, each after the previous
row appeared.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import shutil
import signal
import subprocess
import time
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


def measure(work: Path, *, existing: int = 1000, webhooks: int = 50) -> dict[str, Any]:
    """Start ``pingyi run`` on a survey of ``existing`` responses, then ``webhooks`` times:
    add one response to the double, POST its signed webhook, wait for its row."""
    password = secrets.token_urlsafe(18)
    secret = secrets.token_urlsafe(24)
    cat = common.catalogue()
    double = common.double_with(cat, existing, password)
    db_url = f"sqlite:///{work / 'webhook.db'}"
    _prepare_db(db_url)
    survey = common.survey(cat)
    latencies: list[float] = []
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
        proc, url, lines = launch(config, env, cwd=common.ROOT, timeout=60)
        engine = sa.create_engine(db_url)
        try:
            if not _wait(lambda: _stored(engine) == existing, 120):
                raise SystemExit("the first pass did not finish:\n" + "".join(lines[-30:]))
            for i in range(webhooks):
                new = common.rows(survey, 1, seed=100 + i, start=existing + i)
                [rid] = double.load_responses(common.SURVEY_ID, new)
                body = json.dumps({"survey_id": common.SURVEY_ID, "response_id": rid}).encode()
                stamp = int(time.time())
                started = time.monotonic()
                reply = requests.post(
                    url + "/webhook",
                    data=body,
                    headers={
                        signing.TIMESTAMP_HEADER: str(stamp),
                        signing.SIGNATURE_HEADER: signing.sign(secret.encode(), stamp, body),
                    },
                    timeout=10,
                )
                if reply.status_code != 202:
                    raise SystemExit(f"webhook refused: {reply.status_code} {reply.text[:200]}")
                if not _wait(lambda rid=rid: _stored(engine, rid) == 1, ROW_TIMEOUT):
                    raise SystemExit(f"response {rid} did not arrive within {ROW_TIMEOUT} s")
                latencies.append(time.monotonic() - started)
        finally:
            engine.dispose()
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return {
        "webhooks": len(latencies),
        "existing": existing,
        "p50_s": percentile(latencies, 0.50),
        "p95_s": percentile(latencies, 0.95),
        "max_s": max(latencies),
    }


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="pingyi-bench-webhook-") as tmp:
        print(json.dumps(measure(Path(tmp))))
