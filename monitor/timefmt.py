"""Showing stored UTC times to people: in a named zone, with that zone visible."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


def local(value: datetime, zone: str) -> str:
    """`2026-11-22 09:15 EST` — the zone abbreviation makes clear which clock is meant."""
    return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S %Z")


def iso(value: datetime | None, zone: str | None = None) -> str | None:
    """ISO 8601 with offset: UTC's as stored, or, given a zone, that zone's offset at that instant."""
    if value is None:
        return None
    return value.isoformat() if zone is None else value.astimezone(ZoneInfo(zone)).isoformat()


def duration(delta: timedelta) -> str:
    seconds = max(int(delta.total_seconds()), 0)
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    text = " ".join(p for p in parts if p)
    return text if days or hours else (f"{text} {seconds}s".strip())
