"""Paper filing: a component down for four hours lets people file on paper until it has been back a business day.

The status page's time zone is Toronto here (EDT, UTC-4, in summer).
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from exemptions.policy import PaperPeriod, ReliefPolicy, Rule, Span, paper_periods

PAGE_ZONE = "America/Toronto"
POLICY = ReliefPolicy()


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=ZoneInfo(PAGE_ZONE)).astimezone(UTC)


def span(start: datetime, end: datetime, *, ref: str = "outage:1", is_open: bool = False) -> Span:
    return Span("pr-portal", start, end, is_open, frozenset({ref}))


def test_an_outage_of_exactly_four_hours_authorises_paper_filing_until_the_next_accessible_business_day() -> None:
    # Tue 2026-06-09 09:00-13:00 → from 09:00 until Wed 2026-06-10 23:59:59.
    assert paper_periods([span(at(2026, 6, 9, 9, 0), at(2026, 6, 9, 13, 0))], POLICY, PAGE_ZONE) == [
        PaperPeriod("pr-portal", at(2026, 6, 9, 9, 0), at(2026, 6, 10, 23, 59, 59), ("outage:1",), final=True)
    ]


def test_an_outage_one_second_short_of_four_hours_does_not() -> None:
    assert paper_periods([span(at(2026, 6, 9, 9, 0), at(2026, 6, 9, 12, 59, 59))], POLICY, PAGE_ZONE) == []


def test_paper_filing_after_a_friday_outage_lasts_until_the_end_of_monday() -> None:
    (period,) = paper_periods([span(at(2026, 6, 5, 10, 0), at(2026, 6, 5, 14, 0))], POLICY, PAGE_ZONE)
    assert period.until == at(2026, 6, 8, 23, 59, 59)


def test_paper_filing_passes_over_canada_day() -> None:
    # Tue 2026-06-30; Wed 2026-07-01 is Canada Day → Thu 2026-07-02.
    (period,) = paper_periods([span(at(2026, 6, 30, 10, 0), at(2026, 6, 30, 14, 0))], POLICY, PAGE_ZONE)
    assert period.until == at(2026, 7, 2, 23, 59, 59)


def test_paper_filing_passes_over_christmas_and_the_observed_boxing_day() -> None:
    # Thu 2026-12-24 (EST); Fri 25, the weekend, Mon 28 (Boxing Day observed) → Tue 2026-12-29.
    (period,) = paper_periods([span(at(2026, 12, 24, 8, 0), at(2026, 12, 24, 12, 0))], POLICY, PAGE_ZONE)
    assert period.until == at(2026, 12, 29, 23, 59, 59)
    assert period.until == datetime(2026, 12, 30, 4, 59, 59, tzinfo=UTC)


def test_a_next_day_down_an_hour_and_a_half_is_passed_over_and_cited() -> None:
    spans = [
        span(at(2026, 6, 9, 9, 0), at(2026, 6, 9, 13, 0), ref="outage:1"),
        span(at(2026, 6, 10, 10, 0), at(2026, 6, 10, 11, 30), ref="outage:2"),
    ]
    assert paper_periods(spans, POLICY, PAGE_ZONE) == [
        PaperPeriod("pr-portal", at(2026, 6, 9, 9, 0), at(2026, 6, 11, 23, 59, 59), ("outage:1", "outage:2"), True)
    ]


def test_an_outage_over_several_days_counts_from_the_day_it_ended() -> None:
    # Mon 2026-06-08 20:00 to Tue 2026-06-09 12:00: ended Tuesday → Wednesday.
    (period,) = paper_periods([span(at(2026, 6, 8, 20, 0), at(2026, 6, 9, 12, 0))], POLICY, PAGE_ZONE)
    assert period.start == at(2026, 6, 8, 20, 0)
    assert period.until == at(2026, 6, 10, 23, 59, 59)


def test_touching_outages_are_one_outage_for_paper_filing() -> None:
    spans = [
        span(at(2026, 6, 9, 9, 0), at(2026, 6, 9, 11, 0), ref="outage:1"),
        span(at(2026, 6, 9, 11, 0), at(2026, 6, 9, 13, 0), ref="outage:2"),
    ]
    (period,) = paper_periods(spans, POLICY, PAGE_ZONE)
    assert period.refs == ("outage:1", "outage:2")


def test_each_long_outage_earns_its_own_period() -> None:
    spans = [
        span(at(2026, 6, 9, 9, 0), at(2026, 6, 9, 13, 0), ref="outage:1"),
        span(at(2026, 6, 15, 9, 0), at(2026, 6, 15, 14, 0), ref="outage:2"),  # Mon
    ]
    periods = paper_periods(spans, POLICY, PAGE_ZONE)
    assert [(p.start, p.until, p.refs) for p in periods] == [
        (at(2026, 6, 9, 9, 0), at(2026, 6, 10, 23, 59, 59), ("outage:1",)),
        (at(2026, 6, 15, 9, 0), at(2026, 6, 16, 23, 59, 59), ("outage:2",)),
    ]


def test_while_the_outage_is_open_the_period_has_no_end_yet() -> None:
    (period,) = paper_periods([span(at(2026, 6, 9, 9, 0), at(2026, 6, 9, 13, 30), is_open=True)], POLICY, PAGE_ZONE)
    assert period.until is None
    assert not period.final
    assert period.start == at(2026, 6, 9, 9, 0)


def test_an_open_outage_not_yet_four_hours_long_authorises_nothing_yet() -> None:
    assert paper_periods([span(at(2026, 6, 9, 9, 0), at(2026, 6, 9, 12, 0), is_open=True)], POLICY, PAGE_ZONE) == []


def test_an_open_outage_on_the_day_after_makes_the_period_provisional() -> None:
    spans = [
        span(at(2026, 6, 9, 9, 0), at(2026, 6, 9, 13, 0), ref="outage:1"),
        span(at(2026, 6, 10, 10, 0), at(2026, 6, 10, 10, 20), ref="outage:2", is_open=True),
    ]
    (period,) = paper_periods(spans, POLICY, PAGE_ZONE)
    assert period.until == at(2026, 6, 10, 23, 59, 59)
    assert period.refs == ("outage:1", "outage:2")
    assert not period.final


def test_days_are_counted_in_the_status_page_zone() -> None:
    # 22:00 UTC Tue to 03:00 UTC Wed ends on Tuesday in Toronto but on Wednesday in UTC.
    spans = [span(datetime(2026, 6, 9, 22, 0, tzinfo=UTC), datetime(2026, 6, 10, 3, 0, tzinfo=UTC))]
    (toronto,) = paper_periods(spans, POLICY, PAGE_ZONE)
    assert toronto.until == datetime(2026, 6, 11, 3, 59, 59, tzinfo=UTC)  # Wed 23:59:59 EDT
    (utc,) = paper_periods(spans, POLICY, "UTC")
    assert utc.until == datetime(2026, 6, 11, 23, 59, 59, tzinfo=UTC)  # Thu 23:59:59 UTC


def test_the_threshold_is_configurable() -> None:
    spans = [span(at(2026, 6, 9, 9, 0), at(2026, 6, 9, 11, 0))]
    assert paper_periods(spans, POLICY, PAGE_ZONE) == []
    assert len(paper_periods(spans, ReliefPolicy(paper_after_hours=2), PAGE_ZONE)) == 1


def test_nothing_when_the_rule_is_switched_off() -> None:
    policy = ReliefPolicy(rules=frozenset({Rule.DEADLINE_DAY, Rule.LAST_HOUR, Rule.LONG_OUTAGE, Rule.GRACE}))
    assert paper_periods([span(at(2026, 6, 9, 9, 0), at(2026, 6, 9, 15, 0))], policy, PAGE_ZONE) == []


def test_nothing_without_downtime() -> None:
    assert paper_periods([], POLICY, PAGE_ZONE) == []


def test_paper_filing_is_decided_one_component_at_a_time() -> None:
    spans = [
        Span("pr-portal", at(2026, 6, 9, 9, 0), at(2026, 6, 9, 13, 0), False, frozenset({"outage:1"})),
        Span("employer-portal", at(2026, 6, 9, 9, 0), at(2026, 6, 9, 13, 0), False, frozenset({"outage:2"})),
    ]
    with pytest.raises(ValueError, match="per component"):
        paper_periods(spans, POLICY, PAGE_ZONE)
