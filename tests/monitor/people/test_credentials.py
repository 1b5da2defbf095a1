"""Names, roles, tokens and passwords as values."""

from __future__ import annotations

import re
import time

import pytest

from monitor.people import credentials
from monitor.storage.enums import Role


def test_each_role_may_do_what_the_roles_below_it_may() -> None:
    assert credentials.allows(Role.ADMIN, Role.OPS) and credentials.allows(Role.OPS, Role.OPS)
    assert credentials.allows(Role.OPS, Role.VIEWER) and not credentials.allows(Role.OPS, Role.ADMIN)
    assert not credentials.allows(Role.VIEWER, Role.OPS)


@pytest.mark.parametrize("name", ["otto", "marie.tremblay", "ops-2", "a", "x" * 64])
def test_plain_names_are_accepted(name: str) -> None:
    assert credentials.name_problem(name) is None


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("Otto", "lowercase"),
        ("", "lowercase"),
        (".hidden", "starting with"),
        ("x" * 65, "1 to 64"),
        ("o tto", "lowercase"),
        ("bootstrap", "reserved"),
        ("cli", "reserved"),
        (None, "as text"),
    ],
)
def test_names_that_could_mislead_are_refused(name: object, says: str) -> None:
    problem = credentials.name_problem(name)
    assert problem is not None and says in problem


def test_a_token_is_its_prefix_and_a_secret_and_only_its_digest_is_kept() -> None:
    token, prefix = credentials.new_token()
    assert re.fullmatch(r"pw_[a-z0-9]{8}_[A-Za-z0-9_-]{43}", token)
    assert credentials.token_prefix(token) == prefix
    assert credentials.token_hash(token) != credentials.token_hash(credentials.new_token()[0])
    assert len(credentials.token_hash(token)) == 64
    assert credentials.prefix_of(prefix) == prefix
    assert credentials.prefix_of(f"pw_{prefix}") == prefix
    assert credentials.prefix_of(token) == prefix
    assert credentials.prefix_of("pw_") is None
    assert credentials.token_prefix(token + "x") is None
    assert credentials.token_prefix(" " + token) is None


def test_a_password_verifies_only_against_its_own_hash() -> None:
    stored = credentials.hash_password("correct horse battery")
    assert stored.startswith("scrypt$32768$8$1$")
    assert credentials.verify_password("correct horse battery", stored)
    assert not credentials.verify_password("correct horse batterY", stored)
    assert not credentials.verify_password("correct horse battery", None)
    assert not credentials.verify_password("correct horse battery", "scrypt$2$1$1$AAAA$AAAA")
    assert not credentials.verify_password(None, stored)
    assert credentials.hash_password("correct horse battery") != stored  # salted


@pytest.mark.parametrize(
    ("password", "says"), [("short", "at least 12"), ("x" * 1025, "at most"), ("a\nbcdefghijkl", "one line")]
)
def test_weak_or_odd_passwords_are_refused_without_repeating_them(password: str, says: str) -> None:
    problem = credentials.password_problem(password)
    assert problem is not None and says in problem and password not in problem
    with pytest.raises(ValueError) as raised:
        credentials.hash_password(password)
    assert password not in str(raised.value)


def test_checking_a_password_without_a_hash_costs_what_checking_one_does() -> None:
    stored = credentials.hash_password("correct horse battery")
    credentials.verify_password("warm up", None)  # the dummy hash is made once

    def timed(against: str | None) -> float:
        started = time.perf_counter()
        credentials.verify_password("wrong password!", against)
        return time.perf_counter() - started

    with_hash = min(timed(stored) for _ in range(3))
    without = min(timed(None) for _ in range(3))
    assert 0.5 < without / with_hash < 2, (with_hash, without)


def test_a_session_key_changes_with_the_password() -> None:
    first, second = credentials.hash_password("correct horse battery"), credentials.hash_password("another password!")
    assert credentials.session_key(first) == credentials.session_key(first)
    assert credentials.session_key(first) != credentials.session_key(second)
