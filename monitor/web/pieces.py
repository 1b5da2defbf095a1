"""Serving one piece of a check's evidence (a screenshot): the ops API and the dashboard answer alike."""

from __future__ import annotations

from flask import Response

from monitor.usecases import evidence, outages
from monitor.web.context import current_runtime
from monitor.web.errors import error_response
from probes.result import ATTACHMENT_NAME

# A piece that is listed but cannot be served: its file is gone (410), or no longer has its SHA-256
# (409: the store disagrees with the record; verify-evidence says more). Unlisted: 404.
_PIECE_STATUS = {"not_found": 404, "missing": 410, "altered": 409}


def piece_response(check_id: int, name: str) -> Response:
    """The piece as kept, with the content type it was recorded with: only bytes that still have its SHA-256."""
    if check_id > outages.MAX_ID or not ATTACHMENT_NAME.fullmatch(name):
        return error_response(404, "not_found", f"check {check_id} has no evidence piece {name!r:.80}")
    try:
        piece, data = evidence.read_piece(current_runtime(), check_id, name)
    except evidence.PieceUnavailable as unavailable:
        error = "not_found" if unavailable.reason == "not_found" else f"evidence_{unavailable.reason}"
        return error_response(_PIECE_STATUS[unavailable.reason], error, unavailable.message)
    response = Response(data, mimetype=piece.content_type)
    # Shown in the page, never run: nosniff (every answer) keeps a browser from reading it as anything else.
    response.headers["Content-Disposition"] = f'inline; filename="check-{check_id}-{piece.name}"'
    response.headers["X-Evidence-SHA256"] = piece.sha256
    response.headers["ETag"] = f'"{piece.sha256}"'
    return response
