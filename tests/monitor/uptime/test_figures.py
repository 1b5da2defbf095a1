"""Uptime figures, as rules a reader of the status page could check by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from monitor.storage.enums import Severity
from monitor.uptime.figures import Part, Uptime, uptime, uptime_json

START = datetime(2026, 11, 1, tzinfo=UTC)
END = START + timedelta(days=1)
H = timedelta(hours=1)


def figures(**kwargs: Any) -> Uptime:
    facts: dict[str, Any] = {
        "start": START,
        "end": END,
        "watched_from": START,
        "parts": [],
        "gaps": [],
        "maintenance": [],
    }
    facts.update(kwargs)
    return uptime(**facts)


def test_a_day_without_outages_is_100_percent() -> None:
    assert figures().percent == 100.0


def test_an_hour_of_major_outage_in_a_watched_day_is_one_twenty_fourth_down() -> None:
    day = uptime(
        start=START,
        end=END,
        watched_from=START,
        parts=[Part(Severity.MAJOR_OUTAGE, START, START + H)],
        gaps=[],
        maintenance=[],
    )
    assert day.downtime == H
    assert day.percent is not None and abs(day.percent - 100 * 23 / 24) < 1e-9


def test_time_nobody_watched_counts_neither_as_uptime_nor_as_downtime() -> None:
    # Twelve hours unwatched in the middle of an outage: only the watched hour of it is down, out of twelve.
    day = uptime(
        start=START,
        end=END,
        watched_from=START,
        parts=[Part(Severity.MAJOR_OUTAGE, START, START + 13 * H)],
        gaps=[(START + H, START + 13 * H)],
        maintenance=[],
    )
    assert (day.gaps, day.observed, day.downtime) == (12 * H, 12 * H, H)
    assert day.percent is not None and abs(day.percent - 100 * 11 / 12) < 1e-9


def test_planned_maintenance_is_left_out_and_an_outage_during_it_is_not_counted() -> None:
    day = uptime(
        start=START,
        end=END,
        watched_from=START,
        parts=[Part(Severity.MAJOR_OUTAGE, START, START + 2 * H)],
        gaps=[],
        maintenance=[(START, START + 2 * H)],
    )
    assert (day.maintenance, day.observed, day.downtime, day.percent) == (2 * H, 22 * H, timedelta(0), 100.0)
    assert uptime_json(day)["maintenance_counted"] == "excluded"


def test_maintenance_inside_a_gap_is_counted_once_as_gap() -> None:
    day = uptime(
        start=START,
        end=END,
        watched_from=START,
        parts=[],
        gaps=[(START, START + 2 * H)],
        maintenance=[(START + H, START + 3 * H)],
    )
    assert (day.gaps, day.maintenance, day.observed) == (2 * H, H, 21 * H)


def test_degraded_performance_is_reported_but_counts_as_up() -> None:
    day = uptime(
        start=START,
        end=END,
        watched_from=START,
        parts=[Part(Severity.DEGRADED_PERFORMANCE, START, START + H)],
        gaps=[],
        maintenance=[],
    )
    assert (day.percent, day.down[Severity.DEGRADED_PERFORMANCE]) == (100.0, H)


def test_overlapping_outages_count_once_at_the_worse_severity() -> None:
    day = uptime(
        start=START,
        end=END,
        watched_from=START,
        parts=[
            Part(Severity.PARTIAL_OUTAGE, START, START + 2 * H),
            Part(Severity.MAJOR_OUTAGE, START + H, START + 3 * H),
        ],
        gaps=[],
        maintenance=[],
    )
    assert (day.down[Severity.MAJOR_OUTAGE], day.down[Severity.PARTIAL_OUTAGE], day.downtime) == (2 * H, H, 3 * H)


def test_before_the_component_was_watched_nothing_is_claimed() -> None:
    day = uptime(start=START, end=END, watched_from=END - 6 * H, parts=[], gaps=[], maintenance=[])
    assert (day.considered, day.observed, day.percent) == (6 * H, 6 * H, 100.0)


def test_a_window_nobody_watched_has_no_figure_not_100_percent() -> None:
    day = uptime(start=START, end=END, watched_from=START, parts=[], gaps=[(START - H, END + H)], maintenance=[])
    assert day.percent is None
    assert uptime_json(day)["uptime_percent"] is None


moments = st.integers(min_value=-2 * 24 * 60, max_value=2 * 24 * 60).map(lambda m: START + timedelta(minutes=m))
spans = st.lists(st.tuples(moments, moments).map(sorted).map(tuple), max_size=6)


@given(
    outages=st.lists(st.tuples(st.sampled_from(list(Severity)), moments, moments), max_size=6),
    gaps=spans,
    maintenance=spans,
    watched_from=moments,
)
def test_the_parts_always_add_up_and_the_figure_stays_between_0_and_100(
    outages: list[tuple[Severity, datetime, datetime]],
    gaps: list[tuple[datetime, datetime]],
    maintenance: list[tuple[datetime, datetime]],
    watched_from: datetime,
) -> None:
    parts = [Part(s, min(a, b), max(a, b)) for s, a, b in outages]
    day = uptime(start=START, end=END, watched_from=watched_from, parts=parts, gaps=gaps, maintenance=maintenance)
    assert day.considered == day.gaps + day.maintenance + day.observed
    assert sum(day.down.values(), timedelta(0)) <= day.observed
    assert day.percent is None or 0.0 <= day.percent <= 100.0
