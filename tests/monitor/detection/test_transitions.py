"""Outage detection as pure functions: when a probe counts as down, and the bounds an outage gets."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from monitor.detection.streaks import Streak, advance
from monitor.detection.transitions import (
    CloseOutage,
    ExtendOutage,
    OpenOutage,
    OpenOutageView,
    component_transition,
    impairment,
    majority,
)
from monitor.storage.enums import EndReason, Severity

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
            slot=at(minute),
            check_id=check_id,
            failure_threshold=failure_threshold,
            recovery_threshold=recovery_threshold,
            stale_after=timedelta(hours=1),
        )
    return current


def open_since(minute: int, last_failed: int | None = None) -> OpenOutageView:
    """The view of an outage open since `minute`, last seen failing at `last_failed`."""
    return OpenOutageView(
        started_at=at(minute), last_failed_at=None if last_failed is None else at(last_failed), gap_at=None
    )


def recovered(minute: int) -> CloseOutage:
    return CloseOutage(ended_at=at(minute), reason=EndReason.RECOVERED)


UP, DOWN = True, False


# --- one probe: when it goes down -------------------------------------------------------------


def test_n_minus_one_failures_do_not_mark_the_probe_down() -> None:
    streak = fold([(0, UP), (1, DOWN), (2, DOWN)], failure_threshold=3)
    assert not streak.down
    assert streak.failures == 2
    assert component_transition(None, [streak]) is None


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
    transition = component_transition(None, [streak])
    assert transition == OpenOutage(started_at=at(2), last_ok_at=at(1), last_failed_at=at(4), first_check_id=3)


def test_last_ok_is_the_last_success_before_the_failing_streak() -> None:
    # An earlier, shorter failing streak does not count; the last success is the one just before the streak.
    streak = fold([(0, UP), (1, DOWN), (2, UP), (3, DOWN), (4, DOWN), (5, DOWN)], failure_threshold=3)
    assert streak.down
    assert streak.down_since == at(3)
    assert streak.last_ok_before_down == at(2)
    assert streak.down_since_check_id == 4


def test_a_probe_that_never_succeeded_opens_an_outage_without_last_ok() -> None:
    streak = fold([(0, DOWN), (1, DOWN), (2, DOWN)], failure_threshold=3)
    transition = component_transition(None, [streak])
    assert transition == OpenOutage(started_at=at(0), last_ok_at=None, last_failed_at=at(2), first_check_id=1)


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
    assert component_transition(open_since(1), [streak]) == recovered(5)


def test_m_minus_one_successes_keep_the_outage_open() -> None:
    streak = fold([(4, UP), (5, UP)], streak=down_streak(), recovery_threshold=3, first_id=10)
    assert streak.down
    assert component_transition(open_since(1, last_failed=3), [streak]) is None


def test_a_single_success_during_an_outage_does_not_close_it() -> None:
    # The portal flaps: one good answer between failures is not a recovery.
    streak = fold([(4, UP), (5, DOWN), (6, UP), (7, DOWN)], streak=down_streak(), recovery_threshold=2, first_id=10)
    assert streak.down
    assert streak.down_since == at(1)
    assert component_transition(open_since(1, last_failed=7), [streak]) is None


def test_after_a_flap_the_outage_ends_at_the_first_success_of_the_streak_that_recovered() -> None:
    streak = fold([(4, UP), (5, DOWN), (6, UP), (7, UP)], streak=down_streak(), recovery_threshold=2, first_id=10)
    assert not streak.down
    assert component_transition(open_since(1), [streak]) == recovered(6)


def test_a_second_outage_gets_its_own_bounds() -> None:
    first = fold([(4, UP), (5, UP)], streak=down_streak(), recovery_threshold=2, first_id=10)
    again = fold([(6, UP), (7, DOWN), (8, DOWN), (9, DOWN)], streak=first, failure_threshold=3, first_id=20)
    assert again.down
    transition = component_transition(None, [again])
    assert transition == OpenOutage(started_at=at(7), last_ok_at=at(6), last_failed_at=at(9), first_check_id=21)


# --- checks arriving late, twice, or with a clock that stepped -------------------------------


def step(streak: Streak, minute: float, ok: bool, *, slot: float | None = None, check_id: int = 99) -> Streak:
    """Fold one check whose wall-clock time is `minute` and whose schedule slot is `slot` (default: the same)."""
    return advance(
        streak,
        ok=ok,
        at=at(minute),  # type: ignore[arg-type]
        slot=at(minute if slot is None else slot),  # type: ignore[arg-type]
        check_id=check_id,
        failure_threshold=3,
        recovery_threshold=2,
        stale_after=timedelta(minutes=3),
    )


def test_a_check_from_an_earlier_slot_than_the_last_one_folded_is_ignored() -> None:
    streak = fold([(0, UP), (5, DOWN), (6, DOWN)], failure_threshold=3)
    late = step(streak, 3, DOWN)
    assert late == streak
    assert not late.down


def test_a_late_success_does_not_reset_a_failing_streak() -> None:
    streak = fold([(0, UP), (5, DOWN), (6, DOWN)], failure_threshold=3)
    late = step(streak, 4, UP)
    assert late == streak
    still = step(late, 7, DOWN, check_id=100)
    assert still.down
    assert still.down_since == at(5)
    assert still.last_ok_before_down == at(0)


def test_a_check_of_the_same_slot_as_the_last_one_is_ignored() -> None:
    streak = fold([(0, UP), (1, DOWN), (2, DOWN)], failure_threshold=3)
    duplicate = step(streak, 2, DOWN)
    assert duplicate == streak
    assert not duplicate.down


def test_after_the_wall_clock_steps_back_an_hour_later_slots_still_count() -> None:
    # The scheduler's slots keep moving forward; the probes' clocks now read an hour earlier.
    streak = fold([(0, UP), (1, UP)], failure_threshold=3)
    for n, minute in enumerate((-58, -57, -56)):
        streak = step(streak, minute, DOWN, slot=2 + n, check_id=10 + n)
    assert streak.down
    assert streak.failures == 3


def test_a_check_after_a_gap_longer_than_the_staleness_limit_starts_a_new_watched_run() -> None:
    streak = fold([(0, UP), (1, UP)])
    assert streak.watched_since == at(0)
    streak = step(streak, 3, UP)  # 2 minutes later: within the 3-minute limit
    assert streak.watched_since == at(0)
    streak = step(streak, 30, UP)  # 27 minutes with no check: nobody watched
    assert streak.watched_since == at(30)


# --- while an outage is open: how far provisional relief may reach -----------------------------


def test_while_open_the_last_failed_check_of_a_probe_that_is_down_moves_the_outage_s_last_failure() -> None:
    streak = fold([(4, DOWN), (5, DOWN)], streak=down_streak(), first_id=10)
    assert component_transition(open_since(1, last_failed=3), [streak]) == ExtendOutage(
        last_failed_at=at(5), gap_at=None
    )


def test_a_first_recovering_success_does_not_move_the_last_failure_past_the_portal_coming_back() -> None:
    # The over-grant race: between the first good answer and the one that confirms recovery the
    # outage is still open, but nothing has failed since minute 3, so relief must not reach further.
    streak = fold([(4, UP)], streak=down_streak(), recovery_threshold=2, first_id=10)
    assert streak.down
    assert component_transition(open_since(1, last_failed=3), [streak]) is None


def test_a_probe_that_is_not_down_does_not_move_the_last_failure() -> None:
    down = fold([(4, UP)], streak=down_streak(), recovery_threshold=2, first_id=10)
    blip = fold([(0, UP), (4, DOWN)], first_id=100)  # one failure of another probe, below its threshold
    assert component_transition(open_since(1, last_failed=3), [down, blip]) is None


def test_the_last_failure_never_moves_earlier_when_the_clock_steps_back() -> None:
    streak = step(down_streak(), -50, DOWN, slot=4)
    assert component_transition(open_since(1, last_failed=3), [streak]) is None


def test_failures_after_a_monitoring_gap_freeze_the_last_failure_where_watching_stopped() -> None:
    # Checks stopped at minute 3 (workers down) and resumed at minute 40, still failing: the time
    # between was not watched, so provisional relief stays at minute 3 and the gap is recorded.
    streak = step(down_streak(), 40, DOWN, check_id=10)
    streak = step(streak, 41, DOWN, check_id=11)
    assert component_transition(open_since(1, last_failed=3), [streak]) == ExtendOutage(
        last_failed_at=at(3), gap_at=at(40)
    )


def test_once_a_gap_is_recorded_later_failures_leave_the_last_failure_where_it_was() -> None:
    streak = step(step(down_streak(), 40, DOWN, check_id=10), 41, DOWN, check_id=11)
    frozen = OpenOutageView(started_at=at(1), last_failed_at=at(3), gap_at=at(40))
    assert component_transition(frozen, [streak]) is None


# --- several probes on one component ----------------------------------------------------------


def test_the_outage_starts_at_the_earliest_failure_among_the_probes_that_are_down() -> None:
    a = fold([(0, UP), (3, DOWN), (4, DOWN), (5, DOWN)], failure_threshold=3, first_id=1)
    b = fold([(1, UP), (2, DOWN), (4, DOWN), (6, DOWN)], failure_threshold=3, first_id=100)
    transition = component_transition(None, [a, b])
    assert transition == OpenOutage(started_at=at(2), last_ok_at=at(1), last_failed_at=at(6), first_check_id=101)


def test_one_probe_down_is_enough_to_open_an_outage() -> None:
    a = fold([(0, UP), (1, DOWN), (2, DOWN), (3, DOWN)], failure_threshold=3)
    b = fold([(0, UP), (1, UP), (2, UP), (3, UP)], failure_threshold=3, first_id=100)
    assert component_transition(None, [a, b]) == OpenOutage(
        started_at=at(1), last_ok_at=at(0), last_failed_at=at(3), first_check_id=2
    )


def test_with_two_probes_the_outage_stays_open_until_both_are_up_and_ends_at_the_later_recovery() -> None:
    a = fold([(0, UP), (1, DOWN), (2, DOWN), (3, DOWN)], failure_threshold=3, first_id=1)
    b = fold([(0, UP), (1, DOWN), (2, DOWN), (3, DOWN)], failure_threshold=3, first_id=100)
    opened = component_transition(None, [a, b])
    assert isinstance(opened, OpenOutage)
    assert opened.started_at == at(1)

    a = fold([(4, UP), (5, UP)], streak=a, recovery_threshold=2, first_id=10)
    assert not a.down
    assert component_transition(OpenOutageView(opened.started_at, at(3), None), [a, b]) is None

    b = fold([(6, DOWN), (7, UP), (8, UP)], streak=b, recovery_threshold=2, first_id=110)
    assert component_transition(OpenOutageView(opened.started_at, at(6), None), [a, b]) == recovered(7)


def test_a_recovery_from_an_earlier_outage_does_not_end_the_current_one() -> None:
    # Probe b recovered from an older outage; only recoveries since this outage started count.
    b = fold([(0, DOWN), (1, DOWN), (2, DOWN), (3, UP), (4, UP)], failure_threshold=3, recovery_threshold=2)
    assert b.recovered_at == at(3)
    a = fold([(10, UP), (11, DOWN), (12, DOWN), (13, DOWN), (14, UP), (15, UP)], first_id=50)
    assert a.recovered_at == at(14)
    assert component_transition(open_since(11), [a, b]) == recovered(14)


def test_an_outage_nothing_counted_sees_down_any_more_closes_at_its_last_failure_not_now() -> None:
    # The probe or location that saw it down was removed; the rest never saw it recover.
    idle = Streak()
    assert component_transition(open_since(1, last_failed=9), [idle]) == CloseOutage(
        ended_at=at(9), reason=EndReason.WATCH_REMOVED
    )


# --- blind locations ---------------------------------------------------------------------------


def test_a_location_that_is_blind_never_opens_an_outage_whatever_its_streak_says() -> None:
    down = fold([(1, DOWN), (2, DOWN), (3, DOWN)])
    assert component_transition(None, [], blind=[down]) is None


def test_an_outage_held_down_only_by_a_location_gone_blind_stays_open_without_moving_its_last_failure() -> None:
    down = fold([(1, DOWN), (2, DOWN), (3, DOWN)])
    assert component_transition(open_since(1, last_failed=3), [Streak()], blind=[down]) is None


def test_a_location_that_sees_the_portal_recover_closes_the_outage_even_if_another_went_blind() -> None:
    down = fold([(1, DOWN), (2, DOWN), (3, DOWN)])
    seeing = fold([(1, DOWN), (2, DOWN), (3, DOWN), (4, UP), (5, UP)])
    assert component_transition(open_since(1, last_failed=3), [seeing], blind=[down]) == recovered(4)


def test_no_probes_down_and_no_open_outage_means_nothing_happens() -> None:
    a = fold([(0, UP), (1, UP)])
    assert component_transition(None, [a]) is None


# --- thresholds of one ------------------------------------------------------------------------


def test_with_thresholds_of_one_a_single_failure_opens_and_a_single_success_closes() -> None:
    streak = fold([(0, UP), (1, DOWN)], failure_threshold=1, recovery_threshold=1)
    assert streak.down
    assert component_transition(None, [streak]) == OpenOutage(
        started_at=at(1), last_ok_at=at(0), last_failed_at=at(1), first_check_id=2
    )
    streak = fold([(2, DOWN), (3, UP)], streak=streak, failure_threshold=1, recovery_threshold=1, first_id=3)
    assert not streak.down
    assert component_transition(open_since(1), [streak]) == recovered(3)


def test_with_thresholds_of_one_the_very_first_check_failing_opens_an_outage() -> None:
    streak = fold([(0, DOWN)], failure_threshold=1, recovery_threshold=1)
    assert component_transition(None, [streak]) == OpenOutage(
        started_at=at(0), last_ok_at=None, last_failed_at=at(0), first_check_id=1
    )


# --- quorum of locations ----------------------------------------------------------------------


def down_at(*checks: tuple[int, bool], first_id: int = 1) -> Streak:
    return fold(list(checks), failure_threshold=2, first_id=first_id)


DOWN_FROM_2 = ((1, UP), (2, DOWN), (3, DOWN))


def test_the_default_quorum_is_a_majority_of_the_locations_that_can_see() -> None:
    assert [majority(n) for n in (0, 1, 2, 3, 4, 5)] == [1, 1, 2, 2, 3, 3]


def test_one_location_of_three_seeing_the_portal_down_is_no_outage_but_an_impaired_component() -> None:
    streaks = [("toronto", down_at(*DOWN_FROM_2)), ("montreal", fold([(2, UP)])), ("vancouver", fold([(2, UP)]))]
    assert component_transition(None, streaks, quorum=2) is None
    seen = impairment(streaks, quorum=2)
    assert seen.failing == ("toronto",) and seen.impaired


def test_one_blind_and_one_failing_location_of_three_is_no_outage() -> None:
    # Montreal is blind: the quorum is a majority of the two that see, and only Toronto sees it down.
    seeing = [("toronto", down_at(*DOWN_FROM_2)), ("vancouver", fold([(2, UP)]))]
    blind = [("montreal", down_at(*DOWN_FROM_2))]
    assert component_transition(None, seeing, blind=blind, quorum=majority(2)) is None


def test_two_locations_of_three_seeing_it_down_open_an_outage_from_when_the_second_saw_it() -> None:
    toronto = down_at((1, UP), (2, DOWN), (3, DOWN), (5, DOWN), first_id=10)
    montreal = down_at((3, UP), (4, DOWN), (5, DOWN), first_id=20)
    streaks = [("toronto", toronto), ("montreal", montreal), ("vancouver", fold([(5, UP)]))]
    assert component_transition(None, streaks, quorum=2) == OpenOutage(
        started_at=at(4), last_ok_at=at(3), last_failed_at=at(5), first_check_id=21
    )


def test_an_outage_ends_when_the_locations_still_seeing_it_down_fall_below_the_quorum() -> None:
    toronto = down_at((1, UP), (2, DOWN), (3, DOWN), (8, UP), (9, UP))
    montreal = down_at((1, UP), (2, DOWN), (3, DOWN), (10, DOWN))
    streaks = [("toronto", toronto), ("montreal", montreal), ("vancouver", fold([(2, UP)]))]
    # Montreal still sees it down, but one of three is short of the quorum of two: it ended when Toronto recovered.
    assert component_transition(open_since(2, last_failed=3), streaks, quorum=2) == recovered(8)


def test_probes_at_the_same_location_count_as_one_location_towards_the_quorum() -> None:
    streaks = [("toronto", down_at(*DOWN_FROM_2)), ("toronto", down_at(*DOWN_FROM_2, first_id=50))]
    assert component_transition(None, streaks, quorum=2) is None


# --- severity ---------------------------------------------------------------------------------


def failing(severity: Severity, *checks: tuple[int, bool]) -> Streak:
    current = Streak()
    for check_id, (minute, ok) in enumerate(checks, start=1):
        current = advance(
            current,
            ok=ok,
            at=at(minute),
            slot=at(minute),
            check_id=check_id,
            failure_threshold=2,
            recovery_threshold=2,
            stale_after=timedelta(hours=1),
            severity=severity,
        )
    return current


def test_a_component_s_severity_is_the_worst_among_its_probes_that_are_down() -> None:
    upload = failing(Severity.PARTIAL_OUTAGE, (1, DOWN), (2, DOWN))
    slow_sign_in = failing(Severity.DEGRADED_PERFORMANCE, (1, DOWN), (2, DOWN))
    opened = component_transition(None, [upload, slow_sign_in])
    assert isinstance(opened, OpenOutage) and opened.severity is Severity.PARTIAL_OUTAGE


def test_a_partial_outage_rises_to_major_when_a_probe_whose_failure_is_major_goes_down_too() -> None:
    upload = failing(Severity.PARTIAL_OUTAGE, (1, DOWN), (2, DOWN), (3, DOWN))
    home = failing(Severity.MAJOR_OUTAGE, (0, UP), (2, DOWN), (3, DOWN))
    view = OpenOutageView(started_at=at(1), last_failed_at=at(2), gap_at=None, severity=Severity.PARTIAL_OUTAGE)
    assert component_transition(view, [upload, home]) == ExtendOutage(
        last_failed_at=at(3), gap_at=None, severity=Severity.MAJOR_OUTAGE, severity_at=at(2)
    )


def test_severity_falls_back_when_the_worse_probe_recovers_while_the_outage_goes_on() -> None:
    upload = failing(Severity.PARTIAL_OUTAGE, (1, DOWN), (2, DOWN), (5, DOWN))
    home = failing(Severity.MAJOR_OUTAGE, (2, DOWN), (3, DOWN), (4, UP), (5, UP))
    view = OpenOutageView(started_at=at(1), last_failed_at=at(5), gap_at=None, severity=Severity.MAJOR_OUTAGE)
    assert component_transition(view, [upload, home]) == ExtendOutage(
        last_failed_at=at(5), gap_at=None, severity=Severity.PARTIAL_OUTAGE, severity_at=at(4)
    )
