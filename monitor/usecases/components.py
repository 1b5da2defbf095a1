"""What ops see of each component's detection: every probe at every location, the quorum, impairment,
and each outage's history (read-only views over stored facts)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.detection.transitions import impairment
from monitor.statuspage.snapshot import load_snapshot
from monitor.storage.enums import ComponentStatus, LocationSight, OutageSource
from monitor.storage.models import Component, Location, Outage, OutageChange, Probe, ProbeState
from monitor.timefmt import iso
from monitor.usecases.checks import quorum_for, streak_of
from monitor.usecases.outages import by_outage


def outage_history(session: Session, outage_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    """Each outage's changes in time order: opened, severity rose or fell, reopened, ended."""
    changes = by_outage(session, OutageChange, outage_ids, OutageChange.at, OutageChange.id)
    return {
        outage_id: [
            {
                "kind": change.kind.value,
                "severity": change.severity.value,
                "at": iso(change.at),
                "recorded_at": iso(change.recorded_at),
                **({"detail": change.detail} if change.detail else {}),
            }
            for change in rows
        ]
        for outage_id, rows in changes.items()
    }


def component_states(session: Session, *, now: datetime) -> list[dict[str, Any]]:
    """Each active component with each probe's streak at each active location, the locations that see
    it failing, the quorum it takes, whether it is impaired (failing somewhere, short of the quorum), and
    its status as the public page shows it (`under_maintenance` inside a maintenance window)."""
    public = {view.id: view.status for view in load_snapshot(session, now=now).components}
    components = list(session.scalars(select(Component).where(Component.active).order_by(Component.position)))
    locations = list(session.scalars(select(Location).where(Location.active).order_by(Location.id)))
    sight = {location.id: location.sight for location in locations}
    probes = list(session.scalars(select(Probe).where(Probe.active).order_by(Probe.id)))
    states = {
        (state.probe_id, state.location): state
        for state in session.scalars(select(ProbeState).where(ProbeState.location.in_(list(sight))))
    }
    open_outages = {
        outage.component_id: outage
        for outage in session.scalars(
            select(Outage).where(Outage.ended_at.is_(None), Outage.source == OutageSource.OBSERVED)
        )
    }
    shown = []
    for component in components:
        mine = [p for p in probes if p.component_id == component.id]
        seeing = [
            (location, streak_of(states[(p.id, location)]))
            for p in mine
            for location in sight
            if sight[location] == LocationSight.SEEING and (p.id, location) in states
        ]
        quorum = quorum_for(session, component)
        seen = impairment(seeing, quorum=quorum)
        outage = open_outages.get(component.id)
        shown.append(
            {
                "id": component.id,
                "name": component.name,
                "status": public[component.id].value if component.id in public else None,
                "in_maintenance": public.get(component.id) == ComponentStatus.UNDER_MAINTENANCE,
                "watch_state": component.watch_state.value,
                "watch_state_since": iso(component.watch_state_since),
                "last_check_at": iso(component.last_check_at),
                "quorum": quorum,
                "quorum_setting": component.quorum if component.quorum is not None else "majority",
                "failing_locations": list(seen.failing),
                "impaired": seen.impaired,
                "open_outage": None
                if outage is None
                else {"id": outage.id, "severity": outage.severity.value, "started_at": iso(outage.started_at)},
                "locations": [
                    {
                        "name": location,
                        "sight": sight[location].value,
                        "probes": [_probe_state(p, states.get((p.id, location))) for p in mine],
                    }
                    for location in sight
                ],
            }
        )
    return shown


def _probe_state(probe: Probe, state: ProbeState | None) -> dict[str, Any]:
    if state is None:
        return {"probe_id": probe.id, "checked": False}
    return {
        "probe_id": probe.id,
        "checked": True,
        "down": state.down,
        "failures": state.failures,
        "successes": state.successes,
        "severity": state.severity.value if state.down and state.severity else None,
        "down_since": iso(state.down_since) if state.down else None,
        "last_check_at": iso(state.last_check_at),
        "last_failed_at": iso(state.last_failed_at),
    }
