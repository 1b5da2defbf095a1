"""The shared `${env:NAME}` pieces: reading, filling in and redacting a check's secrets."""

from __future__ import annotations

import pytest

from probes.http.runner import body_excerpt
from probes.result import EVIDENCE_LIMIT
from probes.secrets import (
    REDACTED,
    MissingVariable,
    Secrets,
    check_env_only,
    env_names,
    read_environment,
    substitute_env,
)

VALUE = "p@ss wörd&<'\">/\\"


def secrets_of(*values: str) -> Secrets:
    secrets = Secrets()
    for value in values:
        secrets.add(value)
    return secrets


@pytest.mark.parametrize(
    "shown",
    [
        VALUE,
        "p%40ss%20w%C3%B6rd%26%3C%27%22%3E%2F%5C",  # quote(safe="")
        "p%40ss+w%C3%B6rd%26%3C%27%22%3E%2F%5C",  # quote_plus
        "p@ss%20w%C3%B6rd%26%3C'%22%3E/%5C",  # re-quoted by a URL library: some escapes undone
        "p%40ss%20w%c3%b6rd%26%3c%27%22%3e%2f%5c",  # lower-case escapes
        "p@ss wörd&amp;&lt;&#x27;&quot;&gt;/\\",  # html.escape
        "p@ss w\\u00f6rd&<'\\\">/\\\\",  # inside a JSON string
        "p@ss wörd&<\\'\">/\\\\",  # inside a repr quoted with '
    ],
)
def test_a_value_is_redacted_in_every_form_it_may_come_back_in(shown: str) -> None:
    assert secrets_of(VALUE).redact(f"before {shown} after") == f"before {REDACTED} after"


def test_a_value_inside_a_longer_one_leaves_nothing_of_the_longer_one() -> None:
    secrets = secrets_of("abc", "xxabcxx")

    assert secrets.redact("1 xxabcxx 2 abc") == f"1 {REDACTED} 2 {REDACTED}"


def test_no_secrets_leave_the_text_as_it_is_and_are_false() -> None:
    secrets = secrets_of("")

    assert not secrets
    assert secrets.redact("anything") == "anything"
    assert secrets.trim_partial("anything") == "anything"


def test_trimming_takes_off_only_a_trailing_start_of_a_secret() -> None:
    secrets = secrets_of("aXa")

    assert secrets.trim_partial("page ends in aX") == "page ends in "
    # A whole secret at the end is for redact to hide; trimming its last letter would leave "aX" behind.
    assert secrets.trim_partial("page ends in aXa") == "page ends in aXa"
    assert secrets.redact(secrets.trim_partial("page ends in aXa")) == f"page ends in {REDACTED}"


def test_a_body_cut_by_the_read_is_redacted_then_trimmed_then_cut_to_the_limit() -> None:
    secrets = secrets_of(VALUE)

    assert body_excerpt(f"{VALUE} then p@ss wö", secrets, cut=True) == f"{REDACTED} then "
    assert body_excerpt("then p@ss wö", secrets, cut=False) == "then p@ss wö"  # a complete body is as it is
    assert len(body_excerpt("x" * 2 * EVIDENCE_LIMIT, secrets, cut=True)) == EVIDENCE_LIMIT


def test_variables_are_read_once_and_their_values_kept_as_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PW_TEST_A", "alpha-value")
    monkeypatch.delenv("PW_TEST_B", raising=False)
    secrets = Secrets()

    env = read_environment(env_names(["${env:PW_TEST_A}/${env:PW_TEST_B}", "${env:PW_TEST_A}", "${x}"]), secrets)

    assert env == {"PW_TEST_A": "alpha-value", "PW_TEST_B": None}
    assert secrets.redact("alpha-value") == REDACTED


def test_substitution_encodes_for_a_url_and_names_an_unset_variable() -> None:
    env = {"A": "a b/c", "B": None}

    assert substitute_env("x=${env:A}", env) == "x=a b/c"
    assert substitute_env("x=${env:A}", env, encode=True) == "x=a%20b%2Fc"
    assert substitute_env("${other} stays", env) == "${other} stays"
    assert substitute_env("${env:A}", {"A": "${env:A}"}) == "${env:A}"  # a value is never searched again
    with pytest.raises(MissingVariable, match=r"^environment variable B is not set$"):
        substitute_env("x=${env:A}&y=${env:B}", env)


def test_only_env_references_pass_where_nothing_else_can_be_filled_in() -> None:
    assert check_env_only("Bearer ${env:TOKEN}", "a header") == "Bearer ${env:TOKEN}"
    with pytest.raises(ValueError, match=r"\$\{csrf\}: a header can only use \$\{env:NAME\}"):
        check_env_only("${csrf}", "a header")
    with pytest.raises(ValueError, match="does not name an environment variable"):
        check_env_only("${env:A-B}", "a header")
