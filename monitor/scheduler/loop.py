"""Deciding when each probe runs, and sending the work out (the only place that decides what is due).

Checks are cut from the scheduler's own time line (clock.Timeline), which never goes backwards, and
each (probe, location) is sent strictly increasing slots: a slot the database already holds would
be dropped, and detection ignores any slot that is not after the last it folded. Periodic jobs run
on the monotonic clock. Only the leader sends (leader.Leadership): in distributed mode the holder
of a Redis lock, in embedded mode the one scheduler of the process.

Probes wait in a heap ordered by the start of their next slot; a started slot joins the batch of its
location and interval, and a batch is sent as one task once its first check has waited its
allowance (a fortieth of the interval, at most 0.5 s). The loop sleeps until the next slot starts or
batch is due.

Cost per tick: no database query (the probe list is re-read every `refresh`); work in proportion to
the slots that started, not to the probes configured; a standby makes one Redis SET NX; the leader
one renewal every TTL/3 and, on ticks that send a batch, one Redis script call recording the
high-water mark before it is sent.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.metrics.series import batch_sent
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
PRUNE_CHECKS_EVERY = timedelta(minutes=10)  # retention: also at start, so a restart never skips it for long
SLACK_REMINDERS_EVERY = timedelta(seconds=30)  # a reminder goes out at most this late
MIN_PAUSE = 0.005  # seconds: never spin
# How late a check may start for the sake of batching: a fortieth of its interval, at most half a
# second. Probes' slots are spread over their interval, so sending each as its slot starts would send
# a task per check; gathering what starts within this allowance sends batches big enough to pay for
# their task and transactions (1,000 probes at 10 s: about 25 checks a batch), while a probe checked
# every second is still sent within 25 ms (detection waits on it).
BATCH_SHARE = 40
MAX_ALLOWANCE = timedelta(seconds=0.5)


def allowance(interval: timedelta) -> timedelta:
    return min(interval / BATCH_SHARE, MAX_ALLOWANCE)


@dataclass
class Held:
    """Checks gathered for one task: sent together at `send_at`, the first one's slot plus its allowance."""

    send_at: datetime
    checks: dict[str, tuple[ScheduledProbe, datetime]] = field(default_factory=dict)  # probe id -> (probe, slot)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # "look at it on the next tick"
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
        # (start of the probe's next slot, probe id, probe): what the next ticks look at.
        self._queue: list[tuple[datetime, str, ScheduledProbe]] = []
        self._held: dict[tuple[str, timedelta], Held] = {}  # (location, interval) -> checks gathered to send
        self._loaded_at: float | None = None
        self._sent: dict[tuple[str, str], datetime] = {}  # (probe, location) -> latest slot sent or already used
        self._periodic = [
            Periodic(jobs.SWEEP_OUTBOX, OUTBOX_SWEEP_EVERY),
            Periodic(jobs.RELIEVE_OPEN_OUTAGES, runtime.config.relief.interval),
            Periodic(jobs.CHECK_MONITORING, MONITORING_CHECK_EVERY),
            Periodic(jobs.PRUNE_CHECKS, PRUNE_CHECKS_EVERY),
            Periodic(jobs.SLACK_REMINDERS, SLACK_REMINDERS_EVERY),
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
            self._held.clear()  # gathered in an earlier term: the floors decide afresh what is still to send
            high_water = self.leadership.high_water()
            if high_water is not None:
                now = self.timeline.raise_to(high_water, why="the previous leader issued slots up to")
        self._load(mono)
        if self._floors_due:
            now = self._apply_database_floor(now)

        self._hold(self._due(now))
        sent = self._send(now)
        for periodic in self._periodic:
            if periodic.due(mono):
                self.dispatch(periodic.job, (), queue=jobs.DEFAULT_QUEUE)
                periodic.last = mono
        return sent

    def _hold(self, due: list[tuple[ScheduledProbe, str, datetime]]) -> None:
        """Gather started slots into batches, one per location and interval, until the batch's send time."""
        for probe, location, slot in due:
            key = (location, probe.interval)
            send_at = slot + allowance(probe.interval)
            batch = self._held.get(key)
            if batch is None:
                batch = self._held[key] = Held(send_at=send_at)
            batch.send_at = min(batch.send_at, send_at)  # its earliest check's allowance decides
            batch.checks[probe.probe_id] = (probe, slot)

    def _send(self, now: datetime) -> int:
        """Send every batch whose send time has come: one task for each location and interval.

        One task carries every check of a location (and interval) whose slot started in the last
        moments, so its checks run at once on the worker's event loop and are recorded in groups,
        instead of a task, a transaction and a lock each. By interval too, so each task expires when its
        checks go stale.
        """
        ready = [(key, batch) for key, batch in self._held.items() if batch.send_at <= now]
        if not ready:
            return 0
        # Written before sending: a leader that dies mid-tick must not leave its successor a lower mark.
        highest = max(slot for _, batch in ready for _, slot in batch.checks.values())
        if not self.leadership.record_high_water(highest):
            self._held.clear()  # leadership was lost just now: the new leader sends these
            return 0
        sent = 0
        for (location, interval), batch in ready:
            self.dispatch(
                jobs.RUN_CHECKS,
                (location, [[probe.probe_id, slot.isoformat()] for probe, slot in batch.checks.values()]),
                queue=jobs.probe_queue(location),
                expires=interval.total_seconds(),  # not started within its interval: the next slot replaces it
            )
            # Only once sent: after a broker hiccup the batch is still held and is tried again next tick.
            del self._held[(location, interval)]
            for probe, slot in batch.checks.values():
                self._sent[(probe.probe_id, location)] = slot
            sent += len(batch.checks)
            # portalwatch_scheduler_lateness_seconds: how long after its first check's slot began it went out.
            batch_sent(location, (now - min(slot for _, slot in batch.checks.values())).total_seconds())
        return sent

    def _load(self, mono: float) -> None:
        if self._loaded_at is not None and mono - self._loaded_at < self.refresh.total_seconds():
            return
        with transaction(self.runtime.sessions) as session:
            self._probes = [ScheduledProbe(p.id, timedelta(seconds=p.interval_seconds)) for p in active_probes(session)]
        self._loaded_at = mono
        # Every probe is looked at on the next tick (the list, an interval or the locations may have
        # changed); after that, only when its next slot starts.
        self._queue = [(_EPOCH, probe.probe_id, probe) for probe in self._probes]
        heapq.heapify(self._queue)

    def _due(self, now: datetime) -> list[tuple[ScheduledProbe, str, datetime]]:
        """Every (probe, location, slot) whose slot has started and was not sent yet.

        Only probes whose next slot has started are looked at, from a heap ordered by that start: a
        tick's cost follows the checks it sends, not the number of probes configured.
        """
        due: list[tuple[ScheduledProbe, str, datetime]] = []
        locations = self.runtime.config.location_names
        while self._queue and self._queue[0][0] <= now:
            _, _, probe = heapq.heappop(self._queue)
            slot = slot_for(probe.probe_id, probe.interval, now)
            for location in locations:
                last = self._sent.get((probe.probe_id, location))
                # Strictly later only: an equal or earlier slot is already used (or ignored by detection).
                # An interval change can make the new grid's current slot start before the old one's.
                if last is None or slot > last:
                    due.append((probe, location, slot))
            heapq.heappush(self._queue, (slot + probe.interval, probe.probe_id, probe))
        return due

    def next_due_in(self, now: datetime) -> float | None:
        """Seconds until the next slot starts or a held batch is to be sent, if the probe list is loaded."""
        times = [batch.send_at for batch in self._held.values()]
        if self._queue:
            times.append(self._queue[0][0])
        if not times:
            return None
        return max((min(times) - now).total_seconds(), 0.0)

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

    def _pause(self, longest: float) -> float:
        """Until the next slot starts or batch is due, but at least MIN_PAUSE and at most `longest`."""
        if not self.leadership.leading:
            return longest
        until = self.next_due_in(self.timeline.now())
        return longest if until is None else min(max(until, MIN_PAUSE), longest)

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
                stop.wait(tick if failing else self._pause(tick))
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
