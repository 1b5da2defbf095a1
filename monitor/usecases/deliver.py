"""Delivering outbox events: claim one consumer's delivery, act, then finish or release it with backoff.

No transaction is open while a consumer acts: the claim is committed first, the consumer opens its
own short transactions around (never across) any network call, and the outcome is committed after.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from monitor.notify.channel import SendError
from monitor.outbox.store import (
    Claim,
    Deferred,
    Skipped,
    backlog,
    claim,
    complete,
    defer,
    due_deliveries,
    emit,
    failing_deliveries,
    release,
)
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import Consumer, EventKind
from monitor.timefmt import iso
from monitor.usecases.notify import notify_slack
from monitor.usecases.relief import relieve_event

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    DONE = "done"
    NOT_CLAIMED = "not-claimed"  # someone else has it, or it is done, or it waits for its retry time
    RETRY_LATER = "retry-later"
    DEFERRED = "deferred"  # the consumer chose to wait (a muted alert): no attempt counted


@dataclass(frozen=True)
class Delivered:
    outcome: Outcome
    result: object = None  # what the consumer returned (relief: the number of new grants)


HANDLERS: dict[Consumer, Callable[[Runtime, int], object]] = {
    Consumer.RELIEF: relieve_event,
    Consumer.SLACK: notify_slack,
}


def deliver(runtime: Runtime, delivery_id: int) -> Delivered:
    with transaction(runtime.sessions) as session:
        held = claim(session, delivery_id, now=runtime.clock())
    if held is None:
        return Delivered(Outcome.NOT_CLAIMED)
    try:
        result = HANDLERS[held.consumer](runtime, held.event_id)
    except Deferred as exc:
        log.info("%s for %s waits until %s: %s", held.consumer, held.subject, exc.until.isoformat(), exc.reason)
        with transaction(runtime.sessions) as session:
            defer(session, held, now=runtime.clock(), until=exc.until, reason=exc.reason)
        return Delivered(Outcome.DEFERRED)
    except SendError as exc:
        log.warning(
            "%s for %s failed (%s): %s",
            held.consumer,
            held.subject,
            "permanent" if exc.permanent else "will retry",
            exc,
        )
        wait = timedelta(seconds=exc.retry_after) if exc.retry_after is not None else None
        _release(runtime, held, str(exc), permanent=exc.permanent, at_least=wait)
        return Delivered(Outcome.RETRY_LATER)
    except Exception as exc:  # any failure of a consumer is retried; the delivery is never dropped
        log.exception("%s for %s failed; will retry", held.consumer, held.subject)
        _release(runtime, held, f"{type(exc).__name__}: {exc}", permanent=False)
        return Delivered(Outcome.RETRY_LATER)
    note = result.note if isinstance(result, Skipped) else None
    with transaction(runtime.sessions) as session:
        complete(session, held, now=runtime.clock(), note=note)
    return Delivered(Outcome.DONE, result)


def _release(runtime: Runtime, held: Claim, error: str, *, permanent: bool, at_least: timedelta | None = None) -> None:
    now = runtime.clock()
    with transaction(runtime.sessions) as session:
        alert = release(session, held, now=now, error=error, permanent=permanent, at_least=at_least)
        if alert and held.consumer != Consumer.SLACK:
            # Written with the release: ops hear that relief is stuck, through a consumer of its own.
            log.error("%s for %s has failed %s times: %s", held.consumer, held.subject, held.attempts, error)
            emit(
                session,
                EventKind.DELIVERY_FAILING,
                subject=f"delivery:{held.delivery_id}",
                payload={
                    "delivery_id": held.delivery_id,
                    "consumer": held.consumer.value,
                    "subject": held.subject,
                    "attempts": held.attempts,
                    "error": error[:500],
                },
                now=now,
            )
        elif alert:
            # Slack itself failing cannot be told through Slack; the log and GET /api/ops/outbox show it.
            log.error("Slack delivery for %s has failed %s times: %s", held.subject, held.attempts, error)


def pending_deliveries(runtime: Runtime) -> list[int]:
    with transaction(runtime.sessions) as session:
        return due_deliveries(session, now=runtime.clock())


def backlog_report(runtime: Runtime) -> dict[str, Any]:
    """What the outbox still owes, per consumer, and each delivery that keeps failing (ops API and CLI)."""
    with transaction(runtime.sessions) as session:
        return {
            "consumers": [
                {
                    "consumer": b.consumer.value,
                    "pending": b.pending,
                    "failing": b.failing,
                    "oldest_pending_at": iso(b.oldest_pending_at),
                    "next_attempt_at": iso(b.next_attempt_at),
                }
                for b in backlog(session)
            ],
            "failing": [
                {
                    "delivery_id": d.id,
                    "event_id": d.event_id,
                    "consumer": d.consumer.value,
                    "subject": d.subject,
                    "attempts": d.attempts,
                    "last_error": d.last_error,
                    "next_attempt_at": iso(d.available_at),
                    "created_at": iso(d.created_at),
                }
                for d in failing_deliveries(session)
            ],
        }
