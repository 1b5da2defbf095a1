"""The relief rules: which outages count for a case, and the deadline they move it to.

Two steps, both pure. `counted_spans` turns what storage recorded (outages, maintenance) into each
component's counted downtime: severities the policy ignores dropped, maintenance announced in time
taken out, maintenance announced late counted like an outage, overlapping pieces merged. `decide`
then reads one deadline against the downtime of the components a case depends on, taken as a union,
so two components down at the same time are never counted twice.

The rules (each can be switched off; the new deadline is the latest that any applying rule gives):

1. deadline_day: `min_minutes` of outage between the start of the deadline's local day and the
   deadline → 23:59:59 on the first accessible business day after that day.
2. last_hour: any outage inside the open hour (D − 1 h, D) → the deadline's clock time on the first
   accessible business day after the deadline's day.
3. long_outage: `long_outage_hours` of outage in [D − lookback, D] → the deadline's day plus that
   total rounded up to whole days, same clock time, moved to the first accessible business day.
4. grace: when 1–3 gave anything, at least 23:59:59 on the `grace_business_days`-th business day
   after the local day the portal was restored (legacy `grace_days`: calendar days instead).

Hazards:

- A deadline belongs to the local day of its last instant before: 00:00 is the end of the day
  before, and "the same clock time" for it is 24:00 (see calendar.deadline_clock).
- Local wall-clock times that do not exist or exist twice resolve to the later instant.
- `decide` runs once per (deadline, zone, component set), tens of thousands of times per run. The
  union of the spans is built once per spans list and reused (see `_union_of_sequence`); the common
  cases, nothing near the deadline or too little for any rule, are answered with a few bisections
  on it before any time-zone arithmetic. Measured on the project's 2-core machine while it was busy
  with other work: about 2.5 µs per call with nothing near the deadline; 30,000 deadlines all inside
  one 6-hour outage, every one decided, 0.7 s in all (about 24 µs each).
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from operator import attrgetter

from exemptions.policy.calendar import (
    BusinessCalendar,
    as_utc,
    business_calendar,
    day_end,
    day_start,
    deadline_clock,
    deadline_day,
    end_of_day,
    format_clock,
    format_day,
    local_day,
    same_clock_on,
    zone,
)
from exemptions.policy.model import CalendarSpec, Decision, Downtime, MaintenanceWindow, ReliefPolicy, Rule, Span, Step
from monitor.storage.enums import Severity

_END = attrgetter("end")
_START = attrgetter("start")
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)
_ZERO = timedelta(0)
# The deadline's own day starts at most ~25 h before it (a DST day); the quick "anything near?" test
# looks at least this far back so that it never skips a deadline-day outage.
_REACH = timedelta(days=2)
_TRIGGERS = frozenset({Rule.DEADLINE_DAY, Rule.LAST_HOUR, Rule.LONG_OUTAGE})
_MAX_NOTES = 6
# A calendar with no business day in a whole year is a configuration error, not a reason to loop forever.
_MAX_IDLE_DAYS = 366


# --- counted downtime -----------------------------------------------------------------------------

_Raw = tuple[datetime, datetime, bool, str]  # start, end, open, ref


def counted_spans(
    downtimes: Iterable[Downtime], maintenance: Iterable[MaintenanceWindow], policy: ReliefPolicy
) -> list[Span]:
    """Each component's counted downtime, merged, sorted by (component_id, start); times in UTC.

    Maintenance announced at least `maintenance_notice_hours` before it started is taken out of the
    same component's downtime (people were told to file before it). Maintenance announced later is
    downtime of each of its components, as a major outage over its whole window.
    """
    notice = timedelta(hours=policy.maintenance_notice_hours)
    counted = policy.counted_severities
    raw: defaultdict[str, list[_Raw]] = defaultdict(list)
    announced: defaultdict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for window in maintenance:
        start = as_utc(window.start, f"{window.ref} start")
        end = max(as_utc(window.end, f"{window.ref} end"), start)
        if as_utc(window.announced_at, f"{window.ref} announced_at") <= start - notice:
            for component_id in window.component_ids:
                announced[component_id].append((start, end))
        elif Severity.MAJOR_OUTAGE in counted:
            for component_id in window.component_ids:
                raw[component_id].append((start, end, False, window.ref))
    for downtime in downtimes:
        if downtime.severity not in counted:
            continue
        start = as_utc(downtime.start, f"{downtime.ref} start")
        # max(): a clock that stepped back must not leave an inverted interval.
        end = max(as_utc(downtime.end, f"{downtime.ref} end"), start)
        raw[downtime.component_id].append((start, end, downtime.open, downtime.ref))

    spans: list[Span] = []
    for component_id in sorted(raw):
        cuts = _merged(announced.get(component_id, []))
        pieces = [piece for item in raw[component_id] for piece in _subtract(item, cuts)]
        pieces.sort(key=lambda piece: (piece[0], piece[1]))
        spans.extend(_merge_component(component_id, pieces))
    return spans


def _merged(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _subtract(item: _Raw, cuts: list[tuple[datetime, datetime]]) -> Iterator[_Raw]:
    """The parts of `item` outside the sorted, disjoint `cuts`; an open item stays open in every part."""
    start, end, is_open, ref = item
    if start == end:
        # An instant (an outage that has only just begun) inside announced maintenance is nothing.
        if not any(cut_start <= start <= cut_end for cut_start, cut_end in cuts):
            yield item
        return
    cursor = start
    for cut_start, cut_end in cuts:
        if cut_end <= cursor:
            continue
        if cut_start >= end:
            break
        if cut_start > cursor:
            yield (cursor, cut_start, is_open, ref)
        cursor = cut_end
        if cursor >= end:
            return
    yield (cursor, end, is_open, ref)


def _merge_component(component_id: str, pieces: list[_Raw]) -> Iterator[Span]:
    if not pieces:
        return
    start, end, is_open, ref = pieces[0]
    refs = {ref}
    for next_start, next_end, next_open, next_ref in pieces[1:]:
        if next_start <= end:  # overlapping or touching: one outage as far as anyone filing could tell
            end = max(end, next_end)
            is_open = is_open or next_open
            refs.add(next_ref)
        else:
            yield Span(component_id, start, end, is_open, frozenset(refs))
            start, end, is_open, refs = next_start, next_end, next_open, {next_ref}
    yield Span(component_id, start, end, is_open, frozenset(refs))


# --- the union of a case's downtime ----------------------------------------------------------------


@dataclass(slots=True)
class Piece:
    """One stretch of the union: the spans (of any of the components) that overlap or touch, end to end."""

    start: datetime
    end: datetime
    members: list[Span]

    @property
    def open(self) -> bool:
        return any(member.open for member in self.members)


class DowntimeUnion:
    """The union of some spans as sorted, disjoint pieces: downtime counted once, whichever component had it.

    Its downtime never changes once built; `decide` shares one per spans sequence across calls (see
    `_union_of_sequence`).
    """

    __slots__ = ("before", "ends", "pieces", "searches", "starts")

    def __init__(self, spans: Iterable[Span]) -> None:
        pieces: list[Piece] = []
        for span in sorted(spans, key=_START):
            if pieces and span.start <= pieces[-1].end:
                last = pieces[-1]
                last.members.append(span)
                if span.end > last.end:
                    last.end = span.end
            else:
                pieces.append(Piece(span.start, span.end, [span]))
        self.pieces = pieces
        self.starts = [piece.start for piece in pieces]
        # First accessible business days found so far, by (first day, zone, calendar, threshold): they
        # depend only on this downtime, so every decision against it may reuse them.
        self.searches: dict[tuple[date, str, BusinessCalendar, timedelta], AccessibleDay] = {}
        self.ends = [piece.end for piece in pieces]  # sorted too, since the pieces are disjoint
        # Downtime before each piece, so a total over any window is two bisections, not a walk.
        self.before = [_ZERO]
        for piece in pieces:
            self.before.append(self.before[-1] + (piece.end - piece.start))

    def any_within(self, after: datetime, before: datetime) -> bool:
        """Whether some downtime lies in the open interval (after, before): one bisection."""
        index = bisect_right(self.ends, after)
        return index < len(self.pieces) and self.pieces[index].start < before

    def total(self, start: datetime, end: datetime) -> timedelta:
        """Downtime within [start, end]."""
        first = bisect_right(self.ends, start)
        stop = bisect_left(self.starts, end)
        if first >= stop:
            return _ZERO
        total = self.before[stop] - self.before[first]
        # Trim the parts of the first and last pieces outside the window (both, when it is one piece).
        if self.starts[first] < start:
            total -= start - self.starts[first]
        if self.ends[stop - 1] > end:
            total -= self.ends[stop - 1] - end
        return total

    def members(self, start: datetime, end: datetime) -> list[Span]:
        """The spans with some downtime within [start, end] (or an instant strictly inside it)."""
        found: list[Span] = []
        for index in range(bisect_right(self.ends, start), bisect_left(self.starts, end)):
            found.extend(member for member in self.pieces[index].members if member.start < end and member.end > start)
        return found

    def last_overlapping(self, after: datetime, before: datetime) -> Piece | None:
        """The latest piece with some downtime in the open interval (after, before), if any."""
        stop = bisect_left(self.starts, before)
        if stop and self.ends[stop - 1] > after:
            return self.pieces[stop - 1]
        return None

    def open_between(self, after: datetime, before: datetime) -> list[Span]:
        """Open spans that reach `after` (their end so far is at or past it) and start before `before`."""
        out: list[Span] = []
        for piece in self.pieces[bisect_left(self.ends, after) :]:  # a piece ending exactly at `after` counts
            if piece.start >= before:
                break
            out.extend(member for member in piece.members if member.open and member.end >= after)
        return out


def union_of(spans: Iterable[Span]) -> DowntimeUnion:
    return DowntimeUnion(spans)


# The engine decides thousands of deadlines against the same few span lists (one per set of
# components). Building the union is O(n log n); doing it once per list, not once per deadline, is what
# keeps a run fast. Keyed by the sequence's identity, and the cached entry holds the sequence itself, so
# its id cannot be reused by another object while cached; its length and end elements are compared too.
# Changing a list in place and deciding with it again is not supported.
_UNIONS: dict[int, tuple[Sequence[Span], int, Span | None, Span | None, DowntimeUnion]] = {}
_UNIONS_LOCK = threading.Lock()
_UNIONS_KEPT = 64


def _union_of_sequence(spans: Sequence[Span]) -> DowntimeUnion:
    count = len(spans)
    first = spans[0] if count else None
    last = spans[-1] if count else None
    entry = _UNIONS.get(id(spans))
    if entry is not None and entry[0] is spans and entry[1] == count and entry[2] is first and entry[3] is last:
        return entry[4]
    union = DowntimeUnion(spans)
    with _UNIONS_LOCK:
        if len(_UNIONS) >= _UNIONS_KEPT:
            del _UNIONS[next(iter(_UNIONS))]  # the oldest: dicts keep insertion order
        _UNIONS[id(spans)] = (spans, count, first, last, union)
    return union


# --- accessible business days -----------------------------------------------------------------------


@dataclass(frozen=True)
class AccessibleDay:
    day: date
    notes: tuple[str, ...]  # the weekdays passed over and why, for the explanation
    rested: tuple[Span, ...] = field(default=())  # spans that made a day inaccessible

    @property
    def passed_over(self) -> str:
        if not self.notes:
            return ""
        shown = ", ".join(self.notes[:_MAX_NOTES])
        more = len(self.notes) - _MAX_NOTES
        return f"; passed over {shown}{f' and {more} more' if more > 0 else ''}"


def search_accessible_day(
    first: date, zone_name: str, downtime: DowntimeUnion, calendar: BusinessCalendar, threshold: timedelta
) -> AccessibleDay:
    """The first business day on or after `first` with less than `threshold` of downtime in it."""
    day = first
    notes: list[str] = []
    rested: list[Span] = []
    idle = 0
    while True:
        if calendar.is_business_day(day):
            idle = 0
            start, end = day_start(day, zone_name), day_end(day, zone_name)
            total = downtime.total(start, end)
            if total < threshold:
                return AccessibleDay(day, tuple(notes), tuple(rested))
            notes.append(f"{format_day(day)} ({_minutes(total)} of outage)")
            rested.extend(downtime.members(start, end))
        else:
            idle += 1
            if idle > _MAX_IDLE_DAYS:
                raise ValueError(f"the holiday calendar has no business day in the year after {first.isoformat()}")
            name = calendar.holiday_name(day)
            if name is not None and day.weekday() < 5:
                notes.append(f"{format_day(day)} ({name})")
        day += _DAY


def first_accessible_business_day(after: date, time_zone: str, spans: Iterable[Span], policy: ReliefPolicy) -> date:
    """The first business day strictly after `after` on which the union of `spans` is down less than `min_minutes`."""
    calendar = business_calendar(policy.calendar)
    zone(time_zone)
    threshold = timedelta(minutes=policy.min_minutes)
    return search_accessible_day(after + _DAY, time_zone, union_of(spans), calendar, threshold).day


def downtime_minutes_on(day: date, time_zone: str, spans: Iterable[Span]) -> float:
    """Minutes of downtime (union of `spans`, overlaps counted once) within local `day` in `time_zone`."""
    return union_of(spans).total(day_start(day, time_zone), day_end(day, time_zone)) / timedelta(minutes=1)


# --- the decision -------------------------------------------------------------------------------------


def decide(deadline: datetime, time_zone: str, spans: Sequence[Span], policy: ReliefPolicy) -> Decision | None:
    """The relief a deadline gets from the downtime of the components a case depends on; None when none.

    `spans`: the counted spans of those components (from `counted_spans`), in any order. Their union
    is built once per sequence and reused while the same, unchanged sequence is passed again, so pass
    one list per component set, not a fresh list per deadline.
    """
    rules = policy.rules
    if not rules & _TRIGGERS:
        return None
    limit = as_utc(deadline, "deadline")
    lookback = timedelta(days=policy.lookback_days)
    threshold = timedelta(minutes=policy.min_minutes)
    downtime = _union_of_sequence(spans)
    # The common cases, answered with a few bisections before any time-zone arithmetic: nothing near
    # the deadline; or something, but none of the rules can apply. The deadline's own day starts
    # within _REACH before it, so less than `threshold` there rules out the deadline-day rule.
    if not downtime.any_within(limit - max(lookback, _REACH), limit):
        return None
    deadline_day_possible = Rule.DEADLINE_DAY in rules and downtime.total(limit - _REACH, limit) >= threshold
    last_hour = Rule.LAST_HOUR in rules and downtime.any_within(limit - _HOUR, limit)
    long_total = downtime.total(limit - lookback, limit) if Rule.LONG_OUTAGE in rules else _ZERO
    long_outage = Rule.LONG_OUTAGE in rules and long_total >= timedelta(hours=policy.long_outage_hours)
    if not (deadline_day_possible or last_hour or long_outage):
        return None

    calendar = business_calendar(policy.calendar)
    zone(time_zone)
    day = deadline_day(limit, time_zone)
    clock = deadline_clock(limit, time_zone)
    shown_clock = format_clock(clock)
    start_of_day = day_start(day, time_zone)
    # Everything the rules and the grace read starts here (the lookback, normally).
    since = min(limit - lookback, start_of_day, limit - _HOUR)

    def search(first: date) -> AccessibleDay:
        # Memoised on the shared union: deadlines of one local day and zone all search the same days.
        key = (first, time_zone, calendar, threshold)
        found = downtime.searches.get(key)
        if found is None:
            found = downtime.searches[key] = search_accessible_day(first, time_zone, downtime, calendar, threshold)
        return found

    steps: list[Step] = []
    rested: list[Span] = []
    latest_day = day

    if deadline_day_possible:
        total = downtime.total(start_of_day, limit)
        if total >= threshold:
            found = search(day + _DAY)
            latest_day = max(latest_day, found.day)
            rested += downtime.members(start_of_day, limit)
            rested += found.rested
            steps.append(
                Step(
                    Rule.DEADLINE_DAY,
                    end_of_day(found.day, time_zone),
                    f"{_minutes(total)} of outage on {format_day(day)} ({time_zone}) before the {shown_clock} "
                    f"deadline → first accessible business day after it, {format_day(found.day)}, 23:59:59"
                    f"{found.passed_over}",
                )
            )

    if last_hour:
        members = downtime.members(limit - _HOUR, limit)
        if members:
            found = search(day + _DAY)
            latest_day = max(latest_day, found.day)
            rested += members
            rested += found.rested
            steps.append(
                Step(
                    Rule.LAST_HOUR,
                    same_clock_on(found.day, clock, time_zone),
                    f"outage in the hour before the {shown_clock} deadline on {format_day(day)} ({time_zone}) "
                    f"→ the same time on the first accessible business day after it, "
                    f"{format_day(found.day)} {shown_clock}{found.passed_over}",
                )
            )

    if long_outage:
        total = long_total
        whole, part = divmod(total, _DAY)
        days = whole + (1 if part else 0)
        target = day + _DAY * days
        found = search(target)
        latest_day = max(latest_day, found.day)
        rested += downtime.members(limit - lookback, limit)
        rested += found.rested
        moved = (
            ""
            if found.day == target
            else f"; not an accessible business day, so {format_day(found.day)} {shown_clock}{found.passed_over}"
        )
        steps.append(
            Step(
                Rule.LONG_OUTAGE,
                same_clock_on(found.day, clock, time_zone),
                f"{_hours(total)} of outage in the {policy.lookback_days} days before the {shown_clock} deadline "
                f"on {format_day(day)} ({time_zone}) → that day plus {days} day{'s' if days != 1 else ''}, "
                f"{format_day(target)} {shown_clock}{moved}",
            )
        )

    if not steps:
        return None

    # Restoration: when the last outage overlapping the lookback or the deadline's day ended.
    restoration = downtime.last_overlapping(since, day_end(day, time_zone))
    if restoration is None:  # a rule applied, so some downtime is in this window
        raise AssertionError("a relief rule applied without downtime near the deadline")
    restored_at = None if restoration.open else restoration.end
    grace = _grace(restoration, time_zone, policy)
    if grace is not None:
        steps.append(grace)
        rested += restoration.members
        latest_day = max(latest_day, local_day(grace.deadline, time_zone))

    # Open downtime after the deadline could still make a chosen day inaccessible: the decision rests on it.
    rested += downtime.open_between(limit, day_end(latest_day, time_zone))
    return Decision(
        new_deadline=max(step.deadline for step in steps),
        rules=tuple(step.rule for step in steps),
        refs=tuple(sorted({ref for span in rested for ref in span.refs})),
        final=not any(span.open for span in rested),
        restored_at=restored_at,
        steps=tuple(steps),
    )


def _grace(restoration: Piece, time_zone: str, policy: ReliefPolicy) -> Step | None:
    if policy.grace_days is None:
        if Rule.GRACE not in policy.rules:
            return None
    elif not policy.rules & {Rule.GRACE, Rule.GRACE_DAYS}:
        return None
    return _grace_step(
        restoration.end, restoration.open, time_zone, policy.grace_days, policy.grace_business_days, policy.calendar
    )


# Thousands of deadlines share one restoration: the step is the same for all of them.
@lru_cache(maxsize=4096)
def _grace_step(
    restored: datetime,
    still_open: bool,
    time_zone: str,
    grace_days: int | None,
    grace_business_days: int,
    calendar: CalendarSpec,
) -> Step:
    restored_day = local_day(restored, time_zone)
    when = f"{format_day(restored_day)} {restored.astimezone(zone(time_zone)):%H:%M} ({time_zone})"
    cause = f"outage still going on at {when} so far" if still_open else f"portal restored {when}"
    if grace_days is not None:
        until = restored_day + _DAY * grace_days
        return Step(
            Rule.GRACE_DAYS,
            end_of_day(until, time_zone),
            f"{cause} → at least {grace_days} day{'s' if grace_days != 1 else ''} after, {format_day(until)}, 23:59:59",
        )
    until = business_calendar(calendar).nth_business_day_after(restored_day, grace_business_days)
    return Step(
        Rule.GRACE,
        end_of_day(until, time_zone),
        f"{cause} → at least {grace_business_days} business day{'s' if grace_business_days != 1 else ''} after, "
        f"{format_day(until)}, 23:59:59",
    )


def _minutes(total: timedelta) -> str:
    seconds = int(total.total_seconds())
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


def _hours(total: timedelta) -> str:
    minutes = int(total.total_seconds()) // 60
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"
