"""The outbox: every consumer has its own delivery, retries, backoff and claim; nothing is given up on."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from exemptions.cases import import_cases
from monitor.outbox.backoff import ALERT_AFTER_ATTEMPTS, MAX_DELAY
from monitor.outbox.store import claim, complete, due_deliveries
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import Consumer, DeliveryState, EventKind
from monitor.storage.models import Check, Delivery, Grant, NotifyMessage, Outage, OutboxEvent
from monitor.usecases.checks import record_check
from monitor.usecases.deliver import Outcome, deliver
from probes.result import CheckResult, ErrorClass
from tests.conftest import SlackStandIn, make_runtime

CONFIG = """
components:
  - id: pr-portal
    name: Permanent residence portal
    probes:
      - {id: pr-home, type: http, url: "http://127.0.0.1:9/pr/", interval: 5s}
"""
T0 = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)


def check(at: datetime, ok: bool) -> CheckResult:
    if ok:
        return CheckResult("pr-home", "local", at, True, latency_ms=40.0, status_code=200)
    return CheckResult(
        "pr-home", "local", at, False, status_code=503, error_class=ErrorClass.STATUS, error="expected 200, got 503"
    )


def feed(runtime: Runtime, *checks: tuple[int, bool]) -> list[int]:
    """Record checks at T0 + seconds; returns the deliveries they created."""
    deliveries: list[int] = []
    for seconds, ok in checks:
        at = T0 + timedelta(seconds=seconds)
        with transaction(runtime.sessions) as session:
            deliveries += record_check(session, check(at, ok), slot=at, grace_days=7, now=at + timedelta(seconds=1))
    return deliveries


def by_consumer(runtime: Runtime, delivery_ids: list[int]) -> dict[Consumer, int]:
    with transaction(runtime.sessions) as session:
        return {session.get_one(Delivery, d).consumer: d for d in delivery_ids}


def delivery(runtime: Runtime, delivery_id: int) -> Delivery:
    with transaction(runtime.sessions) as session:
        return session.get_one(Delivery, delivery_id)


def at_clock(runtime: Runtime, moment: datetime) -> None:
    runtime.clock = lambda: moment


def add_case(runtime: Runtime, case_id: str, deadline: datetime) -> None:
    with transaction(runtime.sessions) as session:
        import_cases(
            session,
            f"case_id,components,deadline,time_zone\n{case_id},pr-portal,{deadline.isoformat()},America/Toronto\n",
        )


def grant_count(runtime: Runtime) -> int:
    with transaction(runtime.sessions) as session:
        return session.scalar(select(func.count()).select_from(Grant)) or 0


@pytest.fixture
def with_slack(sqlite_url: str, slack: SlackStandIn) -> Iterator[tuple[Runtime, SlackStandIn]]:
    runtime = make_runtime(
        sqlite_url,
        CONFIG,
        slack_token="xoxb-test",
        slack_channel="C0OUTAGES",
        slack_api_url=slack.url,
        slack_timeout=0.5,
    )
    yield runtime, slack
    runtime.close()


# --- each consumer on its own ---------------------------------------------------------------------


def test_an_outage_event_gives_relief_and_slack_a_delivery_each(with_slack: tuple[Runtime, SlackStandIn]) -> None:
    runtime, _ = with_slack
    opened = by_consumer(runtime, feed(runtime, (0, True), (5, False), (10, False)))
    assert set(opened) == {Consumer.RELIEF, Consumer.SLACK}


def test_relief_is_granted_while_slack_fails_and_slack_catches_up_later(
    with_slack: tuple[Runtime, SlackStandIn],
) -> None:
    runtime, slack = with_slack
    add_case(runtime, "C-1", T0 + timedelta(seconds=7))
    opened = by_consumer(runtime, feed(runtime, (0, True), (5, False), (10, False)))
    slack.failing = True
    at_clock(runtime, T0 + timedelta(seconds=15))

    assert deliver(runtime, opened[Consumer.RELIEF]).outcome is Outcome.DONE
    assert grant_count(runtime) == 1  # relief did not wait for Slack
    assert deliver(runtime, opened[Consumer.SLACK]).outcome is Outcome.RETRY_LATER
    failed = delivery(runtime, opened[Consumer.SLACK])
    assert failed.state == DeliveryState.PENDING and failed.claimed_at is None
    assert "service_unavailable" in (failed.last_error or "")
    assert failed.available_at > runtime.clock()  # backing off, not hammering a failing Slack
    assert deliver(runtime, opened[Consumer.SLACK]).outcome is Outcome.NOT_CLAIMED  # too early for the retry

    slack.failing = False
    at_clock(runtime, T0 + timedelta(minutes=5))
    assert deliver(runtime, opened[Consumer.SLACK]).outcome is Outcome.DONE
    assert len(slack.posts()) == 1

    resolved = by_consumer(runtime, feed(runtime, (20, True), (25, True)))
    assert deliver(runtime, resolved[Consumer.SLACK]).outcome is Outcome.DONE
    assert slack.calls[-1]["method"] == "chat.update"
    assert slack.calls[-1]["body"]["ts"] == slack.posts()[0]["ts"]


def test_slack_failing_for_hours_never_drops_its_message_and_backs_off_to_ten_minutes(
    with_slack: tuple[Runtime, SlackStandIn],
) -> None:
    runtime, slack = with_slack
    opened = by_consumer(runtime, feed(runtime, (0, True), (5, False), (10, False)))[Consumer.SLACK]
    slack.failing = True
    moment = T0 + timedelta(seconds=15)
    delays = []
    for _ in range(20):  # what used to be given up on after 8 attempts (about 10 minutes)
        at_clock(runtime, moment)
        assert deliver(runtime, opened).outcome is Outcome.RETRY_LATER
        due = delivery(runtime, opened).available_at
        delays.append(due - moment)
        moment = due
    assert delivery(runtime, opened).state == DeliveryState.PENDING
    assert delivery(runtime, opened).attempts == 20
    assert delays[0] == timedelta(seconds=5)
    assert max(delays) == MAX_DELAY
    assert moment - T0 > timedelta(hours=2)

    slack.failing = False
    at_clock(runtime, moment)
    assert deliver(runtime, opened).outcome is Outcome.DONE
    assert len(slack.posts()) == 1


def test_relief_that_keeps_failing_is_retried_forever_and_ops_are_alerted_once(database_url: str) -> None:
    runtime = make_runtime(database_url, CONFIG)
    add_case(runtime, "C-1", T0 + timedelta(seconds=7))
    relief = by_consumer(runtime, feed(runtime, (0, True), (5, False), (10, False)))[Consumer.RELIEF]
    with runtime.engine.begin() as connection:  # a real storage fault: the grants table is gone
        connection.execute(text("ALTER TABLE grants RENAME TO grants_away"))
    moment = T0 + timedelta(seconds=15)
    for _ in range(ALERT_AFTER_ATTEMPTS + 5):
        at_clock(runtime, moment)
        assert deliver(runtime, relief).outcome is Outcome.RETRY_LATER
        moment = delivery(runtime, relief).available_at
    stuck = delivery(runtime, relief)
    assert stuck.state == DeliveryState.PENDING  # never marked done unfinished
    assert stuck.alerted_at is not None
    with transaction(runtime.sessions) as session:
        alerts = session.scalars(select(OutboxEvent).where(OutboxEvent.kind == EventKind.DELIVERY_FAILING)).all()
        assert len(alerts) == 1
        assert alerts[0].payload is not None and alerts[0].payload["consumer"] == "relief"

    with runtime.engine.begin() as connection:
        connection.execute(text("ALTER TABLE grants_away RENAME TO grants"))
    at_clock(runtime, moment)
    assert deliver(runtime, relief).outcome is Outcome.DONE
    assert grant_count(runtime) == 1
    runtime.close()


def test_without_slack_configured_the_slack_delivery_is_done_after_logging(sqlite_url: str) -> None:
    runtime = make_runtime(sqlite_url, CONFIG)
    opened = by_consumer(runtime, feed(runtime, (0, True), (5, False), (10, False)))
    assert deliver(runtime, opened[Consumer.SLACK]).outcome is Outcome.DONE
    assert delivery(runtime, opened[Consumer.SLACK]).state == DeliveryState.DONE
    runtime.close()


# --- claims ------------------------------------------------------------------------------------------


def test_a_delivery_is_claimed_by_one_worker_only_and_a_dead_worker_s_claim_is_taken_over(database_url: str) -> None:
    runtime = make_runtime(database_url, CONFIG)
    relief = by_consumer(runtime, feed(runtime, (0, True), (5, False), (10, False)))[Consumer.RELIEF]
    now = T0 + timedelta(seconds=20)
    with transaction(runtime.sessions) as session:
        first = claim(session, relief, now=now)
    with transaction(runtime.sessions) as session:
        assert claim(session, relief, now=now) is None
    with transaction(runtime.sessions) as session:
        second = claim(session, relief, now=now + timedelta(minutes=10))
    assert first is not None and second is not None
    # The worker that was thought dead comes back: its claim is no longer its own.
    with transaction(runtime.sessions) as session:
        assert not complete(session, first, now=now + timedelta(minutes=11))
    with transaction(runtime.sessions) as session:
        assert complete(session, second, now=now + timedelta(minutes=11))
    runtime.close()


def test_two_slack_deliveries_of_one_outage_are_never_held_at_once(database_url: str) -> None:
    runtime = make_runtime(database_url, CONFIG)
    opened = by_consumer(runtime, feed(runtime, (0, True), (5, False), (10, False)))[Consumer.SLACK]
    resolved = by_consumer(runtime, feed(runtime, (15, True), (20, True)))[Consumer.SLACK]
    now = T0 + timedelta(seconds=30)
    with transaction(runtime.sessions) as session:
        assert claim(session, opened, now=now) is not None
    with transaction(runtime.sessions) as session:
        assert claim(session, resolved, now=now) is None  # the same outage's message is being written
    runtime.close()


def test_a_clock_that_stepped_back_an_hour_does_not_park_retries_or_claims(database_url: str) -> None:
    runtime = make_runtime(database_url, CONFIG)
    relief = by_consumer(runtime, feed(runtime, (0, True), (5, False), (10, False)))[Consumer.RELIEF]
    now = T0 + timedelta(seconds=20)
    with transaction(runtime.sessions) as session:
        assert claim(session, relief, now=now) is not None  # ...and the worker died
    back = now - timedelta(hours=1)
    with transaction(runtime.sessions) as session:
        assert relief in due_deliveries(session, now=back)
        assert claim(session, relief, now=back) is not None
    runtime.close()


# --- Slack: one message per outage, no network call inside a transaction ---------------------------


def test_a_newer_event_delivered_first_covers_the_older_one_so_only_one_message_is_posted(
    with_slack: tuple[Runtime, SlackStandIn],
) -> None:
    runtime, slack = with_slack
    opened = by_consumer(runtime, feed(runtime, (0, True), (5, False), (10, False)))[Consumer.SLACK]
    resolved = by_consumer(runtime, feed(runtime, (15, True), (20, True)))[Consumer.SLACK]
    at_clock(runtime, T0 + timedelta(seconds=30))
    assert deliver(runtime, resolved).outcome is Outcome.DONE
    assert delivery(runtime, opened).state == DeliveryState.SUPERSEDED
    assert deliver(runtime, opened).outcome is Outcome.NOT_CLAIMED
    assert [m["text"].split(":")[0] for m in slack.posts()] == ["Resolved"]


def test_a_post_whose_answer_was_lost_is_found_and_updated_not_posted_again(
    with_slack: tuple[Runtime, SlackStandIn],
) -> None:
    runtime, slack = with_slack
    opened = by_consumer(runtime, feed(runtime, (0, True), (5, False), (10, False)))[Consumer.SLACK]
    slack.lose_answers_for = 2.0  # Slack stores the post; its answer arrives after the client gave up
    at_clock(runtime, T0 + timedelta(seconds=15))
    assert deliver(runtime, opened).outcome is Outcome.RETRY_LATER
    assert len(slack.posts()) == 1

    slack.lose_answers_for = 0.0
    at_clock(runtime, T0 + timedelta(minutes=1))
    assert deliver(runtime, opened).outcome is Outcome.DONE
    assert len(slack.posts()) == 1  # not posted a second time
    assert slack.methods()[-2:] == ["conversations.history", "chat.update"]
    with transaction(runtime.sessions) as session:
        message = session.scalars(select(NotifyMessage)).one()
        assert message.external_id == slack.posts()[0]["ts"]


def test_a_hanging_slack_does_not_hold_the_database_so_checks_keep_being_recorded(
    with_slack: tuple[Runtime, SlackStandIn],
) -> None:
    runtime, slack = with_slack
    runtime.slack.client.timeout = 30  # type: ignore[union-attr]  # the call hangs as long as we hold it
    opened = by_consumer(runtime, feed(runtime, (0, True), (5, False), (10, False)))[Consumer.SLACK]
    slack.hold = threading.Event()
    at_clock(runtime, T0 + timedelta(seconds=15))
    worker = threading.Thread(target=deliver, args=(runtime, opened))
    worker.start()
    assert slack.holding.wait(10), "the Slack call never started"

    # On SQLite a transaction holds the whole database's write lock: if the Slack call were inside
    # one, this check could not be recorded until Slack answered.
    recorder = threading.Thread(target=feed, args=(runtime, (15, False)))
    recorder.start()
    recorder.join(10)
    recorded = not recorder.is_alive()
    slack.hold.set()
    worker.join(10)
    recorder.join(10)
    assert recorded, "recording a check waited for Slack"
    with transaction(runtime.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Check)) == 4


def test_a_check_delivered_twice_is_recorded_once(database_url: str) -> None:
    runtime = make_runtime(database_url, CONFIG)
    feed(runtime, (0, True), (5, False))
    assert feed(runtime, (5, False)) == []  # the same slot again: a redelivered task
    assert feed(runtime, (10, False)) != []  # the next slot opens the outage: the duplicate did not count
    with transaction(runtime.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Check)) == 3
        outage = session.scalars(select(Outage)).one()
        assert outage.started_at == T0 + timedelta(seconds=5)
        assert outage.last_ok_at == T0
    runtime.close()
