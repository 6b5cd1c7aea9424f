"""The LimeSurvey double itself: faults, lockout, expiry, bulk load, Unicode."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sync.testing.double import LOCKOUT_STATUS, LimeSurveyDouble
from sync.testing.faults import Faults
from sync.testing.samples import satisfaction_rows, satisfaction_survey

SID = 111111


class Clock:
    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


class Rpc:
    """A bare JSON-RPC caller (the real client lives in sync.limesurvey)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()
        self.n = 0

    def raw(self, method: str, *params: Any, timeout: float = 5.0) -> requests.Response:
        self.n += 1
        body = json.dumps({"method": method, "params": list(params), "id": self.n})
        return self.http.post(
            self.url,
            data=body.encode(),
            headers={"Content-Type": "application/json"},
            timeout=timeout,
        )

    def __call__(self, method: str, *params: Any) -> Any:
        r = self.raw(method, *params)
        assert r.status_code == 200, r.text[:200]
        return r.json()["result"]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def double(clock: Clock) -> LimeSurveyDouble:
    d = LimeSurveyDouble(users={"admin": "secret"}, clock=clock)
    d.add_survey(satisfaction_survey(SID))
    return d


@pytest.fixture
def rpc(double: LimeSurveyDouble) -> Iterator[Rpc]:
    with double.serve() as url:
        yield Rpc(url)


def export(rpc: Rpc, key: str, lo: int | None = None, hi: int | None = None) -> Any:
    result = rpc("export_responses", key, SID, "json", None, "all", "code", "short", lo, hi)
    assert isinstance(result, str), result
    return json.loads(base64.b64decode(result))["responses"]


def test_lockout_after_three_failures_keeps_earlier_keys(rpc: Rpc, clock: Clock) -> None:
    key = rpc("get_session_key", "admin", "secret")
    for _ in range(3):
        assert rpc("get_session_key", "admin", "nope") == {
            "status": "Invalid user name or password"
        }
    assert rpc("get_session_key", "admin", "secret") == {"status": LOCKOUT_STATUS}
    assert isinstance(rpc("list_surveys", key), list)
    clock.t += 599
    assert rpc("get_session_key", "admin", "secret") == {"status": LOCKOUT_STATUS}
    clock.t += 2
    assert len(rpc("get_session_key", "admin", "secret")) == 32


def test_two_failures_do_not_lock(rpc: Rpc) -> None:
    rpc("get_session_key", "admin", "nope")
    rpc("get_session_key", "x", "y")
    assert len(rpc("get_session_key", "admin", "secret")) == 32


def test_session_expires_after_7200s_even_when_used(rpc: Rpc, clock: Clock) -> None:
    key = rpc("get_session_key", "admin", "secret")
    for _ in range(3):
        clock.t += 2000
        assert isinstance(rpc("list_surveys", key), list)
    clock.t += 1201
    assert rpc("list_surveys", key) == {"status": "Invalid session key"}


def test_expire_sessions(double: LimeSurveyDouble, rpc: Rpc) -> None:
    key = rpc("get_session_key", "admin", "secret")
    double.expire_sessions()
    assert rpc("get_summary", key, SID) == {"status": "Invalid session key"}


def test_bulk_load_100k_and_window_export(double: LimeSurveyDouble, rpc: Rpc) -> None:
    ids = double.load_responses(SID, satisfaction_rows(100_000, seed=3))
    assert ids[0] == 1
    assert ids[-1] == 100_000
    key = rpc("get_session_key", "admin", "secret")
    rows = export(rpc, key, 50_001, 51_000)
    assert [r["id"] for r in rows] == list(range(50_001, 51_001))
    assert rpc("get_summary", key, SID)["full_responses"] == 100_000


def test_ids_never_reused_and_completion_keeps_id(double: LimeSurveyDouble, rpc: Rpc) -> None:
    key = rpc("get_session_key", "admin", "secret")
    col = double.columns(SID)
    first = rpc("add_response", key, SID, {col["office"]: "U0101", "submitdate": ""})
    second = rpc("add_response", key, SID, {col["office"]: "U0102"})
    assert (first, second) == ("1", "2")
    assert rpc("delete_response", key, SID, 2) == {"2": "deleted"}
    assert rpc("add_response", key, SID, {col["office"]: "U0105"}) == "3"
    double.set_response(SID, 1, {"submitdate": "2024-03-02 09:00:00"})
    rows = export(rpc, key)
    assert (rows[0]["id"], rows[0]["submitdate"]) == (1, "2024-03-02 09:00:00")


def test_unicode_round_trip(double: LimeSurveyDouble, rpc: Rpc) -> None:
    text = "排队两个小时😡，名字里有𠮷字！\n“引号”<b>x</b>;,'"
    key = rpc("get_session_key", "admin", "secret")
    rid = rpc("add_response", key, SID, {double.columns(SID)["comment"]: text})
    raw = rpc.raw("export_responses", key, SID, "json").content
    assert b"\\ud842\\udfb7" not in raw  # base64 hides the document
    doc = base64.b64decode(json.loads(raw)["result"])
    assert b"\\ud842\\udfb7" in doc  # PHP escapes 4-byte characters as surrogate pairs
    assert b"\\ud83d\\ude21" in doc
    assert json.loads(doc)["responses"][0]["comment"] == text
    csv_doc = base64.b64decode(rpc("export_responses", key, SID, "csv")).decode("utf-8")
    assert '"' + text + '"' in csv_doc
    assert double.get_response(SID, int(rid))["comment"] == text


def test_datestamp_n_survey_has_no_dates_or_token(rpc: Rpc, double: LimeSurveyDouble) -> None:
    double.add_survey(satisfaction_survey(333333, anonymized=True, datestamp=False))
    double.load_responses(333333, [{"office": "U0101", "submitdate": "1980-01-01 00:00:00"}])
    key = rpc("get_session_key", "admin", "secret")
    doc = base64.b64decode(rpc("export_responses", key, 333333, "json"))
    row = json.loads(doc)["responses"][0]
    assert row["submitdate"] == "1980-01-01 00:00:00"
    assert not {"token", "startdate", "datestamp"} & set(row)


def test_faults_happen_at_rate_deterministically(double: LimeSurveyDouble) -> None:
    def run() -> list[str]:
        double.faults = Faults(rate=0.3, kinds={"http500", "truncate", "reset"}, seed=7)
        seen = []
        with double.serve() as url:
            rpc = Rpc(url)
            for _ in range(200):
                try:
                    # a generous timeout: a loaded CI machine must not turn "ok" into a Timeout
                    r = rpc.raw("list_surveys", "k", timeout=30)
                    if r.status_code != 200:
                        seen.append(f"http{r.status_code}")
                        continue
                    assert r.json()["result"] == {"status": "Invalid session key"}
                    seen.append("ok")
                except (requests.RequestException, ValueError) as exc:
                    seen.append(type(exc).__name__)
        return seen

    first = run()
    first_injected = list(double.faults.injected)
    injected = double.faults.count()
    assert 40 <= injected <= 80  # 30% of 200, binomial spread
    assert first.count("ok") == 200 - injected
    assert first.count("http500") == double.faults.count("http500")
    second = run()
    # same seed, same faults at the same request numbers (the server's own record) ...
    assert double.faults.injected == first_injected
    # ... and the client saw the same outcomes in the same places
    assert second == first


def test_timeout_fault_exceeds_client_timeout(double: LimeSurveyDouble) -> None:
    double.faults = Faults(script={1: "timeout"}, timeout_sleep=1.0)
    with double.serve() as url:
        rpc = Rpc(url)
        with pytest.raises(requests.Timeout):
            rpc.raw("get_session_key", "admin", "secret", timeout=0.3)
        assert len(rpc("get_session_key", "admin", "secret")) == 32


def test_session_fault_invalidates_key(double: LimeSurveyDouble, rpc: Rpc) -> None:
    key = rpc("get_session_key", "admin", "secret")
    double.faults = Faults(script={2: "session"})  # counts from this Faults' first request
    assert isinstance(rpc("list_surveys", key), list)
    assert rpc("list_surveys", key) == {"status": "Invalid session key"}
    assert rpc("list_surveys", key) == {"status": "Invalid session key"}


def test_hook_after_n_exports_and_calls(double: LimeSurveyDouble, rpc: Rpc) -> None:
    double.load_responses(SID, satisfaction_rows(10))
    double.after_exports(1, lambda d: d.delete_response(SID, 5))
    key = rpc("get_session_key", "admin", "secret")
    assert 5 in [r["id"] for r in export(rpc, key, 1, 10)]
    assert 5 not in [r["id"] for r in export(rpc, key, 1, 10)]
    assert double.calls == ["get_session_key", "export_responses", "export_responses"]


def test_cli_serves_until_interrupted() -> None:
    import signal
    import subprocess
    import sys

    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sync",
            "double",
            "--port",
            "0",
            "--surveys",
            "111111",
            "--responses",
            "5",
        ],
        env={**os.environ, "PINGYI_DOUBLE_PASSWORD": "pw"},
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().split("url: ", 1)[1].strip()
            rpc = Rpc(url)
            key = rpc("get_session_key", "admin", "pw")
            assert rpc("get_summary", key, SID)["full_responses"] == 5
        finally:
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=10) == 0


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "UTC"])
def test_cli_double_writes_its_dates_in_the_zone_asked(zone: str) -> None:
    import datetime as dt
    from zoneinfo import ZoneInfo

    from sync.cli.double import build

    double, [sid] = build(("111111",), 0, "admin", "pw", 0, timezone=ZoneInfo(zone))
    [row] = satisfaction_rows(1, seed=1, incomplete=0)
    del row["submitdate"]  # completed now
    [rid] = double.load_responses(sid, [row])
    written = dt.datetime.strptime(double.get_response(sid, rid)["submitdate"], "%Y-%m-%d %H:%M:%S")
    expected = dt.datetime.now(ZoneInfo(zone)).replace(tzinfo=None)
    assert abs(written - expected) < dt.timedelta(minutes=1)


def test_cli_double_refuses_a_zone_that_is_not_one() -> None:
    from click.testing import CliRunner

    from sync.cli import cli

    result = CliRunner().invoke(cli, ["double", "--timezone", "Mars/Olympus"])
    assert result.exit_code == 2
    assert "'Mars/Olympus': not an IANA timezone" in result.output
