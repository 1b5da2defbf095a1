"""Checks recorded in batches: once each, in slot order, with the outage decided as a check at a time would."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import CheckKind
from monitor.storage.models import Check, Outage, ProbeState
from monitor.usecases.checks import Observed, Recorded, record_checks
from probes.result import ErrorClass
from tests.conftest import T0, check_result, make_runtime

TWO_PROBES = """
failure_threshold: 2
recovery_threshold: 2
components:
  - id: pr-portal
    name: Permanent residence portal
    probes:
      - {id: pr-home, type: http, url: "http://127.0.0.1:9/pr/", interval: 10s}
      - {id: pr-login, type: http, url: "http://127.0.0.1:9/login/", interval: 10s, failure_threshold: 1}
  - id: employer-portal
    name: Employer portal
    probes:
      - {id: employer-home, type: http, url: "http://127.0.0.1:9/employer/", interval: 10s}
"""


@pytest.fixture
def runtime(database_url: str) -> Iterator[Runtime]:
    runtime = make_runtime(database_url, TWO_PROBES)
    yield runtime
    runtime.close()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def seen(seconds: float, ok: bool, probe: str = "pr-home", kind: CheckKind = CheckKind.SCHEDULED) -> Observed:
    return Observed(check_result(at(seconds), ok, probe=probe), at(seconds), kind)


def record(runtime: Runtime, *observed: Observed, now: float | None = None) -> Recorded:
    when = at(now if now is not None else max(o.slot for o in observed).timestamp() - T0.timestamp() + 1)
    with transaction(runtime.sessions) as session:
        return record_checks(session, list(observed), grace_days=7, now=when)


def checks(runtime: Runtime) -> int:
    with transaction(runtime.sessions) as session:
        return session.scalar(select(func.count()).select_from(Check)) or 0


def outages(runtime: Runtime) -> list[Outage]:
    with transaction(runtime.sessions) as session:
        return list(session.scalars(select(Outage).order_by(Outage.id)))


def test_a_batch_records_each_of_its_checks_once_and_a_redelivered_batch_records_nothing(runtime: Runtime) -> None:
    batch = [seen(0, True), seen(0, True, "pr-login"), seen(0, True, "employer-home")]
    assert record(runtime, *batch).recorded == 3
    again = record(runtime, *batch)
    assert (again.recorded, again.deliveries, again.confirm) == (0, [], [])
    assert checks(runtime) == 3


def test_a_check_another_worker_already_stored_is_skipped_and_the_rest_of_the_batch_is_kept(runtime: Runtime) -> None:
    record(runtime, seen(0, True))
    done = record(runtime, seen(0, False), seen(0, True, "pr-login"))
    assert done.recorded == 1
    with transaction(runtime.sessions) as session:
        state = session.get_one(ProbeState, ("pr-home", "local"))
        assert (state.failures, state.successes) == (0, 1)  # the duplicate's failure was not folded in


def test_a_first_failure_of_a_probe_that_was_up_asks_for_a_confirmation_at_once(runtime: Runtime) -> None:
    record(runtime, seen(0, True))
    done = record(runtime, seen(10, False))
    assert done.confirm == [("pr-home", "local")]
    assert outages(runtime) == []  # one failure is not an outage when two are needed


def test_the_confirming_failure_opens_the_outage_from_the_first_failure(runtime: Runtime) -> None:
    record(runtime, seen(0, True))
    record(runtime, seen(10, False))
    done = record(runtime, seen(10.4, False, kind=CheckKind.CONFIRMATION))
    assert done.confirm == []  # decided: nothing more to confirm
    [outage] = outages(runtime)
    assert (outage.started_at, outage.last_ok_at, outage.ended_at) == (at(10), at(0), None)
    assert done.deliveries  # the opening is announced
    with transaction(runtime.sessions) as session:
        kinds = session.scalars(select(Check.kind).order_by(Check.slot)).all()
    assert kinds == [CheckKind.SCHEDULED, CheckKind.SCHEDULED, CheckKind.CONFIRMATION]


def test_a_first_success_of_a_probe_that_was_down_asks_for_a_confirmation_and_the_second_ends_the_outage(
    runtime: Runtime,
) -> None:
    record(runtime, seen(0, False), seen(0, True, "pr-login"))
    record(runtime, seen(10, False))
    assert len(outages(runtime)) == 1
    first = record(runtime, seen(20, True))
    assert first.confirm == [("pr-home", "local")]
    assert outages(runtime)[0].ended_at is None
    record(runtime, seen(20.3, True, kind=CheckKind.CONFIRMATION))
    assert outages(runtime)[0].ended_at == at(20)


def test_a_probe_that_needs_one_failure_is_decided_by_it_and_asks_for_no_confirmation(runtime: Runtime) -> None:
    done = record(runtime, seen(0, False, "pr-login"))
    assert done.confirm == []
    assert len(outages(runtime)) == 1


def test_a_batch_holding_a_fall_and_a_recovery_keeps_the_outage_between_them(runtime: Runtime) -> None:
    # A worker catching up may carry several slots of one probe: the outage they show is not skipped.
    done = record(runtime, seen(0, True), seen(10, False), seen(20, False), seen(30, True), seen(40, True))
    [outage] = outages(runtime)
    assert (outage.started_at, outage.ended_at, outage.last_ok_at) == (at(10), at(30), at(0))
    assert len(done.deliveries) >= 2  # opened and resolved, both announced


def test_checks_of_a_batch_are_folded_in_slot_order_whatever_order_they_finished_in(runtime: Runtime) -> None:
    record(runtime, seen(20, False), seen(10, False), seen(0, True))  # the slowest check of a batch finishes last
    [outage] = outages(runtime)
    assert (outage.started_at, outage.last_ok_at) == (at(10), at(0))


def test_checks_of_a_probe_no_longer_configured_are_dropped_and_the_rest_recorded(runtime: Runtime) -> None:
    gone = Observed(check_result(at(0), True, probe="removed-probe"), at(0))
    assert record(runtime, gone, seen(0, True)).recorded == 1


def test_checks_the_probe_itself_could_not_run_are_kept_but_never_open_an_outage(runtime: Runtime) -> None:
    def unrunnable(seconds: float) -> Observed:
        result = dataclasses.replace(
            check_result(at(seconds), False),
            error_class=ErrorClass.PROBE,
            error="the probe could not run: RuntimeError: chromium not found at /usr/bin/chromium",
        )
        return Observed(result, at(seconds))

    done = record(runtime, *(unrunnable(10 * n) for n in range(5)))
    assert done.recorded == 5 and done.deliveries == [] and done.confirm == []
    assert outages(runtime) == []
    with transaction(runtime.sessions) as session:
        state = session.get_one(ProbeState, ("pr-home", "local"))
        assert state.failures == 0 and not state.down and state.last_digest is not None
