"""What the desk does through the ops API, and the audit entry each action leaves: who, when, what,
before → after and why. Run on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import Role
from monitor.storage.models import AuditEntry, Outage, ReliefHistory
from monitor.usecases import people
from monitor.usecases.audit import CLI, verify_audit
from monitor.usecases.relief import relieve
from tests.monitor.web.conftest import NOW, add_outage, bearer

# Friday 20 November 2026, Toronto (EST): last good check 08:59, down 09:00, back at 14:00 — five hours.
LAST_OK = datetime(2026, 11, 20, 13, 59, tzinfo=UTC)
STARTED = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
ENDED = datetime(2026, 11, 20, 19, 0, tzinfo=UTC)
DECLARATION = {
    "component": "pr-portal",
    "started_at": "2026-11-22T07:30:00-05:00",
    "ended_at": None,
    "severity": "partial_outage",
    "reason": "The operator reports uploads failing",
}


@pytest.fixture
def runtime(runtime_on_both: Runtime) -> Runtime:
    return runtime_on_both


@pytest.fixture
def tokens(runtime: Runtime) -> dict[str, str]:
    """A token for a viewer (vera), an ops person (otto) and an admin (ada)."""
    made = {}
    with transaction(runtime.sessions) as session:
        for name, role in [("vera", Role.VIEWER), ("otto", Role.OPS), ("ada", Role.ADMIN)]:
            people.create_person(session, CLI, name=name, role=role, now=NOW)
            made[name] = people.issue_token(session, CLI, name, now=NOW).token
    return made


def entries(runtime: Runtime, *, after_id: int = 0) -> list[AuditEntry]:
    with transaction(runtime.sessions) as session:
        found = list(session.scalars(select(AuditEntry).where(AuditEntry.id > after_id).order_by(AuditEntry.id)))
        session.expunge_all()
        return found


def last_id(runtime: Runtime) -> int:
    found = entries(runtime)
    return found[-1].id if found else 0


def person_id(runtime: Runtime, name: str) -> int:
    with transaction(runtime.sessions) as session:
        return people.get_person(session, name).id


def assert_entry(entry: AuditEntry, runtime: Runtime, *, actor: str, action: str, subject: str) -> None:
    assert (entry.actor, entry.action.value, entry.subject) == (actor, action, subject)
    assert entry.actor_id == (None if actor == "bootstrap" else person_id(runtime, actor))
    assert entry.at == NOW


def long_outage(runtime: Runtime) -> int:
    with transaction(runtime.sessions) as session:
        outage = Outage(
            component_id="pr-portal",
            started_at=STARTED,
            last_ok_at=LAST_OK,
            last_failed_at=ENDED - timedelta(minutes=1),
            ended_at=ENDED,
            detected_at=STARTED + timedelta(minutes=1),
        )
        session.add(outage)
        session.flush()
        return outage.id


# --- outages -------------------------------------------------------------------------------------


def test_declaring_an_outage_records_who_what_and_why(
    client: FlaskClient, runtime: Runtime, tokens: dict[str, str]
) -> None:
    response = client.post("/api/ops/outages", json=DECLARATION, headers=bearer(tokens["otto"]))
    assert response.status_code == 201, response.get_data(as_text=True)
    outage_id = response.get_json()["id"]
    [entry] = entries(runtime, after_id=6)  # after the fixture's three people and tokens
    assert_entry(entry, runtime, actor="otto", action="outage_declared", subject=f"outage:{outage_id}")
    assert entry.before is None
    assert entry.after == {
        "component": "pr-portal",
        "source": "declared",
        "severity": "partial_outage",
        "started_at": "2026-11-22T12:30:00+00:00",
        "ended_at": None,
    }
    assert entry.reason == DECLARATION["reason"]


def test_a_correction_records_before_after_and_its_reason_once(
    client: FlaskClient, runtime: Runtime, tokens: dict[str, str]
) -> None:
    outage_id = client.post("/api/ops/outages", json=DECLARATION, headers=bearer()).get_json()["id"]
    start = last_id(runtime)
    correction = {"ended_at": "2026-11-22T08:45:00-05:00", "reason": "The operator confirms the fix at 08:45"}

    missing_reason = client.patch(
        f"/api/ops/outages/{outage_id}", json={"ended_at": correction["ended_at"]}, headers=bearer(tokens["otto"])
    )
    assert (missing_reason.status_code, missing_reason.get_json()["field"]) == (422, "reason")
    for _ in range(2):  # the retry changes nothing and records nothing
        response = client.patch(f"/api/ops/outages/{outage_id}", json=correction, headers=bearer(tokens["otto"]))
        assert response.status_code == 200

    [entry] = entries(runtime, after_id=start)
    assert_entry(entry, runtime, actor="otto", action="outage_corrected", subject=f"outage:{outage_id}")
    assert entry.before == {"started_at": "2026-11-22T12:30:00+00:00", "ended_at": None, "severity": "partial_outage"}
    assert entry.after == {
        "started_at": "2026-11-22T12:30:00+00:00",
        "ended_at": "2026-11-22T13:45:00+00:00",
        "severity": "partial_outage",
    }
    assert entry.reason == correction["reason"]
    assert len(response.get_json()["corrections"]) == 1


def test_an_acknowledgement_names_who_and_when_and_the_first_one_stands(
    client: FlaskClient, runtime: Runtime, tokens: dict[str, str]
) -> None:
    outage_id = add_outage(runtime)
    shown = client.get(f"/api/ops/outages/{outage_id}", headers=bearer(tokens["vera"])).get_json()
    assert (shown["acknowledged_at"], shown["acknowledged_by"], shown["updates"]) == (None, None, [])
    start = last_id(runtime)

    refused = client.post(f"/api/ops/outages/{outage_id}/acknowledge", headers=bearer(tokens["vera"]))
    assert refused.status_code == 403
    response = client.post(f"/api/ops/outages/{outage_id}/acknowledge", headers=bearer(tokens["otto"]))
    assert response.status_code == 200
    assert (response.get_json()["acknowledged_at"], response.get_json()["acknowledged_by"]) == (
        NOW.isoformat(),
        "otto",
    )
    again = client.post(f"/api/ops/outages/{outage_id}/acknowledge", headers=bearer(tokens["ada"]))
    assert again.get_json()["acknowledged_by"] == "otto"

    [entry] = entries(runtime, after_id=start)
    assert_entry(entry, runtime, actor="otto", action="outage_acknowledged", subject=f"outage:{outage_id}")
    assert entry.before == {"acknowledged_at": None, "acknowledged_by": None}
    assert entry.after == {"acknowledged_at": NOW.isoformat(), "acknowledged_by": "otto"}
    assert client.post("/api/ops/outages/999/acknowledge", headers=bearer(tokens["otto"])).status_code == 404


def test_updates_are_public_or_internal_and_each_is_recorded(
    client: FlaskClient, runtime: Runtime, tokens: dict[str, str]
) -> None:
    outage_id = add_outage(runtime)
    start = last_id(runtime)
    public = client.post(
        f"/api/ops/outages/{outage_id}/updates",
        json={"body": "Document uploads fail; we are working with the operator.", "public": True, "language": "en"},
        headers=bearer(tokens["otto"]),
    )
    internal = client.post(
        f"/api/ops/outages/{outage_id}/updates",
        json={"body": "Paged the portal's on-call; ticket INC-4471."},
        headers=bearer(tokens["ada"]),
    )
    assert (public.status_code, internal.status_code) == (201, 201)
    assert public.get_json()["public"] is True and internal.get_json()["public"] is False

    updates = client.get(f"/api/ops/outages/{outage_id}", headers=bearer(tokens["vera"])).get_json()["updates"]
    assert [(u["author"], u["public"], u["language"]) for u in updates] == [("otto", True, "en"), ("ada", False, None)]
    assert updates[0]["body"] == "Document uploads fail; we are working with the operator."

    first, second = entries(runtime, after_id=start)
    assert_entry(first, runtime, actor="otto", action="outage_update_posted", subject=f"outage:{outage_id}")
    assert first.after == {
        "update_id": updates[0]["id"],
        "body": "Document uploads fail; we are working with the operator.",
        "public": True,
        "language": "en",
    }
    assert (second.actor, second.after["public"]) == ("ada", False)  # type: ignore[index]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"body": ""}, "body"),
        ({"body": "  "}, "body"),
        ({"public": True}, "body"),
        ({"body": "x", "public": "yes"}, "public"),
        ({"body": "x", "language": "de"}, "language"),
        ({"body": "x" * 5001}, "body"),
        ({"body": "x", "author": "someone"}, "author"),
    ],
)
def test_a_bad_update_is_a_422_and_records_nothing(
    client: FlaskClient, runtime: Runtime, tokens: dict[str, str], body: dict[str, Any], field: str
) -> None:
    outage_id = add_outage(runtime)
    start = last_id(runtime)
    response = client.post(f"/api/ops/outages/{outage_id}/updates", json=body, headers=bearer(tokens["otto"]))
    assert (response.status_code, response.get_json()["field"]) == (422, field)
    assert entries(runtime, after_id=start) == []


def test_a_false_positive_keeps_the_relief_given_and_says_so(
    client: FlaskClient, runtime: Runtime, tokens: dict[str, str]
) -> None:
    outage_id = long_outage(runtime)
    imported = client.post(
        "/api/ops/cases/import",
        data="case_id,components,deadline,time_zone\nT-1,pr-portal,2026-11-20T12:00:00-05:00,America/Toronto\n",
        content_type="text/csv",
        headers=bearer(tokens["otto"]),
    )
    assert imported.status_code == 200
    relieve(runtime, outage_id)
    case = client.get("/api/ops/cases/T-1", headers=bearer(tokens["vera"])).get_json()
    extended_to = case["effective_deadline"]
    assert datetime.fromisoformat(extended_to) > datetime(2026, 11, 20, 17, 0, tzinfo=UTC)
    start = last_id(runtime)

    no_reason = client.post(f"/api/ops/outages/{outage_id}/false-positive", json={}, headers=bearer(tokens["otto"]))
    assert (no_reason.status_code, no_reason.get_json()["field"]) == (422, "reason")
    reason = "The probe's expected text changed with the portal's redesign; the portal was up"
    response = client.post(
        f"/api/ops/outages/{outage_id}/false-positive", json={"reason": reason}, headers=bearer(tokens["otto"])
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["false_positive_at"] == NOW.isoformat()
    relief = body["relief"]
    assert (relief["cases"], relief["extended"], relief["paper_authorisations"]) == (1, 1, 1)
    assert (relief["effective_deadlines"], relief["policy"]) == ("kept", "never_worse_off")
    assert "no effective deadline moves earlier" in relief["message"]
    [correction] = body["corrections"]
    assert (correction["before"]["false_positive"], correction["after"]["false_positive"]) == (False, True)
    assert correction["reason"] == reason

    # Relief has decided again without the outage: the deadline given stays, the shorter answer is held.
    after = client.get("/api/ops/cases/T-1", headers=bearer(tokens["vera"])).get_json()
    assert after["effective_deadline"] == extended_to
    with transaction(runtime.sessions) as session:
        changes = session.scalars(
            select(ReliefHistory.change).where(ReliefHistory.case_id == "T-1").order_by(ReliefHistory.version)
        ).all()
    assert changes[-1].value == "held"
    # The public no longer sees it as an outage.
    assert str(outage_id) not in {i["id"] for i in client.get("/api/v2/incidents.json").get_json()["incidents"]}
    assert f'id="outage-{outage_id}"' not in client.get("/").get_data(as_text=True)

    again = client.post(
        f"/api/ops/outages/{outage_id}/false-positive", json={"reason": reason}, headers=bearer(tokens["ada"])
    )
    assert again.status_code == 200 and len(again.get_json()["corrections"]) == 1
    [entry] = entries(runtime, after_id=start)
    assert_entry(entry, runtime, actor="otto", action="outage_false_positive", subject=f"outage:{outage_id}")
    assert entry.before == {
        "started_at": STARTED.isoformat(),
        "ended_at": ENDED.isoformat(),
        "severity": "major_outage",
        "false_positive": False,
    }
    assert entry.after is not None and entry.after["false_positive"] is True
    assert entry.after["relief"] == relief
    assert entry.reason == reason


def test_an_open_outage_cannot_be_marked_a_false_positive(
    client: FlaskClient, runtime: Runtime, tokens: dict[str, str]
) -> None:
    outage_id = client.post("/api/ops/outages", json=DECLARATION, headers=bearer()).get_json()["id"]
    start = last_id(runtime)
    response = client.post(
        f"/api/ops/outages/{outage_id}/false-positive",
        json={"reason": "never happened"},
        headers=bearer(tokens["otto"]),
    )
    assert response.status_code == 409
    assert "still open" in response.get_json()["message"]
    assert entries(runtime, after_id=start) == []
    assert client.post("/api/ops/outages/999/false-positive", json={"reason": "x"}, headers=bearer()).status_code == 404


# --- maintenance and cases -----------------------------------------------------------------------


def test_announcing_and_withdrawing_maintenance_are_recorded(
    client: FlaskClient, runtime: Runtime, tokens: dict[str, str]
) -> None:
    start = last_id(runtime)
    window = {
        "components": ["pr-portal"],
        "starts_at": "2026-11-28T22:00:00-05:00",
        "ends_at": "2026-11-29T02:00:00-05:00",
        "title": "Network maintenance",
    }
    window_id = client.post("/api/ops/maintenance", json=window, headers=bearer(tokens["otto"])).get_json()["id"]
    for _ in range(2):
        assert client.delete(f"/api/ops/maintenance/{window_id}", headers=bearer()).status_code == 200

    announced, withdrawn = entries(runtime, after_id=start)
    assert_entry(announced, runtime, actor="otto", action="maintenance_announced", subject=f"maintenance:{window_id}")
    shape = {
        "title": "Network maintenance",
        "components": ["pr-portal"],
        "starts_at": "2026-11-29T03:00:00+00:00",
        "ends_at": "2026-11-29T07:00:00+00:00",
        "announced_at": NOW.isoformat(),
        "active": True,
    }
    assert (announced.before, announced.after) == (None, shape)
    assert_entry(
        withdrawn, runtime, actor="bootstrap", action="maintenance_cancelled", subject=f"maintenance:{window_id}"
    )
    assert (withdrawn.before, withdrawn.after) == (shape, {**shape, "active": False})


def test_importing_cases_is_recorded_with_what_was_imported(
    client: FlaskClient, runtime: Runtime, tokens: dict[str, str]
) -> None:
    start = last_id(runtime)
    csv = "case_id,components,deadline,time_zone\nA-1,pr-portal,2026-12-01T23:59:00-05:00,America/Toronto\n"
    assert (
        client.post(
            "/api/ops/cases/import", data=csv, content_type="text/csv", headers=bearer(tokens["otto"])
        ).status_code
        == 200
    )
    queued = client.post(
        "/api/ops/cases/import",
        data=csv,
        content_type="text/csv",
        headers={**bearer(tokens["ada"]), "Prefer": "respond-async"},
    )
    assert queued.status_code == 202
    rejected = client.post(
        "/api/ops/cases/import", data="case_id\nA-1\n", content_type="text/csv", headers=bearer(tokens["otto"])
    )
    assert rejected.status_code == 422  # nothing imported: nothing recorded

    now, job = entries(runtime, after_id=start)
    assert_entry(now, runtime, actor="otto", action="cases_imported", subject="cases")
    assert now.after is not None
    assert (now.after["source"], now.after["rows"], now.after["relief_for_outages"]) == ("request body", 1, [])
    assert len(now.after["sha256"]) == 64
    assert_entry(job, runtime, actor="ada", action="cases_imported", subject=f"import:{queued.get_json()['id']}")
    assert job.after == {
        "job": queued.get_json()["id"],
        "source": "request body",
        "size_bytes": len(csv),
        "state": "queued",
    }


# --- reading the log -----------------------------------------------------------------------------


def test_the_audit_log_is_read_newest_first_in_pages_by_anyone_with_a_token(
    client: FlaskClient, runtime: Runtime, tokens: dict[str, str]
) -> None:
    outage_id = add_outage(runtime)
    for n in range(5):
        client.post(
            f"/api/ops/outages/{outage_id}/updates", json={"body": f"update {n}"}, headers=bearer(tokens["otto"])
        )
    total = last_id(runtime)

    first = client.get("/api/ops/audit?limit=4", headers=bearer(tokens["vera"]))
    assert first.status_code == 200
    page = first.get_json()
    assert [e["id"] for e in page["entries"]] == [total, total - 1, total - 2, total - 3]
    assert page["next"] == f"/api/ops/audit?before={total - 3}&limit=4"
    newest = page["entries"][0]
    assert set(newest) == {
        "id",
        "at",
        "actor",
        "actor_id",
        "action",
        "subject",
        "before",
        "after",
        "reason",
        "prev_hash",
        "hash",
    }
    assert (newest["actor"], newest["action"], newest["after"]["body"]) == ("otto", "outage_update_posted", "update 4")

    seen = [e["id"] for e in page["entries"]]
    while page["next"]:
        page = client.get(page["next"], headers=bearer(tokens["vera"])).get_json()
        seen += [e["id"] for e in page["entries"]]
    assert seen == list(range(total, 0, -1))
    for bad in ["limit=0", "limit=1001", "before=x", "before=-1", "before=²"]:
        assert client.get(f"/api/ops/audit?{bad}", headers=bearer()).status_code == 422, bad
    assert client.get("/api/ops/audit").status_code == 401
    assert verify_audit(runtime.sessions).intact
