"""Weekly recurring maintenance, unrolled into the occurrences a relief decision reads.

A recurring window is configured as people read it: "Saturdays and Sundays at 02:00 Toronto time,
for four hours". Each occurrence starts at that local wall-clock time, so across a DST change it
moves in UTC; a start time the change skips or repeats resolves to the later instant, as everywhere
in the policy. The duration is elapsed time: a four-hour window is four hours even on the night the
clocks change.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta

from exemptions.policy.calendar import as_utc, local_day, wall_clock, zone

_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAYS = {name: number for number, full in enumerate(_FULL_NAMES) for name in (full, full[:3])}


def weekday_number(name: str) -> int:
    """0 for Monday … 6 for Sunday, from "mon" or "monday" in any case."""
    number = _WEEKDAYS.get(name.strip().lower())
    if number is None:
        raise ValueError(f"unknown day of the week {name!r}: use mon, tue, wed, thu, fri, sat or sun")
    return number


def occurrences(
    *,
    days: Sequence[str],
    at: time,
    duration: timedelta,
    time_zone: str,
    starts_at: datetime,
    ends_at: datetime | None,
    between: tuple[datetime, datetime],
) -> list[tuple[datetime, datetime]]:
    """The (start, end) UTC windows that overlap `between` (share a moment with its open interior), by start.

    No occurrence starts before `starts_at` or after `ends_at`; one that starts before `ends_at` is
    kept whole.
    """
    if at.tzinfo is not None:
        raise ValueError("the maintenance start time is a local wall-clock time: give it without a time zone")
    if duration < timedelta(0):
        raise ValueError(f"a maintenance window cannot last a negative time ({duration})")
    weekdays = {weekday_number(day) for day in days}
    zone(time_zone)
    low, high = as_utc(between[0], "between start"), as_utc(between[1], "between end")
    starts_at = as_utc(starts_at, "starts_at")
    ends_at = None if ends_at is None else as_utc(ends_at, "ends_at")
    first = max(starts_at, low - duration)
    last = high if ends_at is None else min(high, ends_at)
    found: list[tuple[datetime, datetime]] = []
    if not weekdays or first > last:
        return found
    # One local day of margin each side: the zone's offset moves a start across a UTC date line.
    day = local_day(first, time_zone) - timedelta(days=1)
    final = local_day(last, time_zone) + timedelta(days=1)
    while day <= final:
        if day.weekday() in weekdays:
            start = wall_clock(day, at, time_zone)
            end = start + duration
            if start >= starts_at and (ends_at is None or start <= ends_at) and start < high and end > low:
                found.append((start, end))
        day += timedelta(days=1)
    return found
