"""Working-day deadlines, checked by hand against the 2022 National Day schedule:
10月1日至7日放假调休, 10月8日(星期六)、10月9日(星期日)上班."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.workdays import WorkCalendar, deadline

NATIONAL_DAY_2022 = WorkCalendar.of(
    holidays=[date(2022, 10, d) for d in range(1, 8)],
    extra_workdays=[date(2022, 10, 8), date(2022, 10, 9)],
)


def test_plain_weekends() -> None:
    # Friday + 1 working day = Monday; + 5 = next Friday
    assert deadline(date(2022, 9, 2), 1) == date(2022, 9, 5)
    assert deadline(date(2022, 9, 2), 5) == date(2022, 9, 9)
    # the start day never counts, even a Saturday
    assert deadline(date(2022, 9, 3), 1) == date(2022, 9, 5)
    assert deadline(date(2022, 9, 3), 0) == date(2022, 9, 3)


def test_across_national_day_with_tiaoxiu_weekend() -> None:
    # Fri 30 Sep + 5: Sat 8 Oct (1), Sun 9 (2), Mon 10 (3), Tue 11 (4), Wed 12 (5)
    assert NATIONAL_DAY_2022.add_working_days(date(2022, 9, 30), 5) == date(2022, 10, 12)
    # without the calendar it would land inside the holiday
    assert deadline(date(2022, 9, 30), 5) == date(2022, 10, 7)
    # Wed 28 Sep + 15: 29, 30, 8, 9, 10, 11, 12, 13, 14, 17, 18, 19, 20, 21, 24 Oct
    assert NATIONAL_DAY_2022.add_working_days(date(2022, 9, 28), 15) == date(2022, 10, 24)


def test_is_workday() -> None:
    assert not NATIONAL_DAY_2022.is_workday(date(2022, 10, 3))  # Monday, holiday
    assert NATIONAL_DAY_2022.is_workday(date(2022, 10, 8))  # Saturday, 调休
    assert not NATIONAL_DAY_2022.is_workday(date(2022, 10, 15))  # ordinary Saturday
    assert NATIONAL_DAY_2022.is_workday(date(2022, 10, 14))


def test_working_days_between() -> None:
    assert NATIONAL_DAY_2022.working_days_between(date(2022, 9, 30), date(2022, 10, 12)) == 5
    assert NATIONAL_DAY_2022.working_days_between(date(2022, 10, 12), date(2022, 9, 30)) == -5
    assert NATIONAL_DAY_2022.working_days_between(date(2022, 10, 1), date(2022, 10, 7)) == 0


def test_bad_input() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        deadline(date(2022, 1, 1), -1)
    with pytest.raises(ValueError, match="both a holiday and a working day: 2022-10-08"):
        WorkCalendar.of(holidays=[date(2022, 10, 8)], extra_workdays=[date(2022, 10, 8)])


@given(
    start=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 1, 1)),
    days=st.integers(min_value=0, max_value=40),
    offsets=st.sets(st.integers(min_value=0, max_value=60), max_size=15),
)
def test_deadline_is_nth_workday(start: date, days: int, offsets: set[int]) -> None:
    marked = [start + timedelta(days=o) for o in offsets]
    holidays = {d for d in marked if d.weekday() < 5}
    extra = {d for d in marked if d.weekday() >= 5}
    cal = WorkCalendar.of(holidays, extra)
    end = cal.add_working_days(start, days)
    # independent count: enumerate the days after start, keep working ones
    after = [start + timedelta(days=i) for i in range(1, 200)]
    workdays = [d for d in after if d in extra or (d.weekday() < 5 and d not in holidays)]
    assert end == (workdays[days - 1] if days else start)
    assert cal.working_days_between(start, end) == days
