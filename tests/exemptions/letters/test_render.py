"""The PDF as a reader sees it: both languages extractable, words inside their column, fonts embedded,
metadata naming the letter, and a QR code that is exactly the verification URL's.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import segno
from hypothesis import given, settings
from hypothesis import strategies as st

from exemptions.letters import LetterContent, RuleLine, Window, display, render_pdf
from exemptions.letters.render import (
    BODY_BOTTOM,
    BODY_TOP,
    BOLD,
    COLUMN_WIDTH,
    COLUMN_X,
    MARGIN,
    PAGE_HEIGHT,
    PAGE_WIDTH,
    QR_QUIET_MODULES,
    REGULAR,
    qr_operators,
    register_fonts,
    wrap,
)
from exemptions.letters.samples import sample_content
from monitor.storage.enums import LetterKind
from tests.exemptions.letters.conftest import Issued, poppler

FUZZ = settings(max_examples=200, deadline=None, database=None)


def flat(text: str) -> str:
    """Extracted text with line breaks and non-breaking spaces as single spaces: lines wrap in columns."""
    return " ".join(text.split())


@pytest.mark.parametrize("kind", list(LetterKind))
def test_pdftotext_extracts_the_english_and_the_french_the_grouped_code_and_the_verification_url(
    kind: LetterKind, issued: dict[LetterKind, Issued], tmp_path: Path
) -> None:
    letter = issued[kind]
    extracted = flat(poppler("pdftotext", letter.signed, tmp_path))
    titles = {
        LetterKind.EXTENSION: ("Deadline extension", "Prolongation du délai"),
        LetterKind.PAPER_FILING: ("Paper-filing exemption", "Exemption de dépôt sur papier"),
        LetterKind.ATTESTATION: ("Outage attestation", "Attestation de panne"),
    }[kind]
    for expected in (
        *titles,
        "Immigration portal status",
        "Issued on: 2026-11-04 09:03:12 EST",
        "Délivrée le : 2026-11-04 09:03:12 EST",
        "Référence : PW-",
        "Titulaire : CASE-2026-004217",
        "fuseau horaire",
        "How to verify this letter",
        "Comment vérifier cette lettre",
        display(letter.content.code),
        letter.content.verify_url,
    ):
        assert expected in extracted


def test_french_ligatures_and_quotation_marks_survive_extraction(tmp_path: Path) -> None:
    content = dataclasses.replace(
        sample_content(LetterKind.ATTESTATION),
        note_en="The sign-in service was at the heart of it.",
        note_fr="Le service « Connexion » était au cœur de la panne.",
    )
    extracted = flat(poppler("pdftotext", render_pdf(content), tmp_path))
    assert "« Connexion » était au cœur de la panne." in extracted


def test_the_fonts_are_embedded_subsets_with_unicode_maps_so_the_letter_reads_the_same_everywhere(
    issued: dict[LetterKind, Issued], tmp_path: Path
) -> None:
    report = poppler("pdffonts", issued[LetterKind.EXTENSION].signed, tmp_path)
    fonts = [line.split() for line in report.splitlines()[2:] if line.strip()]
    assert {row[0].split("+")[1] for row in fonts} == {"DejaVuSans", "DejaVuSans-Bold"}
    assert all(row[-5:-2] == ["yes", "yes", "yes"] for row in fonts)  # emb, sub, uni


def test_the_metadata_names_the_letter_its_issuer_and_its_code(
    issued: dict[LetterKind, Issued], tmp_path: Path
) -> None:
    letter = issued[LetterKind.PAPER_FILING]
    info = dict(line.split(":", 1) for line in poppler("pdfinfo", letter.signed, tmp_path).splitlines() if ":" in line)
    title = f"Paper-filing exemption / Exemption de dépôt sur papier — {letter.content.reference}"
    assert info["Title"].strip() == title
    assert info["Author"].strip() == "Immigration portal status"
    assert "Permanent residence portal" in info["Subject"]
    assert f"portalwatch-letter:{letter.content.code}" in info["Keywords"]
    assert info["Pages"].strip() == "1"


def _words(pdf: bytes, tmp_path: Path) -> list[tuple[int, float, float, float, str]]:
    """(page, xMin, xMax, yMin from the top, text) of every word, as poppler lays them out."""
    html = poppler("pdftotext", pdf, tmp_path, "-bbox")
    words = []
    for page, body in enumerate(html.split("<page ")[1:], start=1):
        for match in re.finditer(r'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)<', body):
            words.append((page, float(match[1]), float(match[3]), float(match[2]), match[4]))
    return words


def _long_letter(outages: int = 3) -> LetterContent:
    long_name = "Programme d’aide à l’emploi et à la formation professionnelle des travailleurs étrangers temporaires"
    holder = "Coopérative agroalimentaire du Bas-Saint-Laurent inc."
    return dataclasses.replace(
        sample_content(LetterKind.EXTENSION, holder=holder, outages=outages),
        issuer_name="Surveillance des portails d’Immigration, Réfugiés et Citoyenneté Canada (IRCC)",
        component_name=long_name,
        component_id="temporary-foreign-worker-program-employer-portal",
        rules=(
            RuleLine("x" * 90, "é" * 90),  # one unbreakable word wider than a column
            RuleLine(
                "Every outage of more than thirty minutes between nine and five on a business day counts in full.",
                "Toute panne de plus de trente minutes entre neuf heures et dix-sept heures un jour ouvrable compte.",
            ),
        ),
    )


def test_every_word_of_the_letter_stays_inside_its_own_language_column(tmp_path: Path) -> None:
    words = _words(render_pdf(_long_letter()), tmp_path)
    body = [w for w in words if PAGE_HEIGHT - BODY_TOP < w[3] < PAGE_HEIGHT - BODY_BOTTOM]
    assert len(body) > 200
    english_right = COLUMN_X[0] + COLUMN_WIDTH + 0.5
    french_right = COLUMN_X[1] + COLUMN_WIDTH + 0.5
    for _, x_min, x_max, _, text in body:
        in_english = x_min >= MARGIN - 0.5 and x_max <= english_right
        in_french = x_min >= COLUMN_X[1] - 0.5 and x_max <= french_right
        assert in_english or in_french, f"{text!r} runs from {x_min} to {x_max}"
    assert all(w[2] <= PAGE_WIDTH - MARGIN + 0.5 for w in words)
    header = [w for w in words if w[3] < PAGE_HEIGHT - BODY_TOP - 14]
    issuer = [w for w in header if w[4] in ("Surveillance", "(IRCC)")]
    reference = [w for w in header if w[4].startswith("PW-EXT-") or w[4] == "inc.-v3"]
    assert issuer and reference
    assert max(w[2] for w in issuer) <= COLUMN_X[0] + COLUMN_WIDTH + 0.5  # the issuer keeps to the left half
    assert min(w[1] for w in reference) >= COLUMN_X[1] - 0.5  # the particulars keep to the right half


def test_a_long_letter_continues_on_more_pages_each_with_its_header_and_verification_block(tmp_path: Path) -> None:
    content = _long_letter(outages=70)
    pdf = render_pdf(content)
    pages = poppler("pdftotext", pdf, tmp_path).split("\f")[:-1]
    assert len(pages) >= 3
    for number, page in enumerate(pages, start=1):
        assert content.reference in flat(page)
        assert display(content.code) in page
        assert content.verify_url in page
        assert re.search(rf"^{number} ?/ ?{len(pages)}$", page, re.M)
    everything = flat(" ".join(pages))
    last = content.outages[-1]
    assert last.end is not None
    assert f"{(last.end - timedelta(hours=5)):%Y-%m-%d %H:%M:%S} EST (America/Toronto)" in everything
    assert "Comment vérifier cette lettre" in pages[-1]


def test_the_qr_code_drawn_is_exactly_the_verification_urls() -> None:
    url = sample_content(LetterKind.EXTENSION).verify_url
    expected = segno.make_qr(url, error="m").matrix
    count = len(expected) + 2 * QR_QUIET_MODULES
    drawn = [[0] * len(expected) for _ in expected]
    for match in re.finditer(r"^(\d+) (\d+) (\d+) 1 re$", qr_operators(url, 48.0, 30.0, 86.0), re.M):
        column, bottom, run = int(match[1]), int(match[2]), int(match[3])
        row = count - QR_QUIET_MODULES - 1 - bottom
        for c in range(column - QR_QUIET_MODULES, column - QR_QUIET_MODULES + run):
            drawn[row][c] = 1
    assert [list(row) for row in expected] == drawn


@FUZZ
@given(
    st.text(alphabet=st.characters(codec="latin-1", exclude_categories=("Cc", "Zs")) | st.just(" "), max_size=400),
    st.sampled_from([REGULAR, BOLD]),
    st.floats(min_value=60.0, max_value=300.0),
)
def test_wrapping_never_exceeds_the_width_and_loses_no_text(text: str, font: str, width: float) -> None:
    register_fonts()
    from reportlab.pdfbase.pdfmetrics import stringWidth

    lines = wrap(text, font, 9.0, width)
    assert all(stringWidth(line, font, 9.0) <= width + 1e-6 for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")


def test_rendering_is_pure_the_same_content_gives_the_same_words(tmp_path: Path) -> None:
    content = sample_content(LetterKind.ATTESTATION, outages=1)
    first, second = render_pdf(content), render_pdf(content)
    assert poppler("pdftotext", first, tmp_path) == poppler("pdftotext", second, tmp_path)


def test_an_outage_that_began_and_ended_in_the_same_second_shows_both_ends(tmp_path: Path) -> None:
    moment = datetime(2026, 7, 1, 16, 0, tzinfo=UTC)
    content = dataclasses.replace(sample_content(LetterKind.ATTESTATION), outages=(Window(moment, moment),))
    assert "from 2026-07-01 12:00:00 EDT to 2026-07-01 12:00:00 EDT (America/Toronto)" in flat(
        poppler("pdftotext", render_pdf(content), tmp_path)
    )
