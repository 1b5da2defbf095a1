"""The Atlassian Statuspage API v2 shapes of a Snapshot (pure), so existing status tooling can read PortalWatch.

PortalWatch adds to them, never changes them: a component nobody is watching has status `unknown`
and a `monitoring` object saying since when; the page indicator is `unknown` when that is all
that stands between it and "All Systems Operational". An outage ops declared (the probes did not
see it) is an incident like any other, and says so in its update.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from monitor.config import PageConfig
from monitor.statuspage.views import ComponentView, MaintenanceView, OutageView, Snapshot, overall
from monitor.storage.enums import EndReason, Severity
from monitor.timefmt import iso

_IMPACT = {Severity.DEGRADED_PERFORMANCE: "minor", Severity.PARTIAL_OUTAGE: "major", Severity.MAJOR_OUTAGE: "critical"}


def _component_json(c: ComponentView, page: PageConfig) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "status": c.status.value,
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
        "monitoring": {
            "state": c.watch_state.value,
            "last_check_seen_at": iso(c.watch_state_since) if not c.watched else None,
        },
    }


def _incident_json(o: OutageView, page: PageConfig, components: dict[str, ComponentView]) -> dict[str, Any]:
    updates = []
    if o.ended_at is not None:
        updates.append(
            {
                "id": f"{o.id}-resolved",
                "status": "resolved",
                "body": _resolution(o),
                "created_at": iso(o.resolved_at or o.ended_at),
                "updated_at": iso(o.resolved_at or o.ended_at),
                "display_at": iso(o.resolved_at or o.ended_at),
                "incident_id": str(o.id),
            }
        )
    seen = f" Probes report: {o.error}" if o.error else ""
    if o.declared:
        seen = " Reported to us; not seen by our probes."
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
    resolved = o.resolved_at or o.ended_at
    for update in o.updates:  # what ops posted for the public; internal notes never reach a snapshot
        updates.append(
            {
                "id": f"{o.id}-update-{update.id}",
                "status": "resolved" if resolved is not None and update.created_at >= resolved else "investigating",
                "body": update.body,
                "created_at": iso(update.created_at),
                "updated_at": iso(update.created_at),
                "display_at": iso(update.created_at),
                "incident_id": str(o.id),
            }
        )
    # Newest first, as Statuspage lists them (stable: the resolution before an update posted with it).
    updates.sort(key=lambda shown: datetime.fromisoformat(str(shown["display_at"])), reverse=True)
    latest = max([o.resolved_at or o.detected_at, *(update.created_at for update in o.updates)])
    component = components.get(o.component_id)
    return {
        "id": str(o.id),
        "name": f"{o.component_name} unavailable",
        "status": "resolved" if o.ended_at else "investigating",
        "created_at": iso(o.detected_at),
        "updated_at": iso(latest),
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
        "scheduled_maintenances": scheduled_maintenances_json(snapshot, page)["scheduled_maintenances"],
    }


def scheduled_maintenances_json(snapshot: Snapshot, page: PageConfig) -> dict[str, Any]:
    """Maintenance in progress or upcoming; a recurring window shows its ongoing or next occurrence."""
    by_id = {c.id: c for c in snapshot.components}
    return {
        "page": page_json(snapshot, page),
        "scheduled_maintenances": [
            _maintenance_json(m, page, by_id, snapshot.generated_at) for m in snapshot.maintenance
        ],
    }


def _maintenance_json(
    m: MaintenanceView, page: PageConfig, components: dict[str, ComponentView], now: datetime
) -> dict[str, Any]:
    status = "in_progress" if m.in_progress(now) else "scheduled"
    # One id per occurrence, so a reader tracking a recurring window sees each night as its own maintenance.
    key = f"maintenance-{m.id}-{m.starts_at.strftime('%Y%m%dT%H%MZ')}"
    names = ", ".join(components[c].name for c in m.component_ids if c in components)
    return {
        "id": key,
        "name": m.title,
        "status": status,
        "created_at": iso(m.created_at),
        "updated_at": iso(m.updated_at),
        "monitoring_at": None,
        "resolved_at": None,
        "shortlink": f"{page.url.rstrip('/')}/#{key}",
        "started_at": iso(m.starts_at),
        "page_id": page.id,
        "incident_updates": [
            {
                "id": f"{key}-{status}",
                "status": status,
                "body": f"Planned maintenance of {names or 'the portal'} from {iso(m.starts_at)} to {iso(m.ends_at)}.",
                "created_at": iso(m.created_at),
                "updated_at": iso(m.updated_at),
                "display_at": iso(m.created_at),
                "incident_id": key,
            }
        ],
        "components": [_component_json(components[c], page) for c in m.component_ids if c in components],
        "impact": "maintenance",
        "scheduled_for": iso(m.starts_at),
        "scheduled_until": iso(m.ends_at),
    }


def _resolution(o: OutageView) -> str:
    if o.declared:
        return f"{o.component_name} is available again since {iso(o.ended_at)}."
    if o.end_reason == EndReason.COMPONENT_REMOVED:
        return f"{o.component_name} is no longer monitored; it was last seen down at {iso(o.ended_at)}."
    if o.end_reason == EndReason.WATCH_REMOVED:
        return f"The probes that saw {o.component_name} down were retired; it was last seen down at {iso(o.ended_at)}."
    return f"{o.component_name} is available again; probes succeeded from {iso(o.ended_at)}."
