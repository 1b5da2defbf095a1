"""A careless portal on 127.0.0.1 for the recording tests: it refuses the probe's sign-in and echoes back
everything it was sent, in every form a page may show it, so a check's evidence is as rich as can be."""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlsplit

SLOT = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # the first slot the tests run checks for
CSRF = "csrf-51c7e0"
SIGN_IN_PAGE = f'<html><form method="post"><input type="hidden" name="csrf" value="{CSRF}"></form></html>'


@dataclass(frozen=True)
class Received:
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


class EchoPortal(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), EchoHandler)
        self.lock = threading.Lock()
        self.received: list[Received] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class EchoHandler(BaseHTTPRequestHandler):
    """`/home` and `/sign-in` 200; a POST to `/sign-in` 403 "Access denied"; `/api/echo` 403 and
    `/api/echo-ok` 200, both with the Authorization header back in `X-Echo` and the path in `Location`;
    anything else 200. Every answer but the two plain pages echoes the request."""

    server: EchoPortal
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle(b"")

    def do_DELETE(self) -> None:
        self._handle(b"")

    def do_POST(self) -> None:
        self._handle(self.rfile.read(int(self.headers.get("Content-Length", "0"))))

    def _handle(self, body: bytes) -> None:
        with self.server.lock:
            self.server.received.append(Received(self.command, self.path, dict(self.headers.items()), body))
        route = urlsplit(self.path).path
        if route == "/home":
            self._answer(200, "<h1>Citizen portal</h1>")
        elif route == "/sign-in" and self.command == "GET":
            self._answer(200, SIGN_IN_PAGE)
        elif route == "/sign-in":
            self._answer(403, f"<h1>Access denied</h1>{self._echo(body)}")
        else:
            extra = {"X-Echo": self.headers.get("Authorization", ""), "Location": self.path}
            self._answer(403 if route == "/api/echo" else 200, self._echo(body), extra)

    def _echo(self, body: bytes) -> str:
        text = body.decode("utf-8", errors="replace")
        values = [value for values in parse_qs(urlsplit(self.path).query).values() for value in values]
        lines = [self.requestline, *(f"{name}: {value}" for name, value in self.headers.items())]
        lines += [text, unquote_plus(text), *values]
        page = "\n".join(lines)
        return f"<pre>{page}</pre><pre>{html.escape(page)}</pre><script>{json.dumps(lines)}</script>"

    def _answer(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
        payload = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


@contextmanager
def echo_portal() -> Iterator[EchoPortal]:
    server = EchoPortal()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def sign_in_probe(base: str, *, password_env: str, token_env: str | None = None) -> dict[str, Any]:
    """A `steps` probe signing in with `${env:…}` secrets, which the portal refuses with a 403."""
    headers = {} if token_env is None else {"Authorization": f"Bearer ${{env:{token_env}}}"}
    return {
        "id": "rep-sign-in",
        "type": "steps",
        "interval": "10s",
        "timeout": "5s",
        "steps": [
            {"name": "home", "url": f"{base}/home", "body_contains": "Citizen portal"},
            {"name": "sign-in page", "url": f"{base}/sign-in", "extract": {"csrf": {"regex": 'value="([^"]+)"'}}},
            {
                "name": "sign in",
                "method": "POST",
                "url": f"{base}/sign-in",
                "headers": headers,
                "form": {"user": "probe", "password": f"${{env:{password_env}}}", "csrf": "${csrf}"},
                "expect_status": [200, 302],
            },
            {"name": "dashboard", "url": f"{base}/dashboard"},
            {"name": "sign out", "method": "DELETE", "url": f"{base}/session", "always": True},
        ],
    }


def config(probes: list[dict[str, Any]], *, threshold: int = 2) -> str:
    """A configuration holding `probes` in one component; JSON, which the YAML loader reads as it is."""
    return json.dumps(
        {
            "failure_threshold": threshold,
            "recovery_threshold": 2,
            "components": [{"id": "rep-portal", "name": "Representative portal", "probes": probes}],
        },
        indent=2,
    )
