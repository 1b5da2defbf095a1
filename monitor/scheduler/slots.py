"""Slots: each probe's time line cut into intervals, offset per probe (pure).

A check is identified by (probe, location, slot): the scheduler may send a slot twice after a
restart, and a task may be delivered twice, yet only one check is ever recorded for it.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta


def slot_for(probe_id: str, interval: timedelta, now: datetime) -> datetime:
    """The start of the slot `now` falls in, for this probe (offset so probes don't all fire at once)."""
    step = max(int(interval.total_seconds() * 1000), 1)
    offset = zlib.crc32(probe_id.encode()) % step
    ms = int(now.timestamp() * 1000)
    start = (ms - offset) // step * step + offset
    return datetime.fromtimestamp(start / 1000, tz=UTC)
