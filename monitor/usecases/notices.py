"""Sending notices to case holders: claim one, send it with no transaction open, then finish or back off.

A notice row is written in the transaction that issues its letter (see usecases.letters). Each is
claimed by a conditional UPDATE, so two workers never send it at once; its `message_id` is the same
on every attempt (email Message-ID, webhook-id), so a receiver that saw an attempt whose answer was
lost can drop the repeat. Failures are retried with the outbox's capped backoff for as long as the
notice is pending; an address the receiving server refuses for good is tried only at the longest
interval and shown to ops with its last error.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, and_, func, select, update
from sqlalchemy.orm import Session, undefer

from exemptions.letters import display
from monitor.notify.channel import SendError
from monitor.notify.email import EmailChannel
from monitor.notify.notice_text import NoticeContent, subject, text_body, webhook_payload
from monitor.notify.webhook import WebhookChannel
from monitor.outbox.backoff import MAX_DELAY, retry_delay
from monitor.outbox.claims import due, unheld
from monitor.runtime import Runtime
from monitor.storage.engine import transaction, utcnow
from monitor.storage.enums import LetterKind, NoticeChannel, NoticeState
from monitor.storage.models import Case, Component, Letter, Notice
from monitor.timefmt import iso
from monitor.usecases.letters import pdf_url, verify_url

STALE_CLAIM = timedelta(minutes=2)  # a send is bounded by NOTICE_TIMEOUT (at most 2 minutes)

EVENT_TYPES = {
    LetterKind.EXTENSION: "case.relief.final",
    LetterKind.PAPER_FILING: "case.paper_filing.authorised",
    LetterKind.ATTESTATION: "case.outage.attested",
}


def _due(now: datetime) -> Any:
    return and_(
        Notice.state == NoticeState.PENDING,
        due(Notice.available_at, now, MAX_DELAY),
        unheld(Notice.claimed_at, now, STALE_CLAIM),
    )


def due_notices(runtime: Runtime, *, limit: int = 200) -> list[int]:
    with transaction(runtime.sessions) as session:
        return list(session.scalars(select(Notice.id).where(_due(runtime.clock())).order_by(Notice.id).limit(limit)))


def send_notice(runtime: Runtime, notice_id: int) -> str:
    """Send one notice if it is due and nobody holds it; returns what happened."""
    now = runtime.clock()
    token = secrets.token_hex(16)
    with transaction(runtime.sessions) as session:
        claimed = session.execute(
            update(Notice)
            .where(Notice.id == notice_id, _due(now))
            .values(claimed_at=now, claim_token=token, attempts=Notice.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        if cast(CursorResult[Any], claimed).rowcount != 1:
            return "not-claimed"
        notice = session.get_one(Notice, notice_id)
        letter = session.scalars(select(Letter).where(Letter.id == notice.letter_id).options(undefer(Letter.pdf))).one()
        case = session.get(Case, notice.case_id) if notice.case_id else None
        component = session.get(Component, letter.component_id) if letter.component_id else None
        content = _content(runtime, notice, letter, case, component)
        channel, destination, message_id, attempts = (
            notice.channel,
            notice.destination,
            notice.message_id,
            notice.attempts,
        )
        pdf, issued_at = letter.pdf or b"", letter.issued_at or now
    try:
        if channel is NoticeChannel.EMAIL:
            _email(runtime).send(
                destination,
                subject(content),
                text_body(content),
                message_id=message_id,
                attachment=(f"letter-{content.letter_code}.pdf", pdf, "application/pdf"),
            )
        else:
            WebhookChannel(runtime.webhook_secret(), timeout=runtime.settings.notice_timeout).send(
                destination,
                message_id=message_id,
                payload=webhook_payload(content, event_type=EVENT_TYPES[letter.kind], issued_at=issued_at),
                # When this attempt is made, by the wall clock: receivers refuse signatures more than minutes old.
                timestamp=utcnow(),
            )
    except SendError as exc:
        _release(runtime, notice_id, token, attempts, str(exc), permanent=exc.permanent)
        return "retry-later"
    except Exception as exc:  # anything else is retried too: a notice is never dropped
        _release(runtime, notice_id, token, attempts, f"{type(exc).__name__}: {exc}", permanent=False)
        return "retry-later"
    with transaction(runtime.sessions) as session:
        session.execute(
            update(Notice)
            .where(Notice.id == notice_id, Notice.claim_token == token)
            .values(state=NoticeState.SENT, sent_at=runtime.clock(), claimed_at=None, claim_token=None, last_error=None)
            .execution_options(synchronize_session=False)
        )
    return "sent"


class _NotConfigured(SendError):
    pass


def _email(runtime: Runtime) -> EmailChannel:
    if runtime.settings.smtp_url is None:
        raise _NotConfigured("SMTP_URL is not set: email notices wait until it is", permanent=True)
    return EmailChannel(
        runtime.settings.smtp_url.get_secret_value(),
        sender=runtime.settings.smtp_from,
        timeout=runtime.settings.notice_timeout,
    )


def _release(runtime: Runtime, notice_id: int, token: str, attempts: int, error: str, *, permanent: bool) -> None:
    now = runtime.clock()
    with transaction(runtime.sessions) as session:
        session.execute(
            update(Notice)
            .where(Notice.id == notice_id, Notice.claim_token == token)
            .values(
                claimed_at=None,
                claim_token=None,
                last_error=error[:2000],
                permanent_failure=permanent,
                available_at=now + retry_delay(attempts, permanent=permanent),
            )
            .execution_options(synchronize_session=False)
        )


def _content(
    runtime: Runtime, notice: Notice, letter: Letter, case: Case | None, component: Component | None
) -> NoticeContent:
    if letter.code is None:
        raise ValueError(f"letter {letter.id} has no code: it has not been issued")
    page = runtime.config.page
    return NoticeContent(
        language=(notice.language.value if notice.language else "en"),
        case_id=letter.case_id or "",
        kind=letter.kind.value,
        effective_deadline=letter.new_deadline,
        original_deadline=letter.original_deadline,
        time_zone=case.time_zone if case is not None else letter.time_zone,
        letter_code=letter.code,
        letter_display_code=display(letter.code),
        pdf_url=pdf_url(page, letter.code),
        verify_url=verify_url(page, letter.code),
        component_name=component.name if component is not None else (letter.component_id or ""),
        paper_period_start=letter.paper_from,
        paper_period_end=letter.paper_until,
        issuer_name=page.name,
    )


def case_notices(session: Session, case_id: str) -> list[dict[str, Any]]:
    """A case's notices as ops see them: channel, state, attempts and the last error (not the address)."""
    rows = session.scalars(select(Notice).where(Notice.case_id == case_id).order_by(Notice.id))
    return [
        {
            "notice_id": row.id,
            "letter_id": row.letter_id,
            "channel": row.channel.value,
            "message_id": row.message_id,
            "state": row.state.value,
            "attempts": row.attempts,
            "last_error": row.last_error,
            "sent_at": iso(row.sent_at),
        }
        for row in rows
    ]


def notices_report(runtime: Runtime) -> dict[str, Any]:
    """Ops: notices owed and sent, and each one that keeps failing with its last error."""
    with transaction(runtime.sessions) as session:
        counts = {
            state: count for state, count in session.execute(select(Notice.state, func.count()).group_by(Notice.state))
        }
        failing = session.scalars(
            select(Notice)
            .where(Notice.state == NoticeState.PENDING, Notice.attempts > 0)
            .order_by(Notice.created_at)
            .limit(50)
        ).all()
        return {
            "pending": int(counts.get(NoticeState.PENDING, 0)),
            "sent": int(counts.get(NoticeState.SENT, 0)),
            "failing": [
                {
                    "notice_id": row.id,
                    "case_id": row.case_id,
                    "channel": row.channel.value,
                    "message_id": row.message_id,
                    "attempts": row.attempts,
                    "permanent": row.permanent_failure,
                    "last_error": row.last_error,
                    "next_attempt_at": iso(row.available_at),
                }
                for row in failing
            ],
        }
