"""Reminding the Slack channel of open outages nobody has acknowledged (`slack.reminders`, e.g. 15m and 60m).

Each reminder is an outbox event whose subject names the outage and the threshold
(`outage:12:reminder:900`), so running the job again, or two of them at once, sends each reminder
once. Time counts from when the outage's message was first sent, not from when the outage began:
an outage muted by maintenance is reminded of only once people have actually been told.

If several thresholds passed while nothing ran (the scheduler was down), only the latest is sent.
No reminder goes out for a component in maintenance: it is sent once the window is over, if the
outage is still open and unacknowledged.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import String, and_, cast, literal, select
from sqlalchemy.orm import Session

from monitor.outbox.store import emit
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import EventKind
from monitor.storage.models import NotifyMessage, Outage, OutageAcknowledgement, OutboxEvent
from monitor.usecases.checks import outage_subject
from monitor.usecases.maintenance import maintenance_until


def reminder_subject(outage_id: int, after: timedelta) -> str:
    return f"{outage_subject(outage_id)}:reminder:{int(after.total_seconds())}"


def remind(runtime: Runtime) -> list[int]:
    """Emit the reminders now due; returns the deliveries to hand out."""
    thresholds = runtime.config.slack.reminders
    if not thresholds:
        return []
    now = runtime.clock()
    with transaction(runtime.sessions) as session:
        return due_reminders(session, thresholds, channel=runtime.slack.name, now=now)


def due_reminders(session: Session, thresholds: tuple[timedelta, ...], *, channel: str, now: datetime) -> list[int]:
    first = min(thresholds)
    message_subject = literal("outage:", String) + cast(Outage.id, String)
    rows = session.execute(
        select(Outage.id, Outage.component_id, NotifyMessage.created_at)
        .join(
            NotifyMessage,
            and_(NotifyMessage.channel == channel, NotifyMessage.subject == message_subject),
        )
        .outerjoin(OutageAcknowledgement, OutageAcknowledgement.outage_id == Outage.id)
        .where(
            Outage.ended_at.is_(None),
            Outage.false_positive_at.is_(None),
            OutageAcknowledgement.outage_id.is_(None),
            NotifyMessage.external_id.is_not(None),
            NotifyMessage.created_at <= now - first,
        )
        .order_by(Outage.id)
        # Two runs at once: the second waits here, then sees the first's events below.
        .with_for_update(of=Outage)
    ).all()
    if not rows:
        return []
    sent: dict[int, int] = defaultdict(int)  # outage id -> the latest threshold reminded of, in seconds
    for outage_id, subject in session.execute(
        select(OutboxEvent.outage_id, OutboxEvent.subject).where(
            OutboxEvent.kind == EventKind.REMINDER, OutboxEvent.outage_id.in_([row.id for row in rows])
        )
    ):
        if outage_id is not None:
            sent[outage_id] = max(sent[outage_id], int(subject.rsplit(":", 1)[-1]))
    in_maintenance: dict[str, bool] = {}
    deliveries: list[int] = []
    for outage_id, component_id, posted_at in rows:
        passed = [after for after in thresholds if posted_at + after <= now]
        if not passed or int(max(passed).total_seconds()) <= sent[outage_id]:
            continue
        if component_id not in in_maintenance:
            in_maintenance[component_id] = maintenance_until(session, component_id, now) is not None
        if in_maintenance[component_id]:
            continue
        after = max(passed)
        deliveries += emit(
            session,
            EventKind.REMINDER,
            subject=reminder_subject(outage_id, after),
            outage_id=outage_id,
            component_id=component_id,
            payload={"after_seconds": int(after.total_seconds())},
            now=now,
        )
    return deliveries
