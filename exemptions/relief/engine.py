"""Deciding relief for every case a change may touch, in one transaction, with set-based SQL.

A run is given a scope: the components whose record changed and the deadlines the change can reach.
It then
1. writes the candidate cases to `relief_run_cases` in one INSERT … SELECT, each with a bit mask of the
   components with downtime it depends on;
2. reads back the distinct (deadline, zone, extendable, mask) groups — thousands at most, however many
   cases — and lets the pure policy decide each group once, in Python, where calendars and time zones
   are easy to get right;
3. writes the groups' decisions and applies them to every case with a handful of statements: the
   history rows of what changed, the decisions upserted, the (case, outage) links, paper filing.

Re-running a run changes nothing: a decision whose signature (what the rules computed) and effective
deadline are unchanged is not written again, so no history row, no version bump. The effective
deadline never moves earlier: when the rules now give less (a correction shortened an outage), the
new computation is recorded as `held` and shown, and the deadline in force stays.

Runs are serialised (an advisory lock on PostgreSQL; SQLite has one writer anyway): two runs deciding
the same case at once would both read its old decision and both write a "next" version.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    union,
    update,
)
from sqlalchemy.orm import Session, aliased

from exemptions.policy.model import Decision, ReliefPolicy, Rule, Span
from exemptions.policy.paper import paper_periods
from exemptions.policy.rules import counted_spans, decide
from exemptions.relief.downtime import ids_of, load_record
from exemptions.relief.letters import owe_decision_letters, owe_paper_letters
from monitor.storage.dialect import insert_for
from monitor.storage.enums import DecisionChange, GrantStatus
from monitor.storage.models import (
    Case,
    CaseComponent,
    Grant,
    PaperAuthorisation,
    ReliefDecision,
    ReliefHistory,
    ReliefRunCase,
    ReliefRunGroup,
    ReliefRunOutage,
)
from monitor.storage.types import UTCDateTime

# A bigint mask holds 62 components with downtime at once (bit 63 is the sign; keep one spare).
MAX_COMPONENTS_WITH_DOWNTIME = 62
# Any constant: all relief runs take the same PostgreSQL advisory lock for their transaction.
RELIEF_LOCK_KEY = 0x5057_5245_4C46  # "PWRELF"
NO_DECISION = "none"  # the signature of "no rule applies"
# What a new computation writes into a case's decision (besides its key and timestamps).
DECISION_COLUMNS = (
    "original_deadline",
    "computed_deadline",
    "effective_deadline",
    "extendable",
    "rules",
    "outage_ids",
    "maintenance_ids",
    "explanation",
    "status",
    "signature",
    "version",
)


class TooManyComponents(RuntimeError):
    """More components with downtime in one run's reach than a mask can tell apart."""


# How far from an outage a deadline can be and still have the outage touch its local day (rules 1, 2 and
# the restoration of rule 4): a day, plus an hour for a DST change, plus slack for the widest zone offsets.
DAY_REACH = timedelta(hours=27)


@dataclass(frozen=True)
class Scope:
    """What changed, and so what a run decides.

    `components` (None: every component with downtime) changed between `start` and `end`. The run
    decides the cases on those components whose deadline the downtime there can reach (a day either
    side, or `lookback_days` after it when enough downtime is about for the long-outage rule), limited
    to `deadlines` when given (an import: only its deadlines are new), plus every case whose decision
    may move because of the change: decisions in force after the reach's start on those components,
    and cases whose decision rests on `outage_ids` (a correction may have shrunk them).
    """

    components: frozenset[str] | None
    start: datetime
    end: datetime
    outage_ids: frozenset[int] = frozenset()
    deadlines: tuple[datetime, datetime] | None = None


@dataclass
class ReliefRun:
    candidates: int = 0  # cases looked at
    groups: int = 0  # distinct (deadline, zone, extendable, components) the policy decided
    decided: int = 0  # cases some rule applies to
    changes: dict[str, int] = field(default_factory=dict)  # history rows written, by kind of change
    paper: int = 0  # paper-filing authorisations created or grown
    letters: int = 0  # letters owed (pending rows written) by this run

    @property
    def changed(self) -> int:
        return sum(self.changes.values())


def relieve(session: Session, scope: Scope, policy: ReliefPolicy, *, page_zone: str, now: datetime) -> ReliefRun:
    """Decide relief for the scope inside the caller's transaction; idempotent."""
    run = ReliefRun()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": RELIEF_LOCK_KEY})

    # Every span a candidate's decision may rest on: rules look back `lookback_days` before a deadline
    # and ahead to the first accessible business day after it.
    lookback = timedelta(days=policy.lookback_days)
    since = scope.start - lookback - 2 * DAY_REACH
    record = load_record(session, since=since, until=max(now, scope.end) + lookback + 2 * DAY_REACH, now=now)
    spans = counted_spans(record.downtimes, record.maintenance, policy)
    by_component: dict[str, list[Span]] = {}
    for span in spans:
        by_component.setdefault(span.component_id, []).append(span)
    components = sorted(by_component)
    if len(components) > MAX_COMPONENTS_WITH_DOWNTIME:
        raise TooManyComponents(
            f"{len(components)} components have downtime within reach of one relief run; at most "
            f"{MAX_COMPONENTS_WITH_DOWNTIME} can be decided together"
        )
    bits = {component: 1 << position for position, component in enumerate(components)}
    scope_components = frozenset(components) if scope.components is None else scope.components
    ranges = deadline_ranges(scope, spans, scope_components, policy)

    run_id = secrets.token_hex(8)
    try:
        run.candidates = _stage_candidates(session, run_id, scope, scope_components, ranges, bits)
        if run.candidates and session.get_bind().dialect.name == "postgresql":
            # The scratch table is empty between runs, so without fresh statistics the planner expects a
            # handful of rows and nested-loops tens of thousands.
            session.execute(text("ANALYZE relief_run_cases"))
        if run.candidates:
            run.groups, run.decided = _decide_groups(session, run_id, components, by_component, policy)
            run.changes = _apply(session, run_id, now=now)
            if run.changes:
                run.letters += owe_decision_letters(session, run_id, now=now)
        run.paper, finalised = _paper(session, scope_components, by_component, policy, page_zone=page_zone, now=now)
        if finalised:
            run.letters += owe_paper_letters(session, finalised, now=now)
    finally:
        # Scratch rows never outlive the run: removed in the same transaction (or rolled back with it).
        for table in (ReliefRunCase, ReliefRunGroup, ReliefRunOutage):
            session.execute(delete(table).where(table.run_id == run_id))
    return run


def deadline_ranges(
    scope: Scope, spans: Sequence[Span], components: frozenset[str], policy: ReliefPolicy
) -> list[tuple[datetime, datetime]]:
    """The deadlines the scope's downtime can reach, as merged [start, end] ranges (see Scope)."""
    lookback = timedelta(days=policy.lookback_days)
    long_enough = timedelta(hours=policy.long_outage_hours)
    triggers = [s for s in spans if s.component_id in components and s.end >= scope.start and s.start <= scope.end]
    # No rule applies to a deadline before the downtime began (each needs downtime before the deadline); what a
    # later span changes for earlier deadlines (restoration, the next accessible day) only matters to cases
    # that already have a decision, and those are looked at anyway (see Scope).
    # An import's scope is every deadline it brought: only those the downtime reaches are candidates. A change of
    # the record reaches at least a day after its own bounds, even when it now holds no counted downtime.
    raw: list[tuple[datetime, datetime]] = [] if scope.deadlines is not None else [(scope.start, scope.end + DAY_REACH)]
    for trigger in triggers:
        # The long-outage rule can only reach further when enough downtime (any component: an upper bound
        # of any case's total) lies within one lookback of this span.
        near = timedelta(0)
        for span in spans:
            lo, hi = max(span.start, trigger.start - lookback), min(span.end, trigger.end + lookback)
            if hi > lo:
                near += hi - lo
        reach = lookback + DAY_REACH if near >= long_enough else DAY_REACH
        raw.append((trigger.start, trigger.end + reach))
    raw.sort()
    merged: list[tuple[datetime, datetime]] = []
    for lo, hi in raw:
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    if scope.deadlines is not None:
        first, last = scope.deadlines
        merged = [(max(lo, first), min(hi, last)) for lo, hi in merged if hi >= first and lo <= last]
    return merged


def _stage_candidates(
    session: Session,
    run_id: str,
    scope: Scope,
    components: frozenset[str],
    ranges: Sequence[tuple[datetime, datetime]],
    bits: dict[str, int],
) -> int:
    # Each branch selects the case's own columns: an `IN (union of ids)` made PostgreSQL scan every case.
    columns = (Case.case_id, Case.deadline, Case.time_zone, Case.extendable)
    wanted = []
    if ranges and components:
        on_scope = exists().where(
            CaseComponent.case_id == Case.case_id, CaseComponent.component_id.in_(sorted(components))
        )
        reached = or_(*(Case.deadline.between(lo, hi) for lo, hi in ranges))
        wanted.append(select(*columns).where(reached, on_scope))
        # Decisions already in force that a change of these components can still move (the first
        # accessible business day after a deadline may no longer be accessible).
        wanted.append(
            select(*columns)
            .join(ReliefDecision, ReliefDecision.case_id == Case.case_id)
            .where(ReliefDecision.effective_deadline >= ranges[0][0], on_scope)
        )
    if scope.outage_ids:
        wanted.append(
            select(*columns)
            .join(Grant, Grant.case_id == Case.case_id)
            .where(Grant.outage_id.in_(sorted(scope.outage_ids)))
        )
    if not wanted:
        return 0
    # UNION removes repeats (a case with links to two outages of the scope); one branch needs DISTINCT.
    found = (union(*wanted) if len(wanted) > 1 else wanted[0].distinct()).subquery("found")

    if bits:
        bit = case(bits, value=CaseComponent.component_id, else_=0)
        mask: ColumnElement[int] = cast(
            select(func.coalesce(func.sum(bit), 0)).where(CaseComponent.case_id == found.c.case_id).scalar_subquery(),
            BigInteger,
        )
    else:
        mask = literal(0, BigInteger)
    candidates = select(literal(run_id), found.c.case_id, found.c.deadline, found.c.time_zone, found.c.extendable, mask)
    result = session.execute(
        insert(ReliefRunCase)
        .from_select(["run_id", "case_id", "deadline", "time_zone", "extendable", "mask"], candidates)
        .execution_options(preserve_rowcount=True)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _decide_groups(
    session: Session,
    run_id: str,
    components: list[str],
    by_component: dict[str, list[Span]],
    policy: ReliefPolicy,
) -> tuple[int, int]:
    keys = session.execute(
        select(
            ReliefRunCase.deadline,
            ReliefRunCase.time_zone,
            ReliefRunCase.extendable,
            ReliefRunCase.mask,
            func.count(),
        )
        .where(ReliefRunCase.run_id == run_id)
        .group_by(ReliefRunCase.deadline, ReliefRunCase.time_zone, ReliefRunCase.extendable, ReliefRunCase.mask)
        # Streamed: an import can bring a hundred thousand groups of which a few get relief; only those are kept.
        .execution_options(yield_per=10_000)
    )
    seen = 0
    spans_of_mask: dict[int, list[Span]] = {}
    groups: list[dict[str, Any]] = []
    outages: list[dict[str, Any]] = []
    decided = 0
    for deadline, time_zone, extendable, mask, count in keys:
        seen += 1
        spans = spans_of_mask.get(mask)
        if spans is None:
            spans = sorted(
                (s for position, c in enumerate(components) if mask >> position & 1 for s in by_component[c]),
                key=lambda s: (s.start, s.end),
            )
            spans_of_mask[mask] = spans
        decision = decide(deadline, time_zone, spans, policy) if spans else None
        if decision is None:
            continue
        group_no = len(groups) + 1
        decided += count
        outage_ids = ids_of(decision.refs, "outage")
        groups.append(
            {
                "run_id": run_id,
                "group_no": group_no,
                "deadline": deadline,
                "time_zone": time_zone,
                "extendable": extendable,
                "mask": mask,
                "computed_deadline": decision.new_deadline,
                "rules": [rule.value for rule in decision.rules],
                "outage_ids": outage_ids,
                "maintenance_ids": ids_of(decision.refs, "maintenance"),
                "explanation": [step.as_json() for step in decision.steps],
                "status": GrantStatus.FINAL if decision.final else GrantStatus.PROVISIONAL,
                "signature": signature(decision),
            }
        )
        outages.extend({"run_id": run_id, "group_no": group_no, "outage_id": o} for o in outage_ids)
    for batch in _batches(groups, 5000):
        session.execute(insert(ReliefRunGroup), batch)
    for batch in _batches(outages, 5000):
        session.execute(insert(ReliefRunOutage), batch)
    if groups:
        group = ReliefRunGroup
        session.execute(
            update(ReliefRunCase)
            .where(
                ReliefRunCase.run_id == run_id,
                group.run_id == run_id,
                group.deadline == ReliefRunCase.deadline,
                group.time_zone == ReliefRunCase.time_zone,
                group.extendable == ReliefRunCase.extendable,
                group.mask == ReliefRunCase.mask,
            )
            .values(group_no=group.group_no)
            .execution_options(synchronize_session=False)
        )
    return seen, decided


def signature(decision: Decision) -> str:
    """What the rules computed, as a digest: equal signatures mean nothing to write."""
    content = json.dumps(
        [
            decision.new_deadline.isoformat(),
            [rule.value for rule in decision.rules],
            list(decision.refs),
            decision.final,
            [step.as_json() for step in decision.steps],
        ],
        sort_keys=True,
    )
    return hashlib.sha256(content.encode()).hexdigest()[:32]


def _greatest(*values: Any) -> Any:
    # GREATEST on PostgreSQL and max() on SQLite differ in NULL handling; a CASE chain means the same on both.
    result = values[0]
    for value in values[1:]:
        result = case((value > result, value), else_=result)
    return result


def _apply(session: Session, run_id: str, *, now: datetime) -> dict[str, int]:
    """History for what changed, then the decisions upserted: both from the same SELECT's expressions."""
    rc = aliased(ReliefRunCase, name="rc")
    g = aliased(ReliefRunGroup, name="g")
    d = aliased(ReliefDecision, name="d")
    stamp = literal(now, UTCDateTime())

    given_before = func.coalesce(d.effective_deadline, rc.deadline)
    new_effective = case(
        (rc.extendable, _greatest(given_before, func.coalesce(g.computed_deadline, rc.deadline), rc.deadline)),
        else_=_greatest(given_before, rc.deadline),
    )
    new_signature = func.coalesce(g.signature, NO_DECISION)
    # The rules now give less than the deadline in force: keep what was given, record what was computed.
    keeps_old = and_(
        d.case_id.is_not(None),
        or_(g.group_no.is_(None), and_(rc.extendable, g.computed_deadline < d.effective_deadline)),
    )
    changed = or_(
        d.case_id.is_(None),
        d.signature != new_signature,
        d.effective_deadline != new_effective,
        d.extendable != rc.extendable,
        d.original_deadline != rc.deadline,
    )
    change = case(
        (and_(d.case_id.is_(None), rc.extendable), DecisionChange.GRANTED.value),
        (~rc.extendable, DecisionChange.FLAGGED.value),
        (keeps_old, DecisionChange.HELD.value),
        (new_effective > d.effective_deadline, DecisionChange.EXTENDED.value),
        (
            and_(g.status == GrantStatus.FINAL.value, d.status == GrantStatus.PROVISIONAL.value),
            DecisionChange.FINALISED.value,
        ),
        else_=DecisionChange.UPDATED.value,
    )
    new_status = func.coalesce(g.status, GrantStatus.FINAL.value)
    version = func.coalesce(d.version, 0) + 1
    empty = literal([], JSON())

    def joined(*columns: Any) -> Any:
        return (
            select(*columns)
            .select_from(rc)
            .outerjoin(g, and_(g.run_id == rc.run_id, g.group_no == rc.group_no))
            .outerjoin(d, d.case_id == rc.case_id)
            .where(rc.run_id == run_id, or_(g.group_no.is_not(None), d.case_id.is_not(None)), changed)
        )

    counts: dict[str, int] = {}
    for kind, number in session.execute(joined(change, func.count()).group_by(change)).all():
        counts[str(kind)] = int(number)
    if not counts:
        return counts

    session.execute(
        insert(ReliefHistory).from_select(
            [
                "case_id",
                "version",
                "change",
                "effective_deadline",
                "computed_deadline",
                "rules",
                "outage_ids",
                "status",
                "changed_at",
            ],
            joined(
                rc.case_id,
                version,
                change,
                new_effective,
                g.computed_deadline,
                func.coalesce(g.rules, empty),
                func.coalesce(g.outage_ids, empty),
                new_status,
                stamp,
            ),
        )
    )

    def kept(old: Any, new: Any) -> Any:
        return case((keeps_old, old), else_=new)

    upsert = insert_for(session, ReliefDecision).from_select(
        ["case_id", *DECISION_COLUMNS, "decided_at", "updated_at"],
        joined(
            rc.case_id,
            rc.deadline,
            g.computed_deadline,
            new_effective,
            rc.extendable,
            kept(d.rules, g.rules),
            kept(d.outage_ids, g.outage_ids),
            kept(d.maintenance_ids, g.maintenance_ids),
            kept(d.explanation, g.explanation),
            new_status,
            new_signature,
            version,
            func.coalesce(d.decided_at, stamp),
            stamp,
        ),
    )
    excluded = upsert.excluded
    session.execute(
        upsert.on_conflict_do_update(
            index_elements=["case_id"],
            set_={name: getattr(excluded, name) for name in (*DECISION_COLUMNS, "updated_at")},
        )
    )
    _link_grants(session, run_id, now=now)
    return counts


def _link_grants(session: Session, run_id: str, *, now: datetime) -> None:
    """One (case, outage) row per outage a decision rests on; its deadline and status follow the decision."""
    rc = aliased(ReliefRunCase, name="rc")
    ro = aliased(ReliefRunOutage, name="ro")
    stamp = literal(now, UTCDateTime())
    links = (
        select(
            rc.case_id,
            ro.outage_id,
            rc.deadline,
            ReliefDecision.effective_deadline,
            ReliefDecision.status,
            stamp,
            stamp,
        )
        .select_from(rc)
        .join(ro, and_(ro.run_id == rc.run_id, ro.group_no == rc.group_no))
        .join(ReliefDecision, ReliefDecision.case_id == rc.case_id)
        .where(rc.run_id == run_id)
    )
    session.execute(
        insert_for(session, Grant)
        .from_select(
            ["case_id", "outage_id", "original_deadline", "new_deadline", "status", "granted_at", "updated_at"],
            links,
        )
        .on_conflict_do_nothing(index_elements=["case_id", "outage_id"])
    )
    session.execute(
        update(Grant)
        .where(
            Grant.case_id.in_(select(rc.case_id).where(rc.run_id == run_id)),
            ReliefDecision.case_id == Grant.case_id,
            or_(Grant.new_deadline != ReliefDecision.effective_deadline, Grant.status != ReliefDecision.status),
        )
        .values(new_deadline=ReliefDecision.effective_deadline, status=ReliefDecision.status, updated_at=stamp)
        .execution_options(synchronize_session=False)
    )


def _paper(
    session: Session,
    components: frozenset[str],
    by_component: dict[str, list[Span]],
    policy: ReliefPolicy,
    *,
    page_zone: str,
    now: datetime,
) -> tuple[int, list[int]]:
    """Paper filing for the scope's components: one authorisation per long outage; its period only grows.

    Returns how many were created or grown, and the ids of those that are final after this run and
    changed in it (their holders are owed letters).
    """
    if Rule.PAPER_FILING not in policy.rules:
        return 0, []
    touched = 0
    finalised: list[int] = []
    for component_id in sorted(components):
        for period in paper_periods(by_component.get(component_id, []), policy, page_zone):
            outage_ids = ids_of(period.refs, "outage")
            if not outage_ids:
                # Late-announced maintenance alone: no outage to key the authorisation on (see README).
                continue
            status = GrantStatus.FINAL if period.final else GrantStatus.PROVISIONAL
            existing = session.scalar(
                select(PaperAuthorisation).where(PaperAuthorisation.outage_id == outage_ids[0]).with_for_update()
            )
            if existing is None:
                created = PaperAuthorisation(
                    outage_id=outage_ids[0],
                    component_id=component_id,
                    starts_at=period.start,
                    ends_at=period.until,
                    outage_ids=outage_ids,
                    status=status,
                    created_at=now,
                    updated_at=now,
                )
                session.add(created)
                session.flush()
                touched += 1
                if status is GrantStatus.FINAL:
                    finalised.append(created.id)
                continue
            starts_at = min(existing.starts_at, period.start)
            ends_at = _later_end(existing.ends_at, period.until)
            merged = sorted(set(existing.outage_ids) | set(outage_ids))
            if (starts_at, ends_at, merged, status) != (
                existing.starts_at,
                existing.ends_at,
                existing.outage_ids,
                existing.status,
            ):
                existing.starts_at, existing.ends_at = starts_at, ends_at
                existing.outage_ids, existing.status, existing.updated_at = merged, status, now
                touched += 1
                if status is GrantStatus.FINAL:
                    finalised.append(existing.id)
    session.flush()
    return touched, finalised


def _later_end(old: datetime | None, new: datetime | None) -> datetime | None:
    # None is "until further notice" while an outage is open. Once it has ended the period gets its end;
    # after that the end only moves later, whatever a correction says (never silently taken back).
    if new is None:
        return None
    if old is None:
        return new
    return max(old, new)


def _batches(rows: Sequence[dict[str, Any]], size: int) -> Iterable[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]
