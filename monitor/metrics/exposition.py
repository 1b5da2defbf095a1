"""What a scrape of `GET /metrics` gets: every process's series and the database's figures, as Prometheus text.

With the multiprocess mode on (every PortalWatch process: see multiprocess.py) the process series are
the sums over the files of the shared directory, so any web worker answers with what every process of
its host recorded. Without it (tests, tools) they are this process's own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from monitor.metrics import multiprocess, series
from monitor.metrics.collector import DatabaseCollector

# The text format every Prometheus reads (and `promtool check metrics` checks).
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4


class SharedFiles(Collector):
    """The sums over the directory's files, read again if a file went away between listing and reading
    (the web's start-up removing a dead process's files)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        for attempt in range(3):
            files = [str(path) for path in self.directory.glob("*.db")]
            try:
                return list(MultiProcessCollector.merge(files, accumulate=True))
            except FileNotFoundError:
                if attempt == 2:
                    raise
        return []


class _ThisProcess(Collector):
    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        yield from series.PROCESS.collect()


def scrape_registry(sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> CollectorRegistry:
    registry = CollectorRegistry()
    directory = multiprocess.directory()
    registry.register(SharedFiles(directory) if directory is not None else _ThisProcess())
    registry.register(DatabaseCollector(sessions, clock))
    return registry


def render(sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> bytes:
    return generate_latest(scrape_registry(sessions, clock))
