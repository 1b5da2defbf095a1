"""What a request handler reaches for: the process's Runtime and the request's one database session."""

from __future__ import annotations

from flask import current_app, g
from sqlalchemy.orm import Session

from monitor.runtime import Runtime


def current_runtime() -> Runtime:
    runtime: Runtime = current_app.extensions["portalwatch"]
    return runtime


def db() -> Session:
    """The request's one session, opened on first use and closed when the request ends (see app.py)."""
    if "db" not in g:
        g.db = current_runtime().sessions()
    session: Session = g.db
    return session
