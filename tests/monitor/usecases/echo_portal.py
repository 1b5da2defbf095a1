"""A careless portal on 127.0.0.1 for the recording tests: it refuses the probe's sign-in and echoes back
everything it was sent, in every form a page may show it, so a check's evidence is as rich as can be."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.probes.loopback import LoopbackHandler, LoopbackServer, serve

SLOT = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # the first slot the tests run checks for
CSRF = "csrf-51c7e0"
SIGN_IN_PAGE = f'<html><form method="post"><input type="hidden" name="csrf" value="{CSRF}"></form></html>'


class EchoHandler(LoopbackHandler):
    """`/home` and `/sign-in` 200; a POST to `/sign-in` 403 "Access denied"; `/api/echo` 403 and
    `/api/echo-ok` 200, both with the Authorization header back in `X-Echo` and the path in `Location`;
    anything else 200. Every answer but the two plain pages echoes the request."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._handle(b"")

    def do_DELETE(self) -> None:
        self._handle(b"")

    def do_POST(self) -> None:
        self._handle(self.read_body())

    def _handle(self, body: bytes) -> None:
        self.record(body)
        route = urlsplit(self.path).path
        values = [value for values in parse_qs(urlsplit(self.path).query).values() for value in values]
        if route == "/home":
            self.answer(200, "<h1>Citizen portal</h1>")
        elif route == "/sign-in" and self.command == "GET":
            self.answer(200, SIGN_IN_PAGE)
        elif route == "/sign-in":
            self.answer(403, f"<h1>Access denied</h1>{self.echo(body, values)}")
        else:
            extra = {"X-Echo": self.headers.get("Authorization", ""), "Location": self.path}
            self.answer(403 if route == "/api/echo" else 200, self.echo(body, values), extra)


class EchoPortal(LoopbackServer):
    handler_class = EchoHandler
    request_queue_size = 64


def echo_portal() -> AbstractContextManager[EchoPortal]:
    return serve(EchoPortal())


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
