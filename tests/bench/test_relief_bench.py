"""The relief benchmark's scenario and checks, on a tiny database: correctness only, never time."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from bench.relief import CLEAR, NIGHTS, SIGN_IN, ZONES, BenchFailed, load, make_cases, measure


def test_each_draw_is_exactly_touched_and_no_background_deadline_lies_in_an_outage_s_reach() -> None:
    cases = list(make_cases(3_000, 250))
    assert len(cases) == 3_000
    assert len({case.case_id for case in cases}) == 3_000
    for night in NIGHTS:
        draw = [case for case in cases if case.case_id.startswith(night.prefix)]
        assert len(draw) == 250
        assert all(SIGN_IN in case.components for case in draw)
        assert {case.zone for case in draw} == set(ZONES)
        assert all(datetime.fromtimestamp(case.deadline, UTC) == night.draw_deadline(case.zone) for case in draw)
    background = [case for case in cases if case.case_id.startswith("CASE-")]
    assert len(background) == 3_000 - 2 * 250
    for night in NIGHTS:
        start, end = night.start.timestamp(), (night.end + CLEAR).timestamp()
        assert not [case for case in background if start <= case.deadline <= end]
    assert Counter(len(case.components) for case in background).keys() == {1, 2}


def test_the_scenario_cannot_hold_draws_larger_than_the_cases() -> None:
    with pytest.raises(BenchFailed, match="cannot hold"):
        list(make_cases(100, 60))


def test_every_outage_decides_exactly_its_draw_and_the_rerun_changes_nothing(database_url: str) -> None:
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    loaded = load(backend, database_url, 2_000, 120)
    assert (loaded.cases, loaded.links > 2_000) == (2_000, True)

    # measure() raises BenchFailed on any count that differs from the independent SQL counts.
    measured = measure(database_url, 2_000, 120)

    assert [m.kind for m in measured] == [night.kind for night in NIGHTS]
    for m in measured:
        assert m.decided == 120
        assert sum(m.changes.values()) == 120
        assert m.candidates >= m.groups > 0
        assert m.paper == 1  # a 7-hour outage authorises paper filing
        assert m.peak_rss_mib >= m.baseline_rss_mib > 0
