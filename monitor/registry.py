"""Mirror the configuration file's components and probes into the database."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from monitor.config import Config
from monitor.models import Component, Probe


def sync_config(session: Session, config: Config) -> None:
    """Upsert what the file declares; what it no longer declares is deactivated, never deleted (history stays)."""
    declared_components: list[str] = []
    declared_probes: list[str] = []
    for position, item in enumerate(config.components):
        component = session.get(Component, item.id) or Component(id=item.id)
        component.name = item.name
        component.description = item.description
        component.position = position
        component.active = True
        session.add(component)
        declared_components.append(item.id)
    session.flush()
    for component_cfg, spec in config.probes():
        probe = session.get(Probe, spec.id) or Probe(id=spec.id)
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


def active_probes(session: Session) -> list[Probe]:
    return list(session.scalars(select(Probe).where(Probe.active).order_by(Probe.id)))
