"""Outage detection as pure functions: when a probe counts as down, and the bounds an outage gets."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from monitor.detection import CloseOutage, OpenOutage, Streak, advance, component_transition

T0 = datetime(2026, 6, 10, 14, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def fold(
    checks: Iterable[tuple[int, bool]],
    *,
    streak: Streak | None = None,
    failure_threshold: int = 3,
    recovery_threshold: int = 2,
    first_id: int = 1,
) -> Streak:
    """Fold (minute, ok) checks into a streak; check ids count up from `first_id` in the order given."""
    current = streak or Streak()
    for check_id, (minute, ok) in enumerate(checks, start=first_id):
        current = advance(
            current,
            ok=ok,
            at=at(minute),
            check_id=check_id,
            failure_threshold=failure_threshold,
            recovery_threshold=recovery_threshold,
        )
    return current


UP, DOWN = True, False


# --- one probe: when it goes down -------------------------------------------------------------


def test_n_minus_one_failures_do_not_mark_the_probe_down() -> None:
    streak = fold([(0, UP), (1, DOWN), (2, DOWN)], failure_threshold=3)
    assert not streak.down
    assert streak.failures == 2
    assert component_transition(None, [streak], now=at(2)) is None


def test_n_consecutive_failures_mark_the_probe_down() -> None:
    streak = fold([(0, UP), (1, DOWN), (2, DOWN), (3, DOWN)], failure_threshold=3)
    assert streak.down
    assert streak.failures == 3


def test_a_success_in_between_resets_the_failure_count() -> None:
    streak = fold([(0, UP), (1, DOWN), (2, DOWN), (3, UP), (4, DOWN), (5, DOWN)], failure_threshold=3)
    assert not streak.down
    assert streak.failures == 2
    assert streak.failing_since == at(4)


def test_an_outage_starts_at_the_first_failed_check_not_when_it_was_detected() -> None:
    streak = fold([(0, UP), (1, UP), (2, DOWN), (3, DOWN), (4, DOWN)], failure_threshold=3)
    transition = component_transition(None, [streak], now=at(4) + timedelta(seconds=5))
    assert transition == OpenOutage(started_at=at(2), last_ok_at=at(1), first_check_id=3)


def test_last_ok_is_the_last_success_before_the_failing_streak() -> None:
    # An earlier, shorter failing streak does not count; the last success is the one just before the streak.
    streak = fold([(0, UP), (1, DOWN), (2, UP), (3, DOWN), (4, DOWN), (5, DOWN)], failure_threshold=3)
    assert streak.down
    assert streak.down_since == at(3)
    assert streak.last_ok_before_down == at(2)
    assert streak.down_since_check_id == 4


def test_a_probe_that_never_succeeded_opens_an_outage_without_last_ok() -> None:
    streak = fold([(0, DOWN), (1, DOWN), (2, DOWN)], failure_threshold=3)
    transition = component_transition(None, [streak], now=at(2))
    assert transition == OpenOutage(started_at=at(0), last_ok_at=None, first_check_id=1)


def test_failures_after_the_probe_is_down_do_not_move_the_start() -> None:
    streak = fold([(0, UP), *[(m, DOWN) for m in range(1, 20)]], failure_threshold=3)
    assert streak.down
    assert streak.down_since == at(1)
    assert streak.last_ok_before_down == at(0)


# --- one probe: when it comes back ------------------------------------------------------------


def down_streak() -> Streak:
    """Down since minute 1 (three failures), last good check at minute 0."""
    return fold([(0, UP), (1, DOWN), (2, DOWN), (3, DOWN)], failure_threshold=3)


def test_m_consecutive_successes_close_the_outage_at_the_first_success_of_the_recovering_streak() -> None:
    streak = fold([(4, DOWN), (5, UP), (6, UP)], streak=down_streak(), recovery_threshold=2, first_id=10)
    assert not streak.down
    assert streak.recovered_at == at(5)
    assert component_transition(at(1), [streak], now=at(6) + timedelta(seconds=3)) == CloseOutage(ended_at=at(5))


def test_m_minus_one_successes_keep_the_outage_open() -> None:
    streak = fold([(4, UP), (5, UP)], streak=down_streak(), recovery_threshold=3, first_id=10)
    assert streak.down
    assert component_transition(at(1), [streak], now=at(5)) is None


def test_a_single_success_during_an_outage_does_not_close_it() -> None:
    # The portal flaps: one good answer between failures is not a recovery.
    streak = fold([(4, UP), (5, DOWN), (6, UP), (7, DOWN)], streak=down_streak(), recovery_threshold=2, first_id=10)
    assert streak.down
    assert streak.down_since == at(1)
    assert component_transition(at(1), [streak], now=at(7)) is None


def test_after_a_flap_the_outage_ends_at_the_first_success_of_the_streak_that_recovered() -> None:
    streak = fold([(4, UP), (5, DOWN), (6, UP), (7, UP)], streak=down_streak(), recovery_threshold=2, first_id=10)
    assert not streak.down
    assert component_transition(at(1), [streak], now=at(7)) == CloseOutage(ended_at=at(6))


def test_a_second_outage_gets_its_own_bounds() -> None:
    first = fold([(4, UP), (5, UP)], streak=down_streak(), recovery_threshold=2, first_id=10)
    again = fold([(6, UP), (7, DOWN), (8, DOWN), (9, DOWN)], streak=first, failure_threshold=3, first_id=20)
    assert again.down
    transition = component_transition(None, [again], now=at(9))
    assert transition == OpenOutage(started_at=at(7), last_ok_at=at(6), first_check_id=21)


# --- checks arriving late or twice ------------------------------------------------------------


def test_a_check_older_than_the_last_one_folded_is_ignored() -> None:
    streak = fold([(0, UP), (5, DOWN), (6, DOWN)], failure_threshold=3)
    late = advance(streak, ok=False, at=at(3), check_id=99, failure_threshold=3, recovery_threshold=2)
    assert late == streak
    assert not late.down


def test_a_late_success_does_not_reset_a_failing_streak() -> None:
    streak = fold([(0, UP), (5, DOWN), (6, DOWN)], failure_threshold=3)
    late = advance(streak, ok=True, at=at(4), check_id=99, failure_threshold=3, recovery_threshold=2)
    assert late == streak
    still = advance(late, ok=False, at=at(7), check_id=100, failure_threshold=3, recovery_threshold=2)
    assert still.down
    assert still.down_since == at(5)
    assert still.last_ok_before_down == at(0)


def test_a_check_at_the_same_instant_as_the_last_one_is_ignored() -> None:
    streak = fold([(0, UP), (1, DOWN), (2, DOWN)], failure_threshold=3)
    duplicate = advance(streak, ok=False, at=at(2), check_id=99, failure_threshold=3, recovery_threshold=2)
    assert duplicate == streak
    assert not duplicate.down


# --- several probes on one component ----------------------------------------------------------


def test_the_outage_starts_at_the_earliest_failure_among_the_probes_that_are_down() -> None:
    a = fold([(0, UP), (3, DOWN), (4, DOWN), (5, DOWN)], failure_threshold=3, first_id=1)
    b = fold([(1, UP), (2, DOWN), (4, DOWN), (6, DOWN)], failure_threshold=3, first_id=100)
    transition = component_transition(None, [a, b], now=at(6))
    assert transition == OpenOutage(started_at=at(2), last_ok_at=at(1), first_check_id=101)


def test_one_probe_down_is_enough_to_open_an_outage() -> None:
    a = fold([(0, UP), (1, DOWN), (2, DOWN), (3, DOWN)], failure_threshold=3)
    b = fold([(0, UP), (1, UP), (2, UP), (3, UP)], failure_threshold=3, first_id=100)
    assert component_transition(None, [a, b], now=at(3)) == OpenOutage(
        started_at=at(1), last_ok_at=at(0), first_check_id=2
    )


def test_with_two_probes_the_outage_stays_open_until_both_are_up_and_ends_at_the_later_recovery() -> None:
    a = fold([(0, UP), (1, DOWN), (2, DOWN), (3, DOWN)], failure_threshold=3, first_id=1)
    b = fold([(0, UP), (1, DOWN), (2, DOWN), (3, DOWN)], failure_threshold=3, first_id=100)
    opened = component_transition(None, [a, b], now=at(3))
    assert isinstance(opened, OpenOutage)
    assert opened.started_at == at(1)

    a = fold([(4, UP), (5, UP)], streak=a, recovery_threshold=2, first_id=10)
    assert not a.down
    assert component_transition(opened.started_at, [a, b], now=at(5)) is None

    b = fold([(6, DOWN), (7, UP), (8, UP)], streak=b, recovery_threshold=2, first_id=110)
    assert component_transition(opened.started_at, [a, b], now=at(8)) == CloseOutage(ended_at=at(7))


def test_a_recovery_from_an_earlier_outage_does_not_end_the_current_one() -> None:
    # Probe b recovered from an older outage; only recoveries since this outage started count.
    b = fold([(0, DOWN), (1, DOWN), (2, DOWN), (3, UP), (4, UP)], failure_threshold=3, recovery_threshold=2)
    assert b.recovered_at == at(3)
    a = fold([(10, UP), (11, DOWN), (12, DOWN), (13, DOWN), (14, UP), (15, UP)], first_id=50)
    assert a.recovered_at == at(14)
    assert component_transition(at(11), [a, b], now=at(15)) == CloseOutage(ended_at=at(14))


def test_an_open_outage_with_no_recorded_recovery_closes_at_now() -> None:
    idle = Streak()
    assert component_transition(at(1), [idle], now=at(30)) == CloseOutage(ended_at=at(30))


def test_no_probes_down_and_no_open_outage_means_nothing_happens() -> None:
    a = fold([(0, UP), (1, UP)])
    assert component_transition(None, [a], now=at(1)) is None


# --- thresholds of one ------------------------------------------------------------------------


def test_with_thresholds_of_one_a_single_failure_opens_and_a_single_success_closes() -> None:
    streak = fold([(0, UP), (1, DOWN)], failure_threshold=1, recovery_threshold=1)
    assert streak.down
    assert component_transition(None, [streak], now=at(1)) == OpenOutage(
        started_at=at(1), last_ok_at=at(0), first_check_id=2
    )
    streak = fold([(2, DOWN), (3, UP)], streak=streak, failure_threshold=1, recovery_threshold=1, first_id=3)
    assert not streak.down
    assert component_transition(at(1), [streak], now=at(3)) == CloseOutage(ended_at=at(3))


def test_with_thresholds_of_one_the_very_first_check_failing_opens_an_outage() -> None:
    streak = fold([(0, DOWN)], failure_threshold=1, recovery_threshold=1)
    assert component_transition(None, [streak], now=at(0)) == OpenOutage(
        started_at=at(0), last_ok_at=None, first_check_id=1
    )
