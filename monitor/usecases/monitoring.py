"""Noticing that checks stopped arriving: components nobody is watching are marked `unknown`, with an event."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.detection.staleness import Stream, watch_state
from monitor.outbox.store import emit
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import EventKind, WatchState
from monitor.storage.models import Component, Location, MonitoringGap, Probe, ProbeState
from monitor.usecases.checks import monitoring_subject

log = logging.getLogger(__name__)


def streams_by_component(session: Session) -> dict[str, list[Stream]]:
    """Every (active probe, active location) of every active component, with when it was last checked."""
    locations = session.execute(select(Location.id, Location.activated_at).where(Location.active)).all()
    probes = session.execute(
        select(Probe.id, Probe.component_id, Probe.interval_seconds, Probe.activated_at)
        .join(Component, Component.id == Probe.component_id)
        .where(Probe.active, Component.active)
    ).all()
    last = {
        (row.probe_id, row.location): row.last_check_at
        for row in session.execute(select(ProbeState.probe_id, ProbeState.location, ProbeState.last_check_at))
    }
    streams: dict[str, list[Stream]] = defaultdict(list)
    for probe_id, component_id, interval_seconds, probe_since in probes:
        for location_id, location_since in locations:
            streams[component_id].append(
                Stream(
                    last_check_at=last.get((probe_id, location_id)),
                    active_since=max(probe_since, location_since),
                    interval=timedelta(seconds=interval_seconds),
                )
            )
    return streams


def check_monitoring(runtime: Runtime) -> list[int]:
    """Mark components whose checks stopped arriving as `unknown`; returns the deliveries to hand out."""
    now = runtime.clock()
    deliveries: list[int] = []
    with transaction(runtime.sessions) as session:
        streams = streams_by_component(session)
        components = session.scalars(
            select(Component).where(Component.active, Component.watch_state == WatchState.WATCHED).with_for_update()
        ).all()
        for component in components:
            watch = watch_state(streams.get(component.id, []), now)
            if watch.state != WatchState.UNKNOWN:
                continue
            log.warning(
                "no checks of %s since %s: marking it unknown",
                component.id,
                watch.since.isoformat() if watch.since else "ever",
            )
            component.watch_state = WatchState.UNKNOWN
            component.watch_state_since = watch.since
            # The gap is the record uptime figures and relief leave out; it ends at the next check.
            session.add(
                MonitoringGap(
                    component_id=component.id, started_at=watch.since or component.created_at, detected_at=now
                )
            )
            deliveries += emit(
                session,
                EventKind.MONITORING_LOST,
                subject=monitoring_subject(component.id, watch.since),
                component_id=component.id,
                payload={"last_seen_at": watch.since.isoformat() if watch.since else None},
                now=now,
            )
    return deliveries
