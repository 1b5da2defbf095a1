"""`GET /metrics`: Prometheus' text format, open as scrape endpoints usually are, unless the configuration
sets `metrics: {token: …}`; then `Authorization: Bearer <token>` is required (compared in constant time)
and anything else gets a 401 with no figures."""

from __future__ import annotations

import hmac

from flask import Blueprint, Flask, Response, request

from monitor.metrics.exposition import CONTENT_TYPE, render
from monitor.web.context import current_runtime

metrics = Blueprint("metrics", __name__)


def _authorised(expected: str) -> bool:
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), expected.encode())


@metrics.get("/metrics")
def scrape() -> Response:
    runtime = current_runtime()
    token = runtime.config.metrics.token
    if token is not None and not _authorised(token.get_secret_value()):
        response = Response("a valid 'Authorization: Bearer <token>' header is required\n", 401, mimetype="text/plain")
        response.headers["WWW-Authenticate"] = 'Bearer realm="portalwatch-metrics"'
        response.headers["Cache-Control"] = "no-store"
        return response
    response = Response(render(runtime.sessions, runtime.clock), 200, content_type=CONTENT_TYPE)
    response.headers["Cache-Control"] = "no-store"  # every scrape reads the figures afresh
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(metrics)
