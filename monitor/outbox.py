"""Consuming outage events: relief first, then Slack; each event claimed by exactly one consumer.

Events are rows written with the outage change (see recording.py). A consumer claims one with a
conditional UPDATE, so two workers, or a worker and the sweeper, never both act on it. Relief runs
before Slack and in its own transaction, so a Slack failure never holds up anyone's extension.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import CursorResult, func, or_, select, update
from sqlalchemy.orm import Session

from exemptions.models import Grant
from exemptions.relief import grant_relief
from monitor.alerts import OutageFacts, outage_message
from monitor.db import transaction
from monitor.models import Check, Component, Outage, OutageEvent
from monitor.runtime import Runtime

log = logging.getLogger(__name__)

STALE_CLAIM = timedelta(minutes=2)  # a consumer that died holding a claim is given up on after this
MAX_ATTEMPTS = 8


class Delivery(StrEnum):
    DONE = "done"
    NOT_CLAIMED = "not-claimed"  # someone else has it, or it is done, or it waits for its retry time
    RETRY_LATER = "retry-later"


def retry_delay(attempts: int) -> timedelta:
    return timedelta(seconds=min(5 * 2 ** (attempts - 1), 600))


def pending_event_ids(session: Session, *, now: datetime, limit: int = 100) -> list[int]:
    return list(
        session.scalars(
            select(OutageEvent.id)
            .where(
                OutageEvent.processed_at.is_(None),
                OutageEvent.available_at <= now,
                or_(OutageEvent.claimed_at.is_(None), OutageEvent.claimed_at < now - STALE_CLAIM),
            )
            .order_by(OutageEvent.id)
            .limit(limit)
        )
    )


def claim(session: Session, event_id: int, *, now: datetime) -> bool:
    result = session.execute(
        update(OutageEvent)
        .where(
            OutageEvent.id == event_id,
            OutageEvent.processed_at.is_(None),
            OutageEvent.available_at <= now,
            or_(OutageEvent.claimed_at.is_(None), OutageEvent.claimed_at < now - STALE_CLAIM),
        )
        .values(claimed_at=now, attempts=OutageEvent.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount == 1


def _release(runtime: Runtime, event_id: int, error: str) -> None:
    now = runtime.clock()
    with transaction(runtime.sessions) as session:
        event = session.get(OutageEvent, event_id)
        assert event is not None
        event.claimed_at = None
        event.last_error = error[:2000]
        if event.attempts >= MAX_ATTEMPTS:
            event.processed_at = now  # gives up; last_error keeps why, for the ops dashboard
            log.error("giving up on outage event %s after %s attempts: %s", event_id, event.attempts, error)
        else:
            event.available_at = now + retry_delay(event.attempts)


def deliver(runtime: Runtime, event_id: int) -> Delivery:
    with transaction(runtime.sessions) as session:
        if not claim(session, event_id, now=runtime.clock()):
            return Delivery.NOT_CLAIMED
        outage_id = session.get_one(OutageEvent, event_id).outage_id

    try:
        with transaction(runtime.sessions) as session:
            run = grant_relief(session, outage_id, now=runtime.clock())
        log.info("outage %s: %s new grant(s)", outage_id, run.granted)
    except Exception as exc:
        _release(runtime, event_id, f"relief failed: {exc!r}")
        raise

    try:
        sync_slack(runtime, outage_id)
    except Exception as exc:  # Slack down or misconfigured: detection and relief carry on regardless.
        log.warning("Slack message for outage %s failed: %s", outage_id, exc)
        _release(runtime, event_id, f"slack failed: {exc!r}")
        return Delivery.RETRY_LATER

    with transaction(runtime.sessions) as session:
        event = session.get_one(OutageEvent, event_id)
        event.processed_at = runtime.clock()
        event.last_error = None
    return Delivery.DONE


def sync_slack(runtime: Runtime, outage_id: int) -> None:
    """Make the outage's Slack message show its current state: post it once, then only update it."""
    with transaction(runtime.sessions) as session:
        # Locked for the length of the call so two events of one outage cannot both post a new message.
        outage = session.execute(select(Outage).where(Outage.id == outage_id).with_for_update()).scalar_one()
        component = session.get_one(Component, outage.component_id)
        first_check = session.get(Check, outage.first_check_id) if outage.first_check_id else None
        grants = session.scalar(select(func.count()).select_from(Grant).where(Grant.outage_id == outage_id)) or 0
        facts = OutageFacts(
            outage_id=outage.id,
            component_name=component.name,
            started_at=outage.started_at,
            ended_at=outage.ended_at,
            error=first_check.error if first_check else None,
            grants=grants,
        )
        text, blocks = outage_message(facts, time_zone=runtime.config.page.time_zone, page_url=runtime.config.page.url)
        where = runtime.slack.publish(text, blocks, channel=outage.slack_channel, ts=outage.slack_ts)
        if where is not None:
            outage.slack_channel, outage.slack_ts = where
