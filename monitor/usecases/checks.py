"""Running a check and recording it: the check row, its streak, the component's outage and its events,
all in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from monitor.detection.staleness import stale_after
from monitor.detection.streaks import Streak, advance, undecided
from monitor.detection.transitions import (
    CloseOutage,
    ExtendOutage,
    Located,
    OpenOutage,
    OpenOutageView,
    component_transition,
    majority,
)
from monitor.evidence.chain import CheckFacts, check_digest, evidence_digest
from monitor.metrics.series import checks_recorded
from monitor.outbox.store import emit
from monitor.runtime import Runtime
from monitor.storage.dialect import insert_for
from monitor.storage.engine import transaction
from monitor.storage.enums import (
    CheckKind,
    EndReason,
    EventKind,
    LocationSight,
    OutageChangeKind,
    OutageSource,
    Severity,
    WatchState,
)
from monitor.storage.models import Check, Component, Location, MonitoringGap, Outage, OutageChange, Probe, ProbeState
from monitor.usecases.evidence import keep_attachments, record_pieces
from monitor.usecases.locations import control_spec, note_control
from probes import CheckResult, ProbeSpecBase, parse_spec, run_probe
from probes.identity import agent_for
from probes.result import ErrorClass

log = logging.getLogger(__name__)

_STREAK_FIELDS = [f.name for f in fields(Streak)]


def streak_of(state: ProbeState) -> Streak:
    return Streak(**{name: getattr(state, name) for name in _STREAK_FIELDS})


def outage_subject(outage_id: int) -> str:
    return f"outage:{outage_id}"


def check_recorded(session: Session, probe_id: str, location: str, slot: datetime) -> bool:
    found = session.scalar(
        select(Check.id).where(Check.probe_id == probe_id, Check.location == location, Check.slot == slot)
    )
    return found is not None


def run_check(runtime: Runtime, probe_id: str, location: str, slot: datetime) -> list[int]:
    """Run one scheduled check and record it. Returns ids of deliveries to hand out after commit."""
    with transaction(runtime.sessions) as session:
        if check_recorded(session, probe_id, location, slot):
            return []  # a redelivered task: this slot was already checked
        probe = session.get(Probe, probe_id)
        if probe is None or not probe.active:
            log.info("probe %s is no longer configured; skipping", probe_id)
            return []
        spec = parse_spec(probe.spec)
    # No transaction is held open while the portal is being probed.
    result = run_probe(spec, location)
    keep_attachments(runtime, [result])  # files before the transaction, never inside it
    with transaction(runtime.sessions) as session:
        return record_check(
            session, result, slot=slot, grace_days=runtime.config.relief.grace_days, now=runtime.clock()
        )


@dataclass(frozen=True, slots=True)
class Due:
    """One check a batch asks for: which probe, which slot, and why."""

    probe_id: str
    slot: datetime
    kind: CheckKind = CheckKind.SCHEDULED


# Parsed specs by probe id, with the stored form they were parsed from: a batch of a thousand checks
# must not validate a thousand specs that have not changed since the last batch.
_SPECS: dict[str, tuple[Any, ProbeSpecBase]] = {}


def _spec(probe: Probe) -> ProbeSpecBase:
    cached = _SPECS.get(probe.id)
    if cached is not None and cached[0] == probe.spec:
        return cached[1]
    spec = parse_spec(probe.spec)
    _SPECS[probe.id] = (probe.spec, spec)
    return spec


def run_checks(runtime: Runtime, location: str, due: Sequence[Due]) -> Iterator[Recorded]:
    """Run a batch of checks from `location` at once and record them as they finish, a group per transaction.

    Yields what each group's transaction recorded, after it committed, so the caller hands out its
    deliveries and confirmations while the rest of the batch is still running. A redelivered batch
    runs only the checks not recorded yet.
    """
    if not due:
        return
    wanted = {(d.probe_id, d.slot): d for d in due}
    with transaction(runtime.sessions) as session:
        probe_ids = {d.probe_id for d in due}
        done = {
            (row.probe_id, row.slot)
            for row in session.execute(
                select(Check.probe_id, Check.slot).where(
                    Check.location == location,
                    Check.probe_id.in_(probe_ids),
                    Check.slot.in_({d.slot for d in due}),
                )
            )
        }
        probes = {p.id: p for p in session.scalars(select(Probe).where(Probe.id.in_(probe_ids), Probe.active))}
        todo = [(d, _spec(probes[d.probe_id])) for key, d in wanted.items() if key not in done and d.probe_id in probes]
    if not todo:
        return
    # No transaction is held open while the portal is being probed.
    grace_days = runtime.config.relief.grace_days
    agent = agent_for(runtime.config.page.url, location)
    engine = runtime.probe_engine()
    # The control check first: whether this batch's failures count depends on it. It is one request
    # bounded by its own short timeout; a location that cannot make it gets nothing counted anyway.
    blind = False
    location_config = runtime.config.location(location)
    control = control_spec(location_config) if location_config is not None else None
    if control is not None:
        result = next(r for group in engine.stream([(None, control)], location, agent=agent) for _, r in group)
        blind = not result.ok
        with transaction(runtime.sessions) as session:
            changed = note_control(session, location, result, now=runtime.clock())
        if changed:
            yield Recorded(deliveries=changed)
    with transaction(runtime.sessions) as session:
        counting = active_locations(session)
    for group in engine.stream(todo, location, agent=agent):
        observed = [Observed(result, d.slot, d.kind) for d, result in group]
        keep_attachments(runtime, (o.result for o in observed))  # files before the transaction, never inside it
        with transaction(runtime.sessions) as session:
            recorded = record_checks(
                session,
                observed,
                grace_days=grace_days,
                now=runtime.clock(),
                probes=probes,
                counting=counting,
                blind=blind,
            )
        yield recorded


def record_check(
    session: Session, result: CheckResult, *, slot: datetime, grace_days: int | None, now: datetime
) -> list[int]:
    """Store one check and fold it into detection. Returns the ids of the deliveries it created.

    A second delivery of the same (probe, location, slot) stores nothing and changes nothing.
    """
    if session.get(Probe, result.probe_id) is None:
        raise LookupError(f"no probe {result.probe_id!r}")
    return record_checks(session, [Observed(result, slot)], grace_days=grace_days, now=now).deliveries


@dataclass(frozen=True, slots=True)
class Observed:
    """A check as run: its result, and the slot (and kind) that identify it."""

    result: CheckResult
    slot: datetime
    kind: CheckKind = CheckKind.SCHEDULED


@dataclass
class Recorded:
    recorded: int = 0  # checks stored by this call; a redelivered one is not stored again
    deliveries: list[int] = field(default_factory=list)  # outbox deliveries to hand out after commit
    # (probe, location) pairs whose streak is undecided (a first failure of a probe that was up, a first
    # success of one that was down): their confirmation checks are to be sent at once, after commit.
    confirm: list[tuple[str, str]] = field(default_factory=list)


def record_checks(
    session: Session,
    observed: Sequence[Observed],
    *,
    grace_days: int | None,
    now: datetime,
    probes: Mapping[str, Probe] | None = None,
    counting: set[str] | None = None,
    blind: bool = False,
) -> Recorded:
    """Store a batch of checks and fold them into detection, in one transaction and a few statements.

    One INSERT for the batch keeps the (probe, location, slot) uniqueness: a redelivered batch, or a
    check another worker already stored, inserts nothing and folds nothing. Streaks are folded in slot
    order; each component touched is locked once, and its outage decided once at the end of the batch
    (and at once after any check that turned a probe down or up, so a batch that holds both never
    skips the outage between them).

    `blind`: the checks were run by a location whose control check failed in the same batch. They are
    stored, in its chain, as evidence of what the location saw, and folded into nothing: no streak,
    no confirmation, no outage.
    """
    done = Recorded()
    if not observed:
        return done
    if probes is None:  # else the caller read them for this batch (their ids, thresholds, intervals)
        probes = {
            p.id: p for p in session.scalars(select(Probe).where(Probe.id.in_({o.result.probe_id for o in observed})))
        }
    known = [o for o in observed if o.result.probe_id in probes]
    if len(known) < len(observed):
        gone = sorted({o.result.probe_id for o in observed} - probes.keys())
        log.info("checks of probes no longer configured are not recorded: %s", ", ".join(gone))
    if not known:
        return done
    # Every check of a component passes through its row lock, so the component's streaks and its open
    # outage are read and written by one transaction at a time, on any number of workers. A batch takes
    # its locks in one order (by id), so two batches never wait on each other in a cycle.
    component_ids = sorted({probes[o.result.probe_id].component_id for o in known})
    components = {
        c.id: c
        for c in session.scalars(
            select(Component).where(Component.id.in_(component_ids)).order_by(Component.id).with_for_update()
        )
    }
    known.sort(key=lambda o: o.slot)  # the chain runs in slot order, as the streaks are folded
    pairs = {(o.result.probe_id, o.result.location) for o in known}
    states = {
        (state.probe_id, state.location): state
        for state in session.scalars(select(ProbeState).where(ProbeState.probe_id.in_({p for p, _ in pairs})))
        if (state.probe_id, state.location) in pairs
    }
    rows = _chained([_check_row(o, blind=blind) for o in known], states)
    inserted = session.execute(
        insert_for(session, Check)
        .on_conflict_do_nothing(index_elements=["probe_id", "location", "slot"])
        .returning(Check.id, Check.probe_id, Check.location, Check.slot),
        rows,
    ).all()
    if not inserted:
        return done
    ids = {(row.probe_id, row.location, row.slot): row.id for row in inserted}
    if len(inserted) < len(rows):
        # Some were recorded already (a redelivery racing its first delivery): the chain was computed
        # through them, so link again only what this call stored. Rare; the common path writes once.
        rows = _chained([row for row in rows if _identity(row) in ids], states)
        for row in rows:
            session.execute(
                update(Check)
                .where(Check.id == ids[_identity(row)])
                .values(prev_digest=row["prev_digest"], digest=row["digest"])
            )
    digests = {ids[_identity(row)]: row["digest"] for row in rows if _identity(row) in ids}
    stored = [(o, ids[identity]) for o in known if (identity := (o.result.probe_id, o.result.location, o.slot)) in ids]
    done.recorded = len(stored)
    checks_recorded(session, (o.result for o, _ in stored))  # portalwatch_checks_total, once committed
    record_pieces(session, ((o.result, check_id) for o, check_id in stored), now=now)
    if counting is None:  # else the caller read the locations that count, once for its whole batch
        counting = active_locations(session)
    touched: dict[str, datetime] = {}  # component -> latest check time among counted checks
    deciding: set[str] = set()  # components whose outage these checks may change
    for o, check_id in stored:
        result = o.result
        probe = probes[result.probe_id]
        key = (probe.id, result.location)
        state = states.get(key)
        if state is None:
            state = ProbeState(probe_id=probe.id, location=result.location, failures=0, successes=0, down=False)
            session.add(state)
            states[key] = state
        state.last_digest = digests[check_id]
        if blind or result.error_class is ErrorClass.PROBE:
            continue  # nothing it says is about the portal: in the chain, folded into nothing
        before = streak_of(state)
        streak = advance(
            before,
            ok=result.ok,
            at=result.started_at,
            slot=o.slot,
            check_id=check_id,
            failure_threshold=probe.failure_threshold,
            recovery_threshold=probe.recovery_threshold,
            stale_after=stale_after(timedelta(seconds=probe.interval_seconds)),
            severity=severity_of(result, probe),
        )
        if streak is not before:
            for name in _STREAK_FIELDS:  # not asdict(): it deep-copies, once per check
                setattr(state, name, getattr(streak, name))
        if streak is not before and undecided(
            streak, failure_threshold=probe.failure_threshold, recovery_threshold=probe.recovery_threshold
        ):
            done.confirm.append(key)
        if not (probe.active and result.location in counting):
            continue
        component = components[probe.component_id]
        if component.id not in touched or result.started_at > touched[component.id]:
            touched[component.id] = result.started_at
        if streak.down:
            deciding.add(component.id)
        if streak.down != before.down:
            session.flush()
            done.deliveries += _note_watched(session, component, touched.pop(component.id), now=now)
            done.deliveries += apply_transition(session, component.id, grace_days=grace_days, now=now)
            deciding.discard(component.id)
    session.flush()
    for component_id, at in touched.items():
        done.deliveries += _note_watched(session, components[component_id], at, now=now)
    # The outage is decided again only where it can change: a probe turned down or up (done above,
    # at once), or a probe still down failed again (its outage's last failure moves). A group of
    # checks that left every streak up and none changed leaves the outage as it was, and reading
    # every streak of the component again for nothing was most of the cost of recording a check.
    for component_id in sorted(deciding):
        done.deliveries += apply_transition(session, component_id, grace_days=grace_days, now=now)
    return done


def severity_of(result: CheckResult, probe: Probe) -> Severity:
    """What a failed check means for its component: degraded when only slow, else the probe's impact."""
    if result.error_class is ErrorClass.SLOW:
        return Severity.DEGRADED_PERFORMANCE
    return Severity(probe.spec.get("impact", Severity.MAJOR_OUTAGE.value))


def active_locations(session: Session) -> set[str]:
    """The locations whose checks count: configured, and not blind."""
    return set(session.scalars(select(Location.id).where(Location.active, Location.sight == LocationSight.SEEING)))


def _identity(row: dict[str, Any]) -> tuple[str, str, datetime]:
    return (row["probe_id"], row["location"], row["slot"])


def _chained(rows: list[dict[str, Any]], states: Mapping[tuple[str, str], ProbeState]) -> list[dict[str, Any]]:
    """The rows, in the order given, each linked to the one before it at its probe and location.

    A chain continues from its head in `states` (the last check recorded before this batch).
    """
    heads = {key: state.last_digest for key, state in states.items()}
    for row in rows:
        key = (row["probe_id"], row["location"])
        facts = CheckFacts(
            probe_id=row["probe_id"],
            location=row["location"],
            slot=row["slot"],
            kind=row["kind"].value,
            started_at=row["started_at"],
            ok=row["ok"],
            latency_ms=row["latency_ms"],
            status_code=row["status_code"],
            error_class=row["error_class"],
            error=row["error"],
            evidence=row["evidence"],
            blind=row["blind"],
        )
        row["prev_digest"] = heads.get(key)
        row["digest"] = heads[key] = check_digest(facts, row["prev_digest"])
    return rows


def _check_row(o: Observed, *, blind: bool = False) -> dict[str, Any]:
    result = o.result
    return {
        "probe_id": result.probe_id,
        "location": result.location,
        "slot": o.slot,
        "kind": o.kind,
        "started_at": result.started_at,
        "ok": result.ok,
        "latency_ms": result.latency_ms,
        "status_code": result.status_code,
        "error_class": result.error_class.value if result.error_class else None,
        "error": result.error,
        "evidence": result.evidence,
        "blind": blind,
        "evidence_sha256": evidence_digest(result.evidence),
    }


def _note_watched(session: Session, component: Component, at: datetime, *, now: datetime) -> list[int]:
    """A check arrived: the component is watched; if it was `unknown`, say that monitoring resumed."""
    if component.last_check_at is None or at > component.last_check_at:
        component.last_check_at = at
    if component.watch_state != WatchState.UNKNOWN:
        return []
    last_seen = component.watch_state_since
    component.watch_state = WatchState.WATCHED
    component.watch_state_since = None
    session.execute(
        update(MonitoringGap)
        .where(MonitoringGap.component_id == component.id, MonitoringGap.ended_at.is_(None))
        .values(ended_at=max(at, last_seen) if last_seen else at)
    )
    subject = monitoring_subject(component.id, last_seen)
    return emit(
        session,
        EventKind.MONITORING_RESTORED,
        subject=subject,
        component_id=component.id,
        payload={"last_seen_at": last_seen.isoformat() if last_seen else None, "restored_at": at.isoformat()},
        now=now,
    )


def monitoring_subject(component_id: str, last_seen: datetime | None) -> str:
    return f"monitoring:{component_id}:{last_seen.isoformat() if last_seen else 'never'}"


def counted_streaks(session: Session, component_id: str) -> tuple[list[Located], list[Located]]:
    """Streaks that may hold a component down (active probes, at locations the configuration still
    lists), each with its location, split into those of seeing locations and those of blind ones."""
    rows = session.execute(
        select(ProbeState, Location.sight)
        .join(Probe, Probe.id == ProbeState.probe_id)
        .join(Location, Location.id == ProbeState.location)
        .where(Probe.component_id == component_id, Probe.active, Location.active)
    ).all()
    seeing = [(state.location, streak_of(state)) for state, sight in rows if sight == LocationSight.SEEING]
    blind = [(state.location, streak_of(state)) for state, sight in rows if sight == LocationSight.BLIND]
    return seeing, blind


def quorum_for(session: Session, component: Component) -> int:
    """How many locations must see the component down: its configured quorum, or a majority, of the
    active locations that can see (never more than there are)."""
    seeing = (
        session.scalar(
            select(func.count()).select_from(Location).where(Location.active, Location.sight == LocationSight.SEEING)
        )
        or 0
    )
    if component.quorum is None:
        return majority(seeing)
    return max(1, min(component.quorum, seeing))


def apply_transition(session: Session, component_id: str, *, grace_days: int | None, now: datetime) -> list[int]:
    """Open, extend or close the component's outage as its counted streaks say; returns new delivery ids."""
    # Only the probes' own outage: a declared one is ops' statement and the probes never open or close it.
    outage = session.scalar(
        select(Outage).where(
            Outage.component_id == component_id, Outage.ended_at.is_(None), Outage.source == OutageSource.OBSERVED
        )
    )
    component = session.get_one(Component, component_id)
    view = (
        None
        if outage is None
        else OpenOutageView(outage.started_at, outage.last_failed_at, outage.gap_at, outage.severity)
    )
    seeing, blind = counted_streaks(session, component_id)
    decision = component_transition(view, seeing, blind=blind, quorum=quorum_for(session, component))
    if isinstance(decision, OpenOutage):
        reopened = _reopenable(session, component, decision.started_at)
        if reopened is not None:
            return _reopen(session, reopened, decision, now=now)
        outage = Outage(
            component_id=component_id,
            severity=decision.severity,
            started_at=decision.started_at,
            last_ok_at=decision.last_ok_at,
            last_failed_at=decision.last_failed_at,
            first_check_id=decision.first_check_id,
            detected_at=now,
            grace_days=grace_days,
        )
        session.add(outage)
        session.flush()
        _history(session, outage, OutageChangeKind.OPENED, decision.severity, decision.started_at, now=now)
        return emit(
            session,
            EventKind.OUTAGE_OPENED,
            subject=outage_subject(outage.id),
            outage_id=outage.id,
            component_id=component_id,
            now=now,
        )
    if outage is None:
        return []
    if isinstance(decision, ExtendOutage):
        outage.last_failed_at = decision.last_failed_at
        if decision.gap_at is not None and outage.gap_at is None:
            outage.gap_at = decision.gap_at
            log.warning(
                "outage %s: checks of %s resumed after a gap at %s; provisional relief stays at %s",
                outage.id,
                component_id,
                decision.gap_at.isoformat(),
                outage.last_failed_at.isoformat() if outage.last_failed_at else "its start",
            )
        if decision.severity is not None:
            before = outage.severity
            outage.severity = decision.severity
            at = decision.severity_at or max(outage.last_failed_at or now, outage.started_at)
            _history(session, outage, OutageChangeKind.SEVERITY, decision.severity, at, now=now, was=before)
            return emit(
                session,
                EventKind.SEVERITY_CHANGED,
                subject=outage_subject(outage.id),
                outage_id=outage.id,
                component_id=component_id,
                payload={"from": before.value, "to": decision.severity.value, "at": at.isoformat()},
                now=now,
            )
        return []
    if isinstance(decision, CloseOutage):
        return close_outage(session, outage, decision, now=now)
    return []


def _reopenable(session: Session, component: Component, started_at: datetime) -> Outage | None:
    """The component's last observed outage, if it ended within merge_gap before `started_at`."""
    if component.merge_gap_seconds <= 0:
        return None
    last = session.scalar(
        select(Outage)
        .where(
            Outage.component_id == component.id,
            Outage.source == OutageSource.OBSERVED,
            Outage.ended_at.is_not(None),
            Outage.end_reason == EndReason.RECOVERED,
        )
        .order_by(Outage.ended_at.desc(), Outage.id.desc())
        .limit(1)
    )
    if last is None or last.ended_at is None:
        return None
    if last.ended_at > started_at or started_at - last.ended_at > timedelta(seconds=component.merge_gap_seconds):
        return None
    return last


def _reopen(session: Session, outage: Outage, decision: OpenOutage, *, now: datetime) -> list[int]:
    """Failures came back soon after the outage ended: it is the same outage, open again.

    A portal that comes back for a few minutes between failures ("in fits and spurts") is one outage
    with its history, not a dozen incidents; the minutes between count as part of it, as anyone trying
    to file in them would tell.
    """
    ended_at = outage.ended_at
    outage.ended_at = None
    outage.end_reason = None
    outage.resolved_at = None
    outage.last_failed_at = max(decision.last_failed_at, outage.last_failed_at or decision.last_failed_at)
    before = outage.severity
    outage.severity = decision.severity
    session.flush()  # the one-open-outage-per-component index sees it open again before anything else
    _history(
        session,
        outage,
        OutageChangeKind.REOPENED,
        decision.severity,
        decision.started_at,
        now=now,
        was=before,
        detail={"ended_at": ended_at.isoformat() if ended_at else None, "first_check_id": decision.first_check_id},
    )
    return emit(
        session,
        EventKind.OUTAGE_REOPENED,
        subject=outage_subject(outage.id),
        outage_id=outage.id,
        component_id=outage.component_id,
        payload={"ended_at": ended_at.isoformat() if ended_at else None, "at": decision.started_at.isoformat()},
        now=now,
    )


def _history(
    session: Session,
    outage: Outage,
    kind: OutageChangeKind,
    severity: Severity,
    at: datetime,
    *,
    now: datetime,
    was: Severity | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    if was is not None and was != severity:
        detail = {**(detail or {}), "from": was.value}
    session.add(OutageChange(outage_id=outage.id, kind=kind, severity=severity, at=at, recorded_at=now, detail=detail))


def close_outage(session: Session, outage: Outage, decision: CloseOutage, *, now: datetime) -> list[int]:
    outage.ended_at = decision.ended_at
    outage.end_reason = decision.reason
    outage.resolved_at = now
    session.flush()
    if outage.source == OutageSource.OBSERVED:
        _history(session, outage, OutageChangeKind.ENDED, outage.severity, decision.ended_at, now=now)
    return emit(
        session,
        EventKind.OUTAGE_RESOLVED,
        subject=outage_subject(outage.id),
        outage_id=outage.id,
        component_id=outage.component_id,
        payload={"reason": decision.reason.value},
        now=now,
    )
