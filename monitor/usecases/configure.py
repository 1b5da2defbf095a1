"""Mirroring the configuration file into the database, and settling what a change leaves behind.

What the file no longer declares is deactivated, never deleted (history stays). An outage open on
a component that was removed is closed at its last failed check; one that was held open only by
probes or locations that were removed closes the same way, unless the remaining probes saw the
component recover. Either way the end is recorded with its reason and an event, so relief for it
becomes final instead of growing for ever.

Maintenance windows the file lists are stored and kept in step with it (see usecases.maintenance).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from monitor.config import Config
from monitor.config.model import LocationConfig
from monitor.detection.transitions import CloseOutage
from monitor.storage.enums import EndReason, LocationSight, OutageSource
from monitor.storage.models import Component, Location, Outage, Probe
from monitor.usecases.checks import apply_transition, close_outage
from monitor.usecases.locations import mark_seeing
from monitor.usecases.maintenance import sync_config_maintenance

log = logging.getLogger(__name__)


def apply_config(session: Session, config: Config, *, now: datetime) -> list[int]:
    """Upsert what the file declares and settle open outages it orphaned; returns new delivery ids."""
    location_deliveries = _sync_locations(session, config.locations, now=now)
    declared_components: list[str] = []
    for position, item in enumerate(config.components):
        component = session.get(Component, item.id) or Component(id=item.id)
        component.name = item.name
        component.description = item.description
        component.position = position
        component.active = True
        quorum = item.quorum if item.quorum is not None else config.quorum
        component.quorum = None if quorum == "majority" else int(quorum)
        component.merge_gap_seconds = (item.merge_gap or config.merge_gap).total_seconds()
        session.add(component)
        declared_components.append(item.id)
    session.flush()
    declared_probes: list[str] = []
    for component_cfg, spec in config.probes():
        probe = session.get(Probe, spec.id)
        if probe is None:
            probe = Probe(id=spec.id, activated_at=now)
        elif not probe.active:
            probe.activated_at = now  # watched again from now; the time it was off is not a gap of ours
        probe.component_id = component_cfg.id
        probe.spec = spec.model_dump(mode="json")
        probe.interval_seconds = spec.interval.total_seconds()
        probe.failure_threshold = config.failure_threshold_for(spec)
        probe.recovery_threshold = config.recovery_threshold_for(spec)
        probe.active = True
        session.add(probe)
        declared_probes.append(spec.id)
    session.flush()
    session.execute(update(Probe).where(Probe.id.not_in(declared_probes)).values(active=False))
    session.execute(update(Component).where(Component.id.not_in(declared_components)).values(active=False))
    session.flush()
    deliveries = location_deliveries + sync_config_maintenance(session, config, now)
    _warn_of_declared_outages_left_open(session)
    return deliveries + _settle_open_outages(session, grace_days=config.relief.grace_days, now=now)


def _sync_locations(session: Session, locations: Sequence[LocationConfig], *, now: datetime) -> list[int]:
    deliveries: list[int] = []
    names = [item.name for item in locations]
    for item in locations:
        location = session.get(Location, item.name)
        if location is None:
            session.add(Location(id=item.name, active=True, activated_at=now, control_url=item.control))
            continue
        if not location.active:
            location.active = True
            location.activated_at = now
        if location.control_url != item.control:
            location.control_url = item.control
            if item.control is None and location.sight == LocationSight.BLIND:
                # Nothing left to be blind to: without a control URL a location is trusted as it was
                # before controls existed. Said in the outbox like any other return to sight.
                deliveries += mark_seeing(session, location, at=now, now=now)
    session.flush()
    session.execute(update(Location).where(Location.id.not_in(names)).values(active=False))
    return deliveries


def _settle_open_outages(session: Session, *, grace_days: int | None, now: datetime) -> list[int]:
    deliveries: list[int] = []
    open_outages = session.scalars(
        select(Outage).where(Outage.ended_at.is_(None), Outage.source == OutageSource.OBSERVED).order_by(Outage.id)
    ).all()
    for outage in open_outages:
        component = session.get_one(Component, outage.component_id)
        if not component.active:
            log.warning("component %s was removed while outage %s was open; closing it", component.id, outage.id)
            end = CloseOutage(ended_at=outage.last_failed_at or outage.started_at, reason=EndReason.COMPONENT_REMOVED)
            deliveries += close_outage(session, outage, end, now=now)
        else:
            deliveries += apply_transition(session, component.id, grace_days=grace_days, now=now)
    return deliveries


def _warn_of_declared_outages_left_open(session: Session) -> None:
    """A declared outage is ops' statement: it is never closed for them, but one left open on a removed
    component keeps relief growing, so the log says which to end."""
    left_open = session.execute(
        select(Outage.id, Outage.component_id)
        .join(Component, Component.id == Outage.component_id)
        .where(Outage.ended_at.is_(None), Outage.source == OutageSource.DECLARED, Component.active.is_(False))
        .order_by(Outage.id)
    ).all()
    for outage_id, component_id in left_open:
        log.warning(
            "declared outage %s is still open on %s, which is no longer in the configuration; "
            "set its end with PATCH /api/ops/outages/%s",
            outage_id,
            component_id,
            outage_id,
        )


def active_probes(session: Session) -> list[Probe]:
    return list(session.scalars(select(Probe).where(Probe.active).order_by(Probe.id)))
