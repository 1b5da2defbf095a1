"""Maintenance windows in relief: announced late they count like an outage, and moving one re-decides both places."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from exemptions.cases import import_cases
from monitor.config import parse_config
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.models import ReliefDecision
from monitor.usecases.configure import apply_config
from monitor.usecases.deliver import deliver
from tests.conftest import make_runtime

BASE = """
page: {id: pw-test, name: Test portal status, url: "http://status.test/", time_zone: America/Toronto}
components:
  - id: pr-portal
    name: Permanent residence portal
    probes:
      - {id: pr-home, type: http, url: "http://127.0.0.1:9/"}
"""
# Announced on Tuesday 9 June for Wednesday 10 June 09:00-14:00 EDT: less than 48 hours' notice.
WINDOW = """
maintenance:
  - id: upgrade
    title: Database upgrade
    components: [pr-portal]
    starts_at: {starts}
    ends_at: {ends}
    announced_at: 2026-06-09T12:00:00-04:00
"""
ANNOUNCED = datetime(2026, 6, 9, 16, 0, tzinfo=UTC)


@pytest.fixture
def runtime(database_url: str) -> Iterator[Runtime]:
    runtime = make_runtime(database_url, BASE)
    runtime.clock = lambda: ANNOUNCED + timedelta(days=3)
    yield runtime
    runtime.close()


def configure(runtime: Runtime, starts: str, ends: str) -> None:
    runtime.config = parse_config(BASE + WINDOW.format(starts=starts, ends=ends), source="test.yaml")
    with transaction(runtime.sessions) as session:
        deliveries = apply_config(session, runtime.config, now=ANNOUNCED)
    for delivery_id in deliveries:
        deliver(runtime, delivery_id)


def decision(runtime: Runtime, case_id: str) -> ReliefDecision | None:
    with transaction(runtime.sessions) as session:
        return session.scalar(select(ReliefDecision).where(ReliefDecision.case_id == case_id))


def test_maintenance_announced_late_gives_relief_and_moving_it_away_holds_it_where_it_was(runtime: Runtime) -> None:
    with transaction(runtime.sessions) as session:
        import_cases(
            session,
            "case_id,components,deadline,time_zone\nM-1,pr-portal,2026-06-10T12:00:00-04:00,America/Toronto\n",
        )
    configure(runtime, "2026-06-10T09:00:00-04:00", "2026-06-10T14:00:00-04:00")
    given = decision(runtime, "M-1")
    assert given is not None and given.maintenance_ids != [] and given.rules[:2] == ["deadline_day", "last_hour"]

    # The window moves a week later: the case's deadline is no longer inside it.
    configure(runtime, "2026-06-17T09:00:00-04:00", "2026-06-17T14:00:00-04:00")

    moved = decision(runtime, "M-1")
    assert moved is not None
    assert moved.effective_deadline == given.effective_deadline  # never moved earlier
    assert moved.computed_deadline is None  # recomputed at the old place: held
