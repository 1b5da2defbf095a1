"""Admins add people and give and revoke their tokens; a token is shown once and kept only as its digest."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select

from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import Role
from monitor.storage.models import ApiToken, AuditEntry
from monitor.usecases import people
from monitor.usecases.audit import CLI
from tests.monitor.web.conftest import NOW, bearer


def admin_token(runtime: Runtime) -> str:
    with transaction(runtime.sessions) as session:
        people.create_person(session, CLI, name="ada", role=Role.ADMIN, now=NOW)
        return people.issue_token(session, CLI, "ada", now=NOW).token


def audit_rows(runtime: Runtime) -> list[tuple[str, str, str, dict[str, object] | None, dict[str, object] | None]]:
    with transaction(runtime.sessions) as session:
        return [
            (e.actor, e.action.value, e.subject, e.before, e.after)
            for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        ]


def test_an_admin_adds_a_person_whose_first_token_works_at_once(client: FlaskClient, runtime: Runtime) -> None:
    admin = admin_token(runtime)
    response = client.post(
        "/api/ops/people", json={"name": "otto", "role": "ops", "slack_user_id": "U012AB3CD"}, headers=bearer(admin)
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert response.headers["Location"] == "/api/ops/people/otto"
    assert (body["name"], body["role"], body["slack_user_id"], body["password"]) == ("otto", "ops", "U012AB3CD", False)
    token = body["token"]["token"]
    assert body["token"]["prefix"] == token[:11]

    me = client.get("/api/ops/me", headers=bearer(token)).get_json()
    assert (me["name"], me["role"]) == ("otto", "ops")

    listed = client.get("/api/ops/people", headers=bearer(admin)).get_json()["people"]
    assert [(p["name"], p["role"], len(p["tokens"])) for p in listed] == [("ada", "admin", 1), ("otto", "ops", 1)]
    otto = listed[1]
    assert otto["tokens"][0] == {
        "prefix": token[:11],
        "created_at": NOW.isoformat(),
        "last_used_at": NOW.isoformat(),  # the /me call above
        "revoked_at": None,
    }
    # Shown once: the token is in no list and in no column, only its SHA-256 is.
    assert token not in client.get("/api/ops/people", headers=bearer(admin)).get_data(as_text=True)
    with transaction(runtime.sessions) as session:
        stored = session.scalars(select(ApiToken)).all()
    assert all(token not in (t.token_hash, t.prefix) for t in stored)

    assert audit_rows(runtime)[2:] == [
        ("ada", "person_created", "person:otto", None, {
            "id": body["id"], "name": "otto", "role": "ops", "active": True, "slack_user_id": "U012AB3CD",
            "password": False, "created_at": NOW.isoformat(),
        }),
        ("ada", "token_created", f"token:{token[3:11]}", None, {"person": "otto", "role": "ops", "prefix": token[:11]}),
    ]  # fmt: skip


def test_people_are_refused_with_the_field_at_fault(client: FlaskClient, runtime: Runtime) -> None:
    admin = admin_token(runtime)
    for body, status, field in [
        ({"name": "ada", "role": "ops"}, 409, "name"),
        ({"name": "Otto", "role": "ops"}, 422, "name"),
        ({"name": "bootstrap", "role": "admin"}, 422, "name"),
        ({"name": "otto", "role": "owner"}, 422, "role"),
        ({"name": "otto"}, 422, "role"),
        ({"name": "otto", "role": "ops", "slack_user_id": "otto"}, 422, "slack_user_id"),
        ({"name": "otto", "role": "ops", "password": "correct horse battery"}, 422, "password"),
    ]:
        response = client.post("/api/ops/people", json=body, headers=bearer(admin))
        assert (response.status_code, response.get_json().get("field")) == (status, field), body
    client.post("/api/ops/people", json={"name": "otto", "role": "ops", "slack_user_id": "U1"}, headers=bearer(admin))
    taken = client.post(
        "/api/ops/people", json={"name": "olga", "role": "ops", "slack_user_id": "U1"}, headers=bearer(admin)
    )
    assert (taken.status_code, taken.get_json()["field"]) == (422, "slack_user_id")  # U1 is too short an id
    client.post("/api/ops/people", json={"name": "olaf", "role": "ops", "slack_user_id": "U0AB"}, headers=bearer(admin))
    taken = client.post(
        "/api/ops/people", json={"name": "olga", "role": "ops", "slack_user_id": "U0AB"}, headers=bearer(admin)
    )
    assert (taken.status_code, taken.get_json()["field"]) == (409, "slack_user_id")


def test_a_revoked_token_stops_working_and_revoking_again_changes_nothing(
    client: FlaskClient, runtime: Runtime
) -> None:
    admin = admin_token(runtime)
    client.post("/api/ops/people", json={"name": "otto", "role": "ops"}, headers=bearer(admin))
    made = client.post("/api/ops/people/otto/tokens", headers=bearer(admin))
    assert made.status_code == 201
    second = made.get_json()
    assert (second["person"], second["role"]) == ("otto", "ops")
    assert client.get("/api/ops/me", headers=bearer(second["token"])).status_code == 200

    for name in [second["prefix"], second["prefix"][3:]]:  # `pw_ab12cd34` or `ab12cd34`
        revoked = client.delete(f"/api/ops/tokens/{name}", headers=bearer(admin))
        assert revoked.status_code == 200
        assert (revoked.get_json()["revoked_at"], revoked.get_json()["person"]) == (NOW.isoformat(), "otto")
    assert client.get("/api/ops/me", headers=bearer(second["token"])).status_code == 401
    assert client.delete("/api/ops/tokens/zz99zz99", headers=bearer(admin)).status_code == 404
    assert client.post("/api/ops/people/nobody/tokens", headers=bearer(admin)).status_code == 404

    revocations = [row for row in audit_rows(runtime) if row[1] == "token_revoked"]
    assert revocations == [
        (
            "ada",
            "token_revoked",
            f"token:{second['prefix'][3:]}",
            {"person": "otto", "revoked_at": None},
            {"person": "otto", "revoked_at": NOW.isoformat()},
        )
    ]


def test_an_ops_person_cannot_manage_people_and_an_admin_token_is_no_bootstrap(
    client: FlaskClient, runtime: Runtime
) -> None:
    admin = admin_token(runtime)
    otto = client.post("/api/ops/people", json={"name": "otto", "role": "ops"}, headers=bearer(admin)).get_json()
    ops = otto["token"]["token"]
    for method, path in [
        ("GET", "/api/ops/people"),
        ("POST", "/api/ops/people"),
        ("POST", "/api/ops/people/otto/tokens"),
        ("DELETE", f"/api/ops/tokens/{otto['token']['prefix']}"),
    ]:
        response = client.open(path, method=method, json={"name": "eve", "role": "admin"}, headers=bearer(ops))
        assert response.status_code == 403, (method, path)
        assert response.get_json()["message"] == "this needs the admin role or above; otto has ops"
    assert client.get("/api/ops/me", headers=bearer(ops)).status_code == 200
