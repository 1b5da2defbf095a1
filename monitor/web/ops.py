"""The ops API: bearer-token protected; without a valid token nothing but a 401 comes back."""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Iterator
from itertools import chain
from typing import IO, Any

from flask import Blueprint, Response, abort, jsonify, request
from sqlalchemy import func, select

from exemptions.cases import ImportRejected
from monitor.storage.enums import ImportState
from monitor.storage.models import Case, Check, Component, Grant, Outage
from monitor.timefmt import iso
from monitor.usecases import imports, jobs
from monitor.usecases.cases import import_cases_text
from monitor.usecases.deliver import backlog_report
from monitor.usecases.imports import ImportJobView, row_error_json
from monitor.web.context import current_runtime, db
from monitor.web.errors import error_response

log = logging.getLogger(__name__)

ops = Blueprint("ops", __name__)

MAX_CASE_ID = 64


@ops.before_request
def _require_token() -> Response | None:
    expected = current_runtime().settings.token
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


def _check_json(check: Check | None) -> dict[str, Any] | None:
    if check is None:
        return None
    return {
        "id": check.id,
        "probe_id": check.probe_id,
        "location": check.location,
        "started_at": iso(check.started_at),
        "status_code": check.status_code,
        "error_class": check.error_class.value if check.error_class else None,
        "error": check.error,
        "evidence": check.evidence,
    }


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
    now = current_runtime().clock()
    return jsonify(
        {
            "outages": [
                {
                    "id": o.id,
                    "component": {"id": o.component_id, "name": name},
                    "severity": o.severity.value,
                    "status": "resolved" if o.ended_at else "open",
                    "started_at": iso(o.started_at),
                    "last_ok_at": iso(o.last_ok_at),
                    "last_failed_at": iso(o.last_failed_at),
                    "ended_at": iso(o.ended_at),
                    "end_reason": o.end_reason.value if o.end_reason else None,
                    "monitoring_gap_at": iso(o.gap_at),
                    "detected_at": iso(o.detected_at),
                    "resolved_at": iso(o.resolved_at),
                    "duration_seconds": ((o.ended_at or now) - o.started_at).total_seconds(),
                    "grace_days": o.grace_days,
                    "grants": n_grants,
                    "first_failed_check": _check_json(check),
                }
                for o, name, check, n_grants in rows
            ]
        }
    )


def _case_id_problem(case_id: str) -> str | None:
    if len(case_id) > MAX_CASE_ID:
        return f"case id is longer than {MAX_CASE_ID} characters"
    if not case_id.isprintable():
        return "case id contains a control character"
    return None


@ops.get("/cases/<path:case_id>")
def get_case(case_id: str) -> Response:
    problem = _case_id_problem(case_id)
    if problem is not None:
        return error_response(422, "invalid_case_id", f"path parameter case_id: {problem}")
    case = db().get(Case, case_id)
    if case is None:
        return error_response(404, "not_found", f"no case {case_id!r}")
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
                    "status": g.status.value,
                    "granted_at": iso(g.granted_at),
                }
                for g in case.grants
            ],
        }
    )


# Bodies up to this size are imported while the client waits (well under a second); larger ones, or any
# with `Prefer: respond-async`, become a job: a million rows would outlast gunicorn's 30 s worker timeout.
SYNC_IMPORT_BYTES = 1024 * 1024
_READ_BYTES = 256 * 1024
_JOB_ID = re.compile(r"[0-9a-f]{32}")
EMPTY_BODY = (
    "the request body is empty: send the CSV file as the body (e.g. curl --data-binary @cases.csv "
    "-H 'Content-Type: text/csv') or as a multipart part named 'file' (curl -F file=@cases.csv)"
)


def _read_up_to(stream: IO[bytes], limit: int) -> bytes:
    """Up to `limit` bytes; fewer only at the end of the stream (a chunked body arrives in pieces)."""
    parts: list[bytes] = []
    size = 0
    while size < limit:
        part = stream.read(min(_READ_BYTES, limit - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def _rest(stream: IO[bytes]) -> Iterator[bytes]:
    while part := stream.read(_READ_BYTES):
        yield part


def _prefers_async() -> bool:
    """RFC 7240 `Prefer: respond-async`, in any of the Prefer headers, with or without parameters."""
    return any(
        preference.split(";")[0].strip().lower() == "respond-async"
        for header in request.headers.getlist("Prefer")
        for preference in header.split(",")
    )


def _job_json(view: ImportJobView) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": view.id,
        "state": view.state.value,
        "source": view.source,
        "size_bytes": view.size_bytes,
        "rows_read": view.rows_read,
        "imported": view.imported,
        "error_count": view.error_count,
        "errors": view.errors,
        "message": view.message,
        "attempts": view.attempts,
        "created_at": iso(view.created_at),
        "started_at": iso(view.started_at),
        "finished_at": iso(view.finished_at),
    }
    if view.relief_for_outages is not None:
        body["relief_for_outages"] = view.relief_for_outages
    return body


def _job_response(view: ImportJobView, status: int) -> tuple[Response, int]:
    response = jsonify(_job_json(view))
    response.headers["Location"] = f"/api/ops/imports/{view.id}"
    if view.state in (ImportState.QUEUED, ImportState.RUNNING):
        response.headers["Retry-After"] = "2"
    return response, status


@ops.post("/cases/import")
def import_cases_api() -> tuple[Response, int]:
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            parts = ", ".join(repr(name) for name in [*request.files, *request.form]) or "none"
            message = (
                f"a multipart upload needs the CSV in a file part named 'file' (curl -F file=@cases.csv); got {parts}"
            )
            return error_response(400, "missing_file", message), 400
        stream: IO[bytes] = upload.stream
        source = upload.filename or "uploaded file"
    else:
        # Never request.form, request.files or get_data(parse_form_data=True) here: for a body declared
        # application/x-www-form-urlencoded (what `curl --data-binary` sends unless told otherwise), Werkzeug
        # would parse the CSV as a form, consuming the body and leaving an empty file to import.
        stream = request.stream
        source = "request body"
    head = _read_up_to(stream, SYNC_IMPORT_BYTES + 1)
    if not head:
        error = {"row": 0, "line": 1, "column": None, "message": EMPTY_BODY}
        return jsonify({"error": "invalid_csv", "message": EMPTY_BODY, "error_count": 1, "errors": [error]}), 422
    prefers_async = _prefers_async()
    if len(head) <= SYNC_IMPORT_BYTES and not prefers_async:
        return _import_now(head, source)

    runtime = current_runtime()
    # The body goes to the database in ~1 MiB chunks as it arrives; it is never whole in memory.
    job_id = imports.create_job(runtime, chain([head], _rest(stream)), source=source)
    try:
        jobs.dispatch(runtime, jobs.IMPORT_CASES, (job_id,))
    except Exception:
        # The job is stored and queued: the sweeper sends it within a minute. Answering an error here would
        # hide its id from a client who would then upload the file again.
        log.exception("could not send import job %s to a worker; the sweeper will", job_id)
    view = imports.job_view(db(), job_id)
    if view is None:  # removed in between: only by hand
        return error_response(404, "not_found", f"no import job {job_id!r}"), 404
    response, status = _job_response(view, 202)
    if prefers_async:
        response.headers["Preference-Applied"] = "respond-async"
    return response, status


def _import_now(raw: bytes, source: str) -> tuple[Response, int]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return jsonify({"error": "invalid_csv", "message": f"{source} is not UTF-8 text: {exc}"}), 400
    try:
        imported = import_cases_text(current_runtime(), text, source=source)
    except ImportRejected as rejected:
        return jsonify(
            {
                "error": "invalid_csv",
                "message": f"{rejected.error_count} problem(s) in {source}; nothing was imported",
                "error_count": rejected.error_count,
                "errors": [row_error_json(e) for e in rejected.errors],
            }
        ), 422
    return jsonify({"imported": len(imported.rows), "relief_for_outages": imported.outage_ids}), 200


@ops.get("/imports/<job_id>")
def get_import(job_id: str) -> tuple[Response, int]:
    if not _JOB_ID.fullmatch(job_id):
        message = "path parameter job_id: an import job id is 32 lowercase hexadecimal characters"
        return error_response(422, "invalid_job_id", message), 422
    view = imports.job_view(db(), job_id)
    if view is None:
        return error_response(404, "not_found", f"no import job {job_id!r}"), 404
    return _job_response(view, 200)


@ops.get("/outbox")
def outbox() -> Response:
    """The delivery backlog per consumer, and what keeps failing: ops see retries that have not caught up."""
    return jsonify(backlog_report(current_runtime()))
