"""The one place that knows PostgreSQL and SQLite spell INSERT … ON CONFLICT differently."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_for(session: Session, table: Any) -> Any:
    """An INSERT for `table` that supports `.on_conflict_do_nothing/update` on the session's back end."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
