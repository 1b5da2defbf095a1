"""Reading what the status page shows from storage: components, their watch state and recent outages."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from monitor.statuspage.views import ComponentView, OutageView, Snapshot, component_status
from monitor.storage.enums import Severity
from monitor.storage.models import Check, Component, Outage


def load_snapshot(session: Session, *, now: datetime, recent: timedelta = timedelta(days=7)) -> Snapshot:
    rows = session.execute(
        select(Outage, Component.name, Check.error)
        .join(Component, Component.id == Outage.component_id)
        .outerjoin(Check, Check.id == Outage.first_check_id)
        .where(or_(Outage.ended_at.is_(None), Outage.ended_at >= now - recent))
        .order_by(Outage.started_at.desc())
    ).all()
    outages = [
        OutageView(
            id=o.id,
            component_id=o.component_id,
            component_name=name,
            severity=o.severity,
            started_at=o.started_at,
            last_ok_at=o.last_ok_at,
            ended_at=o.ended_at,
            end_reason=o.end_reason,
            detected_at=o.detected_at,
            resolved_at=o.resolved_at,
            error=error,
        )
        for o, name, error in rows
    ]
    open_by_component: dict[str, list[Severity]] = {}
    for outage in outages:
        if outage.ongoing:
            open_by_component.setdefault(outage.component_id, []).append(outage.severity)
    components = [
        ComponentView(
            id=c.id,
            name=c.name,
            description=c.description,
            position=c.position,
            status=component_status(open_by_component.get(c.id, []), c.watch_state),
            watch_state=c.watch_state,
            watch_state_since=c.watch_state_since,
            created_at=c.created_at,
            updated_at=max([c.updated_at, *[o.detected_at for o in outages if o.component_id == c.id]]),
        )
        for c in session.scalars(select(Component).where(Component.active).order_by(Component.position))
    ]
    return Snapshot(components=components, outages=outages, generated_at=now)
