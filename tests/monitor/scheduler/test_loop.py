"""When checks are sent: once per probe, location and slot, to the location's own queue."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from monitor.runtime import Runtime
from monitor.scheduler.loop import MIN_PAUSE, Scheduler, allowance
from monitor.scheduler.slots import slot_for
from monitor.usecases import jobs
from tests.conftest import make_runtime
from tests.monitor.scheduler.conftest import CONFIG
from tests.monitor.scheduler.fakes import FakeClock, Recorder, assert_each_slot_used_once_and_increasing, run_for

T0 = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)


@pytest.fixture
def runtime(sqlite_url: str) -> Iterator[Runtime]:
    runtime = make_runtime(sqlite_url, CONFIG)
    yield runtime
    runtime.close()


def test_a_slot_lasts_one_interval_and_probes_are_spread_within_it() -> None:
    interval = timedelta(seconds=10)
    slot = slot_for("pr-home", interval, T0)
    assert slot <= T0 < slot + interval
    assert slot_for("pr-home", interval, slot + timedelta(seconds=9.999)) == slot
    assert slot_for("pr-home", interval, slot + interval) == slot + interval
    # Different probes with the same interval do not all fire on the same instant.
    offsets = {
        slot_for(f"probe-{i}", interval, T0).microsecond + slot_for(f"probe-{i}", interval, T0).second * 10**6
        for i in range(10)
    }
    assert len(offsets) > 1


def test_each_probe_is_sent_once_per_slot_to_each_location_queue(runtime: Runtime) -> None:
    clock = FakeClock(T0)
    sent = Recorder()
    scheduler = Scheduler(runtime, sent, wall=clock.wall, mono=clock.mono)
    assert scheduler.tick() == 4  # 2 probes x 2 locations
    checks = sent.checks()
    assert {(s.args[0], s.args[1], s.queue) for s in checks} == {
        ("pr-home", "montreal", "probes.montreal"),
        ("pr-home", "vancouver", "probes.vancouver"),
        ("pr-login", "montreal", "probes.montreal"),
        ("pr-login", "vancouver", "probes.vancouver"),
    }
    assert {s.expires for s in checks} == {10.0, 60.0}  # a check that waited a whole interval is dropped
    assert {s.job for s in sent.sent} >= {jobs.SWEEP_OUTBOX, jobs.RELIEVE_OPEN_OUTAGES, jobs.CHECK_MONITORING}

    assert scheduler.tick() == 0  # asked again within the same slots: nothing is sent twice
    sent.clear()
    counts = [run_for(scheduler, clock, 1, tick=1) for _ in range(60)]
    home = [s for s in sent.checks() if s.args[0] == "pr-home"]
    login = [s for s in sent.checks() if s.args[0] == "pr-login"]
    assert len(home) == 12  # every 10 s for a minute, from two locations
    assert len(login) == 2  # once a minute, from two locations
    assert sum(counts) == len(home) + len(login)
    assert_each_slot_used_once_and_increasing(sent)


def test_the_probe_list_is_read_from_the_database_every_ten_seconds_not_every_tick(runtime: Runtime) -> None:
    clock = FakeClock(T0)
    opened = 0
    real_sessions = runtime.sessions

    def counting_sessions() -> Session:
        nonlocal opened
        opened += 1
        return real_sessions()

    runtime.sessions = counting_sessions  # type: ignore[assignment]
    scheduler = Scheduler(runtime, Recorder(), wall=clock.wall, mono=clock.mono)
    run_for(scheduler, clock, 60)  # 240 ticks
    # The probe list at start and every 10 s after, plus the slots already used, read once at start.
    assert opened == 6 + 1


def test_the_scheduler_outlives_a_database_outage_and_sends_once_it_is_back(runtime: Runtime) -> None:
    failures_left = 5
    real_sessions = runtime.sessions

    def flaky_sessions() -> Session:
        nonlocal failures_left
        if failures_left > 0:
            failures_left -= 1
            raise OperationalError("SELECT 1", {}, Exception("connection refused"))
        return real_sessions()

    runtime.sessions = flaky_sessions  # type: ignore[assignment]
    sent = Recorder()
    stop = threading.Event()
    scheduler = Scheduler(runtime, sent)
    thread = threading.Thread(target=scheduler.run, args=(stop,), kwargs={"tick": 0.01})
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not sent.checks() and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert failures_left == 0
    assert len(sent.checks()) >= 4


def test_a_dispatch_that_fails_is_tried_again_on_the_next_tick(runtime: Runtime) -> None:
    clock = FakeClock(T0)
    sent = Recorder()
    broken = True

    def dispatch(job: str, args: tuple[Any, ...], *, queue: str, expires: float | None = None) -> None:
        if broken and job == jobs.RUN_CHECKS:
            raise ConnectionError("broker down")
        sent(job, args, queue=queue, expires=expires)

    scheduler = Scheduler(runtime, dispatch, wall=clock.wall, mono=clock.mono)
    with pytest.raises(ConnectionError):
        scheduler.tick()
    broken = False
    clock.advance(0.25)
    assert scheduler.tick() == 4


MANY = "components:\n  - id: pr-portal\n    name: Permanent residence portal\n    probes:\n" + "".join(
    f'      - {{id: p{n:04d}, type: http, url: "http://127.0.0.1:9/{n}", interval: 60s}}\n' for n in range(2000)
)


def test_a_tick_looks_only_at_the_probes_whose_slot_has_started(sqlite_url: str) -> None:
    runtime = make_runtime(sqlite_url, MANY)
    try:
        clock = FakeClock(T0)
        sent = Recorder()
        scheduler = Scheduler(runtime, sent, wall=clock.wall, mono=clock.mono)
        assert scheduler.tick() == 2000  # the first tick sends every probe's current slot
        sent_again = 0
        for _ in range(240):  # one minute of ticks: each probe's next slot starts exactly once
            clock.advance(0.25)
            before = len(scheduler._queue)
            sent_now = scheduler.tick()
            sent_again += sent_now
            assert len(scheduler._queue) == before  # every probe looked at is queued again at its next slot
        assert sent_again == 2000
        assert_each_slot_used_once_and_increasing(sent)
        # One task per location and tick, never one per check.
        assert len(sent.jobs(jobs.RUN_CHECKS)) <= 241
    finally:
        runtime.close()


def test_the_scheduler_sleeps_until_the_next_slot_starts_and_no_longer_than_a_tick(runtime: Runtime) -> None:
    clock = FakeClock(T0)
    scheduler = Scheduler(runtime, Recorder(), wall=clock.wall, mono=clock.mono)
    scheduler.tick()
    wait = scheduler.next_due_in(clock.wall())
    next_slot = min(
        slot_for(p, timedelta(seconds=s), T0) + timedelta(seconds=s) for p, s in (("pr-home", 10), ("pr-login", 60))
    )
    assert wait is not None and 0 <= wait <= (next_slot - T0).total_seconds()
    assert scheduler._pause(0.25) == min(max(wait, MIN_PAUSE), 0.25)


def test_checks_wait_at_most_a_fortieth_of_their_interval_to_be_sent_together() -> None:
    assert allowance(timedelta(seconds=1)) == timedelta(milliseconds=25)
    assert allowance(timedelta(seconds=10)) == timedelta(milliseconds=250)
    assert allowance(timedelta(minutes=5)) == timedelta(milliseconds=500)


def test_checks_whose_slots_start_close_together_go_out_in_one_task_within_their_allowance(sqlite_url: str) -> None:
    runtime = make_runtime(sqlite_url, MANY.replace("interval: 60s", "interval: 10s"))
    try:
        clock = FakeClock(T0)
        sent = Recorder(clock)
        scheduler = Scheduler(runtime, sent, wall=clock.wall, mono=clock.mono)
        scheduler.tick()
        sent.sent.clear()
        while clock.wall() < T0 + timedelta(seconds=20):
            clock.advance(max(scheduler._pause(0.25), 0.001))
            scheduler.tick()
        batches = sent.jobs(jobs.RUN_CHECKS)
        checks = sent.checks()
        assert len(checks) >= 2 * 2000 - 50  # two intervals' worth of every probe's slot
        assert len(batches) <= 2 * 10 / 0.25 + 2  # about one task per allowance, not one per check
        late = [s.wall - datetime.fromisoformat(s.args[2]) for s in checks if s.wall is not None]
        assert max(late) <= allowance(timedelta(seconds=10)) + timedelta(milliseconds=5)
    finally:
        runtime.close()
