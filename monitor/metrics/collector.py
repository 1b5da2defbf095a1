"""Figures read from the database when Prometheus scrapes, in two cheap queries.

- `portalwatch_open_outages{severity}`: outages not ended, observed or declared, for each severity (0 too);
- `portalwatch_location_blind{location}` (1 blind, 0 seeing) for each configured location, and
  `portalwatch_blind_locations`, how many are blind;
- `portalwatch_outbox_pending{consumer}`, `portalwatch_outbox_failing{consumer}` (pending deliveries that
  failed at least once) and `portalwatch_outbox_oldest_pending_age_seconds{consumer}`;
- `portalwatch_database_up`: 1 when these were read, 0 when the database could not be: the scrape then
  has the processes' series and this, never an error.

They are read at scrape time rather than counted as they change: the database is the one place that knows
them, whichever process changed them, and a scrape every 15 s costs two small queries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Integer, String, case, func, literal, select, text, type_coerce, union_all
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from monitor.outbox.store import Backlog, backlog
from monitor.storage.engine import transaction
from monitor.storage.enums import LocationSight, Severity
from monitor.storage.models import Location, Outage

log = logging.getLogger(__name__)

# A scrape must answer within Prometheus' scrape timeout (10 s by default) even when a table is locked.
STATEMENT_TIMEOUT_MS = 2000


@dataclass(frozen=True)
class Figures:
    open_outages: dict[Severity, int]
    blind: dict[str, bool]  # each configured location: whether it is blind
    outbox: list[Backlog]
    now: datetime


def read_figures(session: Session, now: datetime) -> Figures:
    """Open outages by severity and the locations' sight in one query; the outbox backlog in another."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}"))
    outages = (
        select(
            literal("outage").label("kind"),
            type_coerce(Outage.severity, String).label("name"),
            type_coerce(func.count(), Integer).label("value"),
        )
        .where(Outage.ended_at.is_(None))
        .group_by(Outage.severity)
    )
    locations = select(
        literal("location"),
        Location.id,
        case((Location.sight == LocationSight.BLIND, 1), else_=0),
    ).where(Location.active)
    open_outages = dict.fromkeys(Severity, 0)
    blind: dict[str, bool] = {}
    for kind, name, value in session.execute(union_all(outages, locations)):
        if kind == "outage":
            open_outages[Severity(name)] = int(value)
        else:
            blind[name] = bool(value)
    return Figures(open_outages=open_outages, blind=blind, outbox=backlog(session), now=now)


def families(figures: Figures | None) -> Iterator[Metric]:
    """The series for these figures; only `portalwatch_database_up 0` without them."""
    up = GaugeMetricFamily(
        "portalwatch_database_up",
        "Whether this scrape could read the database (1) or not (0);"
        " without it the series read from the database are absent.",
    )
    up.add_metric([], 0 if figures is None else 1)
    yield up
    if figures is None:
        return
    outages = GaugeMetricFamily(
        "portalwatch_open_outages",
        "Outages not ended yet, observed by the probes or declared by ops, by severity.",
        labels=["severity"],
    )
    for severity, count in figures.open_outages.items():
        outages.add_metric([severity.value], count)
    yield outages
    location_blind = GaugeMetricFamily(
        "portalwatch_location_blind",
        "Whether a configured location is blind (1: its control check fails, its checks count for nothing)"
        " or sees (0).",
        labels=["location"],
    )
    for location, is_blind in sorted(figures.blind.items()):
        location_blind.add_metric([location], 1 if is_blind else 0)
    yield location_blind
    yield GaugeMetricFamily(
        "portalwatch_blind_locations",
        "How many configured locations are blind.",
        value=sum(figures.blind.values()),
    )
    pending = GaugeMetricFamily(
        "portalwatch_outbox_pending",
        "Outbox deliveries not done yet, by consumer (relief, slack).",
        labels=["consumer"],
    )
    failing = GaugeMetricFamily(
        "portalwatch_outbox_failing",
        "Pending outbox deliveries that failed at least once and wait for their next attempt, by consumer.",
        labels=["consumer"],
    )
    oldest = GaugeMetricFamily(
        "portalwatch_outbox_oldest_pending_age_seconds",
        "How long the oldest pending outbox delivery has waited, by consumer (0 when none is pending).",
        labels=["consumer"],
    )
    for b in figures.outbox:
        pending.add_metric([b.consumer.value], b.pending)
        failing.add_metric([b.consumer.value], b.failing)
        age = 0.0 if b.oldest_pending_at is None else (figures.now - b.oldest_pending_at).total_seconds()
        oldest.add_metric([b.consumer.value], max(age, 0.0))
    yield pending
    yield failing
    yield oldest


class DatabaseCollector(Collector):
    """Reads the figures at each scrape, in one short transaction of its own."""

    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        self.sessions = sessions
        self.clock = clock

    def describe(self) -> list[Metric]:
        return []  # nothing is read when it is registered, only when it is collected

    def collect(self) -> Iterator[Metric]:
        try:
            with transaction(self.sessions) as session:
                figures: Figures | None = read_figures(session, self.clock())
        except SQLAlchemyError as exc:
            log.warning("metrics: the database could not be read (%s); answering database_up 0", type(exc).__name__)
            figures = None
        yield from families(figures)
