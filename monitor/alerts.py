"""Telling on-call staff in Slack: one message per outage, posted when it opens, updated when it ends."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_sdk import WebClient

from monitor.timefmt import duration, local

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutageFacts:
    outage_id: int
    component_name: str
    started_at: datetime
    ended_at: datetime | None
    error: str | None  # what the first failed check saw
    grants: int


def outage_message(facts: OutageFacts, *, time_zone: str, page_url: str) -> tuple[str, list[dict[str, Any]]]:
    """The text (for notifications and clients without blocks) and the Block Kit layout of the message."""
    started = local(facts.started_at, time_zone)
    if facts.ended_at is None:
        headline = f":red_circle: Major outage: {facts.component_name}"
        text = f"Major outage: {facts.component_name} is down since {started}"
        when = f"*Down since* {started}"
    else:
        lasted = duration(facts.ended_at - facts.started_at)
        headline = f":large_green_circle: Resolved: {facts.component_name}"
        text = (
            f"Resolved: {facts.component_name} was down {lasted}, from {started} to {local(facts.ended_at, time_zone)}"
        )
        when = f"*Down* {started} → {local(facts.ended_at, time_zone)} ({lasted})"
    details = [when]
    if facts.error:
        details.append(f"*First failed check:* {facts.error}")
    details.append(f"*Cases granted relief so far:* {facts.grants}")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": headline[:150], "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(details)}},
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"Outage #{facts.outage_id} · <{page_url}|status page>"}],
        },
    ]
    return text, blocks


class SlackNotifier:
    """Posts and updates outage messages; without a token and channel it only logs."""

    def __init__(self, token: str | None, channel: str | None, *, base_url: str | None = None) -> None:
        self.channel = channel
        self.client = (
            WebClient(token=token, base_url=base_url or "https://slack.com/api/", timeout=10)
            if token and channel
            else None
        )

    def publish(
        self, text: str, blocks: list[dict[str, Any]], *, channel: str | None, ts: str | None
    ) -> tuple[str, str] | None:
        """Post a new message, or update the one at (channel, ts). Returns where the message now is."""
        if self.client is None:
            log.info("Slack is not configured (SLACK_BOT_TOKEN, SLACK_CHANNEL); not sent: %s", text)
            return None
        if channel and ts:
            response = self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        else:
            response = self.client.chat_postMessage(channel=self.channel or "", text=text, blocks=blocks)
        return str(response["channel"]), str(response["ts"])
