"""The relief rule as pure functions: which deadlines an outage covers and until when they are extended."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from exemptions.policy import ReliefWindow, extended_deadline, relief_window


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# --- extended_deadline: end of the local day, grace_days after the window end ------------------


def test_a_toronto_case_gets_until_the_end_of_the_day_seven_days_after_the_outage() -> None:
    # The outage ended at 11:00 EDT on 10 June; seven days later, 23:59:59 EDT.
    new = extended_deadline(utc(2026, 6, 10, 15, 0), "America/Toronto", 7)
    assert new == utc(2026, 6, 18, 3, 59, 59)
    local = new.astimezone(ZoneInfo("America/Toronto"))
    assert (local.year, local.month, local.day, local.hour, local.minute, local.second) == (2026, 6, 17, 23, 59, 59)
    assert new.utcoffset() is not None


def test_the_local_day_is_counted_in_the_case_zone_not_in_utc_or_toronto() -> None:
    # 20:00 UTC on 10 June is still 10 June in Toronto (16:00 EDT) but already 11 June in Kolkata (01:30 IST).
    end = utc(2026, 6, 10, 20, 0)
    assert extended_deadline(end, "America/Toronto", 7) == utc(2026, 6, 18, 3, 59, 59)  # 17 June 23:59:59 EDT
    assert extended_deadline(end, "Asia/Kolkata", 7) == utc(2026, 6, 18, 18, 29, 59)  # 18 June 23:59:59 IST


def test_a_grace_period_across_the_autumn_dst_change_ends_at_local_midnight_in_standard_time() -> None:
    # Ends 31 October 2026 at 12:00 EDT; clocks fall back on 1 November; 7 November 23:59:59 EST.
    new = extended_deadline(utc(2026, 10, 31, 16, 0), "America/Toronto", 7)
    assert new == utc(2026, 11, 8, 4, 59, 59)
    assert new.utcoffset() == timedelta(hours=-5)


def test_a_grace_period_across_the_spring_dst_change_ends_at_local_midnight_in_daylight_time() -> None:
    # Ends 5 March 2026 at 12:00 EST; clocks spring forward on 8 March; 12 March 23:59:59 EDT.
    new = extended_deadline(utc(2026, 3, 5, 17, 0), "America/Toronto", 7)
    assert new == utc(2026, 3, 13, 3, 59, 59)
    assert new.utcoffset() == timedelta(hours=-4)


def test_a_half_hour_offset_zone_gets_its_own_end_of_day() -> None:
    # St. John's is UTC-2:30 in June (NDT): 10 June 09:30 local, three days later 13 June 23:59:59 NDT.
    new = extended_deadline(utc(2026, 6, 10, 12, 0), "America/St_Johns", 3)
    assert new == utc(2026, 6, 14, 2, 29, 59)


def test_a_half_hour_offset_zone_in_winter() -> None:
    # UTC-3:30 in January (NST).
    new = extended_deadline(utc(2026, 1, 10, 12, 0), "America/St_Johns", 1)
    assert new == utc(2026, 1, 12, 3, 29, 59)


def test_zero_grace_days_extends_to_the_end_of_the_day_the_outage_ended() -> None:
    assert extended_deadline(utc(2026, 6, 10, 15, 0), "America/Toronto", 0) == utc(2026, 6, 11, 3, 59, 59)


def test_zero_grace_days_late_in_the_local_evening_is_still_that_local_day() -> None:
    # 03:30 UTC on 11 June is 23:30 EDT on 10 June.
    assert extended_deadline(utc(2026, 6, 11, 3, 30), "America/Toronto", 0) == utc(2026, 6, 11, 3, 59, 59)


def test_a_window_end_given_in_another_offset_means_the_same_instant() -> None:
    eastern = datetime(2026, 6, 10, 11, 0, tzinfo=ZoneInfo("America/Toronto"))
    assert extended_deadline(eastern, "America/Toronto", 7) == extended_deadline(
        eastern.astimezone(UTC), "America/Toronto", 7
    )


# --- relief_window: whose deadline an outage covers --------------------------------------------

STARTED = utc(2026, 6, 10, 14, 0)
LAST_OK = utc(2026, 6, 10, 13, 55)
ENDED = utc(2026, 6, 10, 18, 30)
LAST_FAILED = utc(2026, 6, 10, 18, 29)  # the last failed check before the portal came back
MICRO = timedelta(microseconds=1)


def test_an_ended_outage_covers_from_the_last_success_to_the_first_success_after_it() -> None:
    window = relief_window(started_at=STARTED, last_ok_at=LAST_OK, ended_at=ENDED, last_failed_at=LAST_FAILED)
    assert window == ReliefWindow(start=LAST_OK, end=ENDED, final=True)


@pytest.mark.parametrize(
    ("deadline", "covered"),
    [
        (LAST_OK - MICRO, False),
        (LAST_OK, True),
        (STARTED, True),
        (ENDED, True),
        (ENDED + MICRO, False),
    ],
    ids=["1us-before-last-ok", "at-last-ok", "at-first-failure", "at-recovery", "1us-after-recovery"],
)
def test_both_ends_of_the_window_are_included(deadline: datetime, covered: bool) -> None:
    window = relief_window(started_at=STARTED, last_ok_at=LAST_OK, ended_at=ENDED, last_failed_at=LAST_FAILED)
    assert window.covers(deadline) is covered


def test_without_any_success_before_the_outage_the_window_starts_at_the_first_failure() -> None:
    window = relief_window(started_at=STARTED, last_ok_at=None, ended_at=ENDED, last_failed_at=LAST_FAILED)
    assert window.start == STARTED
    assert window.covers(STARTED)
    assert not window.covers(STARTED - MICRO)


def test_an_open_outage_runs_to_its_last_failed_check_not_to_now_and_is_not_final() -> None:
    window = relief_window(started_at=STARTED, last_ok_at=LAST_OK, ended_at=None, last_failed_at=LAST_FAILED)
    assert window == ReliefWindow(start=LAST_OK, end=LAST_FAILED, final=False)
    assert window.covers(LAST_FAILED)
    assert not window.covers(LAST_FAILED + MICRO)


def test_an_open_outage_with_no_failure_recorded_after_its_start_covers_up_to_its_start() -> None:
    window = relief_window(started_at=STARTED, last_ok_at=LAST_OK, ended_at=None, last_failed_at=None)
    assert window == ReliefWindow(start=LAST_OK, end=STARTED, final=False)


def test_an_open_outage_window_never_ends_before_it_starts() -> None:
    # A clock that stepped back between the last success and the failures must not make an inverted window.
    early = LAST_OK - timedelta(minutes=1)
    window = relief_window(started_at=early, last_ok_at=LAST_OK, ended_at=None, last_failed_at=early)
    assert window.start == LAST_OK
    assert window.end == LAST_OK
    assert not window.final


def test_an_ended_outage_window_never_ends_before_it_starts() -> None:
    window = relief_window(started_at=STARTED, last_ok_at=LAST_OK, ended_at=LAST_OK - MICRO, last_failed_at=None)
    assert window.end == LAST_OK
    assert window.final
