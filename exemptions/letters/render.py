"""Laying a letter out as a PDF page, the way a government letter looks: drawn directly on a canvas.

The page is US Letter (the paper size of Canadian offices). A header names the issuer, the reference and
the issue date; below it the two official languages stand side by side in two columns of the same width,
font and size, each paragraph of one beside its translation, so neither language reads as the copy of the
other. Every page ends with the verification block: a QR code of the verification URL, the code in its
grouped form, and the URL in full, so a printed page alone is enough to check the letter.

Speed matters more than layout generality here (a large outage owes tens of thousands of letters at once),
so this draws lines of text on the reportlab canvas rather than going through platypus: the header and
the verification block are drawn once per document as form XObjects and placed on each page; the QR code
is a single vector path, one rectangle per run of dark modules, without any image.

The font is DejaVu Sans, shipped in `fonts/` with its license, so the output does not depend on what the
host has installed, and every French accent and ligature (é, è, à, ç, œ, «») has a glyph. Reportlab
embeds only the glyphs a document uses.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import segno
from reportlab import rl_config
from reportlab.lib.pagesizes import LETTER
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from exemptions.letters.codes import display
from exemptions.letters.content import TITLES, Block, LetterContent, Style, blocks, when

FONTS_DIR = Path(__file__).resolve().parent / "fonts"
REGULAR = "PortalWatchSans"
BOLD = "PortalWatchSans-Bold"

KEYWORD_PREFIX = "portalwatch-letter:"  # the verifier reads the code a file claims to be from this keyword
KIND_PREFIX = "portalwatch-kind:"

PAGE_WIDTH, PAGE_HEIGHT = LETTER
MARGIN = 48.0
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN
GUTTER = 20.0
COLUMN_WIDTH = (CONTENT_WIDTH - GUTTER) / 2
COLUMN_X = (MARGIN, MARGIN + COLUMN_WIDTH + GUTTER)

HEADER_TOP = PAGE_HEIGHT - 40.0
HEADER_RULE = HEADER_TOP - 44.0
BODY_TOP = HEADER_RULE - 14.0
FOOTER_RULE = 128.0
BODY_BOTTOM = FOOTER_RULE + 12.0
QR_SIZE = 86.0  # points, quiet zone included
QR_QUIET_MODULES = 2  # the white page around the block widens the quiet zone to the 4 modules readers want
PAGE_NUMBER_Y = 24.0

INK = (0.0, 0.0, 0.0)
MUTED = (0.33, 0.33, 0.33)
RULE = (0.6, 0.6, 0.6)


@dataclass(frozen=True)
class _Look:
    font: str
    size: float
    leading: float
    before: float
    after: float
    indent: float = 0.0


LOOKS: dict[Style, _Look] = {
    Style.TITLE: _Look(BOLD, 14.0, 18.0, 0.0, 5.0),
    Style.HEADING: _Look(BOLD, 9.5, 12.0, 6.0, 1.5),
    Style.META: _Look(REGULAR, 9.0, 11.5, 0.0, 1.0),
    Style.LEAD: _Look(REGULAR, 9.0, 11.5, 6.0, 3.5),
    Style.BODY: _Look(REGULAR, 9.0, 11.5, 0.0, 3.5),
    Style.ITEM: _Look(REGULAR, 9.0, 11.5, 0.0, 2.5, indent=10.0),
}
BULLET = "•"

_fonts_lock = threading.Lock()
_fonts_registered = False


def register_fonts() -> None:
    """Register the bundled fonts with reportlab, once per process (parsing them costs tens of ms)."""
    global _fonts_registered
    if _fonts_registered:
        return
    with _fonts_lock:
        if _fonts_registered:
            return
        # Streams are written binary (Flate only) rather than ASCII85 on top: PDF has been binary-safe
        # for decades, and reportlab's pure-Python ASCII85 costs milliseconds per letter and a quarter
        # more bytes. This is a process-wide reportlab setting; nothing else here draws PDFs.
        rl_config.useA85 = 0
        pdfmetrics.registerFont(TTFont(REGULAR, str(FONTS_DIR / "DejaVuSans.ttf")))
        pdfmetrics.registerFont(TTFont(BOLD, str(FONTS_DIR / "DejaVuSans-Bold.ttf")))
        _fonts_registered = True


@functools.lru_cache(maxsize=32768)
def _em_width(text: str, font: str) -> float:
    """Width at 1000 pt. Cached: letters repeat the same words, and the width sum runs in Python."""
    return float(pdfmetrics.stringWidth(text, font, 1000.0))


def _width(text: str, font: str, size: float) -> float:
    return _em_width(text, font) * size / 1000.0


def wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Break text into lines no wider than `width`.

    Only ordinary spaces break a line: French puts non-breaking spaces before colons and inside numbers
    (reportlab's simpleSplit breaks at those too). A single word wider than the column (a URL, a digest) is
    cut, after a slash when one fits, rather than let run into the other language's column.
    """
    lines: list[str] = []
    current = ""
    current_width = 0.0
    space = _width(" ", font, size)
    for word in text.split(" "):
        if not word:
            continue
        word_width = _width(word, font, size)
        if current and current_width + space + word_width <= width:
            current += " " + word
            current_width += space + word_width
            continue
        if current:
            lines.append(current)
        if word_width <= width:
            current, current_width = word, word_width
            continue
        pieces = _cut(word, font, size, width)
        lines.extend(pieces[:-1])
        current = pieces[-1]
        current_width = _width(current, font, size)
    if current or not lines:
        lines.append(current)
    return lines


def _cut(word: str, font: str, size: float, width: float) -> list[str]:
    pieces: list[str] = []
    start = 0
    used = 0.0
    for index, char in enumerate(word):
        char_width = _width(char, font, size)
        if used + char_width > width and index > start:
            slash = word.rfind("/", start, index)
            end = slash + 1 if slash >= start and slash + 1 - start >= (index - start) // 2 else index
            pieces.append(word[start:end])
            start = end
            used = _width(word[start:index], font, size)
        used += char_width
    pieces.append(word[start:])
    return pieces


# --- layout: where each line goes, page by page, before anything is drawn ------------------------


@dataclass(frozen=True)
class _Text:
    x: float
    y: float
    font: str
    size: float
    text: str


def _columns(block: Block) -> tuple[list[str], list[str]]:
    look = LOOKS[block.style]
    width = COLUMN_WIDTH - look.indent
    return wrap(block.en, look.font, look.size, width), wrap(block.fr, look.font, look.size, width)


def _height(block: Block) -> float:
    look = LOOKS[block.style]
    english, french = _columns(block)
    return look.before + max(len(english), len(french)) * look.leading


def _layout(parts: Sequence[Block]) -> list[list[_Text]]:
    """Place both columns block by block; a block starts at the same height in both languages."""
    pages: list[list[_Text]] = [[]]
    y = BODY_TOP
    for index, block in enumerate(parts):
        look = LOOKS[block.style]
        columns = _columns(block)
        rows = max(len(columns[0]), len(columns[1]))
        needed = look.before + rows * look.leading
        if block.style is Style.HEADING and index + 1 < len(parts):
            needed += _height(parts[index + 1])  # a heading stays with what it heads
        room = y - BODY_BOTTOM
        if needed > room and needed <= BODY_TOP - BODY_BOTTOM and y < BODY_TOP:
            pages.append([])
            y = BODY_TOP
        if y < BODY_TOP:
            y -= look.before
        for row in range(rows):
            if y - look.leading < BODY_BOTTOM:  # a block taller than a page continues on the next
                pages.append([])
                y = BODY_TOP
            y -= look.leading
            baseline = y + (look.leading - look.size) * 0.6
            for column, lines in enumerate(columns):
                if row >= len(lines):
                    continue
                x = COLUMN_X[column] + look.indent
                if block.style is Style.ITEM and row == 0:
                    pages[-1].append(_Text(COLUMN_X[column], baseline, look.font, look.size, BULLET))
                pages[-1].append(_Text(x, baseline, look.font, look.size, lines[row]))
        y -= look.after
    return pages


# --- drawing -------------------------------------------------------------------------------------


def _fit_size(text: str, font: str, size: float, width: float, smallest: float = 4.0) -> float:
    """The largest size, up to `size`, at which `text` fits on one line of `width`: a URL or a name must
    stay whole and must not run into its neighbour. Only names of absurd length come near the floor."""
    natural = _width(text, font, size)
    if natural <= width:
        return size
    return max(smallest, size * width / natural)


def _draw_header(canvas: Any, content: LetterContent) -> None:
    top = HEADER_TOP
    # The issuer on the left, the letter's particulars on the right: each in its own half of the page,
    # in a smaller size if a long name would otherwise run into the other.
    half = COLUMN_WIDTH
    canvas.setFillColorRGB(*INK)
    canvas.setFont(BOLD, _fit_size(content.issuer_name, BOLD, 13.0, half))
    canvas.drawString(MARGIN, top - 13.0, content.issuer_name)
    canvas.setFillColorRGB(*MUTED)
    canvas.setFont(REGULAR, _fit_size(content.issuer_url, REGULAR, 8.5, half))
    canvas.drawString(MARGIN, top - 26.0, content.issuer_url)

    right = PAGE_WIDTH - MARGIN
    canvas.setFont(REGULAR, 7.5)
    canvas.drawRightString(right, top - 8.0, "Reference / Référence")
    canvas.setFillColorRGB(*INK)
    canvas.setFont(BOLD, _fit_size(content.reference, BOLD, 9.5, half))
    canvas.drawRightString(right, top - 19.0, content.reference)
    canvas.setFillColorRGB(*MUTED)
    canvas.setFont(REGULAR, 7.5)
    canvas.drawRightString(right, top - 29.0, "Issued / Délivrée le")
    canvas.setFillColorRGB(*INK)
    canvas.setFont(REGULAR, 8.5)
    canvas.drawRightString(right, top - 39.0, when(content, content.issued_at))

    canvas.setStrokeColorRGB(*RULE)
    canvas.setLineWidth(0.6)
    canvas.line(MARGIN, HEADER_RULE, right, HEADER_RULE)
    middle = MARGIN + COLUMN_WIDTH + GUTTER / 2
    canvas.setLineWidth(0.4)
    canvas.line(middle, BODY_TOP + 4.0, middle, BODY_BOTTOM)
    canvas.setFillColorRGB(*MUTED)
    canvas.setFont(BOLD, 7.0)
    canvas.drawString(COLUMN_X[0], BODY_TOP + 2.0, "ENGLISH")
    canvas.drawString(COLUMN_X[1], BODY_TOP + 2.0, "FRANÇAIS")


def qr_operators(url: str, x: float, y: float, size: float) -> str:
    """PDF operators drawing the QR code of `url` in the square at (x, y) of side `size`, quiet zone included.

    One filled path, one rectangle per horizontal run of dark modules, written in module units under a
    scaling matrix: a few hundred rectangles through reportlab's path object cost milliseconds of number
    formatting per letter. The mask is chosen by segno's penalty rules, as the QR standard asks.
    """
    matrix = segno.make_qr(url, error="m").matrix
    count = len(matrix) + 2 * QR_QUIET_MODULES
    module = size / count
    ops = [f"q 0 g 1 0 0 1 {x:.3f} {y:.3f} cm {module:.5f} 0 0 {module:.5f} 0 0 cm"]
    for r, row in enumerate(matrix):
        bottom = count - QR_QUIET_MODULES - r - 1
        c = 0
        width = len(row)
        while c < width:
            if not row[c]:
                c += 1
                continue
            start = c
            while c < width and row[c]:
                c += 1
            ops.append(f"{start + QR_QUIET_MODULES} {bottom} {c - start} 1 re")
    ops.append("f Q")
    return "\n".join(ops)


def _draw_footer(canvas: Any, content: LetterContent) -> None:
    right = PAGE_WIDTH - MARGIN
    canvas.setStrokeColorRGB(*RULE)
    canvas.setLineWidth(0.6)
    canvas.line(MARGIN, FOOTER_RULE, right, FOOTER_RULE)
    qr_y = FOOTER_RULE - 4.0 - QR_SIZE
    canvas.addLiteral(qr_operators(content.verify_url, MARGIN, qr_y, QR_SIZE))

    x = MARGIN + QR_SIZE + 12.0
    width = right - x
    canvas.setFillColorRGB(*MUTED)
    canvas.setFont(REGULAR, 8.0)
    canvas.drawString(x, FOOTER_RULE - 16.0, "Verification code / Code de vérification")
    canvas.setFillColorRGB(*INK)
    canvas.setFont(BOLD, 17.0)
    canvas.drawString(x, FOOTER_RULE - 35.0, display(content.code))
    url_size = _fit_size(content.verify_url, REGULAR, 9.0, width)
    canvas.setFont(REGULAR, url_size)
    canvas.drawString(x, FOOTER_RULE - 50.0, content.verify_url)
    canvas.setFillColorRGB(*MUTED)
    lines = (
        "Scan the QR code or visit the address above to check this letter.",
        "Balayez le code QR ou visitez l’adresse ci-dessus pour vérifier cette lettre.",
        f"Digitally signed by {content.issuer_name}.",
        f"Signé numériquement par {content.issuer_name}.",
    )
    for offset, line in enumerate(lines):
        canvas.setFont(REGULAR, _fit_size(line, REGULAR, 7.5, width))
        canvas.drawString(x, FOOTER_RULE - 62.0 - offset * 9.5, line)


def render_pdf(content: LetterContent) -> bytes:
    """The letter as an unsigned PDF."""
    register_fonts()
    title_en, title_fr = TITLES[content.kind]
    # Content streams are compressed: letters are stored and mailed by the thousand, and zlib on a few
    # kilobytes costs far less than the signature.
    canvas = Canvas(None, pagesize=LETTER, pageCompression=1, initialFontName=REGULAR, initialFontSize=9.0)
    canvas.setTitle(f"{title_en} / {title_fr} — {content.reference}")
    canvas.setAuthor(content.issuer_name)
    canvas.setSubject(f"{title_en} / {title_fr}: {content.component_name}")
    canvas.setKeywords(f"{KEYWORD_PREFIX}{content.code} {KIND_PREFIX}{content.kind.value}")
    canvas.setCreator("PortalWatch")

    pages = _layout(blocks(content))
    # Header and footer are the same on every page: drawn once, placed by reference.
    canvas.beginForm("header")
    _draw_header(canvas, content)
    canvas.endForm()
    canvas.beginForm("footer")
    _draw_footer(canvas, content)
    canvas.endForm()

    total = len(pages)
    for number, lines in enumerate(pages, start=1):
        canvas.doForm("header")
        canvas.doForm("footer")
        canvas.setFillColorRGB(*INK)
        # One text object for the page's body, one positioned line at a time: drawString would make an
        # object per line and measure every line's width (in Python) only to throw it away.
        text = canvas.beginText()
        font: tuple[str, float] | None = None
        for line in lines:
            if font != (line.font, line.size):
                font = (line.font, line.size)
                text.setFont(*font)
            text.setTextOrigin(line.x, line.y)
            text.textLine(line.text)
        canvas.drawText(text)
        canvas.setFillColorRGB(*MUTED)
        canvas.setFont(REGULAR, 7.5)
        canvas.drawRightString(PAGE_WIDTH - MARGIN, PAGE_NUMBER_Y, f"{number} / {total}")
        canvas.showPage()
    data: bytes = canvas.getpdfdata()
    return data
