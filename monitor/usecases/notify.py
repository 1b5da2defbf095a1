"""The Slack consumer: make the subject's one message show its current state, never holding a transaction
across the network call, and never posting twice when an answer was lost."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.notify.channel import Channel, Message, MessageRef, SendError
from monitor.notify.slack.render import (
    FailingDeliveryFacts,
    LocationSightFacts,
    MonitoringFacts,
    OutageFacts,
    failing_delivery_message,
    location_message,
    monitoring_message,
    outage_message,
)
from monitor.outbox.store import latest_event_id, supersede
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import Consumer, EventKind, LocationSight, OutageChangeKind
from monitor.storage.models import (
    Check,
    Component,
    Delivery,
    Grant,
    Location,
    NotifyMessage,
    Outage,
    OutageChange,
    OutboxEvent,
    Probe,
    ProbeState,
)

log = logging.getLogger(__name__)


def notify_slack(runtime: Runtime, event_id: int) -> None:
    channel: Channel = runtime.slack
    with transaction(runtime.sessions) as session:
        event = session.get_one(OutboxEvent, event_id)
        subject = event.subject
        # Everything up to this event id is shown by what we render now; older deliveries are covered.
        covered = latest_event_id(session, subject)
        message = _render(runtime, session, event)
    if not channel.configured:
        log.info("Slack is not configured (SLACK_BOT_TOKEN, SLACK_CHANNEL); not sent: %s", message.text)
        return
    ref = _send(runtime, channel, subject, message)
    with transaction(runtime.sessions) as session:
        row = session.scalars(
            select(NotifyMessage).where(NotifyMessage.channel == channel.name, NotifyMessage.subject == subject)
        ).one()
        row.destination, row.external_id = ref.destination, ref.external_id
        supersede(session, Consumer.SLACK, subject, up_to_event_id=covered, now=runtime.clock())


def _send(runtime: Runtime, channel: Channel, subject: str, message: Message) -> MessageRef:
    """Post the subject's message once, then only update it; find a post whose answer was lost."""
    now = runtime.clock()
    with transaction(runtime.sessions) as session:
        row = session.scalars(
            select(NotifyMessage).where(NotifyMessage.channel == channel.name, NotifyMessage.subject == subject)
        ).one_or_none()
        if row is None:
            row = NotifyMessage(channel=channel.name, subject=subject, marker=secrets.token_hex(12), created_at=now)
            session.add(row)
        ref = MessageRef(row.destination, row.external_id) if row.destination and row.external_id else None
        earlier_attempt = row.attempted_at
        marker = row.marker
        row.attempted_at = now  # committed before the post: if its answer is lost, the next try looks first
    if ref is None and earlier_attempt is not None:
        try:
            ref = channel.find(marker, since=earlier_attempt)
        except SendError as exc:
            if not exc.permanent:
                raise
            # The channel cannot be searched (e.g. no history scope): posting again is the only way forward.
            log.warning("cannot look for an earlier post of %s (%s); posting again", subject, exc)
        if ref is not None:
            log.info("found the earlier post of %s whose answer was lost; updating it", subject)
    if ref is not None:
        return channel.update(ref, message)
    return channel.post(message, marker=marker)


def _render(runtime: Runtime, session: Session, event: OutboxEvent) -> Message:
    page = runtime.config.page
    # One message per outage, showing its current state, whichever of its events is being delivered.
    outage_kinds = (
        EventKind.OUTAGE_OPENED,
        EventKind.OUTAGE_RESOLVED,
        EventKind.OUTAGE_DECLARED,
        EventKind.OUTAGE_REOPENED,
        EventKind.SEVERITY_CHANGED,
    )
    if event.kind in outage_kinds and event.outage_id is not None:
        return outage_message(_outage_facts(session, event.outage_id), time_zone=page.time_zone, page_url=page.url)
    payload = event.payload or {}
    if event.kind in (EventKind.MONITORING_LOST, EventKind.MONITORING_RESTORED):
        component = session.get_one(Component, event.component_id)
        restored = _restored_at(session, event.subject)
        last_seen = payload.get("last_seen_at")
        facts = MonitoringFacts(
            component_name=component.name,
            last_seen_at=datetime.fromisoformat(last_seen) if last_seen else None,
            restored_at=restored,
        )
        return monitoring_message(facts, time_zone=page.time_zone, page_url=page.url)
    if event.kind in (EventKind.LOCATION_BLIND, EventKind.LOCATION_SEEING):
        return location_message(_sight_facts(session, event), time_zone=page.time_zone, page_url=page.url)
    if event.kind == EventKind.DELIVERY_FAILING:
        delivery = session.get(Delivery, payload.get("delivery_id"))
        return failing_delivery_message(
            FailingDeliveryFacts(
                consumer=str(payload.get("consumer")),
                subject=str(payload.get("subject")),
                attempts=delivery.attempts if delivery else int(payload.get("attempts", 0)),
                error=delivery.last_error if delivery else payload.get("error"),
            )
        )
    raise ValueError(f"the Slack consumer has no message for event kind {event.kind}")


def _outage_facts(session: Session, outage_id: int) -> OutageFacts:
    outage = session.get_one(Outage, outage_id)
    component = session.get_one(Component, outage.component_id)
    first_check = session.get(Check, outage.first_check_id) if outage.first_check_id else None
    grants = session.scalar(select(func.count()).select_from(Grant).where(Grant.outage_id == outage_id)) or 0
    changes = session.execute(
        select(OutageChange.at, OutageChange.severity)
        .where(OutageChange.outage_id == outage_id, OutageChange.kind == OutageChangeKind.SEVERITY)
        .order_by(OutageChange.at, OutageChange.id)
    ).all()
    failing, blind = _locations_of(session, outage.component_id)
    return OutageFacts(
        outage_id=outage.id,
        component_name=component.name,
        started_at=outage.started_at,
        ended_at=outage.ended_at,
        end_reason=outage.end_reason,
        error=first_check.error if first_check else None,
        grants=grants,
        source=outage.source,
        severity=outage.severity,
        reason=outage.reason,
        failing_locations=failing,
        blind_locations=blind,
        severity_changes=tuple((at, severity) for at, severity in changes),
    )


def _locations_of(session: Session, component_id: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Where the component's probes are down now, among locations that see, and which locations are blind."""
    rows = session.execute(
        select(ProbeState.location, Location.sight)
        .join(Probe, Probe.id == ProbeState.probe_id)
        .join(Location, Location.id == ProbeState.location)
        .where(Probe.component_id == component_id, Probe.active, Location.active, ProbeState.down)
        .distinct()
    ).all()
    failing = tuple(sorted(loc for loc, sight in rows if sight == LocationSight.SEEING))
    blind = tuple(
        sorted(session.scalars(select(Location.id).where(Location.active, Location.sight == LocationSight.BLIND)))
    )
    return failing, blind


def _sight_facts(session: Session, event: OutboxEvent) -> LocationSightFacts:
    """The spell of blindness as it stands now: the blind event's facts, and its end if one was recorded."""
    events = {
        row.kind: row.payload or {}
        for row in session.scalars(
            select(OutboxEvent).where(OutboxEvent.subject == event.subject).order_by(OutboxEvent.id)
        )
    }
    blind = events.get(EventKind.LOCATION_BLIND, {})
    seeing = events.get(EventKind.LOCATION_SEEING)
    payload = event.payload or {}
    since = blind.get("since") or payload.get("blind_since") or payload.get("since")
    return LocationSightFacts(
        location=str(payload.get("location")),
        blind_since=datetime.fromisoformat(str(since)),
        error=blind.get("error"),
        control=blind.get("control"),
        seeing_since=datetime.fromisoformat(seeing["since"]) if seeing else None,
    )


def _restored_at(session: Session, subject: str) -> datetime | None:
    payload = session.scalar(
        select(OutboxEvent.payload)
        .where(OutboxEvent.subject == subject, OutboxEvent.kind == EventKind.MONITORING_RESTORED)
        .order_by(OutboxEvent.id.desc())
        .limit(1)
    )
    restored = (payload or {}).get("restored_at")
    return datetime.fromisoformat(restored) if restored else None
