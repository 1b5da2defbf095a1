"""What the ops dashboard shows, read from stored facts: open and recent outages, one outage in full,
components whose monitoring is interrupted, and the deliveries an action leaves to hand to a worker.

Read-only views over what the other use cases record (outages, desk, components, evidence); the
dashboard renders them and the ops API shows the same facts as JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from monitor.runtime import Runtime
from monitor.storage.enums import DeliveryState
from monitor.storage.models import (
    Check,
    Component,
    Delivery,
    MonitoringGap,
    Outage,
    OutageAcknowledgement,
    OutageCorrection,
    OutageUpdate,
    Probe,
)
from monitor.usecases import desk, jobs, outages
from monitor.usecases.components import outage_history
from monitor.usecases.evidence import PieceView, pieces_of

log = logging.getLogger(__name__)

RECENT_RESOLVED = 10


@dataclass(frozen=True)
class OutageSummary:
    """An outage as a list shows it."""

    outage: Outage
    component_name: str
    history: list[dict[str, Any]]
    acknowledgement: OutageAcknowledgement | None


@dataclass(frozen=True)
class CheckShown:
    check: Check
    pieces: list[PieceView]


@dataclass(frozen=True)
class OutageDetail:
    """One outage in full: its facts and history, what ops said and did about it, its evidence, its relief."""

    summary: OutageSummary
    corrections: list[OutageCorrection]
    updates: list[OutageUpdate]
    first_failed: CheckShown | None
    latest_failed: CheckShown | None
    # desk.relief_resting_on: cases with a grant on it, those extended, paper authorisations.
    relief: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class InterruptedMonitoring:
    """A monitoring gap: no checks arrived for a component from `since` (to `ended_at`, or still)."""

    component_id: str
    component_name: str
    since: datetime | None  # the last check seen before the gap
    last_check_at: datetime | None
    ended_at: datetime | None = None  # the first check after it; None while it lasts


def _summaries(session: Session, where: list[Any], *, limit: int) -> list[OutageSummary]:
    rows = session.execute(
        select(Outage, Component.name)
        .join(Component, Component.id == Outage.component_id)
        .where(*where)
        .order_by(Outage.started_at.desc(), Outage.id.desc())
        .limit(limit)
    ).all()
    ids = [outage.id for outage, _ in rows]
    history = outage_history(session, ids)
    acknowledged = desk.acknowledgements_of(session, ids)
    return [OutageSummary(outage, name, history[outage.id], acknowledged.get(outage.id)) for outage, name in rows]


def open_outages(session: Session, *, limit: int = 200) -> list[OutageSummary]:
    """Outages still going on (observed and declared), the latest first."""
    return _summaries(session, [Outage.ended_at.is_(None)], limit=limit)


def recent_resolved(session: Session, *, limit: int = RECENT_RESOLVED) -> list[OutageSummary]:
    """The latest outages that have ended, false positives included (they say so)."""
    return _summaries(session, [Outage.ended_at.is_not(None)], limit=limit)


def interrupted_monitoring(session: Session, *, now: datetime, days: int = 7) -> list[InterruptedMonitoring]:
    """Monitoring gaps: those going on now (no checks arriving, watch_state `unknown`) and those that
    ended in the last `days`, newest first. A gap counts neither as uptime nor as outage."""
    rows = session.execute(
        select(MonitoringGap, Component.name, Component.last_check_at)
        .join(Component, Component.id == MonitoringGap.component_id)
        .where(
            Component.active,
            or_(MonitoringGap.ended_at.is_(None), MonitoringGap.ended_at >= now - timedelta(days=days)),
        )
        .order_by(MonitoringGap.ended_at.is_(None).desc(), MonitoringGap.started_at.desc(), MonitoringGap.id.desc())
    )
    return [
        InterruptedMonitoring(gap.component_id, name, gap.started_at, last_check_at, gap.ended_at)
        for gap, name, last_check_at in rows
    ]


def _shown(session: Session, check: Check | None) -> CheckShown | None:
    if check is None:
        return None
    return CheckShown(check, pieces_of(session, [check.id])[check.id])


def latest_failed_check(session: Session, outage: Outage) -> Check | None:
    """The latest counted failure of the outage's component within its bounds (blind checks never count)."""
    query = (
        select(Check)
        .join(Probe, Probe.id == Check.probe_id)
        .where(
            Probe.component_id == outage.component_id,
            Check.ok.is_(False),
            Check.blind.is_(False),
            Check.started_at >= outage.started_at,
        )
        .order_by(Check.started_at.desc(), Check.id.desc())
        .limit(1)
    )
    if outage.ended_at is not None:
        query = query.where(Check.started_at < outage.ended_at)
    return session.scalars(query).first()


def outage_detail(session: Session, outage_id: int) -> OutageDetail:
    """One outage in full; outages.NotFound for an id that names none."""
    if not 0 < outage_id <= outages.MAX_ID:
        raise outages.NotFound(f"no outage {outage_id}")
    found = _summaries(session, [Outage.id == outage_id], limit=1)
    if not found:
        raise outages.NotFound(f"no outage {outage_id}")
    summary = found[0]
    outage = summary.outage
    first = session.get(Check, outage.first_check_id) if outage.first_check_id is not None else None
    latest = latest_failed_check(session, outage)
    return OutageDetail(
        summary=summary,
        corrections=outages.corrections_of(session, [outage_id])[outage_id],
        updates=desk.updates_of(session, [outage_id])[outage_id],
        first_failed=_shown(session, first),
        # The first failure again when nothing failed after it: shown once.
        latest_failed=None
        if latest is None or (first is not None and latest.id == first.id)
        else _shown(session, latest),
        relief=desk.relief_resting_on(session, outage_id),
    )


# --- after an action ---------------------------------------------------------------------------------


def pending_deliveries(session: Session, *subjects: str) -> list[int]:
    """The subjects' deliveries still owed: those an action just wrote, and any an earlier change left behind."""
    query = select(Delivery.id).where(Delivery.subject.in_(subjects), Delivery.state == DeliveryState.PENDING)
    return list(session.scalars(query.order_by(Delivery.id)))


def deliver_soon(runtime: Runtime, deliveries: Sequence[int]) -> None:
    """Hand the deliveries to a worker, after the transaction that wrote them has committed."""
    try:
        jobs.deliver_all(runtime, deliveries)
    except Exception:
        # Stored and committed with the change: the outbox sweeper delivers it within a minute.
        log.exception("could not hand deliveries %s to a worker; the sweeper will", list(deliveries))
