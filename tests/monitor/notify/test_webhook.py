"""Webhooks to a case's endpoint, received by a real HTTP server that verifies every signature as a Standard
Webhooks consumer would: the same webhook-id on every retry, failures classed, the secret never shown."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from monitor.notify.channel import SendError
from monitor.notify.webhook import WebhookChannel, new_secret

SECRET = "whsec_" + base64.b64encode(b"portalwatch-test-signing-key-32b").decode()
PAYLOAD: dict[str, Any] = {
    "type": "case.relief.final",
    "timestamp": "2026-11-25T15:30:00Z",
    "data": {"case_id": "IMM-2026-00042", "kind": "extension", "component": "Portail de résidence permanente"},
}


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    payload: Any


@dataclass
class Receiver:
    """A webhook endpoint: verifies each request with its secret, records it, answers as scripted (then 200)."""

    url: str
    secret: str
    answers: list[Answer] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self) -> list[Request]:
        with self.lock:
            return list(self.requests)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            stand_in = state["receiver"]
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {key.lower(): value for key, value in self.headers.items()}
            try:
                payload = Webhook(stand_in.secret).verify(body, headers)
                verified = True
            except WebhookVerificationError:
                payload, verified = None, False
            with stand_in.lock:
                stand_in.requests.append(Request(self.path, headers, body, verified, payload))
                answer = stand_in.answers.pop(0) if stand_in.answers else Answer()
            if not verified:
                answer = Answer(401, b"signature mismatch")
            if answer.delay:
                time.sleep(answer.delay)
            try:
                self.send_response(answer.status)
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
            except OSError:
                pass  # the sender gave up waiting: that is what a delayed answer tests

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state["receiver"] = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hooks/portalwatch", secret=SECRET)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state["receiver"]
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def now() -> datetime:
    return datetime.now(UTC)


def test_a_notice_is_posted_as_compact_signed_json(receiver: Receiver) -> None:
    WebhookChannel(SECRET, timeout=5).send(receiver.url, message_id="msg_notice_42", payload=PAYLOAD, timestamp=now())

    [request] = receiver.received()
    assert request.verified
    assert request.payload == PAYLOAD
    assert request.body == json.dumps(PAYLOAD, separators=(",", ":")).encode()
    assert request.body.isascii()  # accents escaped: the bytes signed are the bytes sent, whatever the charset
    assert request.headers["webhook-id"] == "msg_notice_42"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "PortalWatch"
    assert request.headers["webhook-signature"].startswith("v1,")


def test_a_503_passes_and_the_retry_carries_the_same_webhook_id_with_a_fresh_valid_signature(
    receiver: Receiver,
) -> None:
    receiver.answers = [Answer(503, b"upstream unavailable")]
    channel = WebhookChannel(SECRET, timeout=5)

    with pytest.raises(SendError) as raised:
        channel.send(receiver.url, message_id="msg_notice_43", payload=PAYLOAD, timestamp=now() - timedelta(seconds=30))
    assert raised.value.permanent is False
    assert "answered 503" in str(raised.value)
    assert "upstream unavailable" in str(raised.value)

    channel.send(receiver.url, message_id="msg_notice_43", payload=PAYLOAD, timestamp=now())

    first, retry = receiver.received()
    assert first.headers["webhook-id"] == retry.headers["webhook-id"] == "msg_notice_43"
    assert first.verified and retry.verified
    assert first.headers["webhook-timestamp"] != retry.headers["webhook-timestamp"]
    assert first.body == retry.body


@pytest.mark.parametrize(
    ("status", "permanent"),
    [
        (400, True),
        (401, True),
        (403, True),
        (404, True),
        (410, True),
        (413, True),
        (422, True),
        (408, False),
        (409, False),
        (425, False),
        (429, False),
        (500, False),
        (502, False),
        (503, False),
        (504, False),
    ],
)
def test_answers_are_classed_as_permanent_or_passing(receiver: Receiver, status: int, permanent: bool) -> None:
    receiver.answers = [Answer(status, b'{"error": "no"}')]
    with pytest.raises(SendError) as raised:
        WebhookChannel(SECRET, timeout=5).send(receiver.url, message_id="msg_1", payload=PAYLOAD, timestamp=now())
    assert raised.value.permanent is permanent
    assert f"answered {status}" in str(raised.value)


def test_a_receiver_with_another_secret_refuses_the_signature(receiver: Receiver) -> None:
    receiver.secret = new_secret()
    with pytest.raises(SendError) as raised:
        WebhookChannel(SECRET, timeout=5).send(receiver.url, message_id="msg_2", payload=PAYLOAD, timestamp=now())
    assert raised.value.permanent is True
    assert "401" in str(raised.value)
    [request] = receiver.received()
    assert request.verified is False
    # And the signature is over the body: the same headers with one byte changed do not verify either.
    tampered = request.body.replace(b"IMM-2026-00042", b"IMM-2026-00043")
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(tampered, request.headers)
    assert Webhook(SECRET).verify(request.body, request.headers) == PAYLOAD


def test_a_timestamp_in_another_zone_is_signed_as_the_same_instant(receiver: Receiver) -> None:
    toronto = datetime.now(ZoneInfo("America/Toronto"))
    WebhookChannel(SECRET, timeout=5).send(receiver.url, message_id="msg_3", payload=PAYLOAD, timestamp=toronto)
    [request] = receiver.received()
    assert request.verified
    assert int(request.headers["webhook-timestamp"]) == int(toronto.timestamp())


def test_a_receiver_that_hangs_is_a_passing_error_once_the_timeout_is_up(receiver: Receiver) -> None:
    receiver.answers = [Answer(200, delay=3)]
    started = time.monotonic()
    with pytest.raises(SendError) as raised:
        WebhookChannel(SECRET, timeout=0.5).send(receiver.url, message_id="msg_4", payload=PAYLOAD, timestamp=now())
    assert time.monotonic() - started < 2
    assert raised.value.permanent is False
    assert "did not answer within 0.5 s" in str(raised.value)


def test_redirects_are_not_followed(receiver: Receiver) -> None:
    receiver.answers = [Answer(307, headers={"Location": "/hooks/elsewhere"})]
    with pytest.raises(SendError) as raised:
        WebhookChannel(SECRET, timeout=5).send(receiver.url, message_id="msg_5", payload=PAYLOAD, timestamp=now())
    assert raised.value.permanent is True
    assert "redirects are not followed" in str(raised.value)
    assert [request.path for request in receiver.received()] == ["/hooks/portalwatch"]


def test_nothing_listening_is_a_passing_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SendError) as raised:
        WebhookChannel(SECRET, timeout=2).send(
            f"http://127.0.0.1:{port}/hook", message_id="msg_6", payload=PAYLOAD, timestamp=now()
        )
    assert raised.value.permanent is False
    assert "Connection refused" in str(raised.value)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/hook",
        "file:///etc/passwd",
        "http://",
        "/hooks/relative",
        "http://127.0.0.1:port/",
        "http://a b/",
    ],
)
def test_an_invalid_or_non_http_url_is_permanent(url: str) -> None:
    with pytest.raises(SendError) as raised:
        WebhookChannel(SECRET, timeout=2).send(url, message_id="msg_7", payload=PAYLOAD, timestamp=now())
    assert raised.value.permanent is True


def test_errors_name_the_endpoint_without_its_path_or_query_and_quote_the_answer_briefly(receiver: Receiver) -> None:
    receiver.answers = [Answer(500, b"boom\r\n\x1b[31m" + b"x" * 5000)]
    url = receiver.url + "/Tk9pQ7?token=Tk9pQ7"
    with pytest.raises(SendError) as raised:
        WebhookChannel(SECRET, timeout=5).send(url, message_id="msg_8", payload=PAYLOAD, timestamp=now())
    message = str(raised.value)
    assert "Tk9pQ7" not in message
    assert message.startswith(f"webhook {receiver.url.rsplit('/hooks', 1)[0]} answered 500")
    assert "\n" not in message and "\x1b" not in message
    assert len(message) < 300


def test_the_secret_is_never_shown() -> None:
    channel = WebhookChannel(SECRET)
    key = SECRET.removeprefix("whsec_")
    assert key not in repr(channel)
    for bad in ("portalwatch-plain-text-secret", "whsec_not*base64!", "whsec_" + base64.b64encode(b"short").decode()):
        with pytest.raises(ValueError) as raised:
            WebhookChannel(bad)
        assert bad.removeprefix("whsec_") not in str(raised.value)


def test_new_secrets_are_standard_webhooks_secrets_and_differ() -> None:
    first, second = new_secret(), new_secret()
    assert first != second
    assert first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"), validate=True)) == 32
    WebhookChannel(first)  # accepted as it is made


def test_a_naive_timestamp_is_refused_before_anything_is_sent(receiver: Receiver) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        WebhookChannel(SECRET).send(receiver.url, message_id="msg_9", payload=PAYLOAD, timestamp=datetime.now())
    assert receiver.received() == []
