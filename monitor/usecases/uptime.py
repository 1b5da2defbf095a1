"""Uptime figures of every active component, read from the record (see monitor.uptime.figures for how
they are counted): outages with their severity history, monitoring gaps and maintenance occurrences.

Four windows, as status pages show them: the last day, 7, 30 and 90 days. One query per kind of fact
for the longest window; each window is then cut from the same facts.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from exemptions.relief.downtime import gaps_of, maintenance_windows, severity_history, severity_parts
from monitor.storage.enums import OutageSource
from monitor.storage.models import Component, MonitoringGap, Outage, Probe
from monitor.uptime.figures import MAINTENANCE_COUNTING, MAINTENANCE_STATEMENT, Part, Uptime, uptime, uptime_json

WINDOWS: dict[str, timedelta] = {
    "1d": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}


def uptime_by_component(session: Session, *, now: datetime) -> dict[str, dict[str, Uptime]]:
    """{component id: {window name: figures}} for every active component."""
    since = now - max(WINDOWS.values())
    # Watched from when its first active probe was set up: before that there was nothing to see.
    components = session.execute(
        select(Component.id, func.min(Probe.activated_at).label("watched_from"))
        .outerjoin(Probe, (Probe.component_id == Component.id) & Probe.active)
        .where(Component.active)
        .group_by(Component.id)
    ).all()
    ids = {c.id for c in components}
    outages = session.scalars(
        select(Outage).where(
            Outage.component_id.in_(sorted(ids)),
            or_(Outage.ended_at.is_(None), Outage.ended_at >= since),
            Outage.started_at <= now,
            Outage.false_positive_at.is_(None),  # ops found it was not an outage
        )
    ).all()
    history = severity_history(session, [o.id for o in outages if o.source == OutageSource.OBSERVED])
    parts: dict[str, list[Part]] = {}
    for outage in outages:
        # From the first failure (or the start ops gave) to the recovery, or to now while it lasts.
        end = max(outage.ended_at or now, outage.started_at)
        for severity, start, stop in severity_parts(
            outage.severity, history.get(outage.id, []), outage.started_at, end
        ):
            parts.setdefault(outage.component_id, []).append(Part(severity, start, stop))
    gaps = gaps_of(session, ids, since=since, until=now, now=now)
    planned: dict[str, list[tuple[datetime, datetime]]] = {}
    for window in maintenance_windows(session, since, now):
        for component_id in window.component_ids:
            planned.setdefault(component_id, []).append((window.start, window.end))
    return {
        c.id: {
            name: uptime(
                start=now - length,
                end=now,
                watched_from=c.watched_from or now,
                parts=parts.get(c.id, []),
                gaps=gaps.get(c.id, []),
                maintenance=planned.get(c.id, []),
            )
            for name, length in WINDOWS.items()
        }
        for c in components
    }


def uptime_report(session: Session, *, now: datetime) -> dict[str, Any]:
    """The figures as JSON, with the statement of how they were counted."""
    figures = uptime_by_component(session, now=now)
    return {
        "generated_at": now.isoformat(),
        "maintenance_counted": MAINTENANCE_COUNTING,
        "counting": MAINTENANCE_STATEMENT,
        "components": {
            component_id: {name: uptime_json(figure) for name, figure in windows.items()}
            for component_id, windows in figures.items()
        },
    }


def monitoring_gaps(session: Session, *, now: datetime, days: int = 30) -> list[dict[str, Any]]:
    """The spells nobody watched a component in the last `days`, newest first, the open ones included."""
    since = now - timedelta(days=days)
    rows = session.execute(
        select(MonitoringGap, Component.name)
        .join(Component, Component.id == MonitoringGap.component_id)
        .where(or_(MonitoringGap.ended_at.is_(None), MonitoringGap.ended_at >= since))
        .order_by(MonitoringGap.started_at.desc(), MonitoringGap.id.desc())
    ).all()
    return [
        {
            "id": gap.id,
            "component_id": gap.component_id,
            "component_name": name,
            "started_at": gap.started_at.isoformat(),
            "ended_at": gap.ended_at.isoformat() if gap.ended_at else None,
            "ongoing": gap.ended_at is None,
            "seconds": round(((gap.ended_at or now) - gap.started_at).total_seconds()),
            "detected_at": gap.detected_at.isoformat(),
        }
        for gap, name in rows
    ]
