"""Loopback targets and small helpers the use-case tests of running checks share."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from datetime import UTC, datetime

from sqlalchemy import select

from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import CheckKind
from monitor.storage.models import Check
from tests.probes.loopback import LoopbackHandler, LoopbackServer, serve

SLOT = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


class Target(LoopbackHandler):
    """`/ok/<n>` 200, `/down/<n>` 503, `/hang/<n>` no answer until released (then 200), `/drip/<n>` a byte
    every 100 ms, `/switch/<n>` 200 while the server's `switch_on` is set, else 503."""

    server: TargetServer

    def do_GET(self) -> None:
        self.server.agents.append(self.headers.get("User-Agent", ""))
        kind = self.path.split("/")[1]
        if kind == "hang" and not self.server.release.wait(30):
            return  # never answers, until released
        if kind == "drip":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(100):
                if self.server.release.wait(0.1):
                    return
                self.wfile.write(b"x")
                self.wfile.flush()
            return
        body = b"Sign in"
        failing = kind == "down" or (kind == "switch" and not self.server.switch_on.is_set())
        self.send_response(503 if failing else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class TargetServer(LoopbackServer):
    handler_class = Target
    request_queue_size = 512  # hundreds of checks connect at the same instant

    def __init__(self) -> None:
        super().__init__()
        self.switch_on = threading.Event()
        self.agents: list[str] = []


def serving() -> AbstractContextManager[TargetServer]:
    """A target server on a thread; its `release` lets hanging and dripping requests go when it stops."""
    return serve(TargetServer())


def config(base: str, probes: dict[str, str], *, locations: str = "", threshold: int = 2, timeout: str = "1s") -> str:
    lines = "".join(
        f'      - {{id: {probe_id}, type: http, url: "{base}/{path}", interval: 10s, timeout: {timeout}}}\n'
        for probe_id, path in probes.items()
    )
    return (
        f"failure_threshold: {threshold}\nrecovery_threshold: 2\n{locations}\n"
        "components:\n  - id: pr-portal\n    name: Permanent residence portal\n    probes:\n" + lines
    )


def stored(runtime: Runtime, kind: CheckKind | None = None) -> list[Check]:
    with transaction(runtime.sessions) as session:
        query = select(Check).order_by(Check.id)
        if kind is not None:
            query = query.where(Check.kind == kind)
        return list(session.scalars(query))
