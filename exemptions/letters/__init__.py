"""Letters: the signed bilingual PDFs that grant an extension or a paper-filing exemption, or attest an outage.

`content` says what a letter states (pure, testable as text), `render` lays it out as a PDF, `signing`
signs it and checks a file brought back, and `codes` makes the short code people type to verify one.
"""

from exemptions.letters.codes import display, new_code, normalise
from exemptions.letters.content import LetterContent, RuleLine, Window, paragraphs, verify_url_for
from exemptions.letters.render import render_pdf
from exemptions.letters.signing import Signer, Validation

__all__ = [
    "LetterContent",
    "RuleLine",
    "Signer",
    "Validation",
    "Window",
    "display",
    "new_code",
    "normalise",
    "paragraphs",
    "render_pdf",
    "verify_url_for",
]
