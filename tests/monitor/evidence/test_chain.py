"""The check log's chain: any edit, removal or insertion of a check is the first broken link found."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from monitor.evidence.chain import CheckFacts, StoredCheck, canonical, check_digest, evidence_digest, verify_chain

T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def facts(n: int, ok: bool = True) -> CheckFacts:
    return CheckFacts(
        probe_id="pr-home",
        location="toronto",
        slot=T0 + timedelta(seconds=10 * n),
        kind="scheduled",
        started_at=T0 + timedelta(seconds=10 * n, milliseconds=3),
        ok=ok,
        latency_ms=41.5 if ok else None,
        status_code=200 if ok else 503,
        error_class=None if ok else "status",
        error=None if ok else "expected status 200, got 503",
        evidence=f"GET https://portal.example/ #{n}",
    )


def chain(length: int, *, unchained: int = 0) -> list[StoredCheck]:
    stored: list[StoredCheck] = []
    previous: str | None = None
    for n in range(length):
        f = facts(n, ok=n % 3 != 1)
        if n < unchained:
            stored.append(StoredCheck(n + 1, f, None, None))
            continue
        digest = check_digest(f, previous)
        stored.append(StoredCheck(n + 1, f, previous, digest))
        previous = digest
    return stored


def test_an_untouched_chain_verifies() -> None:
    assert verify_chain(chain(20)) is None


def test_checks_recorded_before_the_log_was_chained_may_only_come_first() -> None:
    assert verify_chain(chain(10, unchained=4)) is None
    checks = chain(10)
    checks[6] = dataclasses.replace(checks[6], digest=None, prev_digest=None)
    broken = verify_chain(checks)
    assert broken is not None and broken.check_id == 7 and "digest is missing" in broken.problem


def test_an_edited_field_is_caught_at_the_check_that_was_edited() -> None:
    checks = chain(10)
    checks[4] = dataclasses.replace(checks[4], facts=dataclasses.replace(checks[4].facts, status_code=200))
    broken = verify_chain(checks)
    assert broken is not None and broken.check_id == 5 and "a field of this check was edited" in broken.problem


def test_an_edit_that_recomputes_the_edited_check_s_digest_is_caught_at_the_next_check() -> None:
    checks = chain(10)
    edited = dataclasses.replace(checks[4].facts, ok=True, error=None, error_class=None, status_code=200)
    checks[4] = dataclasses.replace(checks[4], facts=edited, digest=check_digest(edited, checks[4].prev_digest))
    broken = verify_chain(checks)
    assert broken is not None and broken.check_id == 6 and "before it" in broken.problem


def test_a_removed_check_is_caught_at_the_check_after_it() -> None:
    checks = chain(10)
    del checks[3]
    broken = verify_chain(checks)
    assert broken is not None and broken.check_id == 5


def test_a_check_slipped_in_is_caught() -> None:
    checks = chain(10)
    forged = facts(99)
    checks.insert(5, StoredCheck(100, forged, checks[4].digest, check_digest(forged, checks[4].digest)))
    broken = verify_chain(checks)
    assert broken is not None and broken.check_id == 6  # the real check after it no longer follows


def test_the_digest_does_not_depend_on_the_zone_a_time_is_given_in() -> None:
    f = facts(1)
    moved = dataclasses.replace(f, started_at=f.started_at.astimezone(timezone(timedelta(hours=-5))))
    assert check_digest(f, None) == check_digest(moved, None)


FIELDS = [field.name for field in dataclasses.fields(CheckFacts)]


@given(
    position=st.integers(min_value=0, max_value=7),
    name=st.sampled_from(FIELDS),
    text=st.text(min_size=1, max_size=20),
)
def test_changing_any_field_of_any_check_breaks_the_chain(position: int, name: str, text: str) -> None:
    checks = chain(8)
    original = checks[position].facts
    value = getattr(original, name)
    if isinstance(value, bool):
        changed: object = not value
    elif isinstance(value, datetime):
        changed = value + timedelta(microseconds=1)
    elif isinstance(value, int | float):
        changed = value + 1
    elif value is None:
        changed = 1.0 if name == "latency_ms" else text
    else:
        changed = value + text
    checks[position] = dataclasses.replace(checks[position], facts=dataclasses.replace(original, **{name: changed}))  # type: ignore[arg-type]
    broken = verify_chain(checks)
    assert broken is not None and broken.check_id == position + 1


def test_a_blind_check_has_a_digest_of_its_own_and_a_seeing_one_keeps_the_digest_it_always_had() -> None:
    seeing = facts(1)
    assert check_digest(dataclasses.replace(seeing, blind=True), None) != check_digest(seeing, None)
    assert b"blind" not in canonical(seeing)
    # The digest this check had before locations could be blind: stored chains keep verifying.
    assert check_digest(seeing, None) == "91ceae7669459a6313d90c25099fff86370f9d6ffb5fd9474c0b9cc70b2d4f19"


def pruned(check: StoredCheck) -> StoredCheck:
    """The check as retention leaves it: its text dropped, the SHA-256 of the text kept in its place."""
    kept = evidence_digest(check.facts.evidence)
    return dataclasses.replace(
        check,
        facts=dataclasses.replace(check.facts, evidence="", evidence_sha256=kept),
        evidence_sha256=kept,
        pruned=True,
    )


def with_kept_sha256(checks: list[StoredCheck]) -> list[StoredCheck]:
    return [dataclasses.replace(c, evidence_sha256=evidence_digest(c.facts.evidence)) for c in checks]


def test_a_chain_whose_evidence_text_was_pruned_still_verifies_on_the_sha256_kept_for_it() -> None:
    checks = with_kept_sha256(chain(10))
    checks[2], checks[3] = pruned(checks[2]), pruned(checks[3])
    assert verify_chain(checks) is None


def test_a_pruned_check_whose_kept_sha256_was_edited_is_caught() -> None:
    checks = with_kept_sha256(chain(10))
    checks[3] = pruned(checks[3])
    forged = "0" * 64
    checks[3] = dataclasses.replace(
        checks[3], facts=dataclasses.replace(checks[3].facts, evidence_sha256=forged), evidence_sha256=forged
    )
    broken = verify_chain(checks)
    assert broken is not None and broken.check_id == 4 and "a field of this check was edited" in broken.problem


def test_a_pruned_check_that_kept_no_sha256_or_whose_text_came_back_different_is_caught() -> None:
    checks = with_kept_sha256(chain(6))
    lost = pruned(checks[2])
    lost = dataclasses.replace(lost, facts=dataclasses.replace(lost.facts, evidence_sha256=None), evidence_sha256=None)
    broken = verify_chain([*checks[:2], lost, *checks[3:]])
    assert broken is not None and broken.check_id == 3
    rewritten = pruned(checks[2])
    rewritten = dataclasses.replace(rewritten, facts=dataclasses.replace(rewritten.facts, evidence="all fine"))
    broken = verify_chain([*checks[:2], rewritten, *checks[3:]])
    assert broken is not None and broken.check_id == 3 and "the text was edited" in broken.problem


def test_a_stored_sha256_that_no_longer_matches_the_kept_text_is_caught() -> None:
    checks = with_kept_sha256(chain(6))
    checks[4] = dataclasses.replace(checks[4], evidence_sha256="f" * 64)
    broken = verify_chain(checks)
    assert broken is not None and broken.check_id == 5 and "the stored digest was edited" in broken.problem
