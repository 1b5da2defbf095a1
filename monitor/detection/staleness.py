"""Noticing that nobody is watching (pure): a component whose checks stopped arriving is `unknown`.

Each (probe, location) the configuration asks for is a stream of checks. A stream is stale when
its last check is older than STALE_AFTER_INTERVALS of its probe's interval (never less than
MIN_STALE_AFTER), or, before its first check, when it was set up longer ago than FIRST_CHECK_GRACE.
A component is unknown when every one of its streams is stale; the `since` it carries is the last
moment anyone saw it, so the status page never shows a component as operational on the strength of
checks that stopped coming.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.storage.enums import WatchState

STALE_AFTER_INTERVALS = 3
# Below this, a late check is scheduling jitter on a busy host, not an interruption of monitoring.
MIN_STALE_AFTER = timedelta(seconds=10)
# A probe or location just set up has this long to deliver its first check (workers start slowly).
FIRST_CHECK_GRACE = timedelta(seconds=60)


def stale_after(interval: timedelta) -> timedelta:
    return max(interval * STALE_AFTER_INTERVALS, MIN_STALE_AFTER)


@dataclass(frozen=True)
class Stream:
    last_check_at: datetime | None
    active_since: datetime  # when this probe at this location was first asked for
    interval: timedelta

    def seen_at(self) -> datetime:
        return self.last_check_at or self.active_since

    def stale(self, now: datetime) -> bool:
        limit = stale_after(self.interval)
        if self.last_check_at is None:
            limit = max(limit, FIRST_CHECK_GRACE)
        return now - self.seen_at() > limit


@dataclass(frozen=True)
class Watch:
    state: WatchState
    since: datetime | None  # for `unknown`: the last moment a check (or the set-up) was seen


def watch_state(streams: Iterable[Stream], now: datetime) -> Watch:
    streams = list(streams)
    if not streams:
        return Watch(WatchState.UNKNOWN, None)
    if any(not s.stale(now) for s in streams):
        return Watch(WatchState.WATCHED, None)
    return Watch(WatchState.UNKNOWN, max(s.seen_at() for s in streams))
