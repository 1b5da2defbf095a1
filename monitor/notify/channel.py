"""What a notification channel is: render is pure, send raises an error that says whether it is permanent.

A channel keeps one message per subject (an outage, a monitoring interruption) and edits it as the
subject changes. The caller stores where each message is, and the marker it was posted with, so a
post whose answer was lost can be found again instead of posted twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class Message:
    text: str  # for notifications and clients that show no rich layout
    blocks: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class MessageRef:
    destination: str  # e.g. a Slack channel id
    external_id: str  # e.g. a Slack message ts


class SendError(Exception):
    """Sending failed. `permanent` errors need a person (bad token, unknown channel); others pass.

    `retry_after` (seconds) is how long the service asked to be left alone (a rate limit), if it said.
    """

    def __init__(self, message: str, *, permanent: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


class Channel(Protocol):
    name: str

    @property
    def configured(self) -> bool: ...

    def post(self, message: Message, *, marker: str, thread: MessageRef | None = None) -> MessageRef:
        """Post a new message, or a reply in `thread`'s thread."""
        ...

    def update(self, ref: MessageRef, message: Message) -> MessageRef: ...

    def find(self, marker: str, *, since: datetime, thread: MessageRef | None = None) -> MessageRef | None:
        """The message posted with `marker` at or after `since` (in `thread`'s replies), if the channel has it."""
        ...
