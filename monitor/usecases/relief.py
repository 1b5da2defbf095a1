"""Relief as the outbox's relief consumer and the periodic job run it: which outages, one transaction each."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exemptions.relief import ReliefRun, grant_relief
from monitor.outbox.store import emit
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import EventKind
from monitor.storage.models import Component, Outage, OutboxEvent

log = logging.getLogger(__name__)


def relieve(runtime: Runtime, outage_id: int) -> ReliefRun:
    with transaction(runtime.sessions) as session:
        run = grant_relief(session, outage_id, now=runtime.clock())
    if run.granted:
        log.info("outage %s: %s new grant(s)", outage_id, run.granted)
    return run


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


def outages_touching(session: Session, start: datetime, end: datetime) -> list[int]:
    """Outages whose relief window may cover a deadline in [start, end]: relief owed to freshly imported cases."""
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


def relieve_event(runtime: Runtime, event_id: int) -> int:
    """The relief consumer: grant what the event's outage, or the cases it imported, are owed."""
    with transaction(runtime.sessions) as session:
        event = session.get_one(OutboxEvent, event_id)
        if event.kind == EventKind.CASES_IMPORTED:
            payload = event.payload or {}
            start = datetime.fromisoformat(payload["min_deadline"])
            end = datetime.fromisoformat(payload["max_deadline"])
            outage_ids = outages_touching(session, start, end)
        else:
            outage_ids = [event.outage_id] if event.outage_id is not None else []
    # One transaction per outage: each is idempotent, so a failure part-way is simply retried.
    return sum(relieve(runtime, outage_id).granted for outage_id in outage_ids)


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
    commit; nothing is written when no outage's window can reach a deadline in [start, end].
    """
    outage_ids = outages_touching(session, start, end)
    if not outage_ids:
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
