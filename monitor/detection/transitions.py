"""What happens to a component's outage, given the streaks of all of its watched probes (pure).

A component is down while any of its probes is down (later: a quorum of locations). An outage
starts at the first failed check of the streak (not when it was detected); `last_ok_at` is the
last success before it; it ends at the first success of the streak that confirmed recovery.

While it is open, `last_failed_at` follows the last failed check of the probes that hold it down,
and only while they are watched without a gap since before it began: provisional relief stops
there, never at "now", so it can neither run ahead of the evidence nor cover time nobody watched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from monitor.detection.streaks import Streak
from monitor.storage.enums import EndReason


@dataclass(frozen=True)
class OpenOutageView:
    """The facts about a component's open outage that decide what happens next."""

    started_at: datetime
    last_failed_at: datetime | None
    gap_at: datetime | None


@dataclass(frozen=True)
class OpenOutage:
    started_at: datetime
    last_ok_at: datetime | None
    last_failed_at: datetime
    first_check_id: int | None


@dataclass(frozen=True)
class ExtendOutage:
    last_failed_at: datetime | None
    gap_at: datetime | None


@dataclass(frozen=True)
class CloseOutage:
    ended_at: datetime
    reason: EndReason


Transition = OpenOutage | ExtendOutage | CloseOutage


def component_transition(
    outage: OpenOutageView | None, streaks: Iterable[Streak], *, blind: Iterable[Streak] = ()
) -> Transition | None:
    """`streaks` are those of locations that see; `blind`, those of locations that cannot see right now.

    A blind location's streak never opens, extends or closes an outage. It only keeps one open that
    it saw down while nobody who can see says otherwise: going blind is not evidence of recovery.
    """
    streaks = list(streaks)
    down = [s for s in streaks if s.down]
    if outage is None:
        starts = [(s.down_since, s) for s in down if s.down_since is not None]
        if not starts:
            return None
        started_at, first = min(starts, key=lambda pair: pair[0])
        failed = [s.last_failed_at for s in down if s.last_failed_at is not None]
        return OpenOutage(
            started_at=started_at,
            last_ok_at=first.last_ok_before_down,
            last_failed_at=max(failed, default=started_at),
            first_check_id=first.down_since_check_id,
        )
    if down:
        return _extend(outage, down)
    recoveries = [s.recovered_at for s in streaks if s.recovered_at is not None and s.recovered_at >= outage.started_at]
    if recoveries:
        return CloseOutage(ended_at=max(max(recoveries), outage.started_at), reason=EndReason.RECOVERED)
    if any(s.down for s in blind):
        # Those that saw it down cannot see right now, and nobody who can saw it recover: it stays
        # open, its last failure where the evidence left it, until a location sees either way.
        return None
    # Nothing that still counts sees it down, and nothing saw it recover: the probes or locations that
    # saw it down were removed. It ends at the last failure seen, the furthest the evidence reaches.
    return CloseOutage(ended_at=outage.last_failed_at or outage.started_at, reason=EndReason.WATCH_REMOVED)


def _extend(outage: OpenOutageView, down: list[Streak]) -> ExtendOutage | None:
    def unbroken(streak: Streak) -> bool:
        # Watched without a gap since before the outage began: its failures are continuous evidence.
        return streak.watched_since is None or streak.watched_since <= outage.started_at

    gap_at = outage.gap_at or min((s.watched_since for s in down if not unbroken(s) and s.watched_since), default=None)
    last_failed_at = outage.last_failed_at
    if gap_at is None:
        failures = [s.last_failed_at for s in down if s.last_failed_at is not None]
        # max() with the stored value: a clock that stepped back never moves the bound earlier.
        last_failed_at = max([f for f in (last_failed_at, *failures) if f is not None], default=None)
    if last_failed_at == outage.last_failed_at and gap_at == outage.gap_at:
        return None
    return ExtendOutage(last_failed_at=last_failed_at, gap_at=gap_at)
