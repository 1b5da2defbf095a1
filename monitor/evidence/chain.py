"""Each check's digest, and the chain that links every check of a (probe, location) to the one before it.

A check's digest is SHA-256 over the digest of the check before it in its chain and a canonical form
of what the check recorded (identity, times, verdict, error, and the SHA-256 of its evidence). The
evidence text names the SHA-256 of each larger piece kept beside it (a screenshot), so the digest covers
those too; once retention drops a passing check's text, the SHA-256 kept for it stands in its place. Editing
any stored field, deleting a check or inserting one changes a digest that a later check depends on,
so `python -m monitor verify-evidence` finds the first broken link. Pure: no database, no clock.

The canonical form is written out here rather than taken from a serialisation library's defaults:
it must never change between versions, or every stored chain would stop verifying.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from monitor.hashchain import instant_text, link_hash

FORMAT = "pw-check-1"  # named in every digest, so a future form can be told apart from this one


@dataclass(frozen=True, slots=True)
class CheckFacts:
    """What a check recorded, as the chain covers it."""

    probe_id: str
    location: str
    slot: datetime
    kind: str
    started_at: datetime
    ok: bool
    latency_ms: float | None
    status_code: int | None
    error_class: str | None
    error: str | None
    evidence: str
    blind: bool = False  # run by a location whose control check failed: recorded, never counted
    # The SHA-256 of the evidence as recorded, given when the text itself is no longer kept (retention
    # dropped it): the digest covers this instead. None: the SHA-256 of `evidence`.
    evidence_sha256: str | None = None

    @property
    def evidence_hash(self) -> str:
        return self.evidence_sha256 if self.evidence_sha256 is not None else evidence_digest(self.evidence)


def evidence_digest(evidence: str) -> str:
    return hashlib.sha256(evidence.encode("utf-8")).hexdigest()


WHAT = "a check's times"  # as a naive time is named in the error


def canonical(facts: CheckFacts) -> bytes:
    # `blind` is appended only when true: checks recorded before locations could be blind keep the
    # digests they were given.
    return json.dumps(
        [
            FORMAT,
            facts.probe_id,
            facts.location,
            instant_text(facts.slot, WHAT),
            facts.kind,
            instant_text(facts.started_at, WHAT),
            facts.ok,
            None if facts.latency_ms is None else f"{facts.latency_ms:.3f}",
            facts.status_code,
            facts.error_class,
            facts.error,
            facts.evidence_hash,
            *(["blind"] if facts.blind else []),
        ],
        ensure_ascii=True,
        separators=(",", ":"),
    ).encode("ascii")


def check_digest(facts: CheckFacts, previous: str | None) -> str:
    """The digest of a check whose chain's previous digest is `previous` (None: the first of its chain)."""
    return link_hash(previous, canonical(facts))


@dataclass(frozen=True)
class Broken:
    """The first link of a chain that does not verify, and what differs."""

    check_id: int
    probe_id: str
    location: str
    slot: datetime
    problem: str


@dataclass(frozen=True, slots=True)
class StoredCheck:
    id: int
    facts: CheckFacts
    prev_digest: str | None
    digest: str | None
    evidence_sha256: str | None = None  # as stored beside the check (None before it was kept)
    pruned: bool = False  # retention dropped its evidence text; `facts.evidence_sha256` stands for it


def verify_chain(checks: Iterable[StoredCheck]) -> Broken | None:
    """Walk one chain in the order it was recorded; the first check that does not verify, or None.

    Checks recorded before the log was chained carry no digest; they may only come before the first
    chained check.
    """
    previous: str | None = None
    chained = False
    for check in checks:
        facts = check.facts

        def broken(problem: str, check: StoredCheck = check) -> Broken:
            return Broken(check.id, check.facts.probe_id, check.facts.location, check.facts.slot, problem)

        if check.digest is None:
            if chained:
                return broken("its digest is missing, after chained checks")
            continue
        if check.prev_digest != previous:
            if not chained and check.prev_digest is not None and previous is None:
                return broken(f"it names a previous check ({check.prev_digest[:12]}…) that is not in the log")
            return broken(
                f"it names {_short(check.prev_digest)} as the check before it, "
                f"but the check before it in the log has {_short(previous)}: a check was removed, added or edited"
            )
        computed = check_digest(facts, check.prev_digest)
        if computed != check.digest:
            return broken(
                f"what it records no longer matches its digest (stored {check.digest[:12]}…, "
                f"computed {computed[:12]}…): a field of this check was edited"
            )
        problem = _evidence_problem(check)
        if problem is not None:
            return broken(problem)
        previous = check.digest
        chained = True
    return None


def _evidence_problem(check: StoredCheck) -> str | None:
    """What is wrong with the SHA-256 kept beside a check's evidence, or None.

    The digest covers the text while it is kept, and the stored SHA-256 once retention dropped it; so
    the two must agree while both are there, or the stored one could be edited unnoticed until pruning.
    """
    stored, text = check.evidence_sha256, check.facts.evidence
    if check.pruned:
        if stored is None:
            return "its evidence was pruned without keeping its SHA-256"
        if text and evidence_digest(text) != stored:
            return f"its evidence text is not what its kept SHA-256 ({stored[:12]}…) says: the text was edited"
        return None
    if stored is not None and stored != evidence_digest(text):
        return (
            f"its stored evidence_sha256 ({stored[:12]}…) is not the SHA-256 of its evidence "
            f"({evidence_digest(text)[:12]}…): the stored digest was edited"
        )
    return None


def _short(digest: str | None) -> str:
    return "no check" if digest is None else f"{digest[:12]}…"
