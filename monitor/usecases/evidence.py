"""Checking the check log: every chain of checks walked, every digest recomputed (see monitor.evidence.chain)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from monitor.evidence.chain import Broken, CheckFacts, StoredCheck, verify_chain
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.models import Check

READ_BATCH = 5_000  # checks held in memory at once while a chain is walked


@dataclass
class EvidenceReport:
    chains: int = 0
    checks: int = 0
    unchained: int = 0  # recorded before the log was chained
    broken: list[Broken] = field(default_factory=list)  # the first broken link of each chain that has one

    @property
    def intact(self) -> bool:
        return not self.broken


def verify_evidence(runtime: Runtime) -> EvidenceReport:
    """Walk every (probe, location) chain in the order it was recorded; report each one's first broken link."""
    report = EvidenceReport()
    with transaction(runtime.sessions) as session:
        pairs = session.execute(select(Check.probe_id, Check.location).distinct().order_by("probe_id", "location"))
        chains = [(row.probe_id, row.location) for row in pairs]
    for probe_id, location in chains:
        report.chains += 1
        with transaction(runtime.sessions) as session:
            # Columns, not ORM objects, read in batches: a chain of millions of checks is walked in
            # bounded memory, nothing of it kept in the session.
            rows = session.execute(
                select(*_COLUMNS)
                .where(Check.probe_id == probe_id, Check.location == location)
                .order_by(Check.id)
                .execution_options(yield_per=READ_BATCH)
            )
            try:
                broken = verify_chain(_stored(rows, report))
            finally:
                rows.close()  # it stops at the first broken link: the rest of the chain is not read
        if broken is not None:
            report.broken.append(broken)
    return report


_COLUMNS = (
    Check.id,
    Check.probe_id,
    Check.location,
    Check.slot,
    Check.kind,
    Check.started_at,
    Check.ok,
    Check.latency_ms,
    Check.status_code,
    Check.error_class,
    Check.error,
    Check.evidence,
    Check.blind,
    Check.prev_digest,
    Check.digest,
)


def _stored(rows: Iterable[Any], report: EvidenceReport) -> Iterator[StoredCheck]:
    for check in rows:
        report.checks += 1
        report.unchained += check.digest is None
        yield StoredCheck(
            id=check.id,
            facts=CheckFacts(
                probe_id=check.probe_id,
                location=check.location,
                slot=check.slot,
                kind=check.kind.value,
                started_at=check.started_at,
                ok=check.ok,
                latency_ms=check.latency_ms,
                status_code=check.status_code,
                error_class=check.error_class.value if check.error_class else None,
                error=check.error,
                evidence=check.evidence,
                blind=check.blind,
            ),
            prev_digest=check.prev_digest,
            digest=check.digest,
        )
