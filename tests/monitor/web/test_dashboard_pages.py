"""The dashboard's pages show the desk as it stands, to everyone signed in: open outages with their severity
history, each probe at each location, blind locations, interrupted monitoring, maintenance, one outage with
its evidence (the screenshot inline) and its relief; forms only to those who may act."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from monitor.runtime import Runtime
from monitor.web import create_app
from tests.monitor.web.desk_data import (
    PEOPLE,
    SCREENSHOT,
    Desk,
    desk_runtime,
    open_outage_with_a_severity_change,
    signed_in,
    troubles_elsewhere,
)


@pytest.fixture
def runtime(sqlite_url: str, tmp_path: Path) -> Iterator[Runtime]:
    runtime = desk_runtime(sqlite_url, tmp_path)
    yield runtime
    runtime.close()


@pytest.fixture
def desk(runtime: Runtime) -> Desk:
    made = open_outage_with_a_severity_change(runtime)
    troubles_elsewhere(runtime)
    return made


@pytest.fixture
def app(runtime: Runtime, desk: Desk) -> Flask:
    return create_app(runtime)


def page(client: FlaskClient, path: str, status: int = 200) -> str:
    response = client.get(path)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_data(as_text=True)


def section(html: str, id_: str) -> str:
    found = re.search(rf'<(section|table|ul|div|tr) [^>]*id="{id_}".*?</\1>', html, re.S)
    assert found, f"no #{id_} in the page"
    return found.group(0)


@pytest.mark.parametrize("name", sorted(PEOPLE))
def test_the_overview_shows_what_is_wrong_now_to_everyone_signed_in(app: Flask, desk: Desk, name: str) -> None:
    html = page(signed_in(app.test_client(), name), "/ops/")
    opened = section(html, "open-outages")
    row = section(opened, f"outage-{desk.outage_id}").replace("\u00a0", " ")
    assert "Permanent residence portal" in row and "Major outage" in row
    # Its severity history: opened partial at the upload's first failure, major from the home page's.
    assert re.search(r"9:01 a\.m\. EST</time>: opened — <span class=\"severity-partial_outage\">", row), row
    assert re.search(r"9:03 a\.m\. EST</time>: severity changed — <span class=\"severity-major_outage\">", row), row
    assert "Not acknowledged" in row and "local" in row  # the failing location
    assert "0 case(s), 0 extended, 0 paper authorisation(s)" in row
    assert "Times are shown in this time zone: <strong>America/Toronto</strong>" in html

    blind = section(html, "blind-locations")
    assert "vancouver" in blind and "expected 200, got 503" in blind
    gaps = section(html, "interrupted")
    assert "Employer portal" in gaps
    assert "Permanent residence portal" in gaps and "counted neither as uptime nor as outage" in gaps
    pr = section(html, "component-pr-portal")
    assert "pr-home" in pr and "pr-upload" in pr and pr.count('class="state-down"') == 2
    assert "Blind" in pr  # vancouver, in the table of each component
    maintenance = section(html, "maintenance")
    assert "Database upgrade" in maintenance and "Certificate renewal" in maintenance
    assert 'id="signed-in" data-name="' + name in html
    # Acting is for ops and above: a viewer is not offered the declaration form.
    assert ("/ops/outages/declare" in html) == (name != "vera")


@pytest.mark.parametrize("name", sorted(PEOPLE))
def test_an_outage_s_page_shows_its_history_evidence_and_relief(app: Flask, desk: Desk, name: str) -> None:
    html = page(signed_in(app.test_client(), name), f"/ops/outages/{desk.outage_id}")
    facts = section(html, "facts")
    assert "Open" in facts and "Observed by the probes" in facts and "still ongoing" in facts
    assert "opened" in facts and "severity changed" in facts
    assert f"#{desk.first_check_id} (pr-upload, local)" in section(html, "first-failed")
    latest = section(html, "latest-failed")
    assert f"#{desk.screenshot_check_id} (pr-home, local)" in latest
    src = f"/ops/checks/{desk.screenshot_check_id}/evidence/screenshot"
    assert f'<img src="{src}"' in latest
    relief = section(html, "relief")
    assert 'id="relief-cases">0<' in relief and 'id="relief-paper">0<' in relief
    can_act = name != "vera"
    for action in ("acknowledge", "updates", "correct", "false-positive"):
        assert (f'action="/ops/outages/{desk.outage_id}/{action}"' in html) == can_act, action


def test_the_screenshot_is_served_to_a_signed_in_person_as_it_was_kept(app: Flask, desk: Desk) -> None:
    path = f"/ops/checks/{desk.screenshot_check_id}/evidence/screenshot"
    stranger = app.test_client().get(path)
    assert stranger.status_code == 303 and stranger.headers["Location"] == "/ops/sign-in"
    client = signed_in(app.test_client(), "vera")
    response = client.get(path)
    assert response.status_code == 200 and response.data == SCREENSHOT
    assert response.mimetype == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Disposition"] == f'inline; filename="check-{desk.screenshot_check_id}-screenshot"'
    assert client.get(f"/ops/checks/{desk.first_check_id}/evidence/screenshot").status_code == 404
    assert client.get(f"/ops/checks/{desk.screenshot_check_id}/evidence/..%2Fetc").status_code == 404


def test_an_unknown_outage_is_a_404_page(app: Flask) -> None:
    html = page(signed_in(app.test_client(), "vera"), "/ops/outages/999999", status=404)
    assert "There is no outage #999999." in html


def test_the_maintenance_page_lists_windows_and_offers_forms_to_ops(app: Flask) -> None:
    viewer = page(signed_in(app.test_client(), "vera"), "/ops/maintenance")
    assert "Database upgrade" in viewer and "In progress" in viewer and "Certificate renewal" in viewer
    assert 'id="announce"' not in viewer and "/cancel" not in viewer
    ops = page(signed_in(app.test_client(), "otto"), "/ops/maintenance")
    assert 'id="announce"' in ops and ops.count("/cancel") == 2


def test_a_viewer_may_not_open_the_declaration_form(app: Flask) -> None:
    assert signed_in(app.test_client(), "vera").get("/ops/outages/declare").status_code == 403
    form = page(signed_in(app.test_client(), "otto"), "/ops/outages/declare")
    assert 'name="started_at"' in form and "America/Toronto" in form


def test_the_pages_speak_french_when_asked(app: Flask, desk: Desk) -> None:
    client = signed_in(app.test_client(), "otto")
    html = page(client, "/ops/?lang=fr")
    assert '<html lang="fr">' in html and "Pannes en cours" in html and "Panne majeure" in html
    assert "HNE" in html  # times in French, with the zone's French abbreviation
    outage = page(client, f"/ops/outages/{desk.outage_id}?lang=fr")
    assert "Prendre en charge" in outage and 'name="lang" value="fr"' in outage


def test_the_pages_load_nothing_but_the_site_s_own_stylesheets(app: Flask, desk: Desk) -> None:
    client = signed_in(app.test_client(), "otto")
    for path in ("/ops/", f"/ops/outages/{desk.outage_id}", "/ops/maintenance", "/ops/outages/declare"):
        html = page(client, path)
        assert "<script" not in html and " style=" not in html and "<style" not in html, path
        assert re.findall(r'<link[^>]+href="([^"]+)"', html) == ["/static/selfservice.css", "/static/dashboard.css"]
