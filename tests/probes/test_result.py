"""What a probe returns: larger pieces of evidence travel as attachments, named by SHA-256 in the evidence."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from probes.result import Attachment, CheckResult, ErrorClass, judged, named_pieces, piece_line

AT = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)


def failed(evidence: str, *attachments: Attachment) -> CheckResult:
    return judged("pr-home", "local", AT, (ErrorClass.STATUS, "got 503"), evidence, attachments=attachments)


@given(st.binary(max_size=4096))
def test_an_attachment_is_named_by_the_sha256_of_its_bytes_and_never_shows_them(data: bytes) -> None:
    attachment = Attachment("screenshot", "image/png", data)
    assert attachment.sha256 == hashlib.sha256(data).hexdigest()
    assert attachment.size == len(data)
    result = failed(f"screenshot: sha256:{attachment.sha256} ({len(data)} bytes)", attachment)
    assert result.attachments == (attachment,)
    for text in (repr(attachment), repr(result), str(result)):
        assert "data=" not in text
        if len(data) >= 16:
            assert repr(data)[2:-1] not in text


def test_the_evidence_must_name_each_attachment_by_its_digest() -> None:
    picture = Attachment("screenshot", "image/png", b"\x89PNG...")
    with pytest.raises(ValueError, match="must name attachment 'screenshot' on a line of its own"):
        failed("screenshot: kept", picture)
    with pytest.raises(ValueError, match="must name attachment 'screenshot'"):
        failed(f"see sha256:{picture.sha256}", picture)
    assert failed(f"GET /\n{piece_line(picture)}\nHTTP 503", picture).attachments == (picture,)
    other = Attachment("screenshot", "image/png", b"\x89PNG,,,")
    with pytest.raises(ValueError, match="unique"):
        failed(f"sha256:{picture.sha256} sha256:{other.sha256}", picture, other)


@pytest.mark.parametrize("name", ["", "Screenshot", "../etc", "a/b", "x" * 65, "shot 1"])
def test_an_attachment_name_is_safe_in_a_path(name: str) -> None:
    with pytest.raises(ValueError, match="attachment name"):
        Attachment(name, "image/png", b"")


def test_an_attachment_needs_a_content_type() -> None:
    with pytest.raises(ValueError, match="content type"):
        Attachment("screenshot", "", b"")


def test_the_pieces_named_in_evidence_are_read_back_from_their_lines_only() -> None:
    picture = Attachment("screenshot", "image/png", b"\x89PNG")
    text = f"probed from: local\n{piece_line(picture)}\nbody: x {piece_line(picture)}"
    assert named_pieces(text) == [("screenshot", picture.sha256)]
    assert named_pieces("no pieces here") == []
