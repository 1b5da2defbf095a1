"""The audit log: who did what, when, before → after and why; appended in the transaction of the action.

Entries are chained by SHA-256 (monitor.audit.chain) and numbered from 1 with no gap. An append first
locks the log's one head row (`audit_head`, SELECT … FOR UPDATE; on SQLite every writer already holds
the database's write lock), so two actions committing at once are chained one after the other, never
both to the same entry. An action rolled back takes its entry with it: the log records what happened.
There is no function here, or anywhere, that changes or removes an entry; on PostgreSQL a trigger
refuses it too (see migration 0011).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.audit.chain import Broken, EntryFacts, StoredEntry, Walk, entry_hash
from monitor.storage.dialect import insert_for
from monitor.storage.engine import transaction
from monitor.storage.enums import AuditAction, Role
from monitor.storage.models import AuditEntry, AuditHead
from monitor.timefmt import iso

HEAD_ID = 1
PAGE = 1000  # entries read per query when verifying
MAX_SUBJECT = 128


@dataclass(frozen=True)
class Actor:
    """Who is acting: a person (by name, with their id and role), the bootstrap token, or the command line."""

    name: str
    role: Role
    person_id: int | None = None

    @property
    def is_person(self) -> bool:
        return self.person_id is not None


# PORTALWATCH_OPS_TOKEN: the token set in the environment before anyone had one of their own.
BOOTSTRAP = Actor("bootstrap", Role.ADMIN)
# Someone at the server's command line (python -m monitor create-user, revoke-token, …).
CLI = Actor("cli", Role.ADMIN)


def _json_value(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A plain JSON object, exactly as it will read back from the database (tuples become lists, …)."""
    if value is None:
        return None
    loaded: dict[str, Any] = json.loads(json.dumps(value, allow_nan=False))
    return loaded


def _head(session: Session) -> AuditHead:
    query = select(AuditHead).where(AuditHead.id == HEAD_ID).with_for_update().execution_options(populate_existing=True)
    head = session.scalar(query)
    if head is None:
        # The first append ever: two at once both try, one row results, and both then wait on its lock.
        session.execute(
            insert_for(session, AuditHead.__table__)
            .values(id=HEAD_ID, last_id=0, hash=None)
            .on_conflict_do_nothing(index_elements=["id"])
        )
        head = session.scalars(query).one()
    return head


def append(
    session: Session,
    actor: Actor,
    action: AuditAction,
    subject: str,
    *,
    now: datetime,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    reason: str | None = None,
) -> AuditEntry:
    """Append one entry, chained to the last, in the caller's transaction (it commits or rolls back with it)."""
    head = _head(session)
    facts = EntryFacts(
        id=head.last_id + 1,
        at=now,
        actor=actor.name,
        actor_id=actor.person_id,
        action=action.value,
        subject=subject[:MAX_SUBJECT],
        before=_json_value(before),
        after=_json_value(after),
        reason=reason,
    )
    digest = entry_hash(facts, head.hash)
    entry = AuditEntry(
        id=facts.id,
        at=facts.at,
        actor=facts.actor,
        actor_id=facts.actor_id,
        action=action,
        subject=facts.subject,
        before=facts.before,
        after=facts.after,
        reason=facts.reason,
        prev_hash=head.hash,
        hash=digest,
    )
    session.add(entry)
    head.last_id, head.hash = facts.id, digest
    session.flush()
    return entry


# --- reading -------------------------------------------------------------------------------------


def entries(session: Session, *, before_id: int | None = None, limit: int = 100) -> list[AuditEntry]:
    """Entries newest first; `before_id`: only those older than it (the next page)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return list(session.scalars(query))


def entries_about(session: Session, subject: str) -> list[AuditEntry]:
    """Every entry about one subject (`outage:12`), oldest first."""
    return list(session.scalars(select(AuditEntry).where(AuditEntry.subject == subject).order_by(AuditEntry.id)))


def entry_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": iso(entry.at),
        "actor": entry.actor,
        "actor_id": entry.actor_id,
        "action": entry.action.value,
        "subject": entry.subject,
        "before": entry.before,
        "after": entry.after,
        "reason": entry.reason,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


# --- verifying -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditReport:
    entries: int  # read before the first that does not verify (included), or all of them
    last_id: int
    broken: Broken | None
    last_hash: str | None = None  # the last entry's: kept elsewhere, it proves later that nothing before it changed

    @property
    def intact(self) -> bool:
        return self.broken is None


def _stored(entry: AuditEntry) -> StoredEntry:
    return StoredEntry(
        facts=EntryFacts(
            id=entry.id,
            at=entry.at,
            actor=entry.actor,
            actor_id=entry.actor_id,
            action=entry.action.value if isinstance(entry.action, AuditAction) else str(entry.action),
            subject=entry.subject,
            before=entry.before,
            after=entry.after,
            reason=entry.reason,
        ),
        prev_hash=entry.prev_hash,
        hash=entry.hash,
    )


def verify_audit(sessions: sessionmaker[Session]) -> AuditReport:
    """Walk the whole log in pages of PAGE entries (bounded memory); the first entry that does not verify."""
    walk = Walk()
    after_id = 0
    while walk.broken is None:
        with transaction(sessions) as session:
            page = list(
                session.scalars(select(AuditEntry).where(AuditEntry.id > after_id).order_by(AuditEntry.id).limit(PAGE))
            )
            session.expunge_all()
        if not page:
            break
        walk.feed(_stored(entry) for entry in page)
        after_id = page[-1].id
    if walk.broken is None:
        with transaction(sessions) as session:
            head = session.get(AuditHead, HEAD_ID)
            walk.finish(head.last_id if head else 0, head.hash if head else None)
    return AuditReport(entries=walk.read, last_id=walk.last_id, broken=walk.broken, last_hash=walk.last_hash)
