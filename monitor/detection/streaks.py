"""A probe at a location keeps a Streak; `advance` folds one check into it (pure, no I/O).

N consecutive failures mark it down, M consecutive successes mark it up again. Checks are ordered
by their schedule slot, not by the wall-clock time they report, so a clock that steps back does
not make every later check look old. A check that arrives more than `stale_after` after the
previous one starts a new watched run (`watched_since`): the time between was not watched.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from monitor.storage.enums import Severity


@dataclass(frozen=True)
class Streak:
    failures: int = 0
    successes: int = 0
    failing_since: datetime | None = None
    failing_since_check_id: int | None = None
    succeeding_since: datetime | None = None
    last_ok_at: datetime | None = None
    last_failed_at: datetime | None = None
    last_check_at: datetime | None = None
    last_slot: datetime | None = None
    watched_since: datetime | None = None  # start of the current run of checks with no gap between them
    down: bool = False
    down_since: datetime | None = None
    down_since_check_id: int | None = None
    last_ok_before_down: datetime | None = None
    recovered_at: datetime | None = None
    # What the latest failure means for the component (the probe's impact, or degraded when it was
    # only slow): a component's severity is the worst among its probes that are down.
    severity: Severity | None = None


def advance(
    streak: Streak,
    *,
    ok: bool,
    at: datetime,
    slot: datetime,
    check_id: int | None,
    failure_threshold: int,
    recovery_threshold: int,
    stale_after: timedelta,
    severity: Severity = Severity.MAJOR_OUTAGE,
) -> Streak:
    """Fold one check into a streak. A check whose slot is not after the last one folded is ignored.

    `severity`: what this check failing means for its component (ignored for a success)."""
    if streak.last_slot is not None and slot <= streak.last_slot:
        return streak
    gap = streak.last_check_at is not None and at - streak.last_check_at > stale_after
    watched_since = at if streak.watched_since is None or gap else streak.watched_since
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
            last_slot=slot,
            watched_since=watched_since,
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
        last_failed_at=at,
        last_check_at=at,
        last_slot=slot,
        watched_since=watched_since,
        severity=severity,
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


def undecided(streak: Streak, *, failure_threshold: int, recovery_threshold: int) -> bool:
    """Whether the streak is between two states: failing but not yet down, or succeeding but still down.

    Such a probe is checked again at once rather than at its next slot, until the streak is decided
    either way; a probe whose thresholds are 1 is decided by every check.
    """
    if streak.down:
        return 0 < streak.successes < recovery_threshold
    return 0 < streak.failures < failure_threshold
