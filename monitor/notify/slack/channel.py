"""Sending to Slack through its Web API; no token and channel means log only.

Rate limits (HTTP 429) are waited out in place once, when Slack asks for a short wait; a longer
wait, or a second 429, becomes a passing SendError carrying Slack's Retry-After, and the outbox
tries again no sooner than that. A dropped connection is retried in place too, except for a post:
the post may have arrived, and the next attempt looks for it by its marker instead.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.webhook import WebhookClient

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
# A 429 asking for at most this many seconds is waited out in place (it holds a worker thread that
# long); a longer one goes back to the outbox, which retries after Retry-After.
MAX_INLINE_WAIT = 3
RETRIES = 1  # per kind of failure, in place; the outbox retries further with backoff


def _retry_after(headers: Any) -> float | None:
    """Slack's Retry-After, in seconds, from a response's headers (values may be lists)."""
    for name, value in dict(headers or {}).items():
        if str(name).lower() == "retry-after":
            text = value[0] if isinstance(value, list | tuple) and value else value
            try:
                return max(float(str(text)), 0.0)
            except ValueError:
                return None
    return None


class _ShortRateLimitWaits(RateLimitErrorRetryHandler):
    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = _retry_after(response.headers)
        return wait is not None and wait <= MAX_INLINE_WAIT


class _NoRepost(ConnectionErrorRetryHandler):
    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        # A post whose connection dropped may have been stored: posting it again could show it twice.
        if request.url.rstrip("/").endswith("chat.postMessage"):
            return False
        return super()._can_retry(state=state, request=request, response=response, error=error)


class SlackChannel:
    name = "slack"

    def __init__(
        self, token: str | None, channel: str | None, *, base_url: str | None = None, timeout: float = 10.0
    ) -> None:
        self.channel = channel
        self.client = (
            WebClient(
                token=token,
                base_url=base_url or "https://slack.com/api/",
                timeout=int(max(timeout, 1)),
                retry_handlers=[_NoRepost(max_retry_count=RETRIES), _ShortRateLimitWaits(max_retry_count=RETRIES)],
            )
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
            response = exc.response
            error = str(response.get("error", "")) if response is not None else ""
            if response is not None and response.status_code == 429:
                wait = _retry_after(response.headers)
                raise SendError(
                    f"Slack {method} was rate limited (retry after {wait if wait is not None else '?'} s)",
                    permanent=False,
                    retry_after=wait,
                ) from None
            raise SendError(f"Slack {method} failed: {error or exc}", permanent=error in _PERMANENT) from None
        except (SlackClientError, OSError, TimeoutError) as exc:
            raise SendError(f"Slack {method} failed: {type(exc).__name__}: {exc}", permanent=False) from None

    def post(self, message: Message, *, marker: str, thread: MessageRef | None = None) -> MessageRef:
        """A new message, or with `thread` a reply in that message's thread (in the thread's channel)."""
        response = self._call(
            "chat_postMessage",
            channel=thread.destination if thread else self.channel or "",
            thread_ts=thread.external_id if thread else None,
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

    def find(self, marker: str, *, since: datetime, thread: MessageRef | None = None) -> MessageRef | None:
        """The message posted with `marker`; with `thread`, among that thread's replies (the history omits them)."""
        cursor: str | None = None
        for _ in range(_HISTORY_PAGES):
            if thread is None:
                response = self._call(
                    "conversations_history",
                    channel=self.channel or "",
                    oldest=f"{since.timestamp() - 1:.6f}",
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
            else:
                response = self._call(
                    "conversations_replies",
                    channel=thread.destination,
                    ts=thread.external_id,
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
                    where = thread.destination if thread else response.get("channel") or self.channel
                    return MessageRef(str(where), str(item["ts"]))
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None
        return None


def respond(response_url: str, text: str, *, timeout: float) -> None:
    """An ephemeral answer to the person who pressed a button: only they see it, the message stays."""
    client = WebhookClient(response_url, timeout=int(max(timeout, 1)))
    response = client.send(text=text, response_type="ephemeral", replace_original=False)
    if not 200 <= response.status_code < 300:
        raise SendError(f"Slack answered {response.status_code} to the response", permanent=False)
