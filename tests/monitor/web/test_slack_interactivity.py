"""The Acknowledge button: only Slack's signed, fresh requests act; the presser is mapped to a person, the
action is audited and shown in the message, and any refusal is told to the presser alone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from flask.testing import FlaskClient
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import select, text

from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import AuditAction, Role
from monitor.storage.models import AuditEntry, Outage, OutageAcknowledgement
from monitor.usecases import people
from monitor.usecases.audit import CLI
from monitor.usecases.deliver import deliver
from monitor.web import create_app
from tests.conftest import OFFLINE_CONFIG, SlackStandIn, make_runtime, record_checks
from tests.monitor.web.conftest import NOW

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture
def runtime(database_url: str, slack: SlackStandIn) -> Iterator[Runtime]:
    runtime = make_runtime(
        database_url,
        OFFLINE_CONFIG,
        slack_token="xoxb-test",
        slack_channel="C0OUTAGES",
        slack_api_url=slack.url,
        slack_timeout=2,
        slack_signing_secret=SECRET,
    )
    runtime.clock = lambda: NOW
    with transaction(runtime.sessions) as session:
        people.create_person(session, CLI, name="marie", role=Role.OPS, slack_user_id="U0MARIE", now=NOW)
        people.create_person(session, CLI, name="vera", role=Role.VIEWER, slack_user_id="U0VERA", now=NOW)
    yield runtime
    runtime.close()


@pytest.fixture
def client(runtime: Runtime) -> FlaskClient:
    return create_app(runtime).test_client()


@pytest.fixture
def outage_id(runtime: Runtime) -> int:
    """An open outage whose message is in the channel."""
    deliveries = record_checks(runtime, (0, True), (5, False), (10, False), t0=NOW - timedelta(minutes=1))
    for delivery in deliveries:
        deliver(runtime, delivery)
    with transaction(runtime.sessions) as session:
        return session.scalars(select(Outage.id)).one()


def press(slack: SlackStandIn, user: str, value: str, action_id: str = "acknowledge_outage") -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower()},
        "response_url": slack.response_url,
        "actions": [{"action_id": action_id, "block_id": "outage", "value": value, "type": "button"}],
    }


def post(
    client: FlaskClient,
    payload: object,
    *,
    secret: str = SECRET,
    age: timedelta = timedelta(0),
    raw: str | None = None,
) -> Any:
    body = raw if raw is not None else urlencode({"payload": json.dumps(payload)})
    timestamp = str(int((NOW - age).timestamp()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    return client.post(
        "/slack/interactivity",
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers={"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature or ""},
    )


def acknowledged(runtime: Runtime) -> list[OutageAcknowledgement]:
    with transaction(runtime.sessions) as session:
        return list(session.scalars(select(OutageAcknowledgement)))


def audit_actions(runtime: Runtime) -> list[tuple[str, str]]:
    with transaction(runtime.sessions) as session:
        return [(e.actor, e.action.value) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def test_a_genuine_press_acknowledges_as_the_person_audits_it_and_updates_the_message(
    client: FlaskClient, runtime: Runtime, slack: SlackStandIn, outage_id: int
) -> None:
    response = post(client, press(slack, "U0MARIE", str(outage_id)))
    assert response.status_code == 200
    [made] = acknowledged(runtime)
    assert (made.outage_id, made.acknowledged_by) == (outage_id, "marie")
    with transaction(runtime.sessions) as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.OUTAGE_ACKNOWLEDGED)).one()
        marie = people.get_person(session, "marie")
        assert (entry.actor, entry.actor_id, entry.subject) == ("marie", marie.id, f"outage:{outage_id}")
    assert slack.methods()[-1] == "chat.update"
    [message] = slack.posts()
    shown = json.dumps(message["blocks"])
    assert "Acknowledged by* marie at 2026-11-22 09:15:00 EST" in shown
    assert "acknowledge_outage" not in shown  # the button is gone
    assert slack.responses == []  # nothing went wrong: nothing to tell


@pytest.mark.parametrize(
    "tamper",
    ["wrong secret", "no signature", "no timestamp", "body changed", "stale", "from the future", "not a number"],
)
def test_a_request_that_is_not_slack_s_or_is_stale_is_a_401_and_does_nothing(
    client: FlaskClient, runtime: Runtime, slack: SlackStandIn, outage_id: int, tamper: str
) -> None:
    body = urlencode({"payload": json.dumps(press(slack, "U0MARIE", str(outage_id)))})
    timestamp = str(int(NOW.timestamp()))
    secret = "another-secret" if tamper == "wrong secret" else SECRET
    if tamper == "stale":
        timestamp = str(int((NOW - timedelta(minutes=5, seconds=1)).timestamp()))
    if tamper == "from the future":
        timestamp = str(int((NOW + timedelta(minutes=6)).timestamp()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body) or ""
    headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}
    if tamper == "no signature":
        del headers["X-Slack-Signature"]
    if tamper == "no timestamp":
        del headers["X-Slack-Request-Timestamp"]
    if tamper == "not a number":
        headers["X-Slack-Request-Timestamp"] = "yesterday"
    if tamper == "body changed":
        body = body.replace("U0MARIE", "U0VERA")
    calls_before = len(slack.calls)
    response = client.post(
        "/slack/interactivity", data=body, content_type="application/x-www-form-urlencoded", headers=headers
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"
    assert acknowledged(runtime) == []
    assert ("marie", "outage_acknowledged") not in audit_actions(runtime)
    assert len(slack.calls) == calls_before and slack.responses == []


def test_a_press_four_minutes_old_is_still_genuine(
    client: FlaskClient, runtime: Runtime, slack: SlackStandIn, outage_id: int
) -> None:
    assert post(client, press(slack, "U0MARIE", str(outage_id)), age=timedelta(minutes=4)).status_code == 200
    assert len(acknowledged(runtime)) == 1


@pytest.mark.parametrize(
    ("user", "value", "told"),
    [
        ("U0NOBODY", None, "not linked to anyone in PortalWatch"),
        ("U0VERA", None, "needs the ops role or above; vera has viewer"),
        ("U0MARIE", "999999", "Outage #999999 does not exist"),
        ("U0MARIE", "not-an-id", "names no outage"),
    ],
)
def test_a_press_that_cannot_act_is_a_200_and_the_presser_alone_is_told_why(
    client: FlaskClient,
    runtime: Runtime,
    slack: SlackStandIn,
    outage_id: int,
    user: str,
    value: str | None,
    told: str,
) -> None:
    response = post(client, press(slack, user, value or str(outage_id)))
    assert response.status_code == 200
    assert acknowledged(runtime) == []
    [answer] = slack.responses
    assert told in answer["text"]
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is False


def test_a_second_press_is_told_who_acknowledged_first(
    client: FlaskClient, runtime: Runtime, slack: SlackStandIn, outage_id: int
) -> None:
    with transaction(runtime.sessions) as session:
        people.create_person(session, CLI, name="otto", role=Role.ADMIN, slack_user_id="U0OTTO", now=NOW)
    post(client, press(slack, "U0MARIE", str(outage_id)))
    assert post(client, press(slack, "U0OTTO", str(outage_id))).status_code == 200
    [made] = acknowledged(runtime)
    assert made.acknowledged_by == "marie"
    [answer] = slack.responses
    assert answer["text"] == f"Outage #{outage_id} was already acknowledged by marie at 2026-11-22 09:15:00 EST."
    assert [a for a in audit_actions(runtime) if a[1] == "outage_acknowledged"] == [("marie", "outage_acknowledged")]


def test_an_ended_outage_is_not_acknowledged_and_the_presser_is_told(
    client: FlaskClient, runtime: Runtime, slack: SlackStandIn, outage_id: int
) -> None:
    record_checks(runtime, (15, True), (20, True), t0=NOW - timedelta(minutes=1))
    assert post(client, press(slack, "U0MARIE", str(outage_id))).status_code == 200
    assert acknowledged(runtime) == []
    [answer] = slack.responses
    assert "already ended at 2026-11-22 09:14:15 EST" in answer["text"]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("", "payload"),
        ("payload=not-json", "payload"),
        ("payload=%5B1%2C2%5D", "payload"),  # a list, not an object
        ("payload=" + json.dumps({"type": "block_actions", "actions": []}), "payload.user.id"),
        ("payload=" + json.dumps({"type": "block_actions", "user": {"id": "U0MARIE"}}), "payload.actions"),
        ("payload=%ff%fe", "payload"),  # not UTF-8
        ("payload=a&payload=b", "payload"),
    ],
)
def test_a_signed_but_malformed_payload_is_still_answered_200_naming_the_part_and_nothing_is_done(
    client: FlaskClient, runtime: Runtime, raw: str, field: str
) -> None:
    response = post(client, None, raw=raw)
    assert response.status_code == 200
    body = response.get_json()
    assert body["error"] == "invalid_payload" and body["field"] == field
    assert "Traceback" not in response.get_data(as_text=True)
    assert acknowledged(runtime) == []


def test_other_interactions_are_answered_200_and_change_nothing(
    client: FlaskClient, runtime: Runtime, slack: SlackStandIn, outage_id: int
) -> None:
    assert post(client, {"type": "view_submission", "user": {"id": "U0MARIE"}}).status_code == 200
    assert post(client, press(slack, "U0MARIE", str(outage_id), action_id="something_else")).status_code == 200
    assert acknowledged(runtime) == [] and slack.responses == []


def test_without_a_signing_secret_the_route_says_it_is_not_set_up(sqlite_url: str) -> None:
    runtime = make_runtime(sqlite_url, OFFLINE_CONFIG)
    try:
        response = create_app(runtime).test_client().post("/slack/interactivity", data="payload=%7B%7D")
        assert response.status_code == 503
        assert "SLACK_SIGNING_SECRET" in response.get_json()["message"]
    finally:
        runtime.close()


def test_the_signing_secret_never_shows_in_the_settings_repr(runtime: Runtime) -> None:
    assert SECRET not in repr(runtime.settings) and SECRET not in str(runtime.settings)


def test_a_press_that_fails_inside_is_still_a_200_and_the_presser_is_told(
    client: FlaskClient, runtime: Runtime, slack: SlackStandIn, outage_id: int
) -> None:
    with runtime.engine.begin() as connection:  # the storage breaks under the press
        connection.execute(text("DROP TABLE outage_acknowledgements"))
    response = post(client, press(slack, "U0MARIE", str(outage_id)))
    assert response.status_code == 200
    [answer] = slack.responses
    assert "could not act on this just now" in answer["text"]
