"""Every ops route, for everyone who may ask: 401 without a valid token, 403 below the route's role, through above it;
every dashboard route the same with a signed-in session (to sign-in without one).

The routes are read from the app's URL map, and the tables below must name each one with the role it
needs: a route added without a line here fails the first test until someone decides who may use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from monitor.people.credentials import hash_password
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import Role
from monitor.storage.models import AuditEntry, Case, Outage, Person
from monitor.usecases import people
from monitor.usecases.audit import CLI
from monitor.web import create_app
from tests.conftest import OFFLINE_CONFIG, make_runtime
from tests.monitor.web.conftest import NOW, TOKEN

SAFE = {"HEAD", "OPTIONS"}

# Who may use each route: every read is for viewers, every action for ops, people and tokens for admins.
ROUTES: dict[tuple[str, str], Role] = {
    ("GET", "/api/ops/outages"): Role.VIEWER,
    ("POST", "/api/ops/outages"): Role.OPS,
    ("GET", "/api/ops/outages/<int:outage_id>"): Role.VIEWER,
    ("PATCH", "/api/ops/outages/<int:outage_id>"): Role.OPS,
    ("POST", "/api/ops/outages/<int:outage_id>/acknowledge"): Role.OPS,
    ("POST", "/api/ops/outages/<int:outage_id>/updates"): Role.OPS,
    ("POST", "/api/ops/outages/<int:outage_id>/false-positive"): Role.OPS,
    ("GET", "/api/ops/checks/<int:check_id>"): Role.VIEWER,
    ("GET", "/api/ops/checks/<int:check_id>/evidence/<name>"): Role.VIEWER,
    ("GET", "/api/ops/cases/<path:case_id>"): Role.VIEWER,
    ("POST", "/api/ops/cases/import"): Role.OPS,
    ("GET", "/api/ops/imports/<job_id>"): Role.VIEWER,
    ("GET", "/api/ops/letters"): Role.VIEWER,
    ("GET", "/api/ops/notices"): Role.VIEWER,
    ("GET", "/api/ops/paper-authorisations"): Role.VIEWER,
    ("GET", "/api/ops/locations"): Role.VIEWER,
    ("GET", "/api/ops/components"): Role.VIEWER,
    ("GET", "/api/ops/uptime"): Role.VIEWER,
    ("GET", "/api/ops/monitoring-gaps"): Role.VIEWER,
    ("GET", "/api/ops/outbox"): Role.VIEWER,
    ("GET", "/api/ops/maintenance"): Role.VIEWER,
    ("POST", "/api/ops/maintenance"): Role.OPS,
    ("GET", "/api/ops/maintenance/<int:maintenance_id>"): Role.VIEWER,
    ("DELETE", "/api/ops/maintenance/<int:maintenance_id>"): Role.OPS,
    ("GET", "/api/ops/me"): Role.VIEWER,
    ("GET", "/api/ops/audit"): Role.VIEWER,
    ("GET", "/api/ops/people"): Role.ADMIN,
    ("POST", "/api/ops/people"): Role.ADMIN,
    ("POST", "/api/ops/people/<name>/tokens"): Role.ADMIN,
    ("DELETE", "/api/ops/tokens/<prefix>"): Role.ADMIN,
}

# The dashboard's routes under /ops/, signed in with a password; None: for anyone (signing in and out).
DASHBOARD_ROUTES: dict[tuple[str, str], Role | None] = {
    ("GET", "/ops/"): Role.VIEWER,
    ("GET", "/ops/sign-in"): None,
    ("POST", "/ops/sign-in"): None,
    ("POST", "/ops/sign-out"): None,
    ("GET", "/ops/outages/<int:outage_id>"): Role.VIEWER,
    ("GET", "/ops/outages/declare"): Role.OPS,
    ("POST", "/ops/outages/declare"): Role.OPS,
    ("POST", "/ops/outages/<int:outage_id>/acknowledge"): Role.OPS,
    ("POST", "/ops/outages/<int:outage_id>/updates"): Role.OPS,
    ("POST", "/ops/outages/<int:outage_id>/correct"): Role.OPS,
    ("POST", "/ops/outages/<int:outage_id>/false-positive"): Role.OPS,
    ("GET", "/ops/checks/<int:check_id>/evidence/<name>"): Role.VIEWER,
    ("GET", "/ops/maintenance"): Role.VIEWER,
    ("POST", "/ops/maintenance"): Role.OPS,
    ("POST", "/ops/maintenance/<int:maintenance_id>/cancel"): Role.OPS,
}

# Routes that act on outages from outside the ops API, and what they trust instead of a bearer token.
SIGNED_ELSEWHERE: dict[tuple[str, str], str] = {
    ("POST", "/slack/interactivity"): "Slack's request signature (SLACK_SIGNING_SECRET)",
}

# Values for each path parameter that name nothing: an allowed request reaches the view and gets its 404
# or 422, so nothing is changed by this test and each case can share one database.
ARGUMENTS: dict[str, Any] = {
    "outage_id": 999_999,
    "check_id": 999_999,
    "maintenance_id": 999_999,
    "name": "nobody",
    "case_id": "C-0001",
    "job_id": "0" * 32,
    "prefix": "zz99zz99",
}

# Who asks. None: no Authorization header at all.
CREDENTIALS = ["none", "malformed", "unknown", "revoked", "inactive", "viewer", "ops", "admin", "bootstrap"]
ROLE_OF = {"viewer": Role.VIEWER, "ops": Role.OPS, "admin": Role.ADMIN, "bootstrap": Role.ADMIN}
RANK = [Role.VIEWER, Role.OPS, Role.ADMIN]


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, dict[str, str | None]]]:
    """One database with a person of each role, a revoked token and a person no longer active."""
    path: Path = tmp_path_factory.mktemp("roles") / "portalwatch.db"
    runtime = make_runtime(f"sqlite:///{path}", OFFLINE_CONFIG, ops_token=TOKEN)
    runtime.clock = lambda: NOW
    tokens: dict[str, str | None] = {
        "none": None,
        "malformed": "not-a-token",
        "unknown": "pw_abcdefgh_" + "A" * 43,
        "bootstrap": TOKEN,
    }
    with transaction(runtime.sessions) as session:
        for credential, name, role in [
            ("viewer", "vera", Role.VIEWER),
            ("ops", "otto", Role.OPS),
            ("admin", "ada", Role.ADMIN),
            ("revoked", "rita", Role.ADMIN),
            ("inactive", "ines", Role.ADMIN),
        ]:
            people.create_person(session, CLI, name=name, role=role, now=NOW)
            tokens[credential] = people.issue_token(session, CLI, name, now=NOW).token
        rita = people.issue_token(session, CLI, "rita", now=NOW)
        people.revoke_token(session, CLI, rita.prefix, now=NOW)
        tokens["revoked"] = rita.token
        session.execute(update(Person).where(Person.name == "ines").values(active=False))
    yield runtime, tokens
    runtime.close()


@pytest.fixture(scope="module")
def app(desk: tuple[Runtime, dict[str, str | None]]) -> Flask:
    return create_app(desk[0])


def ops_rules(app: Flask) -> set[tuple[str, str]]:
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/ops/")
        for method in (rule.methods or set()) - SAFE
    }


def test_every_ops_route_has_a_role_in_the_table_above(app: Flask) -> None:
    found = ops_rules(app)
    assert found - ROUTES.keys() == set(), "routes without a role rule in this test: decide who may use them"
    assert ROUTES.keys() - found == set(), "the table names routes the app no longer has"


def path_of(app: Flask, method: str, rule_text: str) -> str:
    [rule] = [r for r in app.url_map.iter_rules() if r.rule == rule_text and method in (r.methods or set())]
    adapter = app.url_map.bind("status.test")
    return adapter.build(rule.endpoint, {name: ARGUMENTS[name] for name in rule.arguments}, method=method)


def call(client: FlaskClient, method: str, path: str, token: str | None) -> Any:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    data = None if method == "GET" else b"{}"
    return client.open(path, method=method, headers=headers, data=data, content_type="application/json")


@pytest.mark.parametrize("credential", CREDENTIALS)
@pytest.mark.parametrize(("method", "rule"), sorted(ROUTES), ids=[f"{m} {r}" for m, r in sorted(ROUTES)])
def test_each_route_answers_each_credential_as_its_role_allows(
    app: Flask, desk: tuple[Runtime, dict[str, str | None]], method: str, rule: str, credential: str
) -> None:
    _, tokens = desk
    response = call(app.test_client(), method, path_of(app, method, rule), tokens[credential])
    body = response.get_json()
    assert response.is_json, response.get_data(as_text=True)
    needed = ROUTES[(method, rule)]
    if credential not in ROLE_OF:
        assert response.status_code == 401, body
        assert body["error"] == "unauthorized" and set(body) == {"error", "message"}
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    elif RANK.index(ROLE_OF[credential]) < RANK.index(needed):
        assert response.status_code == 403, body
        assert body["error"] == "forbidden"
        assert needed.value in body["message"]
    else:
        assert response.status_code not in (401, 403), body
        assert response.status_code < 500, body
    assert response.headers["Cache-Control"] == "no-store"


def test_the_matrix_changed_nothing(desk: tuple[Runtime, dict[str, str | None]]) -> None:
    # Every allowed call above named nothing that exists or sent an empty object: no action was taken.
    with transaction(desk[0].sessions) as session:
        assert session.scalar(select(func.count()).select_from(Outage)) == 0
        assert session.scalar(select(func.count()).select_from(Case)) == 0
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    # Only the fixture's people, tokens and revocation, made at the command line.
    assert {action.value for action in actions} == {"person_created", "token_created", "token_revoked"}


def test_routes_signed_elsewhere_take_no_bearer_token(app: Flask, desk: tuple[Runtime, dict[str, str | None]]) -> None:
    # An admin's token is not Slack's signature: without the signature nothing is acknowledged.
    found = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/slack/")
        for method in (rule.methods or set()) - SAFE
    }
    assert found == SIGNED_ELSEWHERE.keys()
    client = app.test_client()
    for method, rule in SIGNED_ELSEWHERE:
        response = call(client, method, rule, desk[1]["bootstrap"])
        assert response.status_code in (401, 503), response.get_data(as_text=True)


@pytest.mark.parametrize(
    "authorization",
    ["Basic czNjcmV0Og==", "Bearer", "Bearer ", "Token pw_abcdefgh_" + "A" * 43, "Bearer  pw_abcdefgh"],
)
def test_anything_but_a_bearer_token_is_a_401(app: Flask, authorization: str) -> None:
    response = app.test_client().get("/api/ops/me", headers={"Authorization": authorization})
    assert response.status_code == 401


def test_a_person_s_token_is_theirs_and_says_so(app: Flask, desk: tuple[Runtime, dict[str, str | None]]) -> None:
    _, tokens = desk
    client = app.test_client()
    for credential, name, role in [("viewer", "vera", "viewer"), ("ops", "otto", "ops"), ("admin", "ada", "admin")]:
        me = call(client, "GET", "/api/ops/me", tokens[credential]).get_json()
        assert (me["name"], me["role"]) == (name, role)
        assert isinstance(me["person_id"], int)
    assert call(client, "GET", "/api/ops/me", tokens["bootstrap"]).get_json() == {
        "name": "bootstrap",
        "role": "admin",
        "person_id": None,
    }


# --- the dashboard ---------------------------------------------------------------------------------

PASSWORD = "correct horse battery staple"
SIGNED_IN = ["none", "viewer", "ops", "admin"]


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, Flask]]:
    """Its own database: a person of each role with a password."""
    path: Path = tmp_path_factory.mktemp("dashboard-roles") / "portalwatch.db"
    runtime = make_runtime(f"sqlite:///{path}", OFFLINE_CONFIG)
    runtime.clock = lambda: NOW
    with transaction(runtime.sessions) as session:
        for name, role in [("vera", Role.VIEWER), ("otto", Role.OPS), ("ada", Role.ADMIN)]:
            people.create_person(session, CLI, name=name, role=role, password_hash=hash_password(PASSWORD), now=NOW)
    yield runtime, create_app(runtime)
    runtime.close()


@pytest.fixture(scope="module")
def sessions(dashboard: tuple[Runtime, Flask]) -> dict[str, tuple[FlaskClient, str]]:
    """A client signed in as each of them (once: sign-in is rate limited), with its form's CSRF token."""
    _, app = dashboard
    clients = {}
    for credential, name in [("none", None), ("viewer", "vera"), ("ops", "otto"), ("admin", "ada")]:
        client = app.test_client()
        page = client.get("/ops/sign-in").get_data(as_text=True)
        found = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert found
        if name is not None:
            signed = client.post(
                "/ops/sign-in", data={"name": name, "password": PASSWORD, "csrf_token": found.group(1)}
            )
            assert signed.status_code == 303
        clients[credential] = (client, found.group(1))
    return clients


def dashboard_rules(app: Flask) -> set[tuple[str, str]]:
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/ops/")
        for method in (rule.methods or set()) - SAFE
    }


def test_every_dashboard_route_has_a_role_in_the_table_above(dashboard: tuple[Runtime, Flask]) -> None:
    found = dashboard_rules(dashboard[1])
    assert found - DASHBOARD_ROUTES.keys() == set(), "dashboard routes without a role rule: decide who may use them"
    assert DASHBOARD_ROUTES.keys() - found == set(), "the table names routes the app no longer has"


GUARDED = sorted(key for key, role in DASHBOARD_ROUTES.items() if role is not None)


@pytest.mark.parametrize("credential", SIGNED_IN)
@pytest.mark.parametrize(("method", "rule"), GUARDED, ids=[f"{m} {r}" for m, r in GUARDED])
def test_each_dashboard_route_answers_each_person_as_their_role_allows(
    dashboard: tuple[Runtime, Flask],
    sessions: dict[str, tuple[FlaskClient, str]],
    method: str,
    rule: str,
    credential: str,
) -> None:
    _, app = dashboard
    client, token = sessions[credential]
    path = path_of(app, method, rule)
    response = client.get(path) if method == "GET" else client.post(path, data={"csrf_token": token})
    needed = DASHBOARD_ROUTES[(method, rule)]
    assert needed is not None
    if credential == "none":
        assert response.status_code == 303 and response.headers["Location"] == "/ops/sign-in"
    elif RANK.index(ROLE_OF[credential]) < RANK.index(needed):
        assert response.status_code == 403, response.get_data(as_text=True)
        assert f"needs the {needed.value} role" in response.get_data(as_text=True)
    else:
        assert response.status_code not in (303, 401, 403), response.get_data(as_text=True)
        assert response.status_code < 500, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"


def test_the_dashboard_matrix_changed_nothing(
    dashboard: tuple[Runtime, Flask], sessions: dict[str, tuple[FlaskClient, str]]
) -> None:
    with transaction(dashboard[0].sessions) as session:
        assert session.scalar(select(func.count()).select_from(Outage)) == 0
        actions = {action.value for action in session.scalars(select(AuditEntry.action))}
    assert actions == {"person_created"}
