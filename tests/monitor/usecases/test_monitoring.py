"""When checks stop arriving: the component is `unknown`, ops hear it, and relief does not grow on no evidence."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from exemptions.cases import import_cases
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import EventKind, WatchState
from monitor.storage.models import Component, Grant, MonitoringGap, Outage, OutboxEvent, Probe
from monitor.usecases.deliver import deliver
from monitor.usecases.monitoring import check_monitoring
from monitor.usecases.relief import relieve
from monitor.web import create_app
from tests.conftest import T0, SlackStandIn, make_runtime
from tests.conftest import record_checks as feed

CONFIG = """
components:
  - id: pr-portal
    name: Permanent residence portal
    probes:
      - {id: pr-home, type: http, url: "http://127.0.0.1:9/pr/", interval: 30s}
"""


def add_cases(runtime: Runtime, **deadlines: timedelta) -> None:
    """Cases on the portal whose deadlines fall this long after T0 (their ids are the keywords)."""
    rows = [f"{case_id},pr-portal,{(T0 + after).isoformat()},America/Toronto" for case_id, after in deadlines.items()]
    with transaction(runtime.sessions) as session:
        import_cases(session, "\n".join(["case_id,components,deadline,time_zone", *rows]) + "\n")


def component(runtime: Runtime) -> Component:
    with transaction(runtime.sessions) as session:
        return session.get_one(Component, "pr-portal")


def at(runtime: Runtime, seconds: float) -> None:
    moment = T0 + timedelta(seconds=seconds)
    runtime.clock = lambda: moment


@pytest.fixture
def runtime(sqlite_url: str, slack: SlackStandIn) -> Iterator[Runtime]:
    runtime = make_runtime(
        sqlite_url,
        CONFIG,
        slack_token="xoxb-test",
        slack_channel="C0OUTAGES",
        slack_api_url=slack.url,
        ops_token="t0ken",
    )
    yield runtime
    runtime.close()


def test_a_component_is_watched_while_checks_arrive_within_three_intervals(runtime: Runtime) -> None:
    feed(runtime, (0, True), (30, True))
    at(runtime, 30 + 90)
    assert check_monitoring(runtime) == []
    assert component(runtime).watch_state == WatchState.WATCHED


def test_when_checks_stop_the_component_is_stored_as_unknown_since_its_last_check_and_ops_are_told(
    runtime: Runtime, slack: SlackStandIn
) -> None:
    feed(runtime, (0, True), (30, True))
    at(runtime, 30 + 91)
    deliveries = check_monitoring(runtime)
    stored = component(runtime)
    assert (stored.watch_state, stored.watch_state_since) == (WatchState.UNKNOWN, T0 + timedelta(seconds=30))
    assert check_monitoring(runtime) == []  # told once, not every sweep
    for delivery_id in deliveries:
        deliver(runtime, delivery_id)
    assert slack.posts()[-1]["text"].startswith("Monitoring interrupted: no checks of Permanent residence portal")

    # Checks come back: watched again, and the same Slack message says monitoring resumed.
    at(runtime, 200)
    for delivery_id in feed(runtime, (200, True)):
        deliver(runtime, delivery_id)
    assert component(runtime).watch_state == WatchState.WATCHED
    assert len(slack.posts()) == 1
    assert slack.calls[-1]["method"] == "chat.update"
    assert slack.calls[-1]["body"]["text"].startswith("Monitoring resumed")


def test_summary_json_never_shows_operational_for_a_component_nobody_is_watching(runtime: Runtime) -> None:
    feed(runtime, (0, True))
    client = create_app(runtime).test_client()
    at(runtime, 10)
    assert client.get("/api/v2/summary.json").get_json()["components"][0]["status"] == "operational"

    at(runtime, 3600)
    check_monitoring(runtime)
    summary = client.get("/api/v2/summary.json").get_json()
    (shown,) = summary["components"]
    assert shown["status"] == "unknown"
    assert shown["monitoring"] == {"state": "unknown", "last_check_seen_at": T0.isoformat()}
    assert summary["status"] == {"indicator": "unknown", "description": "Monitoring Interrupted"}
    page = client.get("/").get_data(as_text=True)
    assert "Monitoring interrupted" in page and "last check seen" in page


def test_an_open_outage_whose_checks_stopped_still_shows_the_outage_and_its_relief_stops_at_the_last_check(
    runtime: Runtime,
) -> None:
    add_cases(runtime, DURING=timedelta(seconds=45), HOURS_LATER=timedelta(hours=5))
    feed(runtime, (0, True), (30, False), (60, False))
    (outage_id,) = [o for o in _outage_ids(runtime)]
    at(runtime, 6 * 3600)  # the workers died at 14:01; six hours later nothing has arrived
    check_monitoring(runtime)
    relieve(runtime, outage_id)
    # DURING's last hour saw the outage; HOURS_LATER's did not, and the outage counts to its last failed
    # check (14:01), not to "now": its deadline day holds 60 s of outage, not six hours.
    assert _granted(runtime) == {"DURING"}
    client = create_app(runtime).test_client()
    (shown,) = client.get("/api/v2/components.json").get_json()["components"]
    assert (shown["status"], shown["monitoring"]["state"]) == ("major_outage", "unknown")


def test_after_a_forward_clock_jump_provisional_relief_does_not_cover_the_hour_nobody_watched(
    runtime: Runtime,
) -> None:
    # 90 minutes after the last check seen before the jump: counted to "now", the outage would cover this
    # deadline's last hour and more than 60 minutes of its day.
    add_cases(runtime, IN_THE_JUMP=timedelta(minutes=90))
    feed(runtime, (0, True), (30, False), (60, False))
    # The host's clock leaps an hour ahead: the next checks say 15:01, 15:01:30, still failing.
    feed(runtime, (3660, False), (3690, False))
    with transaction(runtime.sessions) as session:
        outage = session.scalars(select(Outage)).one()
        assert outage.last_failed_at == T0 + timedelta(seconds=60)
        assert outage.gap_at == T0 + timedelta(seconds=3660)
    at(runtime, 3700)
    relieve(runtime, outage.id)
    assert _granted(runtime) == set()


def _outage_ids(runtime: Runtime) -> list[int]:
    with transaction(runtime.sessions) as session:
        return list(session.scalars(select(Outage.id)))


def _granted(runtime: Runtime) -> set[str]:
    with transaction(runtime.sessions) as session:
        return set(session.scalars(select(Grant.case_id)))


def test_monitoring_events_are_stored_with_the_change(runtime: Runtime) -> None:
    feed(runtime, (0, True))
    at(runtime, 600)
    check_monitoring(runtime)
    feed(runtime, (601, True))
    with transaction(runtime.sessions) as session:
        kinds = [e.kind for e in session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))]
    assert kinds == [EventKind.MONITORING_LOST, EventKind.MONITORING_RESTORED]


OPS = {"Authorization": "Bearer t0ken"}


def _gaps(runtime: Runtime) -> list[tuple[datetime, datetime | None]]:
    with transaction(runtime.sessions) as session:
        return [(g.started_at, g.ended_at) for g in session.scalars(select(MonitoringGap).order_by(MonitoringGap.id))]


def _watched_since(runtime: Runtime, moment: datetime) -> None:
    # The configuration was applied at the wall clock's now; these tests replay an earlier day.
    with transaction(runtime.sessions) as session:
        session.execute(update(Probe).values(activated_at=moment))


def test_a_monitoring_gap_runs_from_the_last_check_seen_to_the_first_check_after(runtime: Runtime) -> None:
    feed(runtime, (0, True), (30, True))
    at(runtime, 30 + 91)
    check_monitoring(runtime)
    check_monitoring(runtime)  # one gap, however many sweeps notice it
    assert _gaps(runtime) == [(T0 + timedelta(seconds=30), None)]
    at(runtime, 3600)
    feed(runtime, (3600, True))
    assert _gaps(runtime) == [(T0 + timedelta(seconds=30), T0 + timedelta(seconds=3600))]


def test_a_monitoring_gap_counts_neither_as_uptime_nor_as_outage_in_the_figures(runtime: Runtime) -> None:
    _watched_since(runtime, T0)
    feed(runtime, (0, True), (30, True))
    at(runtime, 30 + 91)
    check_monitoring(runtime)
    at(runtime, 3630)
    feed(runtime, (3630, True))
    at(runtime, 7200)
    client = create_app(runtime).test_client()
    day = client.get("/api/v1/uptime").get_json()["components"]["pr-portal"]["1d"]
    assert day["monitoring_gap_seconds"] == 3600
    assert day["observed_seconds"] == 7200 - 3600
    assert (day["uptime_percent"], day["downtime_seconds"], day["maintenance_counted"]) == (100.0, 0, "excluded")
    page = client.get("/").get_data(as_text=True)
    assert "100.00 % uptime over the last 90 days" in page
    assert "monitoring interrupted for 1h, not counted" in page


def test_an_outage_interrupted_by_a_gap_counts_only_the_watched_time_for_uptime_and_relief(runtime: Runtime) -> None:
    # Failing at 14:00:30, then nothing seen from 14:01 to 17:00, then failing once more and recovering.
    _watched_since(runtime, T0)
    add_cases(runtime, IN_THE_GAP=timedelta(hours=2), AFTER_THE_GAP=timedelta(seconds=3 * 3600 + 15))
    feed(runtime, (0, True), (30, False), (60, False))
    at(runtime, 60 + 91)
    check_monitoring(runtime)
    at(runtime, 3 * 3600)
    feed(runtime, (3 * 3600, False), (3 * 3600 + 30, True), (3 * 3600 + 60, True))
    (outage_id,) = _outage_ids(runtime)
    with transaction(runtime.sessions) as session:
        outage = session.get_one(Outage, outage_id)
        assert outage.ended_at == T0 + timedelta(seconds=3 * 3600 + 30)
    at(runtime, 4 * 3600)
    relieve(runtime, outage_id)
    # The deadline at 16:00 fell while nobody watched: the record does not say the portal was down then.
    assert _granted(runtime) == {"AFTER_THE_GAP"}
    client = create_app(runtime).test_client()
    day = client.get("/api/v1/uptime").get_json()["components"]["pr-portal"]["1d"]
    # Down from the first failure to 14:01 (30 s) and from 17:00 to the recovery (30 s); the gap is out.
    assert (day["downtime_seconds"], day["monitoring_gap_seconds"]) == (60, 3 * 3600 - 60)
    gaps = client.get("/api/ops/monitoring-gaps", headers=OPS).get_json()["monitoring_gaps"]
    assert [(g["component_id"], g["seconds"], g["ongoing"]) for g in gaps] == [("pr-portal", 3 * 3600 - 60, False)]
