"""`retention:` says how long passing checks keep their evidence; a wrong value names its line and key path."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitor.config import parse_config
from tests.monitor.config.conftest import GOOD, problems_of


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("", timedelta(days=30)),
        ("retention:\n", timedelta(days=30)),
        ("retention: null\n", timedelta(days=30)),
        ("retention: {}\n", timedelta(days=30)),
        ("retention: {passing_checks: 7d}\n", timedelta(days=7)),
        ("retention:\n  passing_checks: 90d\n", timedelta(days=90)),
        ("retention: {passing_checks: 172800}\n", timedelta(days=2)),
        ("retention: {passing_checks: off}\n", None),
        ("retention: {passing_checks: never}\n", None),
        ("retention: {passing_checks: null}\n", None),
    ],
)
def test_passing_checks_keep_their_evidence_30_days_unless_told_otherwise(text: str, kept: timedelta | None) -> None:
    assert parse_config(GOOD + text, source="portalwatch.yaml").retention.passing_checks == kept


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("retention: {passing_checks: soon}\n", "expected a duration such as 5s, 500ms or 2m, got 'soon'"),
        ("retention: {passing_checks: 12h}\n", "must be at least 1d, or off to keep it forever"),
        ("retention: {passing_checks: on}\n", "expected a duration such as 30d, or off to keep it forever"),
        ("retention: {failed_checks: 30d}\n", "Extra inputs are not permitted"),
    ],
)
def test_a_wrong_retention_names_its_line_and_key_path(text: str, message: str) -> None:
    [problem] = problems_of(GOOD + text)
    key = "failed_checks" if "failed_checks" in text else "passing_checks"
    assert problem.startswith(f"portalwatch.yaml:19: retention.{key}: ")
    assert message in problem
