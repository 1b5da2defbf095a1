"""A check's evidence: its larger pieces kept in the evidence store, and checking the whole of it.

Pieces (a browser's screenshot) are put into the store before the transaction that records their
check, never inside one, and listed in `evidence_pieces` by that transaction. `verify_evidence` walks
every chain of checks, recomputing each digest (see monitor.evidence.chain), then every piece: its
file must be there with its SHA-256, and its check's evidence, which the chain covers, must name it;
and every piece a check's evidence names must be listed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from monitor.evidence.chain import Broken, CheckFacts, StoredCheck, verify_chain
from monitor.evidence.store import MissingPiece
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.models import Check, EvidencePiece
from probes.result import SHA256_PREFIX, CheckResult, named_pieces

log = logging.getLogger(__name__)

READ_BATCH = 5_000  # checks held in memory at once while a chain is walked
PIECES_PAGE = 500  # pieces read at a time (with their check's evidence text) while the store is walked
REPORTED_PIECES = 20  # broken pieces listed one by one; the rest are counted


# --- keeping pieces ----------------------------------------------------------------------------------


def keep_attachments(runtime: Runtime, results: Iterable[CheckResult]) -> int:
    """Put every attachment of these results into the evidence store; how many were kept.

    Called before the transaction that records the checks: no file is written inside one. A piece the
    store cannot take is logged and its check recorded all the same, with the piece listed: the check's
    evidence names it, so verify-evidence and the ops API show it as missing rather than it vanishing.
    """
    kept = 0
    for result in results:
        for attachment in result.attachments:
            try:
                runtime.evidence_store().put(attachment.data)
            except OSError:
                log.exception(
                    "the evidence store could not keep %s of a check of %s at %s (sha256:%s, %d bytes)",
                    attachment.name,
                    result.probe_id,
                    result.location,
                    attachment.sha256,
                    attachment.size,
                )
            else:
                kept += 1
    return kept


def record_pieces(session: Session, stored: Iterable[tuple[CheckResult, int]], *, now: datetime) -> int:
    """List the attachments of checks just inserted (result, check id) as their evidence pieces; how many."""
    rows = [
        {
            "check_id": check_id,
            "name": attachment.name,
            "sha256": attachment.sha256,
            "size": attachment.size,
            "content_type": attachment.content_type,
            "created_at": now,
        }
        for result, check_id in stored
        for attachment in result.attachments
    ]
    if rows:
        session.execute(insert(EvidencePiece), rows)
    return len(rows)


# --- reading pieces ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PieceView:
    check_id: int
    name: str
    sha256: str
    size: int
    content_type: str


def pieces_of(session: Session, check_ids: Sequence[int]) -> dict[int, list[PieceView]]:
    """The pieces of these checks, by check id, each check's in the order they were recorded."""
    found: dict[int, list[PieceView]] = {check_id: [] for check_id in check_ids}
    if not check_ids:
        return found
    rows = session.execute(
        select(
            EvidencePiece.check_id,
            EvidencePiece.name,
            EvidencePiece.sha256,
            EvidencePiece.size,
            EvidencePiece.content_type,
        )
        .where(EvidencePiece.check_id.in_(set(check_ids)))
        .order_by(EvidencePiece.id)
    )
    for row in rows:
        found[row.check_id].append(PieceView(row.check_id, row.name, row.sha256, row.size, row.content_type))
    return found


class PieceUnavailable(Exception):
    """A piece that cannot be served; `reason`: `not_found` (no such piece), `missing` (its file is gone)
    or `altered` (its file no longer has its SHA-256)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def read_piece(runtime: Runtime, check_id: int, name: str) -> tuple[PieceView, bytes]:
    """A check's piece and its bytes, read from the store after the row's transaction has ended.

    Only bytes that still have the piece's SHA-256 are returned: an altered file is never served.
    """
    with transaction(runtime.sessions) as session:
        row = session.execute(
            select(EvidencePiece).where(EvidencePiece.check_id == check_id, EvidencePiece.name == name)
        ).scalar_one_or_none()
        piece = None if row is None else PieceView(row.check_id, row.name, row.sha256, row.size, row.content_type)
    if piece is None:
        raise PieceUnavailable("not_found", f"check {check_id} has no evidence piece {name!r}")
    try:
        data = runtime.evidence_store().read(piece.sha256)
    except MissingPiece:
        raise PieceUnavailable(
            "missing",
            f"the file of check {check_id}'s {name} (sha256:{piece.sha256}) is missing from the evidence store",
        ) from None
    found = hashlib.sha256(data).hexdigest()
    if found != piece.sha256:
        raise PieceUnavailable(
            "altered",
            f"the file of check {check_id}'s {name} no longer matches its SHA-256 "
            f"(expected {piece.sha256}, found {found}); run verify-evidence",
        )
    return piece, data


# --- verifying ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BrokenPiece:
    """A piece of evidence that does not verify: which check, which piece, and what differs."""

    check_id: int
    probe_id: str
    location: str
    slot: datetime
    name: str
    sha256: str
    problem: str


@dataclass
class EvidenceReport:
    chains: int = 0
    checks: int = 0
    unchained: int = 0  # recorded before the log was chained
    pruned: int = 0  # passing checks whose evidence text retention dropped (their SHA-256 is kept)
    broken: list[Broken] = field(default_factory=list)  # the first broken link of each chain that has one
    pieces: int = 0  # pieces of evidence looked at in the store
    broken_pieces: list[BrokenPiece] = field(default_factory=list)  # the first REPORTED_PIECES that do not verify
    broken_piece_count: int = 0

    @property
    def intact(self) -> bool:
        return not self.broken and not self.broken_piece_count


def verify_evidence(runtime: Runtime) -> EvidenceReport:
    """Walk every (probe, location) chain in the order it was recorded; report each one's first broken link.
    Then walk every piece of evidence and its file in the store."""
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
    _verify_pieces(runtime, report)
    _verify_named_pieces(runtime, report)
    return report


def _verify_pieces(runtime: Runtime, report: EvidenceReport) -> None:
    """Every piece, in pages by id (bounded memory, no transaction open while files are read)."""
    store = runtime.evidence_store()
    after = 0
    while True:
        with transaction(runtime.sessions) as session:
            page = session.execute(
                select(
                    EvidencePiece.id,
                    EvidencePiece.name,
                    EvidencePiece.sha256,
                    Check.id.label("check_id"),
                    Check.probe_id,
                    Check.location,
                    Check.slot,
                    Check.evidence,
                    Check.evidence_pruned_at,
                )
                .join(Check, Check.id == EvidencePiece.check_id)
                .where(EvidencePiece.id > after)
                .order_by(EvidencePiece.id)
                .limit(PIECES_PAGE)
            ).all()
        if not page:
            return
        after = page[-1].id
        for piece in page:
            report.pieces += 1
            problem = _piece_problem(piece) or store.check(piece.sha256)
            if problem is None:
                continue
            report.broken_piece_count += 1
            if len(report.broken_pieces) < REPORTED_PIECES:
                report.broken_pieces.append(
                    BrokenPiece(
                        piece.check_id, piece.probe_id, piece.location, piece.slot, piece.name, piece.sha256, problem
                    )
                )


def _piece_problem(piece: Any) -> str | None:
    """What ties the piece to the chain: its check's evidence, which the chain covers, names it and its SHA-256."""
    if piece.evidence_pruned_at is not None:
        return "its check's evidence was pruned, yet the piece is still listed: nothing ties it to the chain"
    if (piece.name, piece.sha256) not in named_pieces(piece.evidence):
        return (
            f"its check's evidence does not name it with sha256:{piece.sha256}: the piece's row was edited, "
            "or the piece was added after the check was recorded"
        )
    return None


def _verify_named_pieces(runtime: Runtime, report: EvidenceReport) -> None:
    """The other way round: every piece a check's evidence names is listed (a removed row is caught too).

    Only checks whose evidence names a SHA-256 are read, in pages by id.
    """
    after = 0
    while True:
        with transaction(runtime.sessions) as session:
            page = session.execute(
                select(Check.id, Check.probe_id, Check.location, Check.slot, Check.evidence)
                .where(
                    Check.id > after,
                    Check.evidence_pruned_at.is_(None),
                    Check.evidence.contains(f": {SHA256_PREFIX}", autoescape=True),
                )
                .order_by(Check.id)
                .limit(PIECES_PAGE)
            ).all()
            listed = pieces_of(session, [check.id for check in page])
        if not page:
            return
        after = page[-1].id
        for check in page:
            names = {piece.name for piece in listed[check.id]}
            for name, sha256 in named_pieces(check.evidence):
                if name in names:
                    continue  # listed; whether with this SHA-256 and an intact file, the walk of the pieces says
                report.broken_piece_count += 1
                if len(report.broken_pieces) < REPORTED_PIECES:
                    report.broken_pieces.append(
                        BrokenPiece(
                            check.id,
                            check.probe_id,
                            check.location,
                            check.slot,
                            name,
                            sha256,
                            "its check's evidence names it, but no such piece is listed: its row was removed",
                        )
                    )


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
    Check.evidence_sha256,
    Check.evidence_pruned_at,
    Check.prev_digest,
    Check.digest,
)


def _stored(rows: Iterable[Any], report: EvidenceReport) -> Iterator[StoredCheck]:
    for check in rows:
        report.checks += 1
        report.unchained += check.digest is None
        pruned = check.evidence_pruned_at is not None
        report.pruned += pruned
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
                # Once the text is pruned, the SHA-256 kept for it is what the digest was computed over.
                evidence_sha256=check.evidence_sha256 if pruned else None,
            ),
            prev_digest=check.prev_digest,
            digest=check.digest,
            evidence_sha256=check.evidence_sha256,
            pruned=pruned,
        )
