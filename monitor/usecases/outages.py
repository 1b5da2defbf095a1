"""Outages ops record or correct by hand: declared outages the probes did not see, and corrections of bounds.

A declared outage is ops' statement (the portal's operator reported it, say): it is marked `declared`
with the reason given, and relief treats it like any other. A correction changes an outage's
`started_at`, `ended_at` or `severity` and is kept as an `OutageCorrection` with what was, what became
and why; relief is told in the same transaction and never moves an effective deadline earlier for it.

An open observed outage's bounds are the probes' to record: only its severity can be corrected until
it has ended. Every check here raises `InvalidInput` naming the field, so callers can say which one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.config.model import parse_instant
from monitor.outbox.store import emit
from monitor.storage.enums import EventKind, OutageSource, Severity
from monitor.storage.models import Component, Outage, OutageCorrection
from monitor.timefmt import iso
from monitor.usecases.checks import outage_subject

MAX_REASON = 2000
MAX_ID = 2**63 - 1  # the largest id a BIGINT column holds: a larger one names nothing
CORRECTABLE = ("started_at", "ended_at", "severity")
SEVERITIES = ", ".join(severity.value for severity in Severity)


R = TypeVar("R")  # a row of a table keyed by outage


class InvalidInput(ValueError):
    """Input that cannot be used, naming the field at fault and why."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class NotFound(LookupError):
    pass


class Conflict(Exception):
    """A valid request the current state does not allow (an open observed outage's bounds, say)."""

    def __init__(self, field: str | None, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(message)


# --- reading input --------------------------------------------------------------------------------


def instant(value: object, field: str) -> datetime:
    """An aware UTC datetime from a datetime or ISO 8601 text with its offset; InvalidInput otherwise."""
    if isinstance(value, datetime) and (value.tzinfo is None or value.utcoffset() is None):
        raise InvalidInput(field, f"{value.isoformat()} has no UTC offset; give one, such as -05:00 or Z")
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise InvalidInput(field, str(exc)) from None


def severity_of(value: object, field: str = "severity") -> Severity:
    if isinstance(value, Severity):
        return value
    if isinstance(value, str):
        try:
            return Severity(value)
        except ValueError:
            pass
    raise InvalidInput(field, f"unknown severity {str(value)[:60]!r}; expected one of {SEVERITIES}")


def reason_of(value: object, field: str = "reason") -> str:
    if not isinstance(value, str):
        raise InvalidInput(field, "is required: say why, as text")
    reason = value.strip()
    if not reason:
        raise InvalidInput(field, "must not be empty: say why")
    if len(reason) > MAX_REASON:
        raise InvalidInput(field, f"is longer than {MAX_REASON} characters")
    return reason


def active_component(session: Session, value: object, field: str = "component") -> Component:
    if not isinstance(value, str) or not value:
        raise InvalidInput(field, "expected a component id, as text")
    component = session.get(Component, value) if len(value) <= 64 else None
    if component is None:
        known = ", ".join(session.scalars(select(Component.id).where(Component.active).order_by(Component.position)))
        raise InvalidInput(field, f"unknown component {value[:80]!r}; known components: {known}")
    if not component.active:
        raise InvalidInput(field, f"component {value!r} is no longer in the configuration")
    return component


def _check_start(started_at: datetime, *, now: datetime, field: str = "started_at") -> None:
    if started_at > now:
        raise InvalidInput(field, f"{started_at.isoformat()} is in the future (it is now {now.isoformat()})")


def _check_end(started_at: datetime, ended_at: datetime | None, *, now: datetime, field: str = "ended_at") -> None:
    if ended_at is None:
        return
    if ended_at <= started_at:
        if field == "ended_at":
            raise InvalidInput(field, f"must be after started_at ({started_at.isoformat()})")
        raise InvalidInput(field, f"must be before ended_at ({ended_at.isoformat()})")
    if ended_at > now:
        raise InvalidInput(
            "ended_at",
            f"{ended_at.isoformat()} is in the future (it is now {now.isoformat()}); leave ended_at null while "
            "the outage goes on and correct it once it has ended",
        )


# --- declaring -------------------------------------------------------------------------------------


def declare_outage(
    session: Session,
    *,
    component_id: object,
    started_at: object,
    ended_at: object,
    severity: object,
    reason: object,
    now: datetime,
    grace_days: int | None = None,
) -> Outage:
    """Record an outage ops report and the probes did not see; relief and Slack hear of it in this transaction.

    Timestamps may be datetimes or ISO 8601 text; either way they must carry their UTC offset.
    `grace_days` is the legacy calendar-day grace in force, kept with the outage as the probes' are.
    """
    component = active_component(session, component_id)
    start = instant(started_at, "started_at")
    end = None if ended_at is None else instant(ended_at, "ended_at")
    chosen = severity_of(severity)
    why = reason_of(reason)
    _check_start(start, now=now)
    _check_end(start, end, now=now)
    outage = Outage(
        component_id=component.id,
        source=OutageSource.DECLARED,
        reason=why,
        severity=chosen,
        started_at=start,
        ended_at=end,
        detected_at=now,
        resolved_at=now if end is not None else None,
        grace_days=grace_days,
    )
    session.add(outage)
    session.flush()
    emit(
        session,
        EventKind.OUTAGE_DECLARED,
        subject=outage_subject(outage.id),
        outage_id=outage.id,
        component_id=component.id,
        payload=_bounds(outage),
        now=now,
    )
    return outage


# --- correcting ------------------------------------------------------------------------------------


def get_outage(session: Session, outage_id: int, *, for_update: bool = False) -> Outage:
    outage = session.get(Outage, outage_id, with_for_update=for_update) if 0 < outage_id <= MAX_ID else None
    if outage is None:
        raise NotFound(f"no outage {outage_id}")
    return outage


def correct_outage(
    session: Session, outage_id: int, *, changes: Mapping[str, object], reason: object, now: datetime
) -> Outage:
    """Correct an outage's `started_at`, `ended_at` or `severity`, keeping the correction and telling relief.

    A declared outage can be corrected in any of them (`ended_at: None` says it is still going on).
    An observed one: its severity, and its bounds once it has ended; an open observed outage's end is
    the probes' to record (Conflict). A correction that changes nothing records nothing.
    """
    outage = get_outage(session, outage_id, for_update=True)
    for name in changes:
        if name not in CORRECTABLE:
            raise InvalidInput(name, "cannot be corrected; only started_at, ended_at and severity can")
    if not changes:
        raise InvalidInput("changes", "nothing to correct: give started_at, ended_at or severity")
    why = reason_of(reason)
    start = instant(changes["started_at"], "started_at") if "started_at" in changes else outage.started_at
    end = outage.ended_at
    if "ended_at" in changes:
        end = None if changes["ended_at"] is None else instant(changes["ended_at"], "ended_at")
    chosen = severity_of(changes["severity"]) if "severity" in changes else outage.severity

    if outage.source == OutageSource.OBSERVED:
        touched = [name for name in ("started_at", "ended_at") if name in changes]
        if touched and outage.ended_at is None:
            raise Conflict(
                touched[0],
                f"outage {outage.id} is still open: its bounds are the probes' to record until it has ended; "
                "only its severity can be corrected now",
            )
        if "ended_at" in changes and end is None:
            raise Conflict("ended_at", f"outage {outage.id} was observed by the probes; only they can reopen it")
    if "started_at" in changes:
        _check_start(start, now=now)
    _check_end(start, end, now=now, field="ended_at" if "ended_at" in changes else "started_at")

    before = _bounds(outage)
    was_open = outage.ended_at is None
    if "started_at" in changes and start != outage.started_at and outage.last_ok_at is not None:
        # Relief counts an observed outage from its last good check; a corrected start replaces that bound,
        # so it is kept (and shown) with what was before.
        before["last_ok_at"] = iso(outage.last_ok_at)
        outage.last_ok_at = None
    outage.started_at, outage.ended_at, outage.severity = start, end, chosen
    after = _bounds(outage)
    if after == {key: value for key, value in before.items() if key != "last_ok_at"}:
        return outage  # a repeated request: already so
    if end is None:
        outage.resolved_at = None
        outage.end_reason = None
    elif was_open:
        outage.resolved_at = now
    correction = OutageCorrection(outage_id=outage.id, before=before, after=after, reason=why, corrected_at=now)
    session.add(correction)
    session.flush()
    subject = outage_subject(outage.id)
    payload = {"correction_id": correction.id, "before": before, "after": after}
    emit(
        session,
        EventKind.OUTAGE_CORRECTED,
        subject=subject,
        outage_id=outage.id,
        component_id=outage.component_id,
        payload=payload,
        now=now,
    )
    if was_open and end is not None:
        # A declared outage has ended: the same event the probes write for theirs, so its Slack message says so.
        emit(
            session,
            EventKind.OUTAGE_RESOLVED,
            subject=subject,
            outage_id=outage.id,
            component_id=outage.component_id,
            payload={"reason": None, "source": outage.source.value},
            now=now,
        )
    return outage


def mark_false_positive(
    session: Session, outage_id: int, *, reason: object, now: datetime
) -> tuple[Outage, OutageCorrection | None]:
    """Mark an ended outage a false positive: a correction like any other, kept with what was and why.

    Relief hears of it as of any correction and decides again without the outage; it never moves an
    effective deadline earlier (never worse off), so relief already given stays and is recorded `held`
    where the rules would now give less. The status page stops showing it. An open outage cannot be
    marked (Conflict): a declared one is ended first, an observed one is the probes' to end. Marking one
    already marked records nothing (the correction is None).
    """
    outage = get_outage(session, outage_id, for_update=True)
    why = reason_of(reason)
    if outage.false_positive_at is not None:
        return outage, None
    if outage.ended_at is None:
        how = (
            "correct its ended_at first"
            if outage.source == OutageSource.DECLARED
            else "the probes have not ended it yet; only an ended outage can be marked"
        )
        raise Conflict("outage", f"outage {outage.id} is still open: {how}")
    before = {**_bounds(outage), "false_positive": False}
    outage.false_positive_at = now
    after = {**_bounds(outage), "false_positive": True}
    correction = OutageCorrection(outage_id=outage.id, before=before, after=after, reason=why, corrected_at=now)
    session.add(correction)
    session.flush()
    emit(
        session,
        EventKind.OUTAGE_CORRECTED,
        subject=outage_subject(outage.id),
        outage_id=outage.id,
        component_id=outage.component_id,
        payload={"correction_id": correction.id, "before": before, "after": after},
        now=now,
    )
    return outage, correction


def by_outage(session: Session, model: type[R], outage_ids: Iterable[int], *order: Any) -> dict[int, list[R]]:
    """The rows of `model` (a table with an `outage_id`) of each of these outages, in `order`; every outage
    asked for has its list, empty when it has none. One query, however many outages."""
    ids = list(outage_ids)
    found: dict[int, list[R]] = {outage_id: [] for outage_id in ids}
    if not ids:
        return found
    column = model.outage_id  # type: ignore[attr-defined]
    for row in session.scalars(select(model).where(column.in_(ids)).order_by(*order)):
        found[row.outage_id].append(row)  # type: ignore[attr-defined]
    return found


def corrections_of(session: Session, outage_ids: Iterable[int]) -> dict[int, list[OutageCorrection]]:
    """Each outage's corrections, oldest first."""
    return by_outage(session, OutageCorrection, outage_ids, OutageCorrection.id)


def correction_json(correction: OutageCorrection) -> dict[str, Any]:
    return {
        "id": correction.id,
        "before": correction.before,
        "after": correction.after,
        "reason": correction.reason,
        "corrected_at": iso(correction.corrected_at),
    }


def _bounds(outage: Outage) -> dict[str, Any]:
    return {
        "started_at": iso(outage.started_at),
        "ended_at": iso(outage.ended_at),
        "severity": outage.severity.value,
    }
