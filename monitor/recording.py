"""Storing a check and acting on it: streak, outage open/close and its event, in one transaction."""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from monitor.detection import CloseOutage, OpenOutage, Streak, advance, component_transition
from monitor.models import Check, Component, Outage, OutageEvent, Probe, ProbeState
from probes.result import CheckResult

_STREAK_FIELDS = [f.name for f in fields(Streak)]


def _streak(state: ProbeState) -> Streak:
    return Streak(**{name: getattr(state, name) for name in _STREAK_FIELDS})


def check_recorded(session: Session, probe_id: str, location: str, slot: datetime) -> bool:
    found = session.scalar(
        select(Check.id).where(Check.probe_id == probe_id, Check.location == location, Check.slot == slot)
    )
    return found is not None


def record_check(session: Session, result: CheckResult, *, slot: datetime, grace_days: int, now: datetime) -> list[int]:
    """Store one check and fold it into detection. Returns the ids of outage events it created.

    A second delivery of the same (probe, location, slot) stores nothing and changes nothing.
    """
    probe = session.get(Probe, result.probe_id)
    if probe is None:
        raise LookupError(f"no probe {result.probe_id!r}")
    # Every check of a component passes through this lock, so the component's streaks and its open
    # outage are read and written by one transaction at a time, on any number of workers.
    session.execute(select(Component.id).where(Component.id == probe.component_id).with_for_update())

    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    check_id = session.scalar(
        insert(Check)
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
        _streak(state),
        ok=result.ok,
        at=result.started_at,
        check_id=check_id,
        failure_threshold=probe.failure_threshold,
        recovery_threshold=probe.recovery_threshold,
    )
    for name, value in asdict(streak).items():
        setattr(state, name, value)
    session.flush()

    return _apply_transition(session, probe.component_id, grace_days=grace_days, now=now)


def _apply_transition(session: Session, component_id: str, *, grace_days: int, now: datetime) -> list[int]:
    states = session.scalars(
        select(ProbeState).join(Probe).where(Probe.component_id == component_id, Probe.active)
    ).all()
    outage = session.scalar(select(Outage).where(Outage.component_id == component_id, Outage.ended_at.is_(None)))
    decision = component_transition(outage.started_at if outage else None, [_streak(s) for s in states], now=now)
    if isinstance(decision, OpenOutage):
        outage = Outage(
            component_id=component_id,
            severity="major_outage",
            started_at=decision.started_at,
            last_ok_at=decision.last_ok_at,
            first_check_id=decision.first_check_id,
            detected_at=now,
            grace_days=grace_days,
        )
        session.add(outage)
        session.flush()
        event = OutageEvent(outage_id=outage.id, kind="opened", created_at=now, available_at=now, attempts=0)
    elif isinstance(decision, CloseOutage) and outage is not None:
        outage.ended_at = decision.ended_at
        outage.resolved_at = now
        event = OutageEvent(outage_id=outage.id, kind="resolved", created_at=now, available_at=now, attempts=0)
    else:
        return []
    session.add(event)
    session.flush()
    return [event.id]
