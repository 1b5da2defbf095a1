"""POST /slack/interactivity: Slack tells PortalWatch that someone pressed a button on one of its messages.

Trust comes from Slack's signature alone (SLACK_SIGNING_SECRET, checked by slack-sdk's
SignatureVerifier over the raw body and X-Slack-Request-Timestamp): no bearer token, no session, no
CSRF token (Slack has none to send). A bad or missing signature, or a timestamp more than five
minutes from our clock (a replay), is a 401 and nothing is done. A genuine request is answered 200
at once, even one whose payload cannot be read (the problem is logged and named in the body);
whatever stopped the action is told to the person who pressed the button, in Slack, by a job of its
own, so this answer never waits on Slack.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from urllib.parse import parse_qs

from flask import Blueprint, Response, jsonify, request
from slack_sdk.signature import Clock, SignatureVerifier

from monitor.usecases import interactive, jobs
from monitor.usecases.outages import InvalidInput
from monitor.web.context import current_runtime
from monitor.web.selfservice import limiter

log = logging.getLogger(__name__)

slack = Blueprint("slack", __name__)

MAX_BODY = 64 * 1024  # a button press is a few kilobytes
# Per client address: Slack's requests come from its own few addresses, so this is generous; it bounds
# what someone without the secret can make us hash.
RATE_LIMIT = "300/minute"


class _RuntimeClock(Clock):
    """The runtime's clock, which tests set, for the five-minute window."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now().timestamp()


def _problem(status: int, error: str, message: str) -> tuple[Response, int]:
    return jsonify({"error": error, "message": message}), status


def _genuine(body: bytes, secret: str) -> bool:
    timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
    signature = request.headers.get("X-Slack-Signature", "")
    if not timestamp.isdigit() or len(timestamp) > 12 or not signature:
        return False
    verifier = SignatureVerifier(secret, clock=_RuntimeClock(current_runtime().clock))
    return verifier.is_valid(body=body, timestamp=timestamp, signature=signature)


def _payload_field(body: bytes) -> str:
    """The form's one `payload` field (application/x-www-form-urlencoded, as Slack sends it)."""
    try:
        form = parse_qs(body.decode("utf-8"), max_num_fields=20)
    except (UnicodeDecodeError, ValueError):  # ValueError: more fields than any button press has
        raise InvalidInput("payload", "expected a form with a payload field") from None
    values = form.get("payload", [])
    if len(values) != 1:
        raise InvalidInput("payload", "expected exactly one payload field")
    return values[0]


@slack.post("/slack/interactivity")
@limiter.limit(RATE_LIMIT)
def interactivity() -> Response | tuple[Response, int]:
    runtime = current_runtime()
    secret = runtime.settings.slack_signing_secret
    if secret is None:
        return _problem(
            503,
            "not_configured",
            "Slack interactivity is not set up here: set SLACK_SIGNING_SECRET to the Slack app's signing secret",
        )
    request.max_content_length = MAX_BODY  # a larger body is answered 413 before it is read
    body = request.get_data(cache=False)
    if not _genuine(body, secret.get_secret_value()):
        return _problem(
            401,
            "unauthorized",
            "a valid X-Slack-Signature and an X-Slack-Request-Timestamp within five minutes are required",
        )
    try:
        clicks = interactive.parse_payload(_payload_field(body))
    except InvalidInput as exc:
        # Signed, so it came from Slack: a genuine request is always answered 200. With no user or
        # response_url to tell, the problem is logged and named in the body, and nothing is done.
        log.warning("a signed Slack request had a payload PortalWatch cannot read: %s", exc)
        return jsonify({"error": "invalid_payload", "message": str(exc), "field": exc.field}), 200
    for click in clicks:
        try:
            answer = interactive.handle_click(runtime, click)
        except Exception:
            # Slack shows its own error for anything but a 200; the presser is told here instead.
            log.exception("a Slack button press could not be handled")
            answer = interactive.Answer("PortalWatch could not act on this just now (see its logs); nothing was done.")
        try:
            jobs.deliver_all(runtime, answer.deliveries)
            if answer.told and click.response_url:
                jobs.dispatch(runtime, jobs.SLACK_RESPOND, (click.response_url, answer.told))
        except Exception:
            # Committed with the acknowledgement: the outbox sweeper updates the message anyway.
            log.exception("could not hand Slack's follow-up to a worker")
    return Response(status=200)
