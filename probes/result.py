"""What a probe run found: the evidence a recorded outage rests on."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

FAILED_STEP = "failed step: "  # the first evidence line of a multi-step check that failed, naming the step
EVIDENCE_LIMIT = 4096  # characters of evidence kept per check; enough to show the failure, never a whole page
SHA256_PREFIX = "sha256:"  # how evidence text names a piece kept beside it: `sha256:<hex>`
ATTACHMENT_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")  # safe in a URL path and a file name
# The line of a check's evidence that names one of its attachments: `screenshot: sha256:<hex> (<n> bytes)`.
_PIECE_LINE = re.compile(
    rf"^({ATTACHMENT_NAME.pattern}): {SHA256_PREFIX}([0-9a-f]{{64}}) \((\d+) bytes\)$", re.MULTILINE
)


class ErrorClass(StrEnum):
    DNS = "dns"
    CONNECT = "connect"
    TIMEOUT = "timeout"
    TLS = "tls"
    STATUS = "status"
    ASSERTION = "assertion"
    # The right answer, later than the probe's `max_latency`: the portal works, slowly. Its component
    # is degraded, whatever the probe's `impact`.
    SLOW = "slow"
    # The probe itself could not run (its runner failed, its browser cannot start): a fact about the
    # worker, not the portal. Recorded as evidence, never counted against the portal.
    PROBE = "probe"


@dataclass(frozen=True, slots=True)
class Attachment:
    """A piece of evidence too large for the evidence text (a screenshot): kept by its SHA-256 beside the check.

    The bytes never appear in a repr, a log line or a traceback.
    """

    name: str  # unique within its check, e.g. `screenshot`
    content_type: str  # e.g. `image/png`
    data: bytes = field(repr=False)
    _sha256: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not ATTACHMENT_NAME.fullmatch(self.name):
            raise ValueError(f"attachment name {self.name!r}: lowercase letters, digits, '.', '_' or '-', at most 64")
        if not self.content_type or not self.content_type.isprintable() or len(self.content_type) > 100:
            raise ValueError(f"attachment {self.name!r}: a content type such as image/png is required")
        object.__setattr__(self, "_sha256", hashlib.sha256(self.data).hexdigest())

    @property
    def sha256(self) -> str:
        """The hex SHA-256 of the bytes: the name they are kept under, and named in the check's evidence."""
        return self._sha256

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True, slots=True)
class CheckResult:
    probe_id: str
    location: str
    started_at: datetime  # timezone-aware UTC: when the request was sent
    ok: bool
    latency_ms: float | None = None  # None when no response arrived
    status_code: int | None = None
    error_class: ErrorClass | None = None
    error: str | None = None  # one human-readable line saying what failed
    evidence: str = ""  # request line, status line, headers and a body excerpt, at most EVIDENCE_LIMIT chars
    # Larger pieces (a browser's screenshot). The evidence text names each one's SHA-256, so the check
    # log's chain, which covers the text, covers them too.
    attachments: tuple[Attachment, ...] = ()

    def __post_init__(self) -> None:
        if self.started_at.tzinfo is None:
            raise ValueError("CheckResult.started_at must be timezone-aware")
        if self.ok != (self.error_class is None):
            raise ValueError("a CheckResult is ok exactly when it has no error_class")
        names = [attachment.name for attachment in self.attachments]
        if len(set(names)) != len(names):
            raise ValueError(f"attachment names must be unique within a check, got {names}")
        named = set(named_pieces(self.evidence))
        for attachment in self.attachments:
            if (attachment.name, attachment.sha256) not in named:
                raise ValueError(
                    f"the evidence must name attachment {attachment.name!r} on a line of its own: "
                    f"{piece_line(attachment)!r}"
                )


def judged(
    probe_id: str,
    location: str,
    started_at: datetime,
    failure: tuple[ErrorClass, str] | None,
    evidence: str,
    *,
    latency_ms: float | None = None,
    status_code: int | None = None,
    attachments: tuple[Attachment, ...] = (),
) -> CheckResult:
    """A runner's verdict as a CheckResult: ok when there is no failure, else its class and one line."""
    return CheckResult(
        probe_id=probe_id,
        location=location,
        started_at=started_at,
        ok=failure is None,
        latency_ms=latency_ms,
        status_code=status_code,
        error_class=None if failure is None else failure[0],
        error=None if failure is None else failure[1],
        evidence=evidence,
        attachments=attachments,
    )


def piece_line(attachment: Attachment) -> str:
    """The evidence line that names an attachment, so the chain (which covers the evidence) covers it."""
    return f"{attachment.name}: {SHA256_PREFIX}{attachment.sha256} ({attachment.size} bytes)"


def named_pieces(evidence: str) -> list[tuple[str, str]]:
    """(name, hex SHA-256) of every attachment the evidence names, as `piece_line` writes them."""
    if SHA256_PREFIX not in evidence:
        return []
    return [(match[1], match[2]) for match in _PIECE_LINE.finditer(evidence)]


def failed_step(evidence: str) -> str | None:
    """The name of the step a multi-step check failed at, from its evidence; None for any other check."""
    first, _, _ = evidence.partition("\n")
    return first[len(FAILED_STEP) :] if first.startswith(FAILED_STEP) else None
