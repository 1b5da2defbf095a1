"""The ops API's people, tokens and audit log: who may act, and what everyone did.

Managing people and tokens is for admins; anyone with a token may ask who they are and read the audit
log. A token is in the answer that makes it, once, and nowhere else.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, jsonify, request

from monitor.storage.engine import transaction
from monitor.storage.enums import Role
from monitor.usecases import audit, people
from monitor.usecases.outages import MAX_ID, Conflict, InvalidInput, NotFound
from monitor.web.auth import authorise_api, current_actor, requires
from monitor.web.context import current_runtime, db
from monitor.web.errors import error_response
from monitor.web.ops import _conflict, _invalid, _json_object

people_api = Blueprint("people_api", __name__)
people_api.before_request(authorise_api)

PERSON_FIELDS = ("name", "role", "slack_user_id")
MAX_AUDIT_PAGE = 1000


@people_api.get("/me")
def me() -> Response:
    """Who the token belongs to, and their role."""
    actor = current_actor()
    return jsonify({"name": actor.name, "role": actor.role.value, "person_id": actor.person_id})


@people_api.get("/people")
@requires(Role.ADMIN)
def list_people() -> Response:
    return jsonify({"people": people.people_report(db())})


@people_api.post("/people")
@requires(Role.ADMIN)
def create_person() -> tuple[Response, int]:
    """A new person and their first token (shown once); passwords for the dashboard are set at the command line."""
    runtime = current_runtime()
    try:
        body = _json_object(PERSON_FIELDS, ("name", "role"))
        with transaction(runtime.sessions) as session:
            person = people.create_person(
                session,
                current_actor(),
                name=body["name"],
                role=body["role"],
                slack_user_id=body.get("slack_user_id"),
                now=runtime.clock(),
            )
            issued = people.issue_token(session, current_actor(), person.name, now=runtime.clock())
            shown = {**people.person_json(person), "token": issued.as_json()}
    except InvalidInput as exc:
        return _invalid(exc)
    except Conflict as exc:
        return _conflict(exc)
    response = jsonify(shown)
    response.headers["Location"] = f"/api/ops/people/{shown['name']}"
    return response, 201


@people_api.post("/people/<name>/tokens")
@requires(Role.ADMIN)
def create_token(name: str) -> tuple[Response, int]:
    runtime = current_runtime()
    try:
        with transaction(runtime.sessions) as session:
            issued = people.issue_token(session, current_actor(), name, now=runtime.clock())
    except NotFound as exc:
        return error_response(404, "not_found", str(exc)), 404
    except Conflict as exc:
        return _conflict(exc)
    return jsonify(issued.as_json()), 201


@people_api.delete("/tokens/<prefix>")
@requires(Role.ADMIN)
def revoke_token(prefix: str) -> tuple[Response, int]:
    """Revoke a token by its prefix (`pw_ab12cd34` or `ab12cd34`); again: the same answer."""
    runtime = current_runtime()
    try:
        with transaction(runtime.sessions) as session:
            token, person = people.revoke_token(session, current_actor(), prefix, now=runtime.clock())
            shown = {**people.token_json(token), "person": person.name}
    except NotFound as exc:
        return error_response(404, "not_found", str(exc)), 404
    return jsonify(shown), 200


@people_api.get("/audit")
def audit_log() -> tuple[Response, int]:
    """The audit log, newest first: `?limit=N` (1 to 1000, 100 by default), `?before=<id>` for the next page."""
    limit = request.args.get("limit", default=100, type=int)
    if limit is None or not 1 <= limit <= MAX_AUDIT_PAGE:
        return error_response(422, "invalid_parameter", f"query parameter limit: 1 to {MAX_AUDIT_PAGE}"), 422
    before_text = request.args.get("before")
    before: int | None = None
    if before_text is not None:
        if not re.fullmatch("[0-9]{1,19}", before_text) or not 1 <= int(before_text) <= MAX_ID:
            return error_response(422, "invalid_parameter", "query parameter before: an entry id"), 422
        before = int(before_text)
    found = audit.entries(db(), before_id=before, limit=limit)
    following = None
    if len(found) == limit and found[-1].id > 1:
        following = f"/api/ops/audit?before={found[-1].id}&limit={limit}"
    return jsonify({"entries": [audit.entry_json(entry) for entry in found], "next": following}), 200
