"""Maintenance windows: announced through the API or kept in step with the configuration file, and told to relief."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from monitor.config import parse_config
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import Consumer, MaintenanceSource
from monitor.storage.models import Delivery, Maintenance, OutboxEvent
from monitor.usecases.configure import apply_config
from monitor.usecases.maintenance import (
    announce_maintenance,
    cancel_maintenance,
    get_maintenance,
    list_maintenance,
    sync_config_maintenance,
    view_json,
)
from monitor.usecases.outages import Conflict, InvalidInput, NotFound
from tests.conftest import OFFLINE_CONFIG, make_runtime

NOW = datetime(2026, 11, 22, 14, 15, tzinfo=UTC)  # a Sunday, 09:15 in Toronto
LATER = NOW + timedelta(days=1)

WINDOWS = """
maintenance:
  - id: weekend-batch
    title: Weekend batch processing
    components: [pr-portal]
    every: {days: [sat, sun], at: 23:00, duration: 4h, time_zone: America/Toronto}
  - id: db-upgrade
    title: Database upgrade
    components: [pr-portal, employer-portal]
    starts_at: 2026-12-05T22:00:00-05:00
    ends_at: 2026-12-06T02:00:00-05:00
"""


@pytest.fixture
def runtime(database_url: str) -> Iterator[Runtime]:
    runtime = make_runtime(database_url, OFFLINE_CONFIG)
    yield runtime
    runtime.close()


def reconfigure(runtime: Runtime, windows: str, now: datetime) -> list[int]:
    runtime.config = parse_config(OFFLINE_CONFIG + windows, source="changed.yaml")
    with transaction(runtime.sessions) as session:
        return apply_config(session, runtime.config, now=now)


def window(runtime: Runtime, key: str) -> Maintenance:
    with transaction(runtime.sessions) as session:
        found = session.scalars(select(Maintenance).where(Maintenance.key == key)).one()
        _ = found.components  # loaded while the session is open
        return found


def changes(runtime: Runtime) -> list[dict[str, Any]]:
    with transaction(runtime.sessions) as session:
        rows = session.scalars(
            select(OutboxEvent).where(OutboxEvent.kind == "maintenance_changed").order_by(OutboxEvent.id)
        )
        return [e.payload or {} for e in rows]


# --- the configuration file ------------------------------------------------------------------------


def test_the_file_s_windows_are_stored_and_relief_hears_of_each(runtime: Runtime) -> None:
    deliveries = reconfigure(runtime, WINDOWS, NOW)
    weekly, once = window(runtime, "weekend-batch"), window(runtime, "db-upgrade")
    assert (weekly.source, weekly.title, weekly.active) == (MaintenanceSource.CONFIG, "Weekend batch processing", True)
    assert weekly.recurrence == {
        "days": ["sat", "sun"],
        "at": "23:00",
        "duration_seconds": 14400,
        "time_zone": "America/Toronto",
    }
    assert (weekly.starts_at, weekly.ends_at, weekly.announced_at) == (NOW, None, NOW)  # from when it was first stored
    assert [c.component_id for c in weekly.components] == ["pr-portal"]
    assert once.recurrence is None
    assert (once.starts_at, once.ends_at) == (
        datetime(2026, 12, 6, 3, tzinfo=UTC),
        datetime(2026, 12, 6, 7, tzinfo=UTC),
    )
    assert sorted(c.component_id for c in once.components) == ["employer-portal", "pr-portal"]

    created = changes(runtime)
    assert [(c["change"], c["maintenance_id"]) for c in created] == [("created", weekly.id), ("created", once.id)]
    assert {k: created[1][k] for k in ("components", "starts_at", "ends_at", "recurring", "previous")} == {
        "components": ["employer-portal", "pr-portal"],
        "starts_at": "2026-12-06T03:00:00+00:00",
        "ends_at": "2026-12-06T07:00:00+00:00",
        "recurring": False,
        "previous": None,
    }
    assert created[0]["recurring"] is True and created[0]["ends_at"] is None
    with transaction(runtime.sessions) as session:
        consumers = {d.consumer for d in session.scalars(select(Delivery).where(Delivery.id.in_(deliveries)))}
    assert consumers == {Consumer.RELIEF}
    assert len(deliveries) == 2


def test_loading_the_same_file_again_changes_nothing_and_keeps_when_it_was_announced(runtime: Runtime) -> None:
    reconfigure(runtime, WINDOWS, NOW)
    assert reconfigure(runtime, WINDOWS, LATER) == []
    assert len(changes(runtime)) == 2
    weekly = window(runtime, "weekend-batch")
    assert (weekly.starts_at, weekly.announced_at) == (NOW, NOW)


def test_a_new_title_is_a_change_that_keeps_the_notice(runtime: Runtime) -> None:
    reconfigure(runtime, WINDOWS, NOW)
    reconfigure(runtime, WINDOWS.replace("title: Database upgrade", "title: Database upgrade (v17)"), LATER)
    once = window(runtime, "db-upgrade")
    assert (once.title, once.announced_at) == ("Database upgrade (v17)", NOW)
    last = changes(runtime)[-1]
    assert (last["change"], last["title"], last["previous"]["title"]) == (
        "changed",
        "Database upgrade (v17)",
        "Database upgrade",
    )


def test_a_window_moved_or_widened_without_a_stated_announcement_is_announced_when_the_file_changes(
    runtime: Runtime,
) -> None:
    reconfigure(runtime, WINDOWS, NOW)
    moved = WINDOWS.replace("2026-12-05T22:00:00-05:00", "2026-12-05T20:00:00-05:00")
    reconfigure(runtime, moved, LATER)
    once = window(runtime, "db-upgrade")
    assert (once.starts_at, once.announced_at) == (datetime(2026, 12, 6, 1, tzinfo=UTC), LATER)
    last = changes(runtime)[-1]
    assert last["change"] == "changed"
    assert (last["starts_at"], last["previous"]["starts_at"]) == (
        "2026-12-06T01:00:00+00:00",
        "2026-12-06T03:00:00+00:00",
    )

    widened = WINDOWS.replace("components: [pr-portal]\n", "components: [pr-portal, employer-portal]\n")
    reconfigure(runtime, widened, LATER + timedelta(hours=1))
    weekly = window(runtime, "weekend-batch")
    assert weekly.announced_at == LATER + timedelta(hours=1)
    assert weekly.starts_at == NOW  # the weekly rule did not change: its occurrences still count from then


def test_an_announcement_the_file_states_is_kept_as_stated(runtime: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    stated = WINDOWS.replace(
        "    ends_at: 2026-12-06T02:00:00-05:00\n",
        "    ends_at: 2026-12-06T02:00:00-05:00\n    announced_at: 2026-11-01T09:00:00-05:00\n",
    )
    reconfigure(runtime, stated, NOW)
    assert window(runtime, "db-upgrade").announced_at == datetime(2026, 11, 1, 14, tzinfo=UTC)
    # Moved, but the file says when the new schedule was announced: that is what counts.
    moved = stated.replace("2026-12-05T22:00:00-05:00", "2026-12-05T21:00:00-05:00")
    reconfigure(runtime, moved, LATER)
    assert window(runtime, "db-upgrade").announced_at == datetime(2026, 11, 1, 14, tzinfo=UTC)
    # An announcement "in the future" cannot have been seen yet: it counts from when the file was read.
    with caplog.at_level(logging.WARNING, logger="monitor.usecases.maintenance"):
        reconfigure(runtime, moved.replace("2026-11-01T09:00:00-05:00", "2026-12-01T09:00:00-05:00"), LATER)
    assert window(runtime, "db-upgrade").announced_at == datetime(2026, 11, 1, 14, tzinfo=UTC)
    assert "later than now" in caplog.text


def test_a_window_the_file_no_longer_lists_is_removed_and_comes_back_as_announced_anew(runtime: Runtime) -> None:
    reconfigure(runtime, WINDOWS, NOW)
    only_weekly = WINDOWS.split("  - id: db-upgrade")[0]
    reconfigure(runtime, only_weekly, LATER)
    once = window(runtime, "db-upgrade")
    assert once.active is False
    removed = changes(runtime)[-1]
    assert (removed["change"], removed["maintenance_id"], removed["active"]) == ("removed", once.id, False)
    assert removed["components"] == ["employer-portal", "pr-portal"]
    assert reconfigure(runtime, only_weekly, LATER) == []  # removed once

    back = LATER + timedelta(hours=2)
    reconfigure(runtime, WINDOWS, back)
    once = window(runtime, "db-upgrade")
    assert (once.active, once.announced_at) == (True, back)
    assert (changes(runtime)[-1]["change"], changes(runtime)[-1]["previous"]) == ("changed", None)


def test_windows_announced_through_the_api_are_left_alone_by_the_file(runtime: Runtime) -> None:
    with transaction(runtime.sessions) as session:
        announced = announce_maintenance(
            session,
            components=["pr-portal"],
            starts_at=NOW + timedelta(days=3),
            ends_at=NOW + timedelta(days=3, hours=2),
            title="Certificate renewal",
            now=NOW,
        ).id
    reconfigure(runtime, "", LATER)
    with transaction(runtime.sessions) as session:
        assert session.get_one(Maintenance, announced).active is True


def test_sync_can_be_called_directly_and_is_idempotent(runtime: Runtime) -> None:
    config = parse_config(OFFLINE_CONFIG + WINDOWS)
    with transaction(runtime.sessions) as session:
        first = sync_config_maintenance(session, config, NOW)
    with transaction(runtime.sessions) as session:
        again = sync_config_maintenance(session, config, NOW)
    assert (len(first), again) == (2, [])


# --- announcing through the API --------------------------------------------------------------------


def announce(runtime: Runtime, **changes: Any) -> int:
    fields: dict[str, Any] = {
        "components": ["pr-portal", "employer-portal", "pr-portal"],
        "starts_at": "2026-11-28T22:00:00-05:00",
        "ends_at": "2026-11-29T02:00:00-05:00",
        "title": "  Network maintenance  ",
        "now": NOW,
    }
    with transaction(runtime.sessions) as session:
        return announce_maintenance(session, **{**fields, **changes}).id


def test_an_announced_window_is_stored_from_now_and_relief_hears_of_it(runtime: Runtime) -> None:
    window_id = announce(runtime)
    with transaction(runtime.sessions) as session:
        view = get_maintenance(session, window_id, now=NOW)
    assert view_json(view) == {
        "id": window_id,
        "key": None,
        "source": "api",
        "title": "Network maintenance",
        "components": ["employer-portal", "pr-portal"],
        "starts_at": "2026-11-29T03:00:00+00:00",
        "ends_at": "2026-11-29T07:00:00+00:00",
        "recurrence": None,
        "announced_at": "2026-11-22T14:15:00+00:00",
        "active": True,
        "in_progress": False,
        "occurrences": [{"starts_at": "2026-11-29T03:00:00+00:00", "ends_at": "2026-11-29T07:00:00+00:00"}],
        "created_at": "2026-11-22T14:15:00+00:00",
        "updated_at": "2026-11-22T14:15:00+00:00",
    }
    [created] = changes(runtime)
    assert (created["change"], created["maintenance_id"], created["recurring"]) == ("created", window_id, False)


def test_an_announcement_may_be_dated_in_the_past(runtime: Runtime) -> None:
    window_id = announce(runtime, announced_at="2026-11-15T09:00:00-05:00")
    with transaction(runtime.sessions) as session:
        assert session.get_one(Maintenance, window_id).announced_at == datetime(2026, 11, 15, 14, tzinfo=UTC)


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        ({"components": ["billing"]}, "components", "unknown component 'billing'"),
        ({"components": []}, "components", "non-empty list"),
        ({"components": "pr-portal"}, "components", "non-empty list"),
        ({"components": [3]}, "components", "expected a component id"),
        ({"starts_at": "2026-11-28T22:00:00"}, "starts_at", "has no UTC offset"),
        ({"ends_at": "2026-11-29T02:00"}, "ends_at", "has no UTC offset"),
        ({"ends_at": "2026-11-28T21:00:00-05:00"}, "ends_at", "must be after starts_at"),
        ({"ends_at": "2026-11-28T22:00:00-05:00"}, "ends_at", "must be after starts_at"),
        ({"ends_at": None}, "ends_at", "is required"),
        ({"announced_at": "2026-11-22T14:15:01Z"}, "announced_at", "is later than now"),
        ({"announced_at": "soon"}, "announced_at", "expected ISO 8601"),
        ({"title": ""}, "title", "is required"),
        ({"title": None}, "title", "is required"),
        ({"title": "x" * 201}, "title", "longer than 200"),
    ],
)
def test_what_cannot_be_announced_names_its_field_and_stores_nothing(
    runtime: Runtime, changes: dict[str, Any], field: str, says: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        announce(runtime, **changes)
    assert (raised.value.field, says in raised.value.message) == (field, True), raised.value.message
    with transaction(runtime.sessions) as session:
        assert session.scalars(select(Maintenance)).all() == []
        assert session.scalars(select(OutboxEvent)).all() == []


def test_cancelling_withdraws_an_announced_window_once(runtime: Runtime) -> None:
    window_id = announce(runtime)
    for _ in range(2):
        with transaction(runtime.sessions) as session:
            assert cancel_maintenance(session, window_id, now=LATER).active is False
    assert [c["change"] for c in changes(runtime)] == ["created", "removed"]
    with transaction(runtime.sessions) as session:
        assert list_maintenance(session, now=LATER) == []
        assert [v.id for v in list_maintenance(session, now=LATER, include_inactive=True)] == [window_id]


def test_a_window_from_the_file_is_not_cancelled_through_the_api(runtime: Runtime) -> None:
    reconfigure(runtime, WINDOWS, NOW)
    weekly = window(runtime, "weekend-batch")
    with pytest.raises(Conflict) as raised, transaction(runtime.sessions) as session:
        cancel_maintenance(session, weekly.id, now=LATER)
    assert "configuration file" in raised.value.message and "'weekend-batch'" in raised.value.message
    assert window(runtime, "weekend-batch").active is True


@pytest.mark.parametrize("maintenance_id", [0, 999, 2**63, 10**40])
def test_an_unknown_window_is_not_found(runtime: Runtime, maintenance_id: int) -> None:
    with pytest.raises(NotFound), transaction(runtime.sessions) as session:
        cancel_maintenance(session, maintenance_id, now=NOW)
    with pytest.raises(NotFound), transaction(runtime.sessions) as session:
        get_maintenance(session, maintenance_id, now=NOW)


# --- reading ---------------------------------------------------------------------------------------


def test_a_weekly_window_lists_its_next_occurrences_in_utc_across_the_week(runtime: Runtime) -> None:
    reconfigure(runtime, WINDOWS, NOW - timedelta(days=30))
    with transaction(runtime.sessions) as session:
        views = {v.key: v for v in list_maintenance(session, now=NOW)}
    weekly = views["weekend-batch"]
    # Saturdays and Sundays at 23:00 Toronto time (EST, UTC-5): 04:00 UTC the next morning.
    assert [(s.isoformat(), (e - s).total_seconds()) for s, e in weekly.upcoming] == [
        ("2026-11-23T04:00:00+00:00", 14400),
        ("2026-11-29T04:00:00+00:00", 14400),
        ("2026-11-30T04:00:00+00:00", 14400),
        ("2026-12-06T04:00:00+00:00", 14400),
        ("2026-12-07T04:00:00+00:00", 14400),
    ]
    assert weekly.in_progress is False
    with transaction(runtime.sessions) as session:
        during = {v.key: v for v in list_maintenance(session, now=datetime(2026, 11, 23, 5, tzinfo=UTC))}
    assert during["weekend-batch"].in_progress is True
    assert during["weekend-batch"].upcoming[0][0].isoformat() == "2026-11-23T04:00:00+00:00"
    assert during["db-upgrade"].in_progress is False


def test_a_one_off_window_is_in_progress_between_its_bounds_and_then_has_no_occurrence_left(runtime: Runtime) -> None:
    window_id = announce(runtime)
    with transaction(runtime.sessions) as session:
        assert get_maintenance(session, window_id, now=datetime(2026, 11, 29, 5, tzinfo=UTC)).in_progress is True
        after = get_maintenance(session, window_id, now=datetime(2026, 11, 29, 7, tzinfo=UTC))
    assert (after.in_progress, after.upcoming, after.active) == (False, [], True)
