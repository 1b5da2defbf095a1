"""Letters for the tests: one signing key per session (made like production's self-signed one), a second
key standing for somebody else, a signed letter of every kind, and poppler's tools run as a reader would.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from exemptions.letters import LetterContent, Signer, render_pdf
from exemptions.letters.samples import sample_content
from monitor.storage.enums import LetterKind

PAGE_NAME = "Test portal status"


@dataclass(frozen=True)
class Issued:
    content: LetterContent
    unsigned: bytes
    signed: bytes


@pytest.fixture(scope="session")
def signer(tmp_path_factory: pytest.TempPathFactory) -> Signer:
    return Signer.self_signed(tmp_path_factory.mktemp("letters-key") / "letters", PAGE_NAME)


@pytest.fixture(scope="session")
def other_signer(tmp_path_factory: pytest.TempPathFactory) -> Signer:
    return Signer.self_signed(tmp_path_factory.mktemp("other-key"), PAGE_NAME)


@pytest.fixture(scope="session")
def issued(signer: Signer) -> dict[LetterKind, Issued]:
    letters = {}
    for kind in LetterKind:
        content = sample_content(kind)
        unsigned = render_pdf(content)
        letters[kind] = Issued(content, unsigned, signer.sign(unsigned, reason=f"PortalWatch {kind.value}"))
    return letters


def poppler(tool: str, pdf: bytes, tmp_path: Path, *args: str) -> str:
    """Run one of poppler's command-line tools (pdfsig, pdftotext, pdffonts, pdfinfo) on these bytes."""
    path = tmp_path / f"{tool}-{len(list(tmp_path.iterdir()))}.pdf"
    path.write_bytes(pdf)
    to_stdout = ["-enc", "UTF-8", *args, str(path), "-"] if tool == "pdftotext" else [*args, str(path)]
    command = [tool, *to_stdout]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    return done.stdout + done.stderr
