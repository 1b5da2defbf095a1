"""Retention: the evidence of old passing checks is dropped; the evidence outages rest on is kept.

A passing check older than `retention.passing_checks` that is not linked to an outage loses its
evidence text (set to empty) and its pieces (their rows; a file once no piece needs it). The check row
stays, with the SHA-256 of the text it had (`evidence_sha256`) and when it was pruned
(`evidence_pruned_at`): its digest was computed over that SHA-256, so the check log's chain still
verifies, and an edit of the kept SHA-256 breaks it.

Linked to an outage: the check is an outage's first check, or it started within an outage of its
probe's component (observed or declared), widened by the probe's interval on each side (an open
outage reaching to now): the last good check before it and the first after it are kept.

Set-based, in bounded batches: each batch picks at most `batch` candidates with one SELECT … LIMIT,
updates them and removes their pieces in one transaction; files are removed after it commits, never
inside it. Running it again finds nothing to do.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, exists, func, literal, select, true, update
from sqlalchemy.orm import Session

from monitor.evidence.chain import evidence_digest
from monitor.runtime import Runtime
from monitor.storage.dialect import within
from monitor.storage.engine import transaction
from monitor.storage.models import Check, EvidencePiece, Outage, Probe
from monitor.storage.types import UTCDateTime

log = logging.getLogger(__name__)

PRUNE_BATCH = 1_000  # checks pruned per transaction
# A file no piece lists any more is removed only once it has not been written for this long: a worker
# may have just put the same bytes for a check it is about to record.
FILE_GRACE = timedelta(hours=1)
JOB_BUDGET_SECONDS = 60.0  # a periodic run stops after this long; the next run goes on where it stopped


@dataclass
class PruneReport:
    cutoff: datetime | None  # passing checks that started before this were looked at; None: retention is off
    checks: int = 0  # checks whose evidence was dropped
    pieces: int = 0  # piece rows removed
    files: int = 0  # files removed from the evidence store
    batches: int = 0
    finished: bool = True  # False: stopped at its time budget with more left to prune


def prune_checks(runtime: Runtime, *, batch: int = PRUNE_BATCH, budget_seconds: float | None = None) -> PruneReport:
    """Drop the evidence of passing checks older than the retention period that no outage rests on."""
    keep = runtime.config.retention.passing_checks
    if keep is None:
        return PruneReport(cutoff=None)
    now = runtime.clock()
    cutoff = now - keep
    report = PruneReport(cutoff=cutoff)
    started = time.monotonic()
    while True:
        with transaction(runtime.sessions) as session:
            pruned, digests = _prune_batch(session, cutoff=cutoff, now=now, limit=batch)
        report.batches += 1
        report.checks += pruned
        report.pieces += len(digests)
        report.files += _remove_unlisted_files(runtime, set(digests))
        if pruned < batch:
            break
        if budget_seconds is not None and time.monotonic() - started >= budget_seconds:
            report.finished = False
            break
    if report.checks:
        log.info(
            "retention: dropped the evidence of %d passing check(s) from before %s (%d piece(s), %d file(s))",
            report.checks,
            cutoff.isoformat(),
            report.pieces,
            report.files,
        )
    return report


def _prune_batch(session: Session, *, cutoff: datetime, now: datetime, limit: int) -> tuple[int, list[str]]:
    """One batch in the caller's transaction: how many checks were pruned, and the digests of the pieces removed."""
    first_check = exists().where(Outage.first_check_id == Check.id)
    during_outage = exists().where(
        Outage.component_id == Probe.component_id,
        within(
            session,
            Check.started_at,
            Outage.started_at,
            func.coalesce(Outage.ended_at, literal(now, UTCDateTime())),
            Probe.interval_seconds,
        ),
    )
    candidates = session.execute(
        select(Check.id, Check.evidence_sha256, Check.evidence)
        .join(Probe, Probe.id == Check.probe_id)
        # ix_checks_unpruned: only checks not pruned yet are read, passing ones first.
        .where(Check.ok == true(), Check.evidence_pruned_at.is_(None), Check.started_at < cutoff)
        .where(~first_check, ~during_outage)
        .order_by(Check.started_at)
        .limit(limit)
        # Two runs at once (a slow run and the next one) take different checks.
        .with_for_update(of=Check, skip_locked=True)
    ).all()
    if not candidates:
        return 0, []
    ids = [row.id for row in candidates]
    # Checks recorded before the SHA-256 of their evidence was kept get it now, from the text about to go.
    unhashed = [
        {"id": row.id, "evidence_sha256": evidence_digest(row.evidence)}
        for row in candidates
        if row.evidence_sha256 is None
    ]
    if unhashed:
        session.execute(update(Check), unhashed)
    result = session.execute(
        update(Check)
        .where(Check.id.in_(ids), Check.evidence_pruned_at.is_(None))
        .values(evidence="", evidence_pruned_at=now)
        .execution_options(synchronize_session=False)
    )
    pruned = cast(CursorResult[Any], result).rowcount or 0
    digests = list(
        session.scalars(
            delete(EvidencePiece)
            .where(EvidencePiece.check_id.in_(ids))
            .returning(EvidencePiece.sha256)
            .execution_options(synchronize_session=False)
        )
    )
    return pruned, digests


def _remove_unlisted_files(runtime: Runtime, digests: Iterable[str]) -> int:
    """Remove the files of these digests that no piece lists any more (after the pruning committed)."""
    digests = sorted(set(digests))
    if not digests:
        return 0
    with transaction(runtime.sessions) as session:
        listed = set(session.scalars(select(EvidencePiece.sha256).where(EvidencePiece.sha256.in_(digests)).distinct()))
    store = runtime.evidence_store()
    removed = 0
    for digest in digests:
        if digest in listed:
            continue
        try:
            removed += store.delete(digest, min_age=FILE_GRACE.total_seconds())
        except OSError:
            log.exception("retention: could not remove the file of sha256:%s from the evidence store", digest)
    return removed
