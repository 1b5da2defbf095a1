"""What a letter says, as plain text: both languages, every date on the holder's clock with the zone named."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from exemptions.letters import LetterContent, RuleLine, Window, display, paragraphs, verify_url_for
from exemptions.letters.content import blocks
from exemptions.letters.samples import PAGE_URL, sample_content
from monitor.storage.enums import LetterKind


def text(content: LetterContent) -> tuple[str, str]:
    english, french = paragraphs(content)
    return "\n".join(english), "\n".join(french)


@pytest.mark.parametrize("kind", list(LetterKind))
def test_every_kind_says_everything_in_both_languages_paragraph_for_paragraph(kind: LetterKind) -> None:
    content = sample_content(kind)
    english, french = paragraphs(content)
    assert len(english) == len(french) == len(blocks(content))
    for words in ("\n".join(english), "\n".join(french)):
        assert content.issuer_name in words
        assert content.reference in words
        assert "CASE-2026-004217" in words
        assert content.evidence_digest in words
        assert content.verify_url in words
        assert display(content.code) in words
        assert "Permanent residence portal (pr-portal)" in words


def test_the_french_is_french_with_its_accents_and_typography() -> None:
    _, french = text(sample_content(LetterKind.EXTENSION))
    for expected in (
        "Prolongation du délai",
        "Délivrée le\u00a0: 2026-11-04 09:03:12 EST (America/Toronto)",
        "Référence\u00a0: PW-EXT-",
        "Titulaire\u00a0: CASE-2026-004217",
        "Échéance initiale\u00a0:",
        "Nouvelle échéance\u00a0:",
        "Pannes enregistrées",
        "fuseau horaire America/Toronto",
        "Comment vérifier cette lettre",
    ):
        assert expected in french
    assert "Exemption de dépôt sur papier" in text(sample_content(LetterKind.PAPER_FILING))[1]
    attestation = text(sample_content(LetterKind.ATTESTATION))[1]
    assert "Attestation de panne" in attestation
    assert "Vérifications effectuées\u00a0: 17\u00a0280, dont 412 en échec." in attestation
    assert "Remarque\u00a0: La panne a été trop brève" in attestation


def test_every_date_is_on_the_holders_clock_with_the_zone_named_across_a_daylight_saving_change() -> None:
    content = sample_content(LetterKind.EXTENSION, time_zone="America/Vancouver")
    english, french = text(content)
    # The original deadline is 04:59:59 UTC on 2 November 2026: 20:59:59 of 1 November in Vancouver, on
    # standard time (PST) since that morning; the first outage ran 05:40-07:15 UTC on 1 November, still
    # on daylight time (PDT) there, across midnight.
    assert "Original deadline: 2026-11-01 20:59:59 PST (America/Vancouver)" in english
    assert "Échéance initiale\u00a0: 2026-11-01 20:59:59 PST (America/Vancouver)" in french
    assert "from 2026-10-31 22:40:00 PDT to 2026-11-01 00:15:00 PDT (America/Vancouver)" in english
    assert "du 2026-10-31 22:40:00 PDT au 2026-11-01 00:15:00 PDT (America/Vancouver)" in french
    assert "UTC" not in english + french


def test_an_outage_still_going_on_says_so() -> None:
    content = dataclasses.replace(
        sample_content(LetterKind.ATTESTATION), outages=(Window(datetime(2026, 11, 3, 12, 0, tzinfo=UTC)),)
    )
    english, french = text(content)
    assert "from 2026-11-03 07:00:00 EST, still ongoing (America/Toronto)" in english
    assert "depuis le 2026-11-03 07:00:00 EST, toujours en cours (America/Toronto)" in french


def test_an_attestation_of_a_quiet_period_says_no_outage_was_recorded() -> None:
    english, french = text(dataclasses.replace(sample_content(LetterKind.ATTESTATION), outages=()))
    assert "No outage was recorded during this period." in english
    assert "Aucune panne n’a été enregistrée pendant cette période." in french


def test_a_paper_filing_exemption_without_a_holder_is_for_anyone_who_had_to_file_through_the_component() -> None:
    english, french = text(sample_content(LetterKind.PAPER_FILING, holder=None))
    assert "anyone who had to file through it may file on paper" in english
    assert "toute personne qui devait passer par ce service peut déposer sur papier" in french
    assert "Holder" not in english and "Titulaire" not in french


def test_rules_are_listed_in_both_languages() -> None:
    rules = (RuleLine("Short outages on the last day count.", "Les pannes brèves du dernier jour comptent."),)
    english, french = text(dataclasses.replace(sample_content(LetterKind.EXTENSION), rules=rules))
    assert "Why\nShort outages on the last day count." in english
    assert "Motifs\nLes pannes brèves du dernier jour comptent." in french


BAD = [
    ("an email address as holder", {"holder": "someone@example.org"}, "never an email"),
    ("a code not in canonical form", {"code": "abcd-efghj-kmnp"}, "canonical"),
    ("a verification URL for another code", {"verify_url": f"{PAGE_URL}/verify/0000000000000"}, "lead to this"),
    ("an unknown time zone", {"time_zone": "Mars/Olympus_Mons"}, "unknown time zone"),
    ("a naive issue date", {"issued_at": datetime(2026, 11, 4, 14, 3)}, "timezone-aware"),
    ("a digest that is not SHA-256 hex", {"evidence_digest": "abc"}, "SHA-256"),
    ("an extension without its new deadline", {"new_deadline": None}, "original and its new deadline"),
    ("an extension moving a deadline earlier", {"new_deadline": datetime(2026, 1, 1, tzinfo=UTC)}, "earlier"),
    ("a note in one language only", {"note_en": "Only English."}, "both languages"),
    ("more failed checks than checks", {"checks_total": 3, "checks_failed": 4}, "checks_failed"),
    ("no component", {"component_name": "", "component_id": ""}, "names the component"),
]


@pytest.mark.parametrize(("what", "change", "message"), BAD, ids=[case[0] for case in BAD])
def test_a_letter_that_could_mislead_cannot_be_built(what: str, change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(sample_content(LetterKind.EXTENSION), **change)  # type: ignore[arg-type]


def test_each_kind_needs_what_it_grants_or_attests() -> None:
    with pytest.raises(ValueError, match="period"):
        dataclasses.replace(sample_content(LetterKind.PAPER_FILING), paper_period=None)
    with pytest.raises(ValueError, match="period"):
        dataclasses.replace(sample_content(LetterKind.ATTESTATION), attested_period=None)
    with pytest.raises(ValueError, match="before it starts"):
        now = datetime(2026, 11, 1, tzinfo=UTC)
        Window(now, now - timedelta(seconds=1))


def test_a_component_known_only_by_its_id_is_named_once() -> None:
    english, french = text(dataclasses.replace(sample_content(LetterKind.EXTENSION), component_name=""))
    assert "recorded an outage of pr-portal that affected" in english
    assert "a enregistré une panne de pr-portal qui a touché" in french


def test_the_verification_url_is_the_page_url_and_the_code() -> None:
    assert (
        verify_url_for("https://status.example.ca/", "7KQ2M9XD3FPAV")
        == "https://status.example.ca/verify/7KQ2M9XD3FPAV"
    )
