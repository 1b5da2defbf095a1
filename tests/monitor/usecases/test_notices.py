"""Notices to case holders, from relief to the receiver: a real SMTP server and a real webhook receiver on
loopback that fail first and recover; each notice arrives once, with the same identity on every attempt."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import func, select
from standardwebhooks import Webhook

from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import NoticeChannel, NoticeState
from monitor.storage.models import Letter, Notice
from monitor.usecases import jobs, letters, notices
from tests.conftest import free_port, make_runtime
from tests.exemptions.relief.test_engine import CONFIG, ENDED, NOON, add_outage, run

CASE_ROW = "case_id,components,deadline,time_zone,extendable,email,webhook_url,language\n"


@dataclass
class Mailbox:
    """An aiosmtpd handler: answers DATA with the queued refusals first, then accepts and keeps."""

    refusals: list[str] = field(default_factory=list)
    received: list[EmailMessage] = field(default_factory=list)
    attempted_ids: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        message = message_from_bytes(envelope.original_content or b"", policy=default_policy)
        assert isinstance(message, EmailMessage)
        self.attempted_ids.append(str(message["Message-ID"]))
        if self.refusals:
            return self.refusals.pop(0)
        self.received.append(message)
        return "250 2.0.0 accepted"


@dataclass
class Hooks:
    """A webhook receiver that verifies every request's Standard Webhooks signature before anything else."""

    secret: str = ""
    answers: list[int] = field(default_factory=list)  # statuses to answer first, then 200
    attempts: list[str] = field(default_factory=list)  # webhook-id of each verified attempt
    accepted: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    handler = Mailbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


@pytest.fixture
def hooks() -> Iterator[tuple[Hooks, str]]:
    state = Hooks()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {key.lower(): value for key, value in self.headers.items()}
            with state.lock:
                try:
                    Webhook(state.secret).verify(body, headers)
                except Exception:
                    state.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                state.attempts.append(headers["webhook-id"])
                status = state.answers.pop(0) if state.answers else 200
                if status == 200:
                    state.accepted.append(json.loads(body))
            self.send_response(status)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/hooks/portalwatch"
    server.shutdown()
    server.server_close()


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def story(
    sqlite_url: str, mailbox: tuple[Mailbox, int], hooks: tuple[Hooks, str]
) -> Iterator[tuple[Runtime, Clock, Mailbox, Hooks]]:
    box, port = mailbox
    receiver, url = hooks
    runtime = make_runtime(
        sqlite_url, CONFIG, smtp_url=f"smtp://127.0.0.1:{port}", smtp_from="notices@portalwatch.test"
    )
    receiver.secret = runtime.webhook_secret()
    clock = Clock(ENDED + timedelta(minutes=5))
    runtime.clock = clock
    outage_id = add_outage(runtime)  # 4 h 35 min: an extension and a paper-filing letter for the case
    with transaction(runtime.sessions) as session:
        from exemptions.cases import import_cases

        import_cases(
            session,
            CASE_ROW + f"A-1,pr-portal,{NOON},America/Toronto,true,marie@example.ca,{url},fr\n",
            source="cases.csv",
        )
    run(runtime, outage_id, now=clock.now)
    while letters.issue_letters(runtime):  # signed and stored; their notices queued, not yet sent
        pass
    yield runtime, clock, box, receiver
    runtime.close()


def notice_rows(runtime: Runtime) -> list[Notice]:
    with transaction(runtime.sessions) as session:
        rows = list(session.scalars(select(Notice).order_by(Notice.id)))
        session.expunge_all()
        return rows


def send_due(runtime: Runtime) -> list[str]:
    return [notices.send_notice(runtime, notice_id) for notice_id in notices.due_notices(runtime)]


def test_each_issued_letter_queues_one_notice_per_contact_with_a_stable_message_id(
    story: tuple[Runtime, Clock, Mailbox, Hooks],
) -> None:
    runtime, _, _, _ = story
    rows = notice_rows(runtime)
    with transaction(runtime.sessions) as session:
        issued = session.scalar(select(func.count()).select_from(Letter)) or 0
    assert issued == 2
    assert sorted((row.letter_id, row.channel) for row in rows) == sorted(
        (letter_id, channel) for letter_id in {row.letter_id for row in rows} for channel in NoticeChannel
    )
    assert len({row.message_id for row in rows}) == 4
    assert all(row.state is NoticeState.PENDING for row in rows)


def test_an_smtp_server_that_fails_then_recovers_receives_each_notice_once_with_the_letter_attached(
    story: tuple[Runtime, Clock, Mailbox, Hooks],
) -> None:
    runtime, clock, box, _ = story
    box.refusals = ["451 4.3.0 try again later"]

    first = send_due(runtime)
    assert "retry-later" in first
    failing = notices.notices_report(runtime)["failing"]
    assert [row["channel"] for row in failing] == ["email"]
    assert "451" in (failing[0]["last_error"] or "")

    assert send_due(runtime) == []  # backing off: nothing is due yet
    clock.now += timedelta(minutes=11)
    assert set(send_due(runtime)) == {"sent"}
    clock.now += timedelta(hours=1)
    assert send_due(runtime) == []  # sent is sent: never again

    assert len(box.received) == 2  # one per letter
    email_ids = [row.message_id for row in notice_rows(runtime) if row.channel is NoticeChannel.EMAIL]
    refused_id = box.attempted_ids[0]
    assert box.attempted_ids.count(refused_id) == 2  # the retry carried the same Message-ID
    assert all(any(mid in str(m["Message-ID"]) for mid in email_ids) for m in box.received)
    for message in box.received:
        [attachment] = list(message.iter_attachments())
        assert attachment.get_content_type() == "application/pdf"
        assert attachment.get_content().startswith(b"%PDF")
        body = message.get_body(("plain",))
        assert body is not None
        text = body.get_content()
        assert text.index("Votre") < text.index("Your")  # the holder's language first, both present
    assert notices.notices_report(runtime)["failing"] == []


def test_a_webhook_receiver_sees_the_same_webhook_id_on_a_retry_and_every_signature_verifies(
    story: tuple[Runtime, Clock, Mailbox, Hooks],
) -> None:
    runtime, clock, _, receiver = story
    receiver.answers = [503]

    send_due(runtime)
    clock.now += timedelta(minutes=11)
    send_due(runtime)
    clock.now += timedelta(hours=1)
    send_due(runtime)

    assert receiver.bad_signatures == 0
    assert len(receiver.accepted) == 2
    retried = receiver.attempts[0]
    assert receiver.attempts.count(retried) == 2
    assert len(set(receiver.attempts)) == 2
    kinds = {payload["data"]["kind"] for payload in receiver.accepted}
    assert kinds == {"extension", "paper_filing"}
    for payload in receiver.accepted:
        assert "marie@example.ca" not in json.dumps(payload)
        assert payload["data"]["letter"]["verify_url"].startswith("http://status.test/verify/")


def test_the_sweep_sends_due_notices_through_the_job_queue(story: tuple[Runtime, Clock, Mailbox, Hooks]) -> None:
    runtime, _, box, receiver = story

    jobs.sweep_outbox_job(runtime)  # inline dispatch: the notices are sent in this call

    assert len(box.received) == 2
    assert len(receiver.accepted) == 2
    assert all(row.state is NoticeState.SENT for row in notice_rows(runtime))
