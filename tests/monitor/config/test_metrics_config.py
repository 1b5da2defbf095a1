"""`metrics: {token: …}` guards `GET /metrics`; a weak or malformed token names its line and key path and is
never shown, in an error or a repr."""

from __future__ import annotations

import pytest

from monitor.config import parse_config
from tests.monitor.config.conftest import GOOD, problems_of

TOKEN = "9f2c4e1ab37d5086c1e2f3a4b5c6d7e8"


@pytest.mark.parametrize("text", ["", "metrics:\n", "metrics: null\n", "metrics: {}\n", "metrics: {token: null}\n"])
def test_the_metrics_are_open_unless_a_token_is_set(text: str) -> None:
    assert parse_config(GOOD + text, source="portalwatch.yaml").metrics.token is None


def test_a_token_is_kept_and_never_shown_by_a_repr() -> None:
    config = parse_config(GOOD + f"metrics:\n  token: {TOKEN}\n", source="portalwatch.yaml")
    assert config.metrics.token is not None
    assert config.metrics.token.get_secret_value() == TOKEN
    assert TOKEN not in repr(config) and TOKEN not in str(config) and TOKEN not in repr(config.metrics)


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("metrics: {token: short-but-secret}\n", "token", "the token must be at least 24 random characters"),
        (f'metrics: {{token: "{TOKEN[:12]} {TOKEN[12:]}"}}\n', "token", "printable ASCII characters without spaces"),
        ("metrics: {token: 123456789012345678901234567890}\n", "token", "Input should be a valid string"),
        (f"metrics: {{tokn: {TOKEN}}}\n", "tokn", "Extra inputs are not permitted"),
    ],
)
def test_a_wrong_metrics_token_names_its_line_and_key_path_and_not_the_token(text: str, key: str, message: str) -> None:
    [problem] = problems_of(GOOD + text)
    assert problem.startswith(f"portalwatch.yaml:19: metrics.{key}: "), problem
    assert message in problem
    assert "short-but-secret" not in problem and TOKEN[:12] not in problem
