"""Noticing that nobody is watching: when a component becomes `unknown`, and since when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.detection.staleness import Stream, watch_state
from monitor.storage.enums import WatchState

T0 = datetime(2026, 6, 10, 14, 0, tzinfo=UTC)
INTERVAL = timedelta(seconds=30)


def stream(last_check_seconds: float | None, *, since_seconds: float = 0) -> Stream:
    last = None if last_check_seconds is None else T0 + timedelta(seconds=last_check_seconds)
    return Stream(last_check_at=last, active_since=T0 + timedelta(seconds=since_seconds), interval=INTERVAL)


def test_a_component_checked_within_three_intervals_is_watched() -> None:
    assert watch_state([stream(0)], T0 + timedelta(seconds=90)).state == WatchState.WATCHED


def test_a_component_with_no_check_for_more_than_three_intervals_is_unknown_since_its_last_check() -> None:
    watch = watch_state([stream(0)], T0 + timedelta(seconds=91))
    assert watch.state == WatchState.UNKNOWN
    assert watch.since == T0


def test_one_stream_still_arriving_keeps_the_component_watched() -> None:
    # Two locations: one worker died, the other still checks.
    assert watch_state([stream(0), stream(100)], T0 + timedelta(seconds=120)).state == WatchState.WATCHED


def test_unknown_since_is_the_latest_check_any_stream_saw() -> None:
    watch = watch_state([stream(0), stream(20)], T0 + timedelta(seconds=300))
    assert watch == watch.__class__(WatchState.UNKNOWN, T0 + timedelta(seconds=20))


def test_a_newly_configured_probe_has_a_minute_to_send_its_first_check() -> None:
    assert watch_state([stream(None, since_seconds=0)], T0 + timedelta(seconds=60)).state == WatchState.WATCHED
    never = watch_state([stream(None, since_seconds=0)], T0 + timedelta(seconds=91))
    assert never.state == WatchState.UNKNOWN
    assert never.since == T0


def test_a_component_with_nothing_configured_to_watch_it_is_unknown() -> None:
    assert watch_state([], T0).state == WatchState.UNKNOWN


def test_a_clock_that_stepped_back_does_not_make_a_fresh_check_look_stale() -> None:
    assert watch_state([stream(3600)], T0).state == WatchState.WATCHED


def test_with_very_short_intervals_a_check_ten_seconds_late_is_still_jitter() -> None:
    fast = Stream(last_check_at=T0, active_since=T0, interval=timedelta(seconds=0.5))
    assert watch_state([fast], T0 + timedelta(seconds=10)).state == WatchState.WATCHED
    assert watch_state([fast], T0 + timedelta(seconds=11)).state == WatchState.UNKNOWN
