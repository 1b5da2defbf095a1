"""The `maintenance:` section: one-off and weekly windows, each problem named by file, line and key path."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from monitor.config import parse_config
from tests.monitor.config.conftest import GOOD, problems_of

# GOOD ends on line 18; the maintenance section starts on line 19.
MAINTENANCE = """\
maintenance:
  - id: weekend-batch
    title: Weekend batch processing
    components: [pr-portal, employer-portal]
    every:
      days: [sat, sun]
      at: 23:00
      duration: 4h
      time_zone: America/Toronto
  - id: database-upgrade
    title: Database upgrade
    components: [pr-portal]
    starts_at: 2026-12-05T22:00:00-05:00
    ends_at: "2026-12-06T02:00:00-05:00"
    announced_at: 2026-11-20T09:00:00-05:00
"""


def with_maintenance(text: str = MAINTENANCE) -> str:
    return GOOD + text


def test_a_recurring_and_a_one_off_window_are_read_in_utc() -> None:
    recurring, one_off = parse_config(with_maintenance()).maintenance
    assert recurring.id == "weekend-batch" and recurring.recurring
    assert recurring.components == ("pr-portal", "employer-portal")
    assert recurring.every is not None
    assert recurring.every.days == ("sat", "sun")
    assert recurring.every.at == time(23, 0)  # not YAML 1.1's base-60 number 1380
    assert recurring.every.duration == timedelta(hours=4)
    assert recurring.every.as_stored() == {
        "days": ["sat", "sun"],
        "at": "23:00",
        "duration_seconds": 14400,
        "time_zone": "America/Toronto",
    }
    assert (recurring.starts_at, recurring.ends_at, recurring.announced_at) == (None, None, None)
    assert not one_off.recurring
    assert one_off.starts_at == datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
    assert one_off.ends_at == datetime(2026, 12, 6, 7, 0, tzinfo=UTC)  # quoted text reads the same
    assert one_off.announced_at == datetime(2026, 11, 20, 14, 0, tzinfo=UTC)


def test_a_file_without_maintenance_has_none() -> None:
    assert parse_config(GOOD).maintenance == []


def test_a_recurring_window_may_be_bounded_and_its_days_are_kept_in_week_order() -> None:
    text = MAINTENANCE.replace("days: [sat, sun]", "days: [sun, mon, sat]").replace(
        "      time_zone: America/Toronto\n",
        "      time_zone: America/Toronto\n    starts_at: 2027-01-01T00:00:00Z\n    ends_at: 2027-06-30T00:00:00Z\n",
    )
    recurring = parse_config(with_maintenance(text)).maintenance[0]
    assert recurring.every is not None and recurring.every.days == ("mon", "sat", "sun")
    assert recurring.starts_at == datetime(2027, 1, 1, tzinfo=UTC)
    assert recurring.ends_at == datetime(2027, 6, 30, tzinfo=UTC)


def test_a_quoted_time_of_day_and_a_flow_mapping_are_read_alike() -> None:
    text = (
        "maintenance:\n"
        "  - {id: nightly, title: Nightly, components: [pr-portal],\n"
        "     every: {days: [mon], at: '07:05', duration: 30m, time_zone: UTC}}\n"
    )
    every = parse_config(with_maintenance(text)).maintenance[0].every
    assert every is not None and every.at == time(7, 5)


@pytest.mark.parametrize(
    ("old", "new", "where", "says"),
    [
        ("components: [pr-portal]\n", "components: [pr-portal, billing]\n", "30: maintenance[1].components[1]",
         "unknown component 'billing'; the components this file declares are: employer-portal, pr-portal"),
        ("components: [pr-portal]\n", "components: [pr-portal, pr-portal]\n", "30: maintenance[1].components[1]",
         "already listed as components[0]"),
        ("components: [pr-portal]\n", "components: []\n", "30: maintenance[1].components", "at least 1 item"),
        ("id: database-upgrade", "id: weekend-batch", "28: maintenance[1].id",
         "maintenance id 'weekend-batch' is already used by maintenance[0]"),
        ("id: database-upgrade", "id: Database Upgrade", "28: maintenance[1].id", "should match pattern"),
        ("title: Database upgrade", "title: '  '", "29: maintenance[1].title", "must not be blank"),
        ("starts_at: 2026-12-05T22:00:00-05:00", "starts_at: 2026-12-05T22:00:00", "31: maintenance[1].starts_at",
         "2026-12-05T22:00:00 has no UTC offset"),
        ("starts_at: 2026-12-05T22:00:00-05:00", "starts_at: 2026-12-05", "31: maintenance[1].starts_at",
         "got date '2026-12-05'"),
        ("starts_at: 2026-12-05T22:00:00-05:00", "starts_at: tomorrow", "31: maintenance[1].starts_at",
         "expected ISO 8601 with a UTC offset"),
        ("starts_at: 2026-12-05T22:00:00-05:00", "starts_at: 1770000000", "31: maintenance[1].starts_at",
         "got int '1770000000'"),
        ("starts_at: 2026-12-05T22:00:00-05:00", "starts_at: 0001-01-01T00:00:00+05:00",
         "31: maintenance[1].starts_at", "out of range"),
        ('ends_at: "2026-12-06T02:00:00-05:00"', 'ends_at: "2026-12-05T21:00:00-05:00"', "32: maintenance[1].ends_at",
         "must be after starts_at (2026-12-06T03:00:00+00:00)"),
        ('    ends_at: "2026-12-06T02:00:00-05:00"\n', "", "28: maintenance[1]",
         "a one-off window needs ends_at; a recurring one needs `every`"),
        ("days: [sat, sun]", "days: [sat, saturday]", "24: maintenance[0].every.days[1]", "'mon', 'tue'"),
        ("days: [sat, sun]", "days: [sat, sat]", "24: maintenance[0].every.days", "sat listed more than once"),
        ("days: [sat, sun]", "days: []", "24: maintenance[0].every.days", "at least 1 item"),
        ("at: 23:00", "at: 24:00", "25: maintenance[0].every.at", "expected a time of day as HH:MM"),
        ("at: 23:00", "at: 23:00:00", "25: maintenance[0].every.at", "got '23:00:00'"),
        ("at: 23:00", "at: 11pm", "25: maintenance[0].every.at", "got '11pm'"),
        ("duration: 4h", "duration: 0s", "26: maintenance[0].every.duration", "greater than zero and at most 7d"),
        ("duration: 4h", "duration: 8d", "26: maintenance[0].every.duration", "greater than zero and at most 7d"),
        ("duration: 4h", "duration: soon", "26: maintenance[0].every.duration", "expected a duration"),
        ("time_zone: America/Toronto\n  - id", "time_zone: localtime\n  - id", "27: maintenance[0].every.time_zone",
         "unknown time zone 'localtime'"),
        ("      duration: 4h\n", "      duration: 4h\n      every: week\n", "27: maintenance[0].every.every",
         "Extra inputs are not permitted"),
    ],
)  # fmt: skip
def test_each_problem_names_its_line_and_key_path(old: str, new: str, where: str, says: str) -> None:
    assert old in MAINTENANCE
    problems = problems_of(with_maintenance(MAINTENANCE.replace(old, new, 1)))
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"portalwatch.yaml:{where}: "), problems[0]
    assert says in problems[0], problems[0]


def test_maintenance_must_be_a_list_of_windows() -> None:
    problems = problems_of(with_maintenance("maintenance: {id: x}\n"))
    assert problems == ["portalwatch.yaml:19: maintenance: Input should be a valid list"]


def test_every_window_with_problems_is_listed_at_once() -> None:
    text = MAINTENANCE.replace("at: 23:00", "at: noon").replace("title: Database upgrade", "title: ''")
    problems = problems_of(with_maintenance(text))
    assert [p.split(": ")[1] for p in problems] == ["maintenance[0].every.at", "maintenance[1].title"]
