"""Example letters of every kind, with made-up facts: to preview the layout, test it, and time it.

They are realistic in size (a few outages, several rules, long names, dates either side of a DST change),
because the benchmark's figure is only worth something if the letters it times look like real ones.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from exemptions.letters.codes import new_code
from exemptions.letters.content import LetterContent, RuleLine, Window, verify_url_for
from monitor.storage.enums import LetterKind

PAGE_NAME = "Immigration portal status"
PAGE_URL = "https://status.portal.example.ca"
REFERENCE_PREFIX = {LetterKind.EXTENSION: "EXT", LetterKind.PAPER_FILING: "PAP", LetterKind.ATTESTATION: "ATT"}

RULES = (
    RuleLine(
        "The portal was down for 3 h 10 min on the day the deadline fell.",
        "Le portail a été indisponible pendant 3 h 10 min le jour de l’échéance.",
    ),
    RuleLine(
        "An outage in the last hour before a deadline always counts, however short.",
        "Une panne survenue dans la dernière heure avant l’échéance compte toujours, même brève.",
    ),
    RuleLine(
        "The new deadline is two business days after the portal came back, at 23:59:59 in your time zone.",
        "La nouvelle échéance tombe deux jours ouvrables après le rétablissement du portail, à 23 h 59 min 59 s "
        "dans votre fuseau horaire.",
    ),
)


def sample_content(
    kind: LetterKind,
    *,
    code: str | None = None,
    holder: str | None = "CASE-2026-004217",
    time_zone: str = "America/Toronto",
    outages: int = 2,
) -> LetterContent:
    code = code or new_code()
    start = datetime(2026, 11, 1, 5, 40, tzinfo=UTC)  # 01:40 EDT in Toronto, 20 minutes before clocks go back
    windows = tuple(
        Window(start + timedelta(days=i, hours=i), start + timedelta(days=i, hours=i, minutes=95 + 20 * i))
        for i in range(outages)
    )
    kind_facts: dict[str, Any]
    if kind is LetterKind.EXTENSION:
        kind_facts = {
            "original_deadline": datetime(2026, 11, 2, 4, 59, 59, tzinfo=UTC),
            "new_deadline": datetime(2026, 11, 5, 4, 59, 59, tzinfo=UTC),
            "rules": RULES,
        }
    elif kind is LetterKind.PAPER_FILING:
        kind_facts = {"paper_period": Window(start, start + timedelta(days=10)), "rules": RULES[:1]}
    else:
        kind_facts = {
            "attested_period": Window(start - timedelta(days=1), start + timedelta(days=3)),
            "observed_by": ("Montréal", "Toronto", "Vancouver"),
            "checks_total": 17_280,
            "checks_failed": 412,
            "note_en": "The outage was too brief for paper filing.",
            "note_fr": "La panne a été trop brève pour permettre le dépôt sur papier.",
        }
    return LetterContent(
        kind=kind,
        code=code,
        reference=f"PW-{REFERENCE_PREFIX[kind]}-{holder or 'ALL'}-v{3 if kind is LetterKind.EXTENSION else 1}",
        issued_at=datetime(2026, 11, 4, 14, 3, 12, tzinfo=UTC),
        time_zone=time_zone,
        issuer_name=PAGE_NAME,
        issuer_url=PAGE_URL,
        verify_url=verify_url_for(PAGE_URL, code),
        holder=holder,
        component_id="pr-portal",
        component_name="Permanent residence portal",
        outages=windows,
        evidence_digest=hashlib.sha256(code.encode()).hexdigest(),
        **kind_facts,
    )
