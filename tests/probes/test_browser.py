"""The `browser` probe in Debian's real chromium against a small portal on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs

import pytest
from pydantic import ValidationError

from probes.browser import BrowserProbeSpec, close_browser, run_browser_async, run_browser_probe
from probes.browser import runner as browser_runner
from probes.result import EVIDENCE_LIMIT, CheckResult, ErrorClass, failed_step
from tests.probes.loopback import LOCATION, LoopbackHandler, LoopbackServer, serve

pytestmark = pytest.mark.timeout(60)

PASSWORD = "hunter2-Ω&secret"


def _page(title: str, body: str) -> bytes:
    return f"<!doctype html><html><head><title>{title}</title></head><body>{body}</body></html>".encode()


class _Handler(LoopbackHandler):
    agents: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Handler.agents.append(self.headers.get("User-Agent", ""))
        path = self.path.split("?")[0]
        if path == "/sign-in":
            form = (
                '<form method="post" action="/signed-in">'
                '<input id="user" name="user"><input id="password" name="password" type="password">'
                '<button type="submit">Sign in</button></form>'
            )
            self.answer(200, _page("Sign in", form))
        elif path == "/down":
            self.answer(503, _page("Down", "<p>Service unavailable</p>"))
        elif path == "/dead-button":
            self.answer(200, _page("Dead", '<button id="go" type="button">Go</button>'))
        elif path == "/set-cookie":
            body = '<a id="next" href="/cookies">next</a>'
            self.answer(200, _page("Cookie set", body), {"Set-Cookie": "visited=yes; Path=/"})
        elif path == "/cookies":
            marker = '<p id="has-cookie">yes</p>' if "visited=yes" in self.headers.get("Cookie", "") else ""
            self.answer(200, _page("Cookies", marker or '<p id="no-cookie">none</p>'))
        else:
            self.answer(404, _page("Not found", ""))

    def do_POST(self) -> None:
        form = parse_qs(self.read_body().decode())
        user = form.get("user", [""])[0]
        password = form.get("password", [""])[0]
        if user == "probe" and password == PASSWORD:
            # A careless portal that echoes the password: in the title and on the console.
            escaped = html.escape(password)
            script = f"<script>console.error('login debug: pw=' + {password!r})</script>"
            body = f'<h1>Welcome, probe</h1><div id="dashboard">ok</div>{script}'
            self.answer(200, _page(f"Dashboard {escaped}", body))
        else:
            self.answer(200, _page("Sign in failed", "<p>Wrong password</p>"))


class _Portal(LoopbackServer):
    handler_class = _Handler


@pytest.fixture(scope="module")
def portal() -> Iterator[str]:
    with serve(_Portal()) as server:
        yield server.base


@pytest.fixture(scope="module")
def loop_runner() -> Iterator[asyncio.Runner]:
    """One event loop for the module, as a worker has: the shared browser lives on it and is closed on it."""
    if not Path(browser_runner.chromium_path()).exists():
        pytest.fail("chromium is required for browser probe tests: `make test` installs Debian's chromium package")
    runner = asyncio.Runner()
    yield runner
    runner.run(close_browser())
    runner.close()


@pytest.fixture(autouse=True)
def password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTAL_PASSWORD", PASSWORD)


def spec(url: str, **fields: Any) -> BrowserProbeSpec:
    return BrowserProbeSpec.model_validate({"id": "pr-browser", "type": "browser", "url": url, **fields})


def run(loop_runner: asyncio.Runner, probe: BrowserProbeSpec) -> CheckResult:
    return loop_runner.run(run_browser_async(probe, LOCATION, session=None))


SIGN_IN_STEPS = [
    {"name": "fill user", "fill": {"selector": "#user", "value": "probe"}},
    {"name": "fill password", "fill": {"selector": "#password", "value": "${env:PORTAL_PASSWORD}"}},
    {"name": "submit", "click": "button[type=submit]"},
    {"name": "signed in", "wait_for": {"text": "Welcome"}},
]


def screenshot_of(result: CheckResult) -> bytes:
    """The screenshot the result carries (the runner writes no file), as its evidence names it."""
    line = next(line for line in result.evidence.splitlines() if line.startswith("screenshot: sha256:"))
    digest, size = line.removeprefix("screenshot: sha256:").split(" (")
    [attachment] = result.attachments
    assert (attachment.name, attachment.content_type) == ("screenshot", "image/png")
    png = attachment.data
    assert png.startswith(b"\x89PNG")
    assert hashlib.sha256(png).hexdigest() == digest == attachment.sha256
    assert size == f"{len(png)} bytes)"
    assert "\\x89PNG" not in repr(result) and digest not in repr(attachment)  # no bytes in a repr
    return png


def test_signs_in_with_fills_click_and_wait(portal: str, loop_runner: asyncio.Runner) -> None:
    _Handler.agents.clear()
    probe = spec(f"{portal}/sign-in", steps=SIGN_IN_STEPS, expect_selector="#dashboard", timeout="20s")
    result = run(loop_runner, probe)
    assert result.ok, result.evidence
    assert result.status_code == 200
    assert result.latency_ms is not None and result.latency_ms > 0
    assert failed_step(result.evidence) is None
    for name in ("fill user", "fill password", "submit", "signed in"):
        assert f"{name!r}" in result.evidence
    assert result.evidence.count(": passed in ") == 4
    assert f"final URL: {portal}/sign-in" in result.evidence
    assert "expect_selector '#dashboard': 1 found" in result.evidence
    assert "screenshot" not in result.evidence  # on_failure by default
    assert result.attachments == ()
    assert _Handler.agents and all(agent.startswith("PortalWatch/") for agent in _Handler.agents)


def test_a_passing_check_keeps_a_screenshot_when_asked_always(portal: str, loop_runner: asyncio.Runner) -> None:
    probe = spec(f"{portal}/cookies", expect_selector="#no-cookie", timeout="10s", screenshot="always")
    result = run(loop_runner, probe)
    assert result.ok, result.evidence
    png = screenshot_of(result)
    lines = result.evidence.splitlines()
    assert lines[1].startswith("screenshot: sha256:")  # near the top: never cut off by the evidence limit
    assert len(png) > 100


def test_env_secret_never_in_evidence_or_error(portal: str, loop_runner: asyncio.Runner) -> None:
    probe = spec(
        f"{portal}/sign-in",
        steps=SIGN_IN_STEPS,
        expect_selector="#missing",  # fails, so the whole evidence and a screenshot are kept
        timeout="20s",
    )
    result = run(loop_runner, probe)
    assert result.error_class is ErrorClass.ASSERTION
    assert result.error == "selector '#missing' not found on the page"
    assert "login debug: pw=[redacted]" in result.evidence  # console errors are shown, the secret is not
    assert "Dashboard [redacted]" in result.evidence
    for text in (result.evidence, result.error or ""):
        assert PASSWORD not in text
        assert html.escape(PASSWORD) not in text
    assert "${env:PORTAL_PASSWORD}" not in result.evidence  # not even its name is needed; steps show selectors


def test_unset_env_fails_the_step(portal: str, loop_runner: asyncio.Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PORTAL_PASSWORD")
    result = run(loop_runner, spec(f"{portal}/sign-in", steps=SIGN_IN_STEPS, timeout="10s", screenshot="never"))
    assert result.error_class is ErrorClass.ASSERTION
    assert result.error == "step 'fill password': environment variable PORTAL_PASSWORD is not set"
    assert failed_step(result.evidence) == "fill password"


def test_503_is_a_status_failure(portal: str, loop_runner: asyncio.Runner) -> None:
    result = run(loop_runner, spec(f"{portal}/down", steps=SIGN_IN_STEPS, timeout="10s"))
    assert result.error_class is ErrorClass.STATUS
    assert result.error == "expected a 2xx or 3xx page, got 503"
    assert result.status_code == 503
    assert "HTTP 503 Service Unavailable" in result.evidence
    assert "title: 'Down'" in result.evidence
    assert "== step" not in result.evidence  # no step runs on an error page
    screenshot_of(result)


def test_missing_text_names_the_step_and_keeps_a_screenshot(portal: str, loop_runner: asyncio.Runner) -> None:
    probe = spec(
        f"{portal}/dead-button",
        steps=[{"name": "press", "click": "#go"}, {"name": "done", "wait_for": {"text": "Welcome"}}],
        timeout="3s",
    )
    result = run(loop_runner, probe)
    assert result.error_class in (ErrorClass.TIMEOUT, ErrorClass.ASSERTION)
    assert result.error is not None and result.error.startswith("step 'done': ")
    assert "'Welcome' did not appear" in result.error
    assert failed_step(result.evidence) == "done"
    assert "'press' (click '#go'): passed in" in result.evidence
    assert "'done' (wait for text 'Welcome'): FAILED after" in result.evidence
    png = screenshot_of(result)
    assert len(png) > 100
    assert len(result.evidence) <= EVIDENCE_LIMIT


def test_missing_selector_to_click_names_the_step(portal: str, loop_runner: asyncio.Runner) -> None:
    probe = spec(
        f"{portal}/dead-button",
        steps=[{"name": "open menu", "click": "#menu"}, {"name": "later", "click": "#go"}],
        timeout="2s",
        screenshot="never",
    )
    result = run(loop_runner, probe)
    assert result.error == "step 'open menu': nothing to click at '#menu' within the check's 2000 ms deadline"
    assert result.error_class is ErrorClass.TIMEOUT
    assert "== step 2 'later': not run" in result.evidence
    assert "screenshot" not in result.evidence


def test_refused_port_is_a_connect_failure(loop_runner: asyncio.Runner, closed_port: int) -> None:
    result = run(loop_runner, spec(f"http://127.0.0.1:{closed_port}/", timeout="10s"))
    assert result.error_class is ErrorClass.CONNECT
    assert result.error == "could not load the page: ERR_CONNECTION_REFUSED"
    assert result.status_code is None and result.latency_ms is None
    assert "net::ERR_CONNECTION_REFUSED" in result.evidence


def test_checks_share_one_browser_but_not_cookies(portal: str, loop_runner: asyncio.Runner) -> None:
    first = run(
        loop_runner,
        spec(
            f"{portal}/set-cookie",
            steps=[{"name": "follow", "click": "#next"}],
            expect_selector="#has-cookie",  # the cookie is kept within a check
            timeout="10s",
        ),
    )
    assert first.ok, first.evidence
    browser = browser_runner.shared_browser()
    assert browser is not None and browser.is_connected()
    second = run(loop_runner, spec(f"{portal}/cookies", expect_selector="#no-cookie", timeout="10s"))
    assert second.ok, second.evidence
    assert browser_runner.shared_browser() is browser
    assert browser.contexts == []  # every check's context is closed


def test_concurrent_checks_share_the_loop(portal: str, loop_runner: asyncio.Runner) -> None:
    async def both() -> list[CheckResult]:
        probes = [
            spec(f"{portal}/sign-in", steps=SIGN_IN_STEPS, expect_selector="#dashboard", timeout="20s"),
            spec(f"{portal}/cookies", expect_selector="#no-cookie", timeout="20s"),
        ]
        return list(await asyncio.gather(*(run_browser_async(p, LOCATION) for p in probes)))

    results = loop_runner.run(both())
    assert all(result.ok for result in results), [result.evidence for result in results]


def test_sync_runner_uses_and_closes_its_own_browser(portal: str) -> None:
    result = run_browser_probe(spec(f"{portal}/down", timeout="10s", screenshot="never"), LOCATION)
    assert result.error_class is ErrorClass.STATUS
    assert result.error == "expected a 2xx or 3xx page, got 503"


@pytest.mark.parametrize(
    ("message", "error_class"),
    [
        ("net::ERR_NAME_NOT_RESOLVED at https://x.invalid/", ErrorClass.DNS),
        ("net::ERR_CONNECTION_REFUSED at http://127.0.0.1:1/", ErrorClass.CONNECT),
        ("net::ERR_CERT_AUTHORITY_INVALID at https://self-signed/", ErrorClass.TLS),
        ("net::ERR_CONNECTION_TIMED_OUT at https://slow/", ErrorClass.TIMEOUT),
        ("net::ERR_EMPTY_RESPONSE at http://x/", ErrorClass.CONNECT),
    ],
)
def test_navigation_errors_are_classified_by_code(message: str, error_class: ErrorClass) -> None:
    assert browser_runner._navigation_failure(message)[0] is error_class


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"url": "ftp://portal/"}, "url"),
        ({"steps": [{"name": "x", "click": "#a", "fill": {"selector": "#b", "value": "v"}}]}, "steps.0"),
        ({"steps": [{"name": "x"}]}, "steps.0"),
        ({"steps": [{"name": "x", "wait_for": {"selector": "#a", "text": "b"}}]}, "steps.0.wait_for"),
        ({"steps": [{"name": "x", "fill": {"selector": "#a", "value": "${token}"}}]}, "steps.0.fill.value"),
        ({"steps": [{"name": "x", "click": "#a"}, {"name": "x", "click": "#b"}]}, "steps"),
        ({"screenshot": "sometimes"}, "screenshot"),
        ({"expect_selector": ""}, "expect_selector"),
    ],
)
def test_validation_errors_name_the_field(fields: dict[str, Any], where: str) -> None:
    data = {"id": "pr-browser", "type": "browser", "url": "https://portal.example/", **fields}
    with pytest.raises(ValidationError) as caught:
        BrowserProbeSpec.model_validate(data)
    locations = [".".join(str(part) for part in error["loc"]) for error in caught.value.errors()]
    assert where in locations, locations


def test_a_full_config_parses() -> None:
    probe = BrowserProbeSpec.model_validate(
        {
            "id": "pr-sign-in-browser",
            "type": "browser",
            "url": "https://portal.example/sign-in",
            "timeout": "30s",
            "steps": SIGN_IN_STEPS,
            "expect_selector": "#dashboard",
            "screenshot": "always",
        }
    )
    assert probe.timeout.total_seconds() == 30
    assert [step.name for step in probe.steps] == ["fill user", "fill password", "submit", "signed in"]
    assert BrowserProbeSpec.model_validate(probe.model_dump()) == probe
