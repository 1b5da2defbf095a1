"""The ops API: bearer-token protected; without a valid token nothing but a 401 comes back, and with too low
a role for what is asked, a 403."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from itertools import chain
from typing import IO, Any

from flask import Blueprint, Response, abort, jsonify, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exemptions.cases import ImportRejected
from monitor.evidence.chain import evidence_digest
from monitor.storage.engine import transaction
from monitor.storage.enums import ImportState, OutageSource
from monitor.storage.models import Case, Check, Component, Grant, Outage
from monitor.timefmt import iso
from monitor.usecases import desk, evidence, imports, jobs, letters, maintenance, notices, outages, overview
from monitor.usecases.case_relief import case_relief, paper_authorisations
from monitor.usecases.cases import import_cases_text
from monitor.usecases.checks import outage_subject
from monitor.usecases.components import component_states, outage_history
from monitor.usecases.deliver import backlog_report
from monitor.usecases.evidence import PieceView
from monitor.usecases.imports import ImportJobView, row_error_json
from monitor.usecases.locations import location_views
from monitor.usecases.uptime import monitoring_gaps, uptime_report
from monitor.web.auth import authorise_api, current_actor
from monitor.web.context import current_runtime, db
from monitor.web.errors import error_response
from monitor.web.pieces import piece_response
from probes.result import failed_step

log = logging.getLogger(__name__)

ops = Blueprint("ops", __name__)

MAX_CASE_ID = 64


# Every route: 401 without a valid bearer token (a person's own, or the bootstrap PORTALWATCH_OPS_TOKEN),
# 403 with too low a role (reading: viewer; acting: ops; see monitor.web.auth).
ops.before_request(authorise_api)


def _check_json(check: Check | None, pieces: list[PieceView] | None = None) -> dict[str, Any] | None:
    if check is None:
        return None
    return {
        "id": check.id,
        "probe_id": check.probe_id,
        "location": check.location,
        "slot": iso(check.slot),
        "kind": check.kind.value,
        "started_at": iso(check.started_at),
        "status_code": check.status_code,
        "error_class": check.error_class.value if check.error_class else None,
        "error": check.error,
        "failed_step": failed_step(check.evidence),
        "evidence": check.evidence,
        # As recorded: once retention has pruned a passing check's text, the SHA-256 kept for it.
        "evidence_sha256": check.evidence_sha256 or evidence_digest(check.evidence),
        "evidence_pruned_at": iso(check.evidence_pruned_at),
        "evidence_pieces": [_piece_json(piece) for piece in pieces or []],
        "digest": check.digest,
        "prev_digest": check.prev_digest,
        "blind": check.blind,
    }


def _piece_json(piece: PieceView) -> dict[str, Any]:
    return {
        "name": piece.name,
        "sha256": piece.sha256,
        "size": piece.size,
        "content_type": piece.content_type,
        "url": url_for("ops.get_check_piece", check_id=piece.check_id, name=piece.name),
    }


def _outage_rows(*, where: list[Any], limit: int) -> list[dict[str, Any]]:
    """Outages as ops read them, newest first: bounds, source and reason, grants, evidence, corrections,
    acknowledgement and updates."""
    session = db()
    grants = select(Grant.outage_id, func.count().label("n")).group_by(Grant.outage_id).subquery()
    query = (
        select(Outage, Component.name, Check, func.coalesce(grants.c.n, 0))
        .join(Component, Component.id == Outage.component_id)
        .outerjoin(Check, Check.id == Outage.first_check_id)
        .outerjoin(grants, grants.c.outage_id == Outage.id)
        .where(*where)
        .order_by(Outage.started_at.desc(), Outage.id.desc())
        .limit(limit)
    )
    rows = session.execute(query).all()
    corrections = outages.corrections_of(session, [o.id for o, *_ in rows])
    history = outage_history(session, [o.id for o, *_ in rows])
    pieces = evidence.pieces_of(session, [check.id for _, _, check, _ in rows if check is not None])
    acknowledged = desk.acknowledgements_of(session, [o.id for o, *_ in rows])
    updates = desk.updates_of(session, [o.id for o, *_ in rows])
    now = current_runtime().clock()
    return [
        {
            "id": o.id,
            "component": {"id": o.component_id, "name": name},
            "source": o.source.value,
            "reason": o.reason,
            "severity": o.severity.value,
            "history": history[o.id],
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
            "first_failed_check": _check_json(check, None if check is None else pieces[check.id]),
            "corrections": [outages.correction_json(c) for c in corrections[o.id]],
            "false_positive_at": iso(o.false_positive_at),
            "acknowledged_at": iso(acknowledged[o.id].acknowledged_at) if o.id in acknowledged else None,
            "acknowledged_by": acknowledged[o.id].acknowledged_by if o.id in acknowledged else None,
            "updates": [desk.update_json(u) for u in updates[o.id]],
        }
        for o, name, check, n_grants in rows
    ]


@ops.get("/outages")
def list_outages() -> Response:
    limit = request.args.get("limit", default=100, type=int)
    if not 1 <= limit <= 1000:
        abort(400, "limit must be between 1 and 1000")
    where: list[Any] = []
    if request.args.get("open") in ("1", "true"):
        where.append(Outage.ended_at.is_(None))
    source = request.args.get("source")
    if source is not None:
        if source not in set(OutageSource):
            abort(400, f"source must be one of {', '.join(OutageSource)}")
        where.append(Outage.source == OutageSource(source))
    return jsonify({"outages": _outage_rows(where=where, limit=limit)})


@ops.get("/outages/<int:outage_id>")
def get_outage(outage_id: int) -> tuple[Response, int]:
    rows = _outage_rows(where=[Outage.id == outage_id], limit=1) if outage_id <= outages.MAX_ID else []
    if not rows:
        return error_response(404, "not_found", f"no outage {outage_id}"), 404
    return jsonify(rows[0]), 200


@ops.get("/checks/<int:check_id>")
def get_check(check_id: int) -> tuple[Response, int]:
    """One check with its evidence and its place in the check log's chain."""
    check = db().get(Check, check_id) if check_id <= outages.MAX_ID else None
    if check is None:
        return error_response(404, "not_found", f"no check {check_id}"), 404
    return jsonify(_check_json(check, evidence.pieces_of(db(), [check.id])[check.id])), 200


@ops.get("/checks/<int:check_id>/evidence/<name>")
def get_check_piece(check_id: int, name: str) -> Response:
    """A large piece of a check's evidence (a screenshot), as kept: only bytes that still have its SHA-256."""
    return piece_response(check_id, name)


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
            # effective_deadline (with the case's zone offset), extendable, decision, history, paper_filing.
            **case_relief(db(), case),
            # Every letter issued to the case, superseded ones too, and the notices that told its holder.
            "letters": [
                {**link, "issued": link["issued_at"]}
                for link in letters.case_letters(db(), case.case_id, current_runtime().config.page)
            ],
            "letters_pending": letters.case_letters_pending(db(), case.case_id),
            "notices": notices.case_notices(db(), case.case_id),
        }
    )


@ops.get("/letters")
def letters_summary() -> Response:
    """Letters owed and issued, and those that keep failing to be made (with their last error)."""
    return jsonify(letters.letters_report(current_runtime()))


@ops.get("/notices")
def notices_summary() -> Response:
    """Notices owed and sent to case holders, and each one that keeps failing, with its last error."""
    return jsonify(notices.notices_report(current_runtime()))


@ops.get("/paper-authorisations")
def list_paper_authorisations() -> Response:
    """Paper-filing authorisations, current and past (`?current=true|false`, `?component=<id>`)."""
    current = request.args.get("current", "").lower()
    if current not in ("", "true", "false"):
        return error_response(422, "invalid_parameter", "query parameter current: expected true or false")
    rows = paper_authorisations(
        db(),
        now=current_runtime().clock(),
        current=None if current == "" else current == "true",
        component=request.args.get("component") or None,
    )
    return jsonify({"authorisations": rows})


# Bodies up to this size are imported while the client waits (well under a second); larger ones, or any
# with `Prefer: respond-async`, become a job: a million rows would outlast gunicorn's 30 s worker timeout.
SYNC_IMPORT_BYTES = 1024 * 1024
# Access codes are hashed slowly on purpose (about 12 ms each): more than this many would keep the client,
# and a gunicorn worker, waiting for seconds, so such a file runs as a job.
SYNC_ACCESS_CODES = 100


def _many_access_codes(head: bytes) -> bool:
    first_line, _, rest = head.partition(b"\n")
    if b"access_code" not in first_line.lower():
        return False
    return rest.count(b"\n") > SYNC_ACCESS_CODES


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
    if len(head) <= SYNC_IMPORT_BYTES and not prefers_async and not _many_access_codes(head):
        return _import_now(head, source)

    runtime = current_runtime()
    # The body goes to the database in ~1 MiB chunks as it arrives; it is never whole in memory.
    job_id = imports.create_job(runtime, chain([head], _rest(stream)), source=source, actor=current_actor())
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
        imported = import_cases_text(current_runtime(), text, source=source, actor=current_actor())
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


@ops.get("/components")
def list_components() -> Response:
    """Each component's detection as it stands: every probe at every location, the quorum, impairment."""
    return jsonify({"components": component_states(db(), now=current_runtime().clock())})


@ops.get("/uptime")
def uptime_figures() -> Response:
    """Each component's uptime over 1, 7, 30 and 90 days, gaps and maintenance left out (and said so)."""
    return jsonify(uptime_report(db(), now=current_runtime().clock()))


@ops.get("/monitoring-gaps")
def list_monitoring_gaps() -> Response:
    """When nobody watched each component (workers, scheduler or every location down) in the last 30 days."""
    return jsonify({"monitoring_gaps": monitoring_gaps(db(), now=current_runtime().clock())})


@ops.get("/locations")
def list_locations() -> Response:
    """Where probes run from, and whether each can see: a blind location's checks are not counted."""
    return jsonify({"locations": [view.as_json() for view in location_views(db())]})


@ops.get("/outbox")
def outbox() -> Response:
    """The delivery backlog per consumer, and what keeps failing: ops see retries that have not caught up."""
    return jsonify(backlog_report(current_runtime()))


# --- declared outages, corrections and maintenance --------------------------------------------------

# A declaration or a correction is a few hundred bytes; the limit only stops mistakes and abuse.
MAX_JSON_BYTES = 64 * 1024
DECLARE_FIELDS = ("component", "started_at", "ended_at", "severity", "reason")
DECLARE_REQUIRED = ("component", "started_at", "severity", "reason")
CORRECT_FIELDS = (*outages.CORRECTABLE, "reason")
ANNOUNCE_FIELDS = ("components", "starts_at", "ends_at", "announced_at", "title")
ANNOUNCE_REQUIRED = ("components", "starts_at", "ends_at", "title")


# The desk's use cases say what went wrong by raising; every ops route answers the same way for each.
@ops.errorhandler(outages.NotFound)
def _not_found(exc: outages.NotFound) -> tuple[Response, int]:
    return error_response(404, "not_found", str(exc)), 404


@ops.errorhandler(outages.InvalidInput)
def _invalid(exc: outages.InvalidInput) -> tuple[Response, int]:
    return error_response(422, "invalid_input", str(exc), field=exc.field), 422


@ops.errorhandler(outages.Conflict)
def _conflict(exc: outages.Conflict) -> tuple[Response, int]:
    return error_response(409, "conflict", exc.message, field=exc.field), 409


def _json_object(fields: tuple[str, ...], required: tuple[str, ...]) -> dict[str, Any]:
    """The request body as a JSON object holding only `fields` and at least `required`; InvalidInput otherwise."""
    request.max_content_length = MAX_JSON_BYTES  # a larger body is answered 413 before it is read
    raw = request.get_data(cache=False)
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError; `[[[[…` nested deep, RecursionError
        raise outages.InvalidInput("body", "expected a JSON object (Content-Type: application/json)") from None
    if not isinstance(body, dict):
        raise outages.InvalidInput("body", f"expected a JSON object, got {type(body).__name__}")
    for name in body:
        if name not in fields:
            raise outages.InvalidInput(name[:100], f"unknown field; expected {', '.join(fields)}")
    for name in required:
        if name not in body:
            raise outages.InvalidInput(name, "is required")
    return body


def _deliver_soon(deliveries: list[int]) -> None:
    overview.deliver_soon(current_runtime(), deliveries)


def _pending(session: Session, subject: str) -> list[int]:
    return overview.pending_deliveries(session, subject)


@ops.post("/outages")
def declare_outage() -> tuple[Response, int]:
    """Record an outage the probes did not see (the portal's operator reported it, say)."""
    runtime = current_runtime()
    body = _json_object(DECLARE_FIELDS, DECLARE_REQUIRED)
    with transaction(runtime.sessions) as session:
        outage = desk.declare_outage(
            session,
            current_actor(),
            component_id=body["component"],
            started_at=body["started_at"],
            ended_at=body.get("ended_at"),
            severity=body["severity"],
            reason=body["reason"],
            now=runtime.clock(),
            grace_days=runtime.config.relief.grace_days,
        )
        outage_id = outage.id
        deliveries = _pending(session, outage_subject(outage_id))
    _deliver_soon(deliveries)
    [shown] = _outage_rows(where=[Outage.id == outage_id], limit=1)
    response = jsonify(shown)
    response.headers["Location"] = f"/api/ops/outages/{outage_id}"
    return response, 201


@ops.patch("/outages/<int:outage_id>")
def correct_outage(outage_id: int) -> tuple[Response, int]:
    """Correct an outage's bounds or severity, with a reason; the correction is kept with the outage."""
    runtime = current_runtime()
    # An unknown outage is a 404 whatever the body says.
    if not _known_outage(outage_id):
        return error_response(404, "not_found", f"no outage {outage_id}"), 404
    body = _json_object(CORRECT_FIELDS, ("reason",))
    changes = {name: body[name] for name in outages.CORRECTABLE if name in body}
    if not changes:
        raise outages.InvalidInput("body", "nothing to correct: give started_at, ended_at or severity")
    with transaction(runtime.sessions) as session:
        desk.correct_outage(
            session, current_actor(), outage_id, changes=changes, reason=body["reason"], now=runtime.clock()
        )
        deliveries = _pending(session, outage_subject(outage_id))
    _deliver_soon(deliveries)
    [shown] = _outage_rows(where=[Outage.id == outage_id], limit=1)
    return jsonify(shown), 200


def _known_outage(outage_id: int) -> bool:
    # Its own short transaction, before the body is read: on SQLite any transaction holds the write lock,
    # which must not wait on the client sending its body.
    with transaction(current_runtime().sessions) as session:
        return outage_id <= outages.MAX_ID and session.get(Outage, outage_id) is not None


@ops.post("/outages/<int:outage_id>/acknowledge")
def acknowledge_outage(outage_id: int) -> tuple[Response, int]:
    """Say someone is on it: the first acknowledgement stands (again: the same answer, nothing recorded)."""
    runtime = current_runtime()
    with transaction(runtime.sessions) as session:
        desk.acknowledge(session, current_actor(), outage_id, now=runtime.clock())
        deliveries = _pending(session, outage_subject(outage_id))
    _deliver_soon(deliveries)
    [shown] = _outage_rows(where=[Outage.id == outage_id], limit=1)
    return jsonify(shown), 200


UPDATE_FIELDS = ("body", "public", "language")


@ops.post("/outages/<int:outage_id>/updates")
def post_outage_update(outage_id: int) -> tuple[Response, int]:
    """A note about an outage: `public: true` shows it on the status page and in summary.json; internal otherwise."""
    if not _known_outage(outage_id):
        return error_response(404, "not_found", f"no outage {outage_id}"), 404
    runtime = current_runtime()
    body = _json_object(UPDATE_FIELDS, ("body",))
    with transaction(runtime.sessions) as session:
        update = desk.post_update(
            session,
            current_actor(),
            outage_id,
            body=body["body"],
            public=body.get("public", False),
            language=body.get("language"),
            now=runtime.clock(),
        )
        shown = {**desk.update_json(update), "outage_id": outage_id}
        deliveries = _pending(session, desk.update_subject(outage_id, update.id))
    _deliver_soon(deliveries)
    return jsonify(shown), 201


@ops.post("/outages/<int:outage_id>/false-positive")
def mark_false_positive(outage_id: int) -> tuple[Response, int]:
    """Mark an ended outage a false positive, with a reason: a correction; the answer says what became of relief."""
    if not _known_outage(outage_id):
        return error_response(404, "not_found", f"no outage {outage_id}"), 404
    runtime = current_runtime()
    body = _json_object(("reason",), ("reason",))
    with transaction(runtime.sessions) as session:
        _, relief, _ = desk.mark_false_positive(
            session, current_actor(), outage_id, reason=body["reason"], now=runtime.clock()
        )
        deliveries = _pending(session, outage_subject(outage_id))
    _deliver_soon(deliveries)
    [shown] = _outage_rows(where=[Outage.id == outage_id], limit=1)
    return jsonify({**shown, "relief": relief}), 200


@ops.get("/maintenance")
def list_maintenance_windows() -> Response:
    limit = request.args.get("limit", default=100, type=int)
    if not 1 <= limit <= 1000:
        abort(400, "limit must be between 1 and 1000")
    include_inactive = request.args.get("all") in ("1", "true")
    views = maintenance.list_maintenance(
        db(), now=current_runtime().clock(), include_inactive=include_inactive, limit=limit
    )
    return jsonify({"maintenance": [maintenance.view_json(v) for v in views]})


@ops.get("/maintenance/<int:maintenance_id>")
def get_maintenance_window(maintenance_id: int) -> tuple[Response, int]:
    view = maintenance.get_maintenance(db(), maintenance_id, now=current_runtime().clock())
    return jsonify(maintenance.view_json(view)), 200


@ops.post("/maintenance")
def announce_maintenance_window() -> tuple[Response, int]:
    """Announce a one-off maintenance window (`announced_at` defaults to now and is never later)."""
    runtime = current_runtime()
    now = runtime.clock()
    body = _json_object(ANNOUNCE_FIELDS, ANNOUNCE_REQUIRED)
    with transaction(runtime.sessions) as session:
        window = desk.announce_maintenance(
            session,
            current_actor(),
            components=body["components"],
            starts_at=body["starts_at"],
            ends_at=body["ends_at"],
            title=body["title"],
            announced_at=body.get("announced_at"),
            now=now,
        )
        shown = maintenance.view_json(maintenance.view_of(window, now=now))
        deliveries = _pending(session, maintenance.maintenance_subject(window.id))
    _deliver_soon(deliveries)
    response = jsonify(shown)
    response.headers["Location"] = f"/api/ops/maintenance/{shown['id']}"
    return response, 201


@ops.delete("/maintenance/<int:maintenance_id>")
def cancel_maintenance_window(maintenance_id: int) -> tuple[Response, int]:
    """Withdraw a window announced through the API; answers the window, now inactive (again: the same)."""
    runtime = current_runtime()
    now = runtime.clock()
    with transaction(runtime.sessions) as session:
        window = desk.cancel_maintenance(session, current_actor(), maintenance_id, now=now)
        shown = maintenance.view_json(maintenance.view_of(window, now=now))
        deliveries = _pending(session, maintenance.maintenance_subject(window.id))
    _deliver_soon(deliveries)
    return jsonify(shown), 200
