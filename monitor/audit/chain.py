"""Each audit entry's hash, and the walk that finds the first entry that no longer verifies (pure).

The audit log is chained the way the check log is (monitor.evidence.chain): an entry's hash is SHA-256
over the hash of the entry before it and a canonical form of what the entry records (its number, when,
who, what, before → after and why). Entries are numbered from 1 with no gap, and the log's head keeps
the last number and hash. So editing any stored field, removing an entry (in the middle or at the end),
or slipping one in changes something a later entry or the head depends on, and `python -m monitor
verify-audit` names the first entry that does not verify.

The canonical form is written out here rather than taken from a serialisation library's defaults: it
must never change between versions, or every stored chain would stop verifying.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.hashchain import instant_text, link_hash

FORMAT = "pw-audit-1"  # named in every hash, so a future form can be told apart from this one
WHAT = "an audit entry's time"  # as a naive time is named in the error


@dataclass(frozen=True, slots=True)
class EntryFacts:
    """What an audit entry records, as its hash covers it."""

    id: int
    at: datetime
    actor: str
    actor_id: int | None
    action: str
    subject: str
    before: Any  # JSON values: objects, lists, text, integers, booleans, null
    after: Any
    reason: str | None


def canonical(facts: EntryFacts) -> bytes:
    """The entry as hashed: a JSON array, objects with sorted keys, ASCII only, no spaces."""
    return json.dumps(
        [
            FORMAT,
            facts.id,
            instant_text(facts.at, WHAT),
            facts.actor,
            facts.actor_id,
            facts.action,
            facts.subject,
            facts.before,
            facts.after,
            facts.reason,
        ],
        sort_keys=True,
        ensure_ascii=True,
        allow_nan=False,
        separators=(",", ":"),
    ).encode("ascii")


def entry_hash(facts: EntryFacts, previous: str | None) -> str:
    """The hash of an entry whose predecessor's hash is `previous` (None: the first entry)."""
    return link_hash(previous, canonical(facts))


@dataclass(frozen=True, slots=True)
class StoredEntry:
    facts: EntryFacts
    prev_hash: str | None
    hash: str


@dataclass(frozen=True)
class Broken:
    """The first entry that does not verify (None for the head), and what differs."""

    entry_id: int | None
    problem: str
    at: datetime | None = None
    actor: str | None = None
    action: str | None = None
    subject: str | None = None


class Walk:
    """Verifies the log entry by entry in the order of their numbers, so it can be read in pages."""

    def __init__(self) -> None:
        self.last_id = 0
        self.last_hash: str | None = None
        self.read = 0
        self.broken: Broken | None = None

    def feed(self, entries: Iterable[StoredEntry]) -> Broken | None:
        """Check the next entries; the first that does not verify (then stop feeding), or None."""
        for entry in entries:
            if self.broken is not None:
                break
            self.read += 1
            self.broken = self._check(entry)
            self.last_id, self.last_hash = entry.facts.id, entry.hash
        return self.broken

    def _check(self, entry: StoredEntry) -> Broken | None:
        facts = entry.facts

        def broken(problem: str) -> Broken:
            return Broken(facts.id, problem, facts.at, facts.actor, facts.action, facts.subject)

        if facts.id != self.last_id + 1:
            if facts.id <= self.last_id:
                return broken(f"it comes after entry {self.last_id} but is numbered {facts.id}")
            missing = (
                f"entry {self.last_id + 1} is"
                if facts.id == self.last_id + 2
                else f"entries {self.last_id + 1} to {facts.id - 1} are"
            )
            return broken(f"{missing} missing before it: removed from the log")
        if entry.prev_hash != self.last_hash:
            return broken(
                f"it names {_short(entry.prev_hash)} as the entry before it, but entry {self.last_id} has "
                f"{_short(self.last_hash)}: an entry before it was edited, removed or replaced"
            )
        computed = entry_hash(facts, entry.prev_hash)
        if computed != entry.hash:
            return broken(
                f"what it records no longer matches its hash (stored {entry.hash[:12]}…, computed {computed[:12]}…): "
                "a field of this entry (when, who, what, before, after or why) was edited"
            )
        return None

    def finish(self, head_last_id: int, head_hash: str | None) -> Broken | None:
        """Check the head against the last entry read: catches entries removed from the end, or added after it."""
        if self.broken is not None:
            return self.broken
        if head_last_id != self.last_id or head_hash != self.last_hash:
            if head_last_id > self.last_id:
                problem = (
                    f"the log's head names entry {head_last_id} ({_short(head_hash)}) as the last, but the last "
                    f"entry is {self.last_id or 'none'}: entries were removed from the end"
                )
            elif head_last_id < self.last_id:
                problem = (
                    f"the log's head names entry {head_last_id} as the last, but there are entries up to "
                    f"{self.last_id}: entries were added without the head"
                )
            else:
                problem = (
                    f"the log's head has {_short(head_hash)} for entry {head_last_id}, which has "
                    f"{_short(self.last_hash)}: the head or the last entry's hash was edited"
                )
            self.broken = Broken(None, problem)
        return self.broken


def _short(digest: str | None) -> str:
    return "no hash" if digest is None else f"{digest[:12]}…"
