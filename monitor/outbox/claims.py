"""The two conditions every claimed row shares (deliveries, letters to sign, notices to send).

A worker takes a row with a conditional UPDATE whose WHERE holds these, so two workers never both
take it. Times come from the caller's clock, and the wall clock can step back: a claim or a retry
time that then lies in the future must not strand the row until the clock catches up.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_
from sqlalchemy.orm import InstrumentedAttribute

CLOCK_SLACK = timedelta(seconds=5)


def unheld(claimed_at: InstrumentedAttribute[datetime | None], now: datetime, stale: timedelta) -> ColumnElement[bool]:
    """Nobody holds the row: never claimed, its claim older than `stale` (the worker died), or claimed
    "in the future" (the clock stepped back)."""
    return or_(claimed_at.is_(None), claimed_at < now - stale, claimed_at > now + CLOCK_SLACK)


def due(available_at: InstrumentedAttribute[datetime], now: datetime, furthest: timedelta) -> ColumnElement[bool]:
    """The row's retry time has come, or lies further ahead than any backoff can put it (the clock stepped back)."""
    return or_(available_at <= now, available_at > now + furthest + CLOCK_SLACK)
