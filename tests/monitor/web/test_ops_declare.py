"""Declaring and correcting outages through the ops API: 201 with the outage, 422 naming the field, never a 500."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.models import Outage, OutageCorrection
from monitor.web import create_app
from tests.conftest import OFFLINE_CONFIG, SlackStandIn, make_runtime
from tests.monitor.web.conftest import NOW, TOKEN, add_outage, bearer

REASON = "The portal's operator reports its document upload failing"
DECLARATION = {
    "component": "pr-portal",
    "started_at": "2026-11-22T07:30:00-05:00",
    "ended_at": None,
    "severity": "partial_outage",
    "reason": REASON,
}
# Every field an outage had before declared outages, kept as they were.
OUTAGE_FIELDS = {
    "id", "component", "severity", "status", "started_at", "last_ok_at", "last_failed_at", "ended_at", "end_reason",
    "monitoring_gap_at", "detected_at", "resolved_at", "duration_seconds", "grace_days", "grants",
    "first_failed_check",
}  # fmt: skip
# What the desk adds: a false positive's mark, who acknowledged it, the updates posted about it.
DESK_FIELDS = {"false_positive_at", "acknowledged_at", "acknowledged_by", "updates"}


@pytest.fixture
def runtime(runtime_on_both: Runtime) -> Runtime:
    return runtime_on_both


def declare(client: FlaskClient, **changes: Any) -> Any:
    return client.post("/api/ops/outages", json={**DECLARATION, **changes}, headers=bearer())


def stored(runtime: Runtime, model: type[Any] = Outage) -> int:
    with transaction(runtime.sessions) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_declared_outage_is_created_and_listed_with_its_source_and_reason(client: FlaskClient) -> None:
    response = declare(client)
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert response.headers["Location"] == f"/api/ops/outages/{body['id']}"
    assert set(body) == OUTAGE_FIELDS | DESK_FIELDS | {"source", "reason", "corrections", "history"}
    assert body["component"] == {"id": "pr-portal", "name": "Permanent residence portal"}
    assert (body["source"], body["reason"]) == ("declared", DECLARATION["reason"])
    assert (body["severity"], body["status"]) == ("partial_outage", "open")
    assert (body["started_at"], body["ended_at"]) == ("2026-11-22T12:30:00+00:00", None)
    assert (body["detected_at"], body["duration_seconds"]) == ("2026-11-22T14:15:00+00:00", 6300)
    assert (body["grace_days"], body["first_failed_check"], body["corrections"]) == (7, None, [])

    assert client.get(response.headers["Location"], headers=bearer()).get_json() == body
    [listed] = client.get("/api/ops/outages?open=true", headers=bearer()).get_json()["outages"]
    assert listed == body


def test_the_list_tells_observed_from_declared_and_can_show_either(client: FlaskClient, runtime: Runtime) -> None:
    observed = add_outage(runtime)
    declared = declare(client, ended_at="2026-11-22T08:00:00-05:00").get_json()["id"]
    everything = client.get("/api/ops/outages", headers=bearer()).get_json()["outages"]
    assert [(o["id"], o["source"], o["reason"]) for o in everything] == [
        (declared, "declared", DECLARATION["reason"]),
        (observed, "observed", None),
    ]
    fields = OUTAGE_FIELDS | DESK_FIELDS | {"source", "reason", "corrections", "history"}
    assert all(set(o) == fields for o in everything)
    only = client.get("/api/ops/outages?source=declared", headers=bearer()).get_json()["outages"]
    assert [o["id"] for o in only] == [declared]
    assert client.get("/api/ops/outages?source=guessed", headers=bearer()).status_code == 400


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        ({"component": "billing"}, "component", "unknown component 'billing'"),
        ({"started_at": "2026-11-22T14:16:00Z"}, "started_at", "is in the future"),
        ({"ended_at": "2026-11-22T07:00:00-05:00"}, "ended_at", "must be after started_at"),
        ({"started_at": "2026-11-22T07:30:00"}, "started_at", "has no UTC offset"),
        ({"ended_at": "2026-11-22T08:00:00"}, "ended_at", "has no UTC offset"),
        ({"severity": "down"}, "severity", "unknown severity 'down'"),
        ({"reason": ""}, "reason", "must not be empty"),
        ({"reason": None}, "reason", "is required"),
        ({"reason": ["why"]}, "reason", "is required"),
        ({"started_at": 1764000000}, "started_at", "expected ISO 8601"),
        ({"started_at": None}, "started_at", "expected ISO 8601"),
        ({"component": ["pr-portal"]}, "component", "expected a component id"),
        ({"severity": 3}, "severity", "unknown severity"),
        ({"ended": "2026-11-22T08:00:00-05:00"}, "ended", "unknown field"),
    ],
)
def test_a_bad_declaration_is_a_422_naming_the_field_and_stores_nothing(
    client: FlaskClient, runtime: Runtime, changes: dict[str, Any], field: str, says: str
) -> None:
    response = declare(client, **changes)
    assert response.status_code == 422
    body = response.get_json()
    assert set(body) == {"error", "message", "field"}
    assert (body["error"], body["field"]) == ("invalid_input", field)
    assert body["message"].startswith(f"{field}: ") and says in body["message"], body["message"]
    assert stored(runtime) == 0


@pytest.mark.parametrize("missing", ["component", "started_at", "severity", "reason"])
def test_a_declaration_missing_a_required_field_is_a_422(client: FlaskClient, missing: str) -> None:
    response = client.post(
        "/api/ops/outages", json={k: v for k, v in DECLARATION.items() if k != missing}, headers=bearer()
    )
    assert response.status_code == 422
    assert (response.get_json()["field"], response.get_json()["message"]) == (missing, f"{missing}: is required")


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ("component=pr-portal", "application/x-www-form-urlencoded"),
        ("{not json", "application/json"),
        ("", "application/json"),
        ("[1, 2]", "application/json"),
        ('"text"', "application/json"),
        ("null", "application/json"),
        (b"\xff\xfe\x00", "application/json"),
        ("[" * 100_000 + "]" * 100_000, "application/json"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_a_422_not_a_500(
    client: FlaskClient, data: str | bytes, content_type: str
) -> None:
    outage_id = declare(client).get_json()["id"]
    for method, path in [
        ("POST", "/api/ops/outages"),
        ("PATCH", f"/api/ops/outages/{outage_id}"),
        ("POST", "/api/ops/maintenance"),
    ]:
        response = client.open(path, method=method, data=data, content_type=content_type, headers=bearer())
        if len(data) > 64 * 1024:
            assert response.status_code == 413
            assert response.get_json()["error"] == "request_entity_too_large"
            continue
        assert response.status_code == 422, response.get_data(as_text=True)
        assert response.get_json()["field"] == "body"


def test_a_deeply_nested_body_within_the_size_limit_is_a_422(client: FlaskClient) -> None:
    response = client.post("/api/ops/outages", data="[" * 30_000, content_type="application/json", headers=bearer())
    assert (response.status_code, response.get_json()["field"]) == (422, "body")


def test_every_new_route_wants_the_token(client: FlaskClient) -> None:
    for method, path in [
        ("POST", "/api/ops/outages"),
        ("GET", "/api/ops/outages/1"),
        ("PATCH", "/api/ops/outages/1"),
        ("GET", "/api/ops/maintenance"),
        ("POST", "/api/ops/maintenance"),
        ("GET", "/api/ops/maintenance/1"),
        ("DELETE", "/api/ops/maintenance/1"),
    ]:
        response = client.open(path, method=method, json=DECLARATION)
        assert response.status_code == 401
        assert response.get_json()["error"] == "unauthorized"


# --- corrections -----------------------------------------------------------------------------------


def test_correcting_a_declared_outage_answers_it_with_its_corrections(client: FlaskClient, runtime: Runtime) -> None:
    outage_id = declare(client).get_json()["id"]
    response = client.patch(
        f"/api/ops/outages/{outage_id}",
        json={"ended_at": "2026-11-22T08:45:00-05:00", "reason": "The operator reports it fixed at 08:45"},
        headers=bearer(),
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert (body["status"], body["ended_at"], body["resolved_at"]) == (
        "resolved",
        "2026-11-22T13:45:00+00:00",
        "2026-11-22T14:15:00+00:00",
    )
    [correction] = body["corrections"]
    assert set(correction) == {"id", "before", "after", "reason", "corrected_at"}
    assert correction["before"] == {
        "started_at": "2026-11-22T12:30:00+00:00",
        "ended_at": None,
        "severity": "partial_outage",
    }
    assert correction["after"]["ended_at"] == "2026-11-22T13:45:00+00:00"
    assert (correction["reason"], correction["corrected_at"]) == (
        "The operator reports it fixed at 08:45",
        "2026-11-22T14:15:00+00:00",
    )
    assert client.get("/api/ops/outages", headers=bearer()).get_json()["outages"][0]["corrections"] == [correction]


def test_an_observed_outage_s_end_is_corrected_once_it_has_ended(client: FlaskClient, runtime: Runtime) -> None:
    outage_id = add_outage(runtime)  # 10:00 to 11:00 EST on 20 November
    response = client.patch(
        f"/api/ops/outages/{outage_id}",
        json={"ended_at": "2026-11-20T11:20:00-05:00", "severity": "major_outage", "reason": "operator's logs"},
        headers=bearer(),
    )
    assert response.status_code == 200
    body = response.get_json()
    assert (body["source"], body["ended_at"], body["severity"]) == (
        "observed",
        "2026-11-20T16:20:00+00:00",
        "major_outage",
    )
    assert body["corrections"][0]["before"]["ended_at"] == "2026-11-20T16:00:00+00:00"


def test_an_open_observed_outage_s_end_is_a_409(client: FlaskClient, runtime: Runtime) -> None:
    with transaction(runtime.sessions) as session:
        row = Outage(component_id="pr-portal", started_at=NOW - timedelta(hours=1), detected_at=NOW, grace_days=7)
        session.add(row)
        session.flush()
        outage_id = row.id
    response = client.patch(
        f"/api/ops/outages/{outage_id}", json={"ended_at": "2026-11-22T14:00:00Z", "reason": "r"}, headers=bearer()
    )
    assert response.status_code == 409
    body = response.get_json()
    assert (body["error"], body["field"]) == ("conflict", "ended_at")
    assert "the probes' to record" in body["message"]
    assert stored(runtime, OutageCorrection) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ended_at": "2026-11-22T13:00:00Z"}, "reason"),
        ({"reason": "nothing else"}, "body"),
        ({"severity": "bad", "reason": "r"}, "severity"),
        ({"ended_at": "2026-11-22T12:00:00Z", "reason": "r"}, "ended_at"),
        ({"started_at": "2026-11-22T12:00", "reason": "r"}, "started_at"),
        ({"component": "employer-portal", "reason": "r"}, "component"),
    ],
)
def test_a_bad_correction_is_a_422_naming_the_field(
    client: FlaskClient, runtime: Runtime, body: dict[str, Any], field: str
) -> None:
    outage_id = declare(client).get_json()["id"]
    response = client.patch(f"/api/ops/outages/{outage_id}", json=body, headers=bearer())
    assert (response.status_code, response.get_json()["field"]) == (422, field), response.get_json()
    assert stored(runtime, OutageCorrection) == 0


@pytest.mark.parametrize("path", ["/api/ops/outages/999", f"/api/ops/outages/{2**63}", f"/api/ops/outages/{10**30}"])
def test_an_unknown_outage_is_a_404(client: FlaskClient, path: str) -> None:
    for method in ("GET", "PATCH"):
        response = client.open(path, method=method, json={"severity": "major_outage", "reason": "r"}, headers=bearer())
        assert (response.status_code, response.get_json()["error"]) == (404, "not_found")


# --- Slack -----------------------------------------------------------------------------------------


def test_slack_is_told_of_a_declared_outage_and_of_its_end(database_url: str, slack: SlackStandIn) -> None:
    runtime = make_runtime(
        database_url,
        OFFLINE_CONFIG,
        ops_token=TOKEN,
        slack_token="xoxb-test",
        slack_channel="C0OUTAGES",
        slack_api_url=slack.url,
        slack_timeout=2,
    )
    runtime.clock = lambda: NOW
    try:
        client = create_app(runtime).test_client()
        outage_id = declare(client, reason="Operator: <!channel> uploads fail").get_json()["id"]
        [post] = slack.posts()
        assert post["text"] == (
            "Partial outage: Permanent residence portal since 2026-11-22 07:30:00 EST, "
            "declared by ops: Operator: &lt;!channel&gt; uploads fail"
        )
        client.patch(
            f"/api/ops/outages/{outage_id}",
            json={"ended_at": "2026-11-22T08:45:00-05:00", "reason": "fixed"},
            headers=bearer(),
        )
        [post] = slack.posts()  # the same message, updated
        assert post["text"].startswith("Resolved: Permanent residence portal had a partial outage of 1h 15m")
        assert slack.methods().count("chat.postMessage") == 1
    finally:
        runtime.close()


# --- the public status page ------------------------------------------------------------------------


def test_a_declared_and_an_observed_outage_open_at_once_both_show_and_the_worst_counts(
    client: FlaskClient, runtime: Runtime
) -> None:
    with transaction(runtime.sessions) as session:
        session.add(
            Outage(
                component_id="pr-portal",
                severity="degraded_performance",
                started_at=NOW - timedelta(minutes=30),
                detected_at=NOW - timedelta(minutes=29),
                grace_days=7,
            )
        )
    declared = declare(client, severity="major_outage").get_json()["id"]
    summary = client.get("/api/v2/summary.json").get_json()
    assert {c["id"]: c["status"] for c in summary["components"]} == {
        "pr-portal": "major_outage",
        "employer-portal": "operational",
    }
    assert summary["status"]["indicator"] == "major"
    incidents = {i["id"]: i for i in summary["incidents"]}
    assert len(incidents) == 2
    assert incidents[str(declared)]["impact"] == "critical"
    opened = incidents[str(declared)]["incident_updates"][-1]["body"]
    assert opened == (
        "Permanent residence portal is unavailable since 2026-11-22T12:30:00+00:00. "
        "Reported to us; not seen by our probes."
    )
    assert REASON not in str(summary)  # ops' reason is theirs, not the public's

    page = client.get("/").get_data(as_text=True)
    assert page.count('data-ongoing="true"') == 2
    assert 'data-status="major_outage"' in page

    client.patch(
        f"/api/ops/outages/{declared}", json={"ended_at": "2026-11-22T14:00:00Z", "reason": "fixed"}, headers=bearer()
    )
    incidents = {i["id"]: i for i in client.get("/api/v2/incidents.json").get_json()["incidents"]}
    resolved = incidents[str(declared)]
    assert resolved["status"] == "resolved"
    assert resolved["incident_updates"][0]["body"] == (
        "Permanent residence portal is available again since 2026-11-22T14:00:00+00:00."
    )
    status = {c["id"]: c["status"] for c in client.get("/api/v2/components.json").get_json()["components"]}
    assert status["pr-portal"] == "degraded_performance"  # the probes' own outage is still open
