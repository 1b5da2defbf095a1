"""Uptime over a window, counted honestly (pure): time nobody watched is not uptime, nor is it outage.

For one component and one window [start, end):
- the time *considered* is the window from when the component was first watched;
- monitoring gaps (workers, scheduler or every location down: the component was `unknown`) are
  taken out of it first: nothing was seen, so nothing is claimed either way;
- planned maintenance is then taken out too (MAINTENANCE_COUNTING: announced work is neither the
  portal failing nor the portal serving; Statuspage, Gatus and Uptime Kuma count it the same way);
- what is left is the time *observed*; outages are counted only inside it, each part at the severity
  it had. Major and partial outage count as down (they are what relief counts too); degraded
  performance counts as up, and is reported beside it.

`percent` is None when nothing was observed: a figure with no observation behind it is not 100 %.

Interval arithmetic (union, difference, overlap) is done by `portion`, so overlapping outages (one
observed, one declared) or maintenance inside a gap are never counted twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import portion

from monitor.storage.enums import Severity

MAINTENANCE_COUNTING = "excluded"
MAINTENANCE_STATEMENT = (
    "Planned maintenance and times when monitoring was interrupted are left out: they count neither as"
    " uptime nor as downtime. Major and partial outages count as downtime; degraded performance does not."
)
DOWN = (Severity.MAJOR_OUTAGE, Severity.PARTIAL_OUTAGE)


@dataclass(frozen=True)
class Part:
    """Part of an outage at one severity."""

    severity: Severity
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Uptime:
    start: datetime
    end: datetime
    considered: timedelta  # the window, from when the component was first watched
    gaps: timedelta  # of it, when nobody watched
    maintenance: timedelta  # of the rest, planned maintenance
    observed: timedelta  # considered − gaps − maintenance: what the figure rests on
    down: dict[Severity, timedelta]  # outage time inside what was observed, per severity

    @property
    def downtime(self) -> timedelta:
        return sum((self.down.get(s, timedelta(0)) for s in DOWN), timedelta(0))

    @property
    def percent(self) -> float | None:
        if self.observed <= timedelta(0):
            return None
        return max(0.0, 100.0 * (1 - self.downtime / self.observed))


def _span(start: datetime, end: datetime) -> Any:
    return portion.closedopen(start, end) if end > start else portion.empty()


def _union(spans: Iterable[tuple[datetime, datetime]], within: Any) -> Any:
    total = portion.empty()
    for start, end in spans:
        total |= _span(start, end)
    return total & within


def _length(interval: Any) -> timedelta:
    return sum((piece.upper - piece.lower for piece in interval if not piece.empty), timedelta(0))


def uptime(
    *,
    start: datetime,
    end: datetime,
    watched_from: datetime,
    parts: Iterable[Part],
    gaps: Iterable[tuple[datetime, datetime]],
    maintenance: Iterable[tuple[datetime, datetime]],
) -> Uptime:
    """The figures of one component over [start, end); open gaps and outages end at `end` (now)."""
    considered = _span(max(start, watched_from), end)
    unwatched = _union(gaps, considered)
    planned = _union(maintenance, considered) - unwatched
    observed = considered - unwatched - planned
    by_severity: dict[Severity, list[tuple[datetime, datetime]]] = {}
    for part in parts:
        by_severity.setdefault(part.severity, []).append((part.start, part.end))
    down: dict[Severity, timedelta] = {}
    counted = portion.empty()
    # Worst first: where a major and a partial outage overlap, that time counts once, as major.
    for severity in (Severity.MAJOR_OUTAGE, Severity.PARTIAL_OUTAGE, Severity.DEGRADED_PERFORMANCE):
        time = _union(by_severity.get(severity, []), observed) - counted
        counted |= time
        down[severity] = _length(time)
    return Uptime(
        start=start,
        end=end,
        considered=_length(considered),
        gaps=_length(unwatched),
        maintenance=_length(planned),
        observed=_length(observed),
        down=down,
    )


def uptime_json(figure: Uptime) -> dict[str, Any]:
    percent = figure.percent
    return {
        "from": figure.start.isoformat(),
        "to": figure.end.isoformat(),
        "uptime_percent": None if percent is None else round(percent, 4),
        "observed_seconds": round(figure.observed.total_seconds()),
        "monitoring_gap_seconds": round(figure.gaps.total_seconds()),
        "maintenance_seconds": round(figure.maintenance.total_seconds()),
        "maintenance_counted": MAINTENANCE_COUNTING,
        "downtime_seconds": round(figure.downtime.total_seconds()),
        "major_outage_seconds": round(figure.down[Severity.MAJOR_OUTAGE].total_seconds()),
        "partial_outage_seconds": round(figure.down[Severity.PARTIAL_OUTAGE].total_seconds()),
        "degraded_performance_seconds": round(figure.down[Severity.DEGRADED_PERFORMANCE].total_seconds()),
    }
