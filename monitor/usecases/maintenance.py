"""Planned maintenance windows: announced through the ops API or listed in the configuration file.

A window covers components for a one-off period (`starts_at`..`ends_at`) or weekly (`recurrence`, in
a named time zone, optionally bounded by `starts_at`/`ends_at`). Whether downtime inside one counts
towards relief depends on how long before it was announced (`announced_at`): relief decides that;
this module records windows and tells relief, in the same transaction, whenever one is created,
changed or removed (a MAINTENANCE_CHANGED event with the window's components and bounds, and what
they were before).

Windows from the file are kept in step with it on every start (`sync_config_maintenance`): matched by
their id (`key`), updated in place, deactivated when the file no longer lists them. Their
`announced_at` is when they were first stored unless the file says otherwise, and is kept across
restarts; when a window is moved or covers more components and the file gives no `announced_at`,
the change is announced now, so notice is never claimed for a schedule nobody saw.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from exemptions.policy.maintenance import occurrences
from monitor.config import Config
from monitor.config.model import MaintenanceConfig
from monitor.outbox.store import emit
from monitor.storage.enums import EventKind, MaintenanceSource
from monitor.storage.models import Maintenance, MaintenanceComponent
from monitor.timefmt import iso
from monitor.usecases.outages import MAX_ID, Conflict, InvalidInput, NotFound, active_component, instant

log = logging.getLogger(__name__)

MAX_TITLE = 200
MAX_COMPONENTS = 500
UPCOMING = 5  # occurrences of a recurring window listed ahead


@dataclass(frozen=True)
class MaintenanceView:
    """A window as ops read it, with whether it is in effect now and, if recurring, its next occurrences."""

    id: int
    key: str | None
    source: MaintenanceSource
    title: str
    components: list[str]
    starts_at: datetime
    ends_at: datetime | None
    recurrence: dict[str, Any] | None
    announced_at: datetime
    active: bool
    in_progress: bool
    # The ongoing and next occurrences; a one-off window: its own period until it has ended.
    upcoming: list[tuple[datetime, datetime]]
    created_at: datetime
    updated_at: datetime


# --- announcing through the API -------------------------------------------------------------------


def announce_maintenance(
    session: Session,
    *,
    components: object,
    starts_at: object,
    ends_at: object,
    title: object,
    now: datetime,
    announced_at: object = None,
) -> Maintenance:
    """Record a one-off window announced through the ops API; relief hears of it in this transaction.

    `announced_at` defaults to now and can never be later than now: notice is claimed only for the past.
    """
    component_ids = _component_ids(session, components)
    start = instant(starts_at, "starts_at")
    end = instant(ends_at, "ends_at") if ends_at is not None else None
    if end is None:
        raise InvalidInput("ends_at", "is required: a maintenance window announced here ends")
    if end <= start:
        raise InvalidInput("ends_at", f"must be after starts_at ({start.isoformat()})")
    announced = now if announced_at is None else instant(announced_at, "announced_at")
    if announced > now:
        raise InvalidInput("announced_at", f"{announced.isoformat()} is later than now ({now.isoformat()})")
    window = Maintenance(
        key=None,
        source=MaintenanceSource.API,
        title=_title(title),
        starts_at=start,
        ends_at=end,
        recurrence=None,
        announced_at=announced,
        active=True,
        created_at=now,
        updated_at=now,
        components=[MaintenanceComponent(component_id=c) for c in component_ids],
    )
    session.add(window)
    session.flush()
    _changed(session, window, "created", previous=None, now=now)
    return window


def cancel_maintenance(session: Session, maintenance_id: int, *, now: datetime) -> Maintenance:
    """Withdraw a window announced through the API; one from the configuration file is removed there."""
    window = _get(session, maintenance_id, for_update=True)
    if window.source == MaintenanceSource.CONFIG:
        raise Conflict(
            None,
            f"maintenance {window.id} is listed in the configuration file as {window.key!r}; remove it there",
        )
    if window.active:
        previous = _shape(window)
        window.active = False
        window.updated_at = now
        session.flush()
        _changed(session, window, "removed", previous=previous, now=now)
    return window


# --- reading --------------------------------------------------------------------------------------


def list_maintenance(
    session: Session, *, now: datetime, include_inactive: bool = False, limit: int = 100
) -> list[MaintenanceView]:
    """Windows, the latest first: only those in force unless `include_inactive`."""
    query = (
        select(Maintenance)
        .options(selectinload(Maintenance.components))
        .order_by(Maintenance.starts_at.desc(), Maintenance.id.desc())
        .limit(limit)
    )
    if not include_inactive:
        query = query.where(Maintenance.active)
    return [view_of(window, now=now) for window in session.scalars(query)]


def get_maintenance(session: Session, maintenance_id: int, *, now: datetime) -> MaintenanceView:
    return view_of(_get(session, maintenance_id), now=now)


def view_of(window: Maintenance, *, now: datetime) -> MaintenanceView:
    if window.recurrence is None:
        upcoming = [(window.starts_at, window.ends_at)] if window.ends_at is not None and window.ends_at > now else []
    else:
        duration = timedelta(seconds=window.recurrence["duration_seconds"])
        # Far enough ahead to find UPCOMING occurrences of a window held once a week.
        found = window_occurrences(window, now - duration, now + timedelta(weeks=UPCOMING + 1))
        upcoming = [(s, e) for s, e in found if e > now][:UPCOMING]
    return MaintenanceView(
        id=window.id,
        key=window.key,
        source=window.source,
        title=window.title,
        components=sorted(c.component_id for c in window.components),
        starts_at=window.starts_at,
        ends_at=window.ends_at,
        recurrence=window.recurrence,
        announced_at=window.announced_at,
        active=window.active,
        in_progress=window.active and any(s <= now < e for s, e in upcoming),
        upcoming=upcoming,
        created_at=window.created_at,
        updated_at=window.updated_at,
    )


def window_occurrences(window: Maintenance, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The periods of a window that overlap [start, end), in order."""
    if window.recurrence is None:
        if window.ends_at is None or window.ends_at <= start or window.starts_at >= end:
            return []
        return [(window.starts_at, window.ends_at)]
    rule = window.recurrence
    found = occurrences(
        days=list(rule["days"]),
        at=time.fromisoformat(rule["at"]),
        duration=timedelta(seconds=rule["duration_seconds"]),
        time_zone=rule["time_zone"],
        starts_at=window.starts_at,
        ends_at=window.ends_at,
        between=(start, end),
    )
    return sorted((s, e) for s, e in found if e > start and s < end)


# Back-to-back windows are followed this many times when finding where maintenance ends.
_MAX_CHAINED = 20


def maintenance_until(session: Session, component_id: str, at: datetime) -> datetime | None:
    """When the maintenance covering the component at `at` ends (following windows that adjoin or
    overlap it), or None if no window in force covers it then."""
    windows = session.scalars(
        select(Maintenance)
        .join(MaintenanceComponent, MaintenanceComponent.maintenance_id == Maintenance.id)
        .where(MaintenanceComponent.component_id == component_id, Maintenance.active)
    ).all()
    until: datetime | None = None
    moment = at
    for _ in range(_MAX_CHAINED):
        # A recurring occurrence lasts at most 7 days: one that covers `moment` began within that.
        ends = [
            end
            for window in windows
            for start, end in window_occurrences(window, moment - timedelta(days=8), moment + timedelta(seconds=1))
            if start <= moment < end
        ]
        if not ends:
            break
        until = moment = max(ends)
    return until


def view_json(view: MaintenanceView) -> dict[str, Any]:
    return {
        "id": view.id,
        "key": view.key,
        "source": view.source.value,
        "title": view.title,
        "components": view.components,
        "starts_at": iso(view.starts_at),
        "ends_at": iso(view.ends_at),
        "recurrence": view.recurrence,
        "announced_at": iso(view.announced_at),
        "active": view.active,
        "in_progress": view.in_progress,
        "occurrences": [{"starts_at": iso(s), "ends_at": iso(e)} for s, e in view.upcoming],
        "created_at": iso(view.created_at),
        "updated_at": iso(view.updated_at),
    }


# --- the configuration file -----------------------------------------------------------------------


def sync_config_maintenance(session: Session, config: Config, now: datetime) -> list[int]:
    """Make the stored windows from the file what it lists now; returns the new delivery ids.

    Call it once the file's components are stored: a window covers only components the file declares.
    """
    deliveries: list[int] = []
    listed: set[str] = set()
    for item in config.maintenance:
        listed.add(item.id)
        deliveries += _sync_one(session, item, now=now)
    stale = session.scalars(
        select(Maintenance)
        .where(Maintenance.source == MaintenanceSource.CONFIG, Maintenance.active)
        .order_by(Maintenance.id)
    ).all()
    for window in stale:
        if window.key not in listed:
            log.info("maintenance %r is no longer in the configuration; removing it", window.key)
            previous = _shape(window)
            window.active = False
            window.updated_at = now
            session.flush()
            deliveries += _changed(session, window, "removed", previous=previous, now=now)
    return deliveries


def _sync_one(session: Session, item: MaintenanceConfig, *, now: datetime) -> list[int]:
    announced = item.announced_at
    if announced is not None and announced > now:
        log.warning(
            "maintenance %r: announced_at %s is later than now; treated as announced when first stored",
            item.id,
            announced.isoformat(),
        )
        announced = None
    recurrence = item.every.as_stored() if item.every is not None else None
    window = session.scalar(select(Maintenance).where(Maintenance.key == item.id).with_for_update())
    if window is None:
        window = Maintenance(
            key=item.id,
            source=MaintenanceSource.CONFIG,
            title=item.title,
            starts_at=item.starts_at or now,  # a recurring window without a first day: from now on
            ends_at=item.ends_at,
            recurrence=recurrence,
            announced_at=announced or now,
            active=True,
            created_at=now,
            updated_at=now,
            components=[MaintenanceComponent(component_id=c) for c in _sorted_unique(item.components)],
        )
        session.add(window)
        session.flush()
        return _changed(session, window, "created", previous=None, now=now)

    previous = _shape(window)
    was_active = window.active
    old_announced = window.announced_at
    old_components = set(previous["components"])
    starts_at = item.starts_at
    if starts_at is None:
        starts_at = window.starts_at if window.recurrence is not None and window.active else now
    window.source = MaintenanceSource.CONFIG
    window.title = item.title
    window.starts_at = starts_at
    window.ends_at = item.ends_at
    window.recurrence = recurrence
    window.active = True
    _set_components(window, _sorted_unique(item.components))
    now_shape = _shape(window)
    moved = any(previous[name] != now_shape[name] for name in ("starts_at", "ends_at", "recurrence"))
    widened = bool(set(now_shape["components"]) - old_components)
    if announced is not None:
        window.announced_at = announced
    elif moved or widened or not was_active:
        window.announced_at = now  # a schedule nobody saw before now was announced now
    if not (previous != now_shape or not was_active or window.announced_at != old_announced):
        return []
    window.updated_at = now
    session.flush()
    return _changed(session, window, "changed", previous=previous if was_active else None, now=now)


# --- shared ---------------------------------------------------------------------------------------


def maintenance_subject(maintenance_id: int) -> str:
    return f"maintenance:{maintenance_id}"


def _get(session: Session, maintenance_id: int, *, for_update: bool = False) -> Maintenance:
    window = None
    if 0 < maintenance_id <= MAX_ID:
        window = session.get(Maintenance, maintenance_id, with_for_update=for_update)
    if window is None:
        raise NotFound(f"no maintenance window {maintenance_id}")
    return window


def _component_ids(session: Session, value: object) -> list[str]:
    if not isinstance(value, list) or not value:
        raise InvalidInput("components", "expected a non-empty list of component ids")
    if len(value) > MAX_COMPONENTS:
        raise InvalidInput("components", f"lists more than {MAX_COMPONENTS} components")
    ids: list[str] = []
    for item in value:
        component = active_component(session, item, "components")
        if component.id not in ids:
            ids.append(component.id)
    return sorted(ids)


def _title(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("title", "is required: say what the maintenance is, as text")
    if len(value.strip()) > MAX_TITLE:
        raise InvalidInput("title", f"is longer than {MAX_TITLE} characters")
    return value.strip()


def _sorted_unique(ids: Sequence[str]) -> list[str]:
    return sorted(set(ids))


def _set_components(window: Maintenance, ids: list[str]) -> None:
    wanted = set(ids)
    for link in list(window.components):
        if link.component_id not in wanted:
            window.components.remove(link)
    have = {link.component_id for link in window.components}
    window.components.extend(MaintenanceComponent(component_id=c) for c in ids if c not in have)


def _shape(window: Maintenance) -> dict[str, Any]:
    """What relief needs to know of a window: which components, when, and whether it recurs."""
    return {
        "components": sorted(c.component_id for c in window.components),
        "starts_at": iso(window.starts_at),
        "ends_at": iso(window.ends_at),
        "recurring": window.recurrence is not None,
        "recurrence": window.recurrence,
        "announced_at": iso(window.announced_at),
        "title": window.title,
    }


def _changed(
    session: Session, window: Maintenance, change: str, *, previous: dict[str, Any] | None, now: datetime
) -> list[int]:
    shape = _shape(window)
    payload = {"maintenance_id": window.id, "change": change, "active": window.active, **shape, "previous": previous}
    return emit(
        session, EventKind.MAINTENANCE_CHANGED, subject=maintenance_subject(window.id), payload=payload, now=now
    )
