"""The public status page and its Statuspage-compatible JSON API (read-only, no login)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request

from monitor.config import PageConfig
from monitor.statuspage.snapshot import load_snapshot
from monitor.statuspage.v2 import components_json, incidents_json, status_json, summary_json
from monitor.statuspage.views import STATUS_LABELS, Snapshot, overall
from monitor.timefmt import duration, local
from monitor.uptime.figures import MAINTENANCE_STATEMENT
from monitor.usecases.case_relief import paper_authorisations
from monitor.usecases.uptime import uptime_by_component, uptime_report
from monitor.web.context import current_runtime, db
from monitor.web.errors import error_response

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
        uptime={cid: windows["90d"] for cid, windows in uptime_by_component(db(), now=snapshot.generated_at).items()},
        uptime_statement=MAINTENANCE_STATEMENT,
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


@status_page.get("/api/v1/uptime")
def uptime() -> Response:
    """Each component's uptime over the last 1, 7, 30 and 90 days, with monitoring gaps and maintenance
    left out and said so (see monitor.uptime.figures)."""
    return _json(uptime_report(db(), now=current_runtime().clock()))


CURRENT_VALUES = {"true": True, "false": False, "": None}


@status_page.get("/api/v1/paper-authorisations")
def paper_filing_authorisations() -> Response | tuple[Response, int]:
    """Paper (other-means) filing authorised by outages: current and past, newest first.

    `?current=true` only those in force now, `?current=false` only past ones; `?component=<id>` one component.
    """
    current = request.args.get("current", "").lower()
    if current not in CURRENT_VALUES:
        return error_response(422, "invalid_parameter", "query parameter current: expected true or false")
    component = request.args.get("component") or None
    runtime = current_runtime()
    rows = paper_authorisations(db(), now=runtime.clock(), current=CURRENT_VALUES[current], component=component)
    return _json({"time_zone": runtime.config.page.time_zone, "authorisations": rows})
