"""What on-call staff read: each message says what happened, when (with its zone) and why it ended."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.notify.slack.render import MonitoringFacts, OutageFacts, monitoring_message, outage_message
from monitor.storage.enums import EndReason

STARTED = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
ENDED = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
PAGE = {"time_zone": "America/Toronto", "page_url": "https://status.example/"}


def facts(**changes: object) -> OutageFacts:
    base = {
        "outage_id": 7,
        "component_name": "Permanent residence portal",
        "started_at": STARTED,
        "ended_at": None,
        "end_reason": None,
        "error": "expected status 200, got 503",
        "grants": 12,
    }
    return OutageFacts(**{**base, **changes})  # type: ignore[arg-type]


def test_an_open_outage_says_since_when_in_the_page_s_zone_and_what_the_first_check_saw() -> None:
    message = outage_message(facts(), **PAGE)
    assert message.text == "Major outage: Permanent residence portal is down since 2026-11-20 09:00:00 EST"
    body = message.blocks[1]["text"]["text"]
    assert "expected status 200, got 503" in body and "relief so far:* 12" in body
    assert "<https://status.example/|status page>" in message.blocks[2]["elements"][0]["text"]


def test_a_recovered_outage_says_how_long_it_lasted() -> None:
    message = outage_message(facts(ended_at=ENDED, end_reason=EndReason.RECOVERED), **PAGE)
    assert message.text.startswith("Resolved: Permanent residence portal was down 1h 30m")


def test_an_outage_closed_because_its_component_was_removed_says_so_rather_than_resolved() -> None:
    message = outage_message(facts(ended_at=ENDED, end_reason=EndReason.COMPONENT_REMOVED), **PAGE)
    assert message.text.startswith("Closed: Permanent residence portal was last seen down at 2026-11-20 10:30:00 EST")
    assert "removed from monitoring" in message.text


def test_monitoring_messages_say_since_when_nobody_watched_and_when_it_resumed() -> None:
    lost = monitoring_message(MonitoringFacts("Employer portal", STARTED, None), **PAGE)
    assert lost.text == "Monitoring interrupted: no checks of Employer portal since 2026-11-20 09:00:00 EST"
    back = monitoring_message(MonitoringFacts("Employer portal", STARTED, ENDED), **PAGE)
    assert "Not watched* from 2026-11-20 09:00:00 EST to 2026-11-20 10:30:00 EST" in back.blocks[1]["text"]["text"]
