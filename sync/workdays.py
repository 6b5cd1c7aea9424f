"""Working days: rectification deadlines ("15 working days") on the mainland calendar.

A day is a working day when it is Monday to Friday and not a listed public holiday, or
when it is a weekend day the State Council's schedule makes a working day (调休, e.g. the
Sunday before the National Day week). Both lists come from the campaign file, so a
deadline is reproducible from what is written there, year after year.

"N working days after D" counts from the day after D: the deadline is the N-th working
day that follows D (D itself never counts, whatever it is), and the item is due by the
end of that day.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class WorkCalendar:
    """Weekends off, ``holidays`` off, ``extra_workdays`` (调休 weekends) on."""

    holidays: frozenset[date] = field(default_factory=frozenset)
    extra_workdays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        both = self.holidays & self.extra_workdays
        if both:
            days = ", ".join(d.isoformat() for d in sorted(both))
            raise ValueError(f"a day cannot be both a holiday and a working day: {days}")

    @classmethod
    def of(cls, holidays: Iterable[date] = (), extra_workdays: Iterable[date] = ()) -> WorkCalendar:
        return cls(frozenset(holidays), frozenset(extra_workdays))

    def is_workday(self, day: date) -> bool:
        if day in self.extra_workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def add_working_days(self, start: date, days: int) -> date:
        """The ``days``-th working day after ``start`` (``days`` >= 0; 0 gives ``start``)."""
        if days < 0:
            raise ValueError(f"working days must be >= 0, not {days}")
        current = start
        left = days
        while left:
            current += _ONE_DAY
            if self.is_workday(current):
                left -= 1
        return current

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]: how far ``end`` is past ``start``, in working days.

        Negative when ``end`` is before ``start`` (working days in (end, start])."""
        if end < start:
            return -self.working_days_between(end, start)
        count = 0
        current = start
        while current < end:
            current += _ONE_DAY
            if self.is_workday(current):
                count += 1
        return count


def deadline(start: date, days: int, calendar: WorkCalendar | None = None) -> date:
    """Shorthand for ``calendar.add_working_days(start, days)`` (plain weekends if none)."""
    return (calendar or WorkCalendar()).add_working_days(start, days)
