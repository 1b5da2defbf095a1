"""What applicants, employers and representatives can do for themselves: look up a case, ask for a letter.

Case lookup answers only to the case id with its access code, and answers an unknown case exactly as
it answers a wrong code: the same result, after the same slow-hash work (see exemptions.cases.access),
so the endpoint cannot be used to learn which case ids exist.

A paper-filing request is judged on the record alone, in this order:
1. a paper-filing authorisation (relief rule 7) of the component covers the attempt → the exemption
   letter, issued on the spot, for the authorisation's period;
2. a counted outage covering the attempt has lasted long enough to authorise paper filing, though
   relief has not run on it yet → the exemption letter for the period that outage earns;
3. an outage covered the attempt but too briefly (or not counted: degraded only, announced
   maintenance) → an outage attestation letter, with the reason paper filing is not authorised;
4. nothing recorded → the component's recorded availability from an hour before to an hour after.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case as sql_case
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from exemptions.cases.access import verify_code
from exemptions.policy.model import Rule
from exemptions.policy.paper import paper_periods
from exemptions.policy.rules import counted_spans
from exemptions.policy.words import rule_words
from exemptions.relief.downtime import counted_bounds, ids_of, load_record
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import Language, LetterKind, LetterState
from monitor.storage.models import Case, Check, Component, Letter, LetterRequest, Outage, PaperAuthorisation, Probe
from monitor.timefmt import iso
from monitor.usecases.case_relief import case_relief
from monitor.usecases.letters import case_letters, case_letters_pending, issue_one, letter_link
from monitor.usecases.outages import InvalidInput
from monitor.usecases.relief import policy_of

MAX_CASE_ID = 64
MAX_ACCESS_CODE = 200
MAX_ORGANISATION = 200
MAX_EMAIL = 320
# Enough to catch typing mistakes; deliverability is the mail server's to judge.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
AVAILABILITY_REACH = timedelta(hours=1)


# --- applicants: case lookup -----------------------------------------------------------------------


def lookup_case(runtime: Runtime, session: Session, case_id: object, access_code: object) -> dict[str, Any] | None:
    """The case's relief as its holder may see it, or None for an unknown case or a wrong code alike."""
    case_key = case_id if isinstance(case_id, str) and 0 < len(case_id) <= MAX_CASE_ID else None
    code = access_code if isinstance(access_code, str) and len(access_code) <= MAX_ACCESS_CODE else ""
    found = session.get(Case, case_key) if case_key is not None else None
    # The slow hash runs whether or not the case exists: the same work, so the same time, either way.
    if not verify_code(code, found.access_hash if found is not None else None) or found is None:
        return None
    relief = case_relief(session, found)
    decision = relief["decision"]
    page = runtime.config.page
    rules = []
    for rule in decision["rules"] if decision else []:
        english, french = rule_words(rule)
        rules.append({"rule": rule, "en": english, "fr": french})
    return {
        "case_id": found.case_id,
        "time_zone": found.time_zone,
        "original_deadline": iso(found.deadline, found.time_zone),
        "effective_deadline": relief["effective_deadline"],
        "extended": relief["effective_deadline"] != iso(found.deadline, found.time_zone),
        "extendable": found.extendable,
        "decision": None
        if decision is None
        else {
            "status": decision["status"],
            "rules": rules,
            "explanation": decision["explanation"],
            "outage_ids": decision["outage_ids"],
        },
        "paper_filing": relief["paper_filing"],
        "letters": case_letters(session, found.case_id, page),
        "letters_pending": case_letters_pending(session, found.case_id),
    }


# --- employers and representatives: paper-filing requests -------------------------------------------


@dataclass(frozen=True)
class PaperRequest:
    component: Component
    attempted_at: datetime
    organisation: str
    email: str
    language: Language


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


def read_request(session: Session, payload: object, *, now: datetime) -> PaperRequest:
    """The request's fields, checked; InvalidInput names the first field at fault."""
    if not isinstance(payload, dict):
        raise InvalidInput("body", "expected a JSON object with component, attempted_at, organisation, email, language")
    component_id = payload.get("component")
    if not isinstance(component_id, str) or not component_id.strip():
        raise InvalidInput("component", "give the id of the component you tried to use")
    component = session.get(Component, component_id.strip())
    if component is None or not component.active:
        raise InvalidInput("component", f"no component {component_id.strip()[:64]!r} is watched here")
    raw_time = payload.get("attempted_at")
    if not isinstance(raw_time, str) or not raw_time.strip():
        raise InvalidInput("attempted_at", "give the time of the attempt in ISO 8601 with its offset")
    try:
        attempted_at = datetime.fromisoformat(raw_time.strip())
    except ValueError:
        raise InvalidInput("attempted_at", "not an ISO 8601 time; write it like 2026-11-20T10:30:00-05:00") from None
    if attempted_at.tzinfo is None or attempted_at.utcoffset() is None:
        raise InvalidInput("attempted_at", "give the offset from UTC too, e.g. 2026-11-20T10:30:00-05:00")
    if attempted_at > now:
        raise InvalidInput("attempted_at", "is in the future: the record can only speak for times that have passed")
    organisation = payload.get("organisation")
    if not isinstance(organisation, str) or not organisation.strip() or len(organisation) > MAX_ORGANISATION:
        raise InvalidInput("organisation", f"give the organisation's name (at most {MAX_ORGANISATION} characters)")
    email = payload.get("email")
    if not isinstance(email, str) or len(email) > MAX_EMAIL or not _EMAIL.match(email.strip()):
        raise InvalidInput("email", "give an email address like name@example.ca")
    language = payload.get("language", "en")
    if language not in ("en", "fr"):
        raise InvalidInput("language", "must be en or fr")
    return PaperRequest(component, attempted_at, organisation.strip(), email.strip(), Language(language))


def request_paper_filing(runtime: Runtime, payload: object) -> Answer:
    """Judge a request on the record (see the module docstring); raises InvalidInput for a bad request."""
    now = runtime.clock()
    policy = policy_of(runtime.config)
    page_zone = runtime.config.page.time_zone
    with transaction(runtime.sessions) as session:
        request = read_request(session, payload, now=now)
        component_id, at = request.component.id, request.attempted_at
        letter_fields: dict[str, Any] | None = None
        reason_en = reason_fr = None

        authorisation = session.scalars(
            select(PaperAuthorisation)
            .where(
                PaperAuthorisation.component_id == component_id,
                PaperAuthorisation.starts_at <= at,
                or_(PaperAuthorisation.ends_at.is_(None), PaperAuthorisation.ends_at >= at),
            )
            .order_by(PaperAuthorisation.starts_at)
            .limit(1)
        ).first()
        if authorisation is not None and Rule.PAPER_FILING in policy.rules:
            letter_fields = {
                "kind": LetterKind.PAPER_FILING,
                "outage_ids": list(authorisation.outage_ids),
                "paper_from": authorisation.starts_at,
                "paper_until": authorisation.ends_at,
                "rules": [Rule.PAPER_FILING.value],
            }
        else:
            reach = timedelta(days=policy.lookback_days)
            record = load_record(session, since=at - reach, until=max(now, at + reach), now=now)
            spans = [
                span
                for span in counted_spans(record.downtimes, record.maintenance, policy)
                if span.component_id == component_id
            ]
            covering = [span for span in spans if span.start <= at <= span.end]
            periods = [
                period
                for period in paper_periods(spans, policy, page_zone)
                if period.start <= at and (period.until is None or at <= period.until)
            ]
            if covering and periods and Rule.PAPER_FILING in policy.rules:
                period = periods[0]
                letter_fields = {
                    "kind": LetterKind.PAPER_FILING,
                    "outage_ids": ids_of(period.refs, "outage"),
                    "paper_from": period.start,
                    "paper_until": period.until,
                    "rules": [Rule.PAPER_FILING.value],
                }
            elif covering:
                span = covering[0]
                minutes = int((span.end - span.start).total_seconds() // 60)
                reason_en = (
                    f"The portal's record shows an outage of {minutes} minutes covering that time; paper filing is"
                    f" authorised only after {policy.paper_after_hours:g} hours of outage."
                )
                reason_fr = (
                    f"Le registre du portail indique une panne de {minutes} minutes à ce moment; le dépôt sur papier"
                    f" n'est autorisé qu'après {policy.paper_after_hours:g} heures de panne."
                )
                letter_fields = {
                    "kind": LetterKind.ATTESTATION,
                    "outage_ids": ids_of(span.refs, "outage"),
                    "window_start": span.start,
                    "window_end": None if span.open else span.end,
                    "rules": [],
                }
            else:
                outage = _outage_at(session, component_id, at, now=now)
                if outage is not None:
                    start, end, still_open = counted_bounds(outage, now=now)
                    reason_en = (
                        "The portal's record shows an outage covering that time that does not count for relief"
                        " (degraded service only, or announced maintenance); paper filing is not authorised."
                    )
                    reason_fr = (
                        "Le registre du portail indique à ce moment une panne qui ne compte pas pour un allègement"
                        " (service dégradé seulement, ou maintenance annoncée); le dépôt sur papier n'est pas autorisé."
                    )
                    letter_fields = {
                        "kind": LetterKind.ATTESTATION,
                        "outage_ids": [outage.id],
                        "window_start": start,
                        "window_end": None if still_open else end,
                        "rules": [],
                    }

        stored = LetterRequest(
            component_id=component_id,
            attempted_at=at,
            organisation=request.organisation,
            email=request.email,
            language=request.language,
            outcome=None if letter_fields is None else letter_fields["kind"],
            created_at=now,
        )
        session.add(stored)
        session.flush()
        request_id = stored.id
        if letter_fields is None:
            return Answer(
                200,
                {
                    "request_id": request_id,
                    "covered": False,
                    "component": component_id,
                    "attempted_at": iso(at, page_zone),
                    "letter": None,
                    "reason": "Nothing was recorded for this component at that time: no outage, no authorisation.",
                    "reason_fr": "Rien n'a été enregistré pour ce composant à ce moment : ni panne, ni autorisation.",
                    "availability": availability(session, component_id, at),
                },
            )
        facts: dict[str, Any] = {"organisation": request.organisation}
        if reason_en:
            facts.update(note_en=reason_en, note_fr=reason_fr)
        letter = Letter(
            kind=letter_fields["kind"],
            state=LetterState.PENDING,
            case_id=None,
            request_id=request_id,
            basis=f"request:{request_id}",
            component_id=component_id,
            outage_ids=letter_fields["outage_ids"],
            paper_from=letter_fields.get("paper_from"),
            paper_until=letter_fields.get("paper_until"),
            window_start=letter_fields.get("window_start"),
            window_end=letter_fields.get("window_end"),
            rules=letter_fields["rules"],
            time_zone=page_zone,
            language=request.language,
            facts=facts,
            attempts=0,
            created_at=now,
        )
        session.add(letter)
        session.flush()
        letter_id = letter.id
    # Signed outside the transaction that recorded the request: the request is kept whatever happens next.
    issued = issue_one(runtime, letter_id)
    covered = letter_fields["kind"] is LetterKind.PAPER_FILING
    body: dict[str, Any] = {
        "request_id": request_id,
        "covered": covered,
        "component": component_id,
        "attempted_at": iso(at, page_zone),
        "letter": None if issued is None else letter_link(issued, runtime.config.page),
    }
    if covered:
        body["paper_filing"] = {
            "from": iso(letter_fields.get("paper_from"), page_zone),
            "until": iso(letter_fields.get("paper_until"), page_zone),
        }
    else:
        body["reason"], body["reason_fr"] = reason_en, reason_fr
    return Answer(201 if covered else 200, body)


def _outage_at(session: Session, component_id: str, at: datetime, *, now: datetime) -> Outage | None:
    for outage in session.scalars(
        select(Outage)
        .where(
            Outage.component_id == component_id,
            Outage.false_positive_at.is_(None),
            Outage.started_at <= at + timedelta(minutes=1),
            or_(Outage.ended_at.is_(None), Outage.ended_at >= at - timedelta(days=1)),
        )
        .order_by(Outage.id)
    ):
        start, end, _ = counted_bounds(outage, now=now)
        if start <= at <= end:
            return outage
    return None


def availability(session: Session, component_id: str, at: datetime) -> dict[str, Any]:
    """The checks of a component from an hour before `at` to an hour after, per location."""
    start, end = at - AVAILABILITY_REACH, at + AVAILABILITY_REACH
    rows = session.execute(
        select(
            Check.location,
            func.count(),
            func.sum(sql_case((Check.ok.is_(True), 1), else_=0)),
            func.min(Check.started_at),
            func.max(Check.started_at),
        )
        .join(Probe, Probe.id == Check.probe_id)
        .where(Probe.component_id == component_id, Check.started_at >= start, Check.started_at <= end)
        .group_by(Check.location)
        .order_by(Check.location)
    ).all()
    locations = [
        {
            "location": location,
            "checks": int(count),
            "ok": int(ok or 0),
            "failed": int(count) - int(ok or 0),
            "first_check_at": iso(first),
            "last_check_at": iso(last),
        }
        for location, count, ok, first, last in rows
    ]
    return {
        "from": iso(start),
        "until": iso(end),
        "checks": sum(row["checks"] for row in locations),
        "ok": sum(row["ok"] for row in locations),
        "failed": sum(row["failed"] for row in locations),
        "locations": locations,
    }
