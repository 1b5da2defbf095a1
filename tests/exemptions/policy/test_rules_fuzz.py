"""Properties every relief decision keeps, whatever the outages: checked on generated cases.

- Relief only ever moves a deadline later.
- More downtime never gives an earlier new deadline.
- Without the grace, the new deadline falls on an accessible business day.
- Counted spans of a component are sorted and apart, and never count more time than was recorded.
"""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from exemptions.policy import (
    Downtime,
    MaintenanceWindow,
    ReliefPolicy,
    Rule,
    Span,
    business_calendar,
    counted_spans,
    decide,
    downtime_minutes_on,
)
from exemptions.policy.calendar import deadline_day
from monitor.storage.enums import Severity

ZONES = ["America/Toronto", "America/Vancouver", "America/St_Johns", "Asia/Karachi", "Africa/Cairo", "UTC"]
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
COMPONENTS = ["pr-portal", "employer-portal"]
EXAMPLES = settings(max_examples=150, deadline=None)

instants = st.integers(min_value=0, max_value=365 * 24 * 60).map(
    lambda minutes: YEAR_START + timedelta(minutes=minutes)
)
# Most outages are minutes to hours long; some last days.
durations = st.one_of(st.integers(min_value=0, max_value=180), st.integers(min_value=0, max_value=4 * 24 * 60)).map(
    lambda minutes: timedelta(minutes=minutes)
)


@st.composite
def downtime(draw: st.DrawFn, ref: int) -> Downtime:
    start = draw(instants)
    return Downtime(
        f"outage:{ref}",
        draw(st.sampled_from(COMPONENTS)),
        draw(st.sampled_from(list(Severity))),
        start,
        start + draw(durations),
        draw(st.booleans()),
    )


@st.composite
def near_deadline(draw: st.DrawFn) -> tuple[datetime, list[Downtime]]:
    """A deadline and outages around it (most within three weeks before, some after)."""
    deadline = draw(instants)
    count = draw(st.integers(min_value=0, max_value=8))
    outages = []
    for ref in range(count):
        start = deadline + timedelta(minutes=draw(st.integers(min_value=-21 * 24 * 60, max_value=5 * 24 * 60)))
        outages.append(
            Downtime(
                f"outage:{ref}",
                draw(st.sampled_from(COMPONENTS)),
                draw(st.sampled_from(list(Severity))),
                start,
                start + draw(durations),
                draw(st.booleans()),
            )
        )
    return deadline, outages


policies = st.builds(
    ReliefPolicy,
    min_minutes=st.sampled_from([1, 30, 60, 240]),
    long_outage_hours=st.sampled_from([1, 12, 24, 48]),
    lookback_days=st.sampled_from([0, 1, 14]),
    grace_business_days=st.sampled_from([0, 2, 5]),
    grace_days=st.sampled_from([None, None, 0, 7]),
    rules=st.frozensets(st.sampled_from(list(Rule))),
)


@EXAMPLES
@given(case=near_deadline(), zone=st.sampled_from(ZONES), policy=policies)
def test_relief_only_ever_moves_a_deadline_later(
    case: tuple[datetime, list[Downtime]], zone: str, policy: ReliefPolicy
) -> None:
    deadline, outages = case
    decision = decide(deadline, zone, counted_spans(outages, [], policy), policy)
    if decision is not None:
        assert decision.new_deadline > deadline
        assert decision.new_deadline == max(step.deadline for step in decision.steps)
        assert decision.new_deadline.utcoffset() == timedelta(0)
        assert set(decision.refs) <= {outage.ref for outage in outages}
        assert list(decision.refs) == sorted(set(decision.refs))
        assert decision.rules == tuple(step.rule for step in decision.steps)
        assert set(decision.rules) & {Rule.DEADLINE_DAY, Rule.LAST_HOUR, Rule.LONG_OUTAGE}


@EXAMPLES
@given(
    case=near_deadline(),
    more=st.lists(st.tuples(st.integers(-21 * 24 * 60, 5 * 24 * 60), durations), max_size=3),
    zone=st.sampled_from(ZONES),
    policy=policies,
)
def test_more_downtime_never_gives_an_earlier_deadline(
    case: tuple[datetime, list[Downtime]], more: list[tuple[int, timedelta]], zone: str, policy: ReliefPolicy
) -> None:
    deadline, outages = case
    extra = [
        Downtime(
            f"outage:extra{n}",
            COMPONENTS[n % 2],
            Severity.MAJOR_OUTAGE,
            deadline + timedelta(minutes=offset),
            deadline + timedelta(minutes=offset) + length,
            False,
        )
        for n, (offset, length) in enumerate(more)
    ]
    before = decide(deadline, zone, counted_spans(outages, [], policy), policy)
    after = decide(deadline, zone, counted_spans(outages + extra, [], policy), policy)
    before_deadline = deadline if before is None else before.new_deadline
    after_deadline = deadline if after is None else after.new_deadline
    assert after_deadline >= before_deadline


@EXAMPLES
@given(case=near_deadline(), zone=st.sampled_from(ZONES), min_minutes=st.sampled_from([30, 60, 120]))
def test_without_the_grace_relief_lands_on_an_accessible_business_day(
    case: tuple[datetime, list[Downtime]], zone: str, min_minutes: int
) -> None:
    policy = ReliefPolicy(
        min_minutes=min_minutes, rules=frozenset({Rule.DEADLINE_DAY, Rule.LAST_HOUR, Rule.LONG_OUTAGE})
    )
    deadline, outages = case
    spans = counted_spans(outages, [], policy)
    decision = decide(deadline, zone, spans, policy)
    if decision is not None:
        # A new deadline at 24:00 belongs to the day before, like any deadline.
        day = deadline_day(decision.new_deadline, zone)
        assert business_calendar(policy.calendar).is_business_day(day)
        assert downtime_minutes_on(day, zone, spans) < min_minutes


@EXAMPLES
@given(
    outages=st.lists(st.integers(0, 10_000).flatmap(downtime), max_size=10),
    maintenance=st.lists(
        st.tuples(instants, durations, st.integers(0, 96), st.sets(st.sampled_from(COMPONENTS), min_size=1)),
        max_size=3,
    ),
)
def test_counted_spans_are_sorted_apart_and_never_longer_than_what_was_recorded(
    outages: list[Downtime], maintenance: list[tuple[datetime, timedelta, int, set[str]]]
) -> None:
    windows = [
        MaintenanceWindow(
            f"maintenance:{n}", frozenset(components), start, start + length, start - timedelta(hours=notice)
        )
        for n, (start, length, notice, components) in enumerate(maintenance)
    ]
    policy = ReliefPolicy()
    spans = counted_spans(outages, windows, policy)
    assert spans == sorted(spans, key=lambda s: (s.component_id, s.start))
    for before, after in itertools.pairwise(spans):
        if before.component_id == after.component_id:
            assert before.end < after.start  # merged: neither overlapping nor touching
    late = [w for w in windows if w.announced_at > w.start - timedelta(hours=policy.maintenance_notice_hours)]
    for component in COMPONENTS:
        counted = sum((s.end - s.start for s in spans if s.component_id == component), timedelta(0))
        recorded = sum(
            (
                o.end - o.start
                for o in outages
                if o.component_id == component and o.severity in policy.counted_severities and o.end > o.start
            ),
            timedelta(0),
        ) + sum((w.end - w.start for w in late if component in w.component_ids), timedelta(0))
        assert counted <= recorded
        assert all(s.end >= s.start for s in spans)
        assert all(isinstance(s, Span) and s.start.utcoffset() == timedelta(0) for s in spans)


@EXAMPLES
@given(case=near_deadline(), zone=st.sampled_from(ZONES), policy=policies, seed=st.randoms(use_true_random=False))
def test_the_order_the_spans_come_in_never_changes_the_decision(
    case: tuple[datetime, list[Downtime]], zone: str, policy: ReliefPolicy, seed: random.Random
) -> None:
    deadline, outages = case
    spans = counted_spans(outages, [], policy)
    shuffled = list(spans)
    seed.shuffle(shuffled)
    assert decide(deadline, zone, spans, policy) == decide(deadline, zone, shuffled, policy)
