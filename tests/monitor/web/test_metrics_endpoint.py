"""`GET /metrics`: Prometheus' text format that promtool accepts; open unless the configuration sets a token,
then a bearer token or a 401; while the database is unreachable, still a 200 with `portalwatch_database_up 0`."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from monitor.config import parse_config
from monitor.runtime import Runtime
from monitor.settings import Settings
from monitor.web import create_app
from tests.conftest import OFFLINE_CONFIG, TEST_DATA_DIR, free_port, make_runtime, record_checks
from tests.promtool import promtool_check

METRICS_TOKEN = secrets.token_hex(16)


def test_metrics_are_open_by_default_in_prometheus_text_format_that_promtool_accepts(
    runtime: Runtime, client: FlaskClient
) -> None:
    record_checks(runtime, (0, True), (5, False), (10, False))  # an outage opened: deliveries pending

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    body = response.get_data(as_text=True)
    for line in (
        "# TYPE portalwatch_checks_total counter",
        "# TYPE portalwatch_check_latency_seconds histogram",
        "# TYPE portalwatch_scheduler_lateness_seconds histogram",
        "portalwatch_database_up 1.0",
        'portalwatch_open_outages{severity="major_outage"} 1.0',
        "portalwatch_blind_locations 0.0",
        'portalwatch_location_blind{location="local"} 0.0',
        'portalwatch_outbox_pending{consumer="relief"} 1.0',
        'portalwatch_outbox_failing{consumer="slack"} 0.0',
    ):
        assert line in body.splitlines(), line
    assert 'portalwatch_checks_total{location="local",probe="pr-home",result="status"}' in body
    promtool_check(body)
    assert client.head("/metrics").status_code == 200


@pytest.fixture
def guarded(sqlite_url: str) -> Iterator[FlaskClient]:
    runtime = make_runtime(sqlite_url, OFFLINE_CONFIG + f'metrics: {{token: "{METRICS_TOKEN}"}}\n')
    yield create_app(runtime).test_client()
    runtime.close()


@pytest.mark.parametrize(
    "authorization",
    [None, "", f"Bearer {METRICS_TOKEN[:-1]}", f"Basic {METRICS_TOKEN}", METRICS_TOKEN, "Bearer s3cret"],
)
def test_with_a_token_configured_a_scrape_without_it_gets_a_401_and_no_figures(
    guarded: FlaskClient, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = guarded.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="portalwatch-metrics"'
    assert "portalwatch_" not in response.get_data(as_text=True)


def test_with_a_token_configured_a_scrape_with_it_gets_the_metrics(guarded: FlaskClient) -> None:
    response = guarded.get("/metrics", headers={"Authorization": f"bearer {METRICS_TOKEN}"})
    assert response.status_code == 200
    assert "portalwatch_database_up 1.0" in response.get_data(as_text=True).splitlines()


def test_the_ops_token_does_not_open_the_metrics_nor_the_metrics_token_the_ops_api(sqlite_url: str) -> None:
    ops_token = secrets.token_hex(16)
    config = OFFLINE_CONFIG + f'metrics: {{token: "{METRICS_TOKEN}"}}\n'
    runtime = make_runtime(sqlite_url, config, ops_token=ops_token)
    try:
        client = create_app(runtime).test_client()
        assert client.get("/metrics", headers={"Authorization": f"Bearer {ops_token}"}).status_code == 401
        assert client.get("/api/ops/outages", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).status_code == 401
    finally:
        runtime.close()


@pytest.mark.timeout(30)
def test_while_the_database_is_unreachable_a_scrape_still_answers_with_the_process_series() -> None:
    unreachable = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test"
    settings = Settings.explicit(database_url=unreachable, data_dir=str(TEST_DATA_DIR))
    runtime = Runtime.create(settings, parse_config(OFFLINE_CONFIG, source="test.yaml"))
    try:
        response = create_app(runtime).test_client().get("/metrics")
    finally:
        runtime.close()
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "portalwatch_database_up 0.0" in body.splitlines()
    assert "# TYPE portalwatch_checks_total counter" in body
    assert "portalwatch_open_outages" not in body  # nothing read from the database is made up
    promtool_check(body)
