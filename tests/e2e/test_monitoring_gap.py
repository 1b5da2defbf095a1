"""The probe workers are killed: the component goes `unknown`, ops are told, the status page says monitoring is
interrupted and since when; when a worker is back the gap is closed and counts neither as uptime nor as outage.
Real scheduler and Celery worker processes, PostgreSQL, Redis and a Slack stand-in."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from sqlalchemy import select, update

from demo.portal import FlakyPortal
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import WatchState
from monitor.storage.models import Check, Component, MonitoringGap, Outage, Probe
from monitor.web import create_app
from tests.conftest import SlackStandIn, make_runtime
from tests.e2e.test_blind_location import wait_for
from tests.e2e.test_distributed import start, stopped_after

COMPONENT = "pr-portal"


def watch_state(runtime: Runtime) -> WatchState:
    with transaction(runtime.sessions) as session:
        return session.get_one(Component, COMPONENT).watch_state


def checks(runtime: Runtime) -> int:
    with transaction(runtime.sessions) as session:
        return len(session.scalars(select(Check.id).join(Probe).where(Probe.component_id == COMPONENT)).all())


def gaps(runtime: Runtime) -> list[MonitoringGap]:
    with transaction(runtime.sessions) as session:
        return list(session.scalars(select(MonitoringGap).where(MonitoringGap.component_id == COMPONENT)))


@pytest.mark.timeout(240)
def test_killed_workers_make_a_gap_that_is_neither_uptime_nor_outage_and_monitoring_resumes(
    tmp_path: Path, distributed_env: dict[str, str], portal: FlakyPortal, slack: SlackStandIn
) -> None:
    env = distributed_env
    runtime = make_runtime(env["DATABASE_URL"], Path(env["PORTALWATCH_CONFIG"]).read_text(), ops_token="ops-secret")
    client = create_app(runtime).test_client()
    probe_worker = ["worker", "--pool", "threads", "--concurrency", "4", "--loglevel", "WARNING", "--probes-only"]
    logs = [tmp_path / name for name in ("scheduler.log", "jobs.log", "probes.log", "probes-2.log")]
    processes = [
        start(["scheduler"], env, logs[0]),
        # Takes the default queue (the monitoring sweep, Slack) and the queue of a location nobody configured.
        start(["worker", "--pool", "threads", "--locations", "spare", "--loglevel", "WARNING"], env, logs[1]),
        start(probe_worker, env, logs[2]),
    ]
    try:
        with stopped_after(processes, logs):
            wait_for("checks of the portal arriving", lambda: checks(runtime) >= 6)
            # Uptime counts from here: the probes were set up at the wall clock's now when the test's runtime
            # applied the configuration, moments ago.
            with transaction(runtime.sessions) as session:
                session.execute(update(Probe).values(activated_at=runtime.clock()))
            killed = processes.pop()
            os.killpg(killed.pid, signal.SIGKILL)  # the probe worker dies mid-work, as a crashed host does
            killed.wait(timeout=10)
            wait_for("the component unknown", lambda: watch_state(runtime) == WatchState.UNKNOWN)
            (gap,) = gaps(runtime)
            assert gap.ended_at is None
            summary = client.get("/api/v2/summary.json").get_json()
            shown = {c["id"]: c for c in summary["components"]}[COMPONENT]
            assert shown["status"] == "unknown"
            assert shown["monitoring"]["last_check_seen_at"] == gap.started_at.isoformat()
            assert "Monitoring interrupted" in client.get("/").get_data(as_text=True)
            slack.wait_for(lambda calls: any("Monitoring interrupted" in c["body"].get("text", "") for c in calls))

            processes.append(start(probe_worker, env, logs[3]))
            wait_for("the component watched again", lambda: watch_state(runtime) == WatchState.WATCHED, timeout=90)
            (gap,) = gaps(runtime)
            assert gap.ended_at is not None and gap.ended_at > gap.started_at
            with transaction(runtime.sessions) as session:
                assert session.scalars(select(Outage)).all() == []  # nobody saw the portal fail: no outage
            day = client.get("/api/v1/uptime").get_json()["components"][COMPONENT]["1d"]
            unwatched = (gap.ended_at - gap.started_at).total_seconds()
            assert day["downtime_seconds"] == 0 and day["uptime_percent"] == 100.0
            assert abs(day["monitoring_gap_seconds"] - unwatched) <= 1
            assert day["observed_seconds"] < (runtime.clock() - gap.started_at).total_seconds()
            slack.wait_for(lambda calls: any("Monitoring resumed" in c["body"].get("text", "") for c in calls))
    finally:
        runtime.close()
