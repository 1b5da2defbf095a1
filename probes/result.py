"""What a probe run found: the evidence a recorded outage rests on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

FAILED_STEP = "failed step: "  # the first evidence line of a multi-step check that failed, naming the step
EVIDENCE_LIMIT = 4096  # characters of evidence kept per check; enough to show the failure, never a whole page


class ErrorClass(StrEnum):
    DNS = "dns"
    CONNECT = "connect"
    TIMEOUT = "timeout"
    TLS = "tls"
    STATUS = "status"
    ASSERTION = "assertion"
    # The probe itself could not run (its runner failed, its browser cannot start): a fact about the
    # worker, not the portal. Recorded as evidence, never counted against the portal.
    PROBE = "probe"


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


def judged(
    probe_id: str,
    location: str,
    started_at: datetime,
    failure: tuple[ErrorClass, str] | None,
    evidence: str,
    *,
    latency_ms: float | None = None,
    status_code: int | None = None,
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
    )


def failed_step(evidence: str) -> str | None:
    """The name of the step a multi-step check failed at, from its evidence; None for any other check."""
    first, _, _ = evidence.partition("\n")
    return first[len(FAILED_STEP) :] if first.startswith(FAILED_STEP) else None
