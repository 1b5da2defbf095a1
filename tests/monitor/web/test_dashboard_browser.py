"""The dashboard in Debian's chromium with JavaScript off: sign in, see the outage and its screenshot,
acknowledge it and post an update, all by clicking."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser
from sqlalchemy import select
from werkzeug.serving import make_server

from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.models import OutageAcknowledgement, OutageUpdate
from monitor.web import create_app
from tests.monitor.web.desk_data import PASSWORD, Desk, desk_runtime, open_outage_with_a_severity_change

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def served(sqlite_url: str, tmp_path: Path) -> Iterator[tuple[str, Runtime, Desk]]:
    runtime = desk_runtime(sqlite_url, tmp_path)
    desk = open_outage_with_a_severity_change(runtime)
    server = make_server("127.0.0.1", 0, create_app(runtime), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", runtime, desk
    server.shutdown()
    runtime.close()


def test_an_ops_person_acknowledges_and_posts_an_update_without_javascript(
    browser: Browser, served: tuple[str, Runtime, Desk]
) -> None:
    url, runtime, desk = served
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(f"{url}/ops/")
        assert page.url == f"{url}/ops/sign-in"
        page.get_by_label("Name").fill("otto")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        assert page.url == f"{url}/ops/"
        row = page.locator(f"#outage-{desk.outage_id}")
        assert "Major outage" in row.inner_text() and "Not acknowledged" in row.inner_text()

        row.get_by_role("link", name=f"#{desk.outage_id}").click()
        assert page.url == f"{url}/ops/outages/{desk.outage_id}"
        screenshot = page.locator("#latest-failed img")
        # The screenshot is shown: the browser fetched and decoded it with the session cookie.
        assert screenshot.evaluate("img => img.complete && img.naturalWidth") == 4

        page.get_by_role("button", name="Acknowledge").click()
        assert page.url == f"{url}/ops/outages/{desk.outage_id}"
        assert "The outage is acknowledged." in page.get_by_role("status").inner_text()
        assert "otto" in page.locator("#acknowledged").inner_text()

        page.get_by_label("Update", exact=True).fill("Uploads fail; the operator is on it.")
        page.get_by_label("Public: show it on the status page").check()
        page.get_by_label("Language of the update").select_option("en")
        page.get_by_role("button", name="Post the update").click()
        assert "The update is posted." in page.get_by_role("status").inner_text()
        assert "Uploads fail; the operator is on it." in page.locator("#updates").inner_text()
    finally:
        context.close()
    with transaction(runtime.sessions) as session:
        acknowledged = session.scalars(select(OutageAcknowledgement)).one()
        update = session.scalars(select(OutageUpdate)).one()
        assert (acknowledged.acknowledged_by, update.author, update.public) == ("otto", "otto", True)
