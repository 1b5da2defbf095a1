"""The figures a scrape reads from the database: open outages by severity, blind locations, the outbox backlog,
in two queries; and when the database cannot be read, `portalwatch_database_up 0` instead of an error."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Select, event, select, update

from monitor.metrics.collector import DatabaseCollector
from monitor.runtime import Runtime
from monitor.storage.engine import make_engine, make_sessionmaker, transaction
from monitor.storage.enums import Consumer, DeliveryState, LocationSight
from monitor.storage.models import Delivery, Location
from monitor.usecases.outages import declare_outage
from tests.conftest import free_port, make_runtime, record_checks

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
CONFIG = """
locations: [local, {name: montreal, control: "http://127.0.0.1:9/"}, {name: toronto, control: "http://127.0.0.1:9/"}]
quorum: 1  # one location seeing it down is enough here: the test is about what a scrape reads
components:
  - id: pr-portal
    name: Permanent residence portal
    probes:
      - {id: pr-home, type: http, url: "http://127.0.0.1:9/pr/", interval: 5s}
  - id: employer-portal
    name: Employer portal
    probes:
      - {id: employer-home, type: http, url: "http://127.0.0.1:9/", interval: 5s}
"""


@pytest.fixture
def runtime(database_url: str) -> Iterator[Runtime]:
    runtime = make_runtime(database_url, CONFIG)
    runtime.clock = lambda: NOW
    yield runtime
    runtime.close()


def collected(collector: DatabaseCollector) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    registry = CollectorRegistry()
    registry.register(collector)
    return {
        family.name: {tuple(sorted(s.labels.items())): s.value for s in family.samples} for family in registry.collect()
    }


def test_a_scrape_reads_open_outages_blind_locations_and_the_outbox_backlog(runtime: Runtime) -> None:
    t0 = NOW - timedelta(hours=1)
    # An outage the probes saw (major), one ops declared and still open (partial), one declared and over.
    record_checks(runtime, (0, True), (5, False), (10, False), t0=t0)
    with transaction(runtime.sessions) as session:
        declare_outage(
            session,
            component_id="employer-portal",
            started_at=t0,
            ended_at=None,
            severity="partial_outage",
            reason="The operator reports uploads failing",
            now=t0 + timedelta(minutes=10),
        )
        declare_outage(
            session,
            component_id="employer-portal",
            started_at=t0 - timedelta(days=1),
            ended_at=t0 - timedelta(days=1) + timedelta(hours=1),
            severity="degraded_performance",
            reason="Slow yesterday",
            now=t0 + timedelta(minutes=20),
        )
        session.execute(update(Location).where(Location.id == "montreal").values(sight=LocationSight.BLIND))
        # Of the three events' deliveries: one relief delivery done, one Slack delivery failing.
        relief = session.scalars(select_deliveries(Consumer.RELIEF)).all()
        relief[0].state, relief[0].done_at = DeliveryState.DONE, NOW
        slack = session.scalars(select_deliveries(Consumer.SLACK)).all()
        slack[-1].attempts, slack[-1].last_error = 1, "service_unavailable"

    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731  (conn, cursor, statement, …)
    event.listen(runtime.engine, "before_cursor_execute", listener)
    try:
        figures = collected(DatabaseCollector(runtime.sessions, runtime.clock))
    finally:
        event.remove(runtime.engine, "before_cursor_execute", listener)

    assert figures["portalwatch_database_up"] == {(): 1.0}
    assert figures["portalwatch_open_outages"] == {
        (("severity", "degraded_performance"),): 0.0,
        (("severity", "partial_outage"),): 1.0,
        (("severity", "major_outage"),): 1.0,
    }
    assert figures["portalwatch_location_blind"] == {
        (("location", "local"),): 0.0,
        (("location", "montreal"),): 1.0,
        (("location", "toronto"),): 0.0,
    }
    assert figures["portalwatch_blind_locations"] == {(): 1.0}
    assert figures["portalwatch_outbox_pending"] == {(("consumer", "relief"),): 2.0, (("consumer", "slack"),): 3.0}
    assert figures["portalwatch_outbox_failing"] == {(("consumer", "relief"),): 0.0, (("consumer", "slack"),): 1.0}
    # The oldest pending of each: Slack's is the observed outage's, opened by the check 10 s after t0;
    # relief's (that one done) is the declaration 10 minutes after t0.
    ages = figures["portalwatch_outbox_oldest_pending_age_seconds"]
    assert ages == {(("consumer", "relief"),): 50 * 60.0, (("consumer", "slack"),): 60 * 60.0 - 10}

    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 2, statements  # two cheap queries per scrape


def select_deliveries(consumer: Consumer) -> Select[Delivery]:
    return select(Delivery).where(Delivery.consumer == consumer).order_by(Delivery.created_at, Delivery.id)


def test_an_empty_record_reads_zeros_not_absent_series(runtime: Runtime) -> None:
    figures = collected(DatabaseCollector(runtime.sessions, runtime.clock))
    assert set(figures["portalwatch_open_outages"].values()) == {0.0}
    assert figures["portalwatch_blind_locations"] == {(): 0.0}
    assert figures["portalwatch_outbox_pending"] == {(("consumer", "relief"),): 0.0, (("consumer", "slack"),): 0.0}
    assert set(figures["portalwatch_outbox_oldest_pending_age_seconds"].values()) == {0.0}


@pytest.mark.timeout(30)
def test_a_database_that_refuses_connections_reads_database_up_zero_and_nothing_else() -> None:
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test")
    try:
        figures = collected(DatabaseCollector(make_sessionmaker(engine), lambda: NOW))
    finally:
        engine.dispose()
    assert figures == {"portalwatch_database_up": {(): 0.0}}
