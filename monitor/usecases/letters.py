"""Issuing, finding and verifying letters.

Issuing: relief writes a pending letter row in the transaction of the decision it rests on (see
exemptions.relief.letters). A signing job then claims a batch of pending rows with a conditional
UPDATE, reads what the letters say, and commits; makes and signs the PDFs with no transaction open;
and stores them in one short transaction that also marks older letters of the same holder and
purpose superseded and queues the holder's notices. A job that dies after claiming leaves its claim
to go stale, and another job issues those letters: the final UPDATE only takes a row still pending
and still claimed by the same job, so a letter is never issued twice.

Verification answers from the stored row (fast, no personal data beyond what the letter carries);
a file brought to `POST /api/v1/verify` is checked byte for byte against the issued copy and its
signature is validated.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, String, and_, case, func, literal, select, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from exemptions.letters import LetterContent, RuleLine, Window, display, new_code, normalise, render_pdf
from exemptions.letters.content import TITLES
from exemptions.policy.words import rule_words
from exemptions.relief.downtime import counted_bounds
from monitor.config import PageConfig
from monitor.outbox.claims import unheld
from monitor.runtime import Runtime
from monitor.storage.dialect import insert_for
from monitor.storage.engine import transaction
from monitor.storage.enums import LetterKind, LetterState, NoticeChannel, NoticeState
from monitor.storage.models import Case, Check, Component, Letter, Notice, Outage, Probe
from monitor.timefmt import iso

log = logging.getLogger(__name__)

STALE_CLAIM = timedelta(minutes=5)  # a signing job takes well under a second per letter; this one died
MAX_PDF_BYTES = 5 * 1024 * 1024  # a letter is tens of kilobytes; a larger upload is not one of ours

KIND_TITLES = TITLES  # what each kind is called, in English and French, as the letters print it


# --- where letters are found -----------------------------------------------------------------------


def page_base(page: PageConfig) -> str:
    return page.url.rstrip("/")


def verify_url(page: PageConfig, code: str) -> str:
    return f"{page_base(page)}/verify/{code}"


def pdf_url(page: PageConfig, code: str) -> str:
    return f"{page_base(page)}/letters/{code}.pdf"


# --- what the record says about outages ------------------------------------------------------------


@dataclass(frozen=True)
class OutageFacts:
    """What a letter cites of the outage record: windows, who saw them, and a digest of the record."""

    component_id: str | None
    component_name: str
    windows: tuple[Window, ...]
    locations: tuple[str, ...]
    checks_total: int
    checks_failed: int
    digest: str


def outage_facts(session: Session, outage_ids: Sequence[int], *, now: datetime) -> OutageFacts:
    """The record of these outages: their counted windows, the checks in them, and one SHA-256 over it all.

    The digest covers each outage's stored bounds and its first failed check's evidence, in a canonical
    JSON form, so anyone holding an export of the record can recompute it.
    """
    outages = session.scalars(select(Outage).where(Outage.id.in_(list(outage_ids))).order_by(Outage.id)).all()
    if not outages:
        return OutageFacts(None, "", (), (), 0, 0, hashlib.sha256(b"[]").hexdigest())
    component_id = outages[0].component_id
    component = session.get(Component, component_id)
    windows: list[Window] = []
    record: list[dict[str, Any]] = []
    locations: set[str] = set()
    total = failed = 0
    for outage in outages:
        start, end, still_open = counted_bounds(outage, now=now)
        windows.append(Window(start, None if still_open else end))
        first = session.get(Check, outage.first_check_id) if outage.first_check_id else None
        record.append(
            {
                "id": outage.id,
                "component": outage.component_id,
                "source": outage.source.value,
                "severity": outage.severity.value,
                "started_at": iso(outage.started_at),
                "last_ok_at": iso(outage.last_ok_at),
                "ended_at": iso(outage.ended_at),
                "first_check": None
                if first is None
                else {
                    "id": first.id,
                    "location": first.location,
                    "started_at": iso(first.started_at),
                    "status_code": first.status_code,
                    "error_class": None if first.error_class is None else first.error_class.value,
                    "evidence_sha256": hashlib.sha256(first.evidence.encode()).hexdigest(),
                },
            }
        )
        rows = session.execute(
            select(Check.location, func.count(), func.sum(case((Check.ok.is_(False), 1), else_=0)))
            .join(Probe, Probe.id == Check.probe_id)
            .where(Probe.component_id == outage.component_id, Check.started_at >= start, Check.started_at <= end)
            .group_by(Check.location)
        ).all()
        for location, count, failures in rows:
            total += int(count)
            failed += int(failures or 0)
            if failures:
                locations.add(str(location))
    digest = hashlib.sha256(json.dumps(record, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return OutageFacts(
        component_id=component_id,
        component_name=component.name if component is not None else component_id,
        windows=tuple(windows),
        locations=tuple(sorted(locations)),
        checks_total=total,
        checks_failed=failed,
        digest=digest,
    )


# --- issuing ---------------------------------------------------------------------------------------


@dataclass
class _Batch:
    token: str
    contents: list[tuple[int, LetterContent, dict[str, Any]]] = field(default_factory=list)


def _claimable(now: datetime) -> Any:
    return and_(
        Letter.state == LetterState.PENDING,
        unheld(Letter.claimed_at, now, STALE_CLAIM),
    )


def _claim(session: Session, *, token: str, now: datetime, limit: int) -> list[int]:
    candidates = select(Letter.id).where(_claimable(now)).order_by(Letter.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)  # parallel jobs take different batches
    ids = list(session.scalars(candidates))
    if not ids:
        return []
    session.execute(
        update(Letter)
        .where(Letter.id.in_(ids), _claimable(now))
        .values(claimed_at=now, claim_token=token, attempts=Letter.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return list(session.scalars(select(Letter.id).where(Letter.id.in_(ids), Letter.claim_token == token)))


def letter_content(
    letter: Letter, facts: OutageFacts, page: PageConfig, *, code: str, issued_at: datetime, holder: str | None
) -> LetterContent:
    """What one letter says, from its row and the outage record it cites."""
    window = None
    if facts.windows:
        ends = [w.end for w in facts.windows]
        window = Window(min(w.start for w in facts.windows), None if None in ends else max(e for e in ends if e))
    rules = tuple(RuleLine(*rule_words(rule)) for rule in letter.rules)
    notes = letter.facts or {}
    return LetterContent(
        kind=letter.kind,
        code=code,
        reference=_reference(letter),
        issued_at=issued_at,
        time_zone=letter.time_zone,
        issuer_name=page.name,
        issuer_url=page.url,
        verify_url=verify_url(page, code),
        holder=holder,
        component_id=facts.component_id or (letter.component_id or ""),
        component_name=facts.component_name or (letter.component_id or ""),
        outages=facts.windows,
        evidence_digest=facts.digest,
        original_deadline=letter.original_deadline,
        new_deadline=letter.new_deadline,
        rules=rules,
        paper_period=None if letter.paper_from is None else Window(letter.paper_from, letter.paper_until),
        observed_by=facts.locations,
        checks_total=facts.checks_total,
        checks_failed=facts.checks_failed,
        attested_period=(Window(letter.window_start, letter.window_end) if letter.window_start is not None else window),
        note_en=notes.get("note_en"),
        note_fr=notes.get("note_fr"),
    )


def _reference(letter: Letter) -> str:
    prefix = {LetterKind.EXTENSION: "EXT", LetterKind.PAPER_FILING: "PAP", LetterKind.ATTESTATION: "ATT"}[letter.kind]
    return f"PW-{prefix}-{letter.id:08d}"


def _holder(letter: Letter, organisation: str | None) -> str | None:
    return letter.case_id if letter.case_id is not None else organisation


def issue_letters(runtime: Runtime, *, limit: int | None = None) -> int:
    """Issue one batch of pending letters (claimed, signed, stored); returns how many were issued."""
    now = runtime.clock()
    batch = _Batch(token=secrets.token_hex(16))
    failures: list[tuple[int, str]] = []
    size = limit or runtime.config.self_service.letters_per_job
    with transaction(runtime.sessions) as session:
        ids = _claim(session, token=batch.token, now=now, limit=size)
        if not ids:
            return 0
        cache: dict[tuple[int, ...], OutageFacts] = {}
        for letter in session.scalars(select(Letter).where(Letter.id.in_(ids)).order_by(Letter.id)):
            key = tuple(sorted(letter.outage_ids))
            if key not in cache:
                cache[key] = outage_facts(session, key, now=now)
            organisation = letter.facts.get("organisation") if letter.facts else None
            try:
                content = letter_content(
                    letter,
                    cache[key],
                    runtime.config.page,
                    code=new_code(),
                    issued_at=now,
                    holder=_holder(letter, organisation),
                )
            except ValueError as exc:  # a row the letter cannot be written from: reported, the rest go on
                log.error("letter %s cannot be written: %s", letter.id, exc)
                failures.append((letter.id, f"{type(exc).__name__}: {exc}"))
                continue
            batch.contents.append(
                (letter.id, content, {"digest": cache[key].digest, "component": cache[key].component_id})
            )
    signer = runtime.signer()
    issued: list[tuple[int, LetterContent, bytes, dict[str, Any]]] = []
    for letter_id, content, extra in batch.contents:
        try:
            pdf = signer.sign(render_pdf(content), reason=_signing_reason(content))
        except Exception as exc:  # one letter that cannot be made must not hold back the rest of the batch
            log.exception("letter %s could not be made", letter_id)
            failures.append((letter_id, f"{type(exc).__name__}: {exc}"))
            continue
        issued.append((letter_id, content, pdf, extra))
    with transaction(runtime.sessions) as session:
        stored = [
            letter_id
            for letter_id, content, pdf, extra in issued
            if _store(session, letter_id, content, pdf, extra, token=batch.token, now=runtime.clock())
        ]
        for letter_id, error in failures:
            session.execute(
                update(Letter)
                .where(Letter.id == letter_id, Letter.claim_token == batch.token)
                .values(last_error=error[:2000])
                .execution_options(synchronize_session=False)
            )
        if stored:
            queue_notices(session, stored, now=runtime.clock())
    return len(stored)


def _signing_reason(content: LetterContent) -> str:
    en, fr = KIND_TITLES[content.kind]
    return f"{en} / {fr} {display(content.code)}"


def _store(
    session: Session,
    letter_id: int,
    content: LetterContent,
    pdf: bytes,
    extra: dict[str, Any],
    *,
    token: str,
    now: datetime,
) -> bool:
    result = session.execute(
        update(Letter)
        .where(Letter.id == letter_id, Letter.claim_token == token, Letter.state == LetterState.PENDING)
        .values(
            state=LetterState.ISSUED,
            code=content.code,
            pdf=pdf,
            pdf_sha256=hashlib.sha256(pdf).hexdigest(),
            issued_at=content.issued_at,
            evidence_digest=extra["digest"],
            component_id=func.coalesce(Letter.component_id, extra["component"]),
            window_start=func.coalesce(Letter.window_start, content.outages[0].start if content.outages else None),
            window_end=func.coalesce(Letter.window_end, _last_end(content.outages)),
            claimed_at=None,
            claim_token=None,
            last_error=None,
        )
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], result).rowcount != 1:
        return False  # another job issued it after this one's claim went stale
    letter = session.get_one(Letter, letter_id)
    supersede(session, letter, now=now)
    return True


def _last_end(windows: Sequence[Window]) -> datetime | None:
    if not windows or any(w.end is None for w in windows):
        return None
    return max(w.end for w in windows if w.end is not None)


def _same_purpose(letter: Letter) -> list[Any]:
    """Letters the given one may replace: the same holder's, of the same kind, for the same purpose."""
    conditions = [Letter.kind == letter.kind, Letter.case_id == letter.case_id, Letter.state == LetterState.ISSUED]
    if letter.kind is LetterKind.PAPER_FILING:
        # Each authorisation is its own notice: only a longer period of the same one replaces a letter.
        prefix = letter.basis.rsplit(":", 1)[0] + ":"
        conditions.append(Letter.basis.startswith(prefix, autoescape=True))
    return conditions


def supersede(session: Session, letter: Letter, *, now: datetime) -> int:
    """Mark every older letter of the same purpose superseded by the newest one (whatever order they were
    signed in: two jobs may finish out of order). The old codes keep verifying, marked superseded."""
    if letter.case_id is None:
        return 0  # an employer's request letter stands alone
    conditions = _same_purpose(letter)
    newest = session.execute(
        select(Letter.id, Letter.code).where(*conditions).order_by(Letter.id.desc()).limit(1)
    ).one()
    result = session.execute(
        update(Letter)
        .where(*conditions, Letter.id < newest.id, Letter.superseded_by.is_(None))
        .values(superseded_by=newest.code, superseded_at=now)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount or 0


def queue_notices(session: Session, letter_ids: Iterable[int], *, now: datetime) -> None:
    """One notice per issued case letter and per contact the case gives (email, webhook), set-based."""
    ids = sorted(set(letter_ids))
    for channel, column in ((NoticeChannel.EMAIL, Case.email), (NoticeChannel.WEBHOOK, Case.webhook_url)):
        message_id = literal("pwn-") + sql_cast(Letter.id, String) + literal(f"-{channel.value}")
        rows = (
            select(
                Letter.id,
                Letter.case_id,
                literal(channel.value),
                column,
                Case.language,
                message_id,
                literal(NoticeState.PENDING.value),
                literal(0),
                literal(now, Notice.available_at.type),
                literal(False),
                literal(now, Notice.created_at.type),
            )
            .join(Case, Case.case_id == Letter.case_id)
            .where(Letter.id.in_(ids), column.is_not(None), column != "")
        )
        session.execute(
            insert_for(session, Notice)
            .from_select(
                [
                    "letter_id",
                    "case_id",
                    "channel",
                    "destination",
                    "language",
                    "message_id",
                    "state",
                    "attempts",
                    "available_at",
                    "permanent_failure",
                    "created_at",
                ],
                rows,
            )
            .on_conflict_do_nothing(index_elements=["letter_id", "channel"])
        )


def issue_one(runtime: Runtime, letter_id: int) -> Letter | None:
    """Issue a single pending letter now (an employer waiting for an answer); None if it could not be."""
    now = runtime.clock()
    token = secrets.token_hex(16)
    with transaction(runtime.sessions) as session:
        claimed = session.execute(
            update(Letter)
            .where(Letter.id == letter_id, _claimable(now))
            .values(claimed_at=now, claim_token=token, attempts=Letter.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        if cast(CursorResult[Any], claimed).rowcount != 1:
            return None
        letter = session.get_one(Letter, letter_id)
        facts = outage_facts(session, tuple(sorted(letter.outage_ids)), now=now)
        organisation = letter.facts.get("organisation") if letter.facts else None
        content = letter_content(
            letter, facts, runtime.config.page, code=new_code(), issued_at=now, holder=_holder(letter, organisation)
        )
    pdf = runtime.signer().sign(render_pdf(content), reason=_signing_reason(content))
    with transaction(runtime.sessions) as session:
        if not _store(
            session,
            letter_id,
            content,
            pdf,
            {"digest": facts.digest, "component": facts.component_id},
            token=token,
            now=now,
        ):
            return None
        letter = session.get_one(Letter, letter_id)
        session.expunge(letter)
        return letter


def pending_letters(runtime: Runtime) -> int:
    """Letters owed and not claimed by a live job: how much signing work is waiting."""
    with transaction(runtime.sessions) as session:
        return session.scalar(select(func.count()).select_from(Letter).where(_claimable(runtime.clock()))) or 0


def signing_jobs_running(runtime: Runtime) -> int:
    now = runtime.clock()
    with transaction(runtime.sessions) as session:
        return (
            session.scalar(
                select(func.count(func.distinct(Letter.claim_token))).where(
                    Letter.state == LetterState.PENDING, Letter.claim_token.is_not(None), ~_claimable(now)
                )
            )
            or 0
        )


# --- reading letters -------------------------------------------------------------------------------


def find(session: Session, code: str) -> Letter | None:
    canonical = normalise(code)
    if canonical is None:
        return None
    return session.scalar(select(Letter).where(Letter.code == canonical, Letter.state == LetterState.ISSUED))


def letter_link(letter: Letter, page: PageConfig) -> dict[str, Any]:
    """A letter as a holder's list shows it: code, kind, when, and where to get and check it."""
    if letter.code is None:
        raise ValueError(f"letter {letter.id} has no code: it has not been issued")
    return {
        "code": letter.code,
        "display_code": display(letter.code),
        "kind": letter.kind.value,
        "issued_at": iso(letter.issued_at),
        "superseded": letter.superseded_by is not None,
        "superseded_by": letter.superseded_by,
        "pdf_url": pdf_url(page, letter.code),
        "verify_url": verify_url(page, letter.code),
    }


def case_letters(session: Session, case_id: str, page: PageConfig) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(Letter)
        .where(Letter.case_id == case_id, Letter.state == LetterState.ISSUED, Letter.request_id.is_(None))
        .order_by(Letter.id)
    )
    return [letter_link(row, page) for row in rows]


def case_letters_pending(session: Session, case_id: str) -> int:
    return (
        session.scalar(select(func.count()).where(Letter.case_id == case_id, Letter.state == LetterState.PENDING)) or 0
    )


# What verification reads of a letter: one statement, no ORM identity map, the component's name joined in.
# It is the hottest public path (every officer's scan of a QR code), so it stays one round trip.
_SHOWN = (
    Letter.id,
    Letter.code,
    Letter.kind,
    Letter.case_id,
    Letter.component_id,
    Letter.outage_ids,
    Letter.window_start,
    Letter.window_end,
    Letter.original_deadline,
    Letter.new_deadline,
    Letter.paper_from,
    Letter.paper_until,
    Letter.rules,
    Letter.time_zone,
    Letter.facts,
    Letter.evidence_digest,
    Letter.pdf_sha256,
    Letter.issued_at,
    Letter.superseded_by,
    Letter.superseded_at,
    Component.name.label("component_name"),
)


def verification(session: Session, code: str, page: PageConfig) -> dict[str, Any] | None:
    """What `GET /api/v1/verify/<code>` answers for an issued letter, or None when no letter has that code."""
    canonical = normalise(code)
    if canonical is None:
        return None
    row = session.execute(
        select(*_SHOWN)
        .outerjoin(Component, Component.id == Letter.component_id)
        .where(Letter.code == canonical, Letter.state == LetterState.ISSUED)
    ).first()
    return None if row is None else _shown(row, row.component_name, page)


def verification_json(session: Session, letter: Letter, page: PageConfig) -> dict[str, Any]:
    """The same answer for a letter already loaded (a file brought to be checked)."""
    component = session.get(Component, letter.component_id) if letter.component_id else None
    return _shown(letter, component.name if component else None, page)


def _shown(letter: Any, component_name: str | None, page: PageConfig) -> dict[str, Any]:
    """What anyone may learn from a code: what the letter grants and rests on; no contact or access data.

    `letter` is a Letter or a row of _SHOWN: both carry the same attribute names.
    """
    if letter.code is None:
        raise ValueError(f"letter {letter.id} has no code: it has not been issued")
    zone = letter.time_zone
    grants: dict[str, Any]
    if letter.kind is LetterKind.EXTENSION:
        grants = {
            "extension": {
                "original_deadline": iso(letter.original_deadline, zone),
                "new_deadline": iso(letter.new_deadline, zone),
                "rules": list(letter.rules),
            }
        }
    elif letter.kind is LetterKind.PAPER_FILING:
        grants = {"paper_filing": {"from": iso(letter.paper_from, zone), "until": iso(letter.paper_until, zone)}}
    else:
        grants = {"attestation": {"from": iso(letter.window_start, zone), "until": iso(letter.window_end, zone)}}
    return {
        "valid": True,
        "code": letter.code,
        "display_code": display(letter.code),
        "kind": letter.kind.value,
        "issued_at": iso(letter.issued_at),
        "superseded_by": letter.superseded_by,
        "superseded_at": iso(letter.superseded_at),
        "holder": letter.case_id if letter.case_id is not None else (letter.facts or {}).get("organisation"),
        "grants": grants,
        "component": None
        if letter.component_id is None
        else {"id": letter.component_id, "name": component_name or letter.component_id},
        "outage_window": {"start": iso(letter.window_start, zone), "end": iso(letter.window_end, zone)},
        "outage_ids": list(letter.outage_ids),
        "time_zone": zone,
        "evidence_digest": letter.evidence_digest,
        "sha256": letter.pdf_sha256,
        "pdf_url": pdf_url(page, letter.code),
        "verify_url": verify_url(page, letter.code),
        "issuer": {"name": page.name, "url": page.url},
    }


def letter_pdf(session: Session, code: str) -> bytes | None:
    canonical = normalise(code)
    if canonical is None:
        return None
    return session.scalar(select(Letter.pdf).where(Letter.code == canonical, Letter.state == LetterState.ISSUED))


@dataclass(frozen=True)
class FileCheck:
    genuine: bool
    reason: str
    sha256: str
    letter: Letter | None
    claimed_code: str | None


def check_file(runtime: Runtime, session: Session, body: bytes) -> FileCheck:
    """Whether these exact bytes are a letter PortalWatch issued: the same bytes as the issued copy, and a
    valid signature by the service's key over the whole file."""
    digest = hashlib.sha256(body).hexdigest()
    validation = runtime.signer().validate(body)
    letter = session.scalar(
        select(Letter).where(Letter.pdf_sha256 == digest, Letter.state == LetterState.ISSUED).limit(1)
    )
    if letter is not None and validation.genuine:
        return FileCheck(
            True, "these are the exact bytes of the letter issued with this code", digest, letter, letter.code
        )
    claimed = validation.claimed_code
    if not validation.genuine:
        reason = validation.reason
    else:
        reason = "the signature is the service's, but no letter was issued with exactly these bytes"
    if claimed:
        original = find(session, claimed)
        if original is not None and original.pdf_sha256 != digest:
            reason = f"{reason}; the file claims to be letter {display(claimed)}, whose issued copy differs"
    return FileCheck(False, reason, digest, None, claimed)


def letters_report(runtime: Runtime) -> dict[str, Any]:
    """Ops: how many letters are owed and issued, and the ones that keep failing to be made."""
    with transaction(runtime.sessions) as session:
        counts = {
            state: count for state, count in session.execute(select(Letter.state, func.count()).group_by(Letter.state))
        }
        failing = session.scalars(
            select(Letter).where(Letter.state == LetterState.PENDING, Letter.last_error.is_not(None)).limit(50)
        ).all()
        return {
            "pending": int(counts.get(LetterState.PENDING, 0)),
            "issued": int(counts.get(LetterState.ISSUED, 0)),
            "failing": [
                {
                    "id": row.id,
                    "kind": row.kind.value,
                    "case_id": row.case_id,
                    "attempts": row.attempts,
                    "last_error": row.last_error,
                }
                for row in failing
            ],
        }
