"""The outbox: events written with the change they describe, and one delivery per consumer.

A status change (an outage opened, cases imported, monitoring lost) is an `OutboxEvent` row written
in the same transaction as the change, with a `Delivery` row for each consumer that acts on it
(relief, Slack, …). Each delivery has its own claim, attempts and backoff, so Slack being down
never spends relief's retries, and relief is never marked done unfinished: deliveries are retried
with capped backoff for as long as they stay pending.

A consumer claims a delivery with a conditional UPDATE, so two workers, or a worker and the
sweeper, never both act on it. Claims that keep one message per subject (Slack) are also exclusive
per (consumer, subject): two events of one outage never post two messages at once.

Times come from the caller's clock. If the wall clock steps back, a retry time or claim that now
lies further in the future than any backoff could put it is treated as due or stale, so a clock
correction never parks the outbox for an hour.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, and_, func, select, update
from sqlalchemy.orm import Session

from monitor.outbox.backoff import ALERT_AFTER_ATTEMPTS, MAX_DELAY, STALE_CLAIM, retry_delay
from monitor.outbox.claims import due, unheld
from monitor.storage.enums import CONSUMERS, Consumer, DeliveryState, EventKind
from monitor.storage.models import Delivery, OutboxEvent

# Consumers that keep one external message per subject: one claim per (consumer, subject) at a time.
EXCLUSIVE_PER_SUBJECT = frozenset({Consumer.SLACK})


class Deferred(Exception):
    """A consumer's answer: not now, look again at `until` (e.g. an alert muted by a maintenance window)."""

    def __init__(self, reason: str, *, until: datetime) -> None:
        super().__init__(reason)
        self.reason = reason
        self.until = until


@dataclass(frozen=True)
class Skipped:
    """A consumer's answer: done, deliberately without acting; `note` says why (kept with the delivery)."""

    note: str


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    token: str
    consumer: Consumer
    event_id: int
    subject: str
    attempts: int


def emit(
    session: Session,
    kind: EventKind,
    *,
    subject: str,
    now: datetime,
    outage_id: int | None = None,
    component_id: str | None = None,
    payload: dict[str, Any] | None = None,
) -> list[int]:
    """Write an event and its deliveries inside the caller's transaction; returns the delivery ids."""
    event = OutboxEvent(
        kind=kind,
        subject=subject,
        outage_id=outage_id,
        component_id=component_id,
        payload=payload,
        created_at=now,
    )
    session.add(event)
    session.flush()
    deliveries = [
        Delivery(
            event_id=event.id,
            consumer=consumer,
            subject=subject,
            state=DeliveryState.PENDING,
            attempts=0,
            available_at=now,
            created_at=now,
        )
        for consumer in CONSUMERS[kind]
    ]
    session.add_all(deliveries)
    session.flush()
    return [d.id for d in deliveries]


def _due(now: datetime) -> ColumnElement[bool]:
    return and_(
        Delivery.state == DeliveryState.PENDING,
        # A retry time further ahead than any backoff means the clock stepped back: due now.
        due(Delivery.available_at, now, MAX_DELAY),
        _claimable(now),
    )


def _claimable(now: datetime) -> ColumnElement[bool]:
    return unheld(Delivery.claimed_at, now, STALE_CLAIM)


def due_deliveries(session: Session, *, now: datetime, limit: int = 100) -> list[int]:
    return list(session.scalars(select(Delivery.id).where(_due(now)).order_by(Delivery.id).limit(limit)))


def claim(session: Session, delivery_id: int, *, now: datetime) -> Claim | None:
    """Take the delivery if it is due and nobody holds it; None otherwise. Commit before acting on it."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        return None
    conditions = [Delivery.id == delivery_id, _due(now)]
    if delivery.consumer in EXCLUSIVE_PER_SUBJECT:
        # Lock every delivery of the subject first: a concurrent claimer of a sibling waits here, and
        # then sees this claim when it checks that no sibling is held.
        session.execute(
            select(Delivery.id)
            .where(Delivery.consumer == delivery.consumer, Delivery.subject == delivery.subject)
            .with_for_update()
        ).all()
        sibling = select(Delivery.id).where(
            Delivery.consumer == delivery.consumer,
            Delivery.subject == delivery.subject,
            Delivery.id != delivery_id,
            Delivery.state == DeliveryState.PENDING,
            Delivery.claimed_at.is_not(None),
            ~_claimable(now),
        )
        conditions.append(~sibling.exists())
    token = secrets.token_hex(16)
    result = session.execute(
        update(Delivery)
        .where(*conditions)
        .values(claimed_at=now, claim_token=token, attempts=Delivery.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], result).rowcount != 1:
        return None
    return Claim(
        delivery_id=delivery_id,
        token=token,
        consumer=delivery.consumer,
        event_id=delivery.event_id,
        subject=delivery.subject,
        attempts=delivery.attempts + 1,
    )


def complete(session: Session, held: Claim, *, now: datetime, note: str | None = None) -> bool:
    """Mark the delivery done, if the claim is still ours (a stale claim may have been taken over).

    `note` says why it was done without acting (a muted alert, say); it is kept in last_error.
    """
    result = session.execute(
        update(Delivery)
        .where(Delivery.id == held.delivery_id, Delivery.claim_token == held.token)
        .values(state=DeliveryState.DONE, done_at=now, claimed_at=None, claim_token=None, last_error=note)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount == 1


def release(
    session: Session,
    held: Claim,
    *,
    now: datetime,
    error: str,
    permanent: bool = False,
    at_least: timedelta | None = None,
) -> bool:
    """Give the claim back after a failure; the delivery is tried again after its backoff, never dropped.

    `at_least` is a wait the other side asked for (a rate limit's Retry-After): the retry comes no
    sooner, up to the backoff's cap.

    Returns True the first time the delivery has failed often enough (or permanently) that ops
    should be alerted; the caller writes that alert as an event of its own.
    """
    delay = retry_delay(held.attempts, permanent=permanent)
    if at_least is not None:
        delay = min(max(delay, at_least), MAX_DELAY)
    result = session.execute(
        update(Delivery)
        .where(Delivery.id == held.delivery_id, Delivery.claim_token == held.token)
        .values(
            claimed_at=None,
            claim_token=None,
            last_error=error[:2000],
            available_at=now + delay,
        )
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], result).rowcount != 1:
        return False
    if not (permanent or held.attempts >= ALERT_AFTER_ATTEMPTS):
        return False
    first_alert = session.execute(
        update(Delivery)
        .where(Delivery.id == held.delivery_id, Delivery.alerted_at.is_(None))
        .values(alerted_at=now)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], first_alert).rowcount == 1


def defer(session: Session, held: Claim, *, now: datetime, until: datetime, reason: str) -> bool:
    """Give the claim back without counting an attempt: the consumer chose to wait (a muted alert).

    It is looked at again at `until`, or after the backoff's cap if that is sooner (a retry time
    further ahead would read as a clock that stepped back), and decides again then.
    """
    result = session.execute(
        update(Delivery)
        .where(Delivery.id == held.delivery_id, Delivery.claim_token == held.token)
        .values(
            claimed_at=None,
            claim_token=None,
            attempts=Delivery.attempts - 1,
            last_error=reason[:2000],
            available_at=min(until, now + MAX_DELAY),
        )
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount == 1


def supersede(session: Session, consumer: Consumer, subject: str, *, up_to_event_id: int, now: datetime) -> int:
    """Pending deliveries of older events about the same subject: the message now shows newer state."""
    result = session.execute(
        update(Delivery)
        .where(
            Delivery.consumer == consumer,
            Delivery.subject == subject,
            Delivery.event_id <= up_to_event_id,
            Delivery.state == DeliveryState.PENDING,
            Delivery.claimed_at.is_(None),
        )
        .values(state=DeliveryState.SUPERSEDED, done_at=now)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount or 0


def latest_event_id(session: Session, subject: str) -> int:
    return session.scalar(select(func.max(OutboxEvent.id)).where(OutboxEvent.subject == subject)) or 0


@dataclass(frozen=True)
class Backlog:
    consumer: Consumer
    pending: int
    failing: int  # pending deliveries that have failed at least once
    oldest_pending_at: datetime | None
    next_attempt_at: datetime | None


def backlog(session: Session) -> list[Backlog]:
    rows = session.execute(
        select(
            Delivery.consumer,
            func.count(),
            func.count().filter(Delivery.attempts > 0),
            func.min(Delivery.created_at),
            func.min(Delivery.available_at),
        )
        .where(Delivery.state == DeliveryState.PENDING)
        .group_by(Delivery.consumer)
    ).all()
    found = {Consumer(row[0]): row for row in rows}
    return [
        Backlog(
            consumer=consumer,
            pending=found[consumer][1] if consumer in found else 0,
            failing=found[consumer][2] if consumer in found else 0,
            oldest_pending_at=found[consumer][3] if consumer in found else None,
            next_attempt_at=found[consumer][4] if consumer in found else None,
        )
        for consumer in Consumer
    ]


def failing_deliveries(session: Session, *, limit: int = 50) -> Sequence[Delivery]:
    return session.scalars(
        select(Delivery)
        .where(Delivery.state == DeliveryState.PENDING, Delivery.attempts > 0)
        .order_by(Delivery.created_at)
        .limit(limit)
    ).all()
