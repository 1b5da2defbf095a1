"""The series processes record as they work: checks counted once stored, latency, the scheduler's lateness.

Real checks against a loopback target, recorded by record_checks into the test database; the values are
this process's own (the multiprocess mode is tested in processes of their own, test_multiprocess.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from monitor.metrics.series import PROCESS
from monitor.runtime import Runtime
from monitor.scheduler.loop import Scheduler
from monitor.storage.engine import transaction
from monitor.storage.models import Check
from monitor.usecases import jobs
from monitor.usecases.checks import Due, Observed, record_checks, run_checks
from tests.conftest import check_result, make_runtime
from tests.monitor.scheduler.conftest import CONFIG as SCHEDULER_CONFIG
from tests.monitor.scheduler.fakes import FakeClock, Recorder
from tests.monitor.usecases.targets import SLOT, TargetServer, config, serving

pytestmark = pytest.mark.timeout(60)


def sample(name: str, **labels: str) -> float:
    return PROCESS.get_sample_value(name, labels) or 0.0


def checks_total(probe: str, location: str, result: str) -> float:
    return sample("portalwatch_checks_total", probe=probe, location=location, result=result)


@pytest.fixture
def target() -> Iterator[TargetServer]:
    with serving() as server:
        yield server


@pytest.fixture
def runtime(database_url: str, target: TargetServer) -> Iterator[Runtime]:
    # Probe ids of this test module's own, so counts other tests made in this process are not confused with them.
    probes = {"metrics-up": "ok/1", "metrics-down": "down/1", "metrics-refused": "ok/2"}
    text = config(target.base, probes).replace(f"{target.base}/ok/2", "http://127.0.0.1:9/")  # nothing listens
    runtime = make_runtime(database_url, text)
    yield runtime
    runtime.close()


def stored(runtime: Runtime) -> int:
    with transaction(runtime.sessions) as session:
        return session.scalar(select(func.count()).select_from(Check)) or 0


def test_real_checks_are_counted_by_probe_location_and_result_and_their_latency_observed(runtime: Runtime) -> None:
    before = {
        key: checks_total(*key)
        for key in [
            ("metrics-up", "local", "ok"),
            ("metrics-down", "local", "status"),
            ("metrics-refused", "local", "connect"),
        ]
    }
    latency_count = sample("portalwatch_check_latency_seconds_count", location="local")
    latency_sum = sample("portalwatch_check_latency_seconds_sum", location="local")

    due = [Due(probe, SLOT) for probe in ("metrics-up", "metrics-down", "metrics-refused")]
    assert sum(group.recorded for group in run_checks(runtime, "local", due)) == 3

    assert {key: checks_total(*key) - count for key, count in before.items()} == dict.fromkeys(before, 1.0)
    with transaction(runtime.sessions) as session:
        answered = [c.latency_ms for c in session.scalars(select(Check)) if c.latency_ms is not None]
    assert len(answered) == 2  # the refused connection got no answer, so no latency
    assert sample("portalwatch_check_latency_seconds_count", location="local") - latency_count == 2
    assert sample("portalwatch_check_latency_seconds_sum", location="local") - latency_sum == pytest.approx(
        sum(answered) / 1000
    )
    # The bucket a check falls in: each answer from loopback is well under 5 s.
    assert sample("portalwatch_check_latency_seconds_bucket", location="local", le="5.0") == sample(
        "portalwatch_check_latency_seconds_count", location="local"
    )

    # A redelivered batch runs and inserts nothing, and counts nothing.
    assert sum(group.recorded for group in run_checks(runtime, "local", due)) == 0
    assert {key: checks_total(*key) - count for key, count in before.items()} == dict.fromkeys(before, 1.0)


def test_checks_a_second_delivery_does_not_insert_are_not_counted_again(runtime: Runtime) -> None:
    at = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)
    before = checks_total("metrics-up", "local", "ok")
    for _ in range(3):
        with transaction(runtime.sessions) as session:
            record_checks(session, [Observed(check_result(at, True, probe="metrics-up"), at)], grace_days=7, now=at)
    assert stored(runtime) == 1
    assert checks_total("metrics-up", "local", "ok") - before == 1


def test_checks_are_counted_when_their_transaction_commits_and_never_when_it_rolls_back(runtime: Runtime) -> None:
    at = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)
    observed = [Observed(check_result(at, False, probe="metrics-down"), at)]
    before = checks_total("metrics-down", "local", "status")

    with pytest.raises(RuntimeError), transaction(runtime.sessions) as session:
        assert record_checks(session, observed, grace_days=7, now=at).recorded == 1
        raise RuntimeError("the transaction fails after the insert")
    assert stored(runtime) == 0
    assert checks_total("metrics-down", "local", "status") == before

    with transaction(runtime.sessions) as session:
        with session.begin_nested():  # a savepoint released is not the transaction committed
            assert record_checks(session, observed, grace_days=7, now=at).recorded == 1
        assert checks_total("metrics-down", "local", "status") == before
    assert stored(runtime) == 1
    assert checks_total("metrics-down", "local", "status") - before == 1


def test_the_scheduler_observes_how_late_each_batch_was_sent_after_its_first_slot(sqlite_url: str) -> None:
    runtime = make_runtime(sqlite_url, SCHEDULER_CONFIG)
    try:
        clock = FakeClock(datetime(2026, 11, 20, 14, 0, tzinfo=UTC))
        sent = Recorder(clock)
        scheduler = Scheduler(runtime, sent, wall=clock.wall, mono=clock.mono)
        locations = ("montreal", "vancouver")
        counts = {loc: sample("portalwatch_scheduler_lateness_seconds_count", location=loc) for loc in locations}
        sums = {loc: sample("portalwatch_scheduler_lateness_seconds_sum", location=loc) for loc in locations}
        for _ in range(40):
            scheduler.tick()
            clock.advance(0.5)

        batches = sent.jobs(jobs.RUN_CHECKS)
        assert batches
        for location in locations:
            mine = [b for b in batches if b.args[0] == location]
            late = [(b.wall - min(datetime.fromisoformat(slot) for _, slot in b.args[1])) for b in mine]  # type: ignore[operator]
            assert sample("portalwatch_scheduler_lateness_seconds_count", location=location) - counts[location] == len(
                mine
            )
            observed = sample("portalwatch_scheduler_lateness_seconds_sum", location=location) - sums[location]
            assert observed == pytest.approx(sum(late, timedelta()).total_seconds())
    finally:
        runtime.close()
