"""The calendar deadlines are counted in: business days, public holidays, and local wall-clock time.

Deadlines are legal instants but the policy speaks in local days ("the first business day after"),
so everything here converts between the two in a case's own time zone. Two hazards shape it:

- A local wall-clock time may not exist (spring forward) or exist twice (fall back). The policy
  resolves both to the LATER instant: a person is never given less time than the clock promised.
- The rules ask "is this a business day?" hundreds of thousands of times in one run, so holidays are
  loaded once per (calendar, year) into a plain dict of dates; zones and day boundaries are cached.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from exemptions.policy.model import CalendarSpec

END_OF_DAY = time(23, 59, 59)
MIDNIGHT = time(0, 0)
_TINY = timedelta(microseconds=1)


class BusinessCalendar:
    """Monday to Friday, less the holidays of one country (and subdivision), by category."""

    def __init__(self, spec: CalendarSpec) -> None:
        self.spec = spec
        self._years: dict[int, dict[date, str]] = {}
        # Built once with no years, so an unknown country, subdivision or category fails here, at
        # configuration time, and not in the middle of a relief run.
        try:
            self._holidays(())
        except (NotImplementedError, ValueError, KeyError, AttributeError) as error:
            raise ValueError(
                f"unknown holiday calendar: country {spec.country!r}, subdivision {spec.subdivision!r}, "
                f"categories {', '.join(spec.categories) or '(none)'}: {error}"
            ) from error

    def _holidays(self, years: tuple[int, ...]) -> holidays.HolidayBase:
        return holidays.country_holidays(
            self.spec.country, subdiv=self.spec.subdivision, years=years, categories=self.spec.categories
        )

    def _year(self, year: int) -> dict[date, str]:
        names = self._years.get(year)
        if names is None:
            # A plain dict of dates: the library's own mapping parses keys and may load more years on
            # lookup, far too slow for the hot path. Several holidays on one day keep all their names.
            names = dict(self._holidays((year,)).items())
            self._years[year] = names
        return names

    def is_business_day(self, day: date) -> bool:
        if day.weekday() >= 5:
            return False
        names = self._years.get(day.year)
        if names is None:
            names = self._year(day.year)
        return day not in names

    def holiday_name(self, day: date) -> str | None:
        """The holiday's name, also when it falls on a weekend; None on an ordinary day."""
        return self._year(day.year).get(day)

    def nth_business_day_after(self, day: date, n: int) -> date:
        """The n-th business day strictly after `day`; `day` itself when n is 0."""
        while n > 0:
            day += timedelta(days=1)
            if self.is_business_day(day):
                n -= 1
        return day

    def __repr__(self) -> str:
        return f"BusinessCalendar({self.spec!r})"


@lru_cache(maxsize=64)
def business_calendar(spec: CalendarSpec) -> BusinessCalendar:
    """The calendar of `spec`, shared: its holiday tables are filled once per year for the whole process."""
    return BusinessCalendar(spec)


# --- local time ---------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=65536)
def wall_clock(day: date, at: time, zone_name: str) -> datetime:
    """The UTC instant of local `day` at `at` in the zone; a skipped or repeated clock time gives the later one."""
    tz = zone(zone_name)
    # In a gap, fold=0 reads the time with the offset before the change, which is the later instant;
    # in an overlap fold=1 is the second occurrence. max() picks the later in both cases.
    first = datetime.combine(day, at, tzinfo=tz).astimezone(UTC)
    second = datetime.combine(day, at, tzinfo=tz).replace(fold=1).astimezone(UTC)
    return max(first, second)


@lru_cache(maxsize=65536)
def day_start(day: date, zone_name: str) -> datetime:
    """The first instant (UTC) of local `day`: local days partition time as [day_start(d), day_start(d + 1))."""
    tz = zone(zone_name)
    candidates = []
    for fold in (0, 1):
        instant = datetime.combine(day, MIDNIGHT, tzinfo=tz).replace(fold=fold).astimezone(UTC)
        local = instant.astimezone(tz)
        if local.date() == day and local.time() == MIDNIGHT:
            candidates.append(instant)
    # Midnight repeated: the day began at its first occurrence. Midnight skipped (a change at 00:00):
    # the day begins at the change, which is what the later reading gives.
    return min(candidates) if candidates else wall_clock(day, MIDNIGHT, zone_name)


def day_end(day: date, zone_name: str) -> datetime:
    """The first instant (UTC) after local `day`."""
    return day_start(day + timedelta(days=1), zone_name)


def end_of_day(day: date, zone_name: str) -> datetime:
    """23:59:59 local on `day`, the time every day-based extension runs to."""
    return wall_clock(day, END_OF_DAY, zone_name)


def as_utc(value: datetime, what: str) -> datetime:
    """`value` in UTC; a naive datetime is refused, since nobody could tell which instant it meant."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime, not {value!r}")
    return value.astimezone(UTC)


def local_day(instant: datetime, zone_name: str) -> date:
    return instant.astimezone(zone(zone_name)).date()


def deadline_day(deadline: datetime, zone_name: str) -> date:
    """The local day a deadline belongs to: that of its last instant before, so 00:00 belongs to the day before."""
    return (deadline - _TINY).astimezone(zone(zone_name)).date()


def deadline_clock(deadline: datetime, zone_name: str) -> tuple[time, int]:
    """The deadline's local clock time, and 1 when that clock reads on the day after the deadline's day.

    A deadline at 00:00 is "24:00" of the day before: the same clock on another day X is then
    00:00 of X + 1, which `same_clock_on` builds from the pair.
    """
    local = deadline.astimezone(zone(zone_name))
    return local.time().replace(fold=0), (local.date() - deadline_day(deadline, zone_name)).days


def same_clock_on(day: date, clock: tuple[time, int], zone_name: str) -> datetime:
    at, carry = clock
    return wall_clock(day + timedelta(days=carry), at, zone_name)


@lru_cache(maxsize=4096)
def format_day(day: date) -> str:
    return day.strftime("%a %Y-%m-%d")


def format_clock(clock: tuple[time, int]) -> str:
    at, carry = clock
    if carry:
        return "24:00"
    return at.strftime("%H:%M:%S" if at.second or at.microsecond else "%H:%M")
