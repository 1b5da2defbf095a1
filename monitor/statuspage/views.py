"""What the status page shows, as plain values derived from stored facts (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitor.storage.enums import ComponentStatus, EndReason, OutageSource, Severity, WatchState

STATUS_LABELS = {
    ComponentStatus.OPERATIONAL: "Operational",
    ComponentStatus.DEGRADED_PERFORMANCE: "Degraded performance",
    ComponentStatus.PARTIAL_OUTAGE: "Partial outage",
    ComponentStatus.MAJOR_OUTAGE: "Major outage",
    ComponentStatus.UNDER_MAINTENANCE: "Under maintenance",
    ComponentStatus.UNKNOWN: "Monitoring interrupted",
}
_SEVERITY_ORDER = [Severity.DEGRADED_PERFORMANCE, Severity.PARTIAL_OUTAGE, Severity.MAJOR_OUTAGE]


@dataclass(frozen=True)
class ComponentView:
    id: str
    name: str
    description: str | None
    position: int
    status: ComponentStatus
    watch_state: WatchState
    watch_state_since: datetime | None  # for `unknown`: the last check anyone saw
    created_at: datetime
    updated_at: datetime

    @property
    def label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def watched(self) -> bool:
        return self.watch_state == WatchState.WATCHED


@dataclass(frozen=True)
class PublicUpdate:
    """An update ops posted about an outage for the public (internal notes never reach the page)."""

    id: int
    body: str
    language: str | None
    created_at: datetime


@dataclass(frozen=True)
class OutageView:
    id: int
    component_id: str
    component_name: str
    severity: Severity
    started_at: datetime
    last_ok_at: datetime | None
    ended_at: datetime | None
    end_reason: EndReason | None
    detected_at: datetime
    resolved_at: datetime | None
    error: str | None
    # Declared: ops recorded it (the portal's operator reported it, say); the probes did not see it.
    source: OutageSource = OutageSource.OBSERVED
    updates: tuple[PublicUpdate, ...] = ()  # public updates, oldest first

    @property
    def declared(self) -> bool:
        return self.source == OutageSource.DECLARED

    @property
    def ongoing(self) -> bool:
        return self.ended_at is None

    def duration(self, now: datetime) -> timedelta:
        return (self.ended_at or now) - self.started_at


@dataclass(frozen=True)
class MaintenanceView:
    """One period of planned maintenance: a one-off window, or the ongoing or next occurrence of a recurring one."""

    id: int
    title: str
    component_ids: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime
    recurring: bool
    created_at: datetime
    updated_at: datetime

    def in_progress(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at


@dataclass(frozen=True)
class Snapshot:
    components: list[ComponentView]
    outages: list[OutageView]  # open ones and those that ended within the recent window, newest first
    generated_at: datetime
    maintenance: list[MaintenanceView] = field(default_factory=list)  # in progress or upcoming, soonest first


def component_status(
    open_severities: Iterable[Severity], watch_state: WatchState, *, in_maintenance: bool = False
) -> ComponentStatus:
    """A component shows its worst open outage; with none, `under_maintenance` during planned maintenance,
    `unknown` if nobody is watching it, else operational.

    An open outage wins over `unknown`: the last thing anyone saw was the outage, and it stays open.
    Several open at once (one the probes saw, one ops declared) show as the worst of them.
    Maintenance wins over `unknown`: probes are often stopped during it, and the reason is known.
    """
    severities = list(open_severities)
    if severities:
        return ComponentStatus(max(severities, key=_SEVERITY_ORDER.index).value)
    if in_maintenance:
        return ComponentStatus.UNDER_MAINTENANCE
    if watch_state == WatchState.UNKNOWN:
        return ComponentStatus.UNKNOWN
    return ComponentStatus.OPERATIONAL


def overall(statuses: list[ComponentStatus]) -> tuple[str, str]:
    """Statuspage's page indicator and description for a set of component statuses.

    `unknown` is PortalWatch's own indicator: "all systems operational" would be a claim nobody checked.
    """
    if statuses and all(s == ComponentStatus.MAJOR_OUTAGE for s in statuses):
        return "critical", "Major System Outage"
    if ComponentStatus.MAJOR_OUTAGE in statuses or ComponentStatus.PARTIAL_OUTAGE in statuses:
        return "major", "Partial System Outage"
    if ComponentStatus.DEGRADED_PERFORMANCE in statuses:
        return "minor", "Minor Service Outage"
    if ComponentStatus.UNKNOWN in statuses:
        return "unknown", "Monitoring Interrupted"
    if ComponentStatus.UNDER_MAINTENANCE in statuses:
        return "maintenance", "Service Under Maintenance"
    return "none", "All Systems Operational"
