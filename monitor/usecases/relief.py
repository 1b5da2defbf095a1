"""Relief as the outbox's relief consumer and the periodic job run it: which scope, one transaction each."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from exemptions.policy.model import CalendarSpec, ReliefPolicy, Rule
from exemptions.relief.downtime import counted_bounds
from exemptions.relief.engine import DAY_REACH, ReliefRun, Scope
from exemptions.relief.engine import relieve as decide_scope
from monitor.config import Config
from monitor.outbox.store import emit
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import EventKind
from monitor.storage.models import Component, Maintenance, Outage, OutboxEvent

log = logging.getLogger(__name__)

MAX_LOOKBACK_DAYS = 366
RULES_BY_KEY = {
    "deadline_day": Rule.DEADLINE_DAY,
    "last_hour": Rule.LAST_HOUR,
    "long_outage": Rule.LONG_OUTAGE,
    "grace": Rule.GRACE,
    "paper_filing": Rule.PAPER_FILING,
}


def policy_of(config: Config) -> ReliefPolicy:
    """The configuration's `relief:` section as the pure policy's values."""
    relief = config.relief
    switches = relief.rules.model_dump()
    return ReliefPolicy(
        min_minutes=relief.min_minutes,
        long_outage_hours=relief.long_outage_hours,
        lookback_days=relief.lookback_days,
        grace_business_days=relief.grace_business_days,
        grace_days=relief.grace_days,
        paper_after_hours=relief.paper_after_hours,
        maintenance_notice_hours=relief.maintenance_notice_hours,
        counted_severities=frozenset(relief.counted_severities),
        rules=frozenset(rule for key, rule in RULES_BY_KEY.items() if switches[key]),
        calendar=CalendarSpec(
            country=relief.calendar.country,
            subdivision=relief.calendar.subdivision,
            categories=tuple(relief.calendar.categories),
        ),
    )


def run_scope(runtime: Runtime, scope: Scope) -> ReliefRun:
    """One relief run in its own transaction: all its decisions commit together, or none do."""
    with transaction(runtime.sessions) as session:
        run = decide_scope(
            session, scope, policy_of(runtime.config), page_zone=runtime.config.page.time_zone, now=runtime.clock()
        )
    if run.changed or run.paper:
        log.info(
            "relief: %s candidate(s), %s group(s), %s decided, changes %s, %s paper authorisation(s)",
            run.candidates,
            run.groups,
            run.decided,
            run.changes,
            run.paper,
        )
    return run


def outage_scope(outage: Outage, *, now: datetime, before: dict[str, Any] | None = None) -> Scope:
    """The scope of one outage's record; `before`: its bounds before a correction, still owed a look."""
    start, end, _ = counted_bounds(outage, now=now)
    for key in ("started_at", "last_ok_at", "ended_at"):
        value = (before or {}).get(key)
        if value:
            moment = datetime.fromisoformat(value)
            start, end = min(start, moment), max(end, moment)
    return Scope(components=frozenset({outage.component_id}), start=start, end=end, outage_ids=frozenset({outage.id}))


def relieve(runtime: Runtime, outage_id: int) -> ReliefRun:
    """Decide every case one outage may touch (the periodic job's unit of work while it is open)."""
    with transaction(runtime.sessions) as session:
        outage = session.get_one(Outage, outage_id)
        scope = outage_scope(outage, now=runtime.clock())
    return run_scope(runtime, scope)


def open_outage_ids(runtime: Runtime) -> list[int]:
    """Open outages of components still watched; one removed from the configuration is closed, not relieved."""
    with transaction(runtime.sessions) as session:
        return list(
            session.scalars(
                select(Outage.id)
                .join(Component, Component.id == Outage.component_id)
                .where(Outage.ended_at.is_(None), Component.active)
                .order_by(Outage.id)
            )
        )


def outages_touching(session: Session, start: datetime, end: datetime, *, lookback_days: int = 14) -> list[int]:
    """Outages whose downtime may reach a deadline in [start, end]: relief owed to freshly imported cases."""
    reach = timedelta(days=lookback_days) + DAY_REACH
    return list(
        session.scalars(
            select(Outage.id)
            .where(
                func.coalesce(Outage.last_ok_at, Outage.started_at) <= end + DAY_REACH,
                or_(Outage.ended_at.is_(None), Outage.ended_at >= start - reach),
            )
            .order_by(Outage.id)
        )
    )


def _maintenance_scope(event: OutboxEvent, *, now: datetime) -> Scope | None:
    """The scope of a maintenance window's change: where it is now and, when it moved, where it was."""
    payload = event.payload or {}
    shapes = [shape for shape in (payload, payload.get("previous")) if isinstance(shape, dict)]
    components: set[str] = set()
    bounds: list[datetime] = []
    for shape in shapes:
        components.update(str(c) for c in shape.get("components") or [])
        start = datetime.fromisoformat(shape["starts_at"]) if shape.get("starts_at") else now - timedelta(days=30)
        end = datetime.fromisoformat(shape["ends_at"]) if shape.get("ends_at") else now
        if shape.get("recurring"):
            # A weekly window: its past occurrences within any lookback may change, and the next one.
            start, end = max(start, now - timedelta(days=30)), max(now, start) + timedelta(days=8)
        bounds += [start, end]
    if not components:
        return None
    return Scope(components=frozenset(components), start=min(bounds), end=max(bounds))


def _event_scope(session: Session, event: OutboxEvent, runtime: Runtime) -> Scope | None:
    now = runtime.clock()
    if event.kind == EventKind.CASES_IMPORTED:
        payload = event.payload or {}
        first = datetime.fromisoformat(payload["min_deadline"])
        last = datetime.fromisoformat(payload["max_deadline"])
        lookback = timedelta(days=runtime.config.relief.lookback_days)
        return Scope(components=None, start=first - lookback - DAY_REACH, end=last + DAY_REACH, deadlines=(first, last))
    if event.kind == EventKind.MAINTENANCE_CHANGED:
        return _maintenance_scope(event, now=now)
    if event.outage_id is None:
        return None
    outage = session.get_one(Outage, event.outage_id)
    before = (event.payload or {}).get("before") if event.kind == EventKind.OUTAGE_CORRECTED else None
    return outage_scope(outage, now=now, before=before if isinstance(before, dict) else None)


def relieve_event(runtime: Runtime, event_id: int) -> int:
    """The relief consumer: decide what the event's outage, maintenance or imported cases change."""
    with transaction(runtime.sessions) as session:
        event = session.get_one(OutboxEvent, event_id)
        if event.kind not in (
            EventKind.OUTAGE_OPENED,
            EventKind.OUTAGE_RESOLVED,
            EventKind.OUTAGE_REOPENED,
            EventKind.SEVERITY_CHANGED,
            EventKind.OUTAGE_DECLARED,
            EventKind.OUTAGE_CORRECTED,
            EventKind.MAINTENANCE_CHANGED,
            EventKind.CASES_IMPORTED,
        ):
            return 0
        scope = _event_scope(session, event, runtime)
    if scope is None:
        return 0
    # One transaction: idempotent, so a failure part-way (a worker killed) is simply retried.
    return run_scope(runtime, scope).changed


def owe_imported_cases(
    session: Session,
    *,
    subject: str,
    start: datetime,
    end: datetime,
    cases: int,
    now: datetime,
    extra: dict[str, Any] | None = None,
) -> tuple[list[int], list[int]]:
    """Write, with the imported cases, the relief outages owe them: (delivery ids, outage ids).

    An event in the same transaction as the cases, so the relief survives a crash right after the
    commit; nothing is written when no outage's downtime can reach a deadline in [start, end].
    Maintenance announced late counts like an outage too, so windows within reach also call for a run.
    """
    # The longest lookback the configuration allows: looking too far only costs a run that finds nothing.
    outage_ids = outages_touching(session, start, end, lookback_days=MAX_LOOKBACK_DAYS)
    reach = timedelta(days=MAX_LOOKBACK_DAYS) + DAY_REACH
    maintenance_in_reach = session.scalar(
        select(func.count())
        .select_from(Maintenance)
        .where(
            Maintenance.active,
            Maintenance.starts_at <= end + DAY_REACH,
            or_(Maintenance.ends_at.is_(None), Maintenance.ends_at >= start - reach),
        )
    )
    if not outage_ids and not maintenance_in_reach:
        return [], []
    payload = {
        "min_deadline": start.isoformat(),
        "max_deadline": end.isoformat(),
        "cases": cases,
        "outage_ids": outage_ids,  # the outages found now; relief looks again when it runs
        **(extra or {}),
    }
    deliveries = emit(session, EventKind.CASES_IMPORTED, subject=subject, payload=payload, now=now)
    return deliveries, outage_ids
