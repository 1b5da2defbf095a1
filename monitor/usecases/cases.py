"""Importing cases: store them all or none, and owe them the relief past and open outages earned them.

The relief owed is an outbox event written in the same transaction as the cases, so it survives a
crash right after the commit; it is then delivered at once, and the sweeper retries it if that fails.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from exemptions.cases import CaseRow, known_component_ids, read_cases_csv, store_cases
from exemptions.cases.store import access_hashes, stored_access_hashes
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import AuditAction
from monitor.usecases import audit
from monitor.usecases.audit import Actor
from monitor.usecases.deliver import Outcome, deliver
from monitor.usecases.relief import owe_imported_cases


@dataclass(frozen=True)
class Imported:
    rows: list[CaseRow]
    outage_ids: list[int]  # outages whose relief window may cover an imported deadline
    granted: int  # grants made for them right away (the rest follow through the outbox)


def import_cases_text(runtime: Runtime, text: str, *, source: str, actor: Actor | None = None) -> Imported:
    """Check a CSV's cases, then store them all in one transaction; raises ImportRejected and stores nothing on
    any problem.

    Access codes are hashed between a first, reading transaction (the check) and the one that stores: slow on
    purpose, hashing must not hold SQLite's write lock. (Components are never deleted, so those known to the
    check stay known.) About 15 ms of a core per code: a file with thousands of codes belongs in a job.
    `actor`: who imports, for the audit entry written with the cases.
    """
    with transaction(runtime.sessions) as session:
        rows, columns = read_cases_csv(text, known_components=known_component_ids(session), source=source)
        stored = stored_access_hashes(session, (row.case_id for row in rows if row.access_code is not None))
    hashes = access_hashes(rows, stored)
    with transaction(runtime.sessions) as session:
        store_cases(session, rows, columns=columns, hashes=hashes)
        deliveries: list[int] = []
        outage_ids: list[int] = []
        if rows:
            start, end = min(r.deadline for r in rows), max(r.deadline for r in rows)
            deliveries, outage_ids = owe_imported_cases(
                session,
                subject=f"import:{start.isoformat()}..{end.isoformat()}",
                start=start,
                end=end,
                cases=len(rows),
                now=runtime.clock(),
            )
        if actor is not None:
            audit.append(
                session,
                actor,
                AuditAction.CASES_IMPORTED,
                "cases",
                after={
                    "source": source,
                    "rows": len(rows),
                    "sha256": hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(),
                    "relief_for_outages": outage_ids,
                },
                now=runtime.clock(),
            )
    return Imported(rows=rows, outage_ids=outage_ids, granted=relieve_now(runtime, deliveries))


def relieve_now(runtime: Runtime, deliveries: list[int]) -> int:
    """Deliver relief owed to imported cases at once; returns the grants made. What fails, the sweeper retries."""
    granted = 0
    for delivery_id in deliveries:
        delivered = deliver(runtime, delivery_id)
        if delivered.outcome == Outcome.DONE and isinstance(delivered.result, int):
            granted += delivered.result
    return granted
