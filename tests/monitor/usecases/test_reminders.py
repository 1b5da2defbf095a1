"""Reminders: an open outage nobody acknowledged is brought up again in its thread, once per threshold."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import EventKind
from monitor.storage.models import Delivery, NotifyMessage, Outage, OutageAcknowledgement, OutboxEvent
from monitor.usecases import desk, jobs, maintenance, reminders
from monitor.usecases.audit import CLI
from monitor.usecases.deliver import Outcome, deliver
from tests.conftest import ONE_PROBE_CONFIG, T0, SlackStandIn, make_runtime
from tests.conftest import record_checks as feed

POSTED = T0 + timedelta(seconds=15)


@pytest.fixture
def runtime(database_url: str, slack: SlackStandIn) -> Iterator[Runtime]:
    runtime = make_runtime(
        database_url,
        ONE_PROBE_CONFIG + "slack: {reminders: [15m, 60m]}\n",
        slack_token="xoxb-test",
        slack_channel="C0OUTAGES",
        slack_api_url=slack.url,
        slack_timeout=2,
    )
    at(runtime, POSTED)
    yield runtime
    runtime.close()


def at(runtime: Runtime, moment: datetime) -> None:
    runtime.clock = lambda: moment


def posted_outage(runtime: Runtime) -> int:
    """An open outage whose message went out at POSTED."""
    for delivery in feed(runtime, (0, True), (5, False), (10, False)):
        deliver(runtime, delivery)
    with transaction(runtime.sessions) as session:
        return session.scalars(select(Outage.id)).one()


def reminder_subjects(runtime: Runtime) -> list[str]:
    with transaction(runtime.sessions) as session:
        query = select(OutboxEvent.subject).where(OutboxEvent.kind == EventKind.REMINDER).order_by(OutboxEvent.id)
        return list(session.scalars(query))


def test_each_threshold_is_reminded_of_once_as_a_reply_in_the_outage_s_thread(
    runtime: Runtime, slack: SlackStandIn
) -> None:
    outage_id = posted_outage(runtime)
    at(runtime, POSTED + timedelta(minutes=14, seconds=59))
    assert reminders.remind(runtime) == []
    at(runtime, POSTED + timedelta(minutes=15))
    first = reminders.remind(runtime)
    assert reminders.remind(runtime) == []  # again: nothing new
    assert [deliver(runtime, d).outcome for d in first] == [Outcome.DONE]
    at(runtime, POSTED + timedelta(minutes=60))
    assert jobs.run(runtime, jobs.SLACK_REMINDERS, ()) == 1  # the periodic job, delivering as it goes
    assert reminder_subjects(runtime) == [f"outage:{outage_id}:reminder:900", f"outage:{outage_id}:reminder:3600"]
    parent = slack.top_level()[0]["ts"]
    texts = [reply["text"] for reply in slack.replies(parent)]
    assert texts == [
        ":alarm_clock: Still unacknowledged 15m after it was posted: Permanent residence portal is down since "
        "2026-11-20 09:00:05 EST. Press Acknowledge on the message above.",
        ":alarm_clock: Still unacknowledged 1h after it was posted: Permanent residence portal is down since "
        "2026-11-20 09:00:05 EST. Press Acknowledge on the message above.",
    ]
    at(runtime, POSTED + timedelta(hours=5))
    assert reminders.remind(runtime) == []  # every threshold has had its reminder


def test_thresholds_that_passed_together_send_only_the_latest(runtime: Runtime) -> None:
    outage_id = posted_outage(runtime)
    at(runtime, POSTED + timedelta(hours=2))  # the scheduler was down for both
    assert len(reminders.remind(runtime)) == 1
    assert reminder_subjects(runtime) == [f"outage:{outage_id}:reminder:3600"]


def test_acknowledged_or_ended_outages_get_no_reminder(runtime: Runtime, slack: SlackStandIn) -> None:
    outage_id = posted_outage(runtime)
    with transaction(runtime.sessions) as session:
        desk.acknowledge(session, CLI, outage_id, now=POSTED)
    at(runtime, POSTED + timedelta(minutes=20))
    assert reminders.remind(runtime) == []

    with transaction(runtime.sessions) as session:
        session.get_one(Outage, outage_id).ended_at = POSTED
        session.delete(session.get_one(OutageAcknowledgement, outage_id))
    assert reminders.remind(runtime) == []


def test_a_reminder_delivered_after_the_acknowledgement_is_not_posted(runtime: Runtime, slack: SlackStandIn) -> None:
    outage_id = posted_outage(runtime)
    at(runtime, POSTED + timedelta(minutes=15))
    [reminder] = reminders.remind(runtime)
    with transaction(runtime.sessions) as session:
        desk.acknowledge(session, CLI, outage_id, now=runtime.clock())
    assert deliver(runtime, reminder).outcome is Outcome.DONE
    assert slack.replies(slack.top_level()[0]["ts"]) == []
    with transaction(runtime.sessions) as session:
        assert "acknowledged before the reminder" in (session.get_one(Delivery, reminder).last_error or "")


def test_no_reminder_inside_maintenance_and_one_once_it_is_over(runtime: Runtime) -> None:
    outage_id = posted_outage(runtime)
    with transaction(runtime.sessions) as session:
        maintenance.announce_maintenance(
            session,
            components=["pr-portal"],
            starts_at=POSTED + timedelta(minutes=1),
            ends_at=POSTED + timedelta(minutes=40),
            title="Upgrade",
            now=POSTED,
        )
    at(runtime, POSTED + timedelta(minutes=20))
    assert reminders.remind(runtime) == []
    at(runtime, POSTED + timedelta(minutes=40))
    assert len(reminders.remind(runtime)) == 1
    assert reminder_subjects(runtime) == [f"outage:{outage_id}:reminder:900"]


def test_no_reminders_when_the_list_is_empty(database_url: str, slack: SlackStandIn) -> None:
    runtime = make_runtime(
        database_url,
        ONE_PROBE_CONFIG + "slack: {reminders: []}\n",
        slack_token="xoxb-test",
        slack_channel="C0OUTAGES",
        slack_api_url=slack.url,
    )
    try:
        at(runtime, POSTED)
        posted_outage(runtime)
        at(runtime, POSTED + timedelta(hours=3))
        assert reminders.remind(runtime) == []
        with transaction(runtime.sessions) as session:
            assert session.scalars(select(NotifyMessage.external_id)).one() is not None
    finally:
        runtime.close()
