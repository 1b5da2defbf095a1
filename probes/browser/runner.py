"""Run a `browser` probe: headless Chromium loads the page, runs the steps, looks for the final selector.

One Chromium per worker process, launched on first use and reused by every check on the same event
loop (`_SHARED`); each check gets a browser context of its own (its own cookies and storage), closed
when the check ends. Everything uses Playwright's async API, so the engine's loop keeps running the
other checks while a page loads. `close_browser()` shuts the shared browser down (worker shutdown).

The whole check is bounded by `spec.timeout`: Playwright's own timeouts end at the check's deadline
less a small reserve, kept to take the failure screenshot and close the context; `asyncio.timeout`
backs them up.

Verdict: a navigation error is DNS / CONNECT / TLS / TIMEOUT by Chromium's net::ERR_* code; a 4xx/5xx
main response is STATUS; a step whose wait ran into the deadline is TIMEOUT, any other step error
ASSERTION ("step '<name>': …", and the evidence starts with `failed step: <name>`); a missing
`expect_selector` is ASSERTION.

A screenshot (full page, PNG) comes back as the result's `screenshot` attachment; the runner writes no
file. The evidence names it with `screenshot: sha256:<hex> (<n> bytes)`, so the check log's chain, which
covers the evidence, covers the picture: where it is kept is the recorder's business.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from probes.browser.spec import BrowserProbeSpec, BrowserStep
from probes.http.runner import Failure, _bounded, _ms, _utc_now
from probes.identity import user_agent
from probes.result import FAILED_STEP, SHA256_PREFIX, Attachment, CheckResult, ErrorClass, judged, piece_line
from probes.steps.runner import _Secrets
from probes.steps.spec import ENV_PREFIX, REFERENCE

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page, Playwright

__all__ = [
    "CHROMIUM_ARGS",
    "SCREENSHOT",
    "close_browser",
    "run_browser_async",
    "run_browser_probe",
]

# Without these, chromium reaches out to Google's services at start (and needs a sandbox this host lacks).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAUNCH_TIMEOUT_MS = 30_000  # starting Chromium; shared by the checks waiting for it, not one check's budget
CLOSE_TIMEOUT_S = 5.0  # closing a context after the check
RESERVE_MAX_S = 3.0  # of the check's time kept back for the failure screenshot and cleanup
RESERVE_SHARE = 0.2
CONSOLE_ERRORS = 5  # console errors shown in the evidence
CONSOLE_CHARS = 300
TITLE_CHARS = 200
SCREENSHOT_NAME = "screenshot"
SCREENSHOT_TYPE = "image/png"
SCREENSHOT = f"{SCREENSHOT_NAME}: {SHA256_PREFIX}"
_NET_ERROR = re.compile(r"net::(ERR_[A-Z0-9_]+)")
_DNS_ERRORS = {"ERR_NAME_NOT_RESOLVED", "ERR_NAME_RESOLUTION_FAILED", "ERR_DNS_TIMED_OUT"}
_TIMEOUT_ERRORS = {"ERR_TIMED_OUT", "ERR_CONNECTION_TIMED_OUT"}


def _errors() -> tuple[type[Exception], type[Exception]]:
    """Playwright's Error and TimeoutError, imported where a browser check runs: importing this kind
    (the registry does, everywhere) needs no playwright."""
    from playwright.async_api import Error, TimeoutError

    return Error, TimeoutError


CHROMIUM_ENV = "PORTALWATCH_CHROMIUM"  # the Chromium executable, when not Debian's on the PATH


def chromium_path() -> str:
    return os.environ.get(CHROMIUM_ENV) or shutil.which("chromium") or "/usr/bin/chromium"


# --- the shared browser ------------------------------------------------------------------------------


class _BrowserHolder:
    """One Playwright driver and one Chromium, bound to the event loop that started them."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.lock: asyncio.Lock | None = None
        self.playwright: Playwright | None = None
        self.browser: Browser | None = None
        self._launching: asyncio.Task[Browser] | None = None

    async def get(self) -> Browser:
        loop = asyncio.get_running_loop()
        if self.loop is not loop:
            self._forget()
            self.loop, self.lock = loop, asyncio.Lock()
        lock = self.lock
        if lock is None:  # set just above; for the type checker
            raise RuntimeError("browser holder has no lock")
        async with lock:
            if self.browser is not None and self.browser.is_connected():
                return self.browser
            if self._launching is None or self._launching.done():
                self._launching = loop.create_task(self._launch())
                self._launching.add_done_callback(_retrieve)
            task = self._launching
        # Shielded: a check that runs out of time while Chromium starts leaves the launch to finish
        # for the next check, rather than half a browser.
        return await asyncio.shield(task)

    async def _launch(self) -> Browser:
        PlaywrightError = _errors()[0]
        executable = chromium_path()
        if not Path(executable).exists():
            raise RuntimeError(f"chromium not found at {executable}: install Debian's chromium package")
        if self.playwright is None:
            from playwright.async_api import async_playwright

            self.playwright = await async_playwright().start()
        if self.browser is not None:  # disconnected (crashed): let go of it
            with contextlib.suppress(PlaywrightError):
                await self.browser.close()
        self.browser = await self.playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, timeout=LAUNCH_TIMEOUT_MS
        )
        return self.browser

    async def close(self) -> None:
        """Close the browser and the driver; only on the loop that started them."""
        PlaywrightError = _errors()[0]
        if self.loop is not None and self.loop is not asyncio.get_running_loop():
            raise RuntimeError("close the shared browser on the event loop that started it")
        if self._launching is not None and not self._launching.done():
            with contextlib.suppress(Exception):
                await self._launching
        browser, playwright = self.browser, self.playwright
        self.browser = self.playwright = self._launching = None
        self.loop = self.lock = None
        if browser is not None:
            with contextlib.suppress(PlaywrightError):
                await browser.close()
        if playwright is not None:
            await playwright.stop()

    def _forget(self) -> None:
        """Drop an instance started on another loop. A still running loop closes it itself; one already
        closed took the driver's pipes with it, and the driver exits when they close."""
        old_loop, browser, playwright = self.loop, self.browser, self.playwright
        self.browser = self.playwright = self._launching = None
        if old_loop is None or old_loop.is_closed() or not old_loop.is_running():
            return

        async def shut() -> None:
            PlaywrightError = _errors()[0]
            if browser is not None:
                with contextlib.suppress(PlaywrightError):
                    await browser.close()
            if playwright is not None:
                await playwright.stop()

        asyncio.run_coroutine_threadsafe(shut(), old_loop)


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved by whoever awaits it; this only silences "never retrieved"


_SHARED = _BrowserHolder()


def shared_browser() -> Browser | None:
    """The worker's shared browser, if it has been started (for tests and health checks)."""
    return _SHARED.browser


async def close_browser() -> None:
    """Close the worker's shared browser (at shutdown, on the loop that ran the checks)."""
    await _SHARED.close()


# --- running a check ---------------------------------------------------------------------------------


def run_browser_probe(
    spec: BrowserProbeSpec, location: str, *, clock: Callable[[], datetime] = _utc_now, **_: Any
) -> CheckResult:
    """Run the check once on an event loop and a browser of its own, both closed before returning."""

    async def main() -> CheckResult:
        holder = _BrowserHolder()
        try:
            return await _run(spec, location, clock, holder)
        finally:
            await holder.close()

    return asyncio.run(main())


async def run_browser_async(
    spec: BrowserProbeSpec,
    location: str,
    *,
    session: Any = None,  # the engine's HTTP session: unused, the browser has its own network stack
    clock: Callable[[], datetime] = _utc_now,
) -> CheckResult:
    """Run the check once on the running loop, in a new context of the worker's shared browser."""
    return await _run(spec, location, clock, _SHARED)


@dataclass
class _Outcome:
    lines: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    failure: Failure | None = None
    failed_step: str | None = None
    status: int | None = None
    latency_ms: float | None = None
    screenshot: bytes | None = None


async def _run(
    spec: BrowserProbeSpec, location: str, clock: Callable[[], datetime], holder: _BrowserHolder
) -> CheckResult:
    PlaywrightError = _errors()[0]
    secrets = _Secrets()
    env: dict[str, str | None] = {}
    for step in spec.steps:
        for var in step.env_names():
            env[var] = os.environ.get(var)
            secrets.add(env[var] or "")
    loop = asyncio.get_running_loop()
    timeout_s = spec.timeout.total_seconds()
    started_at = clock()
    start = loop.time()
    deadline = start + timeout_s
    work_deadline = deadline - min(RESERVE_MAX_S, timeout_s * RESERVE_SHARE)
    outcome = _Outcome()
    outcome.lines.append(f"GET {spec.url}")
    context: BrowserContext | None = None
    try:
        async with asyncio.timeout_at(deadline):
            browser = await holder.get()
            context = await browser.new_context(user_agent=user_agent(location))
            page = await context.new_page()
            page.on("console", lambda message: _console(outcome, message.type, message.text))
            page.on("pageerror", lambda error: _console(outcome, "pageerror", str(error)))
            await _check(spec, page, env, outcome, loop, start, work_deadline, timeout_s)
            if spec.screenshot == "always" or (spec.screenshot == "on_failure" and outcome.failure is not None):
                with contextlib.suppress(PlaywrightError):
                    outcome.screenshot = await page.screenshot(
                        full_page=True, timeout=max(1.0, (deadline - loop.time()) * 1000)
                    )
    except TimeoutError:
        if outcome.failure is None:
            outcome.failure = ErrorClass.TIMEOUT, f"the check did not finish within its {_ms(timeout_s)} ms deadline"
    finally:
        if context is not None:
            with contextlib.suppress(PlaywrightError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(context.close()), CLOSE_TIMEOUT_S)
    head: list[str] = []
    if outcome.failed_step is not None:
        head.append(f"{FAILED_STEP}{outcome.failed_step}")
    head.append(f"probed from: {location}")
    lines = [*outcome.lines, *outcome.steps]
    if outcome.console:
        lines.append(f"console errors (up to {CONSOLE_ERRORS}):")
        lines.extend(f"  {line}" for line in outcome.console[:CONSOLE_ERRORS])
    attachments: tuple[Attachment, ...] = ()
    if outcome.screenshot is not None:
        screenshot = Attachment(SCREENSHOT_NAME, SCREENSHOT_TYPE, outcome.screenshot)
        attachments = (screenshot,)
        # Named after the secrets are redacted, near the top (the evidence is cut at its limit): a digest
        # is no secret, and must reach the evidence whole.
        evidence = _bounded(
            "\n".join(
                [
                    secrets.redact("\n".join(head)),
                    piece_line(screenshot),
                    secrets.redact("\n".join(lines)),
                ]
            )
        )
    else:
        evidence = _bounded(secrets.redact("\n".join([*head, *lines])))
    failure = outcome.failure
    if failure is not None:
        failure = failure[0], secrets.redact(failure[1])
    return judged(
        spec.id,
        location,
        started_at,
        failure,
        evidence,
        latency_ms=outcome.latency_ms,
        status_code=outcome.status,
        attachments=attachments,
    )


async def _check(
    spec: BrowserProbeSpec,
    page: Page,
    env: dict[str, str | None],
    outcome: _Outcome,
    loop: asyncio.AbstractEventLoop,
    start: float,
    work_deadline: float,
    timeout_s: float,
) -> None:
    """Load, step, look: fills `outcome`, stops at the first failure."""
    PlaywrightError, PlaywrightTimeoutError = _errors()

    def remaining_ms() -> float:
        return max(1.0, (work_deadline - loop.time()) * 1000)

    budget = f"the check's {_ms(timeout_s)} ms deadline"
    try:
        response = await page.goto(spec.url, wait_until="load", timeout=remaining_ms())
    except PlaywrightTimeoutError:
        outcome.lines.append(f"no page: load did not finish within {budget}")
        outcome.failure = ErrorClass.TIMEOUT, f"page did not load within {budget}"
        return
    except PlaywrightError as exc:
        message = _first_line(exc)
        outcome.lines.append(f"no page: {message}")
        outcome.failure = _navigation_failure(message)
        return
    outcome.latency_ms = (loop.time() - start) * 1000
    outcome.lines.append(f"final URL: {page.url}")
    if response is not None:
        outcome.status = response.status
        outcome.lines.append(f"HTTP {response.status} {response.status_text}".rstrip())
    outcome.lines.append(f"title: {(await _title(page))!r}")
    outcome.lines.append(f"time: {_ms(loop.time() - start)} ms to load")
    if response is not None and not 200 <= response.status < 400:
        outcome.failure = ErrorClass.STATUS, f"expected a 2xx or 3xx page, got {response.status}"
        return

    for index, step in enumerate(spec.steps, start=1):
        step_start = loop.time()
        failure = await _step(page, step, env, remaining_ms(), budget)
        took = _ms(loop.time() - step_start)
        label = f"== step {index} {step.name!r} ({step.action})"
        if failure is None:
            outcome.steps.append(f"{label}: passed in {took} ms")
            continue
        outcome.steps.append(f"{label}: FAILED after {took} ms: {failure[1]}")
        outcome.steps.extend(
            f"== step {later} {s.name!r}: not run" for later, s in enumerate(spec.steps, start=1) if later > index
        )
        outcome.failed_step = step.name
        outcome.failure = failure[0], f"step {step.name!r}: {failure[1]}"
        outcome.steps.append(f"page after the step: {page.url} title {(await _title(page))!r}")
        return
    outcome.latency_ms = (loop.time() - start) * 1000
    if spec.steps:
        outcome.steps.append(f"page after the steps: {page.url} title {(await _title(page))!r}")

    if spec.expect_selector is not None:
        with contextlib.suppress(PlaywrightError):  # a click's navigation still loading: count what is there
            await page.wait_for_load_state("load", timeout=remaining_ms())
        try:
            count = await page.locator(spec.expect_selector).count()
        except PlaywrightError as exc:
            outcome.failure = ErrorClass.ASSERTION, f"expect_selector {spec.expect_selector!r}: {_first_line(exc)}"
            return
        outcome.steps.append(f"expect_selector {spec.expect_selector!r}: {count} found on {page.url}")
        if count == 0:
            outcome.failure = ErrorClass.ASSERTION, f"selector {spec.expect_selector!r} not found on the page"


async def _step(
    page: Page, step: BrowserStep, env: dict[str, str | None], timeout_ms: float, budget: str
) -> Failure | None:
    PlaywrightError, PlaywrightTimeoutError = _errors()
    try:
        if step.fill is not None:
            value = _substitute(step.fill.value, env)
            if value is None:
                missing = next(var for var in step.env_names() if env.get(var) is None)
                return ErrorClass.ASSERTION, f"environment variable {missing} is not set"
            await page.fill(step.fill.selector, value, timeout=timeout_ms)
        elif step.click is not None:
            await page.click(step.click, timeout=timeout_ms)
        elif step.wait_for is not None and step.wait_for.selector is not None:
            await page.wait_for_selector(step.wait_for.selector, state="visible", timeout=timeout_ms)
        elif step.wait_for is not None and step.wait_for.text is not None:
            await page.get_by_text(step.wait_for.text).first.wait_for(state="visible", timeout=timeout_ms)
    except PlaywrightTimeoutError:
        what = {
            "fill": "no field to fill",
            "click": "nothing to click",
        }
        kind = "fill" if step.fill is not None else "click" if step.click is not None else "wait"
        if kind == "wait":
            target = step.action.removeprefix("wait for ")
            return ErrorClass.TIMEOUT, f"{target} did not appear within {budget}"
        selector = step.fill.selector if step.fill is not None else step.click
        return ErrorClass.TIMEOUT, f"{what[kind]} at {selector!r} within {budget}"
    except PlaywrightError as exc:
        return ErrorClass.ASSERTION, _first_line(exc)
    return None


def _substitute(text: str, env: dict[str, str | None]) -> str | None:
    missing = False

    def value(match: re.Match[str]) -> str:
        nonlocal missing
        var = match.group(1)[len(ENV_PREFIX) :]
        found = env.get(var)
        if found is None:
            missing = True
            return ""
        return found

    result = REFERENCE.sub(value, text)
    return None if missing else result


def _navigation_failure(message: str) -> Failure:
    match = _NET_ERROR.search(message)
    code = match.group(1) if match else ""
    if code in _DNS_ERRORS:
        error_class = ErrorClass.DNS
    elif code.startswith(("ERR_CERT_", "ERR_SSL_", "ERR_BAD_SSL")):
        error_class = ErrorClass.TLS
    elif code in _TIMEOUT_ERRORS:
        error_class = ErrorClass.TIMEOUT
    else:
        error_class = ErrorClass.CONNECT
    return error_class, f"could not load the page: {code or message}"


def _console(outcome: _Outcome, kind: str, text: str) -> None:
    if kind in ("error", "pageerror") and len(outcome.console) < CONSOLE_ERRORS:
        text = " ".join(text.split())
        outcome.console.append(text if len(text) <= CONSOLE_CHARS else text[:CONSOLE_CHARS] + "…")


async def _title(page: Page) -> str:
    PlaywrightError = _errors()[0]
    try:
        title = await page.title()
    except PlaywrightError:
        return ""
    return title if len(title) <= TITLE_CHARS else title[:TITLE_CHARS] + "…"


def _first_line(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).splitlines()[0].split()) if str(text).strip() else type(exc).__name__
