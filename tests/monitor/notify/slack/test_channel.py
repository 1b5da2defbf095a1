"""Sending to Slack: a failure says whether a person must act (permanent) or a retry will do."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.notify.channel import Message, MessageRef, SendError
from monitor.notify.slack.channel import SlackChannel
from tests.conftest import SlackStandIn


def channel(slack: SlackStandIn) -> SlackChannel:
    return SlackChannel("xoxb-secret-token", "C0OUTAGES", base_url=slack.url, timeout=2)


@pytest.mark.parametrize(
    ("error", "permanent"),
    [("invalid_auth", True), ("channel_not_found", True), ("ratelimited", False), ("service_unavailable", False)],
)
def test_slack_errors_are_classed_as_permanent_or_passing(slack: SlackStandIn, error: str, permanent: bool) -> None:
    slack.error = error
    with pytest.raises(SendError) as raised:
        channel(slack).post(Message("text"), marker="m-1")
    assert raised.value.permanent is permanent
    assert error in str(raised.value)


def test_a_slack_that_does_not_answer_is_a_passing_error(slack: SlackStandIn) -> None:
    slack.lose_answers_for = 3
    with pytest.raises(SendError) as raised:
        SlackChannel("xoxb-secret-token", "C0OUTAGES", base_url=slack.url, timeout=0.5).post(Message("t"), marker="m")
    assert not raised.value.permanent


def test_a_post_carries_its_marker_so_it_can_be_found_again(slack: SlackStandIn) -> None:
    sent = channel(slack).post(Message("text"), marker="marker-42")
    found = channel(slack).find("marker-42", since=datetime(2026, 1, 1, tzinfo=UTC))
    assert found == sent
    assert channel(slack).find("another-marker", since=datetime(2026, 1, 1, tzinfo=UTC)) is None


def test_the_token_never_appears_in_the_channel_s_repr(slack: SlackStandIn) -> None:
    assert "xoxb-secret-token" not in repr(channel(slack))


def test_a_short_rate_limit_is_waited_out_once_and_the_post_goes_through(slack: SlackStandIn) -> None:
    slack.rate_limited = [1]
    sent = channel(slack).post(Message("text"), marker="m-1")
    assert slack.methods() == ["chat.postMessage", "chat.postMessage"]
    assert [m["ts"] for m in slack.posts()] == [sent.external_id]


def test_a_long_or_repeated_rate_limit_is_a_passing_error_carrying_retry_after(slack: SlackStandIn) -> None:
    slack.rate_limited = [45]
    with pytest.raises(SendError) as long_wait:
        channel(slack).post(Message("text"), marker="m-1")
    assert (long_wait.value.permanent, long_wait.value.retry_after) == (False, 45)
    assert slack.methods() == ["chat.postMessage"]  # not waited for in place

    slack.rate_limited = [1, 2]
    with pytest.raises(SendError) as again:
        channel(slack).update(MessageRef("C0OUTAGES", "1.2"), Message("text"))
    assert again.value.retry_after == 2  # one wait in place, then the outbox's turn
    assert slack.posts() == []


def test_a_reply_goes_in_the_thread_and_is_found_there_not_in_the_history(slack: SlackStandIn) -> None:
    parent = channel(slack).post(Message("outage"), marker="parent")
    reply = channel(slack).post(Message("update"), marker="reply-1", thread=parent)
    assert slack.replies(parent.external_id)[0]["ts"] == reply.external_id
    since = datetime(2026, 1, 1, tzinfo=UTC)
    assert channel(slack).find("reply-1", since=since) is None
    assert channel(slack).find("reply-1", since=since, thread=parent) == reply
