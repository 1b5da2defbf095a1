"""The app factory: the Runtime goes in, a Flask app with every surface registered comes out."""

from __future__ import annotations

from flask import Flask, g
from werkzeug.middleware.proxy_fix import ProxyFix

from monitor.runtime import Runtime
from monitor.web import auth, errors, metrics, security, selfservice
from monitor.web.dashboard import dashboard
from monitor.web.ops import ops
from monitor.web.people import people_api
from monitor.web.slack import slack
from monitor.web.status import status_page

# The largest request body accepted at all (a case import); larger ones get a JSON 413.
MAX_UPLOAD_BYTES = 256 * 1024 * 1024


def create_app(runtime: Runtime) -> Flask:
    app = Flask("monitor.web", template_folder="templates", static_folder="static")
    app.extensions["portalwatch"] = runtime
    app.config["MAX_CONTENT_LENGTH"] = MAX_UPLOAD_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if runtime.settings.trusted_proxies:
        # Only as many hops as are really ours: trusting more would let a client choose its own address.
        n = runtime.settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    app.register_blueprint(status_page)
    app.register_blueprint(ops, url_prefix="/api/ops")
    app.register_blueprint(people_api, url_prefix="/api/ops")
    selfservice.init_app(app)
    app.register_blueprint(slack)  # after selfservice.init_app: its rate limiter guards this route too
    metrics.init_app(app)
    auth.init_app(app)
    app.register_blueprint(dashboard, url_prefix="/ops")
    security.init_app(app)
    errors.init_app(app)

    @app.teardown_appcontext
    def _close_session(_exc: BaseException | None) -> None:
        session = g.pop("db", None)
        if session is not None:
            session.close()

    return app
