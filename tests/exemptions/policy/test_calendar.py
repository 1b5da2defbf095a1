"""Business days, holidays and local wall-clock time: the calendar deadlines are counted in."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import holidays
import pytest

from exemptions.policy import BusinessCalendar, CalendarSpec, business_calendar
from exemptions.policy.calendar import (
    day_end,
    day_start,
    deadline_clock,
    deadline_day,
    end_of_day,
    format_clock,
    same_clock_on,
    wall_clock,
)

FEDERAL = business_calendar(CalendarSpec())
TORONTO = "America/Toronto"


@pytest.mark.parametrize(
    ("day", "name"),
    [
        (date(2026, 1, 1), "New Year's Day"),  # Thu
        (date(2026, 4, 3), "Good Friday"),
        (date(2026, 5, 18), "Victoria Day"),  # Mon
        (date(2026, 7, 1), "Canada Day"),  # Wed
        (date(2026, 9, 7), "Labor Day"),  # Mon
        (date(2026, 9, 30), "National Day for Truth and Reconciliation"),  # Wed
        (date(2026, 10, 12), "Thanksgiving Day"),  # Mon
        (date(2026, 11, 11), "Remembrance Day"),  # Wed
        (date(2026, 12, 25), "Christmas Day"),  # Fri
        (date(2026, 12, 28), "Boxing Day (observed)"),  # Mon: Boxing Day is a Saturday
    ],
)
def test_federal_holidays_are_not_business_days(day: date, name: str) -> None:
    assert not FEDERAL.is_business_day(day)
    assert FEDERAL.holiday_name(day) == name


def test_weekends_are_not_business_days_and_ordinary_weekdays_are() -> None:
    assert not FEDERAL.is_business_day(date(2026, 6, 6))  # Sat
    assert not FEDERAL.is_business_day(date(2026, 6, 7))  # Sun
    assert FEDERAL.is_business_day(date(2026, 6, 8))  # Mon
    assert FEDERAL.is_business_day(date(2026, 6, 12))  # Fri
    assert FEDERAL.holiday_name(date(2026, 6, 8)) is None


def test_a_holiday_on_a_weekend_keeps_its_name() -> None:
    assert FEDERAL.holiday_name(date(2026, 12, 26)) == "Boxing Day"  # Sat


def test_the_public_holidays_alone_do_not_observe_boxing_day_on_monday() -> None:
    public = business_calendar(CalendarSpec(categories=("public",)))
    assert public.is_business_day(date(2026, 12, 28))
    assert not public.is_business_day(date(2026, 12, 25))


def test_a_province_adds_its_own_holidays() -> None:
    ontario = business_calendar(CalendarSpec(subdivision="ON"))
    assert not ontario.is_business_day(date(2026, 2, 16))  # Family Day, Mon
    assert FEDERAL.is_business_day(date(2026, 2, 16))


def test_holidays_are_known_in_later_years_too() -> None:
    assert FEDERAL.holiday_name(date(2027, 12, 27)) == "Christmas Day (observed)"  # Mon; Christmas is a Saturday
    assert not FEDERAL.is_business_day(date(2027, 12, 28))  # Boxing Day (observed)
    assert FEDERAL.is_business_day(date(2027, 12, 29))


def test_the_n_th_business_day_after_skips_weekends_and_holidays() -> None:
    assert FEDERAL.nth_business_day_after(date(2026, 6, 5), 2) == date(2026, 6, 9)  # Fri → Tue
    assert FEDERAL.nth_business_day_after(date(2026, 5, 15), 2) == date(2026, 5, 20)  # Victoria Day Monday
    assert FEDERAL.nth_business_day_after(date(2026, 6, 6), 0) == date(2026, 6, 6)


def test_a_calendar_is_built_once_per_spec() -> None:
    assert business_calendar(CalendarSpec()) is FEDERAL
    assert business_calendar(CalendarSpec("CA", None, ("public", "government"))) is FEDERAL
    assert business_calendar(CalendarSpec(subdivision="QC")) is not FEDERAL


def test_holidays_are_loaded_once_per_year_however_often_they_are_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[object] = []
    real = holidays.country_holidays

    def counting(*args: object, **kwargs: object) -> holidays.HolidayBase:
        loads.append(kwargs.get("years"))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(holidays, "country_holidays", counting)
    calendar = BusinessCalendar(CalendarSpec())
    start = date(2031, 1, 1)
    for _ in range(3):
        for offset in range(730):
            calendar.is_business_day(start + timedelta(days=offset))
    assert loads == [(), (2031,), (2032,)]  # the check at construction, then each year once


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        (CalendarSpec(country="XX"), "'XX'"),
        (CalendarSpec(subdivision="ZZ"), "'ZZ'"),
        (CalendarSpec(categories=("bank-ish",)), "bank-ish"),
    ],
)
def test_an_unknown_calendar_is_refused_naming_what_is_wrong(spec: CalendarSpec, named: str) -> None:
    with pytest.raises(ValueError, match="unknown holiday calendar") as refused:
        business_calendar(spec)
    assert named in str(refused.value)


# --- Local wall-clock time ------------------------------------------------------------------------


def test_a_clock_time_skipped_by_the_spring_change_resolves_to_the_later_instant() -> None:
    # Toronto, Sun 2026-03-08: 02:00 EST jumps to 03:00 EDT. 02:30 is read at the old offset: 07:30 UTC,
    # which is 03:30 EDT; the other reading (06:30 UTC) would be earlier.
    assert wall_clock(date(2026, 3, 8), time(2, 30), TORONTO) == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)


def test_a_clock_time_repeated_by_the_autumn_change_resolves_to_the_second() -> None:
    # Toronto, Sun 2026-11-01: 01:30 happens at 05:30 UTC (EDT) and again at 06:30 UTC (EST).
    assert wall_clock(date(2026, 11, 1), time(1, 30), TORONTO) == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)


def test_the_end_of_a_day_is_23_59_59_local() -> None:
    assert end_of_day(date(2026, 6, 9), TORONTO) == datetime(2026, 6, 10, 3, 59, 59, tzinfo=UTC)
    assert end_of_day(date(2026, 1, 9), TORONTO) == datetime(2026, 1, 10, 4, 59, 59, tzinfo=UTC)


def test_local_days_on_the_dst_changes_are_23_and_25_hours_long() -> None:
    assert day_end(date(2026, 3, 8), TORONTO) - day_start(date(2026, 3, 8), TORONTO) == timedelta(hours=23)
    assert day_end(date(2026, 11, 1), TORONTO) - day_start(date(2026, 11, 1), TORONTO) == timedelta(hours=25)
    assert day_start(date(2026, 11, 1), TORONTO) == datetime(2026, 11, 1, 4, 0, tzinfo=UTC)


def test_a_day_whose_midnight_is_skipped_starts_at_the_change() -> None:
    # Santiago springs forward at 00:00 on Sun 2026-09-06: the day starts at 01:00 local, 04:00 UTC.
    santiago = "America/Santiago"
    assert day_start(date(2026, 9, 6), santiago) == datetime(2026, 9, 6, 4, 0, tzinfo=UTC)
    assert day_end(date(2026, 9, 5), santiago) == datetime(2026, 9, 6, 4, 0, tzinfo=UTC)


def test_a_deadline_at_midnight_belongs_to_the_day_before_and_reads_24_00() -> None:
    midnight = datetime(2026, 6, 9, 4, 0, tzinfo=UTC)  # Tue 00:00 EDT
    assert deadline_day(midnight, TORONTO) == date(2026, 6, 8)
    clock = deadline_clock(midnight, TORONTO)
    assert format_clock(clock) == "24:00"
    assert same_clock_on(date(2026, 6, 10), clock, TORONTO) == datetime(2026, 6, 11, 4, 0, tzinfo=UTC)


def test_a_deadline_one_second_after_midnight_belongs_to_its_own_day() -> None:
    deadline = datetime(2026, 6, 9, 4, 0, 1, tzinfo=UTC)
    assert deadline_day(deadline, TORONTO) == date(2026, 6, 9)
    assert format_clock(deadline_clock(deadline, TORONTO)) == "00:00:01"
