"""Sending a notice to a case's holder by email, through an SMTP relay named by one URL.

`smtp://host:port` speaks in the clear (a local relay), `smtp://user:pass@host:port?starttls=true` upgrades
to TLS before logging in, `smtps://user:pass@host:port` is TLS from the first byte. User and password are
percent-decoded, so a password holding `/ ? # @ :` or spaces is written percent-encoded.

A failure is a `SendError` that says whether retrying can help: no answer, a refused connection or a 4xx
reply (421, 451: the relay is busy or greylisting) pass with time; a 5xx reply (550 no such user, 553, a
rejected login) or an address that cannot be mailed needs a person. Every message carries a `Message-ID`
fixed by the caller, the same on every attempt, so a receiver given the same notice twice (an attempt whose
answer was lost) can tell.

The password is never put in a repr, a log line or an error message, and is never sent in the clear to
anything but a loopback relay.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import smtplib
import socket
import ssl
import threading
import time
from base64 import b64encode
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from monitor.notify.channel import SendError

_DEFAULT_PORTS = {"plain": 25, "starttls": 587, "tls": 465}
# Percent-encoding is the only way a password can hold these; unencoded, they cut the URL short and the
# parser reads part of the password as the port, path or query. Every message about a malformed URL says so.
_ENCODE_HINT = "(a user or password holding '/', '?', '#', '@', ':' or spaces must be percent-encoded)"
_MAX_REPLY_CHARS = 300
_MAX_ADDRESS_CHARS = 320


@dataclass(frozen=True)
class _Server:
    host: str
    port: int
    security: str  # "plain" | "starttls" | "tls"
    user: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """`host:port` as people read it in an error, IPv6 literals in brackets."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_smtp_url(url: str) -> _Server:
    """The relay an SMTP URL names, or a ValueError saying what is wrong with it.

    No message quotes the URL or any part of it before the host: the password is in there, and in a
    malformed URL it can end up anywhere (an unencoded `/` turns its tail into the path, say).
    """
    if not url:
        raise ValueError("the SMTP URL is empty")
    if any(char.isspace() or ord(char) < 32 or ord(char) == 127 for char in url):
        raise ValueError(f"the SMTP URL holds spaces or control characters {_ENCODE_HINT}")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ValueError(f"the SMTP URL could not be parsed {_ENCODE_HINT}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        raise ValueError("the SMTP URL must start with smtp:// or smtps://")
    if parts.path not in ("", "/") or parts.fragment or "@" in parts.query:
        raise ValueError(f"the SMTP URL has text after the host and port where none belongs {_ENCODE_HINT}")
    try:
        port = parts.port  # raises on a non-number, and its message quotes the text (maybe a password)
    except ValueError:
        raise ValueError(f"the SMTP URL's port is not a number from 1 to 65535 {_ENCODE_HINT}") from None
    if port == 0:
        raise ValueError("the SMTP URL's port is not a number from 1 to 65535")
    host = parts.hostname
    if not host:
        raise ValueError("the SMTP URL has no host")

    starttls: bool | None = None
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        # The parameter is not quoted back: it could be a piece of a password cut at an unencoded '?'.
        if key != "starttls":
            raise ValueError("the SMTP URL has a query parameter other than starttls=true|false")
        if starttls is not None:
            raise ValueError("the SMTP URL gives starttls more than once")
        if value.lower() not in ("true", "false"):
            raise ValueError("the SMTP URL's starttls must be true or false")
        starttls = value.lower() == "true"

    if scheme == "smtps":
        if starttls:
            raise ValueError("smtps:// is TLS from the first byte; starttls=true belongs to smtp:// only")
        security = "tls"
    else:
        security = "starttls" if starttls else "plain"

    user = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    if user is not None or password is not None:
        if not user or not password:
            raise ValueError("the SMTP URL must give both a user and a password, or neither")
        if not (user.isascii() and password.isascii()):
            # smtplib encodes AUTH as ASCII; a non-ASCII character would fail at every login.
            raise ValueError("the SMTP URL's user and password must be ASCII")
        if security == "plain" and not _is_loopback(host):
            raise ValueError(
                f"the SMTP URL would send the password unencrypted to {host}; use smtps:// or ?starttls=true "
                "(only a relay on this machine may take it in the clear)"
            )
    return _Server(host, port or _DEFAULT_PORTS[security], security, user, password)


@cache
def _local_hostname() -> str:
    """What EHLO names this machine as, looked up once: smtplib would ask DNS again on every connection,
    outside any timeout."""
    fqdn = socket.getfqdn()
    return fqdn if "." in fqdn else "localhost"


class _Deadline:
    """Shuts the connection when the time for a whole send is up, whatever step is waiting.

    A socket timeout bounds each read on its own; a server that answers a line at a time, each just in
    time, would hold a send far longer. Shutting the socket from a timer wakes the step blocked on it.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expires = time.monotonic() + seconds
        self.expired = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()

    def remaining(self) -> float:
        left = self.expires - time.monotonic()
        if left <= 0:
            raise TimeoutError("the time for the send is up")
        return left

    def attach(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    # The plain socket's shutdown even on a TLS socket: SSLSocket.shutdown would drop its TLS state under
    # the thread still reading from it.
    # OSError: already closed, or detached by STARTTLS (the TLS socket that replaced it is attached too).
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _SMTP(smtplib.SMTP):
    """smtplib's client, with every socket it opens handed to the send's deadline."""

    def __init__(self, deadline: _Deadline, **kwargs: Any) -> None:
        self._deadline = deadline
        super().__init__(**kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock: socket.socket = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        self._deadline.attach(sock)
        return sock

    def starttls(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        reply = super().starttls(*args, **kwargs)
        if self.sock is not None:
            self._deadline.attach(self.sock)  # the TLS socket replaces (and detaches) the plain one
        return reply


class _SMTPS(smtplib.SMTP_SSL):
    def __init__(self, deadline: _Deadline, **kwargs: Any) -> None:
        self._deadline = deadline
        super().__init__(**kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock: socket.socket = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        self._deadline.attach(sock)
        return sock


def _printable(text: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()


class EmailChannel:
    """Sends one message at a time through the relay `smtp_url` names, each send bounded by `timeout` seconds.

    `tls_context` is what the relay's certificate is checked against (a private CA, say); by default the
    system's trusted authorities, with the host name checked.
    """

    name = "email"

    def __init__(
        self, smtp_url: str, *, sender: str, timeout: float = 10.0, tls_context: ssl.SSLContext | None = None
    ) -> None:
        self._server = parse_smtp_url(smtp_url)
        self._sender = _parse_sender(sender)
        if not timeout > 0:
            raise ValueError("timeout must be a positive number of seconds")
        self.timeout = timeout
        self._tls_context = tls_context if tls_context is not None else ssl.create_default_context()
        self._secrets = _secret_forms(self._server)

    def __repr__(self) -> str:
        server = self._server
        login = server.user is not None
        return (
            f"EmailChannel(server={server.name!r}, security={server.security!r}, login={login}, "
            f"sender={self._sender.addr_spec!r}, timeout={self.timeout})"  # never the password
        )

    def send(
        self,
        to: str,
        subject: str,
        body: str,
        *,
        message_id: str,
        attachment: tuple[str, bytes, str] | None = None,
    ) -> None:
        """Send one message to `to`; return once the relay has accepted it, raise SendError otherwise.

        `message_id` is the same on every attempt at one notice: a bare id becomes `<id@sender-domain>`, an
        `<id@domain>` is used as given. `attachment` is `(filename, bytes, "type/subtype")`. A ValueError
        means the call itself was wrong (a line break in the subject, say), not the delivery.
        """
        recipient = _recipient(to)  # SendError(permanent) for an address that cannot be mailed
        message = self._compose(recipient, subject, body, message_id=message_id, attachment=attachment)
        server = self._server
        with _Deadline(self.timeout) as deadline:
            smtp: smtplib.SMTP | None = None
            delivered = False
            try:
                options: dict[str, Any] = {
                    "host": server.host,
                    "port": server.port,
                    "local_hostname": _local_hostname(),
                    "timeout": deadline.remaining(),
                }
                if server.security == "tls":
                    smtp = _SMTPS(deadline, context=self._tls_context, **options)
                else:
                    smtp = _SMTP(deadline, **options)
                self._settimeout(smtp, deadline)
                smtp.ehlo()
                if server.security == "starttls":
                    if not smtp.has_extn("starttls"):
                        # Never carry on in the clear: the next thing sent would be the password.
                        raise SendError(
                            f"SMTP server {server.name} does not offer STARTTLS; not sending without TLS",
                            permanent=True,
                        )
                    self._settimeout(smtp, deadline)
                    smtp.starttls(context=self._tls_context)
                    self._settimeout(smtp, deadline)
                    smtp.ehlo()
                if server.user is not None and server.password is not None:
                    self._settimeout(smtp, deadline)
                    smtp.login(server.user, server.password)
                self._settimeout(smtp, deadline)
                # Once DATA is accepted the message is delivered; if that reply is lost the send fails and is
                # retried, and the same Message-ID lets the receiver see the second copy for what it is.
                smtp.send_message(message, from_addr=self._sender.addr_spec, to_addrs=[recipient])
                delivered = True
            except SendError:
                raise
            except Exception as exc:
                error = self._classify(exc, deadline)
                if error is None:
                    raise
                raise error from None  # not chained: smtplib's own exception may quote the conversation
            finally:
                if smtp is not None:
                    _close(smtp, polite=delivered)

    def _settimeout(self, smtp: smtplib.SMTP, deadline: _Deadline) -> None:
        if smtp.sock is not None:
            smtp.sock.settimeout(deadline.remaining())

    def _compose(
        self,
        recipient: str,
        subject: str,
        body: str,
        *,
        message_id: str,
        attachment: tuple[str, bytes, str] | None,
    ) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = recipient
        message["Subject"] = subject  # the email package refuses a line break here (header injection)
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = _message_id(message_id, self._sender.domain)
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: autoresponders must not answer it
        message["X-Auto-Response-Suppress"] = "All"  # Exchange's own way of saying the same
        # Quoted-printable keeps every line ASCII, so a relay without 8BITMIME passes the accents intact.
        message.set_content(body, subtype="plain", charset="utf-8", cte="quoted-printable")
        if attachment is not None:
            filename, data, mime_type = attachment
            maintype, slash, subtype = mime_type.partition("/")
            if not (slash and maintype and subtype) or any(c.isspace() for c in mime_type):
                raise ValueError(f"attachment type must be type/subtype, such as application/pdf, not {mime_type!r}")
            if not filename or any(c in filename for c in "/\\") or _printable(filename) != filename:
                raise ValueError(f"attachment filename must be a plain file name, not {filename!r}")
            message.add_attachment(bytes(data), maintype=maintype, subtype=subtype, filename=filename)
        return message

    def _classify(self, exc: Exception, deadline: _Deadline) -> SendError | None:
        """The SendError `exc` amounts to, naming the server and what it answered; None if it is not a
        delivery failure at all (a bug, left to surface as it is)."""
        server = self._server.name
        # smtplib reports a socket timeout as a disconnection, the timeout only as its context.
        timed_out = isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError)
        if deadline.expired or timed_out:
            return SendError(f"SMTP server {server} did not finish within {deadline.seconds:g} s", permanent=False)
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            code, reply = next(iter(exc.recipients.values()), (-1, b""))
            return self._reply("refused the recipient", code, reply)
        if isinstance(exc, smtplib.SMTPSenderRefused):
            return self._reply("refused the sender", exc.smtp_code, exc.smtp_error)
        if isinstance(exc, smtplib.SMTPDataError):
            return self._reply("refused the message", exc.smtp_code, exc.smtp_error)
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return self._reply("refused the login", exc.smtp_code, exc.smtp_error)
        if isinstance(exc, smtplib.SMTPConnectError):
            return self._reply("refused the connection", exc.smtp_code, exc.smtp_error)
        if isinstance(exc, smtplib.SMTPResponseException):
            return self._reply("answered", exc.smtp_code, exc.smtp_error)
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            return SendError(f"SMTP server {server} closed the connection: {self._clean(str(exc))}", permanent=False)
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            # STARTTLS, AUTH or SMTPUTF8 (a non-ASCII address) missing: the relay or its URL must change.
            return SendError(f"SMTP server {server} cannot do what is needed: {self._clean(str(exc))}", permanent=True)
        if isinstance(exc, smtplib.SMTPException):  # e.g. no authentication method both sides know
            return SendError(f"SMTP server {server}: {self._clean(str(exc))}", permanent=True)
        if isinstance(exc, ssl.SSLCertVerificationError):
            reason = exc.verify_message or exc.reason or "not trusted"
            return SendError(f"SMTP server {server}'s TLS certificate was refused: {reason}", permanent=True)
        if isinstance(exc, ssl.SSLError):
            return SendError(f"SMTP server {server}: TLS failed: {exc.reason or exc}", permanent=False)
        if isinstance(exc, ConnectionRefusedError):
            return SendError(f"SMTP server {server} refused the connection (nothing listening?)", permanent=False)
        if isinstance(exc, socket.gaierror):
            return SendError(f"SMTP server {server}: the host name did not resolve ({exc.strerror})", permanent=False)
        if isinstance(exc, OSError):
            return SendError(
                f"SMTP server {server}: {type(exc).__name__}: {exc.strerror or self._clean(str(exc))}",
                permanent=False,
            )
        return None

    def _reply(self, what: str, code: int, reply: bytes | str) -> SendError:
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        # 5xx is the server's final word on this message (RFC 5321 §4.2.1); 4xx asks to try later. Anything
        # else here (a garbled reply, -1) says nothing final, so it is tried again.
        permanent = 500 <= code <= 599
        return SendError(f"SMTP server {self._server.name} {what}: {code} {self._clean(text)}", permanent=permanent)

    def _clean(self, text: str) -> str:
        """A server's words made safe to log: one line, bounded, and without the password in any form
        (some servers quote the AUTH exchange back in their refusal)."""
        text = _printable(text)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text[:_MAX_REPLY_CHARS]


def _secret_forms(server: _Server) -> tuple[str, ...]:
    """The password as it could come back in a reply: raw, percent-encoded, and as the AUTH PLAIN and
    AUTH LOGIN exchanges encode it. Longest first, so a longer form is replaced before a shorter one inside it."""
    if not server.password:
        return ()
    user, password = server.user or "", server.password
    forms = {
        password,
        quote(password, safe=""),
        b64encode(password.encode()).decode(),
        b64encode(f"\0{user}\0{password}".encode()).decode(),
    }
    return tuple(sorted(forms, key=len, reverse=True))


def _close(smtp: smtplib.SMTP, *, polite: bool) -> None:
    """QUIT after a delivery (never letting its answer turn a delivered message into a failure), then close."""
    try:
        if polite:
            smtp.quit()
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        smtp.close()


def _parse_sender(sender: str) -> Address:
    """`noreply@example.org` or `PortalWatch <noreply@example.org>`; the address itself must be ASCII, since
    a non-ASCII sender needs SMTPUTF8 at every server on the way."""
    display_name, addr_spec = parseaddr(sender)
    if not addr_spec or "@" not in addr_spec or not addr_spec.isascii():
        raise ValueError(f"sender must be an ASCII email address, optionally with a name, not {sender!r}")
    try:
        address = Address(display_name=display_name, addr_spec=addr_spec)
    except (ValueError, IndexError, HeaderParseError):
        raise ValueError(f"sender must be an ASCII email address, optionally with a name, not {sender!r}") from None
    if not address.username or not address.domain:
        raise ValueError(f"sender must be an ASCII email address, optionally with a name, not {sender!r}")
    return address


def _recipient(to: str) -> str:
    """`to` if mail can be addressed to it; a permanent SendError otherwise (it came from a case's record,
    and only a corrected record will do). The message does not quote it: addresses are personal data."""
    invalid = SendError("the recipient address is not a valid email address", permanent=True)
    if not to or len(to) > _MAX_ADDRESS_CHARS or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in to):
        raise invalid
    try:
        address = Address(addr_spec=to)
    except (ValueError, IndexError, HeaderParseError):
        raise invalid from None
    if not address.username or not address.domain or "." not in address.domain.strip("."):
        raise invalid
    return to


def _message_id(message_id: str, domain: str) -> str:
    """`<message_id>` as RFC 5322 wants it: `<id@domain>`. Deterministic, so every retry carries the same."""
    if not message_id or any(ord(c) <= 32 or ord(c) >= 127 for c in message_id):
        raise ValueError("message_id must be printable ASCII without spaces")
    if message_id.startswith("<") and message_id.endswith(">") and "@" in message_id:
        inner = message_id[1:-1]
        if "<" in inner or ">" in inner:
            raise ValueError("message_id must hold no '<' or '>' inside its brackets")
        return message_id
    if "<" in message_id or ">" in message_id:
        raise ValueError("message_id must be a bare id or a whole <id@domain>")
    return f"<{message_id}>" if "@" in message_id else f"<{message_id}@{domain}>"
