"""The audit log on both back ends: chained as appended, any tampering found, append-only on PostgreSQL."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import AuditAction, Role
from monitor.storage.models import AuditEntry, AuditHead
from monitor.usecases import audit
from monitor.usecases.audit import BOOTSTRAP, Actor, verify_audit
from tests.conftest import OFFLINE_CONFIG, make_runtime

T0 = datetime(2026, 11, 22, 14, 15, tzinfo=UTC)
OTTO = Actor("otto", Role.OPS, person_id=None)


@pytest.fixture
def runtime(database_url: str) -> Iterator[Runtime]:
    runtime = make_runtime(database_url, OFFLINE_CONFIG)
    yield runtime
    runtime.close()


def record(runtime: Runtime, n: int, *, actor: Actor = OTTO, start: int = 0) -> None:
    for i in range(start, start + n):
        with transaction(runtime.sessions) as session:
            audit.append(
                session,
                actor,
                AuditAction.OUTAGE_CORRECTED,
                f"outage:{i}",
                before={"ended_at": None, "severity": "major_outage", "note": "élan ✓"},
                after={"ended_at": (T0 + timedelta(minutes=i)).isoformat(), "severity": "partial_outage"},
                reason=f"The operator confirms the fix ({i})",
                now=T0 + timedelta(seconds=i, microseconds=123),
            )


def tamper(runtime: Runtime, statement: str) -> None:
    """Change the log behind the application's back, as someone who owns the database could."""
    with runtime.engine.begin() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:  # the owner can switch the trigger off; the chain is what still catches it
            connection.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        connection.execute(text(statement))
        if postgres:
            connection.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))


def test_entries_are_numbered_chained_and_verify(runtime: Runtime) -> None:
    assert verify_audit(runtime.sessions).intact  # an empty log verifies
    record(runtime, 5)
    record(runtime, 1, actor=BOOTSTRAP, start=5)
    report = verify_audit(runtime.sessions)
    assert report.intact and (report.entries, report.last_id) == (6, 6)
    with transaction(runtime.sessions) as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        head = session.get_one(AuditHead, 1)
        assert [e.id for e in entries] == [1, 2, 3, 4, 5, 6]
        assert entries[0].prev_hash is None
        assert all(later.prev_hash == earlier.hash for earlier, later in itertools.pairwise(entries))
        assert (head.last_id, head.hash) == (6, entries[-1].hash)
        assert (entries[-1].actor, entries[-1].actor_id) == ("bootstrap", None)
        assert entries[0].before == {"ended_at": None, "severity": "major_outage", "note": "élan ✓"}
        shown = audit.entry_json(entries[0])
    assert shown["at"] == "2026-11-22T14:15:00.000123+00:00"
    assert shown["action"] == "outage_corrected"


def test_an_action_rolled_back_takes_its_entry_with_it(runtime: Runtime) -> None:
    record(runtime, 1)
    with pytest.raises(RuntimeError), transaction(runtime.sessions) as session:
        audit.append(session, OTTO, AuditAction.OUTAGE_DECLARED, "outage:9", now=T0)
        raise RuntimeError("the action failed")
    record(runtime, 1, start=1)
    with transaction(runtime.sessions) as session:
        assert session.scalars(select(AuditEntry.id).order_by(AuditEntry.id)).all() == [1, 2]
    assert verify_audit(runtime.sessions).intact


@pytest.mark.parametrize(
    ("statement", "entry", "says"),
    [
        ("UPDATE audit_log SET reason = 'nothing happened' WHERE id = 3", 3, "a field of this entry"),
        ("UPDATE audit_log SET actor = 'someone-else' WHERE id = 2", 2, "was edited"),
        ("UPDATE audit_log SET at = at + interval '1 hour' WHERE id = 4", 4, "was edited"),
        ("DELETE FROM audit_log WHERE id = 3", 4, "entry 3 is missing before it"),
        ("UPDATE audit_log SET hash = prev_hash WHERE id = 2", 2, "no longer matches its hash"),
    ],
)
def test_a_tampered_log_is_found_at_the_first_entry_that_changed(
    runtime: Runtime, statement: str, entry: int, says: str
) -> None:
    record(runtime, 5)
    if runtime.engine.dialect.name == "sqlite":
        statement = statement.replace("at + interval '1 hour'", "datetime(at, '+1 hour')")
    tamper(runtime, statement)
    report = verify_audit(runtime.sessions)
    assert not report.intact and report.broken is not None
    assert report.broken.entry_id == entry, report.broken
    assert says in report.broken.problem, report.broken.problem


def test_entries_cut_from_the_end_are_found(runtime: Runtime) -> None:
    record(runtime, 5)
    tamper(runtime, "DELETE FROM audit_log WHERE id >= 4")
    report = verify_audit(runtime.sessions)
    assert report.broken is not None and report.broken.entry_id is None
    assert "removed from the end" in report.broken.problem


def test_postgresql_refuses_to_change_or_remove_an_entry(postgres_url: str) -> None:
    runtime = make_runtime(postgres_url, OFFLINE_CONFIG)
    try:
        record(runtime, 2)
        for statement in [
            "UPDATE audit_log SET reason = 'rewritten' WHERE id = 1",
            "DELETE FROM audit_log WHERE id = 2",
            "TRUNCATE audit_log",
        ]:
            with pytest.raises(DBAPIError, match="audit_log is append-only"), runtime.engine.begin() as connection:
                connection.execute(text(statement))
        assert verify_audit(runtime.sessions).intact
        with transaction(runtime.sessions) as session:
            assert session.scalar(select(AuditEntry.reason).where(AuditEntry.id == 1)) == (
                "The operator confirms the fix (0)"
            )
    finally:
        runtime.close()


def test_actions_committing_at_once_never_fork_the_chain(postgres_url: str) -> None:
    runtime = make_runtime(postgres_url, OFFLINE_CONFIG)
    threads, each = 8, 10
    failures: list[BaseException] = []
    start = threading.Barrier(threads)

    def act(n: int) -> None:
        try:
            start.wait()
            for i in range(each):
                with transaction(runtime.sessions) as session:
                    audit.append(
                        session, Actor(f"person-{n}", Role.OPS), AuditAction.OUTAGE_ACKNOWLEDGED, f"outage:{i}", now=T0
                    )
        except BaseException as exc:  # reported below, with the thread's own traceback
            failures.append(exc)

    try:
        workers = [threading.Thread(target=act, args=(n,)) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert failures == []
        report = verify_audit(runtime.sessions)
        assert report.intact and report.entries == threads * each
        with transaction(runtime.sessions) as session:
            assert session.scalars(select(AuditEntry.id).order_by(AuditEntry.id)).all() == list(
                range(1, threads * each + 1)
            )
    finally:
        runtime.close()
