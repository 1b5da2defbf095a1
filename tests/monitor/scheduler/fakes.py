"""Stand-ins for the scheduler's tests: clocks moved by hand, a dispatcher that records, a Redis key space."""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import redis

from monitor.scheduler.loop import Scheduler
from monitor.usecases import jobs


@dataclass
class FakeClock:
    """A wall clock and a monotonic clock; `advance` moves both, `step_wall` only the wall clock (NTP, an operator)."""

    wall_at: datetime
    mono_at: float = 1_000.0

    def wall(self) -> datetime:
        return self.wall_at

    def mono(self) -> float:
        return self.mono_at

    def advance(self, seconds: float) -> None:
        self.wall_at += timedelta(seconds=seconds)
        self.mono_at += seconds

    def step_wall(self, delta: timedelta) -> None:
        self.wall_at += delta


@dataclass(frozen=True)
class Sent:
    job: str
    args: tuple[Any, ...]
    queue: str
    expires: float | None
    wall: datetime | None  # the wall clock when it was sent: what a probe would report as its start


@dataclass
class Recorder:
    """A Dispatch that keeps what it was asked to send."""

    clock: FakeClock | None = None
    sent: list[Sent] = field(default_factory=list)

    def __call__(self, job: str, args: tuple[Any, ...], *, queue: str, expires: float | None = None) -> None:
        self.sent.append(Sent(job, args, queue, expires, self.clock.wall() if self.clock else None))

    def checks(self) -> list[Sent]:
        """Every check sent, one Sent each with args (probe, location, slot), out of the batches that carried them."""
        found: list[Sent] = []
        for s in self.sent:
            if s.job == jobs.RUN_CHECK:
                found.append(s)
            elif s.job == jobs.RUN_CHECKS:
                location, items = s.args
                found += [Sent(s.job, (item[0], location, item[1]), s.queue, s.expires, s.wall) for item in items]
        return found

    def jobs(self, job: str) -> list[Sent]:
        return [s for s in self.sent if s.job == job]

    def slots_by_key(self) -> dict[tuple[str, str], list[datetime]]:
        by_key: dict[tuple[str, str], list[datetime]] = defaultdict(list)
        for s in self.checks():
            by_key[(s.args[0], s.args[1])].append(datetime.fromisoformat(s.args[2]))
        return dict(by_key)

    def clear(self) -> None:
        self.sent.clear()


def run_for(scheduler: Scheduler, clock: FakeClock, seconds: float, *, tick: float = 0.25) -> int:
    """Tick as `Scheduler.run` does, with both clocks moving; returns how many checks were sent."""
    sent = 0
    for _ in range(round(seconds / tick)):
        clock.advance(tick)
        sent += scheduler.tick()
    return sent


def assert_each_slot_used_once_and_increasing(recorder: Recorder) -> None:
    checks = recorder.checks()
    assert len({s.args for s in checks}) == len(checks), "a (probe, location, slot) was sent twice"
    for key, slots in recorder.slots_by_key().items():
        assert all(a < b for a, b in itertools.pairwise(slots)), f"slots of {key} went back: {slots}"


@dataclass(frozen=True)
class RedisSpace:
    url: str
    prefix: str  # every key the test's schedulers write starts with it
    client: redis.Redis

    @property
    def lock_name(self) -> str:
        return f"{self.prefix}:leader"

    @property
    def high_water_key(self) -> str:
        return f"{self.prefix}:high_water"
