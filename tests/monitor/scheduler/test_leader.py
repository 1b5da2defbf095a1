"""Only one scheduler sends: the holder of a Redis lock; a standby takes over when the leader is gone."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor import cli
from monitor.runtime import Runtime
from monitor.scheduler.leader import LOCK_TTL, RedisLeadership
from monitor.scheduler.loop import Scheduler
from tests.conftest import make_runtime
from tests.monitor.scheduler.fakes import FakeClock, Recorder, RedisSpace, run_for
from tests.monitor.scheduler.proxy import TcpProxy

CONFIG = """
locations: [montreal, vancouver]
components:
  - id: pr-portal
    name: Permanent residence portal
    probes:
      - {id: pr-home, type: http, url: "http://127.0.0.1:9/pr/", interval: 1s}
"""
T0 = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
TTL = 1.0  # seconds: short, so a takeover fits in a test


class Node:
    """One scheduler process: its own clocks, dispatcher and Redis connection."""

    def __init__(self, runtime: Runtime, url: str, prefix: str, *, wall: datetime = T0, ttl: float = TTL) -> None:
        self.clock = FakeClock(wall)
        self.sent = Recorder(self.clock)
        self.leadership = RedisLeadership.from_url(url, prefix=prefix, ttl=ttl)
        self.scheduler = Scheduler(
            runtime, self.sent, wall=self.clock.wall, mono=self.clock.mono, leadership=self.leadership
        )

    def tick(self) -> int:
        self.clock.advance(0.25)
        return self.scheduler.tick()

    def close(self) -> None:
        self.leadership.close()
        self.leadership.client.close()


@pytest.fixture
def runtime(sqlite_url: str) -> Iterator[Runtime]:
    runtime = make_runtime(sqlite_url, CONFIG)
    yield runtime
    runtime.close()


@pytest.fixture
def nodes(runtime: Runtime, redis_space: RedisSpace) -> Iterator[Callable[..., Node]]:
    made: list[Node] = []

    def make(**kwargs: Any) -> Node:
        node = Node(runtime, redis_space.url, redis_space.prefix, **kwargs)
        made.append(node)
        return node

    yield make
    for node in made:
        node.close()


def tick_for(seconds: float, *nodes: Node) -> None:
    """Tick the nodes in turn for `seconds` of real time (the lock's TTL runs on Redis's clock)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for node in nodes:
            node.tick()
        time.sleep(0.02)


def tick_until(predicate: Callable[[], bool], *nodes: Node, timeout: float) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout} s")
        for node in nodes:
            node.tick()
        time.sleep(0.02)
    return time.monotonic() - started


def messages(caplog: pytest.LogCaptureFixture, words: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if words in r.getMessage()]


def test_of_two_schedulers_sharing_the_lock_only_one_sends_checks_and_it_keeps_the_lock_past_its_ttl(
    nodes: Callable[..., Node],
) -> None:
    first, second = nodes(), nodes()
    tick_for(3 * TTL, first, second)  # renewals keep it: three TTLs later the first still leads
    assert first.sent.checks() and first.sent.jobs("portalwatch.sweep_outbox")
    assert second.sent.sent == []  # neither checks nor periodic jobs from the standby
    assert first.leadership.term == 1 and second.leadership.term == 0


def test_a_standby_takes_over_within_the_ttl_once_the_leader_stops_renewing_and_the_old_leader_stays_quiet(
    nodes: Callable[..., Node], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="monitor.scheduler.leader")
    leader, standby = nodes(), nodes()
    tick_for(0.5, leader, standby)
    assert leader.sent.checks() and not standby.sent.checks()

    # The leader hangs (or was killed with -9): it neither renews nor releases.
    took = tick_until(lambda: bool(standby.sent.checks()), standby, timeout=3 * TTL)
    assert took <= TTL + 0.5

    leader.sent.clear()
    tick_for(0.5, leader, standby)  # the old leader comes back: its renewal fails, it sends nothing
    assert leader.sent.sent == []
    assert not leader.leadership.leading
    assert messages(caplog, "lost scheduler leadership")
    assert len(messages(caplog, "became the scheduler leader")) == 2


def test_a_leader_that_stops_cleanly_hands_over_at_once(nodes: Callable[..., Node]) -> None:
    leader, standby = nodes(ttl=LOCK_TTL), nodes(ttl=LOCK_TTL)
    leader.tick()
    standby.tick()
    assert not standby.sent.checks()
    leader.close()  # what `Scheduler.run` does when it is stopped
    assert standby.tick() > 0


def test_a_leader_whose_lock_was_taken_sends_nothing_more_even_before_its_next_renewal(
    nodes: Callable[..., Node], redis_space: RedisSpace, caplog: pytest.LogCaptureFixture
) -> None:
    leader, standby = nodes(ttl=LOCK_TTL), nodes(ttl=LOCK_TTL)
    leader.tick()
    redis_space.client.delete(redis_space.lock_name)  # Redis restarted empty, and the standby got there first
    standby.tick()
    assert standby.leadership.leading
    leader.sent.clear()
    for _ in range(8):  # two seconds: new slots are due, long before a renewal (every 5 s)
        leader.tick()
    assert leader.sent.sent == []
    assert messages(caplog, "lost scheduler leadership: the lock is no longer ours")


def test_a_new_leader_on_a_clock_an_hour_behind_starts_after_the_old_leader_s_last_slot(
    nodes: Callable[..., Node], redis_space: RedisSpace
) -> None:
    old = nodes(ttl=LOCK_TTL)
    run_for(old.scheduler, old.clock, 30)
    issued = {key: max(slots) for key, slots in old.sent.slots_by_key().items()}
    high_water = int(redis_space.client.get(redis_space.high_water_key) or 0)
    assert high_water == int(max(issued.values()).timestamp() * 1000)
    old.close()

    new = nodes(ttl=LOCK_TTL, wall=T0 - timedelta(hours=1))  # another host, its clock an hour behind
    run_for(new.scheduler, new.clock, 10)
    assert len(new.sent.checks()) >= 18  # every second, at two locations
    for key, slots in new.sent.slots_by_key().items():
        # It goes on from the old leader's last slot; that one slot may be sent again (the database drops it).
        assert min(slots) >= issued[key], key
        assert sorted(slots)[1] > issued[key], key


def test_the_scheduler_outlives_a_redis_restart_and_leads_again_after_it(
    runtime: Runtime, redis_space: RedisSpace, redis_proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="monitor.scheduler.leader")
    node = Node(runtime, f"redis://{redis_proxy.url_authority}/12", redis_space.prefix)
    try:
        tick_for(0.3, node)
        assert node.leadership.leading and node.sent.checks()

        redis_proxy.stop()  # Redis goes away and comes back empty
        redis_space.client.delete(redis_space.lock_name, redis_space.high_water_key)
        tick_until(lambda: not node.leadership.leading, node, timeout=2 * TTL)  # no exception escapes a tick
        node.sent.clear()
        tick_for(0.5, node)
        assert node.sent.sent == []  # nothing is sent while it cannot hold the lock

        redis_proxy.start()
        tick_until(lambda: bool(node.sent.checks()), node, timeout=2 * TTL)
        assert node.leadership.leading and node.leadership.term == 2
    finally:
        node.close()
    assert len(messages(caplog, "lost scheduler leadership: Redis cannot be reached")) == 1  # not once per tick
    assert messages(caplog, "Redis can be reached again")


def test_the_scheduler_command_runs_the_scheduler_under_the_redis_leader_lock(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "portalwatch.yaml"
    config.write_text(CONFIG)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/12")
    monkeypatch.setenv("PORTALWATCH_CONFIG", str(config))
    monkeypatch.setattr(cli, "_stop_on_signals", lambda stop, on_stop: None)
    ran: list[Scheduler] = []
    monkeypatch.setattr(Scheduler, "run", lambda self, stop, **_: ran.append(self))

    assert cli.scheduler_main(argparse.Namespace(config=None)) == 0

    [scheduler] = ran
    leadership = scheduler.leadership
    assert isinstance(leadership, RedisLeadership)
    assert (leadership.lock_name, leadership.ttl) == ("portalwatch:scheduler:leader", LOCK_TTL)
    assert leadership.high_water_key == "portalwatch:scheduler:high_water"
