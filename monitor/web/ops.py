"""The ops API: bearer-token protected; without a valid token nothing but a 401 comes back."""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, abort, jsonify, request
from sqlalchemy import func, select

from exemptions.cases import ImportRejected, import_cases
from exemptions.models import Case, Grant
from monitor.models import Check, Component, Outage
from monitor.timefmt import iso
from monitor.web import current_runtime, db

ops = Blueprint("ops", __name__)


@ops.before_request
def _require_token() -> Response | None:
    expected = current_runtime().settings.ops_token
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    if expected and scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), expected.encode()):
        return None
    message = "a valid 'Authorization: Bearer <token>' header is required"
    if not expected:
        message = "the ops API is disabled until PORTALWATCH_OPS_TOKEN is set"
    response = jsonify({"error": "unauthorized", "message": message})
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="portalwatch-ops"'
    return response


@ops.get("/outages")
def list_outages() -> Response:
    limit = request.args.get("limit", default=100, type=int)
    if not 1 <= limit <= 1000:
        abort(400, "limit must be between 1 and 1000")
    grants = select(Grant.outage_id, func.count().label("n")).group_by(Grant.outage_id).subquery()
    query = (
        select(Outage, Component.name, Check, func.coalesce(grants.c.n, 0))
        .join(Component, Component.id == Outage.component_id)
        .outerjoin(Check, Check.id == Outage.first_check_id)
        .outerjoin(grants, grants.c.outage_id == Outage.id)
        .order_by(Outage.started_at.desc())
        .limit(limit)
    )
    if request.args.get("open") in ("1", "true"):
        query = query.where(Outage.ended_at.is_(None))
    rows = db().execute(query).all()
    return jsonify(
        {
            "outages": [
                {
                    "id": o.id,
                    "component": {"id": o.component_id, "name": name},
                    "severity": o.severity,
                    "status": "resolved" if o.ended_at else "open",
                    "started_at": iso(o.started_at),
                    "last_ok_at": iso(o.last_ok_at),
                    "ended_at": iso(o.ended_at),
                    "detected_at": iso(o.detected_at),
                    "resolved_at": iso(o.resolved_at),
                    "duration_seconds": ((o.ended_at or current_runtime().clock()) - o.started_at).total_seconds(),
                    "grace_days": o.grace_days,
                    "grants": n_grants,
                    "first_failed_check": None
                    if check is None
                    else {
                        "id": check.id,
                        "probe_id": check.probe_id,
                        "location": check.location,
                        "started_at": iso(check.started_at),
                        "status_code": check.status_code,
                        "error_class": check.error_class,
                        "error": check.error,
                        "evidence": check.evidence,
                    },
                }
                for o, name, check, n_grants in rows
            ]
        }
    )


@ops.get("/cases/<case_id>")
def get_case(case_id: str) -> Response:
    case = db().get(Case, case_id)
    if case is None:
        response = jsonify({"error": "not_found", "message": f"no case {case_id!r}"})
        response.status_code = 404
        return response
    return jsonify(
        {
            "case_id": case.case_id,
            "components": sorted(c.component_id for c in case.components),
            "deadline": iso(case.deadline),
            "time_zone": case.time_zone,
            "effective_deadline": iso(max([case.deadline, *[g.new_deadline for g in case.grants]])),
            "grants": [
                {
                    "id": g.id,
                    "outage_id": g.outage_id,
                    "original_deadline": iso(g.original_deadline),
                    "new_deadline": iso(g.new_deadline),
                    "status": g.status,
                    "granted_at": iso(g.granted_at),
                }
                for g in case.grants
            ],
        }
    )


@ops.post("/cases/import")
def import_cases_api() -> tuple[Response, int]:
    from monitor import jobs, tasks

    upload = request.files.get("file")
    raw = upload.read() if upload is not None else request.get_data()
    source = upload.filename if upload is not None and upload.filename else "request body"
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return jsonify({"error": "invalid_csv", "message": f"{source} is not UTF-8 text: {exc}"}), 400
    session = db()
    try:
        with session.begin():
            rows = import_cases(session, text, source=source)
    except ImportRejected as rejected:
        return jsonify(
            {
                "error": "invalid_csv",
                "message": f"{len(rejected.errors)} problem(s) in {source}; nothing was imported",
                "errors": [
                    {"row": e.row, "line": e.line, "column": e.column, "message": e.message} for e in rejected.errors
                ],
            }
        ), 422
    runtime = current_runtime()
    outages = jobs.outages_touching(runtime, (r.deadline for r in rows))
    for outage_id in outages:
        # Cases imported after an outage still get the relief it earned them.
        if runtime.settings.distributed:
            tasks.relieve.apply_async((outage_id,), queue=tasks.DEFAULT_QUEUE)
        else:
            jobs.relieve(runtime, outage_id)
    return jsonify({"imported": len(rows), "relief_for_outages": outages}), 200
