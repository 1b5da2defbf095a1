"""Errors as their callers can read them: JSON for the APIs, a short page for people; never a traceback.

While the database is unreachable the answer is 503 with Retry-After, so a status page reader or a
script sees "try again shortly", not a generic 500.
"""

from __future__ import annotations

import logging
import re

from flask import Flask, Response, jsonify, request, url_for
from markupsafe import escape
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from monitor.web.security import is_api_path

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 15
# Headers of werkzeug's own error response that describe the error rather than its HTML body.
_KEPT_HEADERS = ("Allow", "WWW-Authenticate", "Retry-After")


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def wants_json() -> bool:
    return is_api_path(request.path) or request.accept_mimetypes.best == "application/json"


def error_response(status: int, error: str, message: str, *, field: str | None = None) -> Response:
    """The error in the shape of the answer: `{"error", "message"}` (and `field`, naming the input at fault)."""
    if wants_json():
        body = {"error": error, "message": message}
        if field is not None:
            body["field"] = field
        response = jsonify(body)
    else:
        refresh = ""
        if status == 503:  # a reader left on the status page gets it back by itself once the database returns
            refresh = f'<meta http-equiv="refresh" content="{RETRY_AFTER_SECONDS}">'
        response = Response(
            f'<!doctype html><html lang="en"><head><meta charset="utf-8">{refresh}<title>{status}</title>'
            f'<link rel="stylesheet" href="{url_for("static", filename="status.css")}"></head>'
            f"<body><h1>{status}</h1><p>{escape(message)}</p></body></html>\n",
            mimetype="text/html",
        )
    response.status_code = status
    if status >= 500:
        response.headers["Cache-Control"] = "no-store"  # a cache in front must not keep serving an outage of ours
    return response


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` (or what it was raised from) means the database cannot be reached right now.

    What SQLAlchemy 2.1 with psycopg 3 raises, checked against a real PostgreSQL:
    - connection refused (server down, wrong port): OperationalError wrapping psycopg.OperationalError;
    - a database that refuses connections (ALLOW_CONNECTIONS false, too many connections):
      OperationalError wrapping psycopg.OperationalError or psycopg.errors.TooManyConnections;
    - a connection killed mid-request (restart, failover, pg_terminate_backend): OperationalError
      wrapping psycopg.errors.AdminShutdown, with connection_invalidated set;
    - every pooled connection busy for pool_timeout: sqlalchemy.exc.TimeoutError, not a DBAPIError.
    Any other DBAPIError that SQLAlchemy judged a disconnect (an InterfaceError "the connection is
    closed") has connection_invalidated set. OperationalError also covers a statement timeout or a
    serialization failure: for a reader, "try again shortly" is right for those too.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OperationalError | PoolTimeout | DisconnectionError):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        current = current.__cause__  # an error raised `from` a database error is still that error
    return False


def _database_down(exc: BaseException) -> Response:
    log.error("database unavailable while serving %s %s: %s", request.method, request.path, type(exc).__name__)
    response = error_response(503, "unavailable", "the status database is unreachable; try again shortly")
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _http(exc: HTTPException) -> Response:
    if isinstance(exc.response, Response):
        return exc.response  # abort(response): the view already chose the answer
    original = exc.get_response()
    response = error_response(exc.code or 500, _slug(exc.name), exc.description or exc.name)
    for name in _KEPT_HEADERS:
        if name in original.headers:
            response.headers[name] = original.headers[name]
    return response


def init_app(app: Flask) -> None:
    # Two handlers only: Flask picks the most specific registered class, so a handler for a
    # SQLAlchemy subclass would shadow the checks below for its siblings and causes.
    app.register_error_handler(HTTPException, _http)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        if isinstance(exc, HTTPException):
            return _http(exc)
        if database_unavailable(exc):
            return _database_down(exc)
        # The traceback goes to the log only: it can name tables, paths and values.
        log.exception("unexpected error serving %s %s", request.method, request.path)
        return error_response(500, "internal_error", "something went wrong on our side; it has been logged")
