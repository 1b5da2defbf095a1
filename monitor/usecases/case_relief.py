"""What relief a case has, and which paper-filing authorisations stand: the reads behind the ops and public APIs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from monitor.storage.models import Case, CaseComponent, PaperAuthorisation, ReliefDecision, ReliefHistory
from monitor.timefmt import iso


def decision_json(decision: ReliefDecision, zone: str) -> dict[str, Any]:
    held = decision.computed_deadline is None or (
        decision.extendable and decision.computed_deadline < decision.effective_deadline
    )
    return {
        "rules": list(decision.rules),
        "outage_ids": list(decision.outage_ids),
        "maintenance_ids": list(decision.maintenance_ids),
        "status": decision.status.value,
        "original_deadline": iso(decision.original_deadline, zone),
        "computed_deadline": iso(decision.computed_deadline, zone),
        "effective_deadline": iso(decision.effective_deadline, zone),
        # The rules now give less than the deadline in force (a correction): shown, not applied.
        "held": held,
        "explanation": list(decision.explanation),
        "version": decision.version,
        "decided_at": iso(decision.decided_at),
        "updated_at": iso(decision.updated_at),
    }


def history_json(entry: ReliefHistory, zone: str) -> dict[str, Any]:
    return {
        "version": entry.version,
        "change": entry.change.value,
        "effective_deadline": iso(entry.effective_deadline, zone),
        "computed_deadline": iso(entry.computed_deadline, zone),
        "rules": list(entry.rules),
        "outage_ids": list(entry.outage_ids),
        "status": entry.status.value,
        "changed_at": iso(entry.changed_at),
    }


def authorisation_json(row: PaperAuthorisation, zone: str | None = None) -> dict[str, Any]:
    return {
        "id": row.id,
        "component": row.component_id,
        "from": iso(row.starts_at, zone),
        "until": iso(row.ends_at, zone),  # null: until further notice, the outage is still going on
        "outage_ids": list(row.outage_ids),
        "status": row.status.value,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def case_relief(session: Session, case: Case) -> dict[str, Any]:
    """The relief fields of a case's view: effective deadline, decision, history, paper filing."""
    zone = case.time_zone
    decision = session.get(ReliefDecision, case.case_id)
    history = session.scalars(
        select(ReliefHistory).where(ReliefHistory.case_id == case.case_id).order_by(ReliefHistory.version)
    ).all()
    effective = case.deadline if decision is None else max(case.deadline, decision.effective_deadline)
    components = select(CaseComponent.component_id).where(CaseComponent.case_id == case.case_id)
    # Authorisations on the case's components whose period reaches its deadline window: the deadline (or the
    # extended one) falls inside or after the start of the period.
    authorisations = session.scalars(
        select(PaperAuthorisation)
        .where(
            PaperAuthorisation.component_id.in_(components),
            PaperAuthorisation.starts_at <= effective,
            or_(PaperAuthorisation.ends_at.is_(None), PaperAuthorisation.ends_at >= case.deadline),
        )
        .order_by(PaperAuthorisation.starts_at, PaperAuthorisation.id)
    ).all()
    return {
        "effective_deadline": iso(effective, zone),
        "extendable": case.extendable,
        "decision": None if decision is None else decision_json(decision, zone),
        "history": [history_json(entry, zone) for entry in history],
        "paper_filing": {
            "authorised": bool(authorisations),
            "authorisations": [authorisation_json(row, zone) for row in authorisations],
        },
    }


def paper_authorisations(
    session: Session, *, now: datetime, current: bool | None = None, component: str | None = None, limit: int = 500
) -> list[dict[str, Any]]:
    """Authorisations newest first; `current`: only those in force now (True) or only past ones (False)."""
    query = select(PaperAuthorisation)
    if component is not None:
        query = query.where(PaperAuthorisation.component_id == component)
    in_force = (PaperAuthorisation.starts_at <= now) & (
        PaperAuthorisation.ends_at.is_(None) | (PaperAuthorisation.ends_at >= now)
    )
    if current is True:
        query = query.where(in_force)
    elif current is False:
        query = query.where(~in_force)
    rows = session.scalars(
        query.order_by(PaperAuthorisation.starts_at.desc(), PaperAuthorisation.id.desc()).limit(limit)
    )
    return [{**authorisation_json(row), "current": _in_force(row, now)} for row in rows]


def _in_force(row: PaperAuthorisation, now: datetime) -> bool:
    return row.starts_at <= now and (row.ends_at is None or row.ends_at >= now)
