"""The one place that knows PostgreSQL and SQLite spell some things differently: INSERT … ON CONFLICT,
and arithmetic on times."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Interval, and_, func, literal_column, type_coerce
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

SECONDS_PER_DAY = 86_400.0


def insert_for(session: Session, table: Any) -> Any:
    """An INSERT for `table` that supports `.on_conflict_do_nothing/update` on the session's back end."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def within(session: Session, instant: Any, start: Any, end: Any, margin_seconds: Any) -> ColumnElement[bool]:
    """`start - margin <= instant <= end + margin`, for time columns or expressions and a margin in
    seconds (a column, such as a probe's interval, or a number)."""
    if session.get_bind().dialect.name == "postgresql":
        margin = type_coerce(margin_seconds * literal_column("interval '1 second'"), Interval())
        return and_(start - margin <= instant, instant <= end + margin)
    # SQLite keeps times as text (UTC); julianday() reads that text as a number of days, fractions of
    # a second included.
    days = margin_seconds / SECONDS_PER_DAY
    return and_(
        func.julianday(start) - days <= func.julianday(instant),
        func.julianday(instant) <= func.julianday(end) + days,
    )
