"""Outages ops declare and corrections of outages: stored with who said so and why, and told to relief at once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import Consumer, EndReason, EventKind, OutageSource, Severity
from monitor.storage.models import Delivery, Outage, OutageCorrection, OutboxEvent
from monitor.usecases.outages import Conflict, InvalidInput, NotFound, correct_outage, declare_outage
from tests.conftest import OFFLINE_CONFIG, ONE_PROBE_CONFIG, T0, make_runtime, record_checks

NOW = datetime(2026, 11, 22, 14, 15, tzinfo=UTC)
START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
END = datetime(2026, 11, 22, 11, 30, tzinfo=UTC)


@pytest.fixture
def runtime(database_url: str) -> Iterator[Runtime]:
    runtime = make_runtime(database_url, OFFLINE_CONFIG)
    yield runtime
    runtime.close()


def declare(runtime: Runtime, **changes: Any) -> int:
    fields: dict[str, Any] = {
        "component_id": "pr-portal",
        "started_at": START,
        "ended_at": None,
        "severity": Severity.PARTIAL_OUTAGE,
        "reason": "The portal's operator reports a failing database",
        "now": NOW,
    }
    with transaction(runtime.sessions) as session:
        return declare_outage(session, **{**fields, **changes}).id


def correct(
    runtime: Runtime, outage_id: int, now: datetime = NOW, reason: object = "operator's log", **changes: Any
) -> None:
    with transaction(runtime.sessions) as session:
        correct_outage(session, outage_id, changes=changes, reason=reason, now=now)


def events(runtime: Runtime) -> list[tuple[str, int | None, dict[str, Any] | None]]:
    with transaction(runtime.sessions) as session:
        rows = session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))
        return [(e.kind.value, e.outage_id, e.payload) for e in rows]


def outage(runtime: Runtime, outage_id: int) -> Outage:
    with transaction(runtime.sessions) as session:
        return session.get_one(Outage, outage_id)


def corrections(runtime: Runtime, outage_id: int) -> list[OutageCorrection]:
    with transaction(runtime.sessions) as session:
        query = select(OutageCorrection).where(OutageCorrection.outage_id == outage_id).order_by(OutageCorrection.id)
        return list(session.scalars(query))


def count(runtime: Runtime, model: type[Any]) -> int:
    with transaction(runtime.sessions) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


# --- declaring -------------------------------------------------------------------------------------


def test_a_declared_outage_is_marked_declared_with_its_reason_and_relief_and_slack_hear_of_it(runtime: Runtime) -> None:
    outage_id = declare(runtime, started_at="2026-11-22T04:00:00-05:00", severity="partial_outage", grace_days=7)
    stored = outage(runtime, outage_id)
    assert stored.source == OutageSource.DECLARED
    assert stored.reason == "The portal's operator reports a failing database"
    assert stored.severity == Severity.PARTIAL_OUTAGE
    assert stored.started_at == START  # given with its offset, stored in UTC
    assert (stored.ended_at, stored.end_reason, stored.resolved_at) == (None, None, None)
    assert (stored.detected_at, stored.grace_days, stored.first_check_id) == (NOW, 7, None)
    assert events(runtime) == [
        (
            "declared",
            outage_id,
            {"started_at": "2026-11-22T09:00:00+00:00", "ended_at": None, "severity": "partial_outage"},
        )
    ]
    with transaction(runtime.sessions) as session:
        consumers = sorted(d.consumer for d in session.scalars(select(Delivery)))
    assert consumers == [Consumer.RELIEF, Consumer.SLACK]


def test_a_declared_outage_may_be_given_with_its_end(runtime: Runtime) -> None:
    outage_id = declare(runtime, ended_at=END)
    stored = outage(runtime, outage_id)
    assert (stored.ended_at, stored.resolved_at, stored.end_reason) == (END, NOW, None)


def test_declared_outages_may_overlap_the_probes_own_and_each_other(runtime: Runtime) -> None:
    with transaction(runtime.sessions) as session:
        session.add(Outage(component_id="pr-portal", started_at=START, detected_at=START, grace_days=7))
    first = declare(runtime)
    second = declare(runtime, started_at=START + timedelta(minutes=5), severity="major_outage")
    with transaction(runtime.sessions) as session:
        open_ones = session.scalars(select(Outage).where(Outage.ended_at.is_(None)).order_by(Outage.id)).all()
        assert [(o.source, o.id) for o in open_ones][1:] == [
            (OutageSource.DECLARED, first),
            (OutageSource.DECLARED, second),
        ]
        assert open_ones[0].source == OutageSource.OBSERVED


def test_the_probes_neither_close_nor_extend_a_declared_outage(database_url: str) -> None:
    runtime = make_runtime(database_url, ONE_PROBE_CONFIG)
    try:
        declared = declare(runtime, started_at=T0 - timedelta(hours=1), now=T0)
        # The probes see the portal down, then up again: their own outage opens and closes.
        record_checks(runtime, (0, True), (5, False), (10, False), (15, True), (20, True))
        with transaction(runtime.sessions) as session:
            rows = session.scalars(select(Outage).order_by(Outage.id)).all()
            assert [(o.source, o.ended_at is None) for o in rows] == [
                (OutageSource.DECLARED, True),
                (OutageSource.OBSERVED, False),
            ]
            assert rows[1].end_reason == EndReason.RECOVERED
            assert rows[0].id == declared and rows[0].last_failed_at is None
    finally:
        runtime.close()


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        ({"component_id": "billing"}, "component", "unknown component 'billing'; known components: pr-portal"),
        ({"component_id": 7}, "component", "expected a component id"),
        ({"component_id": "x" * 10_000}, "component", "unknown component"),
        ({"started_at": NOW + timedelta(seconds=1)}, "started_at", "is in the future"),
        ({"started_at": "2026-11-22T09:00:00"}, "started_at", "has no UTC offset"),
        ({"started_at": datetime(2026, 11, 22, 9, 0)}, "started_at", "has no UTC offset"),
        ({"started_at": "yesterday"}, "started_at", "expected ISO 8601"),
        ({"started_at": 1764000000}, "started_at", "expected ISO 8601"),
        ({"started_at": "0001-01-01T00:00:00+05:00"}, "started_at", "out of range"),
        ({"ended_at": START}, "ended_at", "must be after started_at (2026-11-22T09:00:00+00:00)"),
        ({"ended_at": START - timedelta(minutes=1)}, "ended_at", "must be after started_at"),
        ({"ended_at": NOW + timedelta(minutes=1)}, "ended_at", "is in the future"),
        ({"ended_at": "2026-11-22T11:30:00"}, "ended_at", "has no UTC offset"),
        ({"severity": "catastrophic"}, "severity", "unknown severity 'catastrophic'; expected one of degraded_perf"),
        ({"severity": None}, "severity", "unknown severity"),
        ({"reason": "   "}, "reason", "must not be empty"),
        ({"reason": None}, "reason", "is required"),
        ({"reason": "x" * 2001}, "reason", "longer than 2000 characters"),
    ],
)
def test_what_cannot_be_declared_names_its_field_and_stores_nothing(
    runtime: Runtime, changes: dict[str, Any], field: str, says: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        declare(runtime, **changes)
    assert raised.value.field == field
    assert says in raised.value.message
    assert (count(runtime, Outage), count(runtime, OutboxEvent)) == (0, 0)


def test_a_component_removed_from_the_configuration_takes_no_new_outage(database_url: str) -> None:
    runtime = make_runtime(database_url, OFFLINE_CONFIG)
    runtime.close()
    runtime = make_runtime(database_url, ONE_PROBE_CONFIG)  # employer-portal is no longer listed
    try:
        with pytest.raises(InvalidInput) as raised:
            declare(runtime, component_id="employer-portal")
        assert raised.value.field == "component"
        assert "no longer in the configuration" in raised.value.message
    finally:
        runtime.close()


# --- correcting ------------------------------------------------------------------------------------


def test_ending_a_declared_outage_keeps_the_correction_and_tells_relief_and_slack(runtime: Runtime) -> None:
    outage_id = declare(runtime)
    later = NOW + timedelta(hours=1)
    correct(
        runtime,
        outage_id,
        now=later,
        reason="The operator confirms recovery at 11:30",
        ended_at="2026-11-22T06:30:00-05:00",
    )
    stored = outage(runtime, outage_id)
    assert (stored.ended_at, stored.resolved_at, stored.end_reason) == (END, later, None)
    [kept] = corrections(runtime, outage_id)
    before = {"started_at": "2026-11-22T09:00:00+00:00", "ended_at": None, "severity": "partial_outage"}
    after = {**before, "ended_at": "2026-11-22T11:30:00+00:00"}
    assert (kept.before, kept.after) == (before, after)
    assert (kept.reason, kept.corrected_at) == ("The operator confirms recovery at 11:30", later)
    declared, corrected, resolved = events(runtime)
    assert declared[0] == "declared"
    assert corrected == ("corrected", outage_id, {"correction_id": kept.id, "before": before, "after": after})
    assert resolved[:2] == ("resolved", outage_id)  # its Slack message shows it resolved


def test_any_bound_or_the_severity_of_a_declared_outage_can_be_corrected_at_once(runtime: Runtime) -> None:
    outage_id = declare(runtime, ended_at=END)
    correct(
        runtime, outage_id, started_at="2026-11-22T08:30:00Z", ended_at="2026-11-22T12:00:00Z", severity="major_outage"
    )
    stored = outage(runtime, outage_id)
    assert (stored.started_at, stored.ended_at, stored.severity) == (
        START - timedelta(minutes=30),
        END + timedelta(minutes=30),
        Severity.MAJOR_OUTAGE,
    )
    assert stored.resolved_at == NOW  # recorded when declared, not moved by a correction of the end
    [kept] = corrections(runtime, outage_id)
    assert kept.after == {
        "started_at": "2026-11-22T08:30:00+00:00",
        "ended_at": "2026-11-22T12:00:00+00:00",
        "severity": "major_outage",
    }
    assert [kind for kind, _, _ in events(runtime)] == ["declared", "corrected"]


def test_a_declared_outage_can_be_said_to_go_on_after_all(runtime: Runtime) -> None:
    outage_id = declare(runtime, ended_at=END)
    correct(runtime, outage_id, ended_at=None)
    stored = outage(runtime, outage_id)
    assert (stored.ended_at, stored.resolved_at) == (None, None)
    assert corrections(runtime, outage_id)[0].after["ended_at"] is None


def test_a_correction_that_changes_nothing_records_nothing(runtime: Runtime) -> None:
    outage_id = declare(runtime, ended_at=END)
    correct(runtime, outage_id, ended_at=END, severity="partial_outage")
    correct(runtime, outage_id, started_at="2026-11-22T04:00:00-05:00")
    assert corrections(runtime, outage_id) == []
    assert [kind for kind, _, _ in events(runtime)] == ["declared"]


def observed(runtime: Runtime, *, ended: bool) -> int:
    with transaction(runtime.sessions) as session:
        row = Outage(
            component_id="pr-portal",
            started_at=START,
            last_ok_at=START - timedelta(minutes=1),
            last_failed_at=END - timedelta(minutes=1),
            ended_at=END if ended else None,
            end_reason=EndReason.RECOVERED if ended else None,
            detected_at=START + timedelta(minutes=1),
            resolved_at=END if ended else None,
            grace_days=7,
        )
        session.add(row)
        session.flush()
        return row.id


def test_an_open_observed_outage_s_severity_can_be_corrected_but_not_its_bounds(runtime: Runtime) -> None:
    outage_id = observed(runtime, ended=False)
    correct(runtime, outage_id, severity="degraded_performance", reason="only slow, not down")
    assert outage(runtime, outage_id).severity == Severity.DEGRADED_PERFORMANCE
    for field, value in [("ended_at", END), ("started_at", START - timedelta(hours=1))]:
        with pytest.raises(Conflict) as raised:
            correct(runtime, outage_id, **{field: value})
        assert raised.value.field == field
        assert "still open" in raised.value.message and "probes" in raised.value.message
    assert outage(runtime, outage_id).ended_at is None
    assert len(corrections(runtime, outage_id)) == 1
    assert [kind for kind, _, _ in events(runtime)] == ["corrected"]


def test_an_ended_observed_outage_s_bounds_can_be_corrected_but_it_cannot_be_reopened(runtime: Runtime) -> None:
    outage_id = observed(runtime, ended=True)
    correct(runtime, outage_id, started_at=START - timedelta(minutes=20), reason="the operator's logs show it earlier")
    stored = outage(runtime, outage_id)
    assert (stored.started_at, stored.ended_at, stored.end_reason) == (
        START - timedelta(minutes=20),
        END,
        EndReason.RECOVERED,
    )
    with pytest.raises(Conflict) as raised:
        correct(runtime, outage_id, ended_at=None)
    assert raised.value.field == "ended_at"
    assert [kind for kind, _, _ in events(runtime)] == ["corrected"]  # no second "resolved" for the probes' outage


@pytest.mark.parametrize(
    ("changes", "reason", "field", "says"),
    [
        ({}, "r", "changes", "nothing to correct"),
        ({"component_id": "employer-portal"}, "r", "component_id", "cannot be corrected"),
        ({"severity": "major_outage"}, "", "reason", "must not be empty"),
        ({"severity": "major_outage"}, None, "reason", "is required"),
        ({"ended_at": START}, "r", "ended_at", "must be after started_at"),
        ({"started_at": END}, "r", "started_at", "must be before ended_at (2026-11-22T11:30:00+00:00)"),
        ({"started_at": END, "ended_at": START}, "r", "ended_at", "must be after started_at"),
        ({"started_at": NOW + timedelta(hours=1), "ended_at": None}, "r", "started_at", "is in the future"),
        ({"ended_at": NOW + timedelta(hours=1)}, "r", "ended_at", "is in the future"),
        ({"ended_at": "2026-11-22T11:30"}, "r", "ended_at", "has no UTC offset"),
        ({"severity": "down"}, "r", "severity", "unknown severity"),
    ],
)
def test_what_cannot_be_corrected_names_its_field_and_changes_nothing(
    runtime: Runtime, changes: dict[str, Any], reason: object, field: str, says: str
) -> None:
    outage_id = declare(runtime, ended_at=END)
    with pytest.raises(InvalidInput) as raised:
        correct(runtime, outage_id, reason=reason, **changes)
    assert raised.value.field == field
    assert says in raised.value.message
    stored = outage(runtime, outage_id)
    assert (stored.started_at, stored.ended_at, stored.severity) == (START, END, Severity.PARTIAL_OUTAGE)
    assert corrections(runtime, outage_id) == []


@pytest.mark.parametrize("outage_id", [0, -1, 12345, 2**63, 10**30])
def test_correcting_an_unknown_outage_is_not_found(runtime: Runtime, outage_id: int) -> None:
    with pytest.raises(NotFound):
        correct(runtime, outage_id, severity="major_outage")


def test_every_correction_is_kept_in_order(runtime: Runtime) -> None:
    outage_id = declare(runtime)
    correct(runtime, outage_id, ended_at=END, reason="ended")
    correct(runtime, outage_id, ended_at=END + timedelta(minutes=10), reason="ended a little later")
    kept = corrections(runtime, outage_id)
    assert [c.reason for c in kept] == ["ended", "ended a little later"]
    assert kept[1].before == kept[0].after
    kinds = [kind for kind, _, _ in events(runtime)]
    assert kinds == [
        EventKind.OUTAGE_DECLARED,
        EventKind.OUTAGE_CORRECTED,
        EventKind.OUTAGE_RESOLVED,
        EventKind.OUTAGE_CORRECTED,
    ]
