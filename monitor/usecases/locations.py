"""Locations and their sight: each checks a control URL with its batches; one that cannot reach it is blind.

A location whose own network is broken (a dead proxy, a lost route, DNS gone) sees every probe fail
at once. Those failures are about the location, not the portal: counting them would open outages,
and grant relief, for something the portal never did. So every batch of checks a location runs
starts with its control check (a URL outside the portal), and a batch whose control check failed is
recorded blind: kept as evidence, never counted. The location's `sight` follows its latest control
check, each change a row in the outbox (ops are told in Slack), and it comes back by itself with the
first control check that passes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.config.model import LocationConfig
from monitor.outbox.store import emit
from monitor.storage.enums import EventKind, LocationSight
from monitor.storage.models import Location
from probes import CheckResult, ProbeSpecBase, parse_spec

log = logging.getLogger(__name__)

# Any answer from 200 to 399 proves the way out works. A proxy that is up but cannot reach anything
# answers 502 or 503 itself, which is exactly the blindness to be caught.
CONTROL_STATUSES = list(range(200, 400))


def control_spec(location: LocationConfig) -> ProbeSpecBase | None:
    """The http check a location runs before each batch, or None when it has no control URL."""
    if location.control is None:
        return None
    return parse_spec(
        {
            "id": f"control.{location.name}",
            "type": "http",
            "url": location.control,
            "timeout": f"{location.control_timeout.total_seconds()}s",
            "expect_status": CONTROL_STATUSES,
        }
    )


def sight_subject(location: str, since: datetime) -> str:
    """One Slack message per spell of blindness: the blind event and the return to sight update it."""
    return f"location:{location}:{since.isoformat()}"


def note_control(session: Session, location_id: str, result: CheckResult, *, now: datetime) -> list[int]:
    """Record a control check's verdict on its location; returns the deliveries of a change of sight.

    The location row is locked for the read-modify-write, so two batches finishing at once flip it
    once, and a verdict older than the one stored (a slow batch finishing late) changes nothing.
    """
    location = session.scalar(select(Location).where(Location.id == location_id).with_for_update())
    if location is None:
        return []
    if location.control_checked_at is not None and result.started_at < location.control_checked_at:
        return []
    location.control_checked_at = result.started_at
    if result.ok:
        location.control_error = None
        if location.sight == LocationSight.BLIND:
            return mark_seeing(session, location, at=result.started_at, now=now)
        return []
    location.control_error = result.error
    if location.sight == LocationSight.BLIND:
        return []
    return mark_blind(session, location, at=result.started_at, error=result.error, now=now)


def mark_blind(session: Session, location: Location, *, at: datetime, error: str | None, now: datetime) -> list[int]:
    location.sight = LocationSight.BLIND
    location.sight_since = at
    log.warning("location %s is blind: its control check failed (%s); its checks do not count", location.id, error)
    session.flush()
    return emit(
        session,
        EventKind.LOCATION_BLIND,
        subject=sight_subject(location.id, at),
        payload={"location": location.id, "since": at.isoformat(), "error": error, "control": location.control_url},
        now=now,
    )


def mark_seeing(session: Session, location: Location, *, at: datetime, now: datetime) -> list[int]:
    blind_since = location.sight_since or at
    location.sight = LocationSight.SEEING
    location.sight_since = at
    log.info("location %s sees again since %s", location.id, at.isoformat())
    session.flush()
    return emit(
        session,
        EventKind.LOCATION_SEEING,
        subject=sight_subject(location.id, blind_since),
        payload={"location": location.id, "blind_since": blind_since.isoformat(), "since": at.isoformat()},
        now=now,
    )


@dataclass(frozen=True)
class LocationView:
    name: str
    active: bool
    sight: LocationSight
    sight_since: datetime | None
    control: str | None
    control_checked_at: datetime | None
    control_error: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "active": self.active,
            "sight": self.sight.value,
            "blind": self.sight == LocationSight.BLIND,
            "sight_since": self.sight_since.isoformat() if self.sight_since else None,
            "control": self.control,
            "control_checked_at": self.control_checked_at.isoformat() if self.control_checked_at else None,
            "control_error": self.control_error,
        }


def location_views(session: Session) -> list[LocationView]:
    return [
        LocationView(
            name=row.id,
            active=row.active,
            sight=row.sight,
            sight_since=row.sight_since,
            control=row.control_url,
            control_checked_at=row.control_checked_at,
            control_error=row.control_error,
        )
        for row in session.scalars(select(Location).order_by(Location.active.desc(), Location.id))
    ]
