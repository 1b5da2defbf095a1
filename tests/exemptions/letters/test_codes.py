"""Verification codes: random enough to be unguessable, and forgiving of the ways people retype them."""

from __future__ import annotations

import re
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from exemptions.letters.codes import ALPHABET, ENTROPY_BITS, LENGTH, display, is_canonical, new_code, normalise

FUZZ = settings(max_examples=300, deadline=None, database=None)

codes = st.builds(lambda _: new_code(), st.integers())
canonical_codes = st.text(alphabet=ALPHABET, min_size=LENGTH, max_size=LENGTH)


def test_the_alphabet_is_crockford_base32_and_a_code_carries_at_least_60_random_bits() -> None:
    assert len(ALPHABET) == len(set(ALPHABET)) == 32
    assert set(ALPHABET) == set(string.digits + string.ascii_uppercase) - set("ILOU")
    assert ENTROPY_BITS == 65
    assert len(ALPHABET) ** LENGTH >= 2**60


def test_new_codes_are_canonical_and_do_not_repeat() -> None:
    drawn = [new_code() for _ in range(20_000)]
    assert all(is_canonical(code) and len(code) == 13 for code in drawn)
    assert len(set(drawn)) == len(drawn)
    # Every symbol turns up in every position: nothing is stuck (a sign the bits really are random).
    for position in range(LENGTH):
        assert {code[position] for code in drawn} == set(ALPHABET)


@FUZZ
@given(codes)
def test_a_code_is_shown_in_three_groups_of_four_five_and_four(code: str) -> None:
    shown = display(code)
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{5}-[0-9A-Z]{4}", shown)
    assert shown.replace("-", "") == code


@FUZZ
@given(canonical_codes, st.sampled_from(["-", " ", "  ", "\u2013", "\u2011", "\u00a0", ""]), st.booleans())
def test_a_code_typed_from_its_grouped_form_in_any_case_with_any_separator_reads_back_as_itself(
    code: str, separator: str, lower: bool
) -> None:
    typed = display(code).replace("-", separator)
    typed = typed.lower() if lower else typed
    assert normalise(f"  {typed}\t") == code


@FUZZ
@given(canonical_codes, st.data())
def test_o_for_zero_and_i_or_l_for_one_are_forgiven(code: str, data: st.DataObject) -> None:
    confused = "".join(
        data.draw(st.sampled_from("oO0")) if s == "0" else data.draw(st.sampled_from("iIlL1")) if s == "1" else s
        for s in code
    )
    assert normalise(confused) == code


def test_what_cannot_be_a_code_is_refused() -> None:
    code = new_code()
    assert normalise(code[:-1]) is None  # too short
    assert normalise(code + "0") is None  # too long
    assert normalise("U" + code[1:]) is None  # U is not in the alphabet: no guessing which letter was meant
    assert normalise(code[:6] + "!" + code[7:]) is None
    assert normalise("ı" + code[1:]) is None  # a dotless i upper-cases to I, but codes are ASCII
    assert normalise("") is None
    assert normalise("-" * 13) is None
    assert normalise(code + " " * 100) is None  # far longer than any way of typing a code


@FUZZ
@given(st.text(max_size=80))
def test_normalise_never_raises_and_returns_a_canonical_code_or_none(text: str) -> None:
    result = normalise(text)
    assert result is None or is_canonical(result)
