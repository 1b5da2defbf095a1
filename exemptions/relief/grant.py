"""Granting relief for one outage as set-based SQL: one INSERT and one UPDATE, whatever the case count.

Idempotent: the unique (case, outage) constraint makes re-runs insert nothing twice, and the
UPDATE only ever moves a deadline later (while the outage is open) or marks grants final.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    ColumnExpressionArgument,
    CursorResult,
    and_,
    case,
    literal,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.orm import Session

from exemptions.policy import ReliefWindow, extended_deadline, relief_window
from monitor.storage.dialect import insert_for
from monitor.storage.models import Case, CaseComponent, Grant, Outage
from monitor.storage.types import UTCDateTime


@dataclass(frozen=True)
class ReliefRun:
    outage_id: int
    granted: int  # grants newly made by this run
    window: ReliefWindow


def _new_deadline_by_zone(
    zones: list[str], window: ReliefWindow, grace_days: int, zone_column: ColumnExpressionArgument[str]
) -> ColumnElement[datetime]:
    # Time zone arithmetic is done once per distinct zone in Python (zoneinfo knows DST), then applied to
    # every row by one CASE expression, which works the same on PostgreSQL and SQLite.
    return case(
        {zone: literal(extended_deadline(window.end, zone, grace_days), UTCDateTime()) for zone in zones},
        value=zone_column,
    )


def grant_relief(session: Session, outage_id: int, *, now: datetime) -> ReliefRun:
    """Grant (or extend, or make final) every extension the outage owes; `now` only stamps the rows."""
    outage = session.execute(select(Outage).where(Outage.id == outage_id).with_for_update()).scalar_one()
    window = relief_window(
        started_at=outage.started_at,
        last_ok_at=outage.last_ok_at,
        last_failed_at=outage.last_failed_at,
        ended_at=outage.ended_at,
    )
    status = window.status
    affected = and_(
        CaseComponent.case_id == Case.case_id,
        CaseComponent.component_id == outage.component_id,
        Case.deadline >= window.start,
        Case.deadline <= window.end,
    )
    # Zones of the cases to grant now and of those granted earlier (whose deadline may still move).
    zones = sorted(
        session.scalars(
            union(
                select(Case.time_zone).where(affected),
                select(Case.time_zone).where(Grant.outage_id == outage.id, Grant.case_id == Case.case_id),
            )
        )
    )
    if not zones:
        return ReliefRun(outage_id=outage.id, granted=0, window=window)

    new_deadline = _new_deadline_by_zone(zones, window, outage.grace_days, Case.time_zone)
    candidates = select(
        Case.case_id,
        literal(outage.id),
        Case.deadline,
        new_deadline,
        literal(status.value),
        literal(now, UTCDateTime()),
        literal(now, UTCDateTime()),
    ).where(affected)
    inserted = session.execute(
        insert_for(session, Grant)
        .from_select(
            ["case_id", "outage_id", "original_deadline", "new_deadline", "status", "granted_at", "updated_at"],
            candidates,
        )
        .on_conflict_do_nothing(index_elements=["case_id", "outage_id"])
        # psycopg's cursor is closed right after an INSERT without RETURNING; keep the count we report.
        .execution_options(preserve_rowcount=True)
    )

    grant_zone = select(Case.time_zone).where(Case.case_id == Grant.case_id).scalar_subquery()
    recomputed = _new_deadline_by_zone(zones, window, outage.grace_days, grant_zone)
    session.execute(
        update(Grant)
        .where(
            Grant.outage_id == outage.id,
            or_(Grant.new_deadline < recomputed, Grant.status != status),
        )
        .values(
            new_deadline=case((recomputed > Grant.new_deadline, recomputed), else_=Grant.new_deadline),
            status=status,
            updated_at=literal(now, UTCDateTime()),
        )
        .execution_options(synchronize_session=False)
    )
    return ReliefRun(outage_id=outage.id, granted=cast(CursorResult[Any], inserted).rowcount or 0, window=window)
