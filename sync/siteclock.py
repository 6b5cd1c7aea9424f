"""Does the site's ``timezone`` in pingyi.toml match the clock LimeSurvey writes by?

LimeSurvey stores a response's submit date as its server's local time, with no offset
(FACTS.md); ``limesurvey.parse_site_time`` reads it in the site's configured timezone.
If the two differ (the usual case: LimeSurvey in a container whose PHP runs in UTC,
pingyi.toml left at Asia/Shanghai), every date the records keep is off by whole hours,
and with them the rectification deadlines, which count working days from the submit
date. Nothing else would say so: the rows look fine.

Two readings tell, both pure functions of what a pass has read:

- a completion webhook arrives within a second of the submit (the plugin sends it as
  the respondent's last page goes out): the response's submit date, as read, should
  be within ``TOLERANCE`` of the moment the webhook was heard;
- no submit date can lie in the future (which bounds the offset from below only: the
  response may be hours old, so no zone is named from it).

The warning (``explain``) names the zone LimeSurvey's dates are probably in from a
webhook reading, to the quarter hour; an offset under an hour is clocks that differ.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sync.map import Mapped

#: clocks further apart than this are a misconfiguration, not NTP drift or a slow pass
TOLERANCE = timedelta(minutes=10)


def off(seconds: float | None) -> bool:
    """Is a kept offset (a pass's, or the cursor's) beyond ``TOLERANCE``? For a reading
    ``most_telling`` kept this is ``ClockReading.wrong``: it keeps a future-date reading
    only when that is wrong."""
    return seconds is not None and abs(seconds) > TOLERANCE.total_seconds()


@dataclass(frozen=True)
class ClockReading:
    """One response's submit date, as read, against when it was known to be complete."""

    response_id: int
    submitted_at: datetime  # UTC, read in the site's configured timezone
    reference: datetime  # UTC: when its webhook was heard, or the pass's clock
    by_webhook: bool

    @property
    def offset(self) -> timedelta:
        """How far LimeSurvey's dates, as read, run ahead (+) or behind (-)."""
        return self.submitted_at - self.reference

    @property
    def wrong(self) -> bool:
        if self.by_webhook:
            return abs(self.offset) > TOLERANCE
        return self.offset > TOLERANCE


def read_clock(
    mapped: Iterable[Mapped], heard: Mapping[int, datetime], now: datetime
) -> ClockReading | None:
    """The most telling reading among ``mapped`` (``most_telling``), None when there is
    nothing to compare with: no webhook-heard response and no submit date in the future.

    ``heard``: response id -> when its completion webhook arrived (UTC)."""
    found: list[ClockReading] = []
    latest: datetime | None = None
    latest_id = 0
    for m in mapped:  # (a pass's every response: plain comparisons, no objects)
        r = m.response
        when = r.submitted_at
        if when is None or r.time_unknown:
            continue
        if latest is None or when > latest:
            latest, latest_id = when, r.response_id
        at = heard.get(r.response_id) if heard else None
        if at is not None:
            found.append(ClockReading(r.response_id, when, at, by_webhook=True))
    if latest is not None:
        found.append(ClockReading(latest_id, latest, now, by_webhook=False))
    return most_telling(found)


def most_telling(readings: Iterable[ClockReading | None]) -> ClockReading | None:
    """A wrong reading before a right one, the furthest off first; a future-date check
    that found nothing wrong says nothing (a submit date in the past proves nothing)."""
    best: ClockReading | None = None
    for reading in readings:
        if reading is None or not (reading.by_webhook or reading.wrong):
            continue
        if best is None or (reading.wrong, abs(reading.offset)) > (best.wrong, abs(best.offset)):
            best = reading
    return best


#: timezones are whole quarter hours apart (nearly all whole hours); an offset of less
#: than an hour is taken for a clock that is wrong, and more than SKEW beside the nearest
#: quarter hour is named as such too
QUARTER = timedelta(minutes=15)
SKEW = timedelta(minutes=3)
#: no timezone is further from UTC than this (Pacific/Kiritimati, UTC+14)
FURTHEST = timedelta(hours=14)


def _utc_offset(delta: timedelta) -> str:
    minutes = round(delta.total_seconds() / 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def explain(reading: ClockReading, *, site: str, survey_id: int, zone: ZoneInfo) -> str:
    """The warning for a wrong reading: what was seen, what it means, what to change.

    Only a webhook reading measures the offset; a date in the future only bounds it from
    below (the response may be hours old), so no zone is named from one. An offset under
    an hour is a wrong clock."""
    hours = reading.offset.total_seconds() / 3600
    at = f"{reading.submitted_at:%Y-%m-%d %H:%M:%S} UTC as read in the site's timezone {zone.key}"
    fix = (
        f"Set `timezone` of site {site} in pingyi.toml to LimeSurvey's and restart the "
        "daemon: submit dates, lags and rectification deadlines depend on it "
        "(docs/status-and-errors.md)"
    )
    head = f"site {site} survey {survey_id}: response {reading.response_id} was submitted at {at}"
    if not reading.by_webhook:
        return (
            f"{head}, which is in the future (read at {reading.reference:%Y-%m-%d %H:%M:%S} "
            f"UTC): LimeSurvey's dates run at least {hours:+.2f} h ahead of {zone.key}. "
            "LimeSurvey writes them in a timezone further east (its server's PHP "
            "date.timezone plus the 'Time difference' of its global settings), or its clock "
            f"is wrong. {fix}"
        )
    head += (
        f", but its completion webhook came at {reading.reference:%Y-%m-%d %H:%M:%S} UTC: "
        f"{hours:+.2f} h"
    )
    if abs(reading.offset) < timedelta(hours=1):
        return (
            f"{head}. That is not a timezone: the clocks of LimeSurvey's server and this "
            f"machine differ by about {abs(reading.offset.total_seconds()) / 60:.0f} minutes. "
            "Set both right (NTP); dates, lags and rectification deadlines are read from them"
        )
    quarters = round(reading.offset / QUARTER)
    rest = abs(reading.offset - quarters * QUARTER)
    besides = (
        f"; the two clocks also differ by about {rest.total_seconds() / 60:.0f} minutes (NTP)"
        if rest > SKEW
        else ""
    )
    configured = reading.submitted_at.astimezone(zone).utcoffset() or timedelta()
    theirs = configured + quarters * QUARTER
    if abs(theirs) > FURTHEST:
        return (
            f"{head}. No timezone is that far from UTC ({_utc_offset(theirs)}): LimeSurvey's "
            "'Time difference' global setting probably shifts dates its server already writes "
            f"in local time; set it to 0{besides}. {fix}"
        )
    return (
        f"{head}. LimeSurvey writes its dates in another timezone, probably "
        f"{_utc_offset(theirs)} (its server's PHP date.timezone plus the 'Time difference' "
        f"of its global settings), or one of the two clocks is wrong{besides}. {fix}"
    )
