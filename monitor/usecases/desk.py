"""What ops do about outages and maintenance, each with its audit entry in the same transaction.

The surfaces (the ops API, the dashboard) call these with the session of their transaction and who is
acting; the use cases underneath (outages, maintenance) know nothing of people. An action that changes
nothing (a correction already made, an outage already acknowledged, a window already withdrawn) records
nothing, so a retried request leaves no second entry.

Acknowledgements and updates are outbox events too (in the same transaction), so Slack hears of them:
the outage's message shows who acknowledged it, and each update is a reply in its thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.outbox.store import emit
from monitor.storage.enums import AuditAction, EventKind, Language
from monitor.storage.models import (
    Grant,
    Maintenance,
    Outage,
    OutageAcknowledgement,
    OutageCorrection,
    OutageUpdate,
    PaperAuthorisation,
    ReliefDecision,
)
from monitor.timefmt import iso
from monitor.usecases import audit, maintenance, outages
from monitor.usecases.audit import Actor
from monitor.usecases.checks import outage_subject
from monitor.usecases.outages import InvalidInput

MAX_UPDATE = 5000
LANGUAGES = ", ".join(language.value for language in Language)


def _outage_facts(outage: Outage) -> dict[str, Any]:
    return {
        "component": outage.component_id,
        "source": outage.source.value,
        "severity": outage.severity.value,
        "started_at": iso(outage.started_at),
        "ended_at": iso(outage.ended_at),
    }


def declare_outage(
    session: Session,
    actor: Actor,
    *,
    component_id: object,
    started_at: object,
    ended_at: object,
    severity: object,
    reason: object,
    now: datetime,
    grace_days: int | None = None,
) -> Outage:
    outage = outages.declare_outage(
        session,
        component_id=component_id,
        started_at=started_at,
        ended_at=ended_at,
        severity=severity,
        reason=reason,
        now=now,
        grace_days=grace_days,
    )
    audit.append(
        session,
        actor,
        AuditAction.OUTAGE_DECLARED,
        outage_subject(outage.id),
        after=_outage_facts(outage),
        reason=outage.reason,
        now=now,
    )
    return outage


def _last_correction_id(session: Session, outage_id: int) -> int | None:
    return session.scalar(select(func.max(OutageCorrection.id)).where(OutageCorrection.outage_id == outage_id))


def correct_outage(
    session: Session, actor: Actor, outage_id: int, *, changes: Mapping[str, object], reason: object, now: datetime
) -> Outage:
    """A correction of bounds or severity (reason required); its entry holds the correction's before and after."""
    outages.get_outage(session, outage_id, for_update=True)
    last = _last_correction_id(session, outage_id)
    outage = outages.correct_outage(session, outage_id, changes=changes, reason=reason, now=now)
    made = session.scalars(
        select(OutageCorrection)
        .where(OutageCorrection.outage_id == outage_id, OutageCorrection.id > (last or 0))
        .order_by(OutageCorrection.id)
    ).first()
    if made is not None:
        audit.append(
            session,
            actor,
            AuditAction.OUTAGE_CORRECTED,
            outage_subject(outage_id),
            before=made.before,
            after=made.after,
            reason=made.reason,
            now=now,
        )
    return outage


def relief_resting_on(session: Session, outage_id: int) -> dict[str, int]:
    """What relief rests on an outage now: cases with a grant on it, those extended, paper authorisations."""
    cases = session.scalar(select(func.count()).select_from(Grant).where(Grant.outage_id == outage_id)) or 0
    extended = (
        session.scalar(
            select(func.count())
            .select_from(Grant)
            .join(ReliefDecision, ReliefDecision.case_id == Grant.case_id)
            .where(Grant.outage_id == outage_id, ReliefDecision.effective_deadline > ReliefDecision.original_deadline)
        )
        or 0
    )
    paper = (
        session.scalar(
            select(func.count()).select_from(PaperAuthorisation).where(PaperAuthorisation.outage_id == outage_id)
        )
        or 0
    )
    return {"cases": cases, "extended": extended, "paper_authorisations": paper}


def false_positive_relief(counts: Mapping[str, int]) -> dict[str, Any]:
    """What marking an outage a false positive does to relief, in numbers and in words."""
    cases, extended, paper = counts["cases"], counts["extended"], counts["paper_authorisations"]
    if cases or paper:
        said = (
            f"{cases} case(s) had relief resting on this outage ({extended} with a later deadline) and "
            f"{paper} paper-filing authorisation(s) rested on it. Never worse off: no effective deadline moves "
            "earlier and no authorisation is withdrawn; relief is decided again without the outage, and a "
            "decision the rules would now shorten is recorded as held. Nothing new will rest on it."
        )
    else:
        said = "No relief rested on this outage; nothing will rest on it now."
    return {**counts, "effective_deadlines": "kept", "policy": "never_worse_off", "message": said}


def mark_false_positive(
    session: Session, actor: Actor, outage_id: int, *, reason: object, now: datetime
) -> tuple[Outage, dict[str, Any], bool]:
    """(outage, what happened to relief, whether it was marked now) — see outages.mark_false_positive."""
    outages.get_outage(session, outage_id, for_update=True)
    relief = false_positive_relief(relief_resting_on(session, outage_id))
    outage, correction = outages.mark_false_positive(session, outage_id, reason=reason, now=now)
    if correction is not None:
        audit.append(
            session,
            actor,
            AuditAction.OUTAGE_FALSE_POSITIVE,
            outage_subject(outage_id),
            before=correction.before,
            after={**correction.after, "relief": relief},
            reason=correction.reason,
            now=now,
        )
    return outage, relief, correction is not None


# --- acknowledgements and updates ----------------------------------------------------------------


def update_subject(outage_id: int, update_id: int) -> str:
    """An update's own outbox subject: a reply of its own, never folded into the outage's message."""
    return f"{outage_subject(outage_id)}:update:{update_id}"


def acknowledge(session: Session, actor: Actor, outage_id: int, *, now: datetime) -> tuple[OutageAcknowledgement, bool]:
    """(the acknowledgement, whether it was made now): the first one stands."""
    outage = outages.get_outage(session, outage_id, for_update=True)
    existing = session.get(OutageAcknowledgement, outage_id)
    if existing is not None:
        return existing, False
    made = OutageAcknowledgement(
        outage_id=outage_id, acknowledged_by=actor.name, person_id=actor.person_id, acknowledged_at=now
    )
    session.add(made)
    session.flush()
    audit.append(
        session,
        actor,
        AuditAction.OUTAGE_ACKNOWLEDGED,
        outage_subject(outage_id),
        before={"acknowledged_at": None, "acknowledged_by": None},
        after={"acknowledged_at": iso(now), "acknowledged_by": actor.name},
        now=now,
    )
    emit(
        session,
        EventKind.OUTAGE_ACKNOWLEDGED,
        subject=outage_subject(outage_id),
        outage_id=outage_id,
        component_id=outage.component_id,
        payload={"acknowledged_by": actor.name},
        now=now,
    )
    return made, True


def _update_body(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput("body", "is required: the update's text")
    text = value.strip()
    if not text:
        raise InvalidInput("body", "must not be empty")
    if len(text) > MAX_UPDATE:
        raise InvalidInput("body", f"is longer than {MAX_UPDATE} characters")
    if any(ord(char) < 32 and char not in "\n\t" for char in text):
        raise InvalidInput("body", "contains a control character")
    return text


def post_update(
    session: Session,
    actor: Actor,
    outage_id: int,
    *,
    body: object,
    public: object = False,
    language: object = None,
    now: datetime,
) -> OutageUpdate:
    """A note about an outage: `public` ones are shown on the status page and in summary.json, others never.

    Either kind is posted in Slack, in the ops channel, as a reply to the outage's message."""
    outage = outages.get_outage(session, outage_id, for_update=True)
    text = _update_body(body)
    if not isinstance(public, bool):
        raise InvalidInput("public", "expected true (shown on the status page) or false (internal)")
    chosen: Language | None = None
    if language is not None:
        if not isinstance(language, str) or language not in set(Language):
            raise InvalidInput("language", f"expected one of {LANGUAGES}, or null")
        chosen = Language(language)
    update = OutageUpdate(
        outage_id=outage_id,
        body=text,
        public=public,
        language=chosen,
        author=actor.name,
        person_id=actor.person_id,
        created_at=now,
    )
    session.add(update)
    session.flush()
    audit.append(
        session,
        actor,
        AuditAction.OUTAGE_UPDATE_POSTED,
        outage_subject(outage_id),
        after={"update_id": update.id, "body": text, "public": public, "language": language},
        now=now,
    )
    emit(
        session,
        EventKind.UPDATE_POSTED,
        subject=update_subject(outage_id, update.id),
        outage_id=outage_id,
        component_id=outage.component_id,
        payload={"update_id": update.id},
        now=now,
    )
    return update


def acknowledgements_of(session: Session, outage_ids: Iterable[int]) -> dict[int, OutageAcknowledgement]:
    ids = list(outage_ids)
    if not ids:
        return {}
    rows = session.scalars(select(OutageAcknowledgement).where(OutageAcknowledgement.outage_id.in_(ids)))
    return {row.outage_id: row for row in rows}


def updates_of(session: Session, outage_ids: Iterable[int]) -> dict[int, list[OutageUpdate]]:
    """Each outage's updates, public and internal, oldest first."""
    return outages.by_outage(session, OutageUpdate, outage_ids, OutageUpdate.id)


def update_json(update: OutageUpdate) -> dict[str, Any]:
    return {
        "id": update.id,
        "body": update.body,
        "public": update.public,
        "language": update.language.value if update.language else None,
        "author": update.author,
        "created_at": iso(update.created_at),
    }


# --- maintenance ---------------------------------------------------------------------------------


def _window_facts(window: Maintenance) -> dict[str, Any]:
    return {
        "title": window.title,
        "components": sorted(c.component_id for c in window.components),
        "starts_at": iso(window.starts_at),
        "ends_at": iso(window.ends_at),
        "announced_at": iso(window.announced_at),
        "active": window.active,
    }


def announce_maintenance(
    session: Session,
    actor: Actor,
    *,
    components: object,
    starts_at: object,
    ends_at: object,
    title: object,
    now: datetime,
    announced_at: object = None,
) -> Maintenance:
    window = maintenance.announce_maintenance(
        session,
        components=components,
        starts_at=starts_at,
        ends_at=ends_at,
        title=title,
        announced_at=announced_at,
        now=now,
    )
    audit.append(
        session,
        actor,
        AuditAction.MAINTENANCE_ANNOUNCED,
        maintenance.maintenance_subject(window.id),
        after=_window_facts(window),
        now=now,
    )
    return window


def cancel_maintenance(session: Session, actor: Actor, maintenance_id: int, *, now: datetime) -> Maintenance:
    found = (
        session.get(Maintenance, maintenance_id, with_for_update=True) if 0 < maintenance_id <= outages.MAX_ID else None
    )
    before = _window_facts(found) if found is not None and found.active else None
    window = maintenance.cancel_maintenance(session, maintenance_id, now=now)
    if before is not None and not window.active:
        audit.append(
            session,
            actor,
            AuditAction.MAINTENANCE_CANCELLED,
            maintenance.maintenance_subject(window.id),
            before=before,
            after=_window_facts(window),
            now=now,
        )
    return window
