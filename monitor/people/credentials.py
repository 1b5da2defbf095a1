"""Names, roles, API tokens and passwords, as values: no database, no clock, no web framework (pure).

**Tokens** are `pw_<prefix>_<secret>`: `prefix` is 8 random lowercase letters and digits that name the token
in lists and to revoke it (it is shown, and is no secret); `secret` is 32 random bytes (url-safe base64).
Only the SHA-256 of the whole token is stored: with 256 bits of randomness a fast hash is enough, and a
lookup is one indexed equality on the digest.

**Passwords** (the dashboard's sign-in) are hashed with scrypt, N = 2**15, r = 8, p = 1, a 16-byte salt
and a 32-byte key: 32 MiB and about a tenth of a second of a core per guess. The parameters travel in
each hash (`scrypt$<n>$<r>$<p>$<salt>$<key>`), so they can be raised later without breaking old ones.
`verify_password` does the same work when there is no hash to check (an unknown name), so a sign-in
cannot tell which names exist by its time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import string
from functools import cache

from monitor.storage.enums import Role

TOKEN_SCHEME = "pw"
PREFIX_LENGTH = 8
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
_TOKEN = re.compile(r"pw_([a-z0-9]{8})_([A-Za-z0-9_-]{43})")
_PREFIX = re.compile(r"(?:pw_)?([a-z0-9]{8})(?:_.*)?", re.DOTALL)

SCHEME = "scrypt"
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
KEY_BYTES = 32
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
MAX_MEMORY = 256 * 1024 * 1024  # whatever a stored hash claims, no check allocates more

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
# Names the audit log uses for actions nobody signed in for: the bootstrap token and the command line.
RESERVED_NAMES = frozenset({"bootstrap", "cli"})
_SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,31}")

_RANK = {Role.VIEWER: 0, Role.OPS: 1, Role.ADMIN: 2}


def allows(role: Role, required: Role) -> bool:
    """Whether someone with `role` may do what needs `required`: each role may do all the roles below it may."""
    return _RANK[role] >= _RANK[required]


def name_problem(name: object) -> str | None:
    """Why `name` cannot name a person, or None."""
    if not isinstance(name, str):
        return "expected a name, as text"
    if not NAME_PATTERN.fullmatch(name):
        return (
            "must be 1 to 64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit "
            f"(got {name[:80]!r})"
        )
    if name in RESERVED_NAMES:
        return f"{name!r} is reserved: the audit log uses it for actions nobody signed in for"
    return None


def slack_user_problem(value: object) -> str | None:
    if not isinstance(value, str) or not _SLACK_USER.fullmatch(value):
        return f"expected a Slack user id such as U012AB3CD (got {str(value)[:40]!r})"
    return None


# --- tokens --------------------------------------------------------------------------------------


def new_token() -> tuple[str, str]:
    """(token, prefix): a new token, to be shown once, and its public prefix."""
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    return f"{TOKEN_SCHEME}_{prefix}_{secrets.token_urlsafe(32)}", prefix


def token_hash(token: str) -> str:
    """What is stored of a token: the SHA-256 of the whole of it, in hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def token_prefix(token: str) -> str | None:
    """The prefix of a well-formed token, or None: anything else is refused without looking it up."""
    found = _TOKEN.fullmatch(token)
    return found.group(1) if found else None


def prefix_of(text: str) -> str | None:
    """The prefix people name a token by: `ab12cd34`, `pw_ab12cd34`, or the whole token."""
    found = _PREFIX.fullmatch(text.strip())
    return found.group(1) if found else None


def shown_prefix(prefix: str) -> str:
    return f"{TOKEN_SCHEME}_{prefix}"


def same_digest(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass"))


# --- passwords -----------------------------------------------------------------------------------


def password_problem(password: object) -> str | None:
    """Why `password` may not be used, or None. Never repeats the password."""
    if not isinstance(password, str):
        return "expected a password, as text"
    if len(password) < MIN_PASSWORD:
        return f"must be at least {MIN_PASSWORD} characters (got {len(password)})"
    if len(password) > MAX_PASSWORD:
        return f"must be at most {MAX_PASSWORD} characters"
    if any(char in password for char in "\x00\r\n"):
        return "must be one line, without NUL"
    return None


def _memory(n: int, r: int, p: int) -> int:
    return 128 * r * (n + p + 2)


def _derive(secret: bytes, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(secret, salt=salt, n=n, r=r, p=p, maxmem=_memory(n, r, p) + 2**20, dklen=length)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """`scrypt$<n>$<r>$<p>$<salt>$<key>`; ValueError (without the password) for one that may not be used."""
    problem = password_problem(password)
    if problem is not None:
        raise ValueError(f"cannot use this password: it {problem}")
    salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(password.encode("utf-8", "surrogatepass"), salt, n, r, p, KEY_BYTES)
    return f"{SCHEME}${n}${r}${p}${_b64(salt)}${_b64(key)}"


def parse_password_hash(stored: object) -> tuple[int, int, int, bytes, bytes] | None:
    """(n, r, p, salt, key) of a well-formed hash within bounds, or None."""
    if not isinstance(stored, str) or len(stored) > 255:
        return None
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != SCHEME or not all(part.isdigit() and len(part) <= 10 for part in parts[1:4]):
        return None
    n, r, p = (int(part) for part in parts[1:4])
    if not (2 <= n <= 2**20 and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16):
        return None
    if _memory(n, r, p) > MAX_MEMORY:
        return None
    try:
        salt = base64.b64decode(parts[4], validate=True)
        key = base64.b64decode(parts[5], validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(salt) < 8 or not 16 <= len(key) <= 64:
        return None
    return n, r, p, salt, key


@cache
def _dummy() -> tuple[int, int, int, bytes, bytes]:
    # Checked against when there is no hash, so that such a sign-in costs what a real one does.
    parsed = parse_password_hash(hash_password(secrets.token_urlsafe(24)))
    if parsed is None:
        raise RuntimeError("the dummy password hash does not parse")
    return parsed


def verify_password(password: object, stored: str | None) -> bool:
    """Whether `password` is the one `stored` was made from, compared in constant time; with no usable hash,
    the same scrypt work is done before answering False. Never raises."""
    try:
        secret = password.encode("utf-8", "surrogatepass") if isinstance(password, str) else b""
        parsed = parse_password_hash(stored)
        n, r, p, salt, key = parsed or _dummy()
        derived = _derive(secret[: MAX_PASSWORD * 4], salt, n, r, p, len(key))
        return hmac.compare_digest(derived, key) and parsed is not None and isinstance(password, str)
    except Exception:  # a damaged hash or odd input answers "no" rather than failing
        return False


def session_key(password_hash: str) -> str:
    """What a signed-in session keeps of the person's password hash: a new password ends every session."""
    return hashlib.sha256(f"pw-session-1\n{password_hash}".encode("ascii", "replace")).hexdigest()[:32]
