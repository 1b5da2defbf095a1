"""What the status page says, derived from stored outages; shaped like Atlassian Statuspage's API v2."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from monitor.config import PageConfig
from monitor.models import Check, Component, Outage
from monitor.timefmt import iso

OPERATIONAL = "operational"
STATUS_LABELS = {
    "operational": "Operational",
    "degraded_performance": "Degraded performance",
    "partial_outage": "Partial outage",
    "major_outage": "Major outage",
    "under_maintenance": "Under maintenance",
}
_IMPACT = {"degraded_performance": "minor", "partial_outage": "major", "major_outage": "critical"}


@dataclass(frozen=True)
class ComponentView:
    id: str
    name: str
    description: str | None
    position: int
    status: str
    created_at: datetime
    updated_at: datetime

    @property
    def label(self) -> str:
        return STATUS_LABELS[self.status]


@dataclass(frozen=True)
class OutageView:
    id: int
    component_id: str
    component_name: str
    severity: str
    started_at: datetime
    last_ok_at: datetime | None
    ended_at: datetime | None
    detected_at: datetime
    resolved_at: datetime | None
    error: str | None

    @property
    def ongoing(self) -> bool:
        return self.ended_at is None

    def duration(self, now: datetime) -> timedelta:
        return (self.ended_at or now) - self.started_at


@dataclass(frozen=True)
class Snapshot:
    components: list[ComponentView]
    outages: list[OutageView]  # open ones and those that ended within the recent window, newest first
    generated_at: datetime


def component_status(severities: list[str]) -> str:
    """A component shows its worst open outage; none open means operational."""
    order = ["operational", "degraded_performance", "partial_outage", "major_outage"]
    return max(severities, key=order.index, default=OPERATIONAL)


def overall(statuses: list[str]) -> tuple[str, str]:
    """Statuspage's page indicator and description for a set of component statuses."""
    if statuses and all(s == "major_outage" for s in statuses):
        return "critical", "Major System Outage"
    if "major_outage" in statuses or "partial_outage" in statuses:
        return "major", "Partial System Outage"
    if "degraded_performance" in statuses:
        return "minor", "Minor Service Outage"
    if "under_maintenance" in statuses:
        return "maintenance", "Service Under Maintenance"
    return "none", "All Systems Operational"


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
            detected_at=o.detected_at,
            resolved_at=o.resolved_at,
            error=error,
        )
        for o, name, error in rows
    ]
    open_by_component: dict[str, list[str]] = {}
    for outage in outages:
        if outage.ongoing:
            open_by_component.setdefault(outage.component_id, []).append(outage.severity)
    components = [
        ComponentView(
            id=c.id,
            name=c.name,
            description=c.description,
            position=c.position,
            status=component_status(open_by_component.get(c.id, [])),
            created_at=c.created_at,
            updated_at=max([c.updated_at, *[o.detected_at for o in outages if o.component_id == c.id]]),
        )
        for c in session.scalars(select(Component).where(Component.active).order_by(Component.position))
    ]
    return Snapshot(components=components, outages=outages, generated_at=now)


def _component_json(c: ComponentView, page: PageConfig) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "status": c.status,
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at),
        "position": c.position,
        "description": c.description,
        "showcase": True,
        "start_date": c.created_at.date().isoformat(),
        "group_id": None,
        "page_id": page.id,
        "group": False,
        "only_show_if_degraded": False,
    }


def _incident_json(o: OutageView, page: PageConfig, components: dict[str, ComponentView]) -> dict[str, Any]:
    updates = []
    if o.ended_at is not None:
        updates.append(
            {
                "id": f"{o.id}-resolved",
                "status": "resolved",
                "body": f"{o.component_name} is available again; probes succeeded from {iso(o.ended_at)}.",
                "created_at": iso(o.resolved_at or o.ended_at),
                "updated_at": iso(o.resolved_at or o.ended_at),
                "display_at": iso(o.resolved_at or o.ended_at),
                "incident_id": str(o.id),
            }
        )
    seen = f" Probes report: {o.error}" if o.error else ""
    updates.append(
        {
            "id": f"{o.id}-opened",
            "status": "investigating",
            "body": f"{o.component_name} is unavailable since {iso(o.started_at)}.{seen}",
            "created_at": iso(o.detected_at),
            "updated_at": iso(o.detected_at),
            "display_at": iso(o.detected_at),
            "incident_id": str(o.id),
        }
    )
    component = components.get(o.component_id)
    return {
        "id": str(o.id),
        "name": f"{o.component_name} unavailable",
        "status": "resolved" if o.ended_at else "investigating",
        "created_at": iso(o.detected_at),
        "updated_at": iso(o.resolved_at or o.detected_at),
        "monitoring_at": None,
        "resolved_at": iso(o.ended_at),
        "impact": _IMPACT.get(o.severity, "critical"),
        "shortlink": f"{page.url.rstrip('/')}/#outage-{o.id}",
        "started_at": iso(o.started_at),
        "page_id": page.id,
        "incident_updates": updates,
        "components": [_component_json(component, page)] if component else [],
    }


def page_json(snapshot: Snapshot, page: PageConfig) -> dict[str, Any]:
    return {
        "id": page.id,
        "name": page.name,
        "url": page.url,
        "time_zone": page.time_zone,
        "updated_at": iso(snapshot.generated_at),
    }


def status_json(snapshot: Snapshot, page: PageConfig) -> dict[str, Any]:
    indicator, description = overall([c.status for c in snapshot.components])
    return {"page": page_json(snapshot, page), "status": {"indicator": indicator, "description": description}}


def components_json(snapshot: Snapshot, page: PageConfig) -> dict[str, Any]:
    return {"page": page_json(snapshot, page), "components": [_component_json(c, page) for c in snapshot.components]}


def incidents_json(snapshot: Snapshot, page: PageConfig, *, unresolved_only: bool) -> dict[str, Any]:
    by_id = {c.id: c for c in snapshot.components}
    chosen = [o for o in snapshot.outages if o.ongoing or not unresolved_only]
    return {"page": page_json(snapshot, page), "incidents": [_incident_json(o, page, by_id) for o in chosen]}


def summary_json(snapshot: Snapshot, page: PageConfig) -> dict[str, Any]:
    return {
        **status_json(snapshot, page),
        "components": components_json(snapshot, page)["components"],
        "incidents": incidents_json(snapshot, page, unresolved_only=True)["incidents"],
        "scheduled_maintenances": [],
    }
