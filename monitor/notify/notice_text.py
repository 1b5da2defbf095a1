"""What a case's holder is told when their letter is issued (pure): an email's subject and body, a webhook payload.

Canada's official languages are both owed to every holder, so every body carries English and French; the
holder's language comes first, and the subject leads with it. Dates are shown in the case's time zone, with
the zone named twice over (its abbreviation at that instant, which people read, and its IANA name, which is
unambiguous: "CST" means three different clocks).

Webhook event types (Standard Webhooks `type`, sent with `webhook-id` so a retried notice is recognisable):

- `case.relief.final` — a deadline extension was decided for the case and its letter issued.
  `data.effective_deadline` is the new deadline, `data.original_deadline` the one it replaces.
- `case.relief.revised` — a later extension letter supersedes an earlier one (a longer extension, say, after an
  outage's bounds were corrected). Same fields as `case.relief.final`; the earlier letter's code keeps verifying.
- `case.paper_filing.authorised` — the holder may file on paper during `data.paper_period` because the component
  was unavailable for long enough.
- `case.outage.attested` — an attestation of what the record shows for the component was issued for the case.

Every instant in a payload is ISO 8601 in UTC (`2026-11-27T04:59:59Z`); `data.time_zone` says which clock the
holder's letter uses. The payload names no person: a case id, a component and the letter's public links only.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from monitor.timefmt import NBSP, spoken
from monitor.timezones import iana_zone

LANGUAGES = ("en", "fr")
KINDS = ("extension", "paper_filing", "attestation")

EVENT_RELIEF_FINAL = "case.relief.final"
EVENT_RELIEF_REVISED = "case.relief.revised"
EVENT_PAPER_FILING_AUTHORISED = "case.paper_filing.authorised"
EVENT_OUTAGE_ATTESTED = "case.outage.attested"
# Which event types may announce which kind of letter; a mismatch is a caller's bug, refused loudly.
EVENT_TYPES: dict[str, str] = {
    EVENT_RELIEF_FINAL: "extension",
    EVENT_RELIEF_REVISED: "extension",
    EVENT_PAPER_FILING_AUTHORISED: "paper_filing",
    EVENT_OUTAGE_ATTESTED: "attestation",
}
_DEFAULT_EVENT = {
    "extension": EVENT_RELIEF_FINAL,
    "paper_filing": EVENT_PAPER_FILING_AUTHORISED,
    "attestation": EVENT_OUTAGE_ATTESTED,
}


_SEPARATOR = "-" * 40


@dataclass(frozen=True)
class NoticeContent:
    """Everything a notice says, gathered by the caller from the issued letter and its case.

    Every datetime is an aware instant (stored UTC); a naive one is refused, since converting it would
    silently read it in the server's own zone.
    """

    language: str  # the holder's: "en" or "fr"; it comes first, the other follows
    case_id: str
    kind: str  # "extension" | "paper_filing" | "attestation"
    effective_deadline: datetime | None
    original_deadline: datetime | None
    time_zone: str  # the case's IANA zone: every date is shown in it
    letter_code: str  # the verification code as stored
    letter_display_code: str  # the same code grouped for people to type, e.g. 7KQ2-M9XD-3FPA-V
    pdf_url: str
    verify_url: str
    component_name: str
    paper_period_start: datetime | None
    paper_period_end: datetime | None
    issuer_name: str

    def __post_init__(self) -> None:
        if self.language not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {self.language!r}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        iana_zone(self.time_zone)
        for name in (
            "case_id",
            "letter_code",
            "letter_display_code",
            "pdf_url",
            "verify_url",
            "component_name",
            "issuer_name",
        ):
            _check_line(name, getattr(self, name))
        for name in ("effective_deadline", "original_deadline", "paper_period_start", "paper_period_end"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise ValueError(f"{name} must be an aware datetime (UTC as stored), not a naive one")
        if self.kind == "extension" and self.effective_deadline is None:
            raise ValueError("an extension notice needs its effective_deadline")
        if self.kind == "paper_filing" and (self.paper_period_start is None or self.paper_period_end is None):
            raise ValueError("a paper-filing notice needs paper_period_start and paper_period_end")


def _check_line(name: str, value: str) -> None:
    """One line of printable text: these values end up in email headers, where a line break would start a new one."""
    if not value or not value.strip():
        raise ValueError(f"{name} must not be empty")
    for char in value:
        if unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp"):
            raise ValueError(f"{name} must be a single line of printable text; it holds U+{ord(char):04X}")


def event_type_for(kind: str) -> str:
    """The usual event type for a letter of `kind` (a first extension is `case.relief.final`)."""
    if kind not in _DEFAULT_EVENT:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    return _DEFAULT_EVENT[kind]


def _order(content: NoticeContent) -> tuple[str, str]:
    return ("en", "fr") if content.language == "en" else ("fr", "en")


def _when(value: datetime, zone: str, language: str) -> str:
    """`Friday, November 27, 2026, 11:59 p.m. EST (America/Toronto)`, or its French counterpart."""
    return f"{spoken(value, zone, language)} ({zone})"


_HEADLINES = {
    "extension": ("Your deadline was extended", "Votre délai a été prolongé"),
    "paper_filing": ("You may file on paper", "Vous pouvez déposer sur papier"),
    "attestation": ("Your attestation was issued", "Votre attestation a été délivrée"),
}


def subject(content: NoticeContent) -> str:
    """Both headlines, the holder's first, then the case: `Your deadline was extended / Votre délai… — case X`."""
    english, french = _HEADLINES[content.kind]
    if content.language == "en":
        return f"{english} / {french} — case {content.case_id}"
    return f"{french} / {english} — dossier {content.case_id}"


def _section(content: NoticeContent, language: str) -> list[str]:
    component = content.component_name
    zone = content.time_zone
    colon = ":" if language == "en" else f"{NBSP}:"

    def when(value: datetime) -> str:
        return _when(value, zone, language)

    lines: list[str] = []
    if language == "en":
        lines.append(f"Case {content.case_id}")
        lines.append("")
        if content.kind == "extension":
            lines.append(f"Your deadline was extended because {component} was unavailable.")
        elif content.kind == "paper_filing":
            lines.append(f"You may file on paper because {component} was unavailable for a long period.")
        else:
            lines.append(f"An attestation of what the record shows for {component} was issued for your case.")
    else:
        lines.append(f"Dossier {content.case_id}")
        lines.append("")
        if content.kind == "extension":
            lines.append(f"Votre délai a été prolongé parce que «{NBSP}{component}{NBSP}» était indisponible.")
        elif content.kind == "paper_filing":
            lines.append(
                f"Vous pouvez déposer votre demande sur papier parce que «{NBSP}{component}{NBSP}» "
                "a été indisponible pendant une longue période."
            )
        else:
            lines.append(
                f"Une attestation de ce que montre le registre pour «{NBSP}{component}{NBSP}» "
                "a été délivrée pour votre dossier."
            )
    labels = {
        "en": ("Original deadline", "New deadline", "Your deadline", "Paper filing accepted from", "until"),
        "fr": ("Délai initial", "Nouveau délai", "Votre délai", "Dépôt sur papier accepté du", "au"),
    }[language]
    original, new, yours, paper_from, paper_until = labels
    if content.kind == "extension":
        if content.original_deadline is not None:
            lines.append(f"{original}{colon} {when(content.original_deadline)}")
        if content.effective_deadline is not None:
            lines.append(f"{new}{colon} {when(content.effective_deadline)}")
    else:
        if content.kind == "paper_filing" and content.paper_period_start and content.paper_period_end:
            lines.append(f"{paper_from} {when(content.paper_period_start)}")
            lines.append(f"{paper_until} {when(content.paper_period_end)}")
        if content.effective_deadline is not None:
            lines.append(f"{yours}{colon} {when(content.effective_deadline)}")
    lines.append("")
    if language == "en":
        lines += [
            f"Your letter (PDF){colon} {content.pdf_url}",
            f"Letter code{colon} {content.letter_display_code}",
            f"Anyone can confirm this letter is genuine at {content.verify_url} with its code.",
            "",
            f"Issued by {content.issuer_name}. This message was sent automatically; replies are not read.",
        ]
    else:
        lines += [
            f"Votre lettre (PDF){colon} {content.pdf_url}",
            f"Code de la lettre{colon} {content.letter_display_code}",
            f"Toute personne peut vérifier l'authenticité de cette lettre à {content.verify_url} avec son code.",
            "",
            f"Délivrée par {content.issuer_name}. Ce message a été envoyé automatiquement; "
            "les réponses ne sont pas lues.",
        ]
    return lines


def text_body(content: NoticeContent) -> str:
    """The plain-text body: the holder's language, a separator, then the other language.

    It names no email address (not the holder's, not a sender's): a forwarded notice should not spread one,
    and replies are not read anyway.
    """
    first, second = _order(content)
    lines = [
        *_section(content, first),
        "",
        _SEPARATOR,
        "",
        *_section(content, second),
    ]
    return "\n".join(lines) + "\n"


def _utc(value: datetime | None) -> str | None:
    """`2026-11-27T04:59:59Z`: the `Z` form Standard Webhooks examples use, read by every ISO 8601 parser."""
    if value is None:
        return None
    if value.utcoffset() is None:
        raise ValueError("a naive datetime cannot be placed in UTC; pass an aware one")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def webhook_payload(content: NoticeContent, *, event_type: str, issued_at: datetime) -> dict[str, Any]:
    """The Standard Webhooks payload `{type, timestamp, data}` announcing the letter; JSON-ready (str/None/dict).

    `issued_at` is when the letter was issued, not when this attempt is made: the payload is the same on
    every retry, so a receiver that de-duplicates on `webhook-id` sees identical content.
    """
    expected_kind = EVENT_TYPES.get(event_type)
    if expected_kind is None:
        raise ValueError(f"unknown event type {event_type!r}; use one of {', '.join(EVENT_TYPES)}")
    if expected_kind != content.kind:
        raise ValueError(f"event type {event_type!r} announces {expected_kind} letters, not {content.kind}")
    paper_period = (
        {"start": _utc(content.paper_period_start), "end": _utc(content.paper_period_end)}
        if content.paper_period_start is not None or content.paper_period_end is not None
        else None
    )
    return {
        "type": event_type,
        "timestamp": _utc(issued_at),
        "data": {
            "case_id": content.case_id,
            "kind": content.kind,
            "language": content.language,
            "effective_deadline": _utc(content.effective_deadline),
            "original_deadline": _utc(content.original_deadline),
            "time_zone": content.time_zone,
            "paper_period": paper_period,
            "letter": {
                "code": content.letter_code,
                "display_code": content.letter_display_code,
                "pdf_url": content.pdf_url,
                "verify_url": content.verify_url,
            },
            "component": content.component_name,
        },
    }
