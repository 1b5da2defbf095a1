"""Signing in to the ops dashboard: a slow-hashed password, a session cookie, CSRF on every form, a rate limit."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from monitor.people.credentials import hash_password
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import Role
from monitor.storage.models import AuditEntry
from monitor.usecases import people
from monitor.usecases.audit import CLI, Actor
from monitor.web import create_app
from monitor.web.auth import current_actor
from monitor.web.dashboard import signed_in
from tests.monitor.web.conftest import NOW

PASSWORD = "correct horse battery staple"


@pytest.fixture
def app(runtime: Runtime) -> Flask:
    with transaction(runtime.sessions) as session:
        people.create_person(
            session, CLI, name="vera", role=Role.VIEWER, password_hash=hash_password(PASSWORD), now=NOW
        )
        people.create_person(session, CLI, name="otto", role=Role.OPS, password_hash=hash_password(PASSWORD), now=NOW)
        people.create_person(session, CLI, name="tina", role=Role.OPS, now=NOW)  # tokens only: no password
    app = create_app(runtime)

    # What a dashboard action will look like: it needs the ops role, and the audit names the person.
    def act() -> BaseResponse | str:
        person = signed_in(Role.OPS)
        if not isinstance(person, Actor):
            return person
        return f"acting as {current_actor().name}"

    app.add_url_rule("/ops/test-action", view_func=act)
    return app


def csrf_token(client: FlaskClient, path: str = "/ops/sign-in", base_url: str = "http://localhost") -> str:
    page = client.get(path, base_url=base_url).get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def sign_in(client: FlaskClient, name: str, password: str, *, csrf: bool = True) -> BaseResponse:
    form = {"name": name, "password": password}
    if csrf:
        form["csrf_token"] = csrf_token(client)
    return client.post("/ops/sign-in", data=form)


def test_the_dashboard_sends_strangers_to_sign_in(app: Flask) -> None:
    client = app.test_client()
    response = client.get("/ops/")
    assert response.status_code == 303 and response.headers["Location"] == "/ops/sign-in"
    page = client.get("/ops/sign-in")
    assert page.status_code == 200 and 'name="password"' in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    # Its forms are checked against their Referer over HTTPS: the browser must send it, within the site only.
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert client.get("/").headers["Referrer-Policy"] == "same-origin"


def test_signing_in_starts_a_session_that_names_the_person(app: Flask) -> None:
    client = app.test_client()
    response = sign_in(client, "otto", PASSWORD)
    assert response.status_code == 303 and response.headers["Location"] == "/ops/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP (the demo, a test): over HTTPS it is Secure, below
    home = client.get("/ops/")
    assert home.status_code == 200
    assert 'data-name="otto" data-role="ops"' in home.get_data(as_text=True)
    assert client.get("/ops/test-action").get_data(as_text=True) == "acting as otto"


def test_over_https_the_session_cookie_is_secure(app: Flask) -> None:
    client = app.test_client()
    token = csrf_token(client, base_url="https://status.test")
    response = client.post(
        "/ops/sign-in",
        data={"name": "otto", "password": PASSWORD, "csrf_token": token},
        base_url="https://status.test",
        headers={"Referer": "https://status.test/ops/sign-in"},  # flask-wtf checks it over HTTPS
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    assert "; Secure" in response.headers["Set-Cookie"]
    no_referer = client.post(
        "/ops/sign-in",
        data={"name": "otto", "password": PASSWORD, "csrf_token": csrf_token(client, base_url="https://status.test")},
        base_url="https://status.test",
    )
    assert no_referer.status_code == 400  # over HTTPS the form must come from this site's own page


@pytest.mark.parametrize(
    ("name", "password"),
    [("otto", "wrong horse battery staple"), ("nobody", PASSWORD), ("tina", PASSWORD), ("", ""), ("OTTO", PASSWORD)],
)
def test_a_wrong_password_or_name_is_refused_with_one_answer(app: Flask, name: str, password: str) -> None:
    client = app.test_client()
    response = sign_in(client, name, password)
    assert response.status_code == 401
    assert "The name or password is wrong." in response.get_data(as_text=True)
    assert client.get("/ops/").status_code == 303


def test_a_form_without_its_csrf_token_is_refused(app: Flask) -> None:
    client = app.test_client()
    refused = sign_in(client, "otto", PASSWORD, csrf=False)
    assert refused.status_code == 400
    assert client.get("/ops/").status_code == 303
    forged = client.post("/ops/sign-in", data={"name": "otto", "password": PASSWORD, "csrf_token": "forged"})
    assert forged.status_code == 400

    assert sign_in(client, "otto", PASSWORD).status_code == 303
    assert client.post("/ops/sign-out").status_code == 400  # signing out is a form too
    assert client.get("/ops/").status_code == 200
    out = client.post("/ops/sign-out", data={"csrf_token": csrf_token(client, "/ops/")})
    assert out.status_code == 303 and out.headers["Location"] == "/ops/sign-in"
    assert client.get("/ops/").status_code == 303


def test_a_viewer_may_look_but_not_act(app: Flask) -> None:
    client = app.test_client()
    assert sign_in(client, "vera", PASSWORD).status_code == 303
    assert client.get("/ops/").status_code == 200
    refused = client.get("/ops/test-action")
    assert refused.status_code == 403
    assert "needs the ops role" in refused.get_data(as_text=True)


def test_a_new_password_ends_the_sessions_signed_in_with_the_old_one(app: Flask, runtime: Runtime) -> None:
    client = app.test_client()
    assert sign_in(client, "otto", PASSWORD).status_code == 303
    with transaction(runtime.sessions) as session:
        people.set_password(session, CLI, "otto", password_hash=hash_password("a brand new password"), now=NOW)
    assert client.get("/ops/").status_code == 303
    assert sign_in(client, "otto", "a brand new password").status_code == 303
    with transaction(runtime.sessions) as session:
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert entry is not None
        assert (entry.actor, entry.action.value, entry.subject) == ("cli", "password_set", "person:otto")
        assert (entry.before, entry.after) == ({"password": True}, {"password": True})
        assert "scrypt" not in str(entry.after)  # never the hash


def test_sign_in_attempts_are_limited_per_client(app: Flask) -> None:
    client = app.test_client()
    token = csrf_token(client)
    statuses = [
        client.post(
            "/ops/sign-in", data={"name": "otto", "password": f"guess {n:08d}", "csrf_token": token}
        ).status_code
        for n in range(11)
    ]
    assert statuses == [401] * 10 + [429]
    assert client.get("/ops/sign-in").status_code == 200  # the page itself is not limited
