"""Updates ops post about an outage: public ones on the status page and in the Statuspage JSON, internal ones never."""

from __future__ import annotations

from datetime import timedelta

from flask.testing import FlaskClient

from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.usecases import desk
from monitor.usecases.audit import BOOTSTRAP
from tests.monitor.web.conftest import NOW, bearer

PUBLIC = "Document uploads fail; use the paper form until further notice."
LATER = "The operator has found the cause <and> is deploying a fix."
INTERNAL = "Paged the portal's on-call; ticket INC-4471 (do not publish)."
DECLARATION = {
    "component": "pr-portal",
    "started_at": "2026-11-22T07:30:00-05:00",
    "severity": "partial_outage",
    "reason": "The operator reports uploads failing",
}


def post(runtime: Runtime, outage_id: int, body: str, *, public: bool, minutes: int) -> None:
    with transaction(runtime.sessions) as session:
        desk.post_update(session, BOOTSTRAP, outage_id, body=body, public=public, now=NOW + timedelta(minutes=minutes))


def test_public_updates_are_shown_and_internal_ones_never(client: FlaskClient, runtime: Runtime) -> None:
    outage_id = client.post("/api/ops/outages", json=DECLARATION, headers=bearer()).get_json()["id"]
    post(runtime, outage_id, PUBLIC, public=True, minutes=1)
    post(runtime, outage_id, INTERNAL, public=False, minutes=2)
    post(runtime, outage_id, LATER, public=True, minutes=3)
    runtime.clock = lambda: NOW + timedelta(minutes=5)

    page = client.get("/").get_data(as_text=True)
    assert PUBLIC in page
    assert "The operator has found the cause &lt;and&gt; is deploying a fix." in page  # escaped
    assert page.index("deploying a fix") < page.index("use the paper form")  # newest first
    assert "INC-4471" not in page

    for path in ["/api/v2/summary.json", "/api/v2/incidents.json", "/api/v2/incidents/unresolved.json"]:
        body = client.get(path).get_data(as_text=True)
        assert "INC-4471" not in body, path
        [incident] = client.get(path).get_json()["incidents"]
        updates = incident["incident_updates"]
        assert [u["body"] for u in updates][:2] == [LATER, PUBLIC], path
        assert updates[-1]["id"] == f"{outage_id}-opened"
        assert all(u["status"] == "investigating" and u["incident_id"] == str(outage_id) for u in updates)
        assert incident["updated_at"] == (NOW + timedelta(minutes=3)).isoformat()

    # Ops see everything, internal notes included.
    shown = client.get(f"/api/ops/outages/{outage_id}", headers=bearer()).get_json()["updates"]
    assert [(u["body"], u["public"]) for u in shown] == [(PUBLIC, True), (INTERNAL, False), (LATER, True)]


def test_after_the_outage_ends_the_resolution_comes_first(client: FlaskClient, runtime: Runtime) -> None:
    outage_id = client.post("/api/ops/outages", json=DECLARATION, headers=bearer()).get_json()["id"]
    post(runtime, outage_id, PUBLIC, public=True, minutes=1)
    runtime.clock = lambda: NOW + timedelta(minutes=10)
    corrected = client.patch(
        f"/api/ops/outages/{outage_id}",
        json={"ended_at": "2026-11-22T09:00:00-05:00", "reason": "The operator confirms the fix"},
        headers=bearer(),
    )
    assert corrected.status_code == 200
    [incident] = client.get("/api/v2/incidents.json").get_json()["incidents"]
    assert [u["id"] for u in incident["incident_updates"]] == [
        f"{outage_id}-resolved",
        f"{outage_id}-update-1",
        f"{outage_id}-opened",
    ]
    assert [u["status"] for u in incident["incident_updates"]] == ["resolved", "investigating", "investigating"]
    assert incident["incident_updates"][1]["body"] == PUBLIC
