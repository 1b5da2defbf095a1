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
from datetime import UTC, datetime

from monitor.detection.streaks import Streak
from monitor.storage.enums import EndReason, Severity


@dataclass(frozen=True)
class OpenOutageView:
    """The facts about a component's open outage that decide what happens next."""

    started_at: datetime
    last_failed_at: datetime | None
    gap_at: datetime | None
    severity: Severity = Severity.MAJOR_OUTAGE


@dataclass(frozen=True)
class OpenOutage:
    started_at: datetime
    last_ok_at: datetime | None
    last_failed_at: datetime
    first_check_id: int | None
    severity: Severity = Severity.MAJOR_OUTAGE


@dataclass(frozen=True)
class ExtendOutage:
    last_failed_at: datetime | None
    gap_at: datetime | None
    severity: Severity | None = None  # a new severity (worse or better), or None: unchanged
    severity_at: datetime | None = None  # from when the new severity holds


@dataclass(frozen=True)
class CloseOutage:
    ended_at: datetime
    reason: EndReason


Transition = OpenOutage | ExtendOutage | CloseOutage

# Worst last: a component's severity is the worst among its probes that are down.
_RANK = {Severity.DEGRADED_PERFORMANCE: 0, Severity.PARTIAL_OUTAGE: 1, Severity.MAJOR_OUTAGE: 2}

Located = tuple[str, Streak]  # a probe's streak at a location, with the location's name


def majority(locations: int) -> int:
    """The default quorum: more than half of the locations that can see (at least one)."""
    return max(locations, 1) // 2 + 1 if locations > 1 else 1


def worst(severities: Iterable[Severity | None]) -> Severity:
    known = [s for s in severities if s is not None]
    return max(known, key=_RANK.__getitem__) if known else Severity.MAJOR_OUTAGE


@dataclass(frozen=True)
class Impairment:
    """Locations that see the component failing, and how many it takes to call it an outage."""

    failing: tuple[str, ...]
    quorum: int

    @property
    def impaired(self) -> bool:
        """Some locations see it failing, too few to agree it is down: shown to ops, not an outage."""
        return 0 < len(self.failing) < self.quorum


def impairment(streaks: Iterable[Streak | Located], *, quorum: int) -> Impairment:
    down = _down_by_location(_located(streaks))
    return Impairment(failing=tuple(sorted(down)), quorum=quorum)


def _located(streaks: Iterable[Streak | Located]) -> list[Located]:
    # A bare Streak is one probe at the one location there is (the embedded default).
    return [item if isinstance(item, tuple) else ("", item) for item in streaks]


def _down_by_location(streaks: list[Located]) -> dict[str, list[Streak]]:
    down: dict[str, list[Streak]] = {}
    for location, streak in streaks:
        if streak.down:
            down.setdefault(location, []).append(streak)
    return down


def component_transition(
    outage: OpenOutageView | None,
    streaks: Iterable[Streak | Located],
    *,
    blind: Iterable[Streak | Located] = (),
    quorum: int = 1,
) -> Transition | None:
    """`streaks` are those of locations that see; `blind`, those of locations that cannot see right now.

    The component is down while at least `quorum` locations see it down (a location sees it down
    while any of its probes there is down). The outage starts when the quorum was first reached:
    at the quorum-th earliest of those locations' starts. It ends when the locations still down fall
    below the quorum, at the recovery that took them below it.

    A blind location's streak never opens, extends or closes an outage. It only keeps one open that
    it saw down while nobody who can see says otherwise: going blind is not evidence of recovery.
    """
    located = _located(streaks)
    down = _down_by_location(located)
    quorum = max(quorum, 1)
    if outage is None:
        if len(down) < quorum:
            return None
        # Each location's own start: its earliest probe to go down; the outage's, the quorum-th of those.
        firsts = sorted(
            (
                min((s for s in group if s.down_since is not None), key=lambda s: s.down_since or _NEVER, default=None)
                for group in down.values()
            ),
            key=lambda s: s.down_since if s is not None and s.down_since is not None else _NEVER,
        )
        first = firsts[quorum - 1]
        if first is None or first.down_since is None:
            return None
        all_down = [s for group in down.values() for s in group]
        failed = [s.last_failed_at for s in all_down if s.last_failed_at is not None]
        return OpenOutage(
            started_at=first.down_since,
            last_ok_at=first.last_ok_before_down,
            last_failed_at=max(failed, default=first.down_since),
            first_check_id=first.down_since_check_id,
            severity=worst(s.severity for s in all_down),
        )
    if len(down) >= quorum:
        return _extend(outage, [s for group in down.values() for s in group], [s for _, s in located])
    # Fewer than the quorum still see it down: it ended at the recovery that took them below it.
    recovered: dict[str, datetime] = {}
    for location, streak in located:
        if location in down or streak.recovered_at is None or streak.recovered_at < outage.started_at:
            continue
        recovered[location] = max(recovered.get(location, streak.recovered_at), streak.recovered_at)
    needed = quorum - len(down)
    latest_first = sorted(recovered.values(), reverse=True)
    if len(latest_first) >= needed:
        return CloseOutage(ended_at=max(latest_first[needed - 1], outage.started_at), reason=EndReason.RECOVERED)
    if any(s.down for _, s in _located(blind)):
        # Those that saw it down cannot see right now, and nobody who can saw it recover: it stays
        # open, its last failure where the evidence left it, until a location sees either way.
        return None
    if latest_first:
        return CloseOutage(ended_at=max(latest_first[0], outage.started_at), reason=EndReason.RECOVERED)
    # Nothing that still counts sees it down, and nothing saw it recover: the probes or locations that
    # saw it down were removed. It ends at the last failure seen, the furthest the evidence reaches.
    return CloseOutage(ended_at=outage.last_failed_at or outage.started_at, reason=EndReason.WATCH_REMOVED)


_NEVER = datetime.max.replace(tzinfo=UTC)


def _extend(outage: OpenOutageView, down: list[Streak], everyone: list[Streak]) -> ExtendOutage | None:
    def unbroken(streak: Streak) -> bool:
        # Watched without a gap since before the outage began: its failures are continuous evidence.
        return streak.watched_since is None or streak.watched_since <= outage.started_at

    gap_at = outage.gap_at or min((s.watched_since for s in down if not unbroken(s) and s.watched_since), default=None)
    last_failed_at = outage.last_failed_at
    if gap_at is None:
        failures = [s.last_failed_at for s in down if s.last_failed_at is not None]
        # max() with the stored value: a clock that stepped back never moves the bound earlier.
        last_failed_at = max([f for f in (last_failed_at, *failures) if f is not None], default=None)
    severity = worst(s.severity for s in down)
    if severity == outage.severity:
        if last_failed_at == outage.last_failed_at and gap_at == outage.gap_at:
            return None
        return ExtendOutage(last_failed_at=last_failed_at, gap_at=gap_at)
    if _RANK[severity] > _RANK[outage.severity]:
        # Worse from when the probe that made it worse first failed (as an outage starts).
        starts = [s.down_since for s in down if s.severity == severity and s.down_since is not None]
        since = max(min(starts, default=last_failed_at or outage.started_at), outage.started_at)
    else:
        # Better from when the worse probes recovered.
        ends = [s.recovered_at for s in everyone if not s.down and s.recovered_at is not None]
        since = max(max(ends, default=last_failed_at or outage.started_at), outage.started_at)
    return ExtendOutage(last_failed_at=last_failed_at, gap_at=gap_at, severity=severity, severity_at=since)
