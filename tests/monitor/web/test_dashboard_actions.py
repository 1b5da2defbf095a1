"""The dashboard's forms do what the ops API does, through the same use cases: each action takes effect, shows
it after a redirect and leaves its audit entry naming the person; a viewer gets a 403 and nothing changes; a
form without its CSRF token is refused; bad input shows the form again, naming the field and keeping what
was typed. Run on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.wrappers import Response as BaseResponse

from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import OutageSource, Severity
from monitor.storage.models import Maintenance, Outage, OutageAcknowledgement, OutageUpdate
from monitor.usecases.audit import CLI
from monitor.usecases.cases import import_cases_text
from monitor.usecases.relief import relieve
from monitor.web import create_app
from tests.monitor.web.conftest import NOW
from tests.monitor.web.desk_data import (
    Desk,
    audit_entries,
    desk_runtime,
    last_audit_id,
    open_outage_with_a_severity_change,
    post_form,
    signed_in,
)

STARTED = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
ENDED = datetime(2026, 11, 20, 19, 0, tzinfo=UTC)


@pytest.fixture
def runtime(database_url: str, tmp_path: Path) -> Iterator[Runtime]:
    runtime = desk_runtime(database_url, tmp_path)
    yield runtime
    runtime.close()


@pytest.fixture
def desk(runtime: Runtime) -> Desk:
    return open_outage_with_a_severity_change(runtime)


@pytest.fixture
def app(runtime: Runtime, desk: Desk) -> Flask:
    return create_app(runtime)


@pytest.fixture
def otto(app: Flask) -> FlaskClient:
    return signed_in(app.test_client(), "otto")


def followed(client: FlaskClient, response: BaseResponse, *, to: str) -> str:
    """The page a POST redirected to (303), as the browser then shows it."""
    assert response.status_code == 303, response.get_data(as_text=True)
    assert response.headers["Location"] == to
    return client.get(to).get_data(as_text=True)


def ended_outage(runtime: Runtime) -> int:
    """The employer portal, down five hours on Friday 20 November (09:00 to 14:00 EST)."""
    with transaction(runtime.sessions) as session:
        outage = Outage(
            component_id="pr-portal",
            started_at=STARTED,
            last_ok_at=STARTED - timedelta(minutes=1),
            last_failed_at=ENDED - timedelta(minutes=1),
            ended_at=ENDED,
            detected_at=STARTED + timedelta(minutes=1),
        )
        session.add(outage)
        session.flush()
        return outage.id


def test_acknowledging_names_who_is_on_it(app: Flask, otto: FlaskClient, runtime: Runtime, desk: Desk) -> None:
    start = last_audit_id(runtime)
    response = post_form(otto, f"/ops/outages/{desk.outage_id}/acknowledge", {})
    html = followed(otto, response, to=f"/ops/outages/{desk.outage_id}")
    assert "The outage is acknowledged." in html
    assert "otto, <time" in html and "Already acknowledged." in html
    [entry] = audit_entries(runtime, start)
    assert (entry.actor, entry.action.value, entry.subject, entry.at) == (
        "otto",
        "outage_acknowledged",
        f"outage:{desk.outage_id}",
        NOW,
    )
    # The confirmation is said once: the next visit shows the page without it.
    assert "The outage is acknowledged." not in otto.get(f"/ops/outages/{desk.outage_id}").get_data(as_text=True)


def test_an_update_is_posted_public_or_internal(app: Flask, otto: FlaskClient, runtime: Runtime, desk: Desk) -> None:
    start = last_audit_id(runtime)
    public = {"body": "Uploads fail; we are working with the operator.", "public": "yes", "language": "en"}
    html = followed(
        otto, post_form(otto, f"/ops/outages/{desk.outage_id}/updates", public), to=f"/ops/outages/{desk.outage_id}"
    )
    assert "The update is posted." in html and public["body"] in html
    internal = {"body": "Paged the operator's on-call.", "language": ""}
    followed(
        otto, post_form(otto, f"/ops/outages/{desk.outage_id}/updates", internal), to=f"/ops/outages/{desk.outage_id}"
    )
    with transaction(runtime.sessions) as session:
        rows = session.scalars(select(OutageUpdate).order_by(OutageUpdate.id)).all()
        assert [(u.body, u.public, u.author) for u in rows] == [
            (public["body"], True, "otto"),
            (internal["body"], False, "otto"),
        ]
    status_page = app.test_client().get("/").get_data(as_text=True)
    assert public["body"] in status_page and internal["body"] not in status_page
    entries = audit_entries(runtime, start)
    assert [(e.actor, e.action.value) for e in entries] == [("otto", "outage_update_posted")] * 2
    assert entries[0].after is not None and entries[0].after["public"] is True


def test_a_bad_update_shows_the_form_again_naming_the_field(otto: FlaskClient, runtime: Runtime, desk: Desk) -> None:
    start = last_audit_id(runtime)
    response = post_form(
        otto, f"/ops/outages/{desk.outage_id}/updates", {"body": "   ", "public": "yes", "language": "fr"}
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="update-error"' in html and "Update: must not be empty" in html
    assert 'aria-invalid="true" aria-describedby="update-body-error"' in html
    assert '<option value="fr" selected>' in html and 'name="public" value="yes" checked' in html
    assert audit_entries(runtime, start) == []


def test_declaring_reads_times_in_the_page_s_zone(otto: FlaskClient, runtime: Runtime) -> None:
    start = last_audit_id(runtime)
    form = {
        "component": "employer-portal",
        "started_at": "2026-11-22T07:30",  # a datetime-local value: Toronto's wall clock, EST
        "ended_at": "",
        "severity": "partial_outage",
        "reason": "The operator reports uploads failing",
    }
    response = post_form(otto, "/ops/outages/declare", form)
    assert response.status_code == 303
    html = otto.get(response.headers["Location"]).get_data(as_text=True)
    assert "The outage is declared." in html and "Employer portal" in html
    with transaction(runtime.sessions) as session:
        declared = session.scalars(select(Outage).where(Outage.source == OutageSource.DECLARED)).one()
        assert (declared.started_at, declared.ended_at, declared.severity) == (
            datetime(2026, 11, 22, 12, 30, tzinfo=UTC),
            None,
            Severity.PARTIAL_OUTAGE,
        )
        assert response.headers["Location"] == f"/ops/outages/{declared.id}"
    [entry] = audit_entries(runtime, start)
    assert (entry.actor, entry.action.value, entry.reason) == ("otto", "outage_declared", form["reason"])


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("started_at", "yesterday morning", "is not a date and time"),
        ("started_at", "2026-11-23T07:30-05:00", "is in the future"),
        ("ended_at", "2026-11-22T07:00", "must be after started_at"),
        ("component", "no-such-portal", "unknown component"),
        ("reason", "", "must not be empty"),
    ],
)
def test_a_bad_declaration_names_the_field_and_keeps_what_was_typed(
    otto: FlaskClient, runtime: Runtime, field: str, value: str, said: str
) -> None:
    form = {
        "component": "employer-portal",
        "started_at": "2026-11-22T07:30",
        "ended_at": "",
        "severity": "major_outage",
        "reason": "Reported by the operator",
    }
    form[field] = value
    response = post_form(otto, "/ops/outages/declare", form)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert f'id="declare-{field}-error"' in html and said in html
    assert f'value="{form["started_at"]}"' in html
    if field != "reason":
        assert "Reported by the operator" in html
    with transaction(runtime.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Outage)) == 1  # only the desk's observed one


def test_a_correction_needs_a_reason_and_is_recorded(otto: FlaskClient, runtime: Runtime, desk: Desk) -> None:
    declared = post_form(
        otto,
        "/ops/outages/declare",
        {"component": "employer-portal", "started_at": "2026-11-22T07:30", "severity": "major_outage", "reason": "r"},
    ).headers["Location"]
    outage_id = int(declared.rsplit("/", 1)[1])
    start = last_audit_id(runtime)
    no_reason = post_form(otto, f"/ops/outages/{outage_id}/correct", {"ended_at": "2026-11-22T08:45", "reason": ""})
    assert no_reason.status_code == 400
    html = no_reason.get_data(as_text=True)
    assert 'id="correct-reason-error"' in html and 'value="2026-11-22T08:45"' in html

    fixed = {"ended_at": "2026-11-22T08:45", "severity": "partial_outage", "reason": "The operator confirms the fix"}
    page = followed(otto, post_form(otto, f"/ops/outages/{outage_id}/correct", fixed), to=declared)
    assert "The correction is recorded." in page and "The operator confirms the fix" in page
    [entry] = audit_entries(runtime, start)
    assert (entry.actor, entry.action.value) == ("otto", "outage_corrected")
    assert entry.after == {
        "started_at": "2026-11-22T12:30:00+00:00",
        "ended_at": "2026-11-22T13:45:00+00:00",
        "severity": "partial_outage",
    }

    # An open observed outage's bounds are the probes' to record.
    conflict = post_form(
        otto, f"/ops/outages/{desk.outage_id}/correct", {"started_at": "2026-11-20T08:00", "reason": "earlier"}
    )
    assert conflict.status_code == 409 and "still open" in conflict.get_data(as_text=True)


def test_a_false_positive_says_what_became_of_relief(otto: FlaskClient, runtime: Runtime) -> None:
    outage_id = ended_outage(runtime)
    import_cases_text(
        runtime,
        "case_id,components,deadline,time_zone\nT-1,pr-portal,2026-11-20T12:00:00-05:00,America/Toronto\n",
        source="test",
        actor=CLI,
    )
    relieve(runtime, outage_id)
    start = last_audit_id(runtime)
    no_reason = post_form(otto, f"/ops/outages/{outage_id}/false-positive", {"reason": " "})
    assert no_reason.status_code == 400 and 'id="false_positive-reason-error"' in no_reason.get_data(as_text=True)

    reason = "The probe's expected text changed with the redesign; the portal was up"
    response = post_form(otto, f"/ops/outages/{outage_id}/false-positive", {"reason": reason})
    html = followed(otto, response, to=f"/ops/outages/{outage_id}").replace("\u00a0", " ")
    assert "The outage is marked as a false positive." in html
    assert "1 case(s) had relief resting on this outage (1 with a later deadline)" in html
    assert "no effective deadline moves earlier" in html
    assert 'id="relief-cases">1<' in html
    [entry] = audit_entries(runtime, start)
    assert (entry.actor, entry.action.value, entry.reason) == ("otto", "outage_false_positive", reason)
    assert entry.after is not None and entry.after["relief"]["policy"] == "never_worse_off"


def test_an_open_outage_cannot_be_marked_a_false_positive(otto: FlaskClient, runtime: Runtime, desk: Desk) -> None:
    start = last_audit_id(runtime)
    response = post_form(otto, f"/ops/outages/{desk.outage_id}/false-positive", {"reason": "never happened"})
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "still open" in html and "never happened" in html  # the reason typed is kept
    assert audit_entries(runtime, start) == []


def test_maintenance_is_announced_and_withdrawn(otto: FlaskClient, runtime: Runtime) -> None:
    start = last_audit_id(runtime)
    form = {
        "title": "Certificate renewal",
        "components": ["pr-portal", "employer-portal"],
        "starts_at": "2026-11-28T22:00",
        "ends_at": "2026-11-29T01:00-05:00",
    }
    html = followed(otto, post_form(otto, "/ops/maintenance", form), to="/ops/maintenance")
    assert "The maintenance window is announced." in html and "Certificate renewal" in html
    with transaction(runtime.sessions) as session:
        window = session.scalars(select(Maintenance)).one()
        assert (window.starts_at, window.ends_at) == (
            datetime(2026, 11, 29, 3, 0, tzinfo=UTC),
            datetime(2026, 11, 29, 6, 0, tzinfo=UTC),
        )
        assert sorted(c.component_id for c in window.components) == ["employer-portal", "pr-portal"]
        window_id = window.id
    html = followed(otto, post_form(otto, f"/ops/maintenance/{window_id}/cancel", {}), to="/ops/maintenance")
    assert "The maintenance window is withdrawn." in html and "Withdrawn" in html
    assert [(e.actor, e.action.value) for e in audit_entries(runtime, start)] == [
        ("otto", "maintenance_announced"),
        ("otto", "maintenance_cancelled"),
    ]


def test_a_bad_window_names_the_field_and_keeps_what_was_typed(otto: FlaskClient, runtime: Runtime) -> None:
    form = {
        "title": "Upgrade",
        "components": ["pr-portal"],
        "starts_at": "2026-11-28T22:00",
        "ends_at": "2026-11-28T21:00",
    }
    response = post_form(otto, "/ops/maintenance", form)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="announce-ends_at-error"' in html and "must be after starts_at" in html
    assert 'value="Upgrade"' in html and 'value="pr-portal" checked' in html
    none_chosen = post_form(otto, "/ops/maintenance", {**form, "components": [], "ends_at": "2026-11-29T01:00"})
    assert none_chosen.status_code == 400 and 'id="announce-components-error"' in none_chosen.get_data(as_text=True)
    assert post_form(otto, "/ops/maintenance/999999/cancel", {}).status_code == 404
    with transaction(runtime.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Maintenance)) == 0


def actions(desk: Desk) -> list[tuple[str, dict[str, object]]]:
    return [
        (f"/ops/outages/{desk.outage_id}/acknowledge", {}),
        (f"/ops/outages/{desk.outage_id}/updates", {"body": "x", "public": "yes"}),
        (f"/ops/outages/{desk.outage_id}/correct", {"severity": "partial_outage", "reason": "r"}),
        (f"/ops/outages/{desk.outage_id}/false-positive", {"reason": "r"}),
        (
            "/ops/outages/declare",
            {"component": "pr-portal", "started_at": "2026-11-22T07:30", "severity": "major_outage", "reason": "r"},
        ),
        (
            "/ops/maintenance",
            {"title": "t", "components": ["pr-portal"], "starts_at": "2026-11-28T22:00", "ends_at": "2026-11-28T23:00"},
        ),
    ]


def test_a_viewer_may_not_act_and_nothing_changes(app: Flask, runtime: Runtime, desk: Desk) -> None:
    vera = signed_in(app.test_client(), "vera")
    start = last_audit_id(runtime)
    for path, form in actions(desk):
        response = post_form(vera, path, form)
        assert response.status_code == 403, path
        assert "needs the ops role" in response.get_data(as_text=True)
    assert audit_entries(runtime, start) == []
    with transaction(runtime.sessions) as session:
        assert session.scalar(select(func.count()).select_from(OutageAcknowledgement)) == 0
        assert session.scalar(select(func.count()).select_from(Outage)) == 1


def test_a_form_without_its_csrf_token_is_refused(otto: FlaskClient, runtime: Runtime, desk: Desk) -> None:
    start = last_audit_id(runtime)
    for path, form in actions(desk):
        assert post_form(otto, path, form, csrf=False).status_code == 400, path
        assert otto.post(path, data={**form, "csrf_token": "forged"}).status_code == 400, path
    assert audit_entries(runtime, start) == []


def test_an_unknown_outage_is_a_404_and_nothing_is_recorded(otto: FlaskClient, runtime: Runtime) -> None:
    start = last_audit_id(runtime)
    for action in ("acknowledge", "updates", "correct", "false-positive"):
        response = post_form(
            otto, f"/ops/outages/999999/{action}", {"body": "x", "reason": "r", "severity": "major_outage"}
        )
        assert response.status_code == 404, action
    assert audit_entries(runtime, start) == []


def test_signed_out_people_are_sent_to_sign_in(app: Flask, desk: Desk) -> None:
    client = app.test_client()
    for path, form in actions(desk):
        response = client.post(path, data=form)
        assert response.status_code == 303 and response.headers["Location"] == "/ops/sign-in", path
