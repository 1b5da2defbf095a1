"""The relief rule, as pure functions: who an outage hurt and until when they are given.

A case is hurt by an outage of a component it depends on when its deadline falls inside the
outage's window: from the last successful check before the outage (`last_ok_at`; the portal's
state after that instant is unproven) to the first successful check after it (`ended_at`), both
ends included.

While the outage is still open the window runs to its last failed check (`last_failed_at`), never
to "now": relief computed between the first recovering success and the check that closes the
outage must not reach cases whose deadline fell after the portal came back, and while no checks
arrive (workers or the scheduler down) the window stops at the last evidence instead of growing.

The extension runs to the end of the day, in the case's own time zone, that is `grace_days`
after the window's end. An extension is never shortened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from monitor.storage.enums import GrantStatus

END_OF_DAY = time(23, 59, 59)


@dataclass(frozen=True)
class ReliefWindow:
    start: datetime
    end: datetime
    final: bool  # the outage has ended: the window and the new deadlines will not move again

    @property
    def status(self) -> GrantStatus:
        return GrantStatus.FINAL if self.final else GrantStatus.PROVISIONAL

    def covers(self, deadline: datetime) -> bool:
        return self.start <= deadline <= self.end


def relief_window(
    *, started_at: datetime, last_ok_at: datetime | None, last_failed_at: datetime | None, ended_at: datetime | None
) -> ReliefWindow:
    # With no success ever seen before the outage, the first failure is the earliest proven moment.
    start = last_ok_at or started_at
    if ended_at is not None:
        # max(): a wall clock that stepped back during the outage must not leave an inverted window.
        return ReliefWindow(start=start, end=max(ended_at, start), final=True)
    return ReliefWindow(start=start, end=max(last_failed_at or started_at, start), final=False)


def extended_deadline(window_end: datetime, time_zone: str, grace_days: int) -> datetime:
    """End of the local day `grace_days` after `window_end`, in `time_zone`, as an aware datetime.

    Built from the local calendar date, so a DST change inside the grace period does not shift it.
    """
    zone = ZoneInfo(time_zone)
    local_day = window_end.astimezone(zone).date() + timedelta(days=grace_days)
    return datetime.combine(local_day, END_OF_DAY, tzinfo=zone)
