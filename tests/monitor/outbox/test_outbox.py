"""The outbox: every consumer has its own delivery, retries, backoff and claim; nothing is given up on."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from exemptions.cases import import_cases
from monitor.outbox.backoff import ALERT_AFTER_ATTEMPTS, MAX_DELAY
from monitor.outbox.store import claim, complete, due_deliveries
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import Consumer, DeliveryState, EventKind
from monitor.storage.models import Check, Delivery, Grant, NotifyMessage, Outage, OutboxEvent
from monitor.usecases.deliver import Outcome, deliver
from monitor.usecases.relief import relieve
from tests.conftest import ONE_PROBE_CONFIG as CONFIG
from tests.conftest import T0, SlackStandIn, make_runtime
from tests.conftest import record_checks as feed


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


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_hanging_slack_holds_no_lock_so_checks_relief_and_the_closing_check_go_on(
    backend: str, request: pytest.FixtureRequest, slack: SlackStandIn
) -> None:
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "postgres_url")
    runtime = make_runtime(
        url, CONFIG, slack_token="xoxb-test", slack_channel="C0OUTAGES", slack_api_url=slack.url, slack_timeout=30
    )
    add_case(runtime, "C-1", T0 + timedelta(seconds=7))
    opened = by_consumer(runtime, feed(runtime, (0, True), (5, False), (10, False)))[Consumer.SLACK]
    slack.hold = threading.Event()
    at_clock(runtime, T0 + timedelta(seconds=15))
    worker = threading.Thread(target=deliver, args=(runtime, opened))
    worker.start()
    assert slack.holding.wait(10), "the Slack call never started"

    # On SQLite a transaction holds the whole database's write lock, on PostgreSQL the outage's row
    # lock: if the Slack call were inside one, none of this could happen until Slack answered.
    def meanwhile() -> None:
        feed(runtime, (15, False))
        relieve(runtime, outage_id(runtime))
        feed(runtime, (20, True), (25, True))  # the portal is back: the closing check

    other = threading.Thread(target=meanwhile)
    other.start()
    other.join(15)
    went_on = not other.is_alive()
    slack.hold.set()
    worker.join(10)
    other.join(10)
    assert went_on, "checks or relief waited for Slack"
    with transaction(runtime.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Check)) == 6
        assert session.scalars(select(Outage)).one().ended_at == T0 + timedelta(seconds=20)
    assert grant_count(runtime) == 1
    runtime.close()


def outage_id(runtime: Runtime) -> int:
    with transaction(runtime.sessions) as session:
        return session.scalars(select(Outage.id)).one()


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
