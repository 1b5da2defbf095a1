"""Outage detection as pure functions over stored facts (no I/O).

A probe at a location keeps a Streak. `advance` folds one check into it: N consecutive failures
mark it down, M consecutive successes mark it up again. `component_transition` then decides,
from the streaks of all of a component's probes, whether an outage opens or closes, and with
which bounds: an outage starts at the first failed check of the streak (not when it was
detected), `last_ok_at` is the last success before it, and it ends at the first success of the
streak that confirmed recovery.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime


@dataclass(frozen=True)
class Streak:
    failures: int = 0
    successes: int = 0
    failing_since: datetime | None = None
    failing_since_check_id: int | None = None
    succeeding_since: datetime | None = None
    last_ok_at: datetime | None = None
    last_check_at: datetime | None = None
    down: bool = False
    down_since: datetime | None = None
    down_since_check_id: int | None = None
    last_ok_before_down: datetime | None = None
    recovered_at: datetime | None = None


def advance(
    streak: Streak,
    *,
    ok: bool,
    at: datetime,
    check_id: int | None,
    failure_threshold: int,
    recovery_threshold: int,
) -> Streak:
    """Fold one check into a streak. Checks older than the last one folded are ignored."""
    if streak.last_check_at is not None and at <= streak.last_check_at:
        return streak
    if ok:
        successes = streak.successes + 1
        succeeding_since = streak.succeeding_since or at
        new = replace(
            streak,
            failures=0,
            successes=successes,
            failing_since=None,
            failing_since_check_id=None,
            succeeding_since=succeeding_since,
            last_ok_at=at,
            last_check_at=at,
        )
        if streak.down and successes >= recovery_threshold:
            new = replace(new, down=False, recovered_at=succeeding_since)
        return new
    failing_since = streak.failing_since or at
    failing_since_check_id = streak.failing_since_check_id if streak.failing_since else check_id
    new = replace(
        streak,
        failures=streak.failures + 1,
        successes=0,
        failing_since=failing_since,
        failing_since_check_id=failing_since_check_id,
        succeeding_since=None,
        last_check_at=at,
    )
    if not streak.down and new.failures >= failure_threshold:
        new = replace(
            new,
            down=True,
            down_since=failing_since,
            down_since_check_id=failing_since_check_id,
            last_ok_before_down=streak.last_ok_at,
        )
    return new


@dataclass(frozen=True)
class OpenOutage:
    started_at: datetime
    last_ok_at: datetime | None
    first_check_id: int | None


@dataclass(frozen=True)
class CloseOutage:
    ended_at: datetime


def component_transition(
    open_outage_started_at: datetime | None, streaks: Iterable[Streak], *, now: datetime
) -> OpenOutage | CloseOutage | None:
    """Decide what happens to a component's outage given all of its probes' streaks.

    A component is down while any of its probes is down (later: a quorum of locations).
    """
    streaks = list(streaks)
    down = [s for s in streaks if s.down]
    if open_outage_started_at is None:
        if not down:
            return None
        first = min(down, key=lambda s: s.down_since or now)
        return OpenOutage(
            started_at=first.down_since or now,
            last_ok_at=first.last_ok_before_down,
            first_check_id=first.down_since_check_id,
        )
    if down:
        return None
    recoveries = [
        s.recovered_at for s in streaks if s.recovered_at is not None and s.recovered_at >= open_outage_started_at
    ]
    return CloseOutage(ended_at=max(recoveries) if recoveries else now)
