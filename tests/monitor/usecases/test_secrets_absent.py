"""`${env:NAME}` secrets through the real recording path: checks run by `run_checks` against a portal on
127.0.0.1 that echoes them back, recorded, an outage opened; then every column of every row of every
table, and what the ops API shows, is searched for them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import MetaData, select

from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.models import Check, OutboxEvent, Probe
from monitor.usecases.checks import Due, run_checks
from monitor.web import create_app
from probes.result import failed_step
from probes.secrets import REDACTED
from tests.conftest import make_runtime
from tests.monitor.usecases.echo_portal import SLOT, EchoPortal, config, echo_portal, sign_in_probe

pytestmark = pytest.mark.timeout(60)

TOKEN_ENV = "PORTALWATCH_TEST_RECORDED_TOKEN"
PASSWORD_ENV = "PORTALWATCH_TEST_RECORDED_PASSWORD"
UNSET_ENV = "PORTALWATCH_TEST_RECORDED_UNSET"
# Each starts with letters and digits no encoding changes, so its start shows in any form it leaks in.
TOKEN = "Tk-7f3a9+/=&<'\">x"
PASSWORD = "Pw-s3cr3t&p@ss wörd/<x>#?"
LEAKS = ("Tk-7f", "Pw-s3")
OPS_TOKEN = "ops-token-for-tests"


def http_probe(probe_id: str, url: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": probe_id,
        "type": "http",
        "url": url,
        "interval": "10s",
        "timeout": "5s",
        "headers": {"Authorization": f"Bearer ${{env:{TOKEN_ENV}}}"},
        **fields,
    }


def probes(base: str) -> list[dict[str, Any]]:
    key = f"key=${{env:{PASSWORD_ENV}}}"
    return [
        # Refused at its sign-in step; the 403 page echoes the form, the headers and the request line.
        sign_in_probe(base, password_env=PASSWORD_ENV, token_env=TOKEN_ENV),
        # A 403 echoing the query, the headers and the body, with the Authorization in a header of its own.
        http_probe(
            "rep-api", f"{base}/api/echo?user=probe&{key}", method="POST", body=f"password=${{env:{PASSWORD_ENV}}}"
        ),
        # The echoed Authorization quoted in the error line itself.
        http_probe("rep-api-header", f"{base}/api/echo-ok?{key}", expect_headers={"X-Echo": "/^never$/"}),
        # Up: a passing check's evidence echoes them too.
        http_probe("rep-api-up", f"{base}/api/echo-ok?{key}"),
        # A variable this worker lacks: failed, nothing sent.
        http_probe("rep-api-unset", f"{base}/api/echo-ok?key=${{env:{UNSET_ENV}}}"),
    ]


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    monkeypatch.delenv(UNSET_ENV, raising=False)


@pytest.fixture
def portal() -> Iterator[EchoPortal]:
    with echo_portal() as server:
        yield server


@pytest.fixture
def runtime(database_url: str, portal: EchoPortal, secrets: None) -> Iterator[Runtime]:
    runtime = make_runtime(database_url, config(probes(portal.base)), ops_token=OPS_TOKEN)
    yield runtime
    runtime.close()


def every_value(runtime: Runtime) -> Iterator[tuple[str, str, str]]:
    """(table, column, the value as text) for every column of every row of every table in the database."""
    tables = MetaData()
    tables.reflect(bind=runtime.engine)
    with runtime.engine.connect() as connection:
        for table in tables.sorted_tables:
            for row in connection.execute(select(table)).mappings():
                for column, value in row.items():
                    yield table.name, column, _text(value)


def _text(value: object) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, dict | list):
        return json.dumps(value) + json.dumps(value, ensure_ascii=False)
    return str(value)


def leaks(text: str) -> list[str]:
    return [leak for leak in LEAKS if leak in text]


def test_no_secret_is_stored_anywhere_nor_shown_by_the_ops_api(runtime: Runtime, portal: EchoPortal) -> None:
    ids = [probe["id"] for probe in probes(portal.base)]
    for slot in (SLOT, SLOT + timedelta(seconds=10)):
        assert sum(group.recorded for group in run_checks(runtime, "local", [Due(i, slot) for i in ids])) == len(ids)

    # The secrets were sent, where each spec puts them.
    sign_ins = [r for r in portal.received if r.method == "POST" and r.path == "/sign-in"]
    assert len(sign_ins) == 2
    assert all(r.form["password"] == [PASSWORD] and r.headers["Authorization"] == f"Bearer {TOKEN}" for r in sign_ins)
    api = [r for r in portal.received if r.path.startswith("/api/")]
    assert len(api) == 2 * 3  # three probes, two slots; the one whose variable is unset sent nothing
    assert all(r.query["key"] == [PASSWORD] and r.headers["Authorization"] == f"Bearer {TOKEN}" for r in api)
    assert {r.body for r in api if r.method == "POST"} == {f"password={PASSWORD}".encode()}

    # The checks say what happened, with the echoes redacted.
    with transaction(runtime.sessions) as session:
        checks = {c.probe_id: c for c in session.scalars(select(Check).where(Check.slot == SLOT))}
        specs = {p.id: p.spec for p in session.scalars(select(Probe))}
        events = session.scalars(select(OutboxEvent)).all()
    verdicts = {
        probe_id: (c.ok, c.error_class and c.error_class.value, c.status_code) for probe_id, c in checks.items()
    }
    assert verdicts == {
        "rep-sign-in": (False, "status", 403),
        "rep-api": (False, "status", 403),
        "rep-api-header": (False, "assertion", 200),
        "rep-api-up": (True, None, 200),
        "rep-api-unset": (False, "assertion", None),
    }
    assert failed_step(checks["rep-sign-in"].evidence) == "sign in"
    assert checks["rep-api-header"].error == f"header X-Echo: expected a match for /^never$/, got 'Bearer {REDACTED}'"
    assert checks["rep-api-unset"].error == f"environment variable {UNSET_ENV} is not set"
    for probe_id in ("rep-sign-in", "rep-api", "rep-api-header", "rep-api-up"):
        assert checks[probe_id].evidence.count(REDACTED) >= 4, checks[probe_id].evidence
    assert f"${{env:{PASSWORD_ENV}}}" in json.dumps(specs["rep-api"])  # the name is stored, never the value
    assert events, "the outage should have been opened, with its events"

    # Nowhere in the database.
    found = [(table, column) for table, column, text in every_value(runtime) if leaks(text)]
    assert found == []

    # Nor in what the ops API shows.
    client = create_app(runtime).test_client()
    bearer = {"Authorization": f"Bearer {OPS_TOKEN}"}
    outages = client.get("/api/ops/outages", headers=bearer)
    assert outages.status_code == 200 and outages.get_json()["outages"]
    assert leaks(outages.get_data(as_text=True)) == []
    for check in checks.values():
        shown = client.get(f"/api/ops/checks/{check.id}", headers=bearer)
        assert shown.status_code == 200
        assert leaks(shown.get_data(as_text=True)) == []
