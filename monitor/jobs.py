"""The work PortalWatch does, as plain functions of a Runtime; Celery tasks and the embedded mode both call these."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select

from exemptions.relief import ReliefRun, grant_relief
from monitor.db import transaction
from monitor.models import Outage, Probe
from monitor.outbox import Delivery, deliver, pending_event_ids
from monitor.recording import check_recorded, record_check
from monitor.runtime import Runtime
from probes.runner import run_probe
from probes.spec import HttpProbeSpec

log = logging.getLogger(__name__)


def run_check(runtime: Runtime, probe_id: str, location: str, slot: datetime) -> list[int]:
    """Run one scheduled check and record it. Returns ids of outage events to deliver after commit."""
    with transaction(runtime.sessions) as session:
        if check_recorded(session, probe_id, location, slot):
            return []  # a redelivered task: this slot was already checked
        probe = session.get(Probe, probe_id)
        if probe is None or not probe.active:
            log.info("probe %s is no longer configured; skipping", probe_id)
            return []
        spec = HttpProbeSpec.model_validate(probe.spec)
    # No transaction is held open while the portal is being probed.
    result = run_probe(spec, location)
    with transaction(runtime.sessions) as session:
        return record_check(
            session, result, slot=slot, grace_days=runtime.config.relief.grace_days, now=runtime.clock()
        )


def deliver_event(runtime: Runtime, event_id: int) -> Delivery:
    return deliver(runtime, event_id)


def pending_events(runtime: Runtime) -> list[int]:
    with transaction(runtime.sessions) as session:
        return pending_event_ids(session, now=runtime.clock())


def relieve(runtime: Runtime, outage_id: int) -> ReliefRun:
    with transaction(runtime.sessions) as session:
        run = grant_relief(session, outage_id, now=runtime.clock())
    if run.granted:
        log.info("outage %s: %s new grant(s)", outage_id, run.granted)
    return run


def open_outage_ids(runtime: Runtime) -> list[int]:
    with transaction(runtime.sessions) as session:
        return list(session.scalars(select(Outage.id).where(Outage.ended_at.is_(None)).order_by(Outage.id)))


def outages_touching(runtime: Runtime, deadlines: Iterable[datetime]) -> list[int]:
    """Outages whose relief window may cover one of these deadlines: relief owed to freshly imported cases."""
    deadlines = list(deadlines)
    if not deadlines:
        return []
    start, end = min(deadlines), max(deadlines)
    with transaction(runtime.sessions) as session:
        return list(
            session.scalars(
                select(Outage.id)
                .where(
                    # The relief window opens at the last good check, before the first failure.
                    func.coalesce(Outage.last_ok_at, Outage.started_at) <= end,
                    (Outage.ended_at.is_(None)) | (Outage.ended_at >= start),
                )
                .order_by(Outage.id)
            )
        )
