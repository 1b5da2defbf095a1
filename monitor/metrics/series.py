"""The series PortalWatch's processes record as they work, and the calls that record them.

- `portalwatch_checks_total{probe, location, result}`: checks recorded, `result` being `ok` or the class
  of what failed (`dns`, `connect`, `timeout`, `tls`, `status`, `assertion`, `probe`). Counted when the
  transaction that inserted them commits: a redelivered check inserts nothing and counts nothing, and a
  rolled-back transaction stored nothing.
- `portalwatch_check_latency_seconds{location}`: how long checks that got an answer took.
- `portalwatch_scheduler_lateness_seconds{location}`: how long after the start of its first check's slot
  each batch was sent (the batching allowance, up to 0.5 s, included).

Recording never costs a check its recording: a failure here (a full disk under the metrics directory)
is logged once and the work goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from sqlalchemy import event
from sqlalchemy.orm import Session

from probes.result import CheckResult

log = logging.getLogger(__name__)

# The `_created` series Prometheus' text format does not need; the multiprocess mode has none either,
# so a scrape reads the same whichever way the process keeps its values.
disable_created_metrics()

# This process's series when they are kept in memory (tests, tools). With the multiprocess mode a scrape
# reads the shared directory instead, where every series of every process is (see exposition.py).
PROCESS = CollectorRegistry(auto_describe=True)

CHECKS = Counter(
    "portalwatch_checks_total",
    "Checks recorded, by probe, location and result: ok, or the class of what failed"
    " (dns, connect, timeout, tls, status, assertion; probe: the probe itself could not run).",
    ["probe", "location", "result"],
    registry=PROCESS,
)
CHECK_LATENCY = Histogram(
    "portalwatch_check_latency_seconds",
    "How long recorded checks that got an answer took, from the request sent to the answer judged, by location.",
    ["location"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
    registry=PROCESS,
)
SCHEDULER_LATENESS = Histogram(
    "portalwatch_scheduler_lateness_seconds",
    "How long after the start of its first check's slot each batch of checks was sent, by location"
    " (the batching allowance of at most 0.5 s included).",
    ["location"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
    registry=PROCESS,
)

# Children by label values: a dictionary look-up per check instead of labels()' validation and lock.
_checks: dict[tuple[str, str, str], Any] = {}
_latency: dict[str, Any] = {}
_lateness: dict[str, Any] = {}
_PENDING = "portalwatch.metrics.checks"  # Session.info key: checks inserted, counted on commit
_failed = False


def checks_recorded(session: Session, results: Iterable[CheckResult]) -> None:
    """These checks were inserted in `session`'s transaction: count them once it commits."""
    pending = session.info.get(_PENDING)
    if pending is None:
        session.info[_PENDING] = pending = []
    pending.extend(results)


def batch_sent(location: str, lateness_seconds: float) -> None:
    """The scheduler sent a batch of `location`'s checks this long after its first check's slot began."""
    try:
        child = _lateness.get(location)
        if child is None:
            child = _lateness[location] = SCHEDULER_LATENESS.labels(location)
        child.observe(max(lateness_seconds, 0.0))
    except Exception as exc:
        _not_recorded(exc)


def count_checks(results: Iterable[CheckResult]) -> None:
    """Count checks that are stored (what a commit of checks_recorded's session does)."""
    try:
        for result in results:
            outcome = "ok" if result.ok else (result.error_class.value if result.error_class else "unknown")
            key = (result.probe_id, result.location, outcome)
            child = _checks.get(key)
            if child is None:
                child = _checks[key] = CHECKS.labels(*key)
            child.inc()
            if result.latency_ms is not None:
                latency = _latency.get(result.location)
                if latency is None:
                    latency = _latency[result.location] = CHECK_LATENCY.labels(result.location)
                latency.observe(result.latency_ms / 1000.0)
    except Exception as exc:
        _not_recorded(exc)


def _not_recorded(exc: Exception) -> None:
    global _failed
    if not _failed:
        _failed = True
        log.warning("metrics could not be recorded (%s: %s); the work goes on without them", type(exc).__name__, exc)


@event.listens_for(Session, "after_commit")
def _count_on_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: the transaction that stores the checks has not committed yet
    pending = session.info.pop(_PENDING, None)
    if pending:
        count_checks(pending)


@event.listens_for(Session, "after_transaction_end")
def _forget_on_rollback(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the transaction ended without committing: nothing was stored
        session.info.pop(_PENDING, None)
