"""The Slack consumer: make the subject's one message show its current state, never holding a transaction
across the network call, and never posting twice when an answer was lost.

An outage's message is rendered anew for each of its events (opened, severity, acknowledged,
resolved…) and updated in place. Updates and reminders are replies in that message's thread, each
a subject of its own (`outage:12:update:5`), so they are posted once each and never supersede the
message; a reply whose message is not posted yet waits for it (a passing error, retried).

Maintenance mutes alerts: an outage of a component inside a maintenance window is not posted while
the window lasts. Its delivery waits until the window ends and then posts if the outage is still
open (on-call must hear of it); an outage that began and ended inside maintenance is never posted.
Once a message is out, it is kept current whatever maintenance starts.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.notify.channel import Channel, Message, MessageRef, SendError
from monitor.notify.slack.render import (
    FailingDeliveryFacts,
    LocationSightFacts,
    MonitoringFacts,
    OutageFacts,
    ReminderFacts,
    UpdateFacts,
    failing_delivery_message,
    location_message,
    monitoring_message,
    outage_message,
    reminder_reply,
    update_reply,
)
from monitor.outbox.store import Deferred, Skipped, latest_event_id, supersede
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
    OutageAcknowledgement,
    OutageChange,
    OutageUpdate,
    OutboxEvent,
    Probe,
    ProbeState,
)
from monitor.timefmt import iso
from monitor.usecases.checks import outage_subject
from monitor.usecases.maintenance import maintenance_until

log = logging.getLogger(__name__)

# The events an outage's one message shows the current state for, whichever of them is delivered.
OUTAGE_KINDS = frozenset(
    {
        EventKind.OUTAGE_OPENED,
        EventKind.OUTAGE_RESOLVED,
        EventKind.OUTAGE_DECLARED,
        EventKind.OUTAGE_REOPENED,
        EventKind.SEVERITY_CHANGED,
        EventKind.OUTAGE_ACKNOWLEDGED,
        EventKind.OUTAGE_CORRECTED,  # new bounds or severity, or a false positive
    }
)
# Events posted as replies in the thread of their outage's message.
REPLY_KINDS = frozenset({EventKind.UPDATE_POSTED, EventKind.REMINDER})


def notify_slack(runtime: Runtime, event_id: int) -> Skipped | None:
    channel: Channel = runtime.slack
    with transaction(runtime.sessions) as session:
        event = session.get_one(OutboxEvent, event_id)
        subject = event.subject
        # Everything up to this event id is shown by what we render now; older deliveries are covered.
        covered = latest_event_id(session, subject)
    try:
        with transaction(runtime.sessions) as session:
            event = session.get_one(OutboxEvent, event_id)
            thread = _thread_of(session, channel, event, now=runtime.clock())
            message = _render(runtime, session, event)
    except Muted as muted:
        log.info("Slack: nothing sent for %s: %s", subject, muted)
        with transaction(runtime.sessions) as session:
            # What muted this event mutes the subject's older ones too (an outage wholly inside maintenance).
            supersede(session, Consumer.SLACK, subject, up_to_event_id=covered, now=runtime.clock())
        return Skipped(str(muted))
    if not channel.configured:
        log.info("Slack is not configured (SLACK_BOT_TOKEN, SLACK_CHANNEL); not sent: %s", message.text)
        return None
    ref = _send(runtime, channel, subject, message, thread=thread)
    with transaction(runtime.sessions) as session:
        row = session.scalars(
            select(NotifyMessage).where(NotifyMessage.channel == channel.name, NotifyMessage.subject == subject)
        ).one()
        row.destination, row.external_id = ref.destination, ref.external_id
        supersede(session, Consumer.SLACK, subject, up_to_event_id=covered, now=runtime.clock())
    return None


def _thread_of(session: Session, channel: Channel, event: OutboxEvent, *, now: datetime) -> MessageRef | None:
    """For a reply, the outage's message it goes under. Raises Deferred or Muted when maintenance mutes the
    outage, Muted for a reminder that is no longer due, SendError while the message it replies to is not out."""
    if event.outage_id is None or event.kind not in OUTAGE_KINDS | REPLY_KINDS:
        return None
    outage = session.get_one(Outage, event.outage_id)
    parent = _message_row(session, channel.name, outage_subject(outage.id))
    if parent is None or parent.attempted_at is None:
        _mute(session, outage, now)  # nothing about this outage has been sent yet: maintenance may mute it
    if event.kind not in REPLY_KINDS:
        return None
    if event.kind == EventKind.REMINDER:
        _still_due(session, outage, now)
    if parent is None or not (parent.destination and parent.external_id):
        if channel.configured:
            raise SendError("its outage's message is not posted yet; the reply waits for it", permanent=False)
        return None
    return MessageRef(parent.destination, parent.external_id)


def _message_row(session: Session, channel: str, subject: str) -> NotifyMessage | None:
    return session.scalars(
        select(NotifyMessage).where(NotifyMessage.channel == channel, NotifyMessage.subject == subject)
    ).one_or_none()


def _mute(session: Session, outage: Outage, now: datetime) -> None:
    """Raise Deferred (or Muted) if the outage is not to be posted now because of maintenance."""
    if outage.ended_at is None:
        until = maintenance_until(session, outage.component_id, now)
        if until is not None:
            raise Deferred(f"muted: {outage.component_id} is in maintenance until {iso(until)}", until=until)
        return
    until = maintenance_until(session, outage.component_id, outage.started_at)
    if until is not None and outage.ended_at <= until:
        raise Muted(f"muted: the outage began and ended inside maintenance of {outage.component_id}")


def _still_due(session: Session, outage: Outage, now: datetime) -> None:
    """A reminder goes out only while the outage is open, unacknowledged and outside maintenance."""
    if outage.ended_at is not None or outage.false_positive_at is not None:
        raise Muted("not sent: the outage ended before the reminder went out")
    if session.get(OutageAcknowledgement, outage.id) is not None:
        raise Muted("not sent: the outage was acknowledged before the reminder went out")
    until = maintenance_until(session, outage.component_id, now)
    if until is not None:
        raise Deferred(f"muted: {outage.component_id} is in maintenance until {iso(until)}", until=until)


class Muted(Exception):
    """Nothing is to be sent for this event, ever; the reason is kept with the delivery."""


def _send(
    runtime: Runtime, channel: Channel, subject: str, message: Message, *, thread: MessageRef | None = None
) -> MessageRef:
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
            ref = channel.find(marker, since=earlier_attempt, thread=thread)
        except SendError as exc:
            if not exc.permanent:
                raise
            # The channel cannot be searched (e.g. no history scope): posting again is the only way forward.
            log.warning("cannot look for an earlier post of %s (%s); posting again", subject, exc)
        if ref is not None:
            log.info("found the earlier post of %s whose answer was lost; updating it", subject)
    if ref is not None:
        return channel.update(ref, message)
    return channel.post(message, marker=marker, thread=thread)


def _render(runtime: Runtime, session: Session, event: OutboxEvent) -> Message:
    page = runtime.config.page
    # One message per outage, showing its current state, whichever of its events is being delivered.
    if event.kind in OUTAGE_KINDS and event.outage_id is not None:
        return outage_message(_outage_facts(session, event.outage_id), time_zone=page.time_zone, page_url=page.url)
    payload = event.payload or {}
    if event.kind == EventKind.UPDATE_POSTED and event.outage_id is not None:
        update = session.get_one(OutageUpdate, payload.get("update_id"))
        update_facts = UpdateFacts(
            outage_id=event.outage_id,
            component_name=_component_name(session, event.outage_id),
            author=update.author,
            body=update.body,
            public=update.public,
            posted_at=update.created_at,
        )
        return update_reply(update_facts, time_zone=page.time_zone)
    if event.kind == EventKind.REMINDER and event.outage_id is not None:
        outage = session.get_one(Outage, event.outage_id)
        reminder = ReminderFacts(
            outage_id=outage.id,
            component_name=_component_name(session, outage.id),
            started_at=outage.started_at,
            after=timedelta(seconds=int(payload.get("after_seconds", 0))),
        )
        return reminder_reply(reminder, time_zone=page.time_zone)
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


def _component_name(session: Session, outage_id: int) -> str:
    return session.scalars(
        select(Component.name).join(Outage, Outage.component_id == Component.id).where(Outage.id == outage_id)
    ).one()


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
    acknowledged = session.get(OutageAcknowledgement, outage_id)
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
        first_check_id=outage.first_check_id,
        acknowledged_by=acknowledged.acknowledged_by if acknowledged else None,
        acknowledged_at=acknowledged.acknowledged_at if acknowledged else None,
        false_positive=outage.false_positive_at is not None,
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
