"""The audit log's chain: an edited field, a removed or inserted entry, a cut tail, each found where it is."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.audit.chain import EntryFacts, StoredEntry, Walk, canonical, entry_hash

T0 = datetime(2026, 11, 22, 14, 15, tzinfo=UTC)


def facts(n: int) -> EntryFacts:
    return EntryFacts(
        id=n,
        at=T0 + timedelta(seconds=n, microseconds=n),
        actor="otto" if n % 2 else "bootstrap",
        actor_id=1 if n % 2 else None,
        action="outage_corrected",
        subject=f"outage:{n}",
        before={"ended_at": None, "severity": "major_outage"},
        after={"ended_at": "2026-11-22T13:45:00+00:00", "severity": "partial_outage"},
        reason=f"The operator confirms the fix ({n})",
    )


def log(length: int) -> list[StoredEntry]:
    entries: list[StoredEntry] = []
    previous: str | None = None
    for n in range(1, length + 1):
        digest = entry_hash(facts(n), previous)
        entries.append(StoredEntry(facts(n), previous, digest))
        previous = digest
    return entries


def walk(entries: list[StoredEntry], head: tuple[int, str | None] | None = None) -> Walk:
    checked = Walk()
    checked.feed(entries[:3])  # in pages, as verify-audit reads them
    checked.feed(entries[3:])
    last = (entries[-1].facts.id, entries[-1].hash) if entries else (0, None)
    checked.finish(*(head or last))
    return checked


def test_an_untouched_log_verifies() -> None:
    entries = log(7)
    checked = walk(entries)
    assert checked.broken is None
    assert (checked.read, checked.last_id) == (7, 7)
    assert walk([]).broken is None


def test_the_canonical_form_is_fixed() -> None:
    # Stored hashes depend on it: this text may never change.
    assert canonical(facts(1)) == (
        b'["pw-audit-1",1,"1795356901000001","otto",1,"outage_corrected","outage:1",'
        b'{"ended_at":null,"severity":"major_outage"},'
        b'{"ended_at":"2026-11-22T13:45:00+00:00","severity":"partial_outage"},"The operator confirms the fix (1)"]'
    )


def test_the_same_instant_in_another_zone_hashes_the_same() -> None:
    moved = dataclasses.replace(facts(1), at=facts(1).at.astimezone(timezone(timedelta(hours=-5))))
    assert entry_hash(moved, None) == entry_hash(facts(1), None)
    with pytest.raises(ValueError, match="timezone-aware"):
        canonical(dataclasses.replace(facts(1), at=datetime(2026, 11, 22)))


@pytest.mark.parametrize(
    "field",
    ["at", "actor", "actor_id", "action", "subject", "before", "after", "reason"],
)
def test_an_edited_field_is_found_at_its_entry(field: str) -> None:
    entries = log(5)
    values: dict[str, Any] = {
        "at": T0,
        "actor": "mallory",
        "actor_id": 9,
        "action": "outage_declared",
        "subject": "outage:99",
        "before": {"ended_at": None, "severity": "partial_outage"},
        "after": {"ended_at": None},
        "reason": "nothing to see",
    }
    entries[2] = dataclasses.replace(entries[2], facts=dataclasses.replace(entries[2].facts, **{field: values[field]}))
    broken = walk(entries).broken
    assert broken is not None and broken.entry_id == 3
    assert "was edited" in broken.problem and "no longer matches its hash" in broken.problem


def test_an_entry_rehashed_after_an_edit_is_found_by_the_next() -> None:
    entries = log(5)
    edited = dataclasses.replace(entries[2].facts, reason="rewritten")
    entries[2] = StoredEntry(edited, entries[2].prev_hash, entry_hash(edited, entries[2].prev_hash))
    broken = walk(entries).broken
    assert broken is not None and broken.entry_id == 4
    assert "as the entry before it, but entry 3 has" in broken.problem


def test_a_removed_entry_is_named() -> None:
    entries = log(6)
    del entries[2]
    broken = walk(entries).broken
    assert broken is not None and broken.entry_id == 4
    assert broken.problem == "entry 3 is missing before it: removed from the log"
    del entries[2:4]
    assert walk(entries).broken.problem == "entries 3 to 5 are missing before it: removed from the log"  # type: ignore[union-attr]


def test_entries_cut_from_the_end_are_found_by_the_head() -> None:
    entries = log(6)
    head = (6, entries[-1].hash)
    broken = walk(entries[:4], head=head).broken
    assert broken is not None and broken.entry_id is None
    assert "entries were removed from the end" in broken.problem
    broken = walk(entries, head=(4, entries[3].hash)).broken
    assert broken is not None and "added without the head" in broken.problem


def test_an_entry_slipped_in_is_found() -> None:
    entries = log(4)
    slipped = dataclasses.replace(facts(3), actor="mallory")
    entries.insert(2, StoredEntry(slipped, entries[1].hash, entry_hash(slipped, entries[1].hash)))
    broken = walk(entries).broken
    assert broken is not None and broken.entry_id == 3  # the genuine entry 3, now after the slipped one
    assert "numbered 3" in broken.problem


@given(st.integers(min_value=1, max_value=12), st.data())
def test_any_single_edit_is_found_and_never_later_than_its_entry(length: int, data: st.DataObject) -> None:
    entries = log(length)
    index = data.draw(st.integers(min_value=0, max_value=length - 1))
    entries[index] = dataclasses.replace(entries[index], facts=dataclasses.replace(entries[index].facts, actor="x"))
    broken = walk(entries).broken
    assert broken is not None and broken.entry_id == index + 1
