"""What on-call staff read: each message says what happened, when (with its zone) and why it ended."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.notify.slack.render import (
    LocationSightFacts,
    MonitoringFacts,
    OutageFacts,
    UpdateFacts,
    location_message,
    monitoring_message,
    outage_message,
    update_reply,
)
from monitor.storage.enums import EndReason, OutageSource, Severity

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


def test_a_blind_location_says_its_checks_do_not_count_and_its_return_says_for_how_long_it_was_blind() -> None:
    blind = LocationSightFacts("toronto", STARTED, "connection refused", "https://control.test/", None)
    message = location_message(blind, **PAGE)
    assert message.text == (
        "Location toronto is blind since 2026-11-20 09:00:00 EST: its checks do not count against the portal"
    )
    assert "connection refused" in message.blocks[1]["text"]["text"]
    back = location_message(LocationSightFacts("toronto", STARTED, None, None, ENDED), **PAGE)
    assert back.text == "Location toronto sees again since 2026-11-20 10:30:00 EST"
    assert "(1h 30m)" in back.blocks[1]["text"]["text"]


def declared(**changes: object) -> OutageFacts:
    base: dict[str, object] = {
        "source": OutageSource.DECLARED,
        "severity": Severity.PARTIAL_OUTAGE,
        "reason": "The operator reports document uploads failing",
        "error": None,
        "grants": 3,
    }
    return facts(**{**base, **changes})


def test_a_declared_outage_says_its_severity_since_when_that_ops_declared_it_and_why() -> None:
    message = outage_message(declared(), **PAGE)
    assert message.text == (
        "Partial outage: Permanent residence portal since 2026-11-20 09:00:00 EST, "
        "declared by ops: The operator reports document uploads failing"
    )
    assert (
        message.blocks[0]["text"]["text"]
        == ":large_orange_circle: Partial outage: Permanent residence portal (declared)"
    )
    body = message.blocks[1]["text"]["text"]
    assert "*Partial outage since* 2026-11-20 09:00:00 EST" in body
    assert "*Declared by ops:* The operator reports document uploads failing" in body
    assert "Not seen by the probes" in body and "relief so far:* 3" in body
    assert "declared" in message.blocks[2]["elements"][0]["text"]


def test_a_declared_outage_that_ended_says_how_long_it_lasted() -> None:
    message = outage_message(declared(ended_at=ENDED, severity=Severity.MAJOR_OUTAGE), **PAGE)
    assert message.text.startswith("Resolved: Permanent residence portal had a major outage of 1h 30m, from ")
    assert "declared by ops: The operator reports" in message.text


def test_a_declared_outage_s_reason_cannot_ping_a_channel_or_hide_a_link() -> None:
    message = outage_message(declared(reason="<!channel> see <https://evil.example|the portal> & more"), **PAGE)
    for text in (message.text, message.blocks[1]["text"]["text"]):
        assert "<!channel>" not in text and "<https://" not in text
        assert "&lt;!channel&gt; see &lt;https://evil.example|the portal&gt; &amp; more" in text


def test_a_declared_outage_shows_each_severity_with_its_own_label() -> None:
    labels = {severity: outage_message(declared(severity=severity), **PAGE).text.split(":")[0] for severity in Severity}
    assert labels == {
        Severity.DEGRADED_PERFORMANCE: "Degraded performance",
        Severity.PARTIAL_OUTAGE: "Partial outage",
        Severity.MAJOR_OUTAGE: "Major outage",
    }


def test_an_open_outage_says_its_severity_where_it_fails_which_locations_are_blind_and_when_it_got_worse() -> None:
    partial = facts(
        ended_at=None,
        end_reason=None,
        severity=Severity.MAJOR_OUTAGE,
        failing_locations=("montreal", "toronto"),
        blind_locations=("vancouver",),
        severity_changes=((ENDED, Severity.MAJOR_OUTAGE),),
    )
    message = outage_message(partial, **PAGE)
    body = message.blocks[1]["text"]["text"]
    assert message.text.startswith("Major outage: Permanent residence portal is down since")
    assert "*Failing at:* montreal, toronto" in body
    assert "*Blind (not counted):* vancouver" in body
    assert "*Major outage* from 2026-11-20 10:30:00 EST" in body
    slow = outage_message(facts(ended_at=None, end_reason=None, severity=Severity.DEGRADED_PERFORMANCE), **PAGE)
    assert slow.text.startswith("Degraded performance: Permanent residence portal is slow since")


def test_an_open_unacknowledged_outage_has_the_button_and_links_to_its_page_and_evidence() -> None:
    message = outage_message(facts(first_check_id=41, severity=Severity.PARTIAL_OUTAGE), **PAGE)
    body = message.blocks[1]["text"]["text"]
    assert "*Component:* Permanent residence portal" in body and "*Severity:* Partial outage" in body
    links = message.blocks[2]["elements"][0]["text"]
    assert "<https://status.example/ops/outages/7|dashboard>" in links
    assert "<https://status.example/ops/outages/7#evidence|evidence of the failed checks>" in links
    [button] = message.blocks[3]["elements"]
    assert (button["action_id"], button["value"], button["text"]["text"]) == ("acknowledge_outage", "7", "Acknowledge")


def test_an_acknowledged_outage_says_by_whom_and_when_and_has_no_button() -> None:
    message = outage_message(facts(acknowledged_by="marie", acknowledged_at=ENDED), **PAGE)
    assert "*Acknowledged by* marie at 2026-11-20 10:30:00 EST" in message.blocks[1]["text"]["text"]
    assert [block["type"] for block in message.blocks] == ["header", "section", "context"]


def test_an_ended_outage_has_no_button() -> None:
    message = outage_message(facts(ended_at=ENDED, end_reason=EndReason.RECOVERED), **PAGE)
    assert "actions" not in [block["type"] for block in message.blocks]


def test_an_update_reply_shows_what_was_typed_not_slack_markup() -> None:
    update = UpdateFacts(7, "Employer portal", "marie", "<!channel> fixed by <@U1>", True, ENDED)
    reply = update_reply(update, time_zone="America/Toronto")
    assert (
        reply.text
        == "Public update (on the status page) on Employer portal by marie: &lt;!channel&gt; fixed by &lt;@U1&gt;"
    )
    assert "marie at 2026-11-20 10:30:00 EST" in reply.blocks[1]["elements"][0]["text"]
