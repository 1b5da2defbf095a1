"""Small HTTP servers on 127.0.0.1 for the tests that run probes against real targets, and the ways those
tests run a probe.

A test's server is a `LoopbackServer` subclass naming its handler, a `LoopbackHandler` subclass that
routes; `serve` runs it on a thread for as long as a `with` lasts, and `with_tls` puts it behind TLS with
a self-signed certificate first. What a handler `record`s is kept in the server's `received`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import ipaddress
import json
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from urllib.parse import parse_qs, unquote_plus, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from probes.http import HttpProbeSpec
from probes.http.aio import new_session, run_http_probe_async
from probes.http.runner import run_http_probe
from probes.result import CheckResult
from probes.steps import StepsProbeSpec, run_steps_async

LOCATION = "test-runner"


@dataclass(frozen=True)
class Received:
    """One request as the server read it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.path).query)

    @property
    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode("utf-8"))


class LoopbackServer(ThreadingHTTPServer):
    """A server on a port of 127.0.0.1 the kernel picks, answering with `handler_class`.

    `release` is set when `serve` stops it, so a handler still waiting on it lets go.
    """

    handler_class: ClassVar[type[BaseHTTPRequestHandler]]
    daemon_threads = True
    scheme = "http"

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), self.handler_class)
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.release = threading.Event()

    @property
    def base(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Probes hang up on slow handlers on purpose; the broken pipes that follow are expected.
        pass


class LoopbackHandler(BaseHTTPRequestHandler):
    server: LoopbackServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def read_body(self) -> bytes:
        """The request's body, sent with a Content-Length or in chunks."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                chunk = self.rfile.read(size + 2)[:size]
                if not size:
                    return b"".join(chunks)
                chunks.append(chunk)
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def record(self, body: bytes = b"") -> None:
        with self.server.lock:
            self.server.received.append(Received(self.command, self.path, dict(self.headers.items()), body))

    def answer(
        self,
        status: int,
        body: str | bytes,
        headers: dict[str, str] | None = None,
        content_type: str = "text/html; charset=utf-8",
    ) -> None:
        payload = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def echo(self, body: bytes, values: Iterable[str]) -> str:
        """A careless portal's page: the request line, the headers, the body as sent and decoded, and
        `values`, in every form a page may show them."""
        text = body.decode("utf-8", errors="replace")
        lines = [self.requestline, *(f"{name}: {value}" for name, value in self.headers.items())]
        lines += [text, unquote_plus(text), *values]
        page = "\n".join(lines)
        return f"<pre>{page}</pre><pre>{html.escape(page)}</pre><script>{json.dumps(lines)}</script>"


Server = TypeVar("Server", bound=LoopbackServer)


@contextmanager
def serve(server: Server) -> Iterator[Server]:
    """`server` answering on a thread of its own until the `with` ends."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def with_tls(server: Server, directory: Path) -> Server:
    """`server` behind TLS with a self-signed certificate for 127.0.0.1, which verification refuses."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*self_signed(directory))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.scheme = "https"
    return server


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key, written to `directory`: its path and the key's."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return write_pem(directory, "self-signed", certificate, key)


def write_pem(
    directory: Path, label: str, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> tuple[Path, Path]:
    """`certificate` and its `key` in PEM, as `<label>.pem` and `<label>.key` in `directory`."""
    cert_path, key_path = directory / f"{label}.pem", directory / f"{label}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


# --- running a probe ----------------------------------------------------------------------------------

Runner = Callable[[HttpProbeSpec], CheckResult]


def http_spec(url: str, **fields: Any) -> HttpProbeSpec:
    """An http probe of `url`; `fields` add to or override its id and its 5 s timeout."""
    return HttpProbeSpec.model_validate({"id": "portal-login", "url": url, "timeout": "5s", **fields})


def run_sync(spec: HttpProbeSpec) -> CheckResult:
    return run_http_probe(spec, LOCATION)


def run_async(spec: HttpProbeSpec, **kwargs: Any) -> CheckResult:
    """One check by the asyncio runner, on a loop and a session of its own."""

    async def one() -> CheckResult:
        async with new_session() as session:
            return await run_http_probe_async(spec, LOCATION, session=session, **kwargs)

    return asyncio.run(one())


def run_steps(spec: StepsProbeSpec) -> CheckResult:
    """One check as the engine runs it: on its loop, given the loop's shared session."""

    async def main() -> CheckResult:
        async with new_session() as session:
            return await run_steps_async(spec, LOCATION, session=session)

    return asyncio.run(main())
