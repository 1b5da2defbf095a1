"""Deciding when each probe runs, and sending the work out.

Every probe's time line is cut into slots of its interval (offset per probe, so probes with the
same interval don't all fire at the same instant). A check is identified by (probe, location,
slot): the scheduler may send a slot twice after a restart, and a task may be delivered twice,
yet only one check is ever recorded for it.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import Task

from monitor import tasks
from monitor.db import transaction
from monitor.registry import active_probes
from monitor.runtime import Runtime

log = logging.getLogger(__name__)

Dispatch = Callable[[Task, tuple[Any, ...], str, float | None], None]


@dataclass(frozen=True)
class ScheduledProbe:
    probe_id: str
    interval: timedelta


def slot_for(probe_id: str, interval: timedelta, now: datetime) -> datetime:
    """The start of the slot `now` falls in, for this probe."""
    step = max(int(interval.total_seconds() * 1000), 1)
    offset = zlib.crc32(probe_id.encode()) % step
    ms = int(now.timestamp() * 1000)
    start = (ms - offset) // step * step + offset
    return datetime.fromtimestamp(start / 1000, tz=UTC)


@dataclass
class Periodic:
    task: Task
    every: timedelta
    last: datetime | None = None

    def due(self, now: datetime) -> bool:
        return self.last is None or now - self.last >= self.every


class Scheduler:
    def __init__(self, runtime: Runtime, dispatch: Dispatch, *, refresh: timedelta = timedelta(seconds=10)) -> None:
        self.runtime = runtime
        self.dispatch = dispatch
        self.refresh = refresh
        self._probes: list[ScheduledProbe] = []
        self._loaded_at: datetime | None = None
        self._sent: dict[tuple[str, str], datetime] = {}
        self._periodic = [
            Periodic(tasks.sweep_outbox, timedelta(seconds=2)),
            Periodic(tasks.relieve_open_outages, runtime.config.relief.interval),
        ]

    def _load(self, now: datetime) -> None:
        if self._loaded_at is not None and now - self._loaded_at < self.refresh:
            return
        with transaction(self.runtime.sessions) as session:
            self._probes = [ScheduledProbe(p.id, timedelta(seconds=p.interval_seconds)) for p in active_probes(session)]
        self._loaded_at = now

    def tick(self, now: datetime) -> int:
        """Send everything due at `now`; returns how many checks were sent."""
        self._load(now)
        sent = 0
        for probe in self._probes:
            slot = slot_for(probe.probe_id, probe.interval, now)
            for location in self.runtime.config.locations:
                key = (probe.probe_id, location)
                if self._sent.get(key) == slot:
                    continue
                self.dispatch(
                    tasks.run_check,
                    (probe.probe_id, location, slot.isoformat()),
                    tasks.probe_queue(location),
                    probe.interval.total_seconds(),  # a check not started within its interval is stale
                )
                self._sent[key] = slot  # only once sent: a broker hiccup means the slot is tried again
                sent += 1
        for periodic in self._periodic:
            if periodic.due(now):
                self.dispatch(periodic.task, (), tasks.DEFAULT_QUEUE, None)
                periodic.last = now
        return sent

    def run(self, stop: threading.Event, *, tick: float = 0.25) -> None:
        while not stop.is_set():
            try:
                self.tick(self.runtime.clock())
            except Exception:  # the scheduler must outlive a database hiccup
                log.exception("scheduler tick failed")
            stop.wait(tick)


def send_to_broker(task: Task, args: tuple[Any, ...], queue: str, expires: float | None) -> None:
    task.apply_async(args, queue=queue, expires=expires)


class InProcess:
    """Embedded mode: run tasks on a thread pool in this process instead of on Celery workers."""

    def __init__(self, workers: int = 8) -> None:
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="portalwatch-task")

    def __call__(self, task: Task, args: tuple[Any, ...], queue: str, expires: float | None) -> None:
        self.pool.submit(self._run, task, args)

    @staticmethod
    def _run(task: Task, args: tuple[Any, ...]) -> None:
        result = task.apply(args)
        if result.failed():
            log.error("task %s%r failed: %s", task.name, args, result.result)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
