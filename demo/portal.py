"""A simulated immigration portal whose components fail on a schedule or on demand.

Stdlib only, so the demo and the end-to-end tests can run it anywhere. Each component answers
according to its mode:

- ``up``: 200 with a page containing "Sign in" (what the probes look for);
- ``down``: 503 "Service Unavailable";
- ``forbidden``: 403 "Access Denied";
- ``slow``: waits ``slow_seconds`` and then answers like ``up``;
- ``broken``: 200 but an error page without "Sign in".

A manual override (``set_mode`` or ``PUT /_control/<component>``) wins over the schedule.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

COMPONENTS: dict[str, str] = {
    "pr": "Permanent residence portal",
    "representative": "Authorized paid representative portal",
    "employer": "Employer portal",
    "sign-in": "GCKey sign-in service",
}
MODES: tuple[str, ...] = ("up", "down", "forbidden", "slow", "broken")
CONTROL_PATH = "/_control"
_BAD_BODY = 'body must be JSON like {"mode": "down"}'


def _check_component(component: str) -> None:
    if component not in COMPONENTS:
        raise ValueError(f"unknown component {component!r}; valid components: {', '.join(COMPONENTS)}")


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; valid modes: {', '.join(MODES)}")


@dataclass(frozen=True)
class Window:
    """``component`` is in ``mode`` from ``start`` (inclusive) to ``end`` (exclusive), in seconds since start."""

    component: str
    start: float
    end: float
    mode: str

    def __post_init__(self) -> None:
        _check_component(self.component)
        _check_mode(self.mode)
        if not 0 <= self.start < self.end:
            raise ValueError(f"window must satisfy 0 <= start < end, got {self.start}..{self.end}")

    def covers(self, elapsed: float) -> bool:
        return self.start <= elapsed < self.end


# Within one 3-minute cycle a viewer sees a major outage begin and recover, then two other kinds of failure.
DEFAULT_CYCLE = 180.0
DEFAULT_SCHEDULE: tuple[Window, ...] = (
    Window("pr", 20.0, 70.0, "down"),
    Window("sign-in", 95.0, 130.0, "slow"),
    Window("representative", 140.0, 165.0, "forbidden"),
)


def _page(title: str, body: str) -> bytes:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head>\n<body>\n{body}\n</body></html>\n"
    ).encode()


def _component_page(component: str, mode: str) -> tuple[int, bytes]:
    title = COMPONENTS[component]
    if mode == "down":
        return 503, _page(
            "Service Unavailable",
            "<h1>Service Unavailable</h1>\n"
            "<p>Service Unavailable — the system is experiencing technical difficulties. Please try again later.</p>",
        )
    if mode == "forbidden":
        return 403, _page(
            "Access Denied",
            "<h1>Access Denied</h1>\n<p>You don't have permission to access this resource.</p>",
        )
    if mode == "broken":
        return 200, _page(
            f"{title} - Error",
            f"<h1>{escape(title)}</h1>\n<p>An unexpected error occurred. Reference number: 0x5f3a.</p>",
        )
    return 200, _page(
        title,
        f"<h1>{escape(title)}</h1>\n<p>Immigration and citizenship online services.</p>\n"
        f'<form method="post" action="/{component}/"><button type="submit">Sign in</button></form>',
    )


def _index_page() -> bytes:
    links = "\n".join(
        f'<li><a href="/{component}/">{escape(title)}</a></li>' for component, title in COMPONENTS.items()
    )
    return _page("PortalWatch demo portal", f"<h1>PortalWatch demo portal</h1>\n<ul>\n{links}\n</ul>")


class FlakyPortal:
    """A local HTTP server imitating a portal whose components go down, slow, forbidden or broken.

    ``schedule=None`` means no schedule: every component is up unless overridden. Pass
    ``DEFAULT_SCHEDULE`` and ``DEFAULT_CYCLE`` for the demo story. Schedule time counts from
    ``start()`` (or from construction until then), measured with ``clock``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        schedule: Sequence[Window] | None = None,
        cycle_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        slow_seconds: float = 5.0,
    ) -> None:
        if cycle_seconds is not None and cycle_seconds <= 0:
            raise ValueError("cycle_seconds must be greater than zero")
        self.host = host
        self.slow_seconds = slow_seconds
        self._requested_port = port
        self._schedule: tuple[Window, ...] = tuple(schedule or ())
        self._cycle = cycle_seconds
        self._clock = clock
        self._t0 = clock()
        self._lock = threading.Lock()
        self._overrides: dict[str, str] = {}
        self._served: dict[str, int] = dict.fromkeys(COMPONENTS, 0)
        self._server: _PortalServer | None = None
        self._thread: threading.Thread | None = None
        # Lets stop() cut short the sleeps of "slow" requests instead of waiting them out.
        self._stopping = threading.Event()

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("portal already started")
        self._stopping.clear()
        self._server = _PortalServer((self.host, self._requested_port), self)
        self._t0 = self._clock()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="flaky-portal", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self if self._server is not None else self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("portal not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url_for(self, component: str) -> str:
        _check_component(component)
        return f"{self.url}/{component}/"

    @property
    def requests_served(self) -> dict[str, int]:
        """Requests each component page has answered, whatever its mode (a snapshot)."""
        with self._lock:
            return dict(self._served)

    def elapsed(self) -> float:
        """Seconds since start, before wrapping by the cycle."""
        return self._clock() - self._t0

    def set_mode(self, component: str, mode: str) -> None:
        _check_component(component)
        _check_mode(mode)
        with self._lock:
            self._overrides[component] = mode

    def clear_override(self, component: str) -> None:
        _check_component(component)
        with self._lock:
            self._overrides.pop(component, None)

    def has_override(self, component: str) -> bool:
        _check_component(component)
        with self._lock:
            return component in self._overrides

    def scheduled_mode(self, component: str, elapsed: float) -> str:
        """The schedule's mode at ``elapsed`` seconds since start; the first matching window wins."""
        _check_component(component)
        at = elapsed % self._cycle if self._cycle is not None else elapsed
        for window in self._schedule:
            if window.component == component and window.covers(at):
                return window.mode
        return "up"

    def mode(self, component: str) -> str:
        _check_component(component)
        with self._lock:
            override = self._overrides.get(component)
        return override if override is not None else self.scheduled_mode(component, self.elapsed())

    def control_state(self) -> dict[str, dict[str, Any]]:
        return {c: {"mode": self.mode(c), "override": self.has_override(c)} for c in COMPONENTS}

    def _count(self, component: str) -> None:
        with self._lock:
            self._served[component] += 1


class _PortalServer(ThreadingHTTPServer):
    daemon_threads = True
    # stop() must not wait for in-flight requests; "slow" ones are woken by the stopping event anyway.
    block_on_close = False

    def __init__(self, address: tuple[str, int], portal: FlakyPortal) -> None:
        self.portal = portal
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A probe that gave up (timeout) closes its end while a slow page is still being written.
        pass


class _Handler(BaseHTTPRequestHandler):
    server: _PortalServer
    server_version = "PortalWatchDemo/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        # The demo tells its own story on stdout; per-request lines would drown it.
        pass

    def do_GET(self) -> None:
        self._route(head=False)

    def do_HEAD(self) -> None:
        self._route(head=True)

    def do_POST(self) -> None:
        # Real portals take the sign-in form by POST, and probes may be configured to use it.
        self._read_body()
        component = self._component()
        if component is None:
            self._send_json(404, {"error": f"not found: {self.path}"})
        else:
            self._serve_component(component, head=False)

    def do_PUT(self) -> None:
        component = self._control_target()
        if component is None:
            return
        try:
            payload = json.loads(self._read_body() or b"null")
        except ValueError:
            self._send_json(400, {"error": _BAD_BODY})
            return
        mode = payload.get("mode") if isinstance(payload, dict) else None
        if not isinstance(mode, str):
            self._send_json(400, {"error": _BAD_BODY})
            return
        try:
            self.server.portal.set_mode(component, mode)
        except ValueError as exc:
            self._send_json(400, {"error": str(exc)})
            return
        self._send_json(200, {"component": component, "mode": mode, "override": True})

    def do_DELETE(self) -> None:
        component = self._control_target()
        if component is None:
            return
        portal = self.server.portal
        portal.clear_override(component)
        self._send_json(200, {"component": component, "mode": portal.mode(component), "override": False})

    def _path(self) -> str:
        return self.path.split("?", 1)[0].split("#", 1)[0]

    def _component(self) -> str | None:
        first = self._path().strip("/").split("/", 1)[0]
        return first if first in COMPONENTS else None

    def _control_target(self) -> str | None:
        """The component a PUT/DELETE names, or None after answering 400/404 itself."""
        path = self._path()
        prefix = CONTROL_PATH + "/"
        if not path.startswith(prefix):
            self._send_json(404, {"error": f"not found: {self.path}"})
            return None
        component = path[len(prefix) :].strip("/")
        if component not in COMPONENTS:
            self._send_json(
                400, {"error": f"unknown component {component!r}; valid components: {', '.join(COMPONENTS)}"}
            )
            return None
        return component

    def _route(self, head: bool) -> None:
        path = self._path()
        if path == "/":
            self._send(200, "text/html; charset=utf-8", _index_page(), head)
        elif path.rstrip("/") == CONTROL_PATH:
            self._send_json(200, self.server.portal.control_state(), head)
        elif (component := self._component()) is not None:
            self._serve_component(component, head)
        else:
            self._send(404, "text/html; charset=utf-8", _page("Not Found", "<h1>Not Found</h1>"), head)

    def _serve_component(self, component: str, head: bool) -> None:
        portal = self.server.portal
        portal._count(component)
        mode = portal.mode(component)
        if mode == "slow":
            portal._stopping.wait(portal.slow_seconds)
        status, body = _component_page(component, mode)
        self._send(status, "text/html; charset=utf-8", body, head)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send_json(self, status: int, payload: object, head: bool = False) -> None:
        self._send(status, "application/json", json.dumps(payload).encode(), head)

    def _send(self, status: int, content_type: str, body: bytes, head: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if not head:
            self.wfile.write(body)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.portal", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument(
        "--no-schedule", action="store_true", help="keep every component up unless changed via /_control"
    )
    args = parser.parse_args(argv)
    schedule = None if args.no_schedule else DEFAULT_SCHEDULE
    cycle = None if args.no_schedule else DEFAULT_CYCLE
    portal = FlakyPortal(args.host, args.port, schedule=schedule, cycle_seconds=cycle).start()
    print(f"Flaky portal serving at {portal.url} (Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        portal.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
