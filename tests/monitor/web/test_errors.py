"""Errors callers can read: JSON on /api/*, a short page elsewhere; 503 + Retry-After while PostgreSQL is away."""

from __future__ import annotations

import dataclasses
import logging
import secrets
import socket
from collections.abc import Iterator

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.test import TestResponse

from monitor.config import parse_config
from monitor.runtime import Runtime
from monitor.settings import Settings
from monitor.storage.engine import make_engine, make_sessionmaker
from monitor.web import create_app
from monitor.web.app import MAX_UPLOAD_BYTES
from monitor.web.errors import RETRY_AFTER_SECONDS
from tests.conftest import OFFLINE_CONFIG, make_runtime

TOKEN = secrets.token_hex(32)
PUBLIC_JSON = [
    "/api/v2/summary.json",
    "/api/v2/status.json",
    "/api/v2/components.json",
    "/api/v2/incidents.json",
    "/api/v2/incidents/unresolved.json",
]


@pytest.fixture
def pg_runtime(postgres_url: str) -> Iterator[Runtime]:
    runtime = make_runtime(postgres_url, OFFLINE_CONFIG, ops_token=TOKEN)
    yield runtime
    runtime.close()


@pytest.fixture
def sqlite_client(sqlite_url: str) -> Iterator[FlaskClient]:
    runtime = make_runtime(sqlite_url, OFFLINE_CONFIG, ops_token=TOKEN)
    yield create_app(runtime).test_client()
    runtime.close()


def assert_unavailable(response: TestResponse, *, json: bool) -> None:
    body = response.get_data(as_text=True)
    assert response.status_code == 503, body
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert response.headers["Cache-Control"] == "no-store"
    assert "Traceback" not in body and "psycopg" not in body and "sqlalchemy" not in body.lower()
    if json:
        assert response.mimetype == "application/json"
        assert response.get_json()["error"] == "unavailable"
        assert response.get_json()["message"]
    else:
        assert response.mimetype == "text/html"
        assert "<h1>503</h1>" in body


def assert_every_surface_is_unavailable(client: FlaskClient) -> None:
    for path in PUBLIC_JSON:
        assert_unavailable(client.get(path), json=True)
    assert_unavailable(client.get("/api/ops/outages", headers={"Authorization": f"Bearer {TOKEN}"}), json=True)
    assert_unavailable(client.get("/"), json=False)


def test_the_status_api_answers_503_json_with_retry_after_while_postgresql_refuses_connections(
    pg_runtime: Runtime, postgres_server: str, postgres_url: str
) -> None:
    client = create_app(pg_runtime).test_client()
    assert client.get("/api/v2/summary.json").status_code == 200  # the pool holds a live connection now
    name = make_url(postgres_url).database
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            # CONNECTION LIMIT 0 would not do: it does not apply to superusers, which the tests connect as.
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(
                text("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = :n"), {"n": name}
            )
        assert_every_surface_is_unavailable(client)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()
    assert client.get("/api/v2/summary.json").status_code == 200  # and it recovers by itself


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once the socket is closed


def test_the_status_api_answers_503_json_when_postgresql_is_not_listening(postgres_url: str) -> None:
    url = make_url(postgres_url).set(port=closed_port()).render_as_string(hide_password=False)
    runtime = Runtime.create(Settings.explicit(database_url=url, ops_token=TOKEN), parse_config(OFFLINE_CONFIG))
    try:
        assert_every_surface_is_unavailable(create_app(runtime).test_client())
    finally:
        runtime.close()


def test_the_status_api_answers_503_json_when_no_pooled_connection_frees_up_in_time(pg_runtime: Runtime) -> None:
    engine = make_engine(
        pg_runtime.engine.url.render_as_string(hide_password=False), pool_size=1, max_overflow=0, pool_timeout=0.2
    )
    runtime = dataclasses.replace(pg_runtime, engine=engine, sessions=make_sessionmaker(engine))
    try:
        with engine.connect():  # the pool's only connection, busy elsewhere
            assert_every_surface_is_unavailable(create_app(runtime).test_client())
    finally:
        engine.dispose()


def test_the_status_api_answers_503_json_when_postgresql_drops_the_connection_mid_request(
    pg_runtime: Runtime, postgres_server: str
) -> None:
    # A restart or failover kills the connection after the pool's pre-ping said it was fine.
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    kills: list[int] = []

    def kill_before_the_first_query(conn: Connection, *_args: object) -> None:
        pid = conn.connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
        if pid not in kills:
            kills.append(pid)
            with admin.connect() as c:
                c.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})

    client = create_app(pg_runtime).test_client()
    event.listen(pg_runtime.engine, "before_cursor_execute", kill_before_the_first_query)
    try:
        assert_unavailable(client.get("/api/v2/summary.json"), json=True)
        assert_unavailable(client.get("/"), json=False)
    finally:
        event.remove(pg_runtime.engine, "before_cursor_execute", kill_before_the_first_query)
        admin.dispose()
    assert kills
    assert client.get("/api/v2/summary.json").status_code == 200


def _operational() -> Exception:
    return OperationalError("SELECT 1", {}, psycopg.OperationalError("connection refused"))


def _closed_connection() -> Exception:
    return InterfaceError(
        "SELECT 1", {}, psycopg.InterfaceError("the connection is closed"), connection_invalidated=True
    )


def _raised_from_a_database_error() -> Exception:
    try:
        raise _operational()
    except OperationalError as exc:
        try:
            raise RuntimeError("could not load the snapshot") from exc
        except RuntimeError as wrapped:
            return wrapped


@pytest.mark.parametrize(
    "make_error",
    [
        _operational,
        lambda: PoolTimeout("QueuePool limit of size 5 overflow 10 reached"),
        lambda: DisconnectionError("pre-ping failed"),
        _closed_connection,
        _raised_from_a_database_error,
    ],
    ids=["operational", "pool-timeout", "disconnection", "closed-connection", "raised-from"],
)
def test_every_form_of_database_unavailable_answers_503(
    sqlite_client: FlaskClient, monkeypatch: pytest.MonkeyPatch, make_error: object
) -> None:
    def fail(*_args: object, **_kwargs: object) -> None:
        raise make_error()  # type: ignore[operator]

    monkeypatch.setattr("monitor.web.status.load_snapshot", fail)
    assert_unavailable(sqlite_client.get("/api/v2/summary.json"), json=True)
    assert_unavailable(sqlite_client.get("/"), json=False)


def test_a_database_error_that_is_not_an_outage_is_a_500(
    sqlite_client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*_args: object, **_kwargs: object) -> None:
        raise ProgrammingError("SELECT nope", {}, psycopg.ProgrammingError('column "nope" does not exist'))

    monkeypatch.setattr("monitor.web.status.load_snapshot", fail)
    response = sqlite_client.get("/api/v2/summary.json")
    assert response.status_code == 500
    assert response.get_json()["error"] == "internal_error"
    assert "nope" not in response.get_data(as_text=True)


def test_an_unexpected_exception_is_a_json_500_without_a_traceback(
    sqlite_client: FlaskClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def fail(*_args: object, **_kwargs: object) -> None:
        raise ValueError("internal detail: /srv/portalwatch/secret.yaml")

    monkeypatch.setattr("monitor.web.status.load_snapshot", fail)
    with caplog.at_level(logging.ERROR, logger="monitor.web.errors"):
        api = sqlite_client.get("/api/v2/summary.json")
        page = sqlite_client.get("/")
    assert (api.status_code, api.mimetype) == (500, "application/json")
    assert api.get_json() == {"error": "internal_error", "message": api.get_json()["message"]}
    assert (page.status_code, page.mimetype) == (500, "text/html")
    for response in (api, page):
        body = response.get_data(as_text=True)
        assert "Traceback" not in body and "internal detail" not in body and "ValueError" not in body
        assert "Retry-After" not in response.headers
    # The detail is not lost: it is in the log, with its traceback.
    assert any(r.exc_info and "internal detail" in str(r.exc_info[1]) for r in caplog.records)


@pytest.mark.parametrize(
    "path",
    ["/api/v2/no-such.json", "/api/ops/no-such", "/api/no-such", "/api"],
)
def test_an_unknown_api_path_is_a_json_404(sqlite_client: FlaskClient, path: str) -> None:
    response = sqlite_client.get(path)
    assert (response.status_code, response.mimetype) == (404, "application/json")
    assert response.get_json()["error"] == "not_found"


def test_an_unknown_page_is_an_html_404(sqlite_client: FlaskClient) -> None:
    response = sqlite_client.get("/no-such-page")
    assert (response.status_code, response.mimetype) == (404, "text/html")
    assert "<h1>404</h1>" in response.get_data(as_text=True)


def test_a_json_client_gets_json_errors_from_the_page_too(sqlite_client: FlaskClient) -> None:
    response = sqlite_client.get("/no-such-page", headers={"Accept": "application/json"})
    assert (response.status_code, response.mimetype) == (404, "application/json")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/api/v2/summary.json", {"GET", "HEAD", "OPTIONS"}),
        ("DELETE", "/api/v2/incidents.json", {"GET", "HEAD", "OPTIONS"}),
        ("PUT", "/api/ops/outages", {"GET", "HEAD", "OPTIONS", "POST"}),
    ],
)
def test_a_wrong_method_on_the_api_is_a_json_405_with_allow(
    sqlite_client: FlaskClient, method: str, path: str, allowed: set[str]
) -> None:
    response = sqlite_client.open(path, method=method, headers={"Authorization": f"Bearer {TOKEN}"})
    assert (response.status_code, response.mimetype) == (405, "application/json")
    assert response.get_json()["error"] == "method_not_allowed"
    assert {m.strip() for m in response.headers["Allow"].split(",")} == allowed


def test_an_import_larger_than_the_upload_limit_is_a_json_413(sqlite_client: FlaskClient) -> None:
    # The declared length is what werkzeug checks, before reading a byte of the body.
    response = sqlite_client.post(
        "/api/ops/cases/import",
        data=b"case_id,deadline\n",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/csv"},
        environ_overrides={"CONTENT_LENGTH": str(MAX_UPLOAD_BYTES + 1)},
    )
    assert (response.status_code, response.mimetype) == (413, "application/json")
    assert response.get_json()["error"] == "request_entity_too_large"


def test_a_multipart_import_larger_than_the_upload_limit_is_a_json_413(sqlite_client: FlaskClient) -> None:
    app: Flask = sqlite_client.application  # type: ignore[assignment]
    app.config["MAX_CONTENT_LENGTH"] = 1024  # the same check, with a body that really is too large
    from io import BytesIO

    response = sqlite_client.post(
        "/api/ops/cases/import",
        data={"file": (BytesIO(b"x" * 4096), "cases.csv")},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert (response.status_code, response.mimetype) == (413, "application/json")


def test_an_ops_request_without_a_token_is_a_json_401_before_any_limit_applies(sqlite_client: FlaskClient) -> None:
    response = sqlite_client.post(
        "/api/ops/cases/import",
        data=b"x",
        environ_overrides={"CONTENT_LENGTH": str(MAX_UPLOAD_BYTES + 1)},
    )
    assert (response.status_code, response.mimetype) == (401, "application/json")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
