"""Maintenance through the ops API: announce, list with upcoming occurrences, cancel; and what the status page shows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from monitor.config import parse_config
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.models import Maintenance, Outage, OutboxEvent
from monitor.usecases.configure import apply_config
from tests.conftest import OFFLINE_CONFIG
from tests.monitor.web.conftest import NOW, bearer

ANNOUNCEMENT = {
    "components": ["pr-portal", "employer-portal"],
    "starts_at": "2026-11-28T22:00:00-05:00",
    "ends_at": "2026-11-29T02:00:00-05:00",
    "title": "Network maintenance",
}
WINDOW_FIELDS = {
    "id", "key", "source", "title", "components", "starts_at", "ends_at", "recurrence", "announced_at", "active",
    "in_progress", "occurrences", "created_at", "updated_at",
}  # fmt: skip
WEEKLY = """
maintenance:
  - id: weekend-batch
    title: Weekend batch processing
    components: [employer-portal]
    every: {days: [sat, sun], at: 23:00, duration: 4h, time_zone: America/Toronto}
"""


@pytest.fixture
def runtime(runtime_on_both: Runtime) -> Runtime:
    return runtime_on_both


def announce(client: FlaskClient, **changes: Any) -> Any:
    return client.post("/api/ops/maintenance", json={**ANNOUNCEMENT, **changes}, headers=bearer())


def with_weekly_window(runtime: Runtime) -> None:
    runtime.config = parse_config(OFFLINE_CONFIG + WEEKLY, source="test.yaml")
    with transaction(runtime.sessions) as session:
        apply_config(session, runtime.config, now=NOW - timedelta(days=30))


def test_an_announced_window_is_created_listed_and_read_back(client: FlaskClient) -> None:
    response = announce(client)
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert response.headers["Location"] == f"/api/ops/maintenance/{body['id']}"
    assert set(body) == WINDOW_FIELDS
    assert (body["key"], body["source"], body["title"], body["active"]) == (None, "api", "Network maintenance", True)
    assert body["components"] == ["employer-portal", "pr-portal"]
    assert (body["starts_at"], body["ends_at"]) == ("2026-11-29T03:00:00+00:00", "2026-11-29T07:00:00+00:00")
    assert (body["announced_at"], body["recurrence"], body["in_progress"]) == ("2026-11-22T14:15:00+00:00", None, False)
    assert body["occurrences"] == [{"starts_at": "2026-11-29T03:00:00+00:00", "ends_at": "2026-11-29T07:00:00+00:00"}]
    assert client.get(response.headers["Location"], headers=bearer()).get_json() == body
    assert client.get("/api/ops/maintenance", headers=bearer()).get_json() == {"maintenance": [body]}


def test_a_recurring_window_from_the_file_is_listed_with_its_next_occurrences(
    client: FlaskClient, runtime: Runtime
) -> None:
    with_weekly_window(runtime)
    [weekly] = client.get("/api/ops/maintenance", headers=bearer()).get_json()["maintenance"]
    assert (weekly["key"], weekly["source"], weekly["ends_at"]) == ("weekend-batch", "config", None)
    assert weekly["recurrence"] == {
        "days": ["sat", "sun"],
        "at": "23:00",
        "duration_seconds": 14400,
        "time_zone": "America/Toronto",
    }
    assert [o["starts_at"] for o in weekly["occurrences"]] == [
        "2026-11-23T04:00:00+00:00",  # Sunday 22 November, 23:00 EST
        "2026-11-29T04:00:00+00:00",
        "2026-11-30T04:00:00+00:00",
        "2026-12-06T04:00:00+00:00",
        "2026-12-07T04:00:00+00:00",
    ]
    response = client.delete(f"/api/ops/maintenance/{weekly['id']}", headers=bearer())
    assert (response.status_code, response.get_json()["error"]) == (409, "conflict")
    assert "remove it there" in response.get_json()["message"]


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        ({"components": ["billing"]}, "components", "unknown component 'billing'"),
        ({"components": []}, "components", "non-empty list"),
        ({"components": "pr-portal"}, "components", "non-empty list"),
        ({"ends_at": "2026-11-28T21:00:00-05:00"}, "ends_at", "must be after starts_at"),
        ({"starts_at": "2026-11-28T22:00:00"}, "starts_at", "has no UTC offset"),
        ({"ends_at": "2026-11-29T02:00:00"}, "ends_at", "has no UTC offset"),
        ({"announced_at": "2026-11-22T14:16:00Z"}, "announced_at", "is later than now"),
        ({"announced_at": "2026-11-22"}, "announced_at", "has no UTC offset"),
        ({"title": ""}, "title", "is required"),
        ({"title": 12}, "title", "is required"),
        ({"starts_at": 5}, "starts_at", "expected ISO 8601"),
        ({"recurrence": {"days": ["sat"]}}, "recurrence", "unknown field"),
    ],
)
def test_a_bad_announcement_is_a_422_naming_the_field_and_stores_nothing(
    client: FlaskClient, runtime: Runtime, changes: dict[str, Any], field: str, says: str
) -> None:
    response = announce(client, **changes)
    assert response.status_code == 422
    body = response.get_json()
    assert (set(body), body["error"], body["field"]) == ({"error", "message", "field"}, "invalid_input", field)
    assert says in body["message"], body["message"]
    with transaction(runtime.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Maintenance)) == 0


@pytest.mark.parametrize("missing", ["components", "starts_at", "ends_at", "title"])
def test_an_announcement_missing_a_field_is_a_422(client: FlaskClient, missing: str) -> None:
    body = {k: v for k, v in ANNOUNCEMENT.items() if k != missing}
    response = client.post("/api/ops/maintenance", json=body, headers=bearer())
    assert (response.status_code, response.get_json()["field"]) == (422, missing)


def test_an_announcement_can_be_dated_earlier_and_cancelled(client: FlaskClient, runtime: Runtime) -> None:
    window_id = announce(client, announced_at="2026-11-20T09:00:00-05:00").get_json()["id"]
    for _ in range(2):  # a repeated DELETE answers the same
        response = client.delete(f"/api/ops/maintenance/{window_id}", headers=bearer())
        assert response.status_code == 200
        assert (response.get_json()["active"], response.get_json()["announced_at"]) == (
            False,
            "2026-11-20T14:00:00+00:00",
        )
    assert client.get("/api/ops/maintenance", headers=bearer()).get_json() == {"maintenance": []}
    [cancelled] = client.get("/api/ops/maintenance?all=true", headers=bearer()).get_json()["maintenance"]
    assert cancelled["id"] == window_id
    with transaction(runtime.sessions) as session:
        kinds = [e.payload["change"] for e in session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))]  # type: ignore[index]
    assert kinds == ["created", "removed"]


@pytest.mark.parametrize("window_id", ["999", str(2**63), str(10**30)])
def test_an_unknown_window_is_a_404(client: FlaskClient, window_id: str) -> None:
    for method in ("GET", "DELETE"):
        response = client.open(f"/api/ops/maintenance/{window_id}", method=method, headers=bearer())
        assert (response.status_code, response.get_json()["error"]) == (404, "not_found")


def test_a_bad_limit_is_a_400(client: FlaskClient) -> None:
    assert client.get("/api/ops/maintenance?limit=0", headers=bearer()).status_code == 400


# --- the public status page ------------------------------------------------------------------------


def test_a_component_in_maintenance_now_shows_under_maintenance_unless_it_has_an_outage(
    client: FlaskClient, runtime: Runtime
) -> None:
    announce(client, starts_at="2026-11-22T14:00:00Z", ends_at="2026-11-22T15:00:00Z")
    summary = client.get("/api/v2/summary.json").get_json()
    assert {c["id"]: c["status"] for c in summary["components"]} == {
        "pr-portal": "under_maintenance",
        "employer-portal": "under_maintenance",
    }
    assert summary["status"] == {"indicator": "maintenance", "description": "Service Under Maintenance"}
    [scheduled] = summary["scheduled_maintenances"]
    assert (scheduled["name"], scheduled["status"], scheduled["impact"]) == (
        "Network maintenance",
        "in_progress",
        "maintenance",
    )
    assert (scheduled["scheduled_for"], scheduled["scheduled_until"]) == (
        "2026-11-22T14:00:00+00:00",
        "2026-11-22T15:00:00+00:00",
    )
    assert sorted(c["id"] for c in scheduled["components"]) == ["employer-portal", "pr-portal"]
    ops_view = client.get("/api/ops/components", headers=bearer()).get_json()["components"]
    assert {c["id"]: (c["status"], c["in_maintenance"]) for c in ops_view} == {
        "pr-portal": ("under_maintenance", True),
        "employer-portal": ("under_maintenance", True),
    }

    with transaction(runtime.sessions) as session:
        session.add(
            Outage(component_id="pr-portal", started_at=NOW - timedelta(minutes=5), detected_at=NOW, grace_days=7)
        )
    summary = client.get("/api/v2/summary.json").get_json()
    assert {c["id"]: c["status"] for c in summary["components"]} == {
        "pr-portal": "major_outage",
        "employer-portal": "under_maintenance",
    }
    assert client.get("/").status_code == 200


def test_upcoming_maintenance_is_scheduled_and_a_recurring_window_shows_its_next_occurrence(
    client: FlaskClient, runtime: Runtime
) -> None:
    announce(client)
    with_weekly_window(runtime)
    summary = client.get("/api/v2/summary.json").get_json()
    assert summary["status"]["indicator"] == "none"
    assert {c["status"] for c in summary["components"]} == {"operational"}
    assert [(m["name"], m["status"], m["scheduled_for"]) for m in summary["scheduled_maintenances"]] == [
        ("Weekend batch processing", "scheduled", "2026-11-23T04:00:00+00:00"),
        ("Network maintenance", "scheduled", "2026-11-29T03:00:00+00:00"),
    ]
