"""Weekly maintenance windows: their occurrences start at a local wall-clock time, whatever DST does."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from exemptions.policy import occurrences

TORONTO = "America/Toronto"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)


def weekend_nights(
    between: tuple[datetime, datetime],
    *,
    at: time = time(2, 0),
    duration: timedelta = timedelta(hours=4),
    starts_at: datetime = YEAR_START,
    ends_at: datetime | None = None,
) -> list[tuple[datetime, datetime]]:
    return occurrences(
        days=["sat", "sun"],
        at=at,
        duration=duration,
        time_zone=TORONTO,
        starts_at=starts_at,
        ends_at=ends_at,
        between=between,
    )


def test_each_occurrence_starts_at_the_local_time_across_the_spring_change() -> None:
    # Sat 2026-03-07 02:00 EST = 07:00 UTC. Sun 2026-03-08 02:00 does not exist (02:00 EST becomes 03:00 EDT):
    # it resolves to the later reading, 07:00 UTC (03:00 EDT). From Sat 2026-03-14 on, 02:00 EDT = 06:00 UTC.
    assert weekend_nights((utc(2026, 3, 6), utc(2026, 3, 16))) == [
        (utc(2026, 3, 7, 7, 0), utc(2026, 3, 7, 11, 0)),
        (utc(2026, 3, 8, 7, 0), utc(2026, 3, 8, 11, 0)),
        (utc(2026, 3, 14, 6, 0), utc(2026, 3, 14, 10, 0)),
        (utc(2026, 3, 15, 6, 0), utc(2026, 3, 15, 10, 0)),
    ]


def test_a_start_time_repeated_by_the_autumn_change_resolves_to_the_second() -> None:
    # 01:30 on Sun 2026-11-01 happens at 05:30 UTC (EDT) and 06:30 UTC (EST): the later one.
    windows = weekend_nights((utc(2026, 10, 30), utc(2026, 11, 2)), at=time(1, 30), duration=timedelta(hours=2))
    assert windows == [
        (utc(2026, 10, 31, 5, 30), utc(2026, 10, 31, 7, 30)),  # Sat, EDT
        (utc(2026, 11, 1, 6, 30), utc(2026, 11, 1, 8, 30)),  # Sun, EST
    ]


def test_the_duration_is_elapsed_time_even_on_the_night_the_clocks_change() -> None:
    # 00:00 to 04:00 on Sun 2026-11-01 by elapsed time: 04:00 UTC to 08:00 UTC, which is 03:00 EST locally.
    windows = weekend_nights((utc(2026, 11, 1), utc(2026, 11, 2)), at=time(0, 0))
    assert windows == [(utc(2026, 11, 1, 4, 0), utc(2026, 11, 1, 8, 0))]


def test_only_occurrences_overlapping_the_interval_are_given() -> None:
    # Sat 2026-06-06 02:00-06:00 EDT is 06:00-10:00 UTC.
    assert weekend_nights((utc(2026, 6, 6, 9, 0), utc(2026, 6, 6, 9, 30))) == [
        (utc(2026, 6, 6, 6, 0), utc(2026, 6, 6, 10, 0))
    ]
    # A window ending exactly when the interval starts, or starting exactly when it ends, does not overlap it.
    assert weekend_nights((utc(2026, 6, 6, 10, 0), utc(2026, 6, 7, 6, 0))) == []


def test_no_occurrence_starts_before_the_recurrence_starts_or_after_it_ends() -> None:
    june = (utc(2026, 6, 1), utc(2026, 7, 1))
    everything = weekend_nights(june)
    assert len(everything) == 8  # four weekends in June 2026
    later = weekend_nights(june, starts_at=utc(2026, 6, 13, 6, 0))  # exactly Sat 2026-06-13's start
    assert later[0] == (utc(2026, 6, 13, 6, 0), utc(2026, 6, 13, 10, 0))
    assert len(later) == 6
    earlier = weekend_nights(june, ends_at=utc(2026, 6, 14, 6, 0))  # exactly Sun 2026-06-14's start: kept whole
    assert earlier[-1] == (utc(2026, 6, 14, 6, 0), utc(2026, 6, 14, 10, 0))
    assert len(earlier) == 4


def test_an_occurrence_that_started_before_the_interval_and_is_still_going_on_is_given() -> None:
    windows = weekend_nights(
        (utc(2026, 6, 6, 23, 0), utc(2026, 6, 7, 1, 0)), at=time(18, 0), duration=timedelta(hours=8)
    )
    assert windows == [(utc(2026, 6, 6, 22, 0), utc(2026, 6, 7, 6, 0))]


def test_day_names_may_be_written_in_full_and_in_any_case() -> None:
    windows = occurrences(
        days=["Monday", "WED"],
        at=time(21, 0),
        duration=timedelta(hours=1),
        time_zone="UTC",
        starts_at=utc(2026, 1, 1),
        ends_at=None,
        between=(utc(2026, 6, 8), utc(2026, 6, 14)),
    )
    assert windows == [
        (utc(2026, 6, 8, 21, 0), utc(2026, 6, 8, 22, 0)),
        (utc(2026, 6, 10, 21, 0), utc(2026, 6, 10, 22, 0)),
    ]


def test_an_unknown_day_name_is_refused() -> None:
    with pytest.raises(ValueError, match="'funday'"):
        occurrences(
            days=["funday"],
            at=time(2, 0),
            duration=timedelta(hours=1),
            time_zone=TORONTO,
            starts_at=utc(2026, 1, 1),
            ends_at=None,
            between=(utc(2026, 6, 1), utc(2026, 6, 8)),
        )


def test_times_without_a_zone_and_start_times_with_one_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        weekend_nights((datetime(2026, 6, 1), utc(2026, 6, 8)))
    with pytest.raises(ValueError, match="wall-clock"):
        weekend_nights((utc(2026, 6, 1), utc(2026, 6, 8)), at=time(2, 0, tzinfo=UTC))
