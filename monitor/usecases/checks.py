"""Running a check and recording it: the check row, its streak, the component's outage and its events,
all in one transaction."""

from __future__ import annotations

import logging
from dataclasses import asdict, fields
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.detection.staleness import stale_after
from monitor.detection.streaks import Streak, advance
from monitor.detection.transitions import (
    CloseOutage,
    ExtendOutage,
    OpenOutage,
    OpenOutageView,
    component_transition,
)
from monitor.outbox.store import emit
from monitor.runtime import Runtime
from monitor.storage.dialect import insert_for
from monitor.storage.engine import transaction
from monitor.storage.enums import EventKind, OutageSource, Severity, WatchState
from monitor.storage.models import Check, Component, Location, Outage, Probe, ProbeState
from probes import CheckResult, parse_spec, run_probe

log = logging.getLogger(__name__)

_STREAK_FIELDS = [f.name for f in fields(Streak)]


def streak_of(state: ProbeState) -> Streak:
    return Streak(**{name: getattr(state, name) for name in _STREAK_FIELDS})


def outage_subject(outage_id: int) -> str:
    return f"outage:{outage_id}"


def check_recorded(session: Session, probe_id: str, location: str, slot: datetime) -> bool:
    found = session.scalar(
        select(Check.id).where(Check.probe_id == probe_id, Check.location == location, Check.slot == slot)
    )
    return found is not None


def run_check(runtime: Runtime, probe_id: str, location: str, slot: datetime) -> list[int]:
    """Run one scheduled check and record it. Returns ids of deliveries to hand out after commit."""
    with transaction(runtime.sessions) as session:
        if check_recorded(session, probe_id, location, slot):
            return []  # a redelivered task: this slot was already checked
        probe = session.get(Probe, probe_id)
        if probe is None or not probe.active:
            log.info("probe %s is no longer configured; skipping", probe_id)
            return []
        spec = parse_spec(probe.spec)
    # No transaction is held open while the portal is being probed.
    result = run_probe(spec, location)
    with transaction(runtime.sessions) as session:
        return record_check(
            session, result, slot=slot, grace_days=runtime.config.relief.grace_days, now=runtime.clock()
        )


def record_check(
    session: Session, result: CheckResult, *, slot: datetime, grace_days: int | None, now: datetime
) -> list[int]:
    """Store one check and fold it into detection. Returns the ids of the deliveries it created.

    A second delivery of the same (probe, location, slot) stores nothing and changes nothing.
    """
    probe = session.get(Probe, result.probe_id)
    if probe is None:
        raise LookupError(f"no probe {result.probe_id!r}")
    # Every check of a component passes through this lock, so the component's streaks and its open
    # outage are read and written by one transaction at a time, on any number of workers.
    component = session.execute(
        select(Component).where(Component.id == probe.component_id).with_for_update()
    ).scalar_one()

    check_id = session.scalar(
        insert_for(session, Check)
        .values(
            probe_id=result.probe_id,
            location=result.location,
            slot=slot,
            started_at=result.started_at,
            ok=result.ok,
            latency_ms=result.latency_ms,
            status_code=result.status_code,
            error_class=result.error_class.value if result.error_class else None,
            error=result.error,
            evidence=result.evidence,
        )
        .on_conflict_do_nothing(index_elements=["probe_id", "location", "slot"])
        .returning(Check.id)
    )
    if check_id is None:
        return []

    state = session.get(ProbeState, (probe.id, result.location))
    if state is None:
        state = ProbeState(probe_id=probe.id, location=result.location, failures=0, successes=0, down=False)
        session.add(state)
    streak = advance(
        streak_of(state),
        ok=result.ok,
        at=result.started_at,
        slot=slot,
        check_id=check_id,
        failure_threshold=probe.failure_threshold,
        recovery_threshold=probe.recovery_threshold,
        stale_after=stale_after(timedelta(seconds=probe.interval_seconds)),
    )
    for name, value in asdict(streak).items():
        setattr(state, name, value)
    session.flush()

    deliveries: list[int] = []
    location_counts = session.scalar(select(Location.active).where(Location.id == result.location)) is True
    if probe.active and location_counts:
        deliveries += _note_watched(session, component, result.started_at, now=now)
        deliveries += apply_transition(session, component.id, grace_days=grace_days, now=now)
    return deliveries


def _note_watched(session: Session, component: Component, at: datetime, *, now: datetime) -> list[int]:
    """A check arrived: the component is watched; if it was `unknown`, say that monitoring resumed."""
    if component.last_check_at is None or at > component.last_check_at:
        component.last_check_at = at
    if component.watch_state != WatchState.UNKNOWN:
        return []
    last_seen = component.watch_state_since
    component.watch_state = WatchState.WATCHED
    component.watch_state_since = None
    subject = monitoring_subject(component.id, last_seen)
    return emit(
        session,
        EventKind.MONITORING_RESTORED,
        subject=subject,
        component_id=component.id,
        payload={"last_seen_at": last_seen.isoformat() if last_seen else None, "restored_at": at.isoformat()},
        now=now,
    )


def monitoring_subject(component_id: str, last_seen: datetime | None) -> str:
    return f"monitoring:{component_id}:{last_seen.isoformat() if last_seen else 'never'}"


def counted_streaks(session: Session, component_id: str) -> list[Streak]:
    """Streaks that may hold a component down: active probes, at locations the configuration still lists."""
    states = session.scalars(
        select(ProbeState)
        .join(Probe, Probe.id == ProbeState.probe_id)
        .join(Location, Location.id == ProbeState.location)
        .where(Probe.component_id == component_id, Probe.active, Location.active)
    ).all()
    return [streak_of(s) for s in states]


def apply_transition(session: Session, component_id: str, *, grace_days: int | None, now: datetime) -> list[int]:
    """Open, extend or close the component's outage as its counted streaks say; returns new delivery ids."""
    # Only the probes' own outage: a declared one is ops' statement and the probes never open or close it.
    outage = session.scalar(
        select(Outage).where(
            Outage.component_id == component_id, Outage.ended_at.is_(None), Outage.source == OutageSource.OBSERVED
        )
    )
    view = None if outage is None else OpenOutageView(outage.started_at, outage.last_failed_at, outage.gap_at)
    decision = component_transition(view, counted_streaks(session, component_id))
    if isinstance(decision, OpenOutage):
        outage = Outage(
            component_id=component_id,
            severity=Severity.MAJOR_OUTAGE,
            started_at=decision.started_at,
            last_ok_at=decision.last_ok_at,
            last_failed_at=decision.last_failed_at,
            first_check_id=decision.first_check_id,
            detected_at=now,
            grace_days=grace_days,
        )
        session.add(outage)
        session.flush()
        return emit(
            session,
            EventKind.OUTAGE_OPENED,
            subject=outage_subject(outage.id),
            outage_id=outage.id,
            component_id=component_id,
            now=now,
        )
    if outage is None:
        return []
    if isinstance(decision, ExtendOutage):
        outage.last_failed_at = decision.last_failed_at
        if decision.gap_at is not None and outage.gap_at is None:
            outage.gap_at = decision.gap_at
            log.warning(
                "outage %s: checks of %s resumed after a gap at %s; provisional relief stays at %s",
                outage.id,
                component_id,
                decision.gap_at.isoformat(),
                outage.last_failed_at.isoformat() if outage.last_failed_at else "its start",
            )
        return []
    if isinstance(decision, CloseOutage):
        return close_outage(session, outage, decision, now=now)
    return []


def close_outage(session: Session, outage: Outage, decision: CloseOutage, *, now: datetime) -> list[int]:
    outage.ended_at = decision.ended_at
    outage.end_reason = decision.reason
    outage.resolved_at = now
    session.flush()
    return emit(
        session,
        EventKind.OUTAGE_RESOLVED,
        subject=outage_subject(outage.id),
        outage_id=outage.id,
        component_id=outage.component_id,
        payload={"reason": decision.reason.value},
        now=now,
    )
