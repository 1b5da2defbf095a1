"""The Flask app: one blueprint per surface (public status page, ops API)."""

from __future__ import annotations

from flask import Flask, g
from sqlalchemy.orm import Session

from monitor.runtime import Runtime


def create_app(runtime: Runtime) -> Flask:
    from monitor.web.ops import ops
    from monitor.web.status_page import status_page

    app = Flask("monitor", template_folder="templates")
    app.extensions["portalwatch"] = runtime
    app.config["MAX_CONTENT_LENGTH"] = 256 * 1024 * 1024  # case imports can be large
    app.register_blueprint(status_page)
    app.register_blueprint(ops, url_prefix="/api/ops")

    @app.teardown_appcontext
    def _close_session(_exc: BaseException | None) -> None:
        session = g.pop("db", None)
        if session is not None:
            session.close()

    return app


def current_runtime() -> Runtime:
    from flask import current_app

    runtime: Runtime = current_app.extensions["portalwatch"]
    return runtime


def db() -> Session:
    """The request's one session, opened on first use and closed when the request ends."""
    if "db" not in g:
        g.db = current_runtime().sessions()
    session: Session = g.db
    return session
