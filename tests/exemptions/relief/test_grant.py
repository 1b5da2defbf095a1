"""Granting relief in the database, on SQLite and PostgreSQL: who gets an extension, until when, exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from exemptions.cases import import_cases
from exemptions.relief import ReliefRun, grant_relief
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.models import Grant, Outage
from tests.conftest import OFFLINE_CONFIG, make_runtime

CONFIG = OFFLINE_CONFIG

HEADER = "case_id,components,deadline,time_zone\n"

# An outage of the PR portal on 10 June 2026: last good check 09:55 EDT, first failure 10:00 EDT,
# first good check again 14:30 EDT.
LAST_OK = datetime(2026, 6, 10, 13, 55, tzinfo=UTC)
STARTED = datetime(2026, 6, 10, 14, 0, tzinfo=UTC)
ENDED = datetime(2026, 6, 10, 18, 30, tzinfo=UTC)
# Seven days after 10 June, at 23:59:59 EDT.
TORONTO_FINAL = datetime(2026, 6, 18, 3, 59, 59, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.fixture
def runtime(database_url: str) -> Iterator[Runtime]:
    """A migrated database (SQLite or PostgreSQL) with the two portal components registered."""
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
    grace_days: int = 7,
) -> int:
    with transaction(runtime.sessions) as session:
        outage = Outage(
            component_id=component,
            started_at=started_at,
            last_ok_at=last_ok_at,
            ended_at=ended_at,
            detected_at=started_at + timedelta(minutes=2),
            resolved_at=None if ended_at is None else ended_at + timedelta(minutes=2),
            grace_days=grace_days,
        )
        session.add(outage)
        session.flush()
        return outage.id


def close_outage(runtime: Runtime, outage_id: int, ended_at: datetime) -> None:
    with transaction(runtime.sessions) as session:
        outage = session.get(Outage, outage_id)
        assert outage is not None
        outage.ended_at = ended_at
        outage.resolved_at = ended_at + timedelta(minutes=2)


def failed_at(runtime: Runtime, outage_id: int, at: datetime) -> None:
    """Record that the open outage's probes were last seen failing at `at` (as a failed check would)."""
    with transaction(runtime.sessions) as session:
        session.get_one(Outage, outage_id).last_failed_at = at


def add_cases(runtime: Runtime, *rows: str) -> None:
    with transaction(runtime.sessions) as session:
        import_cases(session, HEADER + "".join(row + "\n" for row in rows), source="cases.csv")


def relieve(runtime: Runtime, outage_id: int, *, now: datetime) -> ReliefRun:
    with transaction(runtime.sessions) as session:
        return grant_relief(session, outage_id, now=now)


def grants(runtime: Runtime) -> dict[str, Grant]:
    with transaction(runtime.sessions) as session:
        return {g.case_id: g for g in session.scalars(select(Grant))}


def grant_count(runtime: Runtime) -> int:
    with transaction(runtime.sessions) as session:
        return session.scalar(select(func.count()).select_from(Grant)) or 0


# --- who is covered -----------------------------------------------------------------------------


def test_a_deadline_exactly_at_the_last_successful_check_still_gets_relief(runtime: Runtime) -> None:
    outage_id = add_outage(runtime)
    add_cases(runtime, "AT-LAST-OK,pr-portal,2026-06-10T09:55:00-04:00,America/Toronto")
    run = relieve(runtime, outage_id, now=ENDED + timedelta(minutes=5))
    grant = grants(runtime)["AT-LAST-OK"]
    assert grant.original_deadline == LAST_OK
    assert grant.new_deadline == TORONTO_FINAL
    assert grant.status == "final"
    assert grant.outage_id == outage_id
    assert run.granted == 1


def test_a_deadline_exactly_at_the_first_success_after_the_outage_still_gets_relief(runtime: Runtime) -> None:
    outage_id = add_outage(runtime)
    add_cases(runtime, "AT-END,pr-portal,2026-06-10T14:30:00-04:00,America/Toronto")
    run = relieve(runtime, outage_id, now=ENDED + timedelta(minutes=5))
    assert grants(runtime)["AT-END"].new_deadline == TORONTO_FINAL
    assert run.granted == 1


def test_deadlines_one_second_outside_the_window_get_nothing(runtime: Runtime) -> None:
    outage_id = add_outage(runtime)
    add_cases(
        runtime,
        "BEFORE,pr-portal,2026-06-10T09:54:59-04:00,America/Toronto",
        "AFTER,pr-portal,2026-06-10T14:30:01-04:00,America/Toronto",
    )
    run = relieve(runtime, outage_id, now=ENDED + timedelta(minutes=5))
    assert grants(runtime) == {}
    assert run.granted == 0


def test_a_case_on_another_component_gets_nothing(runtime: Runtime) -> None:
    outage_id = add_outage(runtime)
    add_cases(runtime, "EMPLOYER,employer-portal,2026-06-10T12:00:00-04:00,America/Toronto")
    run = relieve(runtime, outage_id, now=ENDED + timedelta(minutes=5))
    assert grants(runtime) == {}
    assert run.granted == 0


def test_a_case_depending_on_two_components_is_relieved_by_an_outage_of_either(runtime: Runtime) -> None:
    outage_id = add_outage(runtime)
    add_cases(
        runtime,
        "BOTH,employer-portal;pr-portal,2026-06-10T12:00:00-04:00,America/Toronto",
        "EMPLOYER-ONLY,employer-portal,2026-06-10T12:00:00-04:00,America/Toronto",
    )
    run = relieve(runtime, outage_id, now=ENDED + timedelta(minutes=5))
    assert set(grants(runtime)) == {"BOTH"}
    assert grants(runtime)["BOTH"].new_deadline == TORONTO_FINAL
    assert run.granted == 1


def test_cases_in_different_zones_get_the_end_of_their_own_day(runtime: Runtime) -> None:
    # Ends 20:00 UTC: 16:00 EDT on 10 June in Toronto, 01:30 IST on 11 June in Kolkata,
    # 17:30 NDT on 10 June in St. John's.
    outage_id = add_outage(runtime, ended_at=utc(2026, 6, 10, 20, 0))
    add_cases(
        runtime,
        "TORONTO,pr-portal,2026-06-10T12:00:00-04:00,America/Toronto",
        "KOLKATA,pr-portal,2026-06-10T21:30:00+05:30,Asia/Kolkata",
        "ST-JOHNS,pr-portal,2026-06-10T13:00:00-02:30,America/St_Johns",
        "UTC,pr-portal,2026-06-10T16:00:00+00:00,UTC",
    )
    run = relieve(runtime, outage_id, now=utc(2026, 6, 10, 20, 5))
    got = {case_id: g.new_deadline for case_id, g in grants(runtime).items()}
    assert got == {
        "TORONTO": utc(2026, 6, 18, 3, 59, 59),  # 17 June 23:59:59 EDT
        "KOLKATA": utc(2026, 6, 18, 18, 29, 59),  # 18 June 23:59:59 IST
        "ST-JOHNS": utc(2026, 6, 18, 2, 29, 59),  # 17 June 23:59:59 NDT
        "UTC": utc(2026, 6, 17, 23, 59, 59),
    }
    assert run.granted == 4


def test_the_grace_days_recorded_on_the_outage_are_used(runtime: Runtime) -> None:
    outage_id = add_outage(runtime, grace_days=0)
    add_cases(runtime, "SAME-DAY,pr-portal,2026-06-10T12:00:00-04:00,America/Toronto")
    relieve(runtime, outage_id, now=ENDED + timedelta(minutes=5))
    assert grants(runtime)["SAME-DAY"].new_deadline == utc(2026, 6, 11, 3, 59, 59)


def test_an_outage_across_the_dst_change_extends_to_local_end_of_day_in_standard_time(runtime: Runtime) -> None:
    outage_id = add_outage(
        runtime,
        last_ok_at=utc(2026, 10, 31, 13, 0),
        started_at=utc(2026, 10, 31, 13, 5),
        ended_at=utc(2026, 10, 31, 16, 0),
    )
    add_cases(runtime, "HALLOWEEN,pr-portal,2026-10-31T10:00:00-04:00,America/Toronto")
    relieve(runtime, outage_id, now=utc(2026, 10, 31, 16, 5))
    assert grants(runtime)["HALLOWEEN"].new_deadline == utc(2026, 11, 8, 4, 59, 59)  # 7 Nov 23:59:59 EST


# --- exactly once -------------------------------------------------------------------------------


def test_running_relief_twice_grants_nothing_the_second_time(runtime: Runtime) -> None:
    outage_id = add_outage(runtime)
    add_cases(
        runtime,
        "A,pr-portal,2026-06-10T10:00:00-04:00,America/Toronto",
        "B,pr-portal,2026-06-10T11:00:00-04:00,America/Toronto",
        "C,pr-portal;employer-portal,2026-06-10T12:00:00-04:00,Asia/Kolkata",
    )
    now = ENDED + timedelta(minutes=5)
    first = relieve(runtime, outage_id, now=now)
    before = grants(runtime)
    second = relieve(runtime, outage_id, now=now + timedelta(hours=1))
    assert grant_count(runtime) == 3
    after = grants(runtime)
    assert {k: (g.id, g.new_deadline, g.status) for k, g in after.items()} == {
        k: (g.id, g.new_deadline, g.status) for k, g in before.items()
    }
    assert (first.granted, second.granted) == (3, 0)


def test_an_outage_with_no_affected_cases_grants_nothing(runtime: Runtime) -> None:
    outage_id = add_outage(runtime)
    run = relieve(runtime, outage_id, now=ENDED)
    assert run.granted == 0
    assert run.window.start == LAST_OK
    assert run.window.end == ENDED
    assert run.window.final


# --- while the outage is still open -------------------------------------------------------------


def test_an_open_outage_gives_provisional_relief_to_deadlines_already_passed(runtime: Runtime) -> None:
    outage_id = add_outage(runtime, ended_at=None)
    add_cases(
        runtime,
        "PASSED,pr-portal,2026-06-10T12:00:00-04:00,America/Toronto",  # 16:00 UTC
        "STILL-AHEAD,pr-portal,2026-06-11T08:00:00-04:00,America/Toronto",  # 12:00 UTC next day
    )
    now = utc(2026, 6, 10, 18, 0)  # 14:00 EDT
    failed_at(runtime, outage_id, now)
    run = relieve(runtime, outage_id, now=now)
    assert not run.window.final
    assert run.window.end == now
    got = grants(runtime)
    assert set(got) == {"PASSED"}
    assert got["PASSED"].status == "provisional"
    assert got["PASSED"].new_deadline == utc(2026, 6, 18, 3, 59, 59)  # 7 days after today, 23:59:59 EDT
    assert run.granted == 1


def test_provisional_relief_moves_later_while_the_outage_goes_on_and_becomes_final_when_it_ends(
    runtime: Runtime,
) -> None:
    outage_id = add_outage(runtime, ended_at=None)
    add_cases(
        runtime,
        "PASSED,pr-portal,2026-06-10T12:00:00-04:00,America/Toronto",
        "STILL-AHEAD,pr-portal,2026-06-11T08:00:00-04:00,America/Toronto",
    )
    failed_at(runtime, outage_id, utc(2026, 6, 10, 18, 0))
    counts = [relieve(runtime, outage_id, now=utc(2026, 6, 10, 18, 0)).granted]

    # Next day, still failing: the provisional extension follows the last failed check; the second
    # case's deadline has passed too.
    failed_at(runtime, outage_id, utc(2026, 6, 11, 13, 0))
    counts.append(relieve(runtime, outage_id, now=utc(2026, 6, 11, 13, 0)).granted)
    got = grants(runtime)
    assert {k: (g.status, g.new_deadline) for k, g in got.items()} == {
        "PASSED": ("provisional", utc(2026, 6, 19, 3, 59, 59)),
        "STILL-AHEAD": ("provisional", utc(2026, 6, 19, 3, 59, 59)),
    }

    # The portal came back on 12 June at 11:00 EDT.
    close_outage(runtime, outage_id, utc(2026, 6, 12, 15, 0))
    run = relieve(runtime, outage_id, now=utc(2026, 6, 12, 15, 5))
    counts.append(run.granted)
    assert run.window.final
    got = grants(runtime)
    assert {k: (g.status, g.new_deadline) for k, g in got.items()} == {
        "PASSED": ("final", utc(2026, 6, 20, 3, 59, 59)),
        "STILL-AHEAD": ("final", utc(2026, 6, 20, 3, 59, 59)),
    }
    assert got["PASSED"].original_deadline == utc(2026, 6, 10, 16, 0)
    assert grant_count(runtime) == 2
    assert counts == [1, 1, 0]


def test_a_case_whose_deadline_falls_between_the_last_provisional_run_and_the_end_is_granted_final(
    runtime: Runtime,
) -> None:
    outage_id = add_outage(runtime, ended_at=None)
    add_cases(runtime, "LATE,pr-portal,2026-06-10T14:00:00-04:00,America/Toronto")  # 18:00 UTC
    failed_at(runtime, outage_id, utc(2026, 6, 10, 17, 0))
    early = relieve(runtime, outage_id, now=utc(2026, 6, 10, 17, 0))
    assert grants(runtime) == {}
    close_outage(runtime, outage_id, ENDED)  # 18:30 UTC
    final = relieve(runtime, outage_id, now=ENDED + timedelta(minutes=5))
    grant = grants(runtime)["LATE"]
    assert (grant.status, grant.new_deadline) == ("final", TORONTO_FINAL)
    assert (early.granted, final.granted) == (0, 1)


def test_a_grant_is_never_shortened_when_the_outage_turns_out_to_have_ended_earlier(runtime: Runtime) -> None:
    outage_id = add_outage(runtime, ended_at=None)
    add_cases(runtime, "PASSED,pr-portal,2026-06-10T12:00:00-04:00,America/Toronto")
    # A provisional run after a failure just after midnight EDT on 11 June: 18 June 23:59:59 EDT.
    failed_at(runtime, outage_id, utc(2026, 6, 11, 4, 30))
    relieve(runtime, outage_id, now=utc(2026, 6, 11, 4, 30))
    provisional = grants(runtime)["PASSED"]
    assert provisional.new_deadline == utc(2026, 6, 19, 3, 59, 59)
    # Recovery is then recorded as having started at 23:30 EDT on 10 June (a clock correction, or an
    # ops correction), which alone would give 17 June.
    close_outage(runtime, outage_id, utc(2026, 6, 11, 3, 30))
    relieve(runtime, outage_id, now=utc(2026, 6, 11, 4, 45))
    final = grants(runtime)["PASSED"]
    assert final.status == "final"
    assert final.new_deadline == utc(2026, 6, 19, 3, 59, 59)
    assert final.id == provisional.id


def test_relief_run_between_the_first_recovering_success_and_the_closing_check_reaches_no_further(
    runtime: Runtime,
) -> None:
    # The over-grant race: last failure 14:29 EDT, the portal answers again at 14:30, the outage is
    # closed by the second success at 14:31; relief runs at 14:30:30, in between.
    outage_id = add_outage(runtime, ended_at=None)
    add_cases(
        runtime,
        "DURING,pr-portal,2026-06-10T14:00:00-04:00,America/Toronto",  # inside: relief owed
        "AFTER-RECOVERY,pr-portal,2026-06-10T14:30:15-04:00,America/Toronto",  # the portal worked by then
    )
    failed_at(runtime, outage_id, utc(2026, 6, 10, 18, 29))
    run = relieve(runtime, outage_id, now=utc(2026, 6, 10, 18, 30, 30))
    assert run.window.end == utc(2026, 6, 10, 18, 29)
    assert set(grants(runtime)) == {"DURING"}
    close_outage(runtime, outage_id, utc(2026, 6, 10, 18, 30))
    relieve(runtime, outage_id, now=utc(2026, 6, 10, 18, 31))
    got = grants(runtime)
    assert set(got) == {"DURING"}
    assert got["DURING"].status == "final"


def test_an_open_outage_whose_checks_stopped_arriving_gives_no_more_relief_as_time_passes(runtime: Runtime) -> None:
    # Workers died at 14:10 EDT with the portal down; a day later relief still stops at the last check.
    outage_id = add_outage(runtime, ended_at=None)
    add_cases(runtime, "NEXT-DAY,pr-portal,2026-06-11T12:00:00-04:00,America/Toronto")
    failed_at(runtime, outage_id, utc(2026, 6, 10, 18, 10))
    run = relieve(runtime, outage_id, now=utc(2026, 6, 11, 20, 0))
    assert run.window.end == utc(2026, 6, 10, 18, 10)
    assert grants(runtime) == {}


# --- at scale -----------------------------------------------------------------------------------


def test_two_thousand_cases_are_relieved_in_one_run(runtime: Runtime) -> None:
    outage_id = add_outage(runtime)
    zones = ["America/Toronto", "America/Vancouver", "Asia/Kolkata", "America/St_Johns", "Europe/Paris"]
    rows = []
    for i in range(2000):
        if i % 4 == 3:
            deadline = utc(2026, 6, 11, 12, 0) + timedelta(minutes=i)  # after the outage
        else:
            deadline = LAST_OK + timedelta(seconds=(i * 7) % int((ENDED - LAST_OK).total_seconds()))
        components = "pr-portal" if i % 2 == 0 else "employer-portal;pr-portal"
        rows.append(f"CASE-{i:05d},{components},{deadline.isoformat()},{zones[i % len(zones)]}")
    add_cases(runtime, *rows)

    run = relieve(runtime, outage_id, now=ENDED + timedelta(minutes=5))
    assert grant_count(runtime) == 1500
    again = relieve(runtime, outage_id, now=ENDED + timedelta(minutes=10))
    assert grant_count(runtime) == 1500
    by_case = grants(runtime)
    assert by_case["CASE-00000"].new_deadline == TORONTO_FINAL
    assert by_case["CASE-00002"].new_deadline == utc(2026, 6, 18, 18, 29, 59)  # Kolkata
    assert "CASE-00003" not in by_case
    assert (run.granted, again.granted) == (1500, 0)
