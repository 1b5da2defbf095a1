"""What a probe run found: the evidence a recorded outage rests on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

EVIDENCE_LIMIT = 4096  # characters of evidence kept per check; enough to show the failure, never a whole page


class ErrorClass(StrEnum):
    DNS = "dns"
    CONNECT = "connect"
    TIMEOUT = "timeout"
    TLS = "tls"
    STATUS = "status"
    ASSERTION = "assertion"


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

    def __post_init__(self) -> None:
        if self.started_at.tzinfo is None:
            raise ValueError("CheckResult.started_at must be timezone-aware")
        if self.ok != (self.error_class is None):
            raise ValueError("a CheckResult is ok exactly when it has no error_class")
