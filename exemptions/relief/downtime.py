"""Reading what relief rests on from storage: outages and maintenance, as the policy's pure values.

Where an outage counts from and to is decided here, once, for every rule:
- observed: from the last good check before it (`last_ok_at`; the portal's state after that instant is
  unproven), or its first failure when none was ever seen, to its `ended_at`;
- declared: from the `started_at` ops gave to the `ended_at` they gave;
- still open, observed: to its last failed check (`last_failed_at`), not to "now". Between the first
  recovering success and the check that closes the outage the portal was already back; and while no
  checks arrive (workers or the scheduler down) the record must stop at the last evidence rather than
  grow. Relief is recomputed every `relief.interval`, so this trails "now" by one check interval;
- still open, declared: to now (ops said it is down and there is no other evidence to wait for).

Monitoring gaps (monitor's `monitoring_gaps`: nobody watched the component) are cut out of an observed
outage that spans one: nothing was seen then, so the record does not say the portal was down. Provisional
relief never reached into a gap (it stops at the last failed check before it), so nothing given is taken
back. A declared outage is ops' statement and is not cut.

An outage ops marked a false positive is not read at all: nothing new rests on it, and the engine's
never-worse-off rule keeps what was already given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from exemptions.policy.maintenance import occurrences
from exemptions.policy.model import Downtime, MaintenanceWindow
from monitor.storage.enums import OutageSource, Severity
from monitor.storage.models import (
    Maintenance,
    MaintenanceComponent,
    MonitoringGap,
    Outage,
    OutageChange,
    OutageCorrection,
)


def outage_ref(outage_id: int) -> str:
    return f"outage:{outage_id}"


def maintenance_ref(maintenance_id: int) -> str:
    return f"maintenance:{maintenance_id}"


def ids_of(refs: tuple[str, ...] | frozenset[str], kind: str) -> list[int]:
    """The numeric ids of the refs of one kind ("outage" or "maintenance"), sorted."""
    prefix = f"{kind}:"
    return sorted(int(ref[len(prefix) :]) for ref in refs if ref.startswith(prefix))


def counted_bounds(outage: Outage, *, now: datetime) -> tuple[datetime, datetime, bool]:
    """(start, end, open) of the time an outage counts for relief (see the module docstring)."""
    if outage.source == OutageSource.DECLARED:
        start = outage.started_at
        end = outage.ended_at if outage.ended_at is not None else max(now, start)
    else:
        start = outage.last_ok_at or outage.started_at
        end = outage.ended_at if outage.ended_at is not None else (outage.last_failed_at or outage.started_at)
    # max(): a wall clock that stepped back during the outage must not leave an inverted interval.
    return start, max(end, start), outage.ended_at is None


def severity_parts(
    current: Severity, changes: list[tuple[datetime, Severity]], start: datetime, end: datetime
) -> list[tuple[Severity, datetime, datetime]]:
    """An outage's counted time cut where its severity changed: (severity, start, end) for each part.

    `changes` are (from when, severity) in time order, as detection recorded them; the first part runs
    from the counted start at the severity it opened with. Without history the outage is one part at
    its severity. A part counts only at the severity it had, so an outage that was slow for an hour
    and down for ten minutes gives relief for ten minutes, not seventy.
    """
    if not changes:
        return [(current, start, end)]
    parts: list[tuple[Severity, datetime, datetime]] = []
    severity = changes[0][1]
    cursor = start
    for at, next_severity in changes[1:]:
        cut = min(max(at, cursor), end)
        if next_severity != severity:
            if cut > cursor:
                parts.append((severity, cursor, cut))
            cursor = cut
            severity = next_severity
    parts.append((severity, cursor, end))
    return parts


def without_gaps(
    parts: list[tuple[Severity, datetime, datetime]], gaps: list[tuple[datetime, datetime]]
) -> list[tuple[Severity, datetime, datetime]]:
    """The parts of an outage with the monitoring gaps cut out (gaps sorted by start, not overlapping
    one another). A part wholly inside a gap disappears; one that spans a gap becomes two."""
    kept: list[tuple[Severity, datetime, datetime]] = []
    for severity, start, end in parts:
        cursor = start
        for gap_start, gap_end in gaps:
            if gap_end <= cursor or gap_start >= end:
                continue
            if gap_start > cursor:
                kept.append((severity, cursor, gap_start))
            cursor = max(cursor, gap_end)
            if cursor >= end:
                break
        if cursor < end:
            kept.append((severity, cursor, end))
    return kept


def gaps_of(
    session: Session, component_ids: set[str], *, since: datetime, until: datetime, now: datetime
) -> dict[str, list[tuple[datetime, datetime]]]:
    """Each component's monitoring gaps overlapping [since, until], as (start, end) sorted by start; an
    open gap ends at `now`."""
    found: dict[str, list[tuple[datetime, datetime]]] = {}
    if not component_ids:
        return found
    rows = session.execute(
        select(MonitoringGap.component_id, MonitoringGap.started_at, MonitoringGap.ended_at)
        .where(
            MonitoringGap.component_id.in_(sorted(component_ids)),
            MonitoringGap.started_at <= until,
            or_(MonitoringGap.ended_at.is_(None), MonitoringGap.ended_at >= since),
        )
        .order_by(MonitoringGap.component_id, MonitoringGap.started_at)
    )
    for component_id, started_at, ended_at in rows:
        found.setdefault(component_id, []).append((started_at, max(ended_at or now, started_at)))
    return found


def severity_history(session: Session, outage_ids: list[int]) -> dict[int, list[tuple[datetime, Severity]]]:
    history: dict[int, list[tuple[datetime, Severity]]] = {}
    if not outage_ids:
        return history
    rows = session.execute(
        select(OutageChange.outage_id, OutageChange.at, OutageChange.severity)
        .where(OutageChange.outage_id.in_(outage_ids))
        .order_by(OutageChange.outage_id, OutageChange.at, OutageChange.id)
    )
    for outage_id, at, severity in rows:
        history.setdefault(outage_id, []).append((at, severity))
    # Ops' correction of an outage's severity is their word for the whole of it: its history yields.
    corrected = session.execute(
        select(OutageCorrection.outage_id, OutageCorrection.before, OutageCorrection.after).where(
            OutageCorrection.outage_id.in_(list(history))
        )
    )
    for outage_id, before, after in corrected:
        if (before or {}).get("severity") != (after or {}).get("severity"):
            history.pop(outage_id, None)
    return history


@dataclass(frozen=True)
class Record:
    """Everything relief may rest on from `since` on: outages and maintenance occurrences."""

    downtimes: tuple[Downtime, ...]
    maintenance: tuple[MaintenanceWindow, ...]


def load_record(session: Session, *, since: datetime, until: datetime, now: datetime) -> Record:
    """Every outage and maintenance occurrence, of any component, overlapping [since, until]."""
    outages = session.scalars(
        select(Outage)
        .where(
            or_(Outage.ended_at.is_(None), Outage.ended_at >= since),
            Outage.started_at <= until,
            Outage.false_positive_at.is_(None),  # ops found it was not an outage: it counts for nothing
        )
        .order_by(Outage.id)
    ).all()
    observed = [o for o in outages if o.source == OutageSource.OBSERVED]
    history = severity_history(session, [o.id for o in observed])
    gaps = gaps_of(session, {o.component_id for o in observed}, since=since, until=until, now=now)
    downtimes = []
    for outage in outages:
        start, end, is_open = counted_bounds(outage, now=now)
        if end < since or start > until:
            continue
        parts = severity_parts(outage.severity, history.get(outage.id, []), start, end)
        if outage.source == OutageSource.OBSERVED:
            parts = without_gaps(parts, gaps.get(outage.component_id, []))
        for severity, part_start, part_end in parts:
            downtimes.append(
                Downtime(
                    ref=outage_ref(outage.id),
                    component_id=outage.component_id,
                    severity=severity,
                    start=part_start,
                    end=part_end,
                    open=is_open,
                )
            )
    return Record(downtimes=tuple(downtimes), maintenance=tuple(maintenance_windows(session, since, until)))


def maintenance_windows(session: Session, since: datetime, until: datetime) -> list[MaintenanceWindow]:
    rows = session.execute(
        select(Maintenance, MaintenanceComponent.component_id)
        .join(MaintenanceComponent, MaintenanceComponent.maintenance_id == Maintenance.id)
        .where(
            Maintenance.active,
            Maintenance.starts_at <= until,
            or_(Maintenance.ends_at.is_(None), Maintenance.ends_at >= since),
        )
        .order_by(Maintenance.id)
    ).all()
    components: dict[int, set[str]] = {}
    windows: dict[int, Maintenance] = {}
    for window, component_id in rows:
        windows[window.id] = window
        components.setdefault(window.id, set()).add(component_id)
    found: list[MaintenanceWindow] = []
    for window_id, window in windows.items():
        for start, end in _occurrences_of(window, since, until):
            found.append(
                MaintenanceWindow(
                    ref=maintenance_ref(window_id),
                    component_ids=frozenset(components[window_id]),
                    start=start,
                    end=end,
                    announced_at=window.announced_at,
                )
            )
    return found


def _occurrences_of(window: Maintenance, since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
    if window.recurrence is None:
        end = window.ends_at or window.starts_at
        return [(window.starts_at, end)]
    rule = window.recurrence
    hours, minutes = (int(part) for part in str(rule["at"]).split(":")[:2])
    return occurrences(
        days=list(rule["days"]),
        at=time(hours, minutes),
        duration=timedelta(seconds=float(rule["duration_seconds"])),
        time_zone=str(rule["time_zone"]),
        starts_at=window.starts_at,
        ends_at=window.ends_at,
        between=(since, until),
    )
