"""Every answer carries a Content-Security-Policy, nosniff and no-framing; chromium loads the page within its CSP."""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, ConsoleMessage, Page
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.serving import make_server

from monitor.web import create_app
from monitor.web.app import MAX_UPLOAD_BYTES
from tests.conftest import OFFLINE_CONFIG, ROOT, make_runtime

TOKEN = secrets.token_hex(32)
AUTH = {"Authorization": f"Bearer {TOKEN}"}
STATUS_CSS = ROOT / "monitor" / "web" / "static" / "status.css"


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    environ: dict[str, str] = field(default_factory=dict)
    data: bytes | None = None


# One call per route at least, and the error answers of each surface: the rule is "every answer".
CALLS = [
    Call("GET", "/", 200),
    Call("GET", "/api/v2/summary.json", 200),
    Call("GET", "/api/v2/status.json", 200),
    Call("GET", "/api/v2/components.json", 200),
    Call("GET", "/api/v2/incidents.json", 200),
    Call("GET", "/api/v2/incidents/unresolved.json", 200),
    Call("GET", "/static/status.css", 200),
    Call("GET", "/static/no-such.css", 404),
    Call("GET", "/no-such-page", 404),
    Call("GET", "/api/v2/no-such.json", 404),
    Call("POST", "/api/v2/summary.json", 405),
    Call("GET", "/api/ops/outages", 401),
    Call("GET", "/api/ops/outages", 401, headers={"Authorization": "Bearer wrong"}),
    Call("GET", "/api/ops/outages", 200, headers=AUTH),
    Call("PUT", "/api/ops/outages", 405, headers=AUTH),
    Call("GET", "/api/ops/outages/1", 404, headers=AUTH),
    Call("GET", "/api/ops/checks/1", 404, headers=AUTH),
    Call("GET", "/api/ops/checks/1/evidence/screenshot", 401),
    Call("GET", "/api/ops/checks/1/evidence/screenshot", 404, headers=AUTH),
    Call("POST", "/api/ops/outages", 422, headers=AUTH, data=b"{}"),
    Call("PATCH", "/api/ops/outages/1", 404, headers=AUTH, data=b"{}"),
    Call("GET", "/api/ops/maintenance", 200, headers=AUTH),
    Call("GET", "/api/ops/maintenance/1", 404, headers=AUTH),
    Call("POST", "/api/ops/maintenance", 422, headers=AUTH, data=b"{}"),
    Call("DELETE", "/api/ops/maintenance/1", 404, headers=AUTH),
    Call("GET", "/api/ops/paper-authorisations", 200, headers=AUTH),
    Call("GET", "/api/v1/paper-authorisations", 200),
    Call("GET", "/api/v1/paper-authorisations?current=maybe", 422),
    Call("GET", "/api/ops/locations", 200, headers=AUTH),
    Call("GET", "/api/ops/outbox", 401),
    Call("GET", "/api/ops/outbox", 200, headers=AUTH),
    Call("GET", "/api/ops/cases/no-such-case", 401),
    Call("GET", "/api/ops/cases/no-such-case", 404, headers=AUTH),
    Call("POST", "/api/ops/cases/import", 401),
    Call("POST", "/api/ops/cases/import", 400, headers=AUTH, data=b"\xff\xfe not utf-8"),
    Call("POST", "/api/ops/cases/import", 413, headers=AUTH, environ={"CONTENT_LENGTH": str(MAX_UPLOAD_BYTES + 1)}),
    Call("GET", f"/api/ops/imports/{'0' * 32}", 401),
    Call("GET", f"/api/ops/imports/{'0' * 32}", 404, headers=AUTH),
    Call("GET", "/api/ops/imports/not-a-job-id", 422, headers=AUTH),
    Call("GET", "/api/ops/no-such", 404, headers=AUTH),
    Call("GET", "/api/ops/letters", 401),
    Call("GET", "/api/ops/letters", 200, headers=AUTH),
    Call("GET", "/api/ops/notices", 200, headers=AUTH),
    Call("GET", "/api/ops/components", 200, headers=AUTH),
    Call("GET", "/api/ops/uptime", 200, headers=AUTH),
    Call("GET", "/api/ops/monitoring-gaps", 200, headers=AUTH),
    Call("GET", "/api/v1/uptime", 200),
    Call("POST", "/api/ops/outages/1/acknowledge", 404, headers=AUTH),
    Call("POST", "/api/ops/outages/1/updates", 404, headers=AUTH, data=b"{}"),
    Call("POST", "/api/ops/outages/1/false-positive", 404, headers=AUTH, data=b"{}"),
    Call("GET", "/api/ops/me", 200, headers=AUTH),
    Call("GET", "/api/ops/people", 401),
    Call("GET", "/api/ops/people", 200, headers=AUTH),
    Call("POST", "/api/ops/people", 422, headers=AUTH, data=b"{}"),
    Call("POST", "/api/ops/people/nobody/tokens", 404, headers=AUTH),
    Call("DELETE", "/api/ops/tokens/ab12cd34", 404, headers=AUTH),
    Call("GET", "/api/ops/audit", 200, headers=AUTH),
    Call("GET", "/ops/", 303),
    Call("GET", "/ops/sign-in", 200),
    Call("POST", "/ops/sign-in", 400, data=b"name=alice&password=wrong"),  # no CSRF token
    Call("POST", "/ops/sign-out", 400),  # no CSRF token
    # Every dashboard page and form, not signed in: to the sign-in page.
    Call("GET", "/ops/outages/1", 303),
    Call("GET", "/ops/outages/declare", 303),
    Call("POST", "/ops/outages/declare", 303),
    Call("POST", "/ops/outages/1/acknowledge", 303),
    Call("POST", "/ops/outages/1/updates", 303),
    Call("POST", "/ops/outages/1/correct", 303),
    Call("POST", "/ops/outages/1/false-positive", 303),
    Call("GET", "/ops/checks/1/evidence/screenshot", 303),
    Call("GET", "/ops/maintenance", 303),
    Call("POST", "/ops/maintenance", 303),
    Call("POST", "/ops/maintenance/1/cancel", 303),
    Call("GET", "/static/dashboard.css", 200),
    Call("GET", "/api/v1/verify/B8C7SG2A0CTSX", 404),
    Call("POST", "/api/v1/verify", 422, data=b""),
    Call("GET", "/letters/B8C7SG2A0CTSX.pdf", 404),
    Call("GET", "/letters/signing-certificate.pem", 200),
    Call("GET", "/verify", 200),
    Call("POST", "/verify", 400, data=b"code=B8C7SG2A0CTSX"),  # no CSRF token
    Call("GET", "/verify/B8C7SG2A0CTSX", 404),
    Call("POST", "/api/v1/cases/lookup", 404, data=b"{}"),
    Call("GET", "/case", 200),
    Call("POST", "/api/v1/paper-filing-requests", 422, data=b"{}"),
    Call("GET", "/paper-filing", 200),
    Call("GET", "/metrics", 200),
    Call("POST", "/slack/interactivity", 503, data=b"payload=%7B%7D"),  # no signing secret set here
]


@pytest.fixture
def app(sqlite_url: str) -> Iterator[Flask]:
    runtime = make_runtime(sqlite_url, OFFLINE_CONFIG, ops_token=TOKEN)
    yield create_app(runtime)
    runtime.close()


def assert_protected(path: str, headers: Any) -> None:
    csp = headers.get("Content-Security-Policy", "")
    directives = {d.strip().split(" ", 1)[0]: d.strip() for d in csp.split(";") if d.strip()}
    assert directives.get("default-src") == "default-src 'none'", (path, csp)
    assert directives.get("frame-ancestors") == "frame-ancestors 'none'", (path, csp)
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, (path, csp)
    assert headers.get("X-Content-Type-Options") == "nosniff", path
    assert headers.get("X-Frame-Options") == "DENY", path


@pytest.mark.parametrize("call", CALLS, ids=[f"{c.method} {c.path} {c.status}" for c in CALLS])
def test_every_answer_carries_a_content_security_policy_nosniff_and_no_framing(app: Flask, call: Call) -> None:
    with app.test_client().open(  # closed: a static file's answer holds the file open
        call.path, method=call.method, headers=call.headers, data=call.data, environ_overrides=call.environ
    ) as response:
        assert response.status_code == call.status, response.get_data(as_text=True)
        assert_protected(call.path, response.headers)
        if call.path.startswith(("/api/ops/", "/ops/")):
            assert response.headers["Cache-Control"] == "no-store"


def test_the_calls_above_reach_every_route_of_the_app(app: Flask) -> None:
    # A route added later without a call here would go unchecked: this fails until it gets one.
    adapter = app.url_map.bind("status.test")
    reached = set()
    for call in CALLS:
        try:
            endpoint, _ = adapter.match(call.path, method=call.method)
        except (NotFound, MethodNotAllowed):  # the 404 and 405 calls match no endpoint, by design
            continue
        reached.add(endpoint)
    assert reached == {rule.endpoint for rule in app.url_map.iter_rules()}


def test_pages_load_only_their_own_stylesheet_and_json_loads_nothing(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/").headers["Content-Security-Policy"]
    api = client.get("/api/v2/summary.json").headers["Content-Security-Policy"]
    assert "style-src 'self'" in page and "script-src" not in page
    assert api == "default-src 'none'; frame-ancestors 'none'"


# ---- in a real browser ----------------------------------------------------------------------------


# Recorded from the first script that runs in every document, before the page's own content.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


@dataclass
class Served:
    url: str
    paths: list[str]  # what the app was asked for, in order: proves a refused frame was really requested


@pytest.fixture
def served(app: Flask) -> Iterator[Served]:
    paths: list[str] = []

    def recording(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        paths.append(environ["PATH_INFO"])
        return app(environ, start_response)

    server = make_server("127.0.0.1", 0, recording, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Served(f"http://127.0.0.1:{server.server_port}/", paths)
    server.shutdown()


def static_site(pages: dict[str, str]) -> tuple[ThreadingHTTPServer, str]:
    """Another origin (its own port) serving these HTML pages, with no security headers of its own."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            body = pages.get(self.path, "").encode()
            self.send_response(200 if self.path in pages else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def css_colour(hex_colour: str) -> str:
    red, green, blue = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


def banner_background(indicator: str) -> str:
    """What status.css says the banner's background is for this indicator, as getComputedStyle reports it."""
    found = re.search(rf"\.banner\.{indicator}\s*\{{\s*background:\s*(#[0-9a-fA-F]{{6}})", STATUS_CSS.read_text())
    assert found, f"status.css has no background for .banner.{indicator}"
    return css_colour(found.group(1))


def watch_console(page: Page) -> list[str]:
    messages: list[str] = []

    def record(message: ConsoleMessage) -> None:
        messages.append(f"{message.type}: {message.text}")

    page.on("console", record)
    return messages


def csp_messages(messages: list[str]) -> list[str]:
    return [m for m in messages if "Content Security Policy" in m or "Refused to" in m]


@pytest.mark.timeout(60)
def test_the_status_page_loads_with_no_content_security_policy_violations(browser: Browser, served: Served) -> None:
    page = browser.new_page()
    try:
        page.add_init_script(RECORD_VIOLATIONS)
        console = watch_console(page)
        response = page.goto(served.url, wait_until="load")
        assert response is not None and response.status == 200
        assert "/static/status.css" in served.paths  # the stylesheet was fetched ...
        banner = page.locator(".banner")
        indicator = next(c for c in (banner.get_attribute("class") or "").split() if c != "banner")
        # ... and applied: the banner has the colour status.css gives it, not the browser's default.
        assert banner.evaluate("e => getComputedStyle(e).backgroundColor") == banner_background(indicator)
        assert banner.evaluate("e => getComputedStyle(e).color") == "rgb(255, 255, 255)"
        assert page.evaluate("window.__cspViolations") == []
        assert csp_messages(console) == []

        # The listeners do see a violation when there is one: an inline style the policy forbids.
        page.evaluate(
            "() => { const s = document.createElement('style'); s.textContent = 'h1{}'; document.head.append(s); }"
        )
        page.wait_for_function("window.__cspViolations.length > 0", timeout=5000)
        assert page.evaluate("window.__cspViolations")[0].startswith("style-src")
    finally:
        page.close()


@pytest.mark.timeout(60)
def test_a_page_on_another_site_cannot_frame_the_status_page(browser: Browser, served: Served) -> None:
    # The control frame shows that a frame from an origin that allows framing does load here.
    control, control_url = static_site({"/frameable.html": '<!doctype html><p id="control">framed fine</p>'})
    framer, framer_url = static_site(
        {
            "/framer.html": (
                "<!doctype html><title>framer</title>"
                f'<iframe id="status" src="{served.url}" width="800" height="400"></iframe>'
                f'<iframe id="control" src="{control_url}/frameable.html"></iframe>'
            )
        }
    )
    page = browser.new_page()
    try:
        console = watch_console(page)
        page.goto(f"{framer_url}/framer.html", wait_until="load")
        control_frame = page.locator("iframe#control").element_handle().content_frame()  # type: ignore[union-attr]
        assert control_frame is not None
        assert control_frame.locator("#control").inner_text() == "framed fine"

        assert "/" in served.paths  # the browser did ask the app for the page ...
        status_frame = page.locator("iframe#status").element_handle().content_frame()  # type: ignore[union-attr]
        assert status_frame is not None
        # ... and refused to show it: the frame holds chromium's error page, not the status page.
        assert not status_frame.url.startswith(served.url), status_frame.url
        assert status_frame.locator(".banner, #component-pr-portal").count() == 0
        assert "Test portal status" not in status_frame.content()
        page.wait_for_timeout(200)  # console events arrive asynchronously
        assert any("frame-ancestors 'none'" in m for m in csp_messages(console)), console
    finally:
        page.close()
        for server in (framer, control):
            server.shutdown()
            server.server_close()


def test_the_stylesheet_is_the_only_thing_the_page_loads(app: Flask) -> None:
    # With default-src 'none' a script, font or image added later would be blocked in browsers: this
    # keeps the template honest about what it needs (the CSP allows style-src 'self' and images only).
    html = app.test_client().get("/").get_data(as_text=True)
    assert "<script" not in html and " style=" not in html and "<style" not in html
    assert re.findall(r'<link[^>]+href="([^"]+)"', html) == ["/static/status.css"]
