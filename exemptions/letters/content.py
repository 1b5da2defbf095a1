"""What a letter says, in English and in French, before anything is laid out on a page.

The words live here, apart from the PDF drawing, for three reasons: they can be read and tested as plain
text; both languages are written side by side, block for block, so neither can say more than the other;
and the renderer only decides where text goes, never what it means.

A letter is given to the person it helps and may be shown to anyone, so it carries no personal data beyond
its holder (a case id or an organisation's name, never an email address). Every date is printed in the
holder's time zone with the zone named, because a deadline read in the wrong zone is a missed deadline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from exemptions.letters.codes import display, is_canonical
from monitor.storage.enums import LetterKind
from monitor.timefmt import local

NBSP = "\u00a0"  # French puts a non-breaking space before ":" and between thousands

_DIGEST = re.compile(r"[0-9a-f]{64}")


def _aware(value: datetime, what: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware")


@dataclass(frozen=True)
class Window:
    """A span of time, UTC-aware; `end` None means it is still going on."""

    start: datetime
    end: datetime | None = None

    def __post_init__(self) -> None:
        _aware(self.start, "a window's start")
        if self.end is not None:
            _aware(self.end, "a window's end")
            if self.end < self.start:
                raise ValueError("a window cannot end before it starts")


@dataclass(frozen=True)
class RuleLine:
    """One plain-words reason, said in both languages."""

    en: str
    fr: str


@dataclass(frozen=True)
class LetterContent:
    """Everything one letter states. Checked when built, so a letter that could mislead is never drawn."""

    kind: LetterKind
    code: str  # canonical, see codes.normalise
    reference: str  # e.g. "PW-EXT-<case id>-v3"
    issued_at: datetime
    time_zone: str  # the holder's IANA zone
    issuer_name: str
    issuer_url: str
    verify_url: str  # <page url>/verify/<code>, see verify_url_for
    holder: str | None
    component_id: str
    component_name: str
    outages: tuple[Window, ...]
    evidence_digest: str  # hex SHA-256 of the records the letter rests on
    # extension
    original_deadline: datetime | None = None
    new_deadline: datetime | None = None
    rules: tuple[RuleLine, ...] = ()
    # paper filing
    paper_period: Window | None = None
    # attestation
    observed_by: tuple[str, ...] = ()
    checks_total: int | None = None
    checks_failed: int | None = None
    attested_period: Window | None = None
    # any kind, e.g. why a short outage earned no paper filing
    note_en: str | None = None
    note_fr: str | None = None
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        LetterKind(self.kind)  # raises ValueError for anything else
        if not is_canonical(self.code):
            raise ValueError("the code must be in canonical form (see codes.normalise)")
        if self.code not in self.verify_url:
            raise ValueError("the verification URL must lead to this letter's code")
        try:
            object.__setattr__(self, "_zone", ZoneInfo(self.time_zone))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.time_zone!r}") from exc
        _aware(self.issued_at, "issued_at")
        if not (self.component_name or self.component_id):
            raise ValueError("a letter names the component it concerns")
        if self.holder is not None and "@" in self.holder:
            # A letter travels: it may be forwarded, printed, attached to a form. An address would leak.
            raise ValueError("the holder is a case id or an organisation, never an email address")
        if not _DIGEST.fullmatch(self.evidence_digest):
            raise ValueError("evidence_digest must be a lower-case hex SHA-256")
        for moment, what in ((self.original_deadline, "original_deadline"), (self.new_deadline, "new_deadline")):
            if moment is not None:
                _aware(moment, what)
        if (self.note_en is None) != (self.note_fr is None):
            raise ValueError("a note is given in both languages or in neither")
        if self.checks_total is not None and self.checks_total < 0:
            raise ValueError("checks_total cannot be negative")
        if self.checks_failed is not None and (
            self.checks_failed < 0 or (self.checks_total is not None and self.checks_failed > self.checks_total)
        ):
            raise ValueError("checks_failed must lie between 0 and checks_total")
        if self.kind is LetterKind.EXTENSION:
            if self.original_deadline is None or self.new_deadline is None:
                raise ValueError("an extension states its original and its new deadline")
            if self.new_deadline < self.original_deadline:
                raise ValueError("an extension cannot move a deadline earlier")
        elif self.kind is LetterKind.PAPER_FILING and self.paper_period is None:
            raise ValueError("a paper-filing exemption states its period")
        elif self.kind is LetterKind.ATTESTATION and self.attested_period is None:
            raise ValueError("an attestation states the period it covers")


def verify_url_for(page_url: str, code: str) -> str:
    """The public verification page of a code: `<page url>/verify/<code>`."""
    return f"{page_url.rstrip('/')}/verify/{code}"


# --- the words --------------------------------------------------------------------------------


class Style(StrEnum):
    """How the renderer sets a block; the same in both languages, so they keep equal weight."""

    TITLE = "title"
    HEADING = "heading"
    BODY = "body"
    META = "meta"  # the letter's particulars under its title: issuer, reference, date, holder
    LEAD = "lead"  # what the letter grants or attests, first after the particulars
    ITEM = "item"  # one entry of a list: a rule, an outage


@dataclass(frozen=True)
class Block:
    """One paragraph said twice: the renderer starts both at the same height."""

    style: Style
    en: str
    fr: str


TITLES: dict[LetterKind, tuple[str, str]] = {
    LetterKind.EXTENSION: ("Deadline extension", "Prolongation du délai"),
    LetterKind.PAPER_FILING: ("Paper-filing exemption", "Exemption de dépôt sur papier"),
    LetterKind.ATTESTATION: ("Outage attestation", "Attestation de panne"),
}


def when(content: LetterContent, moment: datetime) -> str:
    """`2026-11-22 23:59:59 EST (America/Toronto)`: the holder's clock, with the zone named."""
    return f"{local(moment, content.time_zone)} ({content.time_zone})"


def span_en(content: LetterContent, window: Window, *, open_end: str = "still ongoing") -> str:
    start = local(window.start, content.time_zone)
    if window.end is None:
        return f"from {start}, {open_end} ({content.time_zone})"
    return f"from {start} to {local(window.end, content.time_zone)} ({content.time_zone})"


def span_fr(content: LetterContent, window: Window, *, open_end: str = "toujours en cours") -> str:
    start = local(window.start, content.time_zone)
    if window.end is None:
        return f"depuis le {start}, {open_end} ({content.time_zone})"
    return f"du {start} au {local(window.end, content.time_zone)} ({content.time_zone})"


def _count_en(value: int) -> str:
    return f"{value:,}"


def _count_fr(value: int) -> str:
    return f"{value:,}".replace(",", NBSP)


def _label_fr(label: str) -> str:
    return f"{label}{NBSP}:"


def blocks(content: LetterContent) -> tuple[Block, ...]:
    """The whole letter, block by block, English beside French."""
    c = content
    component = c.component_name or c.component_id
    if c.component_id and c.component_id != component:
        component = f"{component} ({c.component_id})"
    out: list[Block] = [
        Block(Style.TITLE, *TITLES[c.kind]),
        Block(Style.META, f"Issued by {c.issuer_name}", f"Délivrée par {c.issuer_name}"),
        Block(Style.META, f"Reference: {c.reference}", f"{_label_fr('Référence')} {c.reference}"),
        Block(Style.META, f"Issued on: {when(c, c.issued_at)}", f"{_label_fr('Délivrée le')} {when(c, c.issued_at)}"),
    ]
    if c.holder is not None:
        out.append(Block(Style.META, f"Holder: {c.holder}", f"{_label_fr('Titulaire')} {c.holder}"))

    if c.kind is LetterKind.EXTENSION:
        out.extend(_extension(c, component))
    elif c.kind is LetterKind.PAPER_FILING:
        out.extend(_paper_filing(c, component))
    else:
        out.extend(_attestation(c, component))

    if c.rules:
        out.append(Block(Style.HEADING, "Why", "Motifs"))
        out.extend(Block(Style.ITEM, rule.en, rule.fr) for rule in c.rules)

    out.append(Block(Style.HEADING, "Outages recorded", "Pannes enregistrées"))
    if c.outages:
        out.extend(Block(Style.ITEM, span_en(c, w), span_fr(c, w)) for w in c.outages)
    elif c.kind is LetterKind.ATTESTATION:
        out.append(
            Block(
                Style.ITEM,
                "No outage was recorded during this period.",
                "Aucune panne n’a été enregistrée pendant cette période.",
            )
        )
    else:
        out.append(Block(Style.ITEM, "None.", "Aucune."))

    if c.note_en is not None and c.note_fr is not None:
        out.append(Block(Style.BODY, f"Note: {c.note_en}", f"{_label_fr('Remarque')} {c.note_fr}"))

    out.append(
        Block(
            Style.BODY,
            f"All times are shown in the {c.time_zone} time zone.",
            f"Toutes les heures sont indiquées dans le fuseau horaire {c.time_zone}.",
        )
    )
    out.append(Block(Style.HEADING, "Evidence", "Preuves"))
    out.append(
        Block(
            Style.BODY,
            f"SHA-256 digest of the supporting records: {c.evidence_digest}",
            f"{_label_fr('Empreinte SHA-256 des registres à l’appui')} {c.evidence_digest}",
        )
    )
    code = display(c.code)
    out.append(Block(Style.HEADING, "How to verify this letter", "Comment vérifier cette lettre"))
    out.append(
        Block(
            Style.BODY,
            f"Go to {c.verify_url} or scan the QR code: the page must show this letter, code {code}. "
            f"This PDF is digitally signed by {c.issuer_name}; any change to the file breaks the signature.",
            f"Rendez-vous à {c.verify_url} ou balayez le code QR{NBSP}: la page doit afficher cette lettre, "
            f"code {code}. Ce PDF porte la signature numérique de {c.issuer_name}; toute modification "
            "du fichier rend la signature invalide.",
        )
    )
    return tuple(out)


def _extension(c: LetterContent, component: str) -> list[Block]:
    original, new = c.original_deadline, c.new_deadline
    if original is None or new is None:  # checked when the content was built
        raise ValueError("an extension states its original and its new deadline")
    return [
        Block(
            Style.LEAD,
            f"{c.issuer_name} recorded an outage of {component} that affected this deadline. "
            "The deadline is extended as follows.",
            f"{c.issuer_name} a enregistré une panne de {component} qui a touché cette échéance. "
            "Le délai est prolongé comme suit.",
        ),
        Block(
            Style.BODY,
            f"Original deadline: {when(c, original)}",
            f"{_label_fr('Échéance initiale')} {when(c, original)}",
        ),
        Block(Style.BODY, f"New deadline: {when(c, new)}", f"{_label_fr('Nouvelle échéance')} {when(c, new)}"),
    ]


def _paper_filing(c: LetterContent, component: str) -> list[Block]:
    period = c.paper_period
    if period is None:  # checked when the content was built
        raise ValueError("a paper-filing exemption states its period")
    if c.holder is None:
        who_en, who_fr = "anyone who had to file through it", "toute personne qui devait passer par ce service"
    else:
        who_en, who_fr = "the holder", "le titulaire"
    return [
        Block(
            Style.LEAD,
            f"Because {component} was unavailable, {who_en} may file on paper instead of online "
            "during the period below.",
            f"Comme {component} était indisponible, {who_fr} peut déposer sur papier plutôt qu’en ligne "
            "pendant la période ci-dessous.",
        ),
        Block(
            Style.BODY,
            f"Period: {span_en(c, period, open_end='until further notice')}",
            f"{_label_fr('Période')} {span_fr(c, period, open_end='jusqu’à nouvel ordre')}",
        ),
    ]


def _attestation(c: LetterContent, component: str) -> list[Block]:
    period = c.attested_period
    if period is None:  # checked when the content was built
        raise ValueError("an attestation states the period it covers")
    out = [
        Block(
            Style.LEAD,
            f"{c.issuer_name} attests that its records show the following for {component}, "
            f"{span_en(c, period, open_end='up to the date of this letter')}.",
            f"{c.issuer_name} atteste que ses registres indiquent ce qui suit pour {component}, "
            f"{span_fr(c, period, open_end='jusqu’à la date de cette lettre')}.",
        )
    ]
    if c.checks_total is not None:
        failed_en = f", of which {_count_en(c.checks_failed)} failed" if c.checks_failed is not None else ""
        failed_fr = f", dont {_count_fr(c.checks_failed)} en échec" if c.checks_failed is not None else ""
        out.append(
            Block(
                Style.BODY,
                f"Checks made: {_count_en(c.checks_total)}{failed_en}.",
                f"{_label_fr('Vérifications effectuées')} {_count_fr(c.checks_total)}{failed_fr}.",
            )
        )
    if c.observed_by:
        places = ", ".join(c.observed_by)
        out.append(Block(Style.BODY, f"Observed from: {places}", f"{_label_fr('Observé depuis')} {places}"))
    return out


def paragraphs(content: LetterContent) -> tuple[list[str], list[str]]:
    """The English and the French text of the letter, paragraph by paragraph, in reading order."""
    parts = blocks(content)
    return [b.en for b in parts], [b.fr for b in parts]
