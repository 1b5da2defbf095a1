"""Times typed into the dashboard's forms: with an offset as written, without one on the page's wall clock,
and a wall-clock time the zone skips or repeats refused, naming the field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.usecases.outages import InvalidInput
from monitor.web.dashboard_forms import form_instant

ZONE = "America/Toronto"


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("2026-11-20T09:30", datetime(2026, 11, 20, 14, 30, tzinfo=UTC)),  # EST
        ("2026-07-20T09:30", datetime(2026, 7, 20, 13, 30, tzinfo=UTC)),  # EDT
        ("2026-11-20 09:30", datetime(2026, 11, 20, 14, 30, tzinfo=UTC)),
        ("2026-11-20T09:30:15-08:00", datetime(2026, 11, 20, 17, 30, 15, tzinfo=UTC)),
        ("2026-11-20T14:30Z", datetime(2026, 11, 20, 14, 30, tzinfo=UTC)),
    ],
)
def test_a_time_is_read_with_its_offset_or_on_the_page_s_clock(written: str, meant: datetime) -> None:
    assert form_instant(written, ZONE, "started_at") == meant


def test_an_empty_field_is_none() -> None:
    assert form_instant(None, ZONE, "ended_at") is None
    assert form_instant("  ", ZONE, "ended_at") is None


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("2026-03-08T02:30", "does not exist in America/Toronto"),
        ("2026-11-01T01:30", "happens twice in America/Toronto"),
        ("last Tuesday", "is not a date and time"),
    ],
)
def test_a_time_that_means_no_one_instant_is_refused_naming_the_field(written: str, said: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        form_instant(written, ZONE, "ended_at")
    assert refused.value.field == "ended_at" and said in refused.value.message


def test_a_repeated_time_with_its_offset_is_taken() -> None:
    assert form_instant("2026-11-01T01:30-05:00", ZONE, "ended_at") == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
