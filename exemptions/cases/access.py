"""Access codes: what a case's holder types to look the case up themselves, kept only as a slow hash.

What is hashed and compared is the code normalised (`normalise_code`): surrounding whitespace, spaces and hyphens
removed, the letters a to z uppercased. So a code is not case-sensitive, and `abcd-1234`, `ABCD 1234` and
`ABCD1234` are one code: people copy codes from letters and type them on phones. A valid code is then 8 to 64
letters A to Z or digits (`code_problem` says what is wrong otherwise, never repeating the code itself).

The hash is scrypt with N = 2**12, r = 8, p = 1, a 16-byte random salt and a 32-byte key:

- memory-hard: each guess needs 128 * r * N bytes, 4 MiB, so guessing codes from a stolen table costs memory as
  well as time, and graphics cards and custom chips gain little over an ordinary core;
- about 15 ms per hash on one core of the machine it was chosen on: a lookup is unnoticeable, and an import
  hashes a code per case (`hash_many`). `hashlib.scrypt` releases the GIL, so a few threads use every core;
- the parameters are stored in each hash (`scrypt$<n>$<r>$<p>$<salt>$<key>`, salt and key in standard base64),
  so the cost can be raised later: old hashes keep verifying with their own parameters, and `needs_rehash`
  tells which ones an import should replace.

`verify_code` spends the same work whether or not there is a hash to check against (it checks against
DUMMY_HASH otherwise), so a lookup takes as long for an unknown case as for a wrong code.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

SCHEME = "scrypt"
SCRYPT_N = 2**12
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
KEY_BYTES = 32
MIN_LENGTH = 8
MAX_LENGTH = 64
# The most memory one hash may take, whatever parameters a stored hash claims (a damaged or planted hash must
# not make a lookup allocate gigabytes).
MAX_MEMORY = 256 * 1024 * 1024
# Threads an import hashes on: each holds 128 * r * N bytes (4 MiB) while it hashes.
HASH_THREADS = min(4, max(2, os.cpu_count() or 2))
HASH_SLICE = 512  # codes hashed between two calls of hash_many's `between`

_VALID = re.compile(f"[A-Z0-9]{{{MIN_LENGTH},{MAX_LENGTH}}}")
_DIGITS = re.compile("[0-9]{1,10}")
_REMOVED = str.maketrans({" ": None, "-": None})
_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


class AccessCode:
    """A normalised access code that does not show itself: repr, str and formatting give `<access code>`, so a
    row holding one can be logged or shown in an error without disclosing it. `reveal()` gives the code."""

    __slots__ = ("_code",)

    def __init__(self, code: str) -> None:
        self._code = normalise_code(code)

    def reveal(self) -> str:
        return self._code

    def __repr__(self) -> str:
        return "<access code>"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AccessCode):
            return NotImplemented
        return hmac.compare_digest(
            self._code.encode(errors="surrogatepass"), other._code.encode(errors="surrogatepass")
        )

    def __hash__(self) -> int:
        return hash(self._code)


def normalise_code(text: str) -> str:
    """The code as hashed and compared: stripped, spaces and hyphens removed, letters a to z uppercased."""
    return text.strip().translate(_REMOVED).translate(_UPPER)


def code_problem(normalised: str) -> str | None:
    """Why a normalised code is not valid, or None. Says how long it is, never what it is."""
    if _VALID.fullmatch(normalised):
        return None
    rule = f"must be {MIN_LENGTH} to {MAX_LENGTH} letters (A to Z) or digits"
    others = sum(1 for char in normalised if not ("A" <= char <= "Z" or "0" <= char <= "9"))
    got = f"{len(normalised)} characters, {others} of them neither" if others else f"{len(normalised)}"
    return f"{rule} (got {got}); spaces and hyphens do not count"


def read_access_code(raw: str) -> tuple[AccessCode | None, str | None]:
    """A non-empty cell of the `access_code` column: (the code, None) or (None, why it is refused)."""
    normalised = normalise_code(raw)
    problem = code_problem(normalised)
    if problem is not None:
        return None, problem
    return AccessCode(normalised), None


# --- hashing -------------------------------------------------------------------------------------


def _cost_problem(n: int, r: int, p: int) -> str | None:
    if not (2 <= n <= 2**20 and n & (n - 1) == 0):
        return "n must be a power of 2 from 2 to 2**20"
    if not (1 <= r <= 32 and 1 <= p <= 16):
        return "r must be from 1 to 32 and p from 1 to 16"
    if _memory(n, r, p) > MAX_MEMORY:
        return f"n, r and p together need more than {MAX_MEMORY // 2**20} MiB"
    return None


def _memory(n: int, r: int, p: int) -> int:
    return 128 * r * (n + p + 2)  # what OpenSSL allocates: V (n + 2 blocks) and B (p blocks)


def _derive(secret: bytes, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(secret, salt=salt, n=n, r=r, p=p, maxmem=_memory(n, r, p) + 2**20, dklen=length)


def _text_of(code: AccessCode | str) -> str:
    return code.reveal() if isinstance(code, AccessCode) else code


def hash_code(code: AccessCode | str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """`scrypt$<n>$<r>$<p>$<salt>$<key>` of the normalised code. Raises ValueError (without the code in its
    message) when the code is not valid or the parameters are out of bounds."""
    normalised = normalise_code(_text_of(code))
    problem = code_problem(normalised) or _cost_problem(n, r, p)
    if problem is not None:
        raise ValueError(f"cannot hash this access code: {problem}")
    salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(normalised.encode("ascii"), salt, n, r, p, KEY_BYTES)
    return f"{SCHEME}${n}${r}${p}${_b64(salt)}${_b64(key)}"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def parse_hash(stored: object) -> tuple[int, int, int, bytes, bytes] | None:
    """(n, r, p, salt, key) of a well-formed hash within bounds, or None."""
    if not isinstance(stored, str) or len(stored) > 400:
        return None
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != SCHEME or not all(_DIGITS.fullmatch(part) for part in parts[1:4]):
        return None
    n, r, p = (int(part) for part in parts[1:4])
    if _cost_problem(n, r, p) is not None:
        return None
    try:
        salt = base64.b64decode(parts[4], validate=True)
        key = base64.b64decode(parts[5], validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(salt) < 8 or not 16 <= len(key) <= 64:
        return None
    return n, r, p, salt, key


# Checked against when there is no hash (an unknown case, one without a code, a damaged hash), so that such a
# lookup costs what a real one does. Made at import from a random code nobody knows; never matched.
DUMMY_HASH = hash_code(secrets.token_hex(16).upper())


def _dummy() -> tuple[int, int, int, bytes, bytes]:
    parsed = parse_hash(DUMMY_HASH)
    if parsed is None:
        raise RuntimeError("the dummy access hash does not parse")
    return parsed


_DUMMY = _dummy()


def verify_code(code: object, stored: str | None) -> bool:
    """Whether `code` (as typed: it is normalised here) is the one `stored` was made from. Compares in constant
    time, and when `stored` is None or malformed, or the code cannot be valid, still does the default scrypt
    work (against DUMMY_HASH) before answering False. Never raises."""
    try:
        secret: bytes | None = None
        if isinstance(code, AccessCode | str):
            normalised = normalise_code(_text_of(code))
            if code_problem(normalised) is None:
                secret = normalised.encode("ascii")
        parsed = parse_hash(stored)
        n, r, p, salt, key = parsed or _DUMMY
        derived = _derive(secret or b"", salt, n, r, p, len(key))
        matched = hmac.compare_digest(derived, key)
        return matched and parsed is not None and secret is not None
    except Exception:  # whatever `code` or `stored` hold, a lookup answers "no" rather than failing
        return False


def needs_rehash(stored: str | None) -> bool:
    """True unless `stored` is a well-formed hash made with today's parameters."""
    parsed = parse_hash(stored)
    if parsed is None:
        return True
    n, r, p, salt, key = parsed
    return (n, r, p, len(salt), len(key)) != (SCRYPT_N, SCRYPT_R, SCRYPT_P, SALT_BYTES, KEY_BYTES)


def hash_to_store(code: AccessCode | None, stored: str | None) -> str | None:
    """What an import stores for a case given `code` (None: the cell was empty) and the hash the case has now:
    None without a code; the stored hash itself when the code still matches it and it has today's parameters
    (so re-importing an unchanged inventory changes no case); otherwise a new hash. One scrypt for a new or an
    unchanged code, two for a changed one."""
    if code is None:
        return None
    if stored is not None and not needs_rehash(stored) and verify_code(code, stored):
        return stored
    return hash_code(code)


def hash_many(
    codes: Sequence[AccessCode | None],
    stored: Sequence[str | None],
    *,
    threads: int = HASH_THREADS,
    between: Callable[[], None] | None = None,
) -> list[str | None]:
    """`hash_to_store` of each code and its case's stored hash, on `threads` threads (scrypt releases the GIL).
    `between` is called in this thread after each HASH_SLICE codes but the last (e.g. a job's heartbeat)."""
    if len(codes) != len(stored):
        raise ValueError(f"{len(codes)} codes but {len(stored)} stored hashes")
    hashes: list[str | None] = [None] * len(codes)
    todo = [i for i, code in enumerate(codes) if code is not None]
    if not todo:
        return hashes
    with ThreadPoolExecutor(max_workers=min(threads, len(todo)), thread_name_prefix="access-hash") as pool:
        for start in range(0, len(todo), HASH_SLICE):
            part = todo[start : start + HASH_SLICE]
            for i, made in zip(part, pool.map(lambda i: hash_to_store(codes[i], stored[i]), part), strict=True):
                hashes[i] = made
            if between is not None and start + HASH_SLICE < len(todo):
                between()
    return hashes
