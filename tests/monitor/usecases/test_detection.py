"""Detection through storage: a portal that comes in fits and spurts is one outage with its history;
what each probe failing means sets the outage's severity, which rises and falls inside it; relief counts
each part at the severity it had."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from exemptions.relief.downtime import load_record, severity_parts
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import EventKind, OutageChangeKind, Severity
from monitor.storage.models import Outage, OutageChange, OutboxEvent
from monitor.usecases.checks import Observed, record_checks
from probes.result import CheckResult, ErrorClass
from tests.conftest import T0, check_result, make_runtime
from tests.conftest import record_checks as record

FLAPPING = """
failure_threshold: 2
recovery_threshold: 2
merge_gap: 10m
components:
  - id: pr-portal
    name: Permanent residence portal
    probes:
      - {id: pr-home, type: http, url: "http://127.0.0.1:9/pr/", interval: 30s}
"""

IMPACTS = """
failure_threshold: 2
recovery_threshold: 2
components:
  - id: rep-portal
    name: Representative portal
    probes:
      - {id: rep-home, type: http, url: "http://127.0.0.1:9/rep/", interval: 60s, max_latency: 2s}
      - {id: rep-upload, type: http, url: "http://127.0.0.1:9/upload/", interval: 60s, impact: partial_outage}
"""


@pytest.fixture
def runtime(database_url: str, request: pytest.FixtureRequest) -> Iterator[Runtime]:
    runtime = make_runtime(database_url, getattr(request, "param", FLAPPING))
    yield runtime
    runtime.close()


def outages(runtime: Runtime) -> list[Outage]:
    with transaction(runtime.sessions) as session:
        return list(session.scalars(select(Outage).order_by(Outage.id)))


def history(runtime: Runtime, outage_id: int) -> list[tuple[OutageChangeKind, Severity]]:
    with transaction(runtime.sessions) as session:
        rows = session.scalars(
            select(OutageChange).where(OutageChange.outage_id == outage_id).order_by(OutageChange.at, OutageChange.id)
        )
        return [(row.kind, row.severity) for row in rows]


def test_failures_within_merge_gap_of_an_outage_s_end_reopen_it_one_outage_with_its_history(runtime: Runtime) -> None:
    # Down 30 s → 60 s, up at 90 s and 120 s (ended at 90 s), down again from 300 s: 3.5 minutes later.
    record(runtime, (0, True), (30, False), (60, False), (90, True), (120, True), (300, False), (330, False))
    [outage] = outages(runtime)
    assert outage.ended_at is None and outage.started_at == T0 + timedelta(seconds=30)
    assert [kind for kind, _ in history(runtime, outage.id)] == [
        OutageChangeKind.OPENED,
        OutageChangeKind.ENDED,
        OutageChangeKind.REOPENED,
    ]
    record(runtime, (360, True), (390, True))
    [closed] = outages(runtime)
    assert closed.ended_at == T0 + timedelta(seconds=360)
    with transaction(runtime.sessions) as session:
        kinds = [e.kind for e in session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))]
    assert kinds == [
        EventKind.OUTAGE_OPENED,
        EventKind.OUTAGE_RESOLVED,
        EventKind.OUTAGE_REOPENED,
        EventKind.OUTAGE_RESOLVED,
    ]


def test_failures_after_merge_gap_open_a_new_outage(runtime: Runtime) -> None:
    record(runtime, (0, True), (30, False), (60, False), (90, True), (120, True))
    record(runtime, (90 + 11 * 60, False), (90 + 11 * 60 + 30, False))
    assert len(outages(runtime)) == 2


def observed(seconds: float, probe: str, *, ok: bool = False, slow: bool = False) -> Observed:
    at = T0 + timedelta(seconds=seconds)
    if slow:
        result = CheckResult(
            probe, "local", at, False, latency_ms=3100, status_code=200, error_class=ErrorClass.SLOW, error="slow"
        )
    else:
        result = check_result(at, ok, probe=probe)
    return Observed(result, at)


def recorded(runtime: Runtime, *batch: Observed) -> None:
    for item in batch:
        with transaction(runtime.sessions) as session:
            record_checks(session, [item], grace_days=None, now=item.slot)


@pytest.mark.parametrize("runtime", [IMPACTS], indirect=True)
def test_a_partial_outage_rises_to_major_and_falls_back_and_relief_counts_each_part_at_its_severity(
    runtime: Runtime,
) -> None:
    # The upload breaks (partial), then the home page too (major), then the home page comes back.
    recorded(runtime, observed(0, "rep-home", ok=True), observed(0, "rep-upload", ok=True))
    recorded(runtime, observed(60, "rep-upload"), observed(60, "rep-home", ok=True))
    recorded(runtime, observed(120, "rep-upload"), observed(120, "rep-home", ok=True))
    [outage] = outages(runtime)
    assert outage.severity is Severity.PARTIAL_OUTAGE
    recorded(runtime, observed(180, "rep-home"), observed(180, "rep-upload"))
    recorded(runtime, observed(240, "rep-home"), observed(240, "rep-upload"))
    assert outages(runtime)[0].severity is Severity.MAJOR_OUTAGE
    recorded(runtime, observed(300, "rep-home", ok=True), observed(300, "rep-upload"))
    recorded(runtime, observed(360, "rep-home", ok=True), observed(360, "rep-upload"))
    assert outages(runtime)[0].severity is Severity.PARTIAL_OUTAGE
    assert history(runtime, outage.id) == [
        (OutageChangeKind.OPENED, Severity.PARTIAL_OUTAGE),
        (OutageChangeKind.SEVERITY, Severity.MAJOR_OUTAGE),
        (OutageChangeKind.SEVERITY, Severity.PARTIAL_OUTAGE),
    ]
    with transaction(runtime.sessions) as session:
        record_ = load_record(session, since=T0, until=T0 + timedelta(hours=1), now=T0 + timedelta(seconds=400))
    parts = [
        (d.severity, int((d.start - T0).total_seconds()), int((d.end - T0).total_seconds())) for d in record_.downtimes
    ]
    assert parts == [
        (Severity.PARTIAL_OUTAGE, 0, 180),  # from the last good check: the upload's failure is partial
        (Severity.MAJOR_OUTAGE, 180, 300),  # from the home page's first failure to its recovery
        (Severity.PARTIAL_OUTAGE, 300, 360),
    ]


@pytest.mark.parametrize("runtime", [IMPACTS], indirect=True)
def test_answers_only_slower_than_the_ceiling_make_the_component_degraded_not_down(runtime: Runtime) -> None:
    recorded(runtime, observed(0, "rep-home", ok=True), observed(0, "rep-upload", ok=True))
    recorded(runtime, observed(60, "rep-home", slow=True), observed(60, "rep-upload", ok=True))
    recorded(runtime, observed(120, "rep-home", slow=True), observed(120, "rep-upload", ok=True))
    [outage] = outages(runtime)
    assert outage.severity is Severity.DEGRADED_PERFORMANCE


def test_an_outage_without_history_counts_whole_at_its_one_severity() -> None:
    start, end = T0, T0 + timedelta(minutes=30)
    assert severity_parts(Severity.MAJOR_OUTAGE, [], start, end) == [(Severity.MAJOR_OUTAGE, start, end)]
