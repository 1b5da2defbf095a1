"""When checks are sent: once per probe, location and slot, to the location's own queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from celery import Task

from monitor import tasks
from monitor.scheduler import Scheduler, slot_for
from tests.conftest import make_runtime

CONFIG = """
locations: [montreal, vancouver]
relief: {interval: 30s}
components:
  - id: pr-portal
    name: Permanent residence portal
    probes:
      - {id: pr-home, type: http, url: "http://127.0.0.1:9/pr/", interval: 10s}
      - {id: pr-login, type: http, url: "http://127.0.0.1:9/pr/login", interval: 1m}
"""
T0 = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)


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


def test_each_probe_is_sent_once_per_slot_to_each_location_queue(sqlite_url: str) -> None:
    runtime = make_runtime(sqlite_url, CONFIG)
    sent: list[tuple[str, tuple[Any, ...], str, float | None]] = []

    def dispatch(task: Task, args: tuple[Any, ...], queue: str, expires: float | None) -> None:
        sent.append((task.name, args, queue, expires))

    scheduler = Scheduler(runtime, dispatch)
    assert scheduler.tick(T0) == 4  # 2 probes x 2 locations
    checks = [s for s in sent if s[0] == tasks.run_check.name]
    assert {(args[0], args[1], queue) for _, args, queue, _ in checks} == {
        ("pr-home", "montreal", "probes.montreal"),
        ("pr-home", "vancouver", "probes.vancouver"),
        ("pr-login", "montreal", "probes.montreal"),
        ("pr-login", "vancouver", "probes.vancouver"),
    }
    assert {expires for *_, expires in checks} == {10.0, 60.0}  # a check that waited a whole interval is dropped
    assert {s[0] for s in sent} >= {tasks.sweep_outbox.name, tasks.relieve_open_outages.name}

    assert scheduler.tick(T0) == 0  # asked again within the same slots: nothing is sent twice
    sent.clear()
    counts = [scheduler.tick(T0 + timedelta(seconds=s)) for s in range(1, 61)]
    home = [s for s in sent if s[0] == tasks.run_check.name and s[1][0] == "pr-home"]
    login = [s for s in sent if s[0] == tasks.run_check.name and s[1][0] == "pr-login"]
    assert len(home) == 12  # every 10 s for a minute, from two locations
    assert len(login) == 2  # once a minute, from two locations
    assert sum(counts) == len(home) + len(login)
    assert len({args for _, args, _, _ in home}) == len(home)  # never the same (probe, location, slot) twice
    runtime.close()
