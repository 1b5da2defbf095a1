"""What every chain of SHA-256 links in PortalWatch shares (pure): the check log and the audit log.

A link's hash is SHA-256 over the previous link's hash (empty for the first), a newline, and the
link's canonical bytes; instants are written as whole microseconds since the epoch, in integers (a
float timestamp can round either way), so the same instant gives the same text whatever its zone or
back end. Each chain keeps its own canonical form: changing either would change every stored hash.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def instant_text(value: datetime, what: str) -> str:
    """`value` as hashed; `what` names it in the error for a naive time (e.g. "a check's times")."""
    if value.tzinfo is None:
        raise ValueError(f"{what} must be timezone-aware")
    return str((value - _EPOCH) // timedelta(microseconds=1))


def link_hash(previous: str | None, canonical: bytes) -> str:
    """The hash of a link whose predecessor's hash is `previous` (None: the first link)."""
    h = hashlib.sha256()
    h.update((previous or "").encode("ascii"))
    h.update(b"\n")
    h.update(canonical)
    return h.hexdigest()
