"""What people do from Slack: the Acknowledge button on an outage's message.

Slack sends the click to POST /slack/interactivity (verified there); this maps the Slack user to a
person by the Slack id in their profile and acknowledges as them, with the audit entry and outbox
event desk.acknowledge writes, in one transaction. Anything that stops it (an unknown Slack user, a
viewer, an outage that has ended or was already acknowledged) is told back to that user alone
through the click's `response_url`, after the transaction, never inside it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import select

from monitor.notify.slack.channel import respond
from monitor.notify.slack.render import ACKNOWLEDGE_ACTION
from monitor.people.credentials import allows
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import DeliveryState, Role
from monitor.storage.models import Delivery, Outage, Person
from monitor.timefmt import local
from monitor.usecases import desk
from monitor.usecases.audit import Actor
from monitor.usecases.checks import outage_subject
from monitor.usecases.outages import MAX_ID, InvalidInput

log = logging.getLogger(__name__)

RESPOND_TIMEOUT = 3  # seconds: telling the user is best effort and must not hold a worker long
LINK_COMMAND = "python -m monitor set-slack-user <name> <Slack user id>"


@dataclass(frozen=True)
class Click:
    """One button press, as Slack describes it."""

    slack_user_id: str
    action_id: str
    value: str
    response_url: str | None


@dataclass(frozen=True)
class Answer:
    """What came of it: a line to tell the user (None: nothing to tell) and the deliveries to hand out."""

    told: str | None
    deliveries: list[int] = field(default_factory=list)


def parse_payload(text: str) -> list[Click]:
    """The button presses in an interactivity `payload` (JSON); other kinds of interaction have none.

    InvalidInput names the part that is not what Slack sends.
    """
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidInput("payload", "expected the JSON Slack sends") from None
    if not isinstance(payload, dict):
        raise InvalidInput("payload", "expected a JSON object")
    if payload.get("type") != "block_actions":
        return []  # a shortcut, a view submission…: nothing here acts on those
    user = payload.get("user")
    if not isinstance(user, dict) or not isinstance(user.get("id"), str):
        raise InvalidInput("payload.user.id", "is required: the Slack user who pressed the button")
    actions = payload.get("actions")
    if not isinstance(actions, list):
        raise InvalidInput("payload.actions", "expected a list")
    response_url = payload.get("response_url")
    if response_url is not None and not _web_url(response_url):
        raise InvalidInput("payload.response_url", "expected an http(s) URL")
    clicks = []
    for action in actions:
        if not isinstance(action, dict) or not isinstance(action.get("action_id"), str):
            raise InvalidInput("payload.actions", "each action needs an action_id")
        value = action.get("value")
        clicks.append(
            Click(
                slack_user_id=user["id"][:32],
                action_id=action["action_id"],
                value=value[:32] if isinstance(value, str) else "",
                response_url=response_url,
            )
        )
    return clicks


def _web_url(value: object) -> bool:
    if not isinstance(value, str) or len(value) > 2000:
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def handle_click(runtime: Runtime, click: Click) -> Answer:
    if click.action_id != ACKNOWLEDGE_ACTION:
        return Answer(None)  # a button of another app version: nothing to do
    return acknowledge_from_slack(runtime, slack_user_id=click.slack_user_id, outage_value=click.value)


def acknowledge_from_slack(runtime: Runtime, *, slack_user_id: str, outage_value: str) -> Answer:
    """Acknowledge the outage as the person whose profile holds this Slack id, if they may."""
    zone = runtime.config.page.time_zone
    now = runtime.clock()
    if not outage_value.isdigit() or not 0 < int(outage_value) <= MAX_ID:
        return Answer("This button names no outage PortalWatch knows; nothing was done.")
    outage_id = int(outage_value)
    with transaction(runtime.sessions) as session:
        person = session.scalar(select(Person).where(Person.slack_user_id == slack_user_id))
        if person is None:
            return Answer(
                f"Your Slack account ({slack_user_id}) is not linked to anyone in PortalWatch, so nothing was "
                f"done. An admin can link it: `{LINK_COMMAND}`."
            )
        if not person.active:
            return Answer(f"{person.name} is no longer active in PortalWatch; nothing was done.")
        if not allows(person.role, Role.OPS):
            return Answer(
                f"Acknowledging needs the ops role or above; {person.name} has {person.role.value}. Nothing was done."
            )
        outage = session.get(Outage, outage_id, with_for_update=True)
        if outage is None:
            return Answer(f"Outage #{outage_id} does not exist; nothing was done.")
        if outage.false_positive_at is not None:
            return Answer(f"Outage #{outage_id} was marked a false positive; there is nothing to acknowledge.")
        if outage.ended_at is not None:
            return Answer(
                f"Outage #{outage_id} already ended at {local(outage.ended_at, zone)}; there is nothing to acknowledge."
            )
        actor = Actor(person.name, person.role, person.id)
        acknowledgement, made = desk.acknowledge(session, actor, outage_id, now=now)
        if not made:
            return Answer(
                f"Outage #{outage_id} was already acknowledged by {acknowledgement.acknowledged_by} at "
                f"{local(acknowledgement.acknowledged_at, zone)}."
            )
        deliveries = list(
            session.scalars(
                select(Delivery.id)
                .where(Delivery.subject == outage_subject(outage_id), Delivery.state == DeliveryState.PENDING)
                .order_by(Delivery.id)
            )
        )
    log.info("outage %s acknowledged from Slack by %s", outage_id, person.name)
    return Answer(None, deliveries)


def tell(response_url: str, text: str) -> bool:
    """Tell the user who pressed the button, and only them (an ephemeral message); failures are logged."""
    try:
        respond(response_url, text, timeout=RESPOND_TIMEOUT)
    except Exception as exc:  # best effort: the click itself was handled
        # Never the URL itself: it lets anyone post in the channel for a while.
        log.warning("could not tell the Slack user: %s: %s", type(exc).__name__, exc)
        return False
    return True
