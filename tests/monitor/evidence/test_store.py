"""The evidence store keeps pieces by their SHA-256: whole or not at all, once, and tells what is wrong with one."""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.evidence.store import EvidenceStore, FileStore, MissingPiece, valid_digest

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "evidence")


def test_a_piece_is_kept_under_its_digest_and_read_back(store: FileStore) -> None:
    digest = store.put(PNG)
    assert digest == sha(PNG)
    assert store.path(digest) == store.root / digest[:2] / digest
    assert store.read(digest) == PNG
    assert store.check(digest) is None
    assert stat.S_IMODE(store.path(digest).stat().st_mode) == 0o444  # evidence is read, never edited
    assert [p.name for p in store.root.rglob("*") if p.is_file()] == [digest]  # no temporary file left


def test_putting_the_same_bytes_again_keeps_one_file_and_marks_it_as_just_written(store: FileStore) -> None:
    digest = store.put(PNG)
    os.utime(store.path(digest), (1_000_000, 1_000_000))
    assert store.put(PNG) == digest
    assert store.path(digest).stat().st_mtime > 1_000_000
    assert sum(1 for p in store.root.rglob("*") if p.is_file()) == 1


def test_a_changed_byte_is_reported_with_the_digest_expected_and_found(store: FileStore) -> None:
    digest = store.put(PNG)
    path = store.path(digest)
    changed = bytearray(PNG)
    changed[100] ^= 0x01
    path.chmod(0o644)
    path.write_bytes(bytes(changed))
    problem = store.check(digest)
    assert problem is not None
    assert f"is {sha(bytes(changed))}, expected {digest}" in problem
    # Putting the true bytes again restores them.
    assert store.put(PNG) == digest
    assert store.check(digest) is None


def test_a_missing_piece_is_reported_and_reading_it_says_so(store: FileStore) -> None:
    digest = sha(b"never kept")
    problem = store.check(digest)
    assert problem is not None and "missing from the evidence store" in problem
    with pytest.raises(MissingPiece):
        store.read(digest)


def test_delete_removes_a_piece_unless_it_was_written_too_recently(store: FileStore) -> None:
    digest = store.put(PNG)
    assert store.delete(digest, min_age=3600) is False  # just written: someone may be about to list it
    assert store.read(digest) == PNG
    os.utime(store.path(digest), (1_000_000, 1_000_000))
    assert store.delete(digest, min_age=3600) is True
    assert store.check(digest) is not None
    assert store.delete(digest) is False  # already gone: nothing to do


@pytest.mark.parametrize(
    "name", ["", "../../etc/passwd", "A" * 64, "g" * 64, "0" * 63, "0" * 65, "/" + "0" * 63, "0" * 64 + "\n"]
)
def test_only_a_hex_sha256_names_a_piece(store: FileStore, name: str) -> None:
    for call in (store.path, store.read, store.check, store.delete):
        with pytest.raises(ValueError, match="not a hex SHA-256"):
            call(name)


def test_a_file_store_is_an_evidence_store(store: FileStore) -> None:
    kept: EvidenceStore = store
    assert kept.put(b"") == sha(b"")
    assert kept.read(sha(b"")) == b""


def test_writers_racing_on_the_same_piece_leave_it_whole(store: FileStore) -> None:
    data = os.urandom(512 * 1024)
    errors: list[BaseException] = []

    def put() -> None:
        try:
            for _ in range(20):
                store.put(data)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.check(sha(data)) is None
    assert sum(1 for p in store.root.rglob("*") if p.is_file()) == 1


@settings(max_examples=60, deadline=None)
@given(pieces=st.lists(st.binary(max_size=2048), max_size=6))
def test_any_bytes_are_kept_exactly_and_once(pieces: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        store = FileStore(directory)
        digests = [store.put(data) for data in pieces]
        assert digests == [sha(data) for data in pieces]
        for data, digest in zip(pieces, digests, strict=True):
            assert store.read(digest) == data
            assert store.check(digest) is None
        assert sum(1 for p in Path(directory).rglob("*") if p.is_file()) == len(set(digests))


@given(st.text(max_size=80))
def test_no_text_but_a_hex_sha256_is_taken_as_a_digest(text: str) -> None:
    try:
        assert valid_digest(text) == text
    except ValueError:
        return
    assert len(text) == 64 and set(text) <= set("0123456789abcdef")
