"""A location that cannot reach its control URL is blind: what it sees is kept, never counted, and it
comes back by itself."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import CheckKind, EventKind, LocationSight
from monitor.storage.models import Location, Outage, OutboxEvent
from monitor.usecases import jobs
from monitor.usecases.evidence import verify_evidence
from monitor.usecases.locations import location_views
from monitor.web import create_app
from tests.monitor.scheduler.fakes import Recorder
from tests.monitor.usecases.targets import SLOT, TargetServer, config, stored

pytestmark = pytest.mark.timeout(60)

INTERVAL = timedelta(seconds=10)


def locations(server: TargetServer, *, control: str = "switch/control") -> str:
    return f'locations:\n  - {{name: toronto, control: "{server.base}/{control}", control_timeout: 1s}}\n'


def batch(runtime: Runtime, n: int, probe: str = "pr-home", location: str = "toronto") -> int:
    """The scheduled batch of slot n, as the worker of `location` runs it."""
    return jobs.run_checks_job(runtime, location, [[probe, (SLOT + n * INTERVAL).isoformat()]])


def outages(runtime: Runtime) -> list[Outage]:
    with transaction(runtime.sessions) as session:
        return list(session.scalars(select(Outage).order_by(Outage.id)))


def events(runtime: Runtime) -> list[tuple[EventKind, dict[str, Any]]]:
    with transaction(runtime.sessions) as session:
        return [(e.kind, e.payload or {}) for e in session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))]


def sight(runtime: Runtime, name: str = "toronto") -> LocationSight:
    with transaction(runtime.sessions) as session:
        return session.get_one(Location, name).sight


def test_failures_seen_by_a_location_that_cannot_reach_its_control_url_open_no_outage(
    make: Any, target_server: TargetServer
) -> None:
    runtime = make(config(target_server.base, {"pr-home": "down/1"}, locations=locations(target_server)))
    sent = Recorder()
    runtime.dispatch = sent
    for n in range(4):
        assert batch(runtime, n) == 1

    checks = stored(runtime)
    assert len(checks) == 4 and all(not c.ok and c.blind for c in checks)
    assert outages(runtime) == []
    assert sight(runtime) == LocationSight.BLIND
    # Told once, not once per batch; and nothing is confirmed: a blind location's failure is no first failure.
    assert [kind for kind, _ in events(runtime)] == [EventKind.LOCATION_BLIND]
    assert sent.jobs(jobs.RUN_CHECKS) == []
    [(_, payload)] = events(runtime)
    assert payload["location"] == "toronto" and "503" in payload["error"]
    assert verify_evidence(runtime).broken == []  # blind checks are in the chain like any other


def test_a_blind_location_comes_back_by_itself_and_its_failures_count_from_then_on(
    make: Any, target_server: TargetServer
) -> None:
    runtime = make(config(target_server.base, {"pr-home": "down/1"}, locations=locations(target_server)))
    batch(runtime, 0)
    batch(runtime, 1)
    assert sight(runtime) == LocationSight.BLIND

    target_server.switch_on.set()  # its way out works again
    batch(runtime, 2)
    assert sight(runtime) == LocationSight.SEEING
    batch(runtime, 3)

    [outage] = outages(runtime)
    first_counted = SLOT + 2 * INTERVAL
    assert outage.started_at >= first_counted  # the blind failures before it are not part of it
    assert [kind for kind, _ in events(runtime)][:2] == [EventKind.LOCATION_BLIND, EventKind.LOCATION_SEEING]
    assert [c.blind for c in stored(runtime, CheckKind.SCHEDULED)] == [True, True, False, False]


def test_an_outage_seen_before_its_location_went_blind_stays_open_until_a_location_that_sees_says_otherwise(
    make: Any, target_server: TargetServer
) -> None:
    target_server.switch_on.set()
    runtime = make(config(target_server.base, {"pr-home": "down/1"}, locations=locations(target_server)))
    batch(runtime, 0)
    batch(runtime, 1)
    [opened] = outages(runtime)
    assert opened.ended_at is None

    target_server.switch_on.clear()  # the location loses its way out while the portal is down
    batch(runtime, 2)
    batch(runtime, 3)
    [still] = outages(runtime)
    # Going blind is no evidence of recovery: held open, and not extended by what a blind location saw.
    assert still.ended_at is None and still.last_failed_at == opened.last_failed_at
    assert sight(runtime) == LocationSight.BLIND


def test_ops_see_each_location_with_its_sight_and_the_control_check_that_decided_it(
    make: Any, target_server: TargetServer
) -> None:
    text = config(target_server.base, {"pr-home": "ok/1"}, locations=locations(target_server))
    runtime = make(text, ops_token="t0ken")
    batch(runtime, 0)
    with transaction(runtime.sessions) as session:
        [view] = location_views(session)
    assert view.sight == LocationSight.BLIND and view.control_error is not None

    answer = create_app(runtime).test_client().get("/api/ops/locations", headers={"Authorization": "Bearer t0ken"})
    assert answer.status_code == 200
    [shown] = answer.get_json()["locations"]
    assert shown["name"] == "toronto" and shown["sight"] == "blind" and shown["blind"] is True
    assert shown["control"].endswith("/switch/control") and "503" in shown["control_error"]
    assert stored(runtime)[0].ok and stored(runtime)[0].blind  # even a pass from a blind location is not counted
