"""Deciding when each probe runs, and sending the work out (the only place that decides what is due).

Checks are cut from the scheduler's own time line (clock.Timeline), which never goes backwards, and
each (probe, location) is sent strictly increasing slots: a slot the database already holds would
be dropped, and detection ignores any slot that is not after the last it folded. Periodic jobs run
on the monotonic clock. Only the leader sends (leader.Leadership): in distributed mode the holder
of a Redis lock, in embedded mode the one scheduler of the process.

Cost per tick: no database query (the probe list is re-read every `refresh`); a standby makes one
Redis SET NX; the leader one renewal every TTL/3 and, on ticks that start a slot, one Redis script
call recording the high-water mark before the slots are sent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.runtime import Dispatch, Runtime
from monitor.scheduler.clock import Timeline
from monitor.scheduler.leader import Alone, Leadership
from monitor.scheduler.slots import slot_for
from monitor.storage.engine import transaction
from monitor.storage.models import Check, Location
from monitor.usecases import jobs
from monitor.usecases.configure import active_probes

log = logging.getLogger(__name__)

MONITORING_CHECK_EVERY = timedelta(seconds=5)
OUTBOX_SWEEP_EVERY = timedelta(seconds=2)


@dataclass(frozen=True)
class ScheduledProbe:
    probe_id: str
    interval: timedelta


@dataclass
class Periodic:
    """A job run every `every`, timed on the monotonic clock: a wall-clock step never stops or floods it."""

    job: str
    every: timedelta
    last: float | None = None  # monotonic time of the last send

    def due(self, mono: float) -> bool:
        return self.last is None or mono - self.last >= self.every.total_seconds()


class Scheduler:
    def __init__(
        self,
        runtime: Runtime,
        dispatch: Dispatch,
        *,
        refresh: timedelta = timedelta(seconds=10),
        wall: Callable[[], datetime] | None = None,
        mono: Callable[[], float] = time.monotonic,
        leadership: Leadership | None = None,
    ) -> None:
        self.runtime = runtime
        self.dispatch = dispatch
        self.refresh = refresh
        self._mono = mono
        # Read through the runtime at each tick, so a clock the runtime is given later is the one used.
        self.timeline = Timeline(wall if wall is not None else (lambda: runtime.clock()), mono)
        self.leadership: Leadership = leadership if leadership is not None else Alone()
        self._term = 0  # the leadership term whose floors were applied
        self._floors_due = True  # read the used slots before sending anything in a new term
        self._probes: list[ScheduledProbe] = []
        self._loaded_at: float | None = None
        self._sent: dict[tuple[str, str], datetime] = {}  # (probe, location) -> latest slot sent or already used
        self._periodic = [
            Periodic(jobs.SWEEP_OUTBOX, OUTBOX_SWEEP_EVERY),
            Periodic(jobs.RELIEVE_OPEN_OUTAGES, runtime.config.relief.interval),
            Periodic(jobs.CHECK_MONITORING, MONITORING_CHECK_EVERY),
        ]

    def tick(self) -> int:
        """Send everything due now, if this scheduler leads; returns how many checks were sent."""
        mono = self._mono()
        leading = self.leadership.lead()  # first, and apart from the database: a DB outage must not cost the lock
        now = self.timeline.now()  # also while standing by, so clock steps are noticed and logged as they happen
        if not leading:
            return 0
        if self.leadership.term != self._term:
            # Just took over (or started): another scheduler, or this one before a restart, may have
            # used slots up to its high-water mark, maybe on a wall clock ahead of ours.
            self._term = self.leadership.term
            self._floors_due = True
            self._loaded_at = None
            high_water = self.leadership.high_water()
            if high_water is not None:
                now = self.timeline.raise_to(high_water, why="the previous leader issued slots up to")
        self._load(mono)
        if self._floors_due:
            now = self._apply_database_floor(now)

        due: list[tuple[ScheduledProbe, str, datetime]] = []
        for probe in self._probes:
            slot = slot_for(probe.probe_id, probe.interval, now)
            for location in self.runtime.config.locations:
                last = self._sent.get((probe.probe_id, location))
                # Strictly later only: an equal or earlier slot is already used (or ignored by detection).
                # An interval change can make the new grid's current slot start before the old one's.
                if last is None or slot > last:
                    due.append((probe, location, slot))
        # Written before sending: a leader that dies mid-tick must not leave its successor a lower mark.
        if due and not self.leadership.record_high_water(max(slot for *_, slot in due)):
            return 0  # leadership was lost just now: the new leader sends these
        sent = 0
        for probe, location, slot in due:
            self.dispatch(
                jobs.RUN_CHECK,
                (probe.probe_id, location, slot.isoformat()),
                queue=jobs.probe_queue(location),
                expires=probe.interval.total_seconds(),  # a check not started within its interval is stale
            )
            self._sent[(probe.probe_id, location)] = slot  # only once sent: a broker hiccup means it is tried again
            sent += 1
        for periodic in self._periodic:
            if periodic.due(mono):
                self.dispatch(periodic.job, (), queue=jobs.DEFAULT_QUEUE)
                periodic.last = mono
        return sent

    def _load(self, mono: float) -> None:
        if self._loaded_at is not None and mono - self._loaded_at < self.refresh.total_seconds():
            return
        with transaction(self.runtime.sessions) as session:
            self._probes = [ScheduledProbe(p.id, timedelta(seconds=p.interval_seconds)) for p in active_probes(session)]
        self._loaded_at = mono

    def _apply_database_floor(self, now: datetime) -> datetime:
        """Start after the slots the database already holds (a restart, perhaps on a clock set back since)."""
        with transaction(self.runtime.sessions) as session:
            used = _latest_slots(session, [p.probe_id for p in self._probes])
        for key, slot in used.items():
            if key not in self._sent or slot > self._sent[key]:
                self._sent[key] = slot
        self._floors_due = False
        if not used:
            return now
        return self.timeline.raise_to(max(used.values()), why="checks are already recorded up to")

    def run(self, stop: threading.Event, *, tick: float = 0.25) -> None:
        failing = False
        try:
            while not stop.is_set():
                try:
                    self.tick()
                    if failing:
                        log.info("scheduler ticks succeed again")
                    failing = False
                except Exception:  # the scheduler must outlive a database or broker hiccup
                    # The traceback once per outage, not four times a second for as long as it lasts.
                    if failing:
                        log.debug("scheduler tick failed again", exc_info=True)
                    else:
                        log.exception("scheduler tick failed; retrying every %.2f s", tick)
                    failing = True
                stop.wait(tick)
        finally:
            self.leadership.close()


def _latest_slots(session: Session, probe_ids: list[str]) -> dict[tuple[str, str], datetime]:
    """The latest recorded slot of each (probe, location).

    One query per pair, each answered from the end of the unique (probe_id, location, slot) index;
    a single max() over all the probes' checks would read every check ever recorded. Run once per
    leadership term, never per tick.
    """
    locations = list(session.scalars(select(Location.id)))  # inactive ones too: their slots are used as well
    latest: dict[tuple[str, str], datetime] = {}
    for probe_id in probe_ids:
        for location in locations:
            slot = session.scalar(
                select(func.max(Check.slot)).where(Check.probe_id == probe_id, Check.location == location)
            )
            if slot is not None:
                latest[(probe_id, location)] = slot
    return latest
