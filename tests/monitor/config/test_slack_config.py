"""`slack:` says when an unacknowledged outage is brought up again; a wrong value names its key path."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitor.config import parse_config
from tests.monitor.config.conftest import GOOD, problems_of

MINUTE = timedelta(minutes=1)


@pytest.mark.parametrize(
    ("text", "reminders"),
    [
        ("", (15 * MINUTE, 60 * MINUTE)),
        ("slack:\n", (15 * MINUTE, 60 * MINUTE)),
        ("slack: {}\n", (15 * MINUTE, 60 * MINUTE)),
        ("slack: {reminders: [30m]}\n", (30 * MINUTE,)),
        ("slack: {reminders: [2h, 10m]}\n", (10 * MINUTE, 120 * MINUTE)),
        ("slack: {reminders: []}\n", ()),
        ("slack: {reminders: null}\n", ()),
    ],
)
def test_reminders_come_at_15_and_60_minutes_unless_told_otherwise(text: str, reminders: tuple[timedelta]) -> None:
    assert parse_config(GOOD + text, source="portalwatch.yaml").slack.reminders == reminders


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("slack: {reminders: [soon]}\n", "expected a duration such as 5s, 500ms or 2m, got 'soon'"),
        ("slack: {reminders: [30s]}\n", "each reminder is from 1m to 7d after the message was posted"),
        ("slack: {reminders: [8d]}\n", "each reminder is from 1m to 7d after the message was posted"),
        ("slack: {reminders: [15m, 15m]}\n", "each reminder once"),
        ("slack: {token: xoxb-1}\n", "Extra inputs are not permitted"),
    ],
)
def test_a_wrong_reminder_is_refused_naming_it(text: str, message: str) -> None:
    found = problems_of(GOOD + text)
    assert any("slack" in problem and message in problem for problem in found), found
