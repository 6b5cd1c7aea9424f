"""resync, status and quarantine through click's CliRunner, against the double over real
HTTP and a real SQLite records database, with the repository's mappings/."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from sync import catalogue as catalogue_mod
from sync import db, tallies
from sync.cli import cli
from sync.cli.catalogue import store_catalogue
from sync.limesurvey import read_spans
from sync.models import Response, ResultUnit, SyncCursor
from sync.testing.double import LimeSurveyDouble
from sync.testing.samples import satisfaction_rows, satisfaction_survey

REPO = Path(__file__).resolve().parent.parent
SID = 111111
PASSWORD = "s3cret-pass-不外传"


@dataclass
class Setup:
    config: Path
    mappings: Path
    db_url: str
    double: LimeSurveyDouble
    runner: CliRunner

    def run(self, *args: str) -> Result:
        return self.runner.invoke(cli, ["--config", str(self.config), *args])

    def stored(self) -> int:
        engine = db.make_engine(self.db_url)
        try:
            with engine.connect() as conn:
                count = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(Response)
                    .where(Response.deleted_at.is_(None))
                ).scalar_one()
                return int(count)
        finally:
            engine.dispose()


def write_config(path: Path, url: str, db_url: str, *, password_env: str) -> None:
    path.write_text(
        f"""mappings = "mappings"

[database]
url = "{db_url}"

[[sites]]
name = "district"
url = "{url}"
user = "admin"
password_env = "{password_env}"
surveys = [{SID}]
window = 40
timezone = "Asia/Shanghai"
""",
        encoding="utf-8",
    )


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    mappings = tmp_path / "mappings"
    shutil.copytree(REPO / "mappings", mappings)
    db_url = f"sqlite:///{tmp_path / 'records.db'}"
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    with engine.begin() as conn:
        store_catalogue(conn, catalogue_mod.load_catalogue(mappings))
    engine.dispose()
    double = LimeSurveyDouble(users={"admin": PASSWORD})
    double.add_survey(satisfaction_survey(SID))
    rows = list(satisfaction_rows(100, seed=3, incomplete=0.1))
    double.load_responses(SID, rows)
    monkeypatch.setenv("PINGYI_TEST_LS_PASSWORD", PASSWORD)
    monkeypatch.delenv("PINGYI_CONFIG", raising=False)
    monkeypatch.delenv("PINGYI_DATABASE_URL", raising=False)
    with double.serve() as url:
        config = tmp_path / "pingyi.toml"
        write_config(config, url, db_url, password_env="PINGYI_TEST_LS_PASSWORD")
        yield Setup(config, mappings, db_url, double, CliRunner())


def completed(double: LimeSurveyDouble) -> int:
    return sum(
        1
        for rid in double.response_ids(SID)
        if double.get_response(SID, rid).get("submitdate") is not None
    )


def test_resync_stores_and_reports(setup: Setup) -> None:
    result = setup.run("resync", "--site", "district", "--survey", str(SID))
    assert result.exit_code == 0, result.output
    expected = completed(setup.double)
    assert f"did insert {expected}," in result.output
    assert setup.stored() == expected
    # results and the ledger follow the records at once
    assert "results refreshed for" in result.output
    engine = db.make_engine(setup.db_url)
    try:
        with engine.connect() as conn:
            units = conn.execute(
                sa.select(ResultUnit.unit_code).where(ResultUnit.responses > 0)
            ).scalars()
            stored_units = conn.execute(
                sa.select(Response.unit_code).where(Response.deleted_at.is_(None)).distinct()
            ).scalars()
            assert set(units) == set(stored_units)
    finally:
        engine.dispose()
    again = setup.run("resync", "--survey", str(SID), "--json")
    assert again.exit_code == 0, again.output
    doc = json.loads(again.output)
    (entry,) = doc["results"]
    assert entry["ok"] is True
    incomplete = len(setup.double.response_ids(SID)) - expected
    assert (entry["inserted"], entry["fetched"], entry["pending"]) == (0, incomplete, incomplete)
    waiting = [
        rid
        for rid in setup.double.response_ids(SID)
        if setup.double.get_response(SID, rid)["submitdate"] is None
    ]
    reads = len(read_spans(waiting, 40))  # 40: this setup's window
    # login, the pending re-reads, one empty window, one summary: nothing else
    assert entry["rc2_calls"] == 1 + reads + 2


def test_dry_run_writes_nothing(setup: Setup) -> None:
    result = setup.run("resync", "--survey", str(SID), "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.output)["results"]
    assert entry["inserted"] == completed(setup.double)
    assert entry["dry_run"] is True
    assert setup.stored() == 0


def test_resync_reads_completed_responses_given_ids_below_the_high_water(setup: Setup) -> None:
    # LimeSurvey on PostgreSQL: after a response added with an explicit id (1000) the
    # next ones get ids below it
    row, late = (dict(r, submitdate="2022-11-01 09:00:00") for r in satisfaction_rows(2, seed=9))
    setup.double.load_responses(SID, [{**row, "id": 1000}])
    assert setup.run("resync", "--survey", str(SID)).exit_code == 0
    setup.double.load_responses(SID, [{**late, "id": 101}])
    before = setup.stored()
    dry = setup.run("resync", "--survey", str(SID), "--dry-run")
    assert "1 completed below the high water were missing, would be read" in dry.output
    result = setup.run("resync", "--survey", str(SID))
    assert result.exit_code == 0, result.output
    assert "1 completed below the high water were missing, read now" in result.output
    assert "would insert 1," in dry.output
    assert "did insert 1," in result.output
    assert setup.stored() == before + 1
    # what a pass could not find stays on the cursor, and status says so
    engine = db.make_engine(setup.db_url)
    with engine.begin() as conn:
        conn.execute(sa.update(SyncCursor).values(shortfall=3))
    engine.dispose()
    text = setup.run("status").output
    assert "LimeSurvey counts 3 completed responses the records lack" in text
    (survey,) = json.loads(setup.run("status", "--json").output)["surveys"]
    assert survey["shortfall"] == 3


def test_resync_says_when_submit_dates_lie_in_the_future(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    # a LimeSurvey server in Shanghai whose global 'Time difference' is set to 8 as well:
    # a response completed now carries a date 8 h ahead of the site's timezone
    [row] = satisfaction_rows(1, seed=11)
    ahead = dt.datetime.now(ZoneInfo("Asia/Shanghai")) + dt.timedelta(hours=8)
    setup.double.load_responses(SID, [{**row, "submitdate": f"{ahead:%Y-%m-%d %H:%M:%S}"}])
    result = setup.run("resync", "--survey", str(SID))
    assert result.exit_code == 0, result.output
    assert "submit dates read +8.00 h off the clock: check the site's timezone" in result.output
    # the warning (on stderr in a terminal) says what and where
    assert "response 101 was submitted at" in caplog.text
    # a date in the future bounds the offset from below: no zone is guessed from it
    assert "LimeSurvey's dates run at least +8.00 h ahead of Asia/Shanghai" in caplog.text
    # the response is stored all the same: the dates are wrong, not the answers
    assert setup.stored() == completed(setup.double)
    # and status says so until it is mended
    text = setup.run("status").output
    assert "submit dates read +8.00 h off in the pass of 20" in text
    assert "(timezone Asia/Shanghai): the site's timezone or a clock is wrong" in text
    (survey,) = json.loads(setup.run("status", "--json").output)["surveys"]
    assert abs(survey["clock_offset_seconds"] - 8 * 3600) < 60
    # so does doctor, as a failure with what to do
    doctor = setup.run("doctor")
    assert doctor.exit_code == 1
    assert f"FAIL site timezones: site district survey {SID}: submit dates read +8.00 h" in (
        doctor.output
    )
    assert "restart the daemon, then pingyi resync --full" in doctor.output
    # a full resync that sees nothing ahead proves nothing (a response may simply be old):
    # the reading stays
    setup.double.delete_response(SID, 101)
    assert setup.run("resync", "--survey", str(SID), "--full").exit_code == 0
    assert "+8.00 h off" in setup.run("status").output
    # the remedy, the site's timezone changed: status drops the reading made under the
    # old one at once, the next pass clears it
    text = setup.config.read_text("utf-8").replace('"Asia/Shanghai"', '"Asia/Tokyo"')
    setup.config.write_text(text, "utf-8")
    assert "h off" not in setup.run("status").output
    assert "OK   site timezones: not measured yet" in setup.run("doctor").output
    assert setup.run("resync", "--survey", str(SID)).exit_code == 0
    engine = db.make_engine(setup.db_url)
    with engine.connect() as conn:
        kept = conn.execute(sa.select(SyncCursor.clock_offset, SyncCursor.clock_zone)).one()
    engine.dispose()
    assert tuple(kept) == (None, None)
    # a webhook's reading under the new zone, seconds off: all is well
    engine = db.make_engine(setup.db_url)
    with engine.begin() as conn:
        conn.execute(sa.update(SyncCursor).values(clock_offset=1.2, clock_zone="Asia/Tokyo"))
    engine.dispose()
    assert "OK   site timezones: 1 of 1 surveys measured, all within 10 minutes" in (
        setup.run("doctor").output
    )


def test_a_full_resync_that_would_mark_many_deleted_asks_first(setup: Setup) -> None:
    assert setup.run("resync", "--survey", str(SID)).exit_code == 0
    stored = setup.stored()
    # a few deleted in LimeSurvey: a full resync marks them without asking
    done = [rid for rid in setup.double.response_ids(SID) if rid <= 5]
    for rid in done:
        setup.double.delete_response(SID, rid)
    few = setup.run("resync", "--survey", str(SID), "--full")
    assert few.exit_code == 0, few.output
    assert "did insert 0, update 0, delete " in few.output
    left = setup.stored()
    assert left < stored
    # the survey deactivated (its responses archived) and activated again: nearly all gone
    for rid in setup.double.response_ids(SID)[:-3]:
        setup.double.delete_response(SID, rid)
    refused = setup.run("resync", "--survey", str(SID), "--full")
    assert refused.exit_code == 1
    assert "a full resync would mark up to" in refused.output
    assert "Preserve response IDs" in refused.output
    assert "add --yes" in refused.output
    assert setup.stored() == left  # nothing marked
    as_json = json.loads(setup.run("resync", "--survey", str(SID), "--full", "--json").output)
    assert as_json["results"][0]["ok"] is False
    assert setup.stored() == left
    # an ordinary pass records the difference, and status says what it may mean
    assert setup.run("resync", "--survey", str(SID)).exit_code == 0
    (survey,) = json.loads(setup.run("status", "--json").output)["surveys"]
    assert survey["shortfall"] == completed(setup.double) - left < 0
    assert "completed responses LimeSurvey no longer has" in setup.run("status").output
    # a dry run needs no answer; --yes goes on
    assert setup.run("resync", "--survey", str(SID), "--full", "--dry-run").exit_code == 0
    assert setup.run("resync", "--survey", str(SID), "--full", "--yes").exit_code == 0
    assert setup.stored() < left


def test_full_and_range_options(setup: Setup) -> None:
    assert setup.run("resync", "--survey", str(SID)).exit_code == 0
    done = [
        rid
        for rid in setup.double.response_ids(SID)
        if setup.double.get_response(SID, rid)["submitdate"] is not None
    ]
    edited, deleted = done[2], done[4]
    old = setup.double.get_response(SID, edited)["overall"]
    setup.double.set_response(SID, edited, {"overall": "A5" if old != "A5" else "A1"})
    setup.double.delete_response(SID, deleted)
    full = setup.run("resync", "--survey", str(SID), "--full", "--json")
    (entry,) = json.loads(full.output)["results"]
    assert (entry["updated"], entry["deleted"]) == (1, 1)
    assert setup.stored() == len(done) - 1
    bad = setup.run("resync", "--survey", str(SID), "--full", "--from-id", "1", "--to-id", "9")
    assert bad.exit_code == 2
    assert "--full" in bad.output
    ranged = setup.run("resync", "--survey", str(SID), "--from-id", "1", "--to-id", "9")
    assert ranged.exit_code == 0, ranged.output


def test_unknown_survey_is_a_clear_error(setup: Setup) -> None:
    result = setup.run("resync", "--survey", "999999")
    assert result.exit_code == 1
    assert "no bound survey matches --survey 999999" in result.output


def test_status_shows_cursor_pending_and_never_the_password(setup: Setup) -> None:
    setup.run("resync", "--survey", str(SID))
    result = setup.run("status", "--json")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    doc = json.loads(result.output)
    (survey,) = [s for s in doc["surveys"] if s["survey_id"] == SID]
    ids = setup.double.response_ids(SID)
    assert survey["high_water"] == max(ids)
    assert survey["pending"] == len(ids) - completed(setup.double)
    assert survey["last_success_at"] is not None
    assert survey["failing"] is False
    assert doc["sites"] == [
        {
            "site": "district",
            "url": setup.double.url,
            "user": "admin",
            "login": "ok",
            "login_refused_at": None,
            "login_refused_reason": None,
        }
    ]
    assert doc["results"] == []  # the resync refreshed what it touched
    text = setup.run("status")
    assert f"district survey {SID}: high water {max(ids)}" in text.output
    assert PASSWORD not in text.output
    assert "wait for a refresh" not in text.output
    # a refresh that failed after a pass leaves its units marked, and status says so
    engine = db.make_engine(setup.db_url)
    with engine.begin() as conn:
        tallies.mark_stale(conn, [("2022", "U0101"), ("2022", "U0102")])
    engine.dispose()
    (waiting,) = json.loads(setup.run("status", "--json").output)["results"]
    assert (waiting["campaign"], waiting["units_waiting"]) == ("2022", 2)
    assert "results of campaign 2022: 2 units changed since" in setup.run("status").output


def test_quarantine_list_show_and_retry_after_the_mapping_is_fixed(setup: Setup) -> None:
    rid = setup.double.load_responses(
        SID,
        [{"office": "U0107", "overall": "A1", "submitdate": "2024-03-01 10:00:00"}],
    )[0]
    # the survey gained an office the binding's code_map does not know
    result = setup.run("resync", "--survey", str(SID))
    assert "quarantine 1" in result.output
    listed = setup.run("quarantine", "list", "--json")
    (entry,) = json.loads(listed.output)["entries"]
    assert entry["response_id"] == rid
    assert entry["reason_code"] == "unknown_unit"
    assert "U0107" in entry["reason"]
    assert "code_map" in entry["reason"]
    shown = setup.run("quarantine", "show", str(entry["id"]))
    assert "reason_code: unknown_unit" in shown.output
    assert setup.run("quarantine", "show", "999").exit_code == 1
    # retry before the fix: still there
    again = setup.run("quarantine", "retry", "--all")
    assert "0 of 1 stored, 0 resolved, 1 still quarantined" in again.output
    binding = setup.mappings / "surveys" / "citizens_111111.yaml"
    text = binding.read_text(encoding="utf-8")
    binding.write_text(text.replace("    U0106: C0206", "    U0106: C0206\n    U0107: C0201"))
    fixed = setup.run("quarantine", "retry", str(entry["id"]))
    assert fixed.exit_code == 0, fixed.output
    assert "1 of 1 stored, 1 resolved, 0 still quarantined" in fixed.output
    assert "quarantine is empty" in setup.run("quarantine", "list").output
    assert "resolved" in setup.run("quarantine", "list", "--all").output


def test_refused_login_is_recorded_and_not_repeated(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINGYI_TEST_LS_PASSWORD", "wrong-password")
    first = setup.run("resync", "--survey", str(SID))
    assert first.exit_code == 1
    assert "login" in first.output
    logins = setup.double.calls.count("get_session_key")
    second = setup.run("resync", "--survey", str(SID))
    assert second.exit_code == 1
    assert setup.double.calls.count("get_session_key") == logins  # not even one more try
    status = json.loads(setup.run("status", "--json").output)
    assert status["sites"][0]["login"] == "refused"
    assert "wrong-password" not in setup.run("status").output
    # the password is fixed: the changed fingerprint lets the next run log in at once
    monkeypatch.setenv("PINGYI_TEST_LS_PASSWORD", PASSWORD)
    third = setup.run("resync", "--survey", str(SID))
    assert third.exit_code == 0, third.output
    assert json.loads(setup.run("status", "--json").output)["sites"][0]["login"] == "ok"


def test_doctor_checks_sites_without_burning_logins(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok = setup.run("doctor")
    assert "OK   limesurvey reachable" in ok.output
    assert "RemoteControl 2 (JSON-RPC) is on" in ok.output
    assert "OK   limesurvey login: site district: login as admin works" in ok.output
    monkeypatch.setenv("PINGYI_TEST_LS_PASSWORD", "wrong-password")
    first = setup.run("doctor")
    assert first.exit_code == 1
    assert "FAIL limesurvey login" in first.output
    logins = setup.double.calls.count("get_session_key")
    again = setup.run("doctor")
    assert "not trying" in again.output
    assert setup.double.calls.count("get_session_key") == logins
    assert "wrong-password" not in again.output


def test_doctor_says_when_rc2_is_off(setup: Setup, tmp_path: Path) -> None:
    text = setup.config.read_text(encoding="utf-8")
    assert setup.double.url is not None
    wrong = setup.double.url.replace("/admin/remotecontrol", "/admin/nothing")
    setup.config.write_text(text.replace(setup.double.url, wrong), encoding="utf-8")
    result = setup.run("doctor")
    assert "FAIL limesurvey reachable" in result.output
    assert "not a JSON-RPC answer" in result.output


def test_the_token_key_is_read_only_for_a_binding_that_hashes_tokens(
    setup: Setup, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Seen on a real site: every `pingyi resync` warned that the token-hash key was
    missing, though no binding kept token hashes."""
    monkeypatch.delenv("PINGYI_TOKEN_KEY", raising=False)
    caplog.set_level("WARNING")
    result = setup.run("resync", "--site", "district", "--survey", str(SID))
    assert result.exit_code == 0, result.output
    said = result.output + caplog.text
    assert "token-hash key" not in said
    assert setup.stored() > 0

    binding = setup.mappings / "surveys" / "citizens_111111.yaml"
    text = binding.read_text(encoding="utf-8")
    assert "token: drop" in text
    binding.write_text(text.replace("token: drop", "token: hash"), encoding="utf-8")
    caplog.clear()
    result = setup.run("resync", "--site", "district", "--survey", str(SID), "--full")
    said = result.output + caplog.text
    assert "token-hash key not available" in said
    assert "PINGYI_TOKEN_KEY" in said
