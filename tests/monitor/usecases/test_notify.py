"""Slack acts on the desk's work: an acknowledgement updates the outage's message, updates are thread replies,
maintenance mutes new alerts until it ends, and a rate limit delays a message without losing it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import Consumer, DeliveryState, Role
from monitor.storage.models import Delivery, Outage
from monitor.usecases import desk, maintenance, people
from monitor.usecases.audit import CLI, Actor
from monitor.usecases.deliver import Outcome, deliver, pending_deliveries
from tests.conftest import ONE_PROBE_CONFIG, T0, SlackStandIn, make_runtime
from tests.conftest import record_checks as feed

OPENED_AT = T0 + timedelta(seconds=5)


@pytest.fixture
def runtime(database_url: str, slack: SlackStandIn) -> Iterator[Runtime]:
    runtime = make_runtime(
        database_url,
        ONE_PROBE_CONFIG,
        slack_token="xoxb-test",
        slack_channel="C0OUTAGES",
        slack_api_url=slack.url,
        slack_timeout=2,
    )
    runtime.clock = lambda: T0 + timedelta(seconds=15)
    yield runtime
    runtime.close()


def at(runtime: Runtime, moment: datetime) -> None:
    runtime.clock = lambda: moment


def slack_deliveries(runtime: Runtime, delivery_ids: list[int]) -> list[int]:
    with transaction(runtime.sessions) as session:
        return [d for d in delivery_ids if session.get_one(Delivery, d).consumer == Consumer.SLACK]


def deliver_all(runtime: Runtime, delivery_ids: list[int]) -> list[Outcome]:
    return [deliver(runtime, d).outcome for d in slack_deliveries(runtime, delivery_ids)]


def open_outage(runtime: Runtime) -> tuple[int, list[int]]:
    deliveries = feed(runtime, (0, True), (5, False), (10, False))
    with transaction(runtime.sessions) as session:
        return session.scalars(select(Outage.id)).one(), deliveries


def marie(runtime: Runtime) -> Actor:
    with transaction(runtime.sessions) as session:
        return marie_actor(session)


def marie_actor(session: Session) -> Actor:
    person = people.create_person(session, CLI, name="marie", role=Role.OPS, now=T0)
    return Actor(person.name, person.role, person.id)


def pending_for(runtime: Runtime, subject: str) -> list[int]:
    with transaction(runtime.sessions) as session:
        return list(
            session.scalars(
                select(Delivery.id).where(
                    Delivery.subject == subject,
                    Delivery.consumer == Consumer.SLACK,
                    Delivery.state == DeliveryState.PENDING,
                )
            )
        )


def test_an_open_outage_s_message_has_its_facts_links_and_an_acknowledge_button(
    runtime: Runtime, slack: SlackStandIn
) -> None:
    outage_id, deliveries = open_outage(runtime)
    assert deliver_all(runtime, deliveries) == [Outcome.DONE]
    [message] = slack.posts()
    text = "\n".join(str(block) for block in message["blocks"])
    for expected in ("Permanent residence portal", "Major outage", "Down since", "expected 200, got 503"):
        assert expected in text
    base = runtime.config.page.url.rstrip("/")
    assert f"<{base}/ops/outages/{outage_id}|dashboard>" in text
    assert f"<{base}/ops/outages/{outage_id}#evidence|evidence of the failed checks>" in text
    [actions] = [block for block in message["blocks"] if block["type"] == "actions"]
    [button] = actions["elements"]
    assert (button["action_id"], button["value"]) == ("acknowledge_outage", str(outage_id))


def test_an_acknowledgement_updates_the_message_in_place_to_say_who_and_drops_the_button(
    runtime: Runtime, slack: SlackStandIn
) -> None:
    outage_id, deliveries = open_outage(runtime)
    deliver_all(runtime, deliveries)
    actor = marie(runtime)
    with transaction(runtime.sessions) as session:
        desk.acknowledge(session, actor, outage_id, now=T0 + timedelta(seconds=20))
    [acknowledged] = pending_for(runtime, f"outage:{outage_id}")
    at(runtime, T0 + timedelta(seconds=20))
    assert deliver(runtime, acknowledged).outcome is Outcome.DONE
    assert slack.methods()[-1] == "chat.update"
    [message] = slack.posts()
    text = "\n".join(str(block) for block in message["blocks"])
    assert "Acknowledged by* marie at 2026-11-20 09:00:20 EST" in text
    assert not [block for block in message["blocks"] if block["type"] == "actions"]


def test_a_false_positive_updates_the_message_in_place_to_say_so(runtime: Runtime, slack: SlackStandIn) -> None:
    outage_id, deliveries = open_outage(runtime)
    deliver_all(runtime, deliveries + feed(runtime, (15, True), (20, True)))  # opened, then resolved
    with transaction(runtime.sessions) as session:
        desk.mark_false_positive(
            session, marie(runtime), outage_id, reason="our own proxy", now=T0 + timedelta(seconds=30)
        )
    [corrected] = pending_for(runtime, f"outage:{outage_id}")
    at(runtime, T0 + timedelta(seconds=30))
    assert deliver(runtime, corrected).outcome is Outcome.DONE
    assert slack.methods()[-1] == "chat.update"
    [message] = slack.posts()
    text = "\n".join(str(block) for block in message["blocks"])
    assert "Marked a false positive" in text


def test_each_update_is_one_thread_reply_public_or_internal(runtime: Runtime, slack: SlackStandIn) -> None:
    outage_id, deliveries = open_outage(runtime)
    deliver_all(runtime, deliveries)
    actor = marie(runtime)
    with transaction(runtime.sessions) as session:
        public = desk.post_update(session, actor, outage_id, body="We are on it <!channel>", public=True, now=T0)
        internal = desk.post_update(session, actor, outage_id, body="Vendor paged", now=T0)
        subjects = [desk.update_subject(outage_id, u.id) for u in (public, internal)]
    for subject in subjects:
        [delivery] = pending_for(runtime, subject)
        assert deliver(runtime, delivery).outcome is Outcome.DONE
        assert deliver(runtime, delivery).outcome is Outcome.NOT_CLAIMED  # done once: never posted twice
    parent = slack.top_level()[0]["ts"]
    replies = slack.replies(parent)
    assert [r["text"] for r in replies] == [
        "Public update (on the status page) on Permanent residence portal by marie: We are on it &lt;!channel&gt;",
        "Internal update on Permanent residence portal by marie: Vendor paged",
    ]
    assert len(slack.top_level()) == 1


def test_an_update_waits_for_its_outage_s_message_and_a_lost_reply_is_found_in_the_thread(
    runtime: Runtime, slack: SlackStandIn
) -> None:
    outage_id, deliveries = open_outage(runtime)
    with transaction(runtime.sessions) as session:
        update = desk.post_update(session, marie_actor(session), outage_id, body="Looking", now=T0)
        subject = desk.update_subject(outage_id, update.id)
    [reply] = pending_for(runtime, subject)
    assert deliver(runtime, reply).outcome is Outcome.RETRY_LATER  # the outage's message is not out yet
    assert slack.posts() == []
    deliver_all(runtime, deliveries)

    slack.lose_answers_for = 3.0  # the reply is stored; its answer arrives after the client gave up
    at(runtime, T0 + timedelta(minutes=1))
    assert deliver(runtime, reply).outcome is Outcome.RETRY_LATER
    slack.lose_answers_for = 0.0
    at(runtime, T0 + timedelta(minutes=2))
    assert deliver(runtime, reply).outcome is Outcome.DONE
    parent = slack.top_level()[0]["ts"]
    assert len(slack.replies(parent)) == 1  # found in the thread, not posted again
    assert slack.methods()[-2:] == ["conversations.replies", "chat.update"]


# --- maintenance mutes new alerts ------------------------------------------------------------------


def announce(runtime: Runtime, start: datetime, end: datetime) -> None:
    with transaction(runtime.sessions) as session:
        maintenance.announce_maintenance(
            session, components=["pr-portal"], starts_at=start, ends_at=end, title="Upgrade", now=T0
        )


def test_an_outage_inside_maintenance_is_not_posted_until_the_window_ends_and_then_is_if_still_open(
    runtime: Runtime, slack: SlackStandIn
) -> None:
    window_end = T0 + timedelta(minutes=30)
    announce(runtime, T0 - timedelta(minutes=1), window_end)
    _, deliveries = open_outage(runtime)
    [opened] = slack_deliveries(runtime, deliveries)
    assert deliver(runtime, opened).outcome is Outcome.DEFERRED
    assert slack.posts() == []
    with transaction(runtime.sessions) as session:
        waiting = session.get_one(Delivery, opened)
        assert waiting.state == DeliveryState.PENDING and waiting.attempts == 0  # muted, not failing
        assert "maintenance" in (waiting.last_error or "")
        assert waiting.available_at == T0 + timedelta(seconds=15) + timedelta(minutes=10)  # looked at again

    at(runtime, T0 + timedelta(minutes=10, seconds=15))
    assert opened in pending_deliveries(runtime)
    assert deliver(runtime, opened).outcome is Outcome.DEFERRED  # still inside the window
    with transaction(runtime.sessions) as session:
        assert session.get_one(Delivery, opened).available_at == T0 + timedelta(minutes=20, seconds=15)

    at(runtime, window_end + timedelta(seconds=1))  # the window is over and the outage still open
    assert deliver(runtime, opened).outcome is Outcome.DONE
    assert [m["text"].split(":")[0] for m in slack.posts()] == ["Major outage"]


def test_an_outage_that_began_and_ended_inside_maintenance_is_never_posted(
    runtime: Runtime, slack: SlackStandIn
) -> None:
    announce(runtime, T0 - timedelta(minutes=1), T0 + timedelta(minutes=30))
    _, opened = open_outage(runtime)
    resolved = feed(runtime, (20, True), (25, True))
    at(runtime, T0 + timedelta(minutes=31))  # after the window: nothing to alert about any more
    assert deliver_all(runtime, resolved + opened) == [Outcome.DONE, Outcome.NOT_CLAIMED]  # the older is covered
    assert slack.posts() == []
    with transaction(runtime.sessions) as session:
        done = session.scalars(select(Delivery).where(Delivery.consumer == Consumer.SLACK)).all()
        assert {d.state for d in done} <= {DeliveryState.DONE, DeliveryState.SUPERSEDED}
        assert any("inside maintenance" in (d.last_error or "") for d in done)


def test_a_message_already_posted_is_kept_current_when_maintenance_starts(
    runtime: Runtime, slack: SlackStandIn
) -> None:
    _, opened = open_outage(runtime)
    deliver_all(runtime, opened)
    announce(runtime, T0 + timedelta(seconds=16), T0 + timedelta(minutes=30))
    resolved = feed(runtime, (20, True), (25, True))
    at(runtime, T0 + timedelta(seconds=30))
    assert deliver_all(runtime, resolved) == [Outcome.DONE]
    assert slack.methods()[-1] == "chat.update"
    assert slack.posts()[0]["text"].startswith("Resolved")


# --- rate limits -------------------------------------------------------------------------------------


def test_a_short_rate_limit_is_waited_out_in_place_once(runtime: Runtime, slack: SlackStandIn) -> None:
    _, opened = open_outage(runtime)
    slack.rate_limited = [1]  # one 429 with Retry-After: 1, then Slack answers
    assert deliver_all(runtime, opened) == [Outcome.DONE]
    assert slack.methods() == ["chat.postMessage", "chat.postMessage"]
    assert len(slack.posts()) == 1


def test_a_longer_rate_limit_goes_back_to_the_outbox_which_waits_as_long_as_slack_asked(
    runtime: Runtime, slack: SlackStandIn
) -> None:
    _, opened = open_outage(runtime)
    [delivery] = slack_deliveries(runtime, opened)
    slack.rate_limited = [30]
    assert deliver(runtime, delivery).outcome is Outcome.RETRY_LATER
    with transaction(runtime.sessions) as session:
        waiting = session.get_one(Delivery, delivery)
        assert waiting.available_at == runtime.clock() + timedelta(seconds=30)  # not the first backoff's 5 s
        assert "rate limited" in (waiting.last_error or "")
    at(runtime, T0 + timedelta(minutes=1))
    assert deliver(runtime, delivery).outcome is Outcome.DONE
    assert len(slack.posts()) == 1
