"""Outage events: relief before Slack, Slack failures retried later, each event handled once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from exemptions.cases import import_cases
from exemptions.models import Grant
from monitor.db import transaction
from monitor.models import Check, Outage, OutageEvent
from monitor.outbox import Delivery, claim, deliver
from monitor.recording import record_check
from monitor.runtime import Runtime
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
    """Record checks at T0 + seconds; returns the outage events they created."""
    events: list[int] = []
    for seconds, ok in checks:
        at = T0 + timedelta(seconds=seconds)
        with transaction(runtime.sessions) as session:
            events += record_check(session, check(at, ok), slot=at, grace_days=7, now=at + timedelta(seconds=1))
    return events


def test_relief_is_granted_even_while_slack_is_failing_and_slack_catches_up_later(
    sqlite_url: str, slack: SlackStandIn
) -> None:
    runtime = make_runtime(
        sqlite_url, CONFIG, slack_token="xoxb-test", slack_channel="#outages", slack_api_url=slack.url
    )
    with transaction(runtime.sessions) as session:
        import_cases(
            session,
            "case_id,components,deadline,time_zone\n"
            f"C-1,pr-portal,{(T0 + timedelta(seconds=12)).isoformat()},America/Toronto\n",
        )
    (opened,) = feed(runtime, (0, True), (5, False), (10, False))
    slack.failing = True
    runtime.clock = lambda: T0 + timedelta(seconds=15)

    assert deliver(runtime, opened) is Delivery.RETRY_LATER
    with transaction(runtime.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Grant)) == 1  # relief did not wait for Slack
        event = session.get_one(OutageEvent, opened)
        assert event.processed_at is None and event.claimed_at is None
        assert "slack failed" in (event.last_error or "")
        assert event.available_at > runtime.clock()  # backing off, not hammering a failing Slack

    assert deliver(runtime, opened) is Delivery.NOT_CLAIMED  # too early for the retry

    slack.failing = False
    runtime.clock = lambda: T0 + timedelta(minutes=5)
    assert deliver(runtime, opened) is Delivery.DONE
    assert slack.methods() == ["chat.postMessage", "chat.postMessage"]  # the failed try, then the real one
    with transaction(runtime.sessions) as session:
        outage = session.scalars(select(Outage)).one()
        assert (outage.slack_channel, outage.slack_ts) == ("C0OUTAGES", "1700000000.000001")

    (resolved,) = feed(runtime, (20, True), (25, True))
    assert deliver(runtime, resolved) is Delivery.DONE
    assert slack.calls[-1]["method"] == "chat.update"
    assert slack.calls[-1]["body"]["ts"] == "1700000000.000001"
    runtime.close()


def test_without_slack_configured_events_are_still_processed(sqlite_url: str) -> None:
    runtime = make_runtime(sqlite_url, CONFIG)
    (opened,) = feed(runtime, (0, True), (5, False), (10, False))
    assert deliver(runtime, opened) is Delivery.DONE
    with transaction(runtime.sessions) as session:
        assert session.get_one(OutageEvent, opened).processed_at is not None
    runtime.close()


def test_an_event_is_claimed_by_one_consumer_only(database_url: str) -> None:
    runtime = make_runtime(database_url, CONFIG)
    (opened,) = feed(runtime, (0, True), (5, False), (10, False))
    now = T0 + timedelta(seconds=20)
    with transaction(runtime.sessions) as session:
        assert claim(session, opened, now=now)
    with transaction(runtime.sessions) as session:
        assert not claim(session, opened, now=now)
    # A consumer that died holding the claim is given up on after a while.
    with transaction(runtime.sessions) as session:
        assert claim(session, opened, now=now + timedelta(minutes=10))
    runtime.close()


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
