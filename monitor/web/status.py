"""The public status page and its Statuspage-compatible JSON API (read-only, no login)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, render_template

from monitor.config import PageConfig
from monitor.statuspage.snapshot import load_snapshot
from monitor.statuspage.v2 import components_json, incidents_json, status_json, summary_json
from monitor.statuspage.views import STATUS_LABELS, Snapshot, overall
from monitor.timefmt import duration, local
from monitor.web.context import current_runtime, db

status_page = Blueprint("status_page", __name__)


def _snapshot() -> tuple[Snapshot, PageConfig]:
    runtime = current_runtime()
    return load_snapshot(db(), now=runtime.clock()), runtime.config.page


def _json(payload: dict[str, Any]) -> Response:
    response = jsonify(payload)
    # Status tooling polls these; a short shared cache keeps a flood of readers off the database.
    response.headers["Cache-Control"] = "public, max-age=10"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@status_page.get("/")
def index() -> str:
    snapshot, page = _snapshot()
    indicator, description = overall([c.status for c in snapshot.components])
    return render_template(
        "status.html",
        page=page,
        snapshot=snapshot,
        indicator=indicator,
        description=description,
        labels=STATUS_LABELS,
        local=lambda value: local(value, page.time_zone),
        duration=duration,
        now=snapshot.generated_at,
    )


@status_page.get("/api/v2/summary.json")
def summary() -> Response:
    return _json(summary_json(*_snapshot()))


@status_page.get("/api/v2/status.json")
def status() -> Response:
    return _json(status_json(*_snapshot()))


@status_page.get("/api/v2/components.json")
def components() -> Response:
    return _json(components_json(*_snapshot()))


@status_page.get("/api/v2/incidents.json")
def incidents() -> Response:
    snapshot, page = _snapshot()
    return _json(incidents_json(snapshot, page, unresolved_only=False))


@status_page.get("/api/v2/incidents/unresolved.json")
def unresolved_incidents() -> Response:
    snapshot, page = _snapshot()
    return _json(incidents_json(snapshot, page, unresolved_only=True))
