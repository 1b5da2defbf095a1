"""Letters owed by a relief run, written as pending rows in the run's own transaction.

A final decision owes its holder a letter at once: an extension notice when the deadline moved, an
outage attestation when the deadline cannot move (a statutory one). A final paper-filing
authorisation owes one to every case it authorises. The rows are written here, set-based, in the
same transaction as the decisions they rest on, so a decision can never be final without its letter
being owed; making and signing the PDFs happens afterwards (see monitor.usecases.letters), outside
this transaction and its locks.

`(kind, case_id, basis)` is unique: `basis` is the decision's signature (what the rules computed)
or the authorisation and the end of its period, so a run repeated, or a relief run that changes
nothing, owes nothing new. An extension letter is owed only when the decision's deadline is later
than every extension letter already owed to the case: a letter is never issued for less.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, exists, literal, null, or_, select
from sqlalchemy.orm import Session, aliased

from monitor.storage.dialect import insert_for
from monitor.storage.enums import GrantStatus, LetterKind, LetterState
from monitor.storage.models import (
    Case,
    CaseComponent,
    Letter,
    PaperAuthorisation,
    ReliefDecision,
    ReliefRunCase,
)
from monitor.storage.types import UTCDateTime

_COLUMNS = (
    "kind",
    "state",
    "case_id",
    "basis",
    "component_id",
    "outage_ids",
    "original_deadline",
    "new_deadline",
    "paper_from",
    "paper_until",
    "rules",
    "window_start",
    "window_end",
    "time_zone",
    "language",
    "facts",
    "attempts",
    "created_at",
)


def _insert(session: Session, query: Any) -> int:
    statement = (
        insert_for(session, Letter)
        .from_select(list(_COLUMNS), query)
        .on_conflict_do_nothing(index_elements=["kind", "case_id", "basis"])
        .returning(Letter.id)
    )
    # RETURNING rather than rowcount: psycopg reports -1 for INSERT … SELECT … ON CONFLICT.
    return len(session.execute(statement).all())


def owe_decision_letters(session: Session, run_id: str, *, now: datetime) -> int:
    """Extension notices and attestations for the run's cases whose decision is final; returns how many."""
    rc = aliased(ReliefRunCase, name="rc")
    d = aliased(ReliefDecision, name="d")
    c = aliased(Case, name="c")
    earlier = aliased(Letter, name="earlier")
    stamp = literal(now, UTCDateTime())
    final = and_(rc.run_id == run_id, d.status == GrantStatus.FINAL.value)

    extended_further = and_(
        d.extendable,
        d.effective_deadline > d.original_deadline,
        ~exists().where(
            earlier.kind == LetterKind.EXTENSION.value,
            earlier.case_id == d.case_id,
            earlier.new_deadline >= d.effective_deadline,
        ),
    )
    # A statutory deadline never moves: its holder gets the record of the outage instead, once per
    # distinct decision (a correction of the outage makes a new one).
    affected_not_extendable = and_(~d.extendable, d.computed_deadline.is_not(None))

    def rows(kind: LetterKind, condition: Any) -> Any:
        return (
            select(
                literal(kind.value),
                literal(LetterState.PENDING.value),
                d.case_id,
                d.signature,
                null(),
                d.outage_ids,
                d.original_deadline,
                d.effective_deadline if kind is LetterKind.EXTENSION else null(),
                null(),
                null(),
                d.rules,
                null(),
                null(),
                c.time_zone,
                c.language,
                literal({}, Letter.facts.type),
                literal(0),
                stamp,
            )
            .select_from(rc)
            .join(d, d.case_id == rc.case_id)
            .join(c, c.case_id == rc.case_id)
            .where(final, condition)
        )

    return _insert(session, rows(LetterKind.EXTENSION, extended_further)) + _insert(
        session, rows(LetterKind.ATTESTATION, affected_not_extendable)
    )


def owe_paper_letters(session: Session, authorisation_ids: Iterable[int], *, now: datetime) -> int:
    """Paper-filing letters for every case a final authorisation covers; returns how many."""
    total = 0
    stamp = literal(now, UTCDateTime())
    for authorisation in session.scalars(
        select(PaperAuthorisation).where(
            PaperAuthorisation.id.in_(sorted(set(authorisation_ids))),
            PaperAuthorisation.status == GrantStatus.FINAL,
            PaperAuthorisation.ends_at.is_not(None),
        )
    ):
        if authorisation.ends_at is None:  # excluded by the query; kept for the type checker
            continue
        # The period only grows; a longer one is a new basis, so its holders get the longer letter.
        basis = f"authorisation:{authorisation.id}:{int(authorisation.ends_at.timestamp())}"
        cc = aliased(CaseComponent, name="cc")
        c = aliased(Case, name="c")
        d = aliased(ReliefDecision, name="d")
        effective = _later(d.effective_deadline, c.deadline)
        # The cases whose deadline (or the extended one) reaches into the period, as the case view shows them.
        covered = (
            select(
                literal(LetterKind.PAPER_FILING.value),
                literal(LetterState.PENDING.value),
                c.case_id,
                literal(basis),
                literal(authorisation.component_id),
                literal(list(authorisation.outage_ids), Letter.outage_ids.type),
                c.deadline,
                null(),
                literal(authorisation.starts_at, UTCDateTime()),
                literal(authorisation.ends_at, UTCDateTime()),
                literal(["paper_filing"], Letter.rules.type),
                null(),
                null(),
                c.time_zone,
                c.language,
                literal({"authorisation_id": authorisation.id}, Letter.facts.type),
                literal(0),
                stamp,
            )
            .select_from(cc)
            .join(c, c.case_id == cc.case_id)
            .outerjoin(d, d.case_id == c.case_id)
            .where(
                cc.component_id == authorisation.component_id,
                effective >= authorisation.starts_at,
                c.deadline <= authorisation.ends_at,
            )
        )
        total += _insert(session, covered)
    return total


def _later(value: Any, fallback: Any) -> Any:
    return case((or_(value.is_(None), value < fallback), fallback), else_=value)
