"""What on-call staff read in Slack (pure): one message per outage or monitoring interruption, kept current."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from monitor.notify.channel import Message
from monitor.storage.enums import EndReason, OutageSource, Severity
from monitor.timefmt import duration, local

_SEVERITY = {
    Severity.MAJOR_OUTAGE: (":red_circle:", "Major outage"),
    Severity.PARTIAL_OUTAGE: (":large_orange_circle:", "Partial outage"),
    Severity.DEGRADED_PERFORMANCE: (":large_yellow_circle:", "Degraded performance"),
}
MAX_REASON_CHARS = 1000  # a reason is quoted whole up to this; Slack allows 3,000 per section
MAX_REPLY_CHARS = 2900  # an update is quoted up to this: one section holds 3,000
# The Acknowledge button: POST /slack/interactivity recognises it by this id; its value is the outage id.
ACKNOWLEDGE_ACTION = "acknowledge_outage"
_ENDED_BECAUSE = {
    EndReason.COMPONENT_REMOVED: "the component was removed from monitoring",
    EndReason.WATCH_REMOVED: "the probes or locations that saw it down were removed from monitoring",
}


@dataclass(frozen=True)
class OutageFacts:
    outage_id: int
    component_name: str
    started_at: datetime
    ended_at: datetime | None
    end_reason: EndReason | None
    error: str | None  # what the first failed check saw
    grants: int
    source: OutageSource = OutageSource.OBSERVED
    severity: Severity = Severity.MAJOR_OUTAGE
    reason: str | None = None  # a declared outage's reason, as ops gave it
    failing_locations: tuple[str, ...] = ()  # where the probes see it failing now
    blind_locations: tuple[str, ...] = ()  # locations that cannot see right now
    # Severity changes after it opened: (from when, severity), oldest first.
    severity_changes: tuple[tuple[datetime, Severity], ...] = ()
    first_check_id: int | None = None  # the first failed check: its evidence is linked
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    false_positive: bool = False


@dataclass(frozen=True)
class UpdateFacts:
    outage_id: int
    component_name: str
    author: str
    body: str
    public: bool
    posted_at: datetime


@dataclass(frozen=True)
class ReminderFacts:
    outage_id: int
    component_name: str
    started_at: datetime
    after: timedelta  # how long after its message was posted nobody has acknowledged it


@dataclass(frozen=True)
class MonitoringFacts:
    component_name: str
    last_seen_at: datetime | None  # the last check anyone saw before monitoring stopped
    restored_at: datetime | None  # None while still interrupted


@dataclass(frozen=True)
class LocationSightFacts:
    location: str
    blind_since: datetime
    error: str | None  # what the control check that made it blind saw
    control: str | None
    seeing_since: datetime | None  # None while still blind


@dataclass(frozen=True)
class FailingDeliveryFacts:
    consumer: str
    subject: str
    attempts: int
    error: str | None


def _blocks(headline: str, details: list[str], context: str) -> list[dict[str, Any]]:
    return [
        {"type": "header", "text": {"type": "plain_text", "text": headline[:150], "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(details)[:3000]}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
    ]


def outage_url(page_url: str, outage_id: int) -> str:
    """The outage's page on the ops dashboard."""
    return f"{page_url.rstrip('/')}/ops/outages/{outage_id}"


def evidence_url(page_url: str, outage_id: int) -> str:
    """The evidence on the outage's dashboard page: the first and latest failed checks, the screenshot inline
    (a signed-in browser reads it; the ops API's /api/ops/checks/<id> serves the same to a token)."""
    return f"{outage_url(page_url, outage_id)}#evidence"


def _links(facts: OutageFacts, page_url: str) -> str:
    links = [f"Outage #{facts.outage_id}", f"<{outage_url(page_url, facts.outage_id)}|dashboard>"]
    if facts.first_check_id is not None:
        links.append(f"<{evidence_url(page_url, facts.outage_id)}|evidence of the failed checks>")
    links.append(f"<{page_url}|status page>")
    return " · ".join(links)


def _acknowledgement(facts: OutageFacts, time_zone: str) -> list[str]:
    if facts.acknowledged_by is None or facts.acknowledged_at is None:
        return []
    return [f"*Acknowledged by* {escape(facts.acknowledged_by)} at {local(facts.acknowledged_at, time_zone)}"]


def _acknowledge_button(facts: OutageFacts) -> list[dict[str, Any]]:
    """While it is open and nobody has said they are on it."""
    if facts.ended_at is not None or facts.acknowledged_by is not None or facts.false_positive:
        return []
    button = {
        "type": "button",
        "action_id": ACKNOWLEDGE_ACTION,
        "text": {"type": "plain_text", "text": "Acknowledge", "emoji": False},
        "style": "primary",
        "value": str(facts.outage_id),
    }
    return [{"type": "actions", "block_id": f"outage-{facts.outage_id}", "elements": [button]}]


def escape(text: str) -> str:
    """Text people typed, shown as written: Slack reads `<!channel>` or `<url|label>` as markup otherwise."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def outage_message(facts: OutageFacts, *, time_zone: str, page_url: str) -> Message:
    if facts.source == OutageSource.DECLARED:
        return declared_outage_message(facts, time_zone=time_zone, page_url=page_url)
    started = local(facts.started_at, time_zone)
    if facts.ended_at is None:
        icon, label = _SEVERITY[facts.severity]
        state = "is slow" if facts.severity == Severity.DEGRADED_PERFORMANCE else "is down"
        headline = f"{icon} {label}: {facts.component_name}"
        text = f"{label}: {facts.component_name} {state} since {started}"
        when = f"*{'Degraded' if facts.severity == Severity.DEGRADED_PERFORMANCE else 'Down'} since* {started}"
    elif facts.end_reason is not None and facts.end_reason in _ENDED_BECAUSE:
        ended = local(facts.ended_at, time_zone)
        reason = _ENDED_BECAUSE[facts.end_reason]
        headline = f":white_circle: Closed: {facts.component_name}"
        text = f"Closed: {facts.component_name} was last seen down at {ended}; {reason}"
        when = f"*Down* {started} → last seen down {ended}\n*Closed because* {reason}"
    else:
        lasted = duration(facts.ended_at - facts.started_at)
        ended = local(facts.ended_at, time_zone)
        headline = f":large_green_circle: Resolved: {facts.component_name}"
        text = f"Resolved: {facts.component_name} was down {lasted}, from {started} to {ended}"
        when = f"*Down* {started} → {ended} ({lasted})"
    details = [f"*Component:* {facts.component_name}", f"*Severity:* {_SEVERITY[facts.severity][1]}", when]
    for at, severity in facts.severity_changes:
        details.append(f"*{_SEVERITY[severity][1]}* from {local(at, time_zone)}")
    if facts.ended_at is None and facts.failing_locations:
        details.append(f"*Failing at:* {', '.join(facts.failing_locations)}")
    if facts.ended_at is None and facts.blind_locations:
        details.append(f"*Blind (not counted):* {', '.join(facts.blind_locations)}")
    if facts.error:
        details.append(f"*First failed check:* {facts.error}")
    details.append(f"*Cases granted relief so far:* {facts.grants}")
    details += _acknowledgement(facts, time_zone)
    if facts.false_positive:
        details.append("*Marked a false positive* by ops: relief and the status page no longer count it.")
    blocks = _blocks(headline, details, _links(facts, page_url)) + _acknowledge_button(facts)
    return Message(text=text, blocks=blocks)


def declared_outage_message(facts: OutageFacts, *, time_zone: str, page_url: str) -> Message:
    """An outage ops declared (the portal's operator reported it, say): the probes did not see it."""
    icon, label = _SEVERITY[facts.severity]
    started = local(facts.started_at, time_zone)
    reason = escape((facts.reason or "no reason given")[:MAX_REASON_CHARS])
    if facts.ended_at is None:
        headline = f"{icon} {label}: {facts.component_name} (declared)"
        text = f"{label}: {facts.component_name} since {started}, declared by ops: {reason}"
        when = f"*{label} since* {started}"
    else:
        lasted = duration(facts.ended_at - facts.started_at)
        ended = local(facts.ended_at, time_zone)
        headline = f":large_green_circle: Resolved: {facts.component_name} (declared)"
        text = f"Resolved: {facts.component_name} had a {label.lower()} of {lasted}, from {started} to {ended}"
        text += f", declared by ops: {reason}"
        when = f"*{label}* {started} → {ended} ({lasted})"
    details = [
        f"*Component:* {facts.component_name}",
        when,
        f"*Declared by ops:* {reason}",
        "Not seen by the probes: recorded through the ops API.",
        f"*Cases granted relief so far:* {facts.grants}",
        *_acknowledgement(facts, time_zone),
    ]
    context = _links(facts, page_url).replace(" · ", " · declared · ", 1)
    return Message(text=text, blocks=_blocks(headline, details, context) + _acknowledge_button(facts))


def update_reply(facts: UpdateFacts, *, time_zone: str) -> Message:
    """A note about an outage, as a reply in its message's thread."""
    kind = "Public update (on the status page)" if facts.public else "Internal update"
    body = escape(facts.body[:MAX_REPLY_CHARS])
    author = escape(facts.author)
    text = f"{kind} on {facts.component_name} by {author}: {body}"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": body}},
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"{kind} by {author} at {local(facts.posted_at, time_zone)}"}],
        },
    ]
    return Message(text=text[:3000], blocks=blocks)


def reminder_reply(facts: ReminderFacts, *, time_zone: str) -> Message:
    """Nobody has acknowledged an open outage this long after it was posted."""
    after = duration(facts.after)
    text = (
        f":alarm_clock: Still unacknowledged {after} after it was posted: {facts.component_name} "
        f"is down since {local(facts.started_at, time_zone)}. Press Acknowledge on the message above."
    )
    return Message(text=text, blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text}}])


def monitoring_message(facts: MonitoringFacts, *, time_zone: str, page_url: str) -> Message:
    seen = local(facts.last_seen_at, time_zone) if facts.last_seen_at else "never"
    if facts.restored_at is None:
        headline = f":warning: Monitoring interrupted: {facts.component_name}"
        text = f"Monitoring interrupted: no checks of {facts.component_name} since {seen}"
        details = [
            f"*No checks arriving since* {seen}",
            "Workers or the scheduler may be down. The status page shows this component as unknown.",
        ]
    else:
        restored = local(facts.restored_at, time_zone)
        headline = f":white_check_mark: Monitoring resumed: {facts.component_name}"
        text = f"Monitoring resumed: checks of {facts.component_name} arrive again since {restored}"
        details = [f"*Not watched* from {seen} to {restored}"]
    return Message(text=text, blocks=_blocks(headline, details, f"<{page_url}|status page>"))


def location_message(facts: LocationSightFacts, *, time_zone: str, page_url: str) -> Message:
    since = local(facts.blind_since, time_zone)
    if facts.seeing_since is None:
        headline = f":see_no_evil: Location blind: {facts.location}"
        text = f"Location {facts.location} is blind since {since}: its checks do not count against the portal"
        details = [
            f"*Control check failing since* {since}",
            f"*Control:* {facts.control or 'none'}",
            f"*Last error:* {facts.error or 'unknown'}",
            "Its checks are kept as evidence but not counted; it counts again once its control check passes.",
        ]
    else:
        seeing = local(facts.seeing_since, time_zone)
        headline = f":eyes: Location sees again: {facts.location}"
        text = f"Location {facts.location} sees again since {seeing}"
        details = [
            f"*Blind* from {since} to {seeing} ({duration(facts.seeing_since - facts.blind_since)})",
            f"*Control:* {facts.control or 'none'}",
        ]
    return Message(text=text, blocks=_blocks(headline, details, f"<{page_url}|status page>"))


def failing_delivery_message(facts: FailingDeliveryFacts) -> Message:
    headline = f":rotating_light: {facts.consumer} keeps failing for {facts.subject}"
    text = f"{facts.consumer} for {facts.subject} has failed {facts.attempts} times; it keeps retrying"
    details = [f"*Attempts so far:* {facts.attempts}", f"*Last error:* {facts.error or 'unknown'}"]
    details.append("It is retried with backoff until it succeeds; see `GET /api/ops/outbox`.")
    return Message(text=text, blocks=_blocks(headline, details, "PortalWatch outbox"))
