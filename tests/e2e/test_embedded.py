"""The whole flow on the embedded default: SQLite, tasks in-process on the scheduler's threads."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from demo.portal import FlakyPortal
from monitor.runtime import Runtime
from monitor.scheduler.loop import Scheduler
from monitor.storage.models import Outage
from monitor.tasks.inprocess import InProcess
from monitor.web import create_app
from tests.conftest import SlackStandIn, make_runtime, portal_config
from tests.e2e.story import Story, wait_until


@contextmanager
def embedded(runtime: Runtime) -> Iterator[None]:
    """What `python -m monitor serve` runs besides the web server."""
    runner = InProcess(runtime)
    runtime.dispatch = runner
    stop = threading.Event()
    thread = threading.Thread(target=Scheduler(runtime, runner).run, args=(stop,), kwargs={"tick": 0.05})
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)
        runner.shutdown()
        runtime.dispatch = None


@pytest.mark.timeout(120)
def test_portal_outage_is_recorded_relieved_shown_and_announced(
    sqlite_url: str, portal: FlakyPortal, slack: SlackStandIn
) -> None:
    runtime = make_runtime(
        sqlite_url,
        portal_config(portal),
        ops_token="ops-secret",
        slack_token="xoxb-test",
        slack_channel="#portal-outages",
        slack_api_url=slack.url,
    )
    story = Story(runtime, create_app(runtime).test_client(), portal, datetime.now(UTC))
    story.import_cases()
    with embedded(runtime):
        failed_from, failed_until = story.run()
        slack.wait_for(lambda calls: [c["method"] for c in calls] == ["chat.postMessage", "chat.update"])
    story.assert_record(failed_from, failed_until, interval=timedelta(seconds=0.5))

    post, update = slack.calls
    assert post["auth"] == "Bearer xoxb-test"
    assert post["body"]["channel"] == "#portal-outages"
    assert "Major outage: Permanent residence portal" in post["body"]["text"]
    assert post["body"]["blocks"][0]["type"] == "header"
    assert (update["body"]["channel"], update["body"]["ts"]) == ("C0OUTAGES", "1700000000.000001")
    assert update["body"]["text"].startswith("Resolved: Permanent residence portal was down")
    runtime.close()


@pytest.mark.timeout(120)
def test_a_restart_during_an_outage_neither_loses_nor_duplicates_it(sqlite_url: str, portal: FlakyPortal) -> None:
    config = portal_config(portal)
    first = make_runtime(sqlite_url, config)
    portal.set_mode("pr", "down")

    def open_outages(runtime: Runtime) -> list[Outage]:
        with runtime.sessions() as session:
            return list(session.scalars(select(Outage).where(Outage.ended_at.is_(None))))

    with embedded(first):
        opened = wait_until("the outage to open", lambda: open_outages(first))
    first.close()

    second = make_runtime(sqlite_url, config)  # the service comes back up on the same database
    with embedded(second):
        # Several more failed checks after the restart: still the one outage, with its original start.
        story = Story(second, create_app(second).test_client(), portal, datetime.now(UTC))
        before = story.checks()
        wait_until("four more checks", lambda: story.checks() >= before + 4)
        assert [o.id for o in open_outages(second)] == [opened[0].id]
        portal.set_mode("pr", "up")
        wait_until("recovery", lambda: not open_outages(second))
    outages = story.outages()
    assert len(outages) == 1
    assert outages[0].started_at == opened[0].started_at
    assert outages[0].ended_at is not None
    second.close()
