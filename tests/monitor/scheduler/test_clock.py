"""The scheduler's time line: a wall clock that steps back or jumps forward never blinds or floods the service."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from monitor.runtime import Runtime
from monitor.scheduler.clock import Timeline
from monitor.scheduler.loop import Scheduler
from monitor.scheduler.slots import slot_for
from monitor.storage.engine import transaction
from monitor.storage.models import Check, Outage
from monitor.usecases import jobs
from monitor.usecases.checks import record_check
from probes.result import CheckResult, ErrorClass
from tests.conftest import make_runtime
from tests.monitor.scheduler.conftest import CONFIG
from tests.monitor.scheduler.fakes import FakeClock, Recorder, Sent, assert_each_slot_used_once_and_increasing, run_for

T0 = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def runtime(sqlite_url: str) -> Iterator[Runtime]:
    runtime = make_runtime(sqlite_url, CONFIG)
    yield runtime
    runtime.close()


def warnings_about(caplog: pytest.LogCaptureFixture, words: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and words in r.getMessage()]


def record(runtime: Runtime, checks: list[Sent], *, ok: bool) -> int:
    """Record the dispatched checks as a worker would, started at the wall time they were sent; returns how many."""
    stored = 0
    for sent in checks:
        probe_id, location, slot = sent.args
        assert sent.wall is not None
        if ok:
            result = CheckResult(probe_id, location, sent.wall, True, latency_ms=40.0, status_code=200)
        else:
            result = CheckResult(
                probe_id, location, sent.wall, False, status_code=503, error_class=ErrorClass.STATUS, error="503"
            )
        with transaction(runtime.sessions) as session:
            before = session.scalar(select(func.count()).select_from(Check))
            record_check(
                session, result, slot=datetime.fromisoformat(slot), grace_days=7, now=sent.wall + timedelta(seconds=1)
            )
            stored += (session.scalar(select(func.count()).select_from(Check)) or 0) - (before or 0)
    return stored


def open_outages(runtime: Runtime) -> list[Outage]:
    with transaction(runtime.sessions) as session:
        return list(session.scalars(select(Outage).where(Outage.ended_at.is_(None))))


# --- the time line on its own --------------------------------------------------------------------


def test_the_time_line_never_goes_back_and_warns_once_with_the_size_of_the_step(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(T0)
    line = Timeline(clock.wall, clock.mono)
    assert line.now() == T0
    clock.advance(10)
    clock.step_wall(-HOUR)
    assert line.now() == T0 + timedelta(seconds=10)  # the monotonic clock carries it on
    clock.advance(5)
    assert line.now() == T0 + timedelta(seconds=15)
    assert len(warnings_about(caplog, "3600.0 s behind")) == 1  # once, not every tick


def test_the_time_line_follows_the_wall_clock_again_once_it_catches_up(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(T0)
    line = Timeline(clock.wall, clock.mono)
    line.now()
    clock.step_wall(-HOUR)
    clock.advance(30)
    assert line.now() == T0 + timedelta(seconds=30)
    clock.step_wall(HOUR + timedelta(seconds=2))  # corrected, and now a little ahead of the line
    assert line.now() == clock.wall()
    assert warnings_about(caplog, "caught up")
    assert not warnings_about(caplog, "jumped forward")  # the correction is no jump


def test_a_small_step_back_keeps_the_line_going_without_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(T0)
    line = Timeline(clock.wall, clock.mono)
    line.now()
    clock.step_wall(timedelta(milliseconds=-300))
    clock.advance(0.25)
    assert line.now() == T0 + timedelta(seconds=0.25)
    assert not caplog.records


def test_a_forward_jump_is_followed_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(T0)
    line = Timeline(clock.wall, clock.mono)
    line.now()
    clock.advance(1)
    clock.step_wall(HOUR)
    assert line.now() == T0 + HOUR + timedelta(seconds=1)
    assert len(warnings_about(caplog, "jumped forward 3600.0 s")) == 1


def test_the_time_line_starts_no_earlier_than_a_slot_already_used(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(T0 - HOUR)
    line = Timeline(clock.wall, clock.mono)
    assert line.raise_to(T0, why="checks are already recorded") == T0
    clock.advance(1)
    assert line.now() == T0 + timedelta(seconds=1)
    assert len(warnings_about(caplog, "ahead of the wall clock")) == 1
    assert not warnings_about(caplog, "behind")  # the same fact is not warned about twice
    assert line.raise_to(T0 - HOUR, why="an older mark") == T0 + timedelta(seconds=1)  # a lower floor changes nothing


# --- the scheduler when the wall clock steps -----------------------------------------------------


def test_after_the_clock_steps_back_an_hour_every_check_still_gets_a_new_slot(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(T0)
    sent = Recorder(clock)
    scheduler = Scheduler(runtime, sent, wall=clock.wall, mono=clock.mono)
    run_for(scheduler, clock, 60)
    steady = run_for(scheduler, clock, 60)
    clock.step_wall(-HOUR)
    after = run_for(scheduler, clock, 60)
    assert_each_slot_used_once_and_increasing(sent)
    assert after == steady == 14  # pr-home every 10 s and pr-login every minute, at two locations, as before
    assert len(warnings_about(caplog, "3600.0 s behind the scheduler's time line")) == 1


def test_after_the_clock_steps_back_an_hour_failing_checks_still_open_an_outage(runtime: Runtime) -> None:
    clock = FakeClock(T0)
    sent = Recorder(clock)
    scheduler = Scheduler(runtime, sent, wall=clock.wall, mono=clock.mono)
    run_for(scheduler, clock, 60)
    assert record(runtime, sent.checks(), ok=True) == len(sent.checks())
    sent.clear()

    clock.step_wall(-HOUR)  # the portal now fails, and every probe reports times an hour earlier
    run_for(scheduler, clock, 40)
    failing = sent.checks()
    assert record(runtime, failing, ok=False) == len(failing)  # none collided with a slot already used
    [outage] = open_outages(runtime)
    assert outage.component_id == "pr-portal"
    assert outage.started_at < T0  # as the probes reported it: the relief rules judge that, not the scheduler


def test_a_restart_after_the_clock_stepped_back_starts_after_the_slots_already_recorded(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(T0)
    sent = Recorder(clock)
    run_for(Scheduler(runtime, sent, wall=clock.wall, mono=clock.mono), clock, 60)
    record(runtime, sent.checks(), ok=True)
    used = {key: max(slots) for key, slots in sent.slots_by_key().items()}
    sent.clear()

    restarted = FakeClock(T0 - HOUR, mono_at=5.0)  # a new process, on a wall clock set back an hour
    sent.clock = restarted
    run_for(Scheduler(runtime, sent, wall=restarted.wall, mono=restarted.mono), restarted, 40)
    failing = sent.checks()
    assert len(failing) >= 6  # pr-home every 10 s at two locations: it was not left waiting an hour
    for key, slots in sent.slots_by_key().items():
        assert min(slots) > used[key], key
    assert warnings_about(caplog, "checks are already recorded")
    assert record(runtime, failing, ok=False) == len(failing)
    assert len(open_outages(runtime)) == 1


def test_a_forward_jump_sends_each_probe_its_current_slot_once_not_the_slots_jumped_over(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(T0)
    sent = Recorder(clock)
    scheduler = Scheduler(runtime, sent, wall=clock.wall, mono=clock.mono)
    run_for(scheduler, clock, 30)
    sent.clear()
    clock.step_wall(HOUR)
    assert run_for(scheduler, clock, 0.25) == 4  # one per probe and location, not an hour's worth
    for s in sent.checks():
        probe_interval = timedelta(seconds=10 if s.args[0] == "pr-home" else 60)
        assert datetime.fromisoformat(s.args[2]) == slot_for(s.args[0], probe_interval, clock.wall())
    assert warnings_about(caplog, "jumped forward 3600.0 s")


# --- periodic jobs run on the monotonic clock ----------------------------------------------------


def test_periodic_jobs_keep_running_after_the_clock_steps_back_an_hour(runtime: Runtime) -> None:
    clock = FakeClock(T0)
    sent = Recorder(clock)
    scheduler = Scheduler(runtime, sent, wall=clock.wall, mono=clock.mono)
    run_for(scheduler, clock, 10)
    sent.clear()
    clock.step_wall(-HOUR)
    run_for(scheduler, clock, 10)
    assert len(sent.jobs(jobs.SWEEP_OUTBOX)) == 5  # every 2 s
    assert len(sent.jobs(jobs.CHECK_MONITORING)) == 2  # every 5 s


def test_a_forward_jump_of_the_clock_sends_no_burst_of_periodic_jobs(runtime: Runtime) -> None:
    clock = FakeClock(T0)
    sent = Recorder(clock)
    scheduler = Scheduler(runtime, sent, wall=clock.wall, mono=clock.mono)
    run_for(scheduler, clock, 10)
    sent.clear()
    clock.step_wall(HOUR)
    run_for(scheduler, clock, 0.25)
    for job in (jobs.SWEEP_OUTBOX, jobs.RELIEVE_OPEN_OUTAGES, jobs.CHECK_MONITORING):
        assert len(sent.jobs(job)) <= 1
    sent.clear()
    run_for(scheduler, clock, 10)
    assert len(sent.jobs(jobs.SWEEP_OUTBOX)) == 5
