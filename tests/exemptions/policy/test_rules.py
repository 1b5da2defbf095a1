"""The relief rules, read as a lawyer would: which outages count, and the deadline they move a case to.

Dates are in 2026 and their weekdays are written next to them. Unless a test says otherwise the
case lives in Toronto (EDT, UTC-4, in summer) and the holiday calendar is Canada's federal one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from exemptions.policy import (
    CalendarSpec,
    Decision,
    Downtime,
    MaintenanceWindow,
    ReliefPolicy,
    Rule,
    Span,
    Step,
    counted_spans,
    decide,
    downtime_minutes_on,
    first_accessible_business_day,
)
from monitor.storage.enums import GrantStatus, Severity

TORONTO = "America/Toronto"
POLICY = ReliefPolicy()


def at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, zone: str = TORONTO
) -> datetime:
    """A local wall-clock time in `zone`, as the UTC instant the policy works in."""
    return datetime(year, month, day, hour, minute, second, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def span(
    start: datetime, end: datetime, *, component: str = "pr-portal", ref: str = "outage:1", is_open: bool = False
) -> Span:
    return Span(component, start, end, is_open, frozenset({ref}))


def only(*rules: Rule, **settings: object) -> ReliefPolicy:
    return ReliefPolicy(rules=frozenset(rules), **settings)  # type: ignore[arg-type]


def decided(deadline: datetime, spans: Sequence[Span], policy: ReliefPolicy = POLICY, zone: str = TORONTO) -> Decision:
    decision = decide(deadline, zone, spans, policy)
    assert decision is not None
    return decision


def step(decision: Decision, rule: Rule) -> Step:
    (found,) = [s for s in decision.steps if s.rule == rule]
    return found


# --- Rule 1: outage on the deadline's day, before the deadline --------------------------------------

DEADLINE = at(2026, 6, 9, 17, 0)  # Tue 2026-06-09 17:00


def test_sixty_minutes_of_outage_on_the_deadline_day_moves_it_to_the_first_accessible_business_day() -> None:
    decision = decided(DEADLINE, [span(at(2026, 6, 9, 10, 0), at(2026, 6, 9, 11, 0))], only(Rule.DEADLINE_DAY))
    assert decision.new_deadline == at(2026, 6, 10, 23, 59, 59)  # Wed
    assert decision.rules == (Rule.DEADLINE_DAY,)
    assert decision.refs == ("outage:1",)
    assert decision.final
    assert decision.status == GrantStatus.FINAL
    assert decision.new_deadline.tzinfo == UTC


def test_one_second_less_than_sixty_minutes_on_the_deadline_day_gives_nothing() -> None:
    spans = [span(at(2026, 6, 9, 10, 0), at(2026, 6, 9, 10, 59, 59))]
    assert decide(DEADLINE, TORONTO, spans, only(Rule.DEADLINE_DAY)) is None
    assert decide(DEADLINE, TORONTO, spans, POLICY) is None


def test_outage_after_the_deadline_on_its_own_day_does_not_count() -> None:
    assert decide(DEADLINE, TORONTO, [span(at(2026, 6, 9, 17, 0), at(2026, 6, 9, 19, 0))], POLICY) is None


def test_only_the_part_of_an_outage_before_the_deadline_counts() -> None:
    # 16:30 to 18:00: 30 minutes before the deadline. The last-hour rule applies, the deadline-day rule does not.
    decision = decided(DEADLINE, [span(at(2026, 6, 9, 16, 30), at(2026, 6, 9, 18, 0))])
    assert Rule.DEADLINE_DAY not in decision.rules
    assert Rule.LAST_HOUR in decision.rules


def test_an_outage_spanning_midnight_counts_only_its_minutes_on_the_deadline_day() -> None:
    # Mon 23:30 to Tue 00:45 is 45 minutes on Tuesday; Mon 23:00 to Tue 01:00 is 60.
    short = [span(at(2026, 6, 8, 23, 30), at(2026, 6, 9, 0, 45))]
    assert decide(DEADLINE, TORONTO, short, only(Rule.DEADLINE_DAY)) is None
    enough = [span(at(2026, 6, 8, 23, 0), at(2026, 6, 9, 1, 0))]
    assert decided(DEADLINE, enough, only(Rule.DEADLINE_DAY)).new_deadline == at(2026, 6, 10, 23, 59, 59)


def test_two_short_outages_add_up_on_the_deadline_day() -> None:
    spans = [
        span(at(2026, 6, 9, 9, 0), at(2026, 6, 9, 9, 30), ref="outage:1"),
        span(at(2026, 6, 9, 14, 0), at(2026, 6, 9, 14, 30), ref="outage:2"),
    ]
    decision = decided(DEADLINE, spans, only(Rule.DEADLINE_DAY))
    assert decision.new_deadline == at(2026, 6, 10, 23, 59, 59)
    assert decision.refs == ("outage:1", "outage:2")


def test_two_components_down_at_the_same_time_are_not_counted_twice() -> None:
    # 10:00-10:40 on one component, 10:20-11:00 on another: 60 minutes of outage for the case, not 80.
    overlapping = [
        span(at(2026, 6, 9, 10, 0), at(2026, 6, 9, 10, 40), component="pr-portal", ref="outage:1"),
        span(at(2026, 6, 9, 10, 20), at(2026, 6, 9, 11, 0), component="employer-portal", ref="outage:2"),
    ]
    assert downtime_minutes_on(date(2026, 6, 9), TORONTO, overlapping) == 60
    assert decided(DEADLINE, overlapping, only(Rule.DEADLINE_DAY)).refs == ("outage:1", "outage:2")
    # The same 40 minutes on both components is 40 minutes, not 80: no relief.
    same = [
        span(at(2026, 6, 9, 10, 0), at(2026, 6, 9, 10, 40), component="pr-portal", ref="outage:1"),
        span(at(2026, 6, 9, 10, 0), at(2026, 6, 9, 10, 40), component="employer-portal", ref="outage:2"),
    ]
    assert downtime_minutes_on(date(2026, 6, 9), TORONTO, same) == 40
    assert decide(DEADLINE, TORONTO, same, only(Rule.DEADLINE_DAY)) is None


def test_the_order_the_spans_come_in_does_not_matter() -> None:
    spans = [
        span(at(2026, 6, 9, 14, 0), at(2026, 6, 9, 14, 30), component="b", ref="outage:2"),
        span(at(2026, 6, 9, 9, 0), at(2026, 6, 9, 9, 30), component="a", ref="outage:1"),
        span(at(2026, 6, 1, 9, 0), at(2026, 6, 1, 9, 30), component="b", ref="outage:3"),
    ]
    assert decided(DEADLINE, spans) == decided(DEADLINE, list(reversed(spans)))
    assert decided(DEADLINE, spans) == decided(DEADLINE, tuple(sorted(spans, key=lambda s: s.start)))


def test_canada_day_is_passed_over() -> None:
    # Deadline Tue 2026-06-30; Wed 2026-07-01 is Canada Day; Thu 2026-07-02 is the first business day after.
    decision = decided(
        at(2026, 6, 30, 17, 0), [span(at(2026, 6, 30, 10, 0), at(2026, 6, 30, 11, 0))], only(Rule.DEADLINE_DAY)
    )
    assert decision.new_deadline == at(2026, 7, 2, 23, 59, 59)
    assert "passed over Wed 2026-07-01 (Canada Day)" in decision.steps[0].detail


def test_christmas_and_boxing_day_observed_are_passed_over() -> None:
    # Deadline Thu 2026-12-24. Christmas is Fri 25, Boxing Day Sat 26, and the federal government observes
    # Boxing Day on Mon 28: the first business day after is Tue 29.
    spans = [span(at(2026, 12, 24, 10, 0), at(2026, 12, 24, 11, 0))]
    decision = decided(at(2026, 12, 24, 17, 0), spans, only(Rule.DEADLINE_DAY))
    assert decision.new_deadline == at(2026, 12, 29, 23, 59, 59)
    assert "Fri 2026-12-25 (Christmas Day)" in decision.steps[0].detail
    assert "Mon 2026-12-28 (Boxing Day (observed))" in decision.steps[0].detail


def test_with_public_holidays_only_the_monday_after_boxing_day_is_a_business_day() -> None:
    spans = [span(at(2026, 12, 24, 10, 0), at(2026, 12, 24, 11, 0))]
    public_only = only(Rule.DEADLINE_DAY, calendar=CalendarSpec(categories=("public",)))
    assert decided(at(2026, 12, 24, 17, 0), spans, public_only).new_deadline == at(2026, 12, 28, 23, 59, 59)


def test_thanksgiving_monday_is_passed_over() -> None:
    # Deadline Fri 2026-10-09; the weekend, then Thanksgiving Mon 2026-10-12; Tue 2026-10-13.
    decision = decided(
        at(2026, 10, 9, 17, 0), [span(at(2026, 10, 9, 9, 0), at(2026, 10, 9, 10, 0))], only(Rule.DEADLINE_DAY)
    )
    assert decision.new_deadline == at(2026, 10, 13, 23, 59, 59)


def test_remembrance_day_is_passed_over() -> None:
    # Deadline Tue 2026-11-10 (EST, UTC-5); Remembrance Day Wed 2026-11-11; Thu 2026-11-12.
    decision = decided(
        at(2026, 11, 10, 17, 0), [span(at(2026, 11, 10, 9, 0), at(2026, 11, 10, 10, 0))], only(Rule.DEADLINE_DAY)
    )
    assert decision.new_deadline == at(2026, 11, 12, 23, 59, 59)
    assert decision.new_deadline == datetime(2026, 11, 13, 4, 59, 59, tzinfo=UTC)


def test_a_friday_deadline_moves_past_the_weekend_to_monday() -> None:
    # Fri 2026-06-05 → Mon 2026-06-08.
    decision = decided(
        at(2026, 6, 5, 17, 0), [span(at(2026, 6, 5, 9, 0), at(2026, 6, 5, 10, 0))], only(Rule.DEADLINE_DAY)
    )
    assert decision.new_deadline == at(2026, 6, 8, 23, 59, 59)


def test_a_deadline_on_a_sunday_moves_to_monday() -> None:
    decision = decided(
        at(2026, 6, 7, 12, 0), [span(at(2026, 6, 7, 9, 0), at(2026, 6, 7, 10, 0))], only(Rule.DEADLINE_DAY)
    )
    assert decision.new_deadline == at(2026, 6, 8, 23, 59, 59)


def test_a_next_day_that_was_itself_down_an_hour_is_passed_over() -> None:
    # Deadline Mon 2026-06-08; Tue 2026-06-09 was down 60 minutes, so it is not accessible: Wed 2026-06-10.
    spans = [
        span(at(2026, 6, 8, 9, 0), at(2026, 6, 8, 10, 0), ref="outage:1"),
        span(at(2026, 6, 9, 13, 0), at(2026, 6, 9, 14, 0), ref="outage:2"),
    ]
    decision = decided(at(2026, 6, 8, 17, 0), spans, only(Rule.DEADLINE_DAY))
    assert decision.new_deadline == at(2026, 6, 10, 23, 59, 59)
    assert decision.refs == ("outage:1", "outage:2")  # the decision rests on both
    assert "passed over Tue 2026-06-09 (60 min of outage)" in decision.steps[0].detail


def test_a_next_day_down_less_than_an_hour_is_still_accessible() -> None:
    spans = [
        span(at(2026, 6, 8, 9, 0), at(2026, 6, 8, 10, 0), ref="outage:1"),
        span(at(2026, 6, 9, 13, 0), at(2026, 6, 9, 13, 59, 59), ref="outage:2"),
    ]
    decision = decided(at(2026, 6, 8, 17, 0), spans, only(Rule.DEADLINE_DAY))
    assert decision.new_deadline == at(2026, 6, 9, 23, 59, 59)
    assert decision.refs == ("outage:1",)


def test_the_explanation_says_what_happened_in_plain_words() -> None:
    # Mon 2026-06-29: an hour down before the 17:00 deadline; Tue 2026-06-30 down 75 minutes; Wed Canada Day.
    spans = [
        span(at(2026, 6, 29, 10, 0), at(2026, 6, 29, 11, 0), ref="outage:1"),
        span(at(2026, 6, 30, 10, 0), at(2026, 6, 30, 11, 15), ref="outage:2"),
    ]
    (only_step,) = decided(at(2026, 6, 29, 17, 0), spans, only(Rule.DEADLINE_DAY)).steps
    assert only_step.detail == (
        "60 min of outage on Mon 2026-06-29 (America/Toronto) before the 17:00 deadline → first accessible "
        "business day after it, Thu 2026-07-02, 23:59:59; passed over Tue 2026-06-30 (75 min of outage), "
        "Wed 2026-07-01 (Canada Day)"
    )
    assert only_step.as_json() == {
        "rule": "deadline_day",
        "deadline": "2026-07-03T03:59:59+00:00",
        "detail": only_step.detail,
    }


# --- The deadline at midnight ---------------------------------------------------------------------

MIDNIGHT = at(2026, 6, 9, 0, 0)  # Tue 2026-06-09 00:00, the end of Mon 2026-06-08


def test_a_deadline_at_midnight_belongs_to_the_day_before() -> None:
    # An hour down on Monday afternoon counts for a deadline at 00:00 Tuesday.
    decision = decided(MIDNIGHT, [span(at(2026, 6, 8, 14, 0), at(2026, 6, 8, 15, 0))], only(Rule.DEADLINE_DAY))
    assert decision.new_deadline == at(2026, 6, 9, 23, 59, 59)  # first accessible business day after Monday
    assert "before the 24:00 deadline" in decision.steps[0].detail


def test_outage_after_a_midnight_deadline_does_not_count_for_its_day() -> None:
    assert decide(MIDNIGHT, TORONTO, [span(at(2026, 6, 9, 0, 0), at(2026, 6, 9, 2, 0))], POLICY) is None


def test_the_last_hour_before_a_midnight_deadline_gives_midnight_after_the_accessible_day() -> None:
    # 24:00 on Tue 2026-06-09 is 00:00 on Wed 2026-06-10.
    decision = decided(MIDNIGHT, [span(at(2026, 6, 8, 23, 30), at(2026, 6, 8, 23, 45))], only(Rule.LAST_HOUR))
    assert decision.new_deadline == at(2026, 6, 10, 0, 0)
    assert decision.steps[0].detail.endswith("Tue 2026-06-09 24:00")


def test_a_midnight_deadline_on_a_friday_night_moves_to_midnight_after_monday() -> None:
    # Sat 2026-06-06 00:00 ends Friday; the last hour was down; Monday is the next business day: Tue 00:00.
    decision = decided(at(2026, 6, 6, 0, 0), [span(at(2026, 6, 5, 23, 30), at(2026, 6, 6, 0, 0))], only(Rule.LAST_HOUR))
    assert decision.new_deadline == at(2026, 6, 9, 0, 0)


# --- Rule 2: the last hour ------------------------------------------------------------------------


def test_any_outage_in_the_last_hour_gives_the_same_time_on_the_first_accessible_business_day() -> None:
    decision = decided(DEADLINE, [span(at(2026, 6, 9, 16, 30), at(2026, 6, 9, 16, 35))], only(Rule.LAST_HOUR))
    assert decision.new_deadline == at(2026, 6, 10, 17, 0)  # Wed 17:00
    assert decision.rules == (Rule.LAST_HOUR,)


def test_an_outage_ending_exactly_an_hour_before_the_deadline_is_not_in_the_last_hour() -> None:
    assert (
        decide(DEADLINE, TORONTO, [span(at(2026, 6, 9, 15, 30), at(2026, 6, 9, 16, 0))], only(Rule.LAST_HOUR)) is None
    )


def test_an_outage_ending_one_second_into_the_last_hour_is_in_it() -> None:
    spans = [span(at(2026, 6, 9, 15, 30), at(2026, 6, 9, 16, 0, 1))]
    assert decided(DEADLINE, spans, only(Rule.LAST_HOUR)).new_deadline == at(2026, 6, 10, 17, 0)


def test_an_outage_starting_exactly_at_the_deadline_is_not_in_the_last_hour() -> None:
    assert decide(DEADLINE, TORONTO, [span(at(2026, 6, 9, 17, 0), at(2026, 6, 9, 17, 30))], POLICY) is None


def test_an_outage_starting_one_second_before_the_deadline_is_in_the_last_hour() -> None:
    spans = [span(at(2026, 6, 9, 16, 59, 59), at(2026, 6, 9, 17, 30))]
    assert decided(DEADLINE, spans, only(Rule.LAST_HOUR)).new_deadline == at(2026, 6, 10, 17, 0)


def test_the_last_hour_on_a_friday_gives_the_same_time_on_monday() -> None:
    decision = decided(
        at(2026, 6, 5, 17, 0), [span(at(2026, 6, 5, 16, 50), at(2026, 6, 5, 16, 55))], only(Rule.LAST_HOUR)
    )
    assert decision.new_deadline == at(2026, 6, 8, 17, 0)


def test_a_deadline_with_seconds_keeps_them() -> None:
    decision = decided(
        at(2026, 6, 9, 16, 59, 30), [span(at(2026, 6, 9, 16, 30), at(2026, 6, 9, 16, 35))], only(Rule.LAST_HOUR)
    )
    assert decision.new_deadline == at(2026, 6, 10, 16, 59, 30)
    assert "16:59:30 deadline" in decision.steps[0].detail


# --- Time zones and DST ---------------------------------------------------------------------------


def test_the_same_outage_falls_on_different_local_days_in_karachi_and_vancouver() -> None:
    # 20:00-21:30 UTC on 2026-06-09 is Tue 13:00-14:30 in Vancouver (PDT) and Wed 01:00-02:30 in Karachi (PKT).
    spans = [span(datetime(2026, 6, 9, 20, 0, tzinfo=UTC), datetime(2026, 6, 9, 21, 30, tzinfo=UTC))]
    deadline = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)  # Wed 05:00 in Vancouver, Wed 17:00 in Karachi
    assert decide(deadline, "America/Vancouver", spans, POLICY) is None
    karachi = decided(deadline, spans, only(Rule.DEADLINE_DAY), zone="Asia/Karachi")
    assert karachi.new_deadline == at(2026, 6, 11, 23, 59, 59, zone="Asia/Karachi")  # Thu, PKT
    assert karachi.new_deadline == datetime(2026, 6, 11, 18, 59, 59, tzinfo=UTC)
    assert "(Asia/Karachi)" in karachi.steps[0].detail


def test_on_the_spring_forward_day_minutes_are_real_minutes_not_clock_minutes() -> None:
    # Sun 2026-03-08 in Toronto: 01:30 EST to 03:15 EDT reads as 1 h 45 on the clock but is 45 minutes.
    deadline = at(2026, 3, 8, 12, 0)
    assert (
        decide(deadline, TORONTO, [span(at(2026, 3, 8, 1, 30), at(2026, 3, 8, 3, 15))], only(Rule.DEADLINE_DAY)) is None
    )
    # 01:00 EST to 03:00 EDT is an hour: relief until the end of Mon 2026-03-09.
    decision = decided(deadline, [span(at(2026, 3, 8, 1, 0), at(2026, 3, 8, 3, 0))], only(Rule.DEADLINE_DAY))
    assert decision.new_deadline == at(2026, 3, 9, 23, 59, 59)
    assert decision.new_deadline.utcoffset() == timedelta(0)


def test_on_the_fall_back_day_the_deadline_day_is_25_hours_long() -> None:
    # Sun 2026-11-01 in Toronto: 00:00 EDT (04:00 UTC) to 24:00 EST (05:00 UTC next day) is 25 hours.
    assert downtime_minutes_on(date(2026, 11, 1), TORONTO, [span(at(2026, 10, 31), at(2026, 11, 3))]) == 25 * 60
    assert downtime_minutes_on(date(2026, 3, 8), TORONTO, [span(at(2026, 3, 7), at(2026, 3, 10))]) == 23 * 60


def test_a_clock_time_that_does_not_exist_on_the_new_day_resolves_to_the_later_instant() -> None:
    # Cairo springs forward at 00:00 on Fri 2026-04-24. A 00:30 deadline on Thu 2026-04-23 whose last hour
    # was down moves to 00:30 on Friday, which does not exist: it is read at the old offset, 22:30 UTC,
    # i.e. 01:30 EEST — the later of the two readings.
    cairo = "Africa/Cairo"
    deadline = datetime(2026, 4, 22, 22, 30, tzinfo=UTC)  # Thu 2026-04-23 00:30 EET
    spans = [span(datetime(2026, 4, 22, 21, 45, tzinfo=UTC), datetime(2026, 4, 22, 22, 15, tzinfo=UTC))]
    decision = decided(deadline, spans, only(Rule.LAST_HOUR), zone=cairo)
    assert decision.new_deadline == datetime(2026, 4, 23, 22, 30, tzinfo=UTC)
    local = decision.new_deadline.astimezone(ZoneInfo(cairo))
    assert (local.day, local.hour, local.minute) == (24, 1, 30)


def test_a_clock_time_that_happens_twice_on_the_new_day_resolves_to_the_second() -> None:
    # Cairo falls back at 24:00 on Thu 2026-10-29: 23:00-24:00 happens twice. A 23:30 deadline on Wed
    # 2026-10-28 moves to the second 23:30 on Thursday (EET, UTC+2): 21:30 UTC, not 20:30 UTC.
    cairo = "Africa/Cairo"
    deadline = datetime(2026, 10, 28, 20, 30, tzinfo=UTC)  # Wed 23:30 EEST
    spans = [span(datetime(2026, 10, 28, 19, 45, tzinfo=UTC), datetime(2026, 10, 28, 20, 0, tzinfo=UTC))]
    decision = decided(deadline, spans, only(Rule.LAST_HOUR), zone=cairo)
    assert decision.new_deadline == datetime(2026, 10, 29, 21, 30, tzinfo=UTC)


def test_the_same_clock_time_after_the_autumn_change_keeps_the_local_time() -> None:
    # Fri 2026-10-30 17:00 EDT, last hour down → Mon 2026-11-02 17:00 EST (22:00 UTC), across the change.
    decision = decided(
        at(2026, 10, 30, 17, 0), [span(at(2026, 10, 30, 16, 30), at(2026, 10, 30, 16, 40))], only(Rule.LAST_HOUR)
    )
    assert decision.new_deadline == datetime(2026, 11, 2, 22, 0, tzinfo=UTC)


def test_a_long_outage_landing_on_the_spring_forward_sunday_moves_to_monday_at_the_same_clock_time() -> None:
    # Deadline Fri 2026-03-06 02:30 EST; 25 h down in the lookback → Sun 2026-03-08 02:30, which does not
    # exist and is no business day anyway: Mon 2026-03-09 02:30 EDT.
    deadline = at(2026, 3, 6, 2, 30)
    spans = [span(at(2026, 2, 25, 0, 0), at(2026, 2, 26, 1, 0))]
    decision = decided(deadline, spans, only(Rule.LONG_OUTAGE))
    assert decision.new_deadline == at(2026, 3, 9, 2, 30)
    assert decision.new_deadline == datetime(2026, 3, 9, 6, 30, tzinfo=UTC)


# --- Rule 3: a long outage in the lookback --------------------------------------------------------

LONG_DEADLINE = at(2026, 6, 8, 17, 0)  # Mon 2026-06-08


def test_25_hours_of_outage_in_14_days_moves_the_deadline_two_days_at_the_same_time() -> None:
    spans = [span(at(2026, 6, 1, 10, 0), at(2026, 6, 2, 11, 0))]
    decision = decided(LONG_DEADLINE, spans, only(Rule.LONG_OUTAGE))
    assert decision.new_deadline == at(2026, 6, 10, 17, 0)  # Wed
    assert decision.steps[0].detail == (
        "25 h of outage in the 14 days before the 17:00 deadline on Mon 2026-06-08 (America/Toronto) "
        "→ that day plus 2 days, Wed 2026-06-10 17:00"
    )


def test_exactly_24_hours_of_outage_moves_the_deadline_one_day() -> None:
    spans = [span(at(2026, 6, 1, 10, 0), at(2026, 6, 2, 10, 0))]
    assert decided(LONG_DEADLINE, spans, only(Rule.LONG_OUTAGE)).new_deadline == at(2026, 6, 9, 17, 0)


def test_one_second_less_than_24_hours_is_not_a_long_outage() -> None:
    spans = [span(at(2026, 6, 1, 10, 0), at(2026, 6, 2, 9, 59, 59))]
    assert decide(LONG_DEADLINE, TORONTO, spans, only(Rule.LONG_OUTAGE)) is None
    assert decide(LONG_DEADLINE, TORONTO, spans, POLICY) is None


def test_outages_in_the_lookback_add_up_and_overlaps_count_once() -> None:
    spans = [
        span(at(2026, 5, 26, 0, 0), at(2026, 5, 26, 13, 0), component="a", ref="outage:1"),
        span(at(2026, 5, 26, 12, 0), at(2026, 5, 26, 13, 0), component="b", ref="outage:2"),
        span(at(2026, 6, 3, 0, 0), at(2026, 6, 3, 12, 0), component="b", ref="outage:3"),
    ]
    decision = decided(LONG_DEADLINE, spans, only(Rule.LONG_OUTAGE))
    assert decision.new_deadline == at(2026, 6, 10, 17, 0)  # 25 h → 2 days
    assert decision.refs == ("outage:1", "outage:2", "outage:3")


def test_only_the_part_of_an_outage_inside_the_lookback_counts() -> None:
    # The lookback starts Mon 2026-05-25 17:00; an outage from 05-24 17:00 to 05-26 16:00 has 23 h inside it.
    spans = [span(at(2026, 5, 24, 17, 0), at(2026, 5, 26, 16, 0))]
    assert decide(LONG_DEADLINE, TORONTO, spans, only(Rule.LONG_OUTAGE)) is None
    longer = [span(at(2026, 5, 24, 17, 0), at(2026, 5, 26, 17, 0))]
    assert decided(LONG_DEADLINE, longer, only(Rule.LONG_OUTAGE)).new_deadline == at(2026, 6, 9, 17, 0)


def test_a_long_outage_landing_on_a_saturday_moves_to_monday() -> None:
    # Thu 2026-06-11 + 2 days = Sat 2026-06-13 → Mon 2026-06-15, same clock time.
    spans = [span(at(2026, 6, 2, 10, 0), at(2026, 6, 3, 11, 0))]
    decision = decided(at(2026, 6, 11, 17, 0), spans, only(Rule.LONG_OUTAGE))
    assert decision.new_deadline == at(2026, 6, 15, 17, 0)
    assert "Sat 2026-06-13 17:00; not an accessible business day, so Mon 2026-06-15 17:00" in decision.steps[0].detail


def test_a_long_outage_landing_on_an_inaccessible_day_moves_to_the_next_accessible_one() -> None:
    # Mon 2026-06-08 + 2 = Wed 2026-06-10, which was itself down two hours → Thu 2026-06-11.
    spans = [
        span(at(2026, 6, 1, 10, 0), at(2026, 6, 2, 11, 0), ref="outage:1"),
        span(at(2026, 6, 10, 9, 0), at(2026, 6, 10, 11, 0), ref="outage:2"),
    ]
    decision = decided(LONG_DEADLINE, spans, only(Rule.LONG_OUTAGE))
    assert decision.new_deadline == at(2026, 6, 11, 17, 0)
    assert decision.refs == ("outage:1", "outage:2")


def test_a_long_outage_counts_hours_as_configured() -> None:
    spans = [span(at(2026, 6, 1, 10, 0), at(2026, 6, 1, 22, 0))]  # 12 h
    assert decide(LONG_DEADLINE, TORONTO, spans, only(Rule.LONG_OUTAGE)) is None
    twelve = only(Rule.LONG_OUTAGE, long_outage_hours=12)
    assert decided(LONG_DEADLINE, spans, twelve).new_deadline == at(2026, 6, 9, 17, 0)
    # A shorter lookback no longer reaches it.
    assert decide(LONG_DEADLINE, TORONTO, spans, only(Rule.LONG_OUTAGE, long_outage_hours=12, lookback_days=3)) is None


# --- Rule 4: the grace after restoration ----------------------------------------------------------


def test_restoration_on_a_friday_gives_at_least_until_the_end_of_tuesday() -> None:
    # Fri 2026-06-05: down 16:00-17:30, deadline 17:00. Rules 1 and 2 give Monday; two business days after
    # Friday's restoration is Tue 2026-06-09, 23:59:59.
    decision = decided(at(2026, 6, 5, 17, 0), [span(at(2026, 6, 5, 16, 0), at(2026, 6, 5, 17, 30))])
    assert decision.rules == (Rule.DEADLINE_DAY, Rule.LAST_HOUR, Rule.GRACE)
    assert step(decision, Rule.DEADLINE_DAY).deadline == at(2026, 6, 8, 23, 59, 59)
    assert step(decision, Rule.LAST_HOUR).deadline == at(2026, 6, 8, 17, 0)
    assert step(decision, Rule.GRACE).deadline == at(2026, 6, 9, 23, 59, 59)
    assert decision.new_deadline == at(2026, 6, 9, 23, 59, 59)
    assert decision.restored_at == at(2026, 6, 5, 17, 30)
    assert step(decision, Rule.GRACE).detail == (
        "portal restored Fri 2026-06-05 17:30 (America/Toronto) → at least 2 business days after, "
        "Tue 2026-06-09, 23:59:59"
    )


def test_restoration_before_a_holiday_monday_gives_until_wednesday() -> None:
    # Fri 2026-05-15; Mon 2026-05-18 is Victoria Day: Tue, Wed → Wed 2026-05-20, 23:59:59.
    decision = decided(at(2026, 5, 15, 17, 0), [span(at(2026, 5, 15, 16, 0), at(2026, 5, 15, 17, 30))])
    assert decision.new_deadline == at(2026, 5, 20, 23, 59, 59)


def test_the_grace_counts_from_the_last_restoration_up_to_the_end_of_the_deadline_day() -> None:
    # Down 10:00-11:00 and again 20:00-22:00 on the deadline's day (after the deadline): restored at 22:00.
    spans = [
        span(at(2026, 6, 5, 10, 0), at(2026, 6, 5, 11, 0), ref="outage:1"),
        span(at(2026, 6, 5, 20, 0), at(2026, 6, 5, 22, 0), ref="outage:2"),
    ]
    decision = decided(at(2026, 6, 5, 17, 0), spans)
    assert decision.restored_at == at(2026, 6, 5, 22, 0)
    assert decision.refs == ("outage:1", "outage:2")
    # An outage starting the next day is not part of it.
    later = [*spans[:1], span(at(2026, 6, 6, 0, 0), at(2026, 6, 6, 2, 0), ref="outage:3")]
    assert decided(at(2026, 6, 5, 17, 0), later).restored_at == at(2026, 6, 5, 11, 0)


def test_a_restoration_days_after_the_deadline_pushes_the_grace_later() -> None:
    # Down from Thu 2026-06-04 09:00 to Mon 2026-06-08 12:00; deadline Fri 2026-06-05 17:00.
    decision = decided(at(2026, 6, 5, 17, 0), [span(at(2026, 6, 4, 9, 0), at(2026, 6, 8, 12, 0))])
    assert decision.restored_at == at(2026, 6, 8, 12, 0)
    assert step(decision, Rule.GRACE).deadline == at(2026, 6, 10, 23, 59, 59)  # Wed, two business days after Mon
    # Rules 1 and 2 find Mon and Tue inaccessible... Mon down 12 h, so Tue 2026-06-09 is the first accessible day.
    assert step(decision, Rule.DEADLINE_DAY).deadline == at(2026, 6, 9, 23, 59, 59)
    assert decision.new_deadline == at(2026, 6, 10, 23, 59, 59)


def test_the_grace_alone_never_gives_relief() -> None:
    # Down after the deadline on its own day: no rule among 1-3 applies, so neither does the grace.
    assert decide(at(2026, 6, 5, 17, 0), TORONTO, [span(at(2026, 6, 5, 17, 30), at(2026, 6, 5, 19, 0))], POLICY) is None


def test_the_legacy_grace_days_replace_the_business_day_grace() -> None:
    legacy = ReliefPolicy(grace_days=7)
    decision = decided(at(2026, 6, 5, 17, 0), [span(at(2026, 6, 5, 16, 0), at(2026, 6, 5, 17, 30))], legacy)
    assert decision.rules == (Rule.DEADLINE_DAY, Rule.LAST_HOUR, Rule.GRACE_DAYS)
    assert decision.new_deadline == at(2026, 6, 12, 23, 59, 59)  # Fri + 7 days
    assert step(decision, Rule.GRACE_DAYS).detail.endswith("→ at least 7 days after, Fri 2026-06-12, 23:59:59")


def test_the_legacy_grace_days_may_land_on_a_weekend() -> None:
    legacy = ReliefPolicy(grace_days=1)
    decision = decided(at(2026, 6, 5, 17, 0), [span(at(2026, 6, 5, 16, 0), at(2026, 6, 5, 17, 30))], legacy)
    assert step(decision, Rule.GRACE_DAYS).deadline == at(2026, 6, 6, 23, 59, 59)  # Saturday
    assert decision.new_deadline == at(2026, 6, 8, 23, 59, 59)  # rule 1 still gives Monday


def test_switching_the_grace_off_switches_the_legacy_grace_days_off_too() -> None:
    policy = only(Rule.DEADLINE_DAY, Rule.LAST_HOUR, grace_days=7)
    decision = decided(at(2026, 6, 5, 17, 0), [span(at(2026, 6, 5, 16, 0), at(2026, 6, 5, 17, 30))], policy)
    assert decision.rules == (Rule.DEADLINE_DAY, Rule.LAST_HOUR)
    assert decision.new_deadline == at(2026, 6, 8, 23, 59, 59)
    with_legacy_rule = only(Rule.DEADLINE_DAY, Rule.GRACE_DAYS, grace_days=7)
    assert decided(
        at(2026, 6, 5, 17, 0), [span(at(2026, 6, 5, 16, 0), at(2026, 6, 5, 17, 30))], with_legacy_rule
    ).rules == (
        Rule.DEADLINE_DAY,
        Rule.GRACE_DAYS,
    )


def test_the_grace_counts_business_days_as_configured() -> None:
    decision = decided(
        at(2026, 6, 5, 17, 0),
        [span(at(2026, 6, 5, 16, 0), at(2026, 6, 5, 17, 30))],
        ReliefPolicy(grace_business_days=5),
    )
    assert decision.new_deadline == at(2026, 6, 12, 23, 59, 59)  # Mon..Fri after


# --- Each rule can be switched off ----------------------------------------------------------------


def test_with_the_deadline_day_rule_off_an_hour_in_the_morning_gives_nothing() -> None:
    policy = only(Rule.LAST_HOUR, Rule.LONG_OUTAGE, Rule.GRACE, Rule.PAPER_FILING)
    assert decide(DEADLINE, TORONTO, [span(at(2026, 6, 9, 10, 0), at(2026, 6, 9, 11, 0))], policy) is None


def test_with_the_last_hour_rule_off_a_short_outage_before_the_deadline_gives_nothing() -> None:
    policy = only(Rule.DEADLINE_DAY, Rule.LONG_OUTAGE, Rule.GRACE)
    assert decide(DEADLINE, TORONTO, [span(at(2026, 6, 9, 16, 30), at(2026, 6, 9, 16, 45))], policy) is None


def test_with_the_long_outage_rule_off_a_long_outage_last_week_gives_nothing() -> None:
    policy = only(Rule.DEADLINE_DAY, Rule.LAST_HOUR, Rule.GRACE)
    assert decide(LONG_DEADLINE, TORONTO, [span(at(2026, 6, 1, 10, 0), at(2026, 6, 3, 10, 0))], policy) is None


def test_with_the_grace_off_the_deadline_day_rule_alone_decides() -> None:
    policy = only(Rule.DEADLINE_DAY, Rule.LAST_HOUR, Rule.LONG_OUTAGE)
    decision = decided(at(2026, 6, 5, 17, 0), [span(at(2026, 6, 5, 16, 0), at(2026, 6, 5, 17, 30))], policy)
    assert decision.new_deadline == at(2026, 6, 8, 23, 59, 59)
    assert Rule.GRACE not in decision.rules
    assert decision.restored_at == at(2026, 6, 5, 17, 30)  # still recorded


def test_with_every_deadline_rule_off_nothing_is_decided() -> None:
    huge = [span(at(2026, 6, 1), at(2026, 6, 9, 17, 0))]
    assert decide(DEADLINE, TORONTO, huge, only(Rule.GRACE, Rule.PAPER_FILING)) is None


def test_the_new_deadline_is_the_latest_any_applying_rule_gives() -> None:
    # 30 h down in the lookback, and the last hour down: rule 3 gives Mon + 2 = Wed 17:00, rule 2 Tue 17:00.
    spans = [
        span(at(2026, 6, 1, 0, 0), at(2026, 6, 2, 6, 0), ref="outage:1"),
        span(at(2026, 6, 8, 16, 30), at(2026, 6, 8, 16, 45), ref="outage:2"),
    ]
    decision = decided(LONG_DEADLINE, spans, only(Rule.LAST_HOUR, Rule.LONG_OUTAGE))
    assert decision.rules == (Rule.LAST_HOUR, Rule.LONG_OUTAGE)
    assert step(decision, Rule.LAST_HOUR).deadline == at(2026, 6, 9, 17, 0)
    assert decision.new_deadline == at(2026, 6, 10, 17, 0)


# --- Severity, maintenance, open outages ----------------------------------------------------------


def outage(
    start: datetime,
    end: datetime,
    *,
    ref: str = "outage:1",
    component: str = "pr-portal",
    severity: Severity = Severity.MAJOR_OUTAGE,
    is_open: bool = False,
) -> Downtime:
    return Downtime(ref, component, severity, start, end, is_open)


def test_degraded_performance_is_not_an_outage() -> None:
    degraded = [outage(at(2026, 6, 9, 10, 0), at(2026, 6, 9, 12, 0), severity=Severity.DEGRADED_PERFORMANCE)]
    assert counted_spans(degraded, [], POLICY) == []
    assert decide(DEADLINE, TORONTO, counted_spans(degraded, [], POLICY), POLICY) is None


def test_degraded_performance_counts_when_the_policy_says_so() -> None:
    policy = ReliefPolicy(counted_severities=frozenset(Severity))
    degraded = [outage(at(2026, 6, 9, 10, 0), at(2026, 6, 9, 12, 0), severity=Severity.DEGRADED_PERFORMANCE)]
    assert decided(DEADLINE, counted_spans(degraded, [], policy), policy).rules[0] == Rule.DEADLINE_DAY


def test_a_partial_outage_counts() -> None:
    partial = [outage(at(2026, 6, 9, 10, 0), at(2026, 6, 9, 12, 0), severity=Severity.PARTIAL_OUTAGE)]
    assert len(counted_spans(partial, [], POLICY)) == 1


def maintenance(start: datetime, end: datetime, notice: timedelta, ref: str = "maintenance:3") -> MaintenanceWindow:
    return MaintenanceWindow(ref, frozenset({"pr-portal"}), start, end, start - notice)


def test_maintenance_announced_48_hours_ahead_is_not_an_outage() -> None:
    window = maintenance(at(2026, 6, 9, 9, 0), at(2026, 6, 9, 12, 0), timedelta(hours=48))
    during = [outage(at(2026, 6, 9, 9, 0), at(2026, 6, 9, 12, 0))]
    assert counted_spans(during, [window], POLICY) == []
    assert counted_spans([], [window], POLICY) == []


def test_maintenance_announced_only_47_hours_ahead_counts_as_an_outage_over_its_whole_window() -> None:
    window = maintenance(at(2026, 6, 9, 9, 0), at(2026, 6, 9, 12, 0), timedelta(hours=47))
    spans = counted_spans([], [window], POLICY)
    assert spans == [
        Span("pr-portal", at(2026, 6, 9, 9, 0), at(2026, 6, 9, 12, 0), False, frozenset({"maintenance:3"}))
    ]
    decision = decided(DEADLINE, spans, only(Rule.DEADLINE_DAY))
    assert decision.refs == ("maintenance:3",)


def test_an_outage_partly_inside_announced_maintenance_counts_only_outside_it() -> None:
    # Down 09:00-11:00; maintenance announced in time 10:00-12:00: one hour counts, 09:00-10:00.
    window = maintenance(at(2026, 6, 9, 10, 0), at(2026, 6, 9, 12, 0), timedelta(days=3))
    spans = counted_spans([outage(at(2026, 6, 9, 9, 0), at(2026, 6, 9, 11, 0))], [window], POLICY)
    assert [(s.start, s.end) for s in spans] == [(at(2026, 6, 9, 9, 0), at(2026, 6, 9, 10, 0))]
    assert decided(DEADLINE, spans, only(Rule.DEADLINE_DAY)).refs == ("outage:1",)


def test_announced_maintenance_in_the_middle_of_an_outage_splits_it() -> None:
    window = maintenance(at(2026, 6, 9, 10, 0), at(2026, 6, 9, 11, 0), timedelta(days=3))
    spans = counted_spans([outage(at(2026, 6, 9, 9, 0), at(2026, 6, 9, 12, 0), is_open=True)], [window], POLICY)
    assert [(s.start, s.end, s.open) for s in spans] == [
        (at(2026, 6, 9, 9, 0), at(2026, 6, 9, 10, 0), True),
        (at(2026, 6, 9, 11, 0), at(2026, 6, 9, 12, 0), True),
    ]


def test_maintenance_of_another_component_does_not_excuse_this_one() -> None:
    window = MaintenanceWindow(
        "maintenance:3", frozenset({"employer-portal"}), at(2026, 6, 9, 9, 0), at(2026, 6, 9, 12, 0), at(2026, 6, 1)
    )
    spans = counted_spans([outage(at(2026, 6, 9, 9, 0), at(2026, 6, 9, 11, 0))], [window], POLICY)
    assert [(s.component_id, s.start, s.end) for s in spans] == [
        ("pr-portal", at(2026, 6, 9, 9, 0), at(2026, 6, 9, 11, 0))
    ]


def test_late_maintenance_is_downtime_of_each_of_its_components() -> None:
    window = MaintenanceWindow(
        "maintenance:3", frozenset({"a", "b"}), at(2026, 6, 9, 9, 0), at(2026, 6, 9, 10, 0), at(2026, 6, 9, 8, 0)
    )
    assert [s.component_id for s in counted_spans([], [window], POLICY)] == ["a", "b"]


def test_the_notice_period_is_configurable() -> None:
    window = maintenance(at(2026, 6, 9, 9, 0), at(2026, 6, 9, 12, 0), timedelta(hours=24))
    assert counted_spans([], [window], POLICY) != []
    assert counted_spans([], [window], ReliefPolicy(maintenance_notice_hours=24)) == []


def test_overlapping_and_touching_outages_of_a_component_merge_into_one_span() -> None:
    spans = counted_spans(
        [
            outage(at(2026, 6, 9, 9, 0), at(2026, 6, 9, 10, 0), ref="outage:1"),
            outage(at(2026, 6, 9, 10, 0), at(2026, 6, 9, 11, 0), ref="outage:2", is_open=True),  # touching
            outage(at(2026, 6, 9, 10, 30), at(2026, 6, 9, 10, 45), ref="outage:3"),  # inside
            outage(at(2026, 6, 9, 13, 0), at(2026, 6, 9, 14, 0), ref="outage:4"),
            outage(at(2026, 6, 9, 9, 30), at(2026, 6, 9, 9, 45), ref="outage:5", component="a-first"),
        ],
        [],
        POLICY,
    )
    assert spans == [
        Span("a-first", at(2026, 6, 9, 9, 30), at(2026, 6, 9, 9, 45), False, frozenset({"outage:5"})),
        Span(
            "pr-portal",
            at(2026, 6, 9, 9, 0),
            at(2026, 6, 9, 11, 0),
            True,
            frozenset({"outage:1", "outage:2", "outage:3"}),
        ),
        Span("pr-portal", at(2026, 6, 9, 13, 0), at(2026, 6, 9, 14, 0), False, frozenset({"outage:4"})),
    ]


def test_an_outage_whose_end_was_recorded_before_its_start_is_an_instant() -> None:
    (only_span,) = counted_spans([outage(at(2026, 6, 9, 10, 0), at(2026, 6, 9, 9, 0))], [], POLICY)
    assert only_span.start == only_span.end == at(2026, 6, 9, 10, 0)


def test_times_without_a_zone_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        counted_spans([outage(datetime(2026, 6, 9, 10, 0), at(2026, 6, 9, 11, 0))], [], POLICY)
    with pytest.raises(ValueError, match="aware"):
        decide(datetime(2026, 6, 9, 17, 0), TORONTO, [], POLICY)


def test_a_decision_resting_on_an_open_outage_is_provisional() -> None:
    spans = [span(at(2026, 6, 9, 10, 0), at(2026, 6, 9, 11, 0), is_open=True)]
    decision = decided(DEADLINE, spans)
    assert not decision.final
    assert decision.status == GrantStatus.PROVISIONAL
    assert decision.restored_at is None
    assert "outage still going on at Tue 2026-06-09 11:00 (America/Toronto) so far" in step(decision, Rule.GRACE).detail


def test_an_open_outage_on_the_day_chosen_makes_the_decision_provisional() -> None:
    # Relief rests on Tuesday's closed outage; Wednesday, the day chosen, has an open outage of 20 minutes so
    # far. If it goes on, Wednesday stops being accessible: the decision may still move.
    spans = [
        span(at(2026, 6, 9, 10, 0), at(2026, 6, 9, 11, 0), ref="outage:1"),
        span(at(2026, 6, 10, 9, 0), at(2026, 6, 10, 9, 20), ref="outage:2", is_open=True),
    ]
    decision = decided(DEADLINE, spans, only(Rule.DEADLINE_DAY))
    assert decision.new_deadline == at(2026, 6, 10, 23, 59, 59)
    assert decision.refs == ("outage:1", "outage:2")
    assert not decision.final


def test_an_old_outage_outside_the_lookback_is_not_cited() -> None:
    spans = [
        span(at(2026, 5, 1, 10, 0), at(2026, 5, 1, 11, 0), ref="outage:1", is_open=True),
        span(at(2026, 6, 9, 10, 0), at(2026, 6, 9, 11, 0), ref="outage:2"),
    ]
    decision = decided(DEADLINE, spans)
    assert decision.refs == ("outage:2",)
    assert decision.final


def test_nothing_near_the_deadline_gives_nothing() -> None:
    spans = [span(at(2026, 5, 1, 10, 0), at(2026, 5, 3, 11, 0)), span(at(2026, 6, 10, 10, 0), at(2026, 6, 12, 11, 0))]
    assert decide(DEADLINE, TORONTO, spans, POLICY) is None
    assert decide(DEADLINE, TORONTO, [], POLICY) is None


def test_the_same_list_decided_again_after_a_new_list_gives_the_right_answer() -> None:
    # Deciding many deadlines against one list reuses work; a different list must never get the old answer.
    first = [span(at(2026, 6, 9, 10, 0), at(2026, 6, 9, 11, 0))]
    second = [span(at(2026, 6, 9, 10, 0), at(2026, 6, 9, 10, 30))]
    assert decide(DEADLINE, TORONTO, first, only(Rule.DEADLINE_DAY)) is not None
    assert decide(DEADLINE, TORONTO, second, only(Rule.DEADLINE_DAY)) is None
    assert decide(DEADLINE, TORONTO, first, only(Rule.DEADLINE_DAY)) is not None


# --- The helpers the engine and the letters reuse -------------------------------------------------


def test_the_first_accessible_business_day_is_strictly_after_the_day_given() -> None:
    assert first_accessible_business_day(date(2026, 6, 8), TORONTO, [], POLICY) == date(2026, 6, 9)
    assert first_accessible_business_day(date(2026, 6, 5), TORONTO, [], POLICY) == date(2026, 6, 8)
    down_tuesday = [span(at(2026, 6, 9, 8, 0), at(2026, 6, 9, 9, 0))]
    assert first_accessible_business_day(date(2026, 6, 8), TORONTO, down_tuesday, POLICY) == date(2026, 6, 10)
    lenient = ReliefPolicy(min_minutes=61)
    assert first_accessible_business_day(date(2026, 6, 8), TORONTO, down_tuesday, lenient) == date(2026, 6, 9)


def test_downtime_minutes_are_counted_within_the_local_day() -> None:
    spans = [span(at(2026, 6, 8, 23, 0), at(2026, 6, 9, 0, 30)), span(at(2026, 6, 9, 23, 45), at(2026, 6, 10, 1, 0))]
    assert downtime_minutes_on(date(2026, 6, 9), TORONTO, spans) == 45
    # In UTC the same outages are 03:00-04:30 on the 9th and 03:45-05:00 on the 10th.
    assert downtime_minutes_on(date(2026, 6, 9), "UTC", spans) == 90


def test_a_policy_with_no_threshold_is_refused() -> None:
    with pytest.raises(ValueError, match="min_minutes"):
        ReliefPolicy(min_minutes=0)
    with pytest.raises(ValueError, match="grace_days"):
        ReliefPolicy(grace_days=-1)


def test_the_default_policy_is_the_published_one() -> None:
    assert POLICY.min_minutes == 60
    assert POLICY.long_outage_hours == 24
    assert POLICY.lookback_days == 14
    assert POLICY.grace_business_days == 2
    assert POLICY.grace_days is None
    assert POLICY.paper_after_hours == 4
    assert POLICY.maintenance_notice_hours == 48
    assert POLICY.counted_severities == {Severity.PARTIAL_OUTAGE, Severity.MAJOR_OUTAGE}
    assert POLICY.rules == {Rule.DEADLINE_DAY, Rule.LAST_HOUR, Rule.LONG_OUTAGE, Rule.GRACE, Rule.PAPER_FILING}
    assert POLICY.calendar == CalendarSpec("CA", None, ("public", "government"))
