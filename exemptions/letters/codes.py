"""Verification codes: the short string a person types to check that a letter is one PortalWatch issued.

A code is read off paper, over the phone, or from a screenshot, then typed by someone who may confuse O
with 0 or I with 1. So codes use Crockford's base32 alphabet (digits and capitals without I, L, O and U),
and `normalise` forgives exactly the confusions that alphabet was designed for: case, separators, O for
zero, I or L for one. U is left out of the alphabet so that no code spells a word by accident; a typed U is
rejected rather than guessed at.

Thirteen symbols of 5 bits each carry 65 random bits: far too many to guess, even at millions of tries, so
a code on its own may safely point at a letter's public verification page.

The canonical form (stored, compared, put in URLs) is the 13 upper-case symbols without separators. People
see it grouped 4-5-4 (`7KQ2-M9XD3-FPAV`): three short groups, none longer than five symbols, and no lone
trailing symbol to drop while copying.
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 13
GROUPS = (4, 5, 4)

BITS_PER_SYMBOL = 5  # len(ALPHABET) == 2**5
ENTROPY_BITS = LENGTH * BITS_PER_SYMBOL

# What a person may type that carries no meaning: spaces of any kind and the dashes a word processor or
# a PDF viewer substitutes for a hyphen when the grouped form is copied.
_SEPARATORS = re.compile(r"[\s\-\u2010\u2011\u2012\u2013\u2014\u2212]+")
# The confusable letters, after upper-casing (Crockford's decoding rules).
_CONFUSABLES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_ALLOWED = frozenset(ALPHABET)
# Generous for any grouped form with stray spaces; anything longer is not a code, and is not worth scanning.
_MAX_INPUT = 64


def new_code() -> str:
    """A fresh random code in canonical form (13 symbols, 65 bits from the operating system's CSPRNG)."""
    value = secrets.randbits(ENTROPY_BITS)
    symbols = []
    for _ in range(LENGTH):
        value, index = divmod(value, len(ALPHABET))
        symbols.append(ALPHABET[index])
    return "".join(reversed(symbols))


def is_canonical(code: str) -> bool:
    return len(code) == LENGTH and all(symbol in _ALLOWED for symbol in code)


def display(code: str) -> str:
    """The grouped form people read: `7KQ2-M9XD3-FPAV`. Raises ValueError for a non-canonical code."""
    if not is_canonical(code):
        raise ValueError("not a canonical verification code")
    parts = []
    start = 0
    for size in GROUPS:
        parts.append(code[start : start + size])
        start += size
    return "-".join(parts)


def normalise(text: str) -> str | None:
    """What a person typed, as a canonical code; None when it cannot be one. Never raises."""
    if not isinstance(text, str) or len(text) > _MAX_INPUT:
        return None
    compact = _SEPARATORS.sub("", text)
    # Only ASCII: upper-casing some other letters lands inside the alphabet (the dotless ı becomes I),
    # and a code is never written with them.
    if not compact.isascii():
        return None
    candidate = compact.upper().translate(_CONFUSABLES)
    return candidate if is_canonical(candidate) else None
