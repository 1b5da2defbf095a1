"""The public status page, judged in a real browser (Debian's chromium) during and after an outage."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page
from werkzeug.serving import make_server

from demo.portal import FlakyPortal
from monitor.runtime import Runtime
from monitor.web import create_app
from tests.conftest import make_runtime, portal_config
from tests.e2e.story import Story, wait_until
from tests.e2e.test_embedded import embedded


@pytest.fixture
def served(sqlite_url: str, portal: FlakyPortal) -> Iterator[tuple[str, Runtime]]:
    runtime = make_runtime(sqlite_url, portal_config(portal))
    server = make_server("127.0.0.1", 0, create_app(runtime), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/", runtime
    server.shutdown()
    runtime.close()


def fits_without_sideways_scrolling(page: Page) -> bool:
    return bool(page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth"))


@pytest.mark.timeout(120)
def test_status_page_shows_an_outage_as_it_happens_and_its_record_after(
    browser: Browser, served: tuple[str, Runtime], portal: FlakyPortal, tmp_path: Path
) -> None:
    url, runtime = served
    story = Story(runtime, create_app(runtime).test_client(), portal, datetime.now(UTC))
    phone = browser.new_page(viewport={"width": 390, "height": 844})
    desktop = browser.new_page(viewport={"width": 1280, "height": 900})
    with embedded(runtime):
        wait_until("a first check", lambda: story.checks() >= 1)
        portal.set_mode("pr", "down")
        wait_until("the outage", lambda: story.component_status("pr-portal") == "major_outage")
        for page in (phone, desktop):
            page.goto(url)
            assert page.get_by_role("status").inner_text() == "Partial System Outage"
            assert page.locator("#component-pr-portal .status").inner_text() == "Major outage"
            assert page.locator("#component-employer-portal .status").inner_text() == "Operational"
            assert "% uptime over the last 90 days" in page.locator("#component-pr-portal .uptime").inner_text()
            ongoing = page.locator('tr[data-ongoing="true"]')
            assert ongoing.count() == 1
            assert "Ongoing" in ongoing.inner_text() and "EST" in ongoing.inner_text()
            assert fits_without_sideways_scrolling(page)
        phone.screenshot(path=str(tmp_path / "during-phone.png"), full_page=True)

        portal.set_mode("pr", "up")
        wait_until("recovery", lambda: story.component_status("pr-portal") == "operational")
    for page in (phone, desktop):
        page.reload()
        assert page.get_by_role("status").inner_text() == "All Systems Operational"
        row = page.locator('tr[data-ongoing="false"]')
        assert row.count() == 1
        assert row.locator("time").count() == 2  # a start and an end, each machine-readable
        assert fits_without_sideways_scrolling(page)
    assert page.locator("html").get_attribute("lang") == "en"
    desktop.screenshot(path=str(tmp_path / "after-desktop.png"), full_page=True)
