"""A transaction refused at its sign-in step, run and recorded for real, as ops see it: the outage it opens
names the failing step, its status code and its error class in its first failed check."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask.testing import FlaskClient

from monitor.runtime import Runtime
from monitor.timefmt import iso
from monitor.usecases.checks import Due, run_checks
from monitor.web import create_app
from tests.conftest import make_runtime
from tests.monitor.usecases.echo_portal import SLOT, EchoPortal, config, echo_portal, sign_in_probe
from tests.monitor.web.conftest import TOKEN, bearer

pytestmark = pytest.mark.timeout(60)

PASSWORD_ENV = "PORTALWATCH_TEST_OPS_PASSWORD"


@pytest.fixture
def portal() -> Iterator[EchoPortal]:
    with echo_portal() as server:
        yield server


@pytest.fixture
def runtime(database_url: str, portal: EchoPortal, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    monkeypatch.setenv(PASSWORD_ENV, "a password the portal refuses")
    runtime = make_runtime(
        database_url, config([sign_in_probe(portal.base, password_env=PASSWORD_ENV)], threshold=2), ops_token=TOKEN
    )
    yield runtime
    runtime.close()


def check_at(runtime: Runtime, seconds: float) -> None:
    [recorded] = run_checks(runtime, "local", [Due("rep-sign-in", SLOT + timedelta(seconds=seconds))])
    assert recorded.recorded == 1


def test_a_sign_in_step_refused_with_403_opens_an_outage_naming_the_step_in_its_first_failed_check(
    runtime: Runtime, portal: EchoPortal
) -> None:
    client: FlaskClient = create_app(runtime).test_client()

    check_at(runtime, 0)
    assert client.get("/api/ops/outages", headers=bearer()).get_json() == {"outages": []}  # one failure of two
    check_at(runtime, 10)

    response = client.get("/api/ops/outages", headers=bearer())
    assert response.status_code == 200
    [outage] = response.get_json()["outages"]
    assert (outage["component"]["id"], outage["status"]) == ("rep-portal", "open")
    first = outage["first_failed_check"]
    assert first["probe_id"] == "rep-sign-in"
    assert first["slot"] == iso(SLOT)  # the first of the two failures, not the one that reached the threshold
    assert first["failed_step"] == "sign in"
    assert first["status_code"] == 403
    assert first["error_class"] == "status"
    assert first["error"] == "step 'sign in': expected status 200 or 302, got 403"
    assert first["evidence"].startswith("failed step: sign in\n")
    assert "== step 1 'home': passed, HTTP 200" in first["evidence"]
    assert "Access denied" in first["evidence"]
    # The home page worked: the portal was reached, and only the sign-in refused.
    assert [r.path for r in portal.received if r.method == "GET"].count("/home") == 2

    same = client.get(f"/api/ops/checks/{first['id']}", headers=bearer()).get_json()
    assert {key: same[key] for key in ("failed_step", "status_code", "error_class", "error")} == {
        "failed_step": "sign in",
        "status_code": 403,
        "error_class": "status",
        "error": first["error"],
    }
