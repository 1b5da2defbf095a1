"""Deciding relief in the database, on SQLite and PostgreSQL: who gets what, why, exactly once, never taken back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from exemptions.cases import import_cases
from exemptions.relief import ReliefRun, Scope, relieve
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import DecisionChange, GrantStatus, OutageSource, Severity
from monitor.storage.models import (
    Grant,
    Maintenance,
    MaintenanceComponent,
    Outage,
    PaperAuthorisation,
    ReliefDecision,
    ReliefHistory,
    ReliefRunCase,
)
from monitor.usecases.relief import outage_scope, policy_of
from tests.conftest import make_runtime

CONFIG = """
page: {id: pw-test, name: Test portal status, url: "http://status.test/", time_zone: America/Toronto}
components:
  - id: pr-portal
    name: Permanent residence portal
    probes:
      - {id: pr-home, type: http, url: "http://127.0.0.1:9/"}
  - id: employer-portal
    name: Employer portal
    probes:
      - {id: employer-home, type: http, url: "http://127.0.0.1:9/"}
"""
HEADER = "case_id,components,deadline,time_zone,extendable\n"

# Wednesday 10 June 2026, Toronto (EDT, UTC-4): last good check 09:55, down from 10:00, back at 14:30.
LAST_OK = datetime(2026, 6, 10, 13, 55, tzinfo=UTC)
STARTED = datetime(2026, 6, 10, 14, 0, tzinfo=UTC)
ENDED = datetime(2026, 6, 10, 18, 30, tzinfo=UTC)
NOON = "2026-06-10T12:00:00-04:00"  # a deadline inside the outage
# Rule 4: restored Wednesday → the 2nd business day after it, Friday 12 June, 23:59:59 EDT.
FRIDAY_END = datetime(2026, 6, 13, 3, 59, 59, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.fixture
def runtime(database_url: str) -> Iterator[Runtime]:
    runtime = make_runtime(database_url, CONFIG)
    yield runtime
    runtime.close()


def add_outage(
    runtime: Runtime,
    *,
    component: str = "pr-portal",
    started_at: datetime = STARTED,
    last_ok_at: datetime | None = LAST_OK,
    ended_at: datetime | None = ENDED,
    last_failed_at: datetime | None = None,
    source: OutageSource = OutageSource.OBSERVED,
    severity: Severity = Severity.MAJOR_OUTAGE,
) -> int:
    with transaction(runtime.sessions) as session:
        outage = Outage(
            component_id=component,
            source=source,
            severity=severity,
            started_at=started_at,
            last_ok_at=last_ok_at,
            last_failed_at=last_failed_at,
            ended_at=ended_at,
            detected_at=started_at + timedelta(minutes=2),
            resolved_at=None if ended_at is None else ended_at + timedelta(minutes=2),
        )
        session.add(outage)
        session.flush()
        return outage.id


def add_cases(runtime: Runtime, *rows: str) -> None:
    with transaction(runtime.sessions) as session:
        import_cases(session, HEADER + "".join(row + "\n" for row in rows), source="cases.csv")


def run(runtime: Runtime, outage_id: int, *, now: datetime) -> ReliefRun:
    with transaction(runtime.sessions) as session:
        scope = outage_scope(session.get_one(Outage, outage_id), now=now)
        return relieve(session, scope, policy_of(runtime.config), page_zone="America/Toronto", now=now)


def decisions(runtime: Runtime) -> dict[str, ReliefDecision]:
    with transaction(runtime.sessions) as session:
        return {d.case_id: d for d in session.scalars(select(ReliefDecision))}


def history(runtime: Runtime, case_id: str) -> list[ReliefHistory]:
    with transaction(runtime.sessions) as session:
        return list(
            session.scalars(
                select(ReliefHistory).where(ReliefHistory.case_id == case_id).order_by(ReliefHistory.version)
            )
        )


def count(runtime: Runtime, model: type) -> int:
    with transaction(runtime.sessions) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_case_whose_deadline_fell_inside_the_outage_gets_the_latest_rule_with_its_reasons(runtime: Runtime) -> None:
    outage_id = add_outage(runtime)
    add_cases(runtime, f"A-1,pr-portal,{NOON},America/Toronto,true")

    result = run(runtime, outage_id, now=ENDED + timedelta(minutes=5))

    decision = decisions(runtime)["A-1"]
    assert decision.rules == ["deadline_day", "last_hour", "grace"]
    assert decision.outage_ids == [outage_id]
    assert decision.effective_deadline == decision.computed_deadline == FRIDAY_END
    assert decision.status == GrantStatus.FINAL
    assert [line["rule"] for line in decision.explanation] == ["deadline_day", "last_hour", "grace"]
    assert result.changes == {"granted": 1}
    assert [h.change for h in history(runtime, "A-1")] == [DecisionChange.GRANTED]
    with transaction(runtime.sessions) as session:
        link = session.scalars(select(Grant)).one()
    assert (link.case_id, link.outage_id, link.new_deadline) == ("A-1", outage_id, FRIDAY_END)


def test_running_relief_again_changes_nothing_and_leaves_no_scratch_rows(runtime: Runtime) -> None:
    outage_id = add_outage(runtime)
    add_cases(runtime, f"A-1,pr-portal,{NOON},America/Toronto,true", f"A-2,pr-portal,{NOON},Asia/Karachi,true")
    run(runtime, outage_id, now=ENDED + timedelta(minutes=5))

    again = run(runtime, outage_id, now=ENDED + timedelta(hours=3))

    assert again.changes == {}
    assert count(runtime, ReliefHistory) == 2
    assert count(runtime, Grant) == 2
    assert count(runtime, ReliefRunCase) == 0
    assert {d.version for d in decisions(runtime).values()} == {1}


def test_a_case_on_another_component_gets_nothing(runtime: Runtime) -> None:
    outage_id = add_outage(runtime)
    add_cases(runtime, f"E-1,employer-portal,{NOON},America/Toronto,true")

    run(runtime, outage_id, now=ENDED)

    assert decisions(runtime) == {}


def test_a_deadline_that_cannot_be_extended_is_kept_and_flagged_with_the_rules_that_would_apply(
    runtime: Runtime,
) -> None:
    outage_id = add_outage(runtime)
    add_cases(runtime, f"S-1,pr-portal,{NOON},America/Toronto,false")

    run(runtime, outage_id, now=ENDED)

    decision = decisions(runtime)["S-1"]
    assert decision.extendable is False
    assert decision.effective_deadline == datetime.fromisoformat(NOON)
    assert decision.computed_deadline == FRIDAY_END
    assert decision.rules == ["deadline_day", "last_hour", "grace"]
    assert [h.change for h in history(runtime, "S-1")] == [DecisionChange.FLAGGED]


def test_a_correction_that_would_shorten_the_deadline_is_recorded_as_held_and_not_applied(runtime: Runtime) -> None:
    outage_id = add_outage(runtime)
    add_cases(runtime, f"A-1,pr-portal,{NOON},America/Toronto,true")
    run(runtime, outage_id, now=ENDED)
    # Ops correct the outage: it lasted 09:55 to 10:30 only; nothing on the deadline day reaches 60 minutes
    # and nothing touched the last hour.
    with transaction(runtime.sessions) as session:
        session.get_one(Outage, outage_id).ended_at = utc(2026, 6, 10, 14, 30)

    result = run(runtime, outage_id, now=ENDED + timedelta(hours=1))

    decision = decisions(runtime)["A-1"]
    assert decision.effective_deadline == FRIDAY_END  # never moved earlier
    assert decision.computed_deadline is None
    assert decision.rules == ["deadline_day", "last_hour", "grace"]  # what the deadline in force rests on
    assert result.changes == {"held": 1}
    assert [h.change for h in history(runtime, "A-1")] == [DecisionChange.GRANTED, DecisionChange.HELD]
    assert run(runtime, outage_id, now=ENDED + timedelta(hours=2)).changes == {}


def test_relief_resting_on_an_open_outage_is_provisional_grows_with_it_and_becomes_final(runtime: Runtime) -> None:
    # Down from Friday 12 June 10:00 EDT, still failing; deadline Friday 12:00.
    started = utc(2026, 6, 12, 14, 0)
    outage_id = add_outage(
        runtime, started_at=started, last_ok_at=started, ended_at=None, last_failed_at=utc(2026, 6, 12, 16, 0)
    )
    add_cases(runtime, "A-1,pr-portal,2026-06-12T12:00:00-04:00,America/Toronto,true")

    run(runtime, outage_id, now=utc(2026, 6, 12, 16, 1))
    first = decisions(runtime)["A-1"]
    assert first.status == GrantStatus.PROVISIONAL
    # Still failing all Monday: Monday is no longer an accessible business day.
    with transaction(runtime.sessions) as session:
        session.get_one(Outage, outage_id).last_failed_at = utc(2026, 6, 15, 20, 0)
    run(runtime, outage_id, now=utc(2026, 6, 15, 20, 1))
    grown = decisions(runtime)["A-1"]
    with transaction(runtime.sessions) as session:
        session.get_one(Outage, outage_id).ended_at = utc(2026, 6, 15, 20, 30)
    run(runtime, outage_id, now=utc(2026, 6, 15, 20, 35))
    final = decisions(runtime)["A-1"]

    assert first.effective_deadline < grown.effective_deadline <= final.effective_deadline
    assert final.status == GrantStatus.FINAL
    changes = [h.change for h in history(runtime, "A-1")]
    assert changes[0] == DecisionChange.GRANTED and DecisionChange.EXTENDED in changes
    assert changes[-1] in (DecisionChange.FINALISED, DecisionChange.EXTENDED)


def test_a_declared_outage_counts_like_an_observed_one(runtime: Runtime) -> None:
    outage_id = add_outage(runtime, source=OutageSource.DECLARED, last_ok_at=None, started_at=LAST_OK)
    add_cases(runtime, f"A-1,pr-portal,{NOON},America/Toronto,true")

    run(runtime, outage_id, now=ENDED)

    assert decisions(runtime)["A-1"].effective_deadline == FRIDAY_END


def test_degraded_performance_gives_no_relief(runtime: Runtime) -> None:
    outage_id = add_outage(runtime, severity=Severity.DEGRADED_PERFORMANCE)
    add_cases(runtime, f"A-1,pr-portal,{NOON},America/Toronto,true")

    run(runtime, outage_id, now=ENDED)

    assert decisions(runtime) == {}


def add_maintenance(runtime: Runtime, *, announced_at: datetime) -> None:
    with transaction(runtime.sessions) as session:
        window = Maintenance(
            source="api",
            title="Database upgrade",
            starts_at=LAST_OK - timedelta(minutes=5),
            ends_at=ENDED + timedelta(minutes=5),
            announced_at=announced_at,
        )
        window.components.append(MaintenanceComponent(component_id="pr-portal"))
        session.add(window)


def test_downtime_inside_maintenance_announced_two_days_ahead_does_not_count(runtime: Runtime) -> None:
    outage_id = add_outage(runtime)
    add_maintenance(runtime, announced_at=LAST_OK - timedelta(minutes=5, hours=48))
    add_cases(runtime, f"A-1,pr-portal,{NOON},America/Toronto,true")

    run(runtime, outage_id, now=ENDED)

    assert decisions(runtime) == {}


def test_maintenance_announced_the_day_before_counts_like_an_outage(runtime: Runtime) -> None:
    outage_id = add_outage(runtime)
    add_maintenance(runtime, announced_at=LAST_OK - timedelta(hours=24))
    add_cases(runtime, f"A-1,pr-portal,{NOON},America/Toronto,true")

    run(runtime, outage_id, now=ENDED)

    decision = decisions(runtime)["A-1"]
    assert decision.effective_deadline == FRIDAY_END
    assert decision.maintenance_ids != []


def test_an_outage_of_four_hours_authorises_paper_filing_until_the_first_accessible_business_day(
    runtime: Runtime,
) -> None:
    outage_id = add_outage(runtime)  # 09:55 to 14:30 EDT: 4 h 35 min

    result = run(runtime, outage_id, now=ENDED)

    with transaction(runtime.sessions) as session:
        authorisation = session.scalars(select(PaperAuthorisation)).one()
    assert result.paper == 1
    assert authorisation.component_id == "pr-portal"
    assert authorisation.starts_at == LAST_OK
    assert authorisation.ends_at == utc(2026, 6, 12, 3, 59, 59)  # Thursday 11 June, 23:59:59 EDT
    assert authorisation.status == GrantStatus.FINAL
    assert run(runtime, outage_id, now=ENDED).paper == 0


def test_scope_limited_to_imported_deadlines_decides_only_those(runtime: Runtime) -> None:
    add_outage(runtime)
    add_cases(
        runtime,
        f"A-1,pr-portal,{NOON},America/Toronto,true",
        "A-2,pr-portal,2026-06-10T13:00:00-04:00,America/Toronto,true",
    )
    with transaction(runtime.sessions) as session:
        scope = Scope(
            components=None,
            start=utc(2026, 5, 1),
            end=utc(2026, 7, 1),
            deadlines=(datetime.fromisoformat(NOON), datetime.fromisoformat(NOON)),
        )
        relieve(session, scope, policy_of(runtime.config), page_zone="America/Toronto", now=ENDED)

    assert set(decisions(runtime)) == {"A-1"}


KILLED_RUN = textwrap.dedent(
    """
    import sys, time
    from datetime import datetime
    from monitor.config import parse_config
    from monitor.runtime import Runtime
    from monitor.settings import Settings
    from monitor.storage.engine import transaction
    from monitor.storage.models import Outage
    from exemptions.relief import relieve
    from monitor.usecases.relief import outage_scope, policy_of

    config = parse_config(sys.argv[2], source="test.yaml")
    runtime = Runtime.create(Settings.explicit(database_url=sys.argv[1]), config)
    now = datetime.fromisoformat(sys.argv[4])
    with transaction(runtime.sessions) as session:
        scope = outage_scope(session.get_one(Outage, int(sys.argv[3])), now=now)
        relieve(session, scope, policy_of(config), page_zone="America/Toronto", now=now)
        print("decided, not committed", flush=True)
        time.sleep(60)  # killed here, inside the transaction
    """
)


def test_a_worker_killed_mid_relief_leaves_nothing_and_the_rerun_decides_each_case_once(
    runtime: Runtime, database_url: str
) -> None:
    outage_id = add_outage(runtime)
    add_cases(runtime, *(f"A-{n},pr-portal,{NOON},America/Toronto,true" for n in range(50)))
    with subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, database_url, CONFIG, str(outage_id), ENDED.isoformat()],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ},
    ) as worker:
        try:
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "decided, not committed"
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=30)

    assert count(runtime, ReliefDecision) == 0
    assert count(runtime, ReliefHistory) == 0
    run(runtime, outage_id, now=ENDED)
    run(runtime, outage_id, now=ENDED)
    assert count(runtime, ReliefDecision) == 50
    assert count(runtime, ReliefHistory) == 50
    assert count(runtime, Grant) == 50
    assert {d.effective_deadline for d in decisions(runtime).values()} == {FRIDAY_END}
