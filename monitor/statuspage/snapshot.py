"""Reading what the status page shows from storage: components, their watch state, recent outages and maintenance."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from exemptions.policy.maintenance import occurrences
from monitor.statuspage.views import (
    ComponentView,
    MaintenanceView,
    OutageView,
    PublicUpdate,
    Snapshot,
    component_status,
)
from monitor.storage.enums import Severity
from monitor.storage.models import Check, Component, Maintenance, Outage, OutageUpdate

# How far ahead the page lists upcoming maintenance, and the longest a recurring occurrence lasts.
UPCOMING = timedelta(days=30)
LONGEST_OCCURRENCE = timedelta(days=7)


def load_snapshot(session: Session, *, now: datetime, recent: timedelta = timedelta(days=7)) -> Snapshot:
    rows = session.execute(
        select(Outage, Component.name, Check.error)
        .join(Component, Component.id == Outage.component_id)
        .outerjoin(Check, Check.id == Outage.first_check_id)
        .where(
            or_(Outage.ended_at.is_(None), Outage.ended_at >= now - recent),
            Outage.false_positive_at.is_(None),  # ops found it was no outage
        )
        .order_by(Outage.started_at.desc(), Outage.id.desc())
    ).all()
    updates = public_updates(session, [o.id for o, _, _ in rows])
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
            source=o.source,
            updates=updates.get(o.id, ()),
        )
        for o, name, error in rows
    ]
    # A component may have more than one open at once (one the probes saw, one ops declared): all count.
    open_by_component: dict[str, list[Severity]] = {}
    for outage in outages:
        if outage.ongoing:
            open_by_component.setdefault(outage.component_id, []).append(outage.severity)
    maintenance = load_maintenance(session, now=now)
    in_maintenance = {c for m in maintenance if m.in_progress(now) for c in m.component_ids}
    components = [
        ComponentView(
            id=c.id,
            name=c.name,
            description=c.description,
            position=c.position,
            status=component_status(
                open_by_component.get(c.id, []), c.watch_state, in_maintenance=c.id in in_maintenance
            ),
            watch_state=c.watch_state,
            watch_state_since=c.watch_state_since,
            created_at=c.created_at,
            updated_at=max([c.updated_at, *[o.detected_at for o in outages if o.component_id == c.id]]),
        )
        for c in session.scalars(select(Component).where(Component.active).order_by(Component.position))
    ]
    return Snapshot(components=components, outages=outages, generated_at=now, maintenance=maintenance)


def public_updates(session: Session, outage_ids: list[int]) -> dict[int, tuple[PublicUpdate, ...]]:
    """The public updates of these outages, oldest first; internal ones are never read here."""
    if not outage_ids:
        return {}
    found: dict[int, list[PublicUpdate]] = {}
    for update in session.scalars(
        select(OutageUpdate)
        .where(OutageUpdate.outage_id.in_(outage_ids), OutageUpdate.public.is_(True))
        .order_by(OutageUpdate.id)
    ):
        found.setdefault(update.outage_id, []).append(
            PublicUpdate(
                id=update.id,
                body=update.body,
                language=update.language.value if update.language else None,
                created_at=update.created_at,
            )
        )
    return {outage_id: tuple(shown) for outage_id, shown in found.items()}


def load_maintenance(session: Session, *, now: datetime, ahead: timedelta = UPCOMING) -> list[MaintenanceView]:
    """Maintenance in progress now or starting within `ahead`: one-off windows, and each recurring window's
    ongoing or next occurrence, soonest first."""
    windows = session.scalars(
        select(Maintenance)
        .options(selectinload(Maintenance.components))
        .where(
            Maintenance.active,
            Maintenance.starts_at < now + ahead,
            # A recurring window's last occurrence starts before its end and lasts at most LONGEST_OCCURRENCE.
            or_(Maintenance.ends_at.is_(None), Maintenance.ends_at > now - LONGEST_OCCURRENCE),
        )
    ).all()
    views: list[MaintenanceView] = []
    for window in windows:
        period = _ongoing_or_next(window, now=now, ahead=ahead)
        if period is None:
            continue
        views.append(
            MaintenanceView(
                id=window.id,
                title=window.title,
                component_ids=tuple(sorted(c.component_id for c in window.components)),
                starts_at=period[0],
                ends_at=period[1],
                recurring=window.recurrence is not None,
                created_at=window.created_at,
                updated_at=window.updated_at,
            )
        )
    return sorted(views, key=lambda view: (view.starts_at, view.id))


def _ongoing_or_next(window: Maintenance, *, now: datetime, ahead: timedelta) -> tuple[datetime, datetime] | None:
    if window.recurrence is None:
        if window.ends_at is None or window.ends_at <= now:
            return None
        return window.starts_at, window.ends_at
    rule = window.recurrence
    duration = timedelta(seconds=rule["duration_seconds"])
    found = occurrences(
        days=rule["days"],
        at=time.fromisoformat(rule["at"]),
        duration=duration,
        time_zone=rule["time_zone"],
        starts_at=window.starts_at,
        ends_at=window.ends_at,
        between=(now, now + ahead),
    )
    return min(found, default=None)
