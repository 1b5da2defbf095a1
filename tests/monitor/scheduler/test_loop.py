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
from monitor.scheduler.loop import Scheduler
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
        if broken and job == jobs.RUN_CHECK:
            raise ConnectionError("broker down")
        sent(job, args, queue=queue, expires=expires)

    scheduler = Scheduler(runtime, dispatch, wall=clock.wall, mono=clock.mono)
    with pytest.raises(ConnectionError):
        scheduler.tick()
    broken = False
    clock.advance(0.25)
    assert scheduler.tick() == 4
