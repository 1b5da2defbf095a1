"""The evidence store: pieces too large for the check log (screenshots), kept by their SHA-256.

Content-addressed: a piece's name is the hex SHA-256 of its bytes, so the same bytes are kept once,
writing them again changes nothing, and anyone can tell whether what is kept is what was recorded.
The check log's chain covers each piece through its check's evidence text, which names the digest.

`FileStore` keeps each piece as a file `<root>/<first two hex digits>/<digest>`, written to a temporary
file in the same directory and moved into place (`os.replace`), so a reader never sees half a piece.
It touches files only: no database, and no transaction is ever open around it. Another backend (an
S3-compatible bucket) implements the same `EvidenceStore` protocol.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import time
from pathlib import Path
from typing import Protocol

_DIGEST = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1024 * 1024  # bytes read at a time when a piece is checked: memory stays flat whatever its size


class EvidenceStore(Protocol):
    def put(self, data: bytes) -> str:
        """Keep `data`; its hex SHA-256. Idempotent."""
        ...

    def read(self, digest: str) -> bytes:
        """The bytes kept under `digest`, as they are now (MissingPiece if none)."""
        ...

    def check(self, digest: str) -> str | None:
        """None when the piece is there and its bytes still have this digest; else what is wrong."""
        ...

    def delete(self, digest: str, *, min_age: float = 0.0) -> bool:
        """Remove the piece unless it was written less than `min_age` seconds ago; whether it was removed."""
        ...


class MissingPiece(LookupError):
    """No piece is kept under this digest."""


def valid_digest(digest: str) -> str:
    """`digest` if it is a hex SHA-256 (64 lowercase hex digits); anything else could name a path outside the store."""
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise ValueError(f"not a hex SHA-256: {digest!r:.80}")
    return digest


class FileStore:
    """Pieces as files under `root`: `root/ab/ab12…` (256 directories, so none grows too large)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"FileStore({str(self.root)!r})"

    def path(self, digest: str) -> Path:
        valid_digest(digest)
        return self.root / digest[:2] / digest

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if self._refresh(target, digest):
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{digest}.{os.getpid()}.{secrets.token_hex(4)}.part")
        try:
            with open(partial, "xb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(partial, 0o444)  # evidence is read, never edited
            os.replace(partial, target)  # atomic: readers see the whole piece or none
        finally:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
        _sync_directory(target.parent)
        return digest

    def _refresh(self, target: Path, digest: str) -> bool:
        """An intact piece already kept: mark it as just written (see `delete`'s `min_age`); True if so."""
        if self.check(digest) is not None:
            return False
        try:
            os.utime(target)
        except FileNotFoundError:  # removed since it was checked: write it again
            return False
        except PermissionError:  # kept by another user: it is there and intact, which is what matters
            return True
        return True

    def read(self, digest: str) -> bytes:
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError:
            raise MissingPiece(digest) from None

    def check(self, digest: str) -> str | None:
        path = self.path(digest)
        h = hashlib.sha256()
        try:
            with open(path, "rb") as handle:
                while chunk := handle.read(_CHUNK):
                    h.update(chunk)
        except FileNotFoundError:
            return f"its file is missing from the evidence store ({path})"
        except OSError as exc:
            return f"its file cannot be read ({path}: {exc.strerror or exc})"
        found = h.hexdigest()
        if found != digest:
            return f"its file's SHA-256 is {found}, expected {digest}: the file was changed ({path})"
        return None

    def delete(self, digest: str, *, min_age: float = 0.0) -> bool:
        path = self.path(digest)
        try:
            if min_age > 0 and time.time() - path.stat().st_mtime < min_age:
                return False
            path.unlink()
        except FileNotFoundError:
            return False
        return True


def _sync_directory(directory: Path) -> None:
    """The new name is on disk too, not only the file's bytes (a crash right after would lose it otherwise)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
