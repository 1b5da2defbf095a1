"""Ops can see what the outbox still owes: per consumer, and each delivery that keeps failing."""

from __future__ import annotations

from datetime import timedelta

from monitor.usecases.deliver import deliver
from monitor.web import create_app
from tests.conftest import ONE_PROBE_CONFIG as CONFIG
from tests.conftest import T0, SlackStandIn, make_runtime, record_checks

TOKEN = "ops-token-for-the-outbox-tests-0123"


def test_the_outbox_backlog_shows_pending_and_failing_deliveries_per_consumer(
    sqlite_url: str, slack: SlackStandIn
) -> None:
    runtime = make_runtime(
        sqlite_url, CONFIG, ops_token=TOKEN, slack_token="xoxb-test", slack_channel="C1", slack_api_url=slack.url
    )
    deliveries = record_checks(runtime, (0, True), (5, False), (10, False))
    slack.failing = True
    runtime.clock = lambda: T0 + timedelta(seconds=20)
    for delivery_id in deliveries:
        deliver(runtime, delivery_id)

    client = create_app(runtime).test_client()
    response = client.get("/api/ops/outbox", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    body = response.get_json()
    by_consumer = {c["consumer"]: c for c in body["consumers"]}
    assert (by_consumer["relief"]["pending"], by_consumer["slack"]["pending"]) == (0, 1)
    assert by_consumer["slack"]["failing"] == 1
    (failing,) = body["failing"]
    assert failing["consumer"] == "slack" and failing["subject"] == "outage:1" and failing["attempts"] == 1
    assert "service_unavailable" in failing["last_error"]
    assert client.get("/api/ops/outbox").status_code == 401
    runtime.close()


def test_a_case_id_with_a_control_character_in_the_url_is_refused_with_422_not_a_500(sqlite_url: str) -> None:
    runtime = make_runtime(sqlite_url, CONFIG, ops_token=TOKEN)
    client = create_app(runtime).test_client()
    response = client.get("/api/ops/cases/A%00B", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 422
    assert response.get_json()["error"] == "invalid_case_id"
    assert "case_id" in response.get_json()["message"]
    runtime.close()
