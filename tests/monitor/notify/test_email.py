"""Email to a case's holder, through a real SMTP server on loopback: delivered once and intact, or a
SendError that says whether a retry can help, and never the password anywhere."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from monitor.notify.channel import SendError
from monitor.notify.email import EmailChannel, parse_smtp_url
from tests.conftest import free_port

SENDER = "PortalWatch <notices@portalwatch.example>"
TO = "marie-eve.tremblay@example.ca"
PASSWORD = "Zq9/xW@7 k"  # holds '/', '@' and a space: it must travel percent-encoded
PASSWORD_IN_URL = "Zq9%2FxW%407%20k"
SUBJECT = "Votre délai a été prolongé / Your deadline was extended — dossier IMM-2026-00042"
BODY = "Votre délai a été prolongé jusqu'au vendredi 27 novembre 2026 à 23 h 59 (heure de l'Est).\nÇa va, élève.\n"
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
ATTACHMENT = ("letter-7KQ2M9XD3FPAV.pdf", PDF, "application/pdf")


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    login: bytes | None

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.content, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Recorder:
    """An aiosmtpd handler that keeps what it accepted, and refuses with the replies it is told to."""

    received: list[Received] = field(default_factory=list)
    data_replies: list[str] = field(default_factory=list)  # answers to DATA, one per attempt, before accepting
    rcpt_reply: str | None = None  # answer to every RCPT TO
    attempted_ids: list[str] = field(default_factory=list)
    logins: list[LoginPassword] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if self.rcpt_reply is not None:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.attempted_ids.append(str(message_from_bytes(content, policy=default_policy)["Message-ID"]))
        if self.data_replies:
            return self.data_replies.pop(0)
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), content, login))
        return "250 2.0.0 accepted"

    def authenticator(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        self.logins.append(auth_data)
        # handled=False: aiosmtpd then answers 535 itself; with its default (True) it answers nothing at all.
        return AuthResult(success=auth_data.password == PASSWORD.encode(), handled=False, auth_data=auth_data)


@dataclass
class Server:
    recorder: Recorder
    port: int


StartServer = Callable[..., Server]


@pytest.fixture
def start_server() -> Iterator[StartServer]:
    """Starts real SMTP servers on loopback (each on a free port) and stops them after the test."""
    controllers: list[Controller] = []

    def start(**kwargs: Any) -> Server:
        recorder = Recorder()
        if kwargs.pop("auth", False):
            # AUTH offered without TLS only on loopback; auth_required stays False, which is what keeps
            # aiosmtpd from warning that it requires AUTH without TLS. The client logs in regardless.
            kwargs.setdefault("auth_require_tls", False)
            kwargs["authenticator"] = recorder.authenticator
        port = free_port()
        controller = Controller(recorder, hostname="127.0.0.1", port=port, server_hostname="mail.test", **kwargs)
        controller.start()
        controllers.append(controller)
        return Server(recorder, port)

    yield start
    for controller in controllers:
        controller.stop()


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1, trusted by the client contexts the tests pass explicitly."""
    directory = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Certificate(directory / "cert.pem", directory / "key.pem")


def test_a_notice_with_its_letter_arrives_once_with_accents_and_bytes_intact(start_server: StartServer) -> None:
    server = start_server()
    channel = EmailChannel(f"smtp://127.0.0.1:{server.port}", sender=SENDER, timeout=5)

    channel.send(TO, SUBJECT, BODY, message_id="<notice-42.a1b2@portalwatch.example>", attachment=ATTACHMENT)

    assert len(server.recorder.received) == 1
    received = server.recorder.received[0]
    assert received.mail_from == "notices@portalwatch.example"
    assert received.rcpt_tos == [TO]
    message = received.message
    assert message["Subject"] == SUBJECT
    assert message["To"] == TO
    assert message["From"] == SENDER
    assert message["Message-ID"] == "<notice-42.a1b2@portalwatch.example>"
    assert message["Auto-Submitted"] == "auto-generated"
    body = message.get_body(("plain",))
    assert body is not None
    assert body.get_content().replace("\r\n", "\n") == BODY  # lines end in CRLF on the wire, as SMTP wants
    assert body.get_content_charset() == "utf-8"
    attachments = list(message.iter_attachments())
    assert len(attachments) == 1
    assert attachments[0].get_filename() == "letter-7KQ2M9XD3FPAV.pdf"
    assert attachments[0].get_content_type() == "application/pdf"
    assert attachments[0].get_content() == PDF


def test_a_bare_message_id_becomes_the_same_msg_id_on_every_attempt(start_server: StartServer) -> None:
    server = start_server()
    server.recorder.data_replies = ["451 4.3.0 try again"]
    channel = EmailChannel(f"smtp://127.0.0.1:{server.port}", sender=SENDER, timeout=5)

    with pytest.raises(SendError):
        channel.send(TO, SUBJECT, BODY, message_id="notice-42")
    channel.send(TO, SUBJECT, BODY, message_id="notice-42")

    assert server.recorder.attempted_ids == ["<notice-42@portalwatch.example>"] * 2


def test_a_451_passes_and_the_retry_is_delivered(start_server: StartServer) -> None:
    server = start_server()
    server.recorder.data_replies = ["451 4.3.0 try again"]
    channel = EmailChannel(f"smtp://127.0.0.1:{server.port}", sender=SENDER, timeout=5)

    with pytest.raises(SendError) as raised:
        channel.send(TO, SUBJECT, BODY, message_id="<n-1@portalwatch.example>", attachment=ATTACHMENT)
    assert raised.value.permanent is False
    assert f"127.0.0.1:{server.port}" in str(raised.value)
    assert "451 4.3.0 try again" in str(raised.value)
    assert server.recorder.received == []

    channel.send(TO, SUBJECT, BODY, message_id="<n-1@portalwatch.example>", attachment=ATTACHMENT)
    assert len(server.recorder.received) == 1
    assert server.recorder.received[0].message["Message-ID"] == "<n-1@portalwatch.example>"


@pytest.mark.parametrize(
    ("reply", "permanent"),
    [
        ("550 5.1.1 no such user", True),
        ("553 5.1.3 mailbox name not allowed", True),
        ("451 4.7.1 greylisted, try again later", False),
        ("452 4.2.2 mailbox full", False),
    ],
)
def test_a_refused_recipient_is_permanent_only_on_a_5xx(start_server: StartServer, reply: str, permanent: bool) -> None:
    server = start_server()
    server.recorder.rcpt_reply = reply
    channel = EmailChannel(f"smtp://127.0.0.1:{server.port}", sender=SENDER, timeout=5)

    with pytest.raises(SendError) as raised:
        channel.send(TO, SUBJECT, BODY, message_id="<n-2@portalwatch.example>")
    assert raised.value.permanent is permanent
    assert reply in str(raised.value)
    assert f"SMTP server 127.0.0.1:{server.port} refused the recipient" in str(raised.value)


def test_a_message_refused_at_data_with_a_5xx_is_permanent(start_server: StartServer) -> None:
    server = start_server()
    server.recorder.data_replies = ["554 5.7.1 message rejected"]
    channel = EmailChannel(f"smtp://127.0.0.1:{server.port}", sender=SENDER, timeout=5)

    with pytest.raises(SendError) as raised:
        channel.send(TO, SUBJECT, BODY, message_id="<n-3@portalwatch.example>")
    assert raised.value.permanent is True
    assert "554 5.7.1 message rejected" in str(raised.value)


@pytest.mark.parametrize("address", ["not-an-address", "two@@example.ca", "a b@example.ca", "x@localhost", ""])
def test_an_invalid_address_is_permanent_without_connecting_or_quoting_it(address: str) -> None:
    # Nothing listens on this port: had the channel connected, the error would be a passing one.
    channel = EmailChannel(f"smtp://127.0.0.1:{free_port()}", sender=SENDER, timeout=2)
    with pytest.raises(SendError) as raised:
        channel.send(address, SUBJECT, BODY, message_id="<n-4@portalwatch.example>")
    assert raised.value.permanent is True
    assert "recipient address" in str(raised.value)
    assert not address or address not in str(raised.value)


def test_nothing_listening_is_a_passing_error_within_the_timeout() -> None:
    channel = EmailChannel(f"smtp://127.0.0.1:{free_port()}", sender=SENDER, timeout=2)
    started = time.monotonic()
    with pytest.raises(SendError) as raised:
        channel.send(TO, SUBJECT, BODY, message_id="<n-5@portalwatch.example>")
    assert time.monotonic() - started < 2
    assert raised.value.permanent is False
    assert "refused the connection" in str(raised.value)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel completes them) and never says a word."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def test_a_server_that_never_greets_is_a_passing_error_once_the_timeout_is_up(silent_port: int) -> None:
    channel = EmailChannel(f"smtp://127.0.0.1:{silent_port}", sender=SENDER, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(SendError) as raised:
        channel.send(TO, SUBJECT, BODY, message_id="<n-6@portalwatch.example>")
    assert time.monotonic() - started < 2
    assert raised.value.permanent is False
    assert "did not finish within 0.5 s" in str(raised.value)


@pytest.fixture
def trickling_port() -> Iterator[int]:
    """A server that greets, then answers EHLO one line every 0.2 s for ever: each read is quick, the whole is not."""
    stop = threading.Event()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(5)

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            try:
                conn.sendall(b"220 mail.test ESMTP\r\n")
                conn.recv(1024)
                while not stop.wait(0.2):
                    conn.sendall(b"250-still thinking\r\n")
            except OSError:
                return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()
    thread.join(timeout=5)


def test_a_whole_send_is_bounded_by_the_timeout_even_when_every_line_comes_in_time(trickling_port: int) -> None:
    channel = EmailChannel(f"smtp://127.0.0.1:{trickling_port}", sender=SENDER, timeout=1.0)
    started = time.monotonic()
    with pytest.raises(SendError) as raised:
        channel.send(TO, SUBJECT, BODY, message_id="<n-7@portalwatch.example>")
    assert time.monotonic() - started < 2.5
    assert raised.value.permanent is False
    assert "did not finish within 1 s" in str(raised.value)


def test_the_user_and_password_from_the_url_are_used_percent_decoded(start_server: StartServer) -> None:
    server = start_server(auth=True)
    channel = EmailChannel(
        f"smtp://notices%40portalwatch.example:{PASSWORD_IN_URL}@127.0.0.1:{server.port}", sender=SENDER, timeout=5
    )

    channel.send(TO, SUBJECT, BODY, message_id="<n-8@portalwatch.example>")

    assert [(login.login, login.password) for login in server.recorder.logins] == [
        (b"notices@portalwatch.example", PASSWORD.encode())
    ]
    assert server.recorder.received[0].login == b"notices@portalwatch.example"


def test_a_refused_login_is_permanent_and_never_shows_the_password(start_server: StartServer) -> None:
    server = start_server(auth=True)
    channel = EmailChannel(f"smtp://notices:wr0ng-Pa55@127.0.0.1:{server.port}", sender=SENDER, timeout=5)

    with pytest.raises(SendError) as raised:
        channel.send(TO, SUBJECT, BODY, message_id="<n-9@portalwatch.example>")
    assert raised.value.permanent is True
    assert "refused the login: 535" in str(raised.value)
    assert "wr0ng" not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert server.recorder.received == []


def test_starttls_upgrades_before_logging_in(start_server: StartServer, certificate: Certificate) -> None:
    # auth_require_tls stays True: the server refuses AUTH before STARTTLS, so a login proves TLS came first.
    server = start_server(auth=True, auth_require_tls=True, tls_context=certificate.server_context())
    channel = EmailChannel(
        f"smtp://notices:{PASSWORD_IN_URL}@127.0.0.1:{server.port}?starttls=true",
        sender=SENDER,
        timeout=5,
        tls_context=certificate.client_context(),
    )

    channel.send(TO, SUBJECT, BODY, message_id="<n-10@portalwatch.example>", attachment=ATTACHMENT)

    assert len(server.recorder.logins) == 1
    assert "Ça va, élève." in server.recorder.received[0].message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_a_server_without_starttls_gets_neither_the_password_nor_the_message(start_server: StartServer) -> None:
    server = start_server(auth=True)
    channel = EmailChannel(
        f"smtp://notices:{PASSWORD_IN_URL}@127.0.0.1:{server.port}?starttls=true", sender=SENDER, timeout=5
    )

    with pytest.raises(SendError) as raised:
        channel.send(TO, SUBJECT, BODY, message_id="<n-11@portalwatch.example>")
    assert raised.value.permanent is True
    assert "does not offer STARTTLS" in str(raised.value)
    assert server.recorder.logins == []
    assert server.recorder.received == []


def test_smtps_is_tls_from_the_first_byte(start_server: StartServer, certificate: Certificate) -> None:
    # aiosmtpd counts only STARTTLS as TLS for auth_require_tls; this connection is TLS from its first byte.
    server = start_server(auth=True, ssl_context=certificate.server_context())
    channel = EmailChannel(
        f"smtps://notices:{PASSWORD_IN_URL}@127.0.0.1:{server.port}",
        sender=SENDER,
        timeout=5,
        tls_context=certificate.client_context(),
    )

    channel.send(TO, SUBJECT, BODY, message_id="<n-12@portalwatch.example>")

    assert len(server.recorder.received) == 1
    assert len(server.recorder.logins) == 1


def test_an_untrusted_certificate_is_permanent(start_server: StartServer, certificate: Certificate) -> None:
    server = start_server(ssl_context=certificate.server_context())
    # The system's authorities, which never signed the test certificate.
    channel = EmailChannel(f"smtps://notices:{PASSWORD_IN_URL}@127.0.0.1:{server.port}", sender=SENDER, timeout=5)

    with pytest.raises(SendError) as raised:
        channel.send(TO, SUBJECT, BODY, message_id="<n-13@portalwatch.example>")
    assert raised.value.permanent is True
    assert "certificate" in str(raised.value)
    assert server.recorder.received == []


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://notices:Zq9xWk7@mail.example:587", "must start with smtp:// or smtps://"),
        ("notices:Zq9xWk7@mail.example:587", "must start with smtp:// or smtps://"),
        ("smtp://notices:Zq9/xWk7@mail.example:587?starttls=true", "must be percent-encoded"),
        ("smtp://notices:Zq9#xWk7@mail.example:587?starttls=true", "must be percent-encoded"),
        ("smtp://notices:Zq9?xWk7@mail.example:587", "must be percent-encoded"),
        ("smtp://notices:Zq9xWk7@mail.example:port?starttls=true", "port is not a number"),
        ("smtp://notices:Zq9xWk7@mail.example:70000?starttls=true", "port is not a number"),
        ("smtp://notices:Zq9xWk7@:587?starttls=true", "has no host"),
        ("smtp://notices:Zq9 xWk7@mail.example:587?starttls=true", "spaces or control characters"),
        ("smtp://notices:Zq9xWk7@mail.example:587?starttls=maybe", "starttls must be true or false"),
        ("smtp://notices:Zq9xWk7@mail.example:587?tls=Zq9xWk7", "query parameter other than starttls"),
        ("smtps://notices:Zq9xWk7@mail.example:465?starttls=true", "starttls=true belongs to smtp:// only"),
        ("smtp://notices@mail.example:587?starttls=true", "both a user and a password"),
        ("smtp://:Zq9xWk7@mail.example:587?starttls=true", "both a user and a password"),
        ("smtp://notices:Zq9xWk7@mail.example:587", "would send the password unencrypted to mail.example"),
        ("smtp://notices:Zq9%C3%A9xWk7@mail.example:587?starttls=true", "must be ASCII"),
        ("", "empty"),
    ],
)
def test_a_malformed_url_is_refused_clearly_without_quoting_the_password(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as raised:
        EmailChannel(url, sender=SENDER)
    for piece in ("Zq9", "xWk7"):
        assert piece not in str(raised.value)
    assert raised.value.__cause__ is None


def test_the_url_forms_name_the_relay_its_security_and_default_port() -> None:
    plain = parse_smtp_url("smtp://mail.example:2525")
    assert (plain.host, plain.port, plain.security, plain.user) == ("mail.example", 2525, "plain", None)
    starttls = parse_smtp_url(f"smtp://u%3Ax:{PASSWORD_IN_URL}@mail.example?starttls=TRUE")
    assert (starttls.port, starttls.security, starttls.user, starttls.password) == (587, "starttls", "u:x", PASSWORD)
    implicit = parse_smtp_url(f"smtps://u:{PASSWORD_IN_URL}@[::1]")
    assert (implicit.host, implicit.port, implicit.security) == ("::1", 465, "tls")
    assert parse_smtp_url(f"smtp://u:{PASSWORD_IN_URL}@localhost:25").security == "plain"  # loopback only


def test_the_channel_s_repr_hides_the_password() -> None:
    channel = EmailChannel(f"smtps://notices:{PASSWORD_IN_URL}@mail.example:465", sender=SENDER)
    shown = repr(channel)
    assert "mail.example:465" in shown
    for piece in (PASSWORD, PASSWORD_IN_URL, "Zq9"):
        assert piece not in shown
    assert "Zq9" not in repr(parse_smtp_url(f"smtps://notices:{PASSWORD_IN_URL}@mail.example:465"))


@pytest.mark.parametrize("sender", ["", "nobody", "José <josé@exemple.ca>"])
def test_a_sender_that_is_not_an_ascii_address_is_refused(sender: str) -> None:
    with pytest.raises(ValueError, match="sender"):
        EmailChannel("smtp://127.0.0.1:25", sender=sender)


def test_a_line_break_in_the_subject_is_refused_before_anything_is_sent(start_server: StartServer) -> None:
    server = start_server()
    channel = EmailChannel(f"smtp://127.0.0.1:{server.port}", sender=SENDER, timeout=5)
    with pytest.raises(ValueError, match="linefeed"):
        channel.send(TO, "Notice\r\nBcc: everyone@example.ca", BODY, message_id="<n-14@portalwatch.example>")
    with pytest.raises(ValueError, match="plain file name"):
        channel.send(TO, SUBJECT, BODY, message_id="<n-15@portalwatch.example>", attachment=("../x.pdf", PDF, "a/b"))
    assert server.recorder.attempted_ids == []
