"""Sending to Slack through its Web API; no token and channel means log only."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from monitor.notify.channel import Message, MessageRef, SendError

log = logging.getLogger(__name__)

METADATA_EVENT = "portalwatch_message"
# Slack errors that no retry will fix: they need a person to change the token, the app or the channel.
_PERMANENT = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_too_long",
        "message_not_found",
        "cant_update_message",
    }
)
_HISTORY_PAGES = 5  # a lost post is looked for among the channel's newest messages since it was sent


class SlackChannel:
    name = "slack"

    def __init__(
        self, token: str | None, channel: str | None, *, base_url: str | None = None, timeout: float = 10.0
    ) -> None:
        self.channel = channel
        self.client = (
            WebClient(token=token, base_url=base_url or "https://slack.com/api/", timeout=int(max(timeout, 1)))
            if token and channel
            else None
        )
        if self.client is not None:
            self.client.timeout = timeout  # type: ignore[assignment]  # fractions of a second are fine at runtime

    def __repr__(self) -> str:
        return f"SlackChannel(channel={self.channel!r}, configured={self.configured})"  # never the token

    @property
    def configured(self) -> bool:
        return self.client is not None

    def _call(self, method: str, **kwargs: Any) -> Any:
        if self.client is None:
            raise SendError("Slack is not configured", permanent=True)
        try:
            return getattr(self.client, method)(**kwargs)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "")) if exc.response is not None else ""
            raise SendError(f"Slack {method} failed: {error or exc}", permanent=error in _PERMANENT) from None
        except (SlackClientError, OSError, TimeoutError) as exc:
            raise SendError(f"Slack {method} failed: {type(exc).__name__}: {exc}", permanent=False) from None

    def post(self, message: Message, *, marker: str) -> MessageRef:
        response = self._call(
            "chat_postMessage",
            channel=self.channel or "",
            text=message.text,
            blocks=message.blocks,
            metadata={"event_type": METADATA_EVENT, "event_payload": {"marker": marker}},
        )
        return MessageRef(str(response["channel"]), str(response["ts"]))

    def update(self, ref: MessageRef, message: Message) -> MessageRef:
        response = self._call(
            "chat_update", channel=ref.destination, ts=ref.external_id, text=message.text, blocks=message.blocks
        )
        return MessageRef(str(response["channel"]), str(response["ts"]))

    def find(self, marker: str, *, since: datetime) -> MessageRef | None:
        cursor: str | None = None
        for _ in range(_HISTORY_PAGES):
            response = self._call(
                "conversations_history",
                channel=self.channel or "",
                oldest=f"{since.timestamp() - 1:.6f}",
                include_all_metadata=True,
                limit=200,
                cursor=cursor,
            )
            for item in response.get("messages", []):
                metadata = item.get("metadata") or {}
                if (
                    metadata.get("event_type") == METADATA_EVENT
                    and metadata.get("event_payload", {}).get("marker") == marker
                ):
                    return MessageRef(str(response.get("channel") or self.channel), str(item["ts"]))
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None
        return None
