"""A site timezone that is not LimeSurvey's is found and named (``sync.siteclock``).

The passes run against the double writing its dates in one timezone while the site's
config reads them in another, as a LimeSurvey in a container left at UTC does."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync import db, siteclock
from sync.errors import TransientError
from sync.models import Response, SyncCursor
from sync.pull import PassReport, run_pass
from sync.siteclock import ClockReading, most_telling
from sync.testing.double import LimeSurveyDouble
from sync.testing.samples import satisfaction_survey
from tests.syncdata import (
    PASSWORD,
    TEST_OFFICES,
    answers,
    load_catalogue_rows,
    make_binding,
    make_catalogue,
    make_client,
    make_site,
)

SID = 424242
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    made = db.make_engine(f"sqlite:///{tmp_path / 'clock.db'}")
    db.upgrade(made)
    load_catalogue_rows(made, make_catalogue())
    yield made
    made.dispose()


def sync_once(
    engine: Engine, *, limesurvey_zone: dt.tzinfo, site_zone: str, webhook: bool, **row: Any
) -> PassReport:
    """One response completed now in a LimeSurvey writing ``limesurvey_zone`` dates,
    then a pass reading them as ``site_zone``; ``webhook``: the daemon heard its
    completion webhook just now."""
    double = LimeSurveyDouble(users={"admin": PASSWORD}, timezone=limesurvey_zone)
    double.add_survey(satisfaction_survey(SID, offices=TEST_OFFICES))
    values = {**answers(1), **row}
    [rid] = double.load_responses(SID, [values])  # no submitdate: completed now
    heard = {rid: dt.datetime.now(dt.UTC)} if webhook else None
    with double.serve() as url:
        site = make_site(url).model_copy(update={"timezone": site_zone})
        with make_client(site) as client:
            binding = make_binding(survey_id=SID)
            return run_pass(engine, client, site, binding, make_catalogue(), hinted=heard)


def test_limesurvey_in_utc_read_as_shanghai_is_named_by_the_webhook(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="sync.pull"):
        report = sync_once(engine, limesurvey_zone=dt.UTC, site_zone="Asia/Shanghai", webhook=True)
    assert report.inserted == 1
    assert report.clock_wrong
    assert report.clock_offset_s is not None
    assert abs(report.clock_offset_s + 8 * 3600) < 60  # read 8 h behind the webhook
    [warning] = [r.getMessage() for r in caplog.records if "timezone" in r.getMessage()]
    assert f"site district survey {SID}: response 1 was submitted at" in warning
    assert "-8.00 h" in warning
    assert "probably UTC+00:00" in warning
    assert "Set `timezone` of site district in pingyi.toml" in warning


def test_a_full_resync_after_the_fix_rewrites_the_dates(engine: Engine) -> None:
    double = LimeSurveyDouble(users={"admin": PASSWORD}, timezone=dt.UTC)
    double.add_survey(satisfaction_survey(SID, offices=TEST_OFFICES))
    double.load_responses(SID, [answers(1)])

    def sync(zone: str, *, full: bool) -> tuple[PassReport, dt.datetime | None]:
        site = make_site(url).model_copy(update={"timezone": zone})
        with make_client(site) as client:
            binding = make_binding(survey_id=SID)
            report = run_pass(engine, client, site, binding, make_catalogue(), full=full)
        with engine.connect() as conn:
            return report, conn.execute(sa.select(Response.submitted_at)).scalar_one()

    with double.serve() as url:
        _, wrong = sync("Asia/Shanghai", full=False)
        report, fixed = sync("UTC", full=True)
    assert report.updated == 1
    assert wrong is not None
    assert fixed is not None
    assert fixed - wrong == dt.timedelta(hours=8)


def test_a_pass_that_fails_after_its_windows_keeps_their_reading(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    double = LimeSurveyDouble(users={"admin": PASSWORD}, timezone=dt.UTC)
    double.add_survey(satisfaction_survey(SID, offices=TEST_OFFICES))
    [rid] = double.load_responses(SID, [answers(1)])
    with double.serve() as url:
        site = make_site(url).model_copy(update={"timezone": "Asia/Shanghai"})
        with make_client(site, attempts=1) as client:
            # the window is read and written; LimeSurvey goes away before the summary
            def gone(_sid: int) -> Any:
                raise TransientError("connection reset")

            client.summary = gone  # type: ignore[method-assign,assignment]
            with (
                caplog.at_level(logging.WARNING, logger="sync.pull"),
                pytest.raises(TransientError),
            ):
                run_pass(
                    engine,
                    client,
                    site,
                    make_binding(survey_id=SID),
                    make_catalogue(),
                    hinted={rid: dt.datetime.now(dt.UTC)},
                )
    with engine.connect() as conn:
        offset, zone = conn.execute(sa.select(SyncCursor.clock_offset, SyncCursor.clock_zone)).one()
    assert offset is not None
    assert abs(offset + 8 * 3600) < 60
    assert zone == "Asia/Shanghai"
    assert "probably UTC+00:00" in caplog.text


def test_the_same_zone_on_both_sides_is_measured_and_says_nothing(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="sync.pull"):
        report = sync_once(
            engine, limesurvey_zone=SHANGHAI, site_zone="Asia/Shanghai", webhook=True
        )
    assert report.inserted == 1
    assert report.clock_offset_s is not None
    assert abs(report.clock_offset_s) < 60
    assert not report.clock_wrong
    assert not [r for r in caplog.records if "timezone" in r.getMessage()]


def test_dates_in_the_future_are_named_without_a_webhook(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    # LimeSurvey in Shanghai, the site's config left at UTC: dates read 8 h ahead
    with caplog.at_level(logging.WARNING, logger="sync.pull"):
        report = sync_once(engine, limesurvey_zone=SHANGHAI, site_zone="UTC", webhook=False)
    assert report.clock_wrong
    assert report.clock_offset_s is not None
    assert abs(report.clock_offset_s - 8 * 3600) < 60
    [warning] = [r.getMessage() for r in caplog.records if "timezone" in r.getMessage()]
    assert "which is in the future" in warning
    # a date in the future bounds the offset from below only: no zone is named from it
    assert "LimeSurvey's dates run at least +8.00 h ahead of UTC" in warning
    assert "probably" not in warning


def test_dates_in_the_past_without_a_webhook_prove_nothing(engine: Engine) -> None:
    # the same misconfiguration as the first test, but no webhook: 8 h behind is
    # indistinguishable from a response completed 8 h ago, so no reading at all
    report = sync_once(engine, limesurvey_zone=dt.UTC, site_zone="Asia/Shanghai", webhook=False)
    assert report.inserted == 1
    assert report.clock_offset_s is None
    assert not report.clock_wrong


def test_no_date_recorded_is_not_a_reading(engine: Engine) -> None:
    # datestamp=N: LimeSurvey writes 1980-01-01 00:00:00, "completed, time unknown"
    report = sync_once(
        engine,
        limesurvey_zone=dt.UTC,
        site_zone="Asia/Shanghai",
        webhook=True,
        submitdate="1980-01-01 00:00:00",
    )
    assert report.inserted == 1
    assert report.clock_offset_s is None


NOW = dt.datetime(2026, 11, 26, 8, 0, tzinfo=dt.UTC)


def reading(minutes: float, *, webhook: bool = True) -> ClockReading:
    return ClockReading(1, NOW + dt.timedelta(minutes=minutes), NOW, by_webhook=webhook)


def test_the_tolerance_takes_drift_but_not_a_zone() -> None:
    tolerance = siteclock.TOLERANCE / dt.timedelta(minutes=1)
    assert not reading(tolerance).wrong
    assert not reading(-tolerance).wrong
    assert reading(tolerance + 1).wrong
    assert reading(-tolerance - 1).wrong
    # without a webhook only the future tells
    assert reading(tolerance + 1, webhook=False).wrong
    assert not reading(-600, webhook=False).wrong


def test_the_most_telling_reading_is_the_wrong_one_furthest_off() -> None:
    small, behind, ahead = reading(2), reading(-480), reading(60, webhook=False)
    assert most_telling([small, None, behind, ahead]) is behind
    assert most_telling([small, ahead]) is ahead
    assert most_telling([reading(1), small]) is small  # right, but measured
    assert most_telling([reading(-600, webhook=False), None]) is None


@pytest.mark.parametrize(
    ("zone", "minutes", "expected"),
    [
        ("Asia/Shanghai", -480, "UTC+00:00"),
        ("UTC", 480, "UTC+08:00"),
        ("UTC", 330, "UTC+05:30"),  # India
        ("Asia/Shanghai", -135, "UTC+05:45"),  # Nepal, read as Shanghai
        ("UTC", -300 + 3, "UTC-05:00"),  # a few minutes of drift on top
    ],
)
def test_the_warning_names_limesurvey_s_probable_offset(
    zone: str, minutes: float, expected: str
) -> None:
    text = siteclock.explain(reading(minutes), site="district", survey_id=1, zone=ZoneInfo(zone))
    assert f"probably {expected} " in text
    assert f"site's timezone {zone}," in text
    assert "restart the daemon" in text


def test_a_clock_that_is_minutes_off_is_not_called_a_timezone() -> None:
    text = siteclock.explain(reading(12), site="district", survey_id=1, zone=SHANGHAI)
    assert "That is not a timezone" in text
    assert "differ by about 12 minutes" in text
    assert "probably" not in text
    # minutes beside whole hours: a zone, and a clock besides
    text = siteclock.explain(reading(-480 + 7), site="district", survey_id=1, zone=SHANGHAI)
    assert "probably UTC+00:00" in text
    assert "the two clocks also differ by about 7 minutes" in text


def test_an_offset_beyond_any_timezone_points_at_the_time_difference() -> None:
    # LimeSurvey's server already in Shanghai, its 'Time difference' set to 8 as well
    text = siteclock.explain(reading(480), site="district", survey_id=1, zone=SHANGHAI)
    assert "No timezone is that far from UTC (UTC+16:00)" in text
    assert "'Time difference' global setting" in text
