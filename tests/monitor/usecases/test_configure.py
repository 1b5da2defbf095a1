"""Changing the configuration never leaves an outage open for ever: what it orphaned is closed, with a reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from exemptions.cases import import_cases
from monitor.config import parse_config
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import EndReason, EventKind, GrantStatus
from monitor.storage.models import Grant, Location, Outage, OutboxEvent
from monitor.usecases.configure import apply_config
from monitor.usecases.jobs import relieve_open_outages_job
from monitor.usecases.relief import open_outage_ids, relieve
from tests.conftest import T0, make_runtime, record_checks

TWO_LOCATIONS = """
locations: [montreal, vancouver]
quorum: 1  # either location seeing it down is enough here: these tests are about locations removed
components:
  - id: pr-portal
    name: Permanent residence portal
    probes:
      - {id: pr-home, type: http, url: "http://127.0.0.1:9/pr/", interval: 5s}
  - id: employer-portal
    name: Employer portal
    probes:
      - {id: employer-home, type: http, url: "http://127.0.0.1:9/employer/", interval: 5s}
"""


def reconfigure(runtime: Runtime, text: str, now: datetime) -> None:
    runtime.config = parse_config(text, source="changed.yaml")
    with transaction(runtime.sessions) as session:
        apply_config(session, runtime.config, now=now)


def outages(runtime: Runtime) -> list[Outage]:
    with transaction(runtime.sessions) as session:
        return list(session.scalars(select(Outage).order_by(Outage.id)))


def event_kinds(runtime: Runtime) -> list[str]:
    with transaction(runtime.sessions) as session:
        return [e.kind.value for e in session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))]


def test_a_location_removed_from_the_configuration_no_longer_holds_its_component_down(database_url: str) -> None:
    runtime = make_runtime(database_url, TWO_LOCATIONS)
    # Vancouver's probe host has a bad network: it sees the portal down; Montreal sees it up.
    record_checks(runtime, (0, True), (5, False), (10, False), probe="pr-home", location="vancouver")
    record_checks(runtime, (0, True), (5, True), (10, True), probe="pr-home", location="montreal")
    (opened,) = outages(runtime)
    assert opened.ended_at is None

    reconfigure(runtime, TWO_LOCATIONS.replace("[montreal, vancouver]", "[montreal]"), T0 + timedelta(seconds=12))
    with transaction(runtime.sessions) as session:
        assert session.get_one(Location, "vancouver").active is False
    (closed,) = outages(runtime)
    assert closed.ended_at == T0 + timedelta(seconds=10)  # the last failure anyone counted, not "now"
    assert closed.end_reason == EndReason.WATCH_REMOVED

    # Vancouver's worker is still running an old configuration: its failures no longer count.
    record_checks(runtime, (15, False), (20, False), (25, False), probe="pr-home", location="vancouver")
    record_checks(runtime, (15, True), (20, True), (25, True), probe="pr-home", location="montreal")
    assert [o.ended_at is None for o in outages(runtime)] == [False]
    runtime.close()


def test_a_component_removed_while_its_outage_is_open_is_closed_at_its_last_failure_and_relief_stops_growing(
    database_url: str,
) -> None:
    runtime = make_runtime(database_url, TWO_LOCATIONS)
    with transaction(runtime.sessions) as session:
        import_cases(
            session,
            "case_id,components,deadline,time_zone\n"
            f"C-1,employer-portal,{(T0 + timedelta(seconds=7)).isoformat()},America/Toronto\n",
        )
    record_checks(runtime, (0, True), (5, False), (10, False), (15, False), probe="employer-home", location="montreal")
    (opened,) = outages(runtime)
    relieve(runtime, opened.id)

    without_employer = TWO_LOCATIONS[: TWO_LOCATIONS.index("  - id: employer-portal")]
    reconfigure(runtime, without_employer, T0 + timedelta(hours=1))
    (closed,) = outages(runtime)
    assert closed.ended_at == T0 + timedelta(seconds=15)
    assert closed.end_reason == EndReason.COMPONENT_REMOVED
    assert event_kinds(runtime)[-1] == EventKind.OUTAGE_RESOLVED
    assert open_outage_ids(runtime) == []

    # Relief for it becomes final, from its last failure, and no periodic run pushes it later.
    runtime.clock = lambda: T0 + timedelta(days=3)
    relieve(runtime, closed.id)
    relieve_open_outages_job(runtime)
    with transaction(runtime.sessions) as session:
        grant = session.scalars(select(Grant)).one()
    assert grant.status == GrantStatus.FINAL
    # Down in the deadline's last hour (Friday 20 Nov) and restored that day: the grace rule's 2nd business
    # day after it, Tuesday 24 Nov 23:59:59 EST.
    assert grant.new_deadline == datetime(2026, 11, 25, 4, 59, 59, tzinfo=UTC)
    runtime.close()


def test_a_probe_removed_while_it_held_the_outage_open_closes_it_unless_another_probe_saw_recovery(
    sqlite_url: str,
) -> None:
    two_probes = """
components:
  - id: pr-portal
    name: Permanent residence portal
    probes:
      - {id: pr-home, type: http, url: "http://127.0.0.1:9/pr/", interval: 5s}
      - {id: pr-login, type: http, url: "http://127.0.0.1:9/pr/login", interval: 5s}
"""
    runtime = make_runtime(sqlite_url, two_probes)
    record_checks(runtime, (0, True), (5, False), (10, False), probe="pr-login", location="local")
    record_checks(runtime, (0, True), (5, True), (10, True), probe="pr-home", location="local")
    login = '      - {id: pr-login, type: http, url: "http://127.0.0.1:9/pr/login", interval: 5s}\n'
    reconfigure(runtime, two_probes.replace(login, ""), T0 + timedelta(minutes=1))
    (closed,) = outages(runtime)
    assert (closed.ended_at, closed.end_reason) == (T0 + timedelta(seconds=10), EndReason.WATCH_REMOVED)
    runtime.close()


def test_reloading_the_same_configuration_changes_nothing(database_url: str) -> None:
    runtime = make_runtime(database_url, TWO_LOCATIONS)
    record_checks(runtime, (0, True), (5, False), (10, False), probe="pr-home", location="montreal")
    before = event_kinds(runtime)
    reconfigure(runtime, TWO_LOCATIONS, T0 + timedelta(minutes=5))
    assert [o.ended_at for o in outages(runtime)] == [None]
    assert event_kinds(runtime) == before
    runtime.close()
