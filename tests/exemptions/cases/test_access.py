"""Access codes: normalised, kept only as a slow scrypt hash, checked in constant time with the same work whether
or not there is a hash to check against."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exemptions.cases import access
from exemptions.cases.access import (
    DUMMY_HASH,
    SCRYPT_N,
    SCRYPT_P,
    SCRYPT_R,
    AccessCode,
    hash_code,
    hash_many,
    hash_to_store,
    needs_rehash,
    normalise_code,
    parse_hash,
    verify_code,
)

CODE = "ABCD1234"
# Cheap parameters where a test makes many hashes; the defaults where the cost itself is the point.
CHEAP = {"n": 2**4, "r": 1, "p": 1}


@pytest.fixture(scope="module")
def stored() -> str:
    return hash_code(CODE)


# --- normalising ----------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["ABCD1234", "abcd1234", "abcd-1234", " AbCd 12-34 ", "A-B-C-D-1-2-3-4"])
def test_a_code_as_a_person_types_it_normalises_to_the_same_code(typed: str) -> None:
    assert normalise_code(typed) == "ABCD1234"


def test_only_letters_a_to_z_are_uppercased_so_no_other_letter_turns_into_a_valid_one() -> None:
    assert normalise_code("straße-ﬁ12") == "STRAßEﬁ12"


# --- the hash -------------------------------------------------------------------------------------


def test_the_hash_is_scrypt_with_its_parameters_a_16_byte_salt_and_a_32_byte_key(stored: str) -> None:
    scheme, n, r, p, salt, key = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", "4096", "8", "1")
    assert (len(base64.b64decode(salt, validate=True)), len(base64.b64decode(key, validate=True))) == (16, 32)
    assert len(stored) <= 200  # the column's size
    assert CODE not in stored


def test_the_stored_value_is_never_the_code_and_two_hashes_of_one_code_differ(stored: str) -> None:
    again = hash_code(CODE)
    assert again != stored  # a random salt each time
    assert verify_code(CODE, again) and verify_code(CODE, stored)


def test_the_right_code_verifies_as_typed_in_any_form_and_a_wrong_one_does_not(stored: str) -> None:
    assert verify_code("abcd-1234", stored)
    assert verify_code(" ABCD 1234 ", stored)
    assert verify_code(AccessCode("abcd1234"), stored)
    assert not verify_code("ABCD1235", stored)
    assert not verify_code("", stored)


def test_a_hash_keeps_verifying_with_its_own_parameters_after_the_defaults_change() -> None:
    old = hash_code(CODE, **CHEAP)
    assert old.startswith("scrypt$16$1$1$")
    assert verify_code(CODE, old)
    assert not verify_code("ABCD1235", old)
    assert needs_rehash(old)
    assert not needs_rehash(hash_code(CODE))


@pytest.mark.parametrize("code", ["", "ABC1234", "A" * 65, "ABCD_1234", "ÉCOLE2026", "ABCD\udcff1234"])
def test_an_invalid_code_is_not_hashed_and_the_error_does_not_repeat_it(code: str) -> None:
    with pytest.raises(ValueError) as raised:
        hash_code(code)
    assert "must be 8 to 64 letters" in str(raised.value)
    assert not code or code not in str(raised.value)


@pytest.mark.parametrize(("n", "r", "p"), [(1000, 8, 1), (1, 8, 1), (2**21, 8, 1), (2**12, 0, 1), (2**18, 32, 1)])
def test_parameters_out_of_bounds_are_refused(n: int, r: int, p: int) -> None:
    with pytest.raises(ValueError):
        hash_code(CODE, n=n, r=r, p=p)


# --- the same work whatever is looked up ----------------------------------------------------------


@pytest.fixture
def scrypt_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """Every scrypt computed, with its parameters and salt."""
    calls: list[dict[str, Any]] = []
    real = hashlib.scrypt

    def spy(password: bytes, **kwargs: Any) -> bytes:
        calls.append(kwargs)
        return real(password, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", spy)
    yield calls


def test_the_dummy_hash_is_made_with_the_default_parameters() -> None:
    parsed = parse_hash(DUMMY_HASH)
    assert parsed is not None
    n, r, p, salt, key = parsed
    assert (n, r, p, len(salt), len(key)) == (SCRYPT_N, SCRYPT_R, SCRYPT_P, 16, 32)
    assert not needs_rehash(DUMMY_HASH)


def salt_of(stored: str) -> bytes:
    return base64.b64decode(stored.split("$")[4])


def test_looking_up_an_unknown_case_does_the_work_of_a_real_check_against_the_dummy_hash(
    stored: str, scrypt_calls: list[dict[str, Any]]
) -> None:
    assert verify_code(CODE, stored)
    assert not verify_code(CODE, None)
    real, dummy = scrypt_calls
    assert (real["salt"], dummy["salt"]) == (salt_of(stored), salt_of(DUMMY_HASH))
    assert {k: v for k, v in dummy.items() if k != "salt"} == {k: v for k, v in real.items() if k != "salt"}
    assert (dummy["n"], dummy["r"], dummy["p"], dummy["dklen"]) == (SCRYPT_N, SCRYPT_R, SCRYPT_P, 32)


@pytest.mark.parametrize(
    "malformed",
    [
        None,
        "",
        "ABCD1234",
        "scrypt$4096$8$1$not base64!$AAAA",
        "scrypt$4096$8$1$AAAAAAAAAAAAAAAAAAAAAA==",
        "scrypt$4095$8$1$AAAAAAAAAAAAAAAAAAAAAA==$" + "A" * 44,
        "scrypt$1048576$32$16$AAAAAAAAAAAAAAAAAAAAAA==$" + "A" * 44,  # would take gigabytes
        "scrypt$²$8$1$AAAAAAAAAAAAAAAAAAAAAA==$" + "A" * 44,
        "bcrypt$4096$8$1$AAAAAAAAAAAAAAAAAAAAAA==$" + "A" * 44,
        "scrypt$4096$8$1$AAAAAAAAAAAAAAAAAAAAAA==$" + "A" * 44 + "$",
        "x" * 100_000,
    ],
)
def test_a_missing_or_malformed_hash_answers_false_after_the_default_work(
    malformed: str | None, scrypt_calls: list[dict[str, Any]]
) -> None:
    assert verify_code(CODE, malformed) is False
    assert [(c["n"], c["r"], c["p"], c["salt"]) for c in scrypt_calls] == [
        (SCRYPT_N, SCRYPT_R, SCRYPT_P, salt_of(DUMMY_HASH))
    ]


@pytest.mark.parametrize("code", ["", "short", "A" * 10_000, "ABCD\x001234", "\udcff" * 8, None, 12345678, b"ABCD1234"])
def test_a_code_that_cannot_be_valid_answers_false_after_the_same_work(
    code: Any, stored: str, scrypt_calls: list[dict[str, Any]]
) -> None:
    assert verify_code(code, stored) is False
    (call,) = scrypt_calls
    assert (call["n"], call["r"], call["p"], call["salt"]) == (SCRYPT_N, SCRYPT_R, SCRYPT_P, salt_of(stored))


@settings(deadline=None, database=None, max_examples=60)
@given(st.one_of(st.none(), st.text(max_size=120)), st.one_of(st.none(), st.text(max_size=120)))
def test_verify_code_never_raises_on_any_text(code: str | None, stored: str | None) -> None:
    assert verify_code(code, stored) in (True, False)


# --- what an import stores ------------------------------------------------------------------------


def test_an_unchanged_code_keeps_its_stored_hash_and_a_changed_one_gets_a_new_hash(stored: str) -> None:
    assert hash_to_store(AccessCode(CODE), stored) == stored
    changed = hash_to_store(AccessCode("ABCD1235"), stored)
    assert changed is not None and changed != stored and verify_code("ABCD1235", changed)
    assert hash_to_store(None, stored) is None


def test_an_unchanged_code_whose_hash_has_old_parameters_gets_a_new_hash_with_todays() -> None:
    old = hash_code(CODE, **CHEAP)
    new = hash_to_store(AccessCode(CODE), old)
    assert new is not None and new != old and not needs_rehash(new) and verify_code(CODE, new)


def test_hash_many_hashes_each_code_in_order_and_calls_between_between_slices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(access, "HASH_SLICE", 3)
    monkeypatch.setattr(access, "hash_code", lambda code: hash_code(code, **CHEAP))
    codes = [None if i % 4 == 0 else AccessCode(f"CODE{i:04d}") for i in range(10)]
    ticks: list[int] = []
    hashes = hash_many(codes, [None] * 10, between=lambda: ticks.append(1))
    assert [h is None for h in hashes] == [c is None for c in codes]
    for i, made in enumerate(hashes):
        if made is not None:
            assert verify_code(f"code-{i:04d}", made) and not verify_code(f"CODE{(i + 1) % 10:04d}", made)
    assert len(ticks) == 2  # 7 codes in slices of 3: between the three slices


def test_hash_many_with_no_code_does_no_work(scrypt_calls: list[dict[str, Any]]) -> None:
    assert hash_many([None, None], [None, "x"]) == [None, None]
    assert scrypt_calls == []
