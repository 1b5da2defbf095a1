"""What a holder reads: both official languages (theirs first), dates on the case's clock with the zone named.

Bounded in time: a set number of generated examples, and no example database kept.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.notify.notice_text import (
    EVENT_OUTAGE_ATTESTED,
    EVENT_PAPER_FILING_AUTHORISED,
    EVENT_RELIEF_FINAL,
    EVENT_RELIEF_REVISED,
    EVENT_TYPES,
    NoticeContent,
    event_type_for,
    subject,
    text_body,
    webhook_payload,
)

ISSUED = datetime(2026, 11, 25, 15, 30, tzinfo=UTC)
# 2026-11-21 04:59:59 UTC is the end of Friday 20 November in Toronto (EST, UTC-5).
ORIGINAL = datetime(2026, 11, 21, 4, 59, 59, tzinfo=UTC)
EXTENDED = datetime(2026, 11, 28, 4, 59, tzinfo=UTC)


def content(**changes: object) -> NoticeContent:
    base = NoticeContent(
        language="fr",
        case_id="IMM-2026-00042",
        kind="extension",
        effective_deadline=EXTENDED,
        original_deadline=ORIGINAL,
        time_zone="America/Toronto",
        letter_code="7KQ2M9XD3FPAV",
        letter_display_code="7KQ2-M9XD-3FPA-V",
        pdf_url="https://status.example.ca/letters/7KQ2M9XD3FPAV.pdf",
        verify_url="https://status.example.ca/verify",
        component_name="Permanent residence portal",
        paper_period_start=None,
        paper_period_end=None,
        issuer_name="PortalWatch — Portal availability office",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_the_body_carries_both_languages_with_the_holder_s_first() -> None:
    french_first = text_body(content(language="fr"))
    english_first = text_body(content(language="en"))
    for body in (french_first, english_first):
        assert "Votre délai a été prolongé" in body
        assert "Your deadline was extended" in body
    assert french_first.index("Votre délai") < french_first.index("Your deadline")
    assert english_first.index("Your deadline") < english_first.index("Votre délai")


def test_the_subject_leads_with_the_holder_s_language_and_names_the_case() -> None:
    assert subject(content(language="en")) == (
        "Your deadline was extended / Votre délai a été prolongé — case IMM-2026-00042"
    )
    assert subject(content(language="fr")).startswith("Votre délai a été prolongé / Your deadline was extended")
    assert "IMM-2026-00042" in subject(content(language="fr"))


def test_dates_are_on_the_case_s_clock_with_the_zone_named() -> None:
    body = text_body(content(language="en"))
    assert "Original deadline: Friday, November 20, 2026, 11:59:59\u00a0p.m. EST (America/Toronto)" in body
    assert "New deadline: Friday, November 27, 2026, 11:59\u00a0p.m. EST (America/Toronto)" in body
    assert (
        "Délai initial\u00a0: vendredi 20 novembre 2026, "
        "23\u00a0h\u00a059\u00a0min\u00a059\u00a0s HNE (America/Toronto)" in body
    )
    assert "Nouveau délai\u00a0: vendredi 27 novembre 2026, 23\u00a0h\u00a059 HNE (America/Toronto)" in body
    assert "04:59" not in body  # the UTC clock is never shown to the holder


def test_the_same_instant_reads_differently_in_another_zone() -> None:
    body = text_body(content(language="en", time_zone="America/Vancouver"))
    assert "Friday, November 27, 2026, 8:59\u00a0p.m. PST (America/Vancouver)" in body


def test_the_body_gives_the_letter_s_code_and_where_to_verify_it() -> None:
    body = text_body(content())
    assert "7KQ2-M9XD-3FPA-V" in body
    assert "https://status.example.ca/verify" in body
    assert "https://status.example.ca/letters/7KQ2M9XD3FPAV.pdf" in body
    assert "PortalWatch — Portal availability office" in body


@pytest.mark.parametrize("kind", ["extension", "paper_filing", "attestation"])
@pytest.mark.parametrize("language", ["en", "fr"])
def test_no_body_or_subject_holds_an_email_address(kind: str, language: str) -> None:
    notice = content(
        kind=kind,
        language=language,
        paper_period_start=datetime(2026, 11, 20, 14, tzinfo=UTC),
        paper_period_end=datetime(2026, 11, 24, 4, 59, 59, tzinfo=UTC),
    )
    for text in (text_body(notice), subject(notice)):
        assert not re.search(r"[^\s@]+@[^\s@]+", text)


def test_a_paper_filing_notice_gives_its_period_in_both_languages() -> None:
    notice = content(
        kind="paper_filing",
        language="en",
        effective_deadline=None,
        original_deadline=None,
        paper_period_start=datetime(2026, 11, 20, 14, tzinfo=UTC),
        paper_period_end=datetime(2026, 11, 24, 4, 59, 59, tzinfo=UTC),
    )
    body = text_body(notice)
    assert "You may file on paper" in body
    assert "Paper filing accepted from Friday, November 20, 2026, 9:00\u00a0a.m. EST (America/Toronto)" in body
    assert "until Monday, November 23, 2026, 11:59:59\u00a0p.m. EST (America/Toronto)" in body
    assert "Dépôt sur papier accepté du vendredi 20 novembre 2026, 9\u00a0h\u00a000 HNE (America/Toronto)" in body
    assert subject(notice).startswith("You may file on paper / Vous pouvez déposer sur papier")


def test_the_webhook_payload_has_the_standard_webhooks_shape_with_utc_instants() -> None:
    payload = webhook_payload(content(), event_type=EVENT_RELIEF_FINAL, issued_at=ISSUED)
    assert payload == {
        "type": "case.relief.final",
        "timestamp": "2026-11-25T15:30:00Z",
        "data": {
            "case_id": "IMM-2026-00042",
            "kind": "extension",
            "language": "fr",
            "effective_deadline": "2026-11-28T04:59:00Z",
            "original_deadline": "2026-11-21T04:59:59Z",
            "time_zone": "America/Toronto",
            "paper_period": None,
            "letter": {
                "code": "7KQ2M9XD3FPAV",
                "display_code": "7KQ2-M9XD-3FPA-V",
                "pdf_url": "https://status.example.ca/letters/7KQ2M9XD3FPAV.pdf",
                "verify_url": "https://status.example.ca/verify",
            },
            "component": "Permanent residence portal",
        },
    }


def test_an_instant_given_in_another_zone_is_converted_to_utc_in_the_payload() -> None:
    toronto = EXTENDED.astimezone(timezone(timedelta(hours=-5)))
    payload = webhook_payload(content(effective_deadline=toronto), event_type=EVENT_RELIEF_FINAL, issued_at=ISSUED)
    assert payload["data"]["effective_deadline"] == "2026-11-28T04:59:00Z"


def test_each_kind_has_its_event_type_and_a_mismatch_is_refused() -> None:
    assert event_type_for("extension") == EVENT_RELIEF_FINAL
    assert event_type_for("paper_filing") == EVENT_PAPER_FILING_AUTHORISED
    assert event_type_for("attestation") == EVENT_OUTAGE_ATTESTED
    assert EVENT_TYPES[EVENT_RELIEF_REVISED] == "extension"
    with pytest.raises(ValueError, match="announces paper_filing letters"):
        webhook_payload(content(), event_type=EVENT_PAPER_FILING_AUTHORISED, issued_at=ISSUED)
    with pytest.raises(ValueError, match="unknown event type"):
        webhook_payload(content(), event_type="case.something", issued_at=ISSUED)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"language": "de"}, "language"),
        ({"kind": "refund"}, "kind"),
        ({"time_zone": "Mars/Olympus"}, "time zone"),
        ({"case_id": "IMM-1\r\nBcc: someone"}, "single line"),
        ({"effective_deadline": datetime(2026, 11, 28, 4, 59)}, "aware"),
        ({"effective_deadline": None}, "effective_deadline"),
        ({"kind": "paper_filing"}, "paper_period_start"),
    ],
)
def test_content_that_cannot_be_shown_truthfully_is_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        content(**changes)


ZONES = ["America/Toronto", "America/St_Johns", "America/Vancouver", "Asia/Kolkata", "Pacific/Chatham", "UTC"]
instants = (
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)) | st.none()
)
case_ids = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=64
).filter(str.strip)


@settings(max_examples=150, deadline=None, database=None)
@given(
    case_id=case_ids,
    zone=st.sampled_from(ZONES),
    language=st.sampled_from(["en", "fr"]),
    kind=st.sampled_from(["extension", "paper_filing", "attestation"]),
    effective=instants,
    original=instants,
    start=instants,
    end=instants,
    issued=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
)
def test_every_payload_and_body_can_be_sent(
    case_id: str,
    zone: str,
    language: str,
    kind: str,
    effective: datetime | None,
    original: datetime | None,
    start: datetime | None,
    end: datetime | None,
    issued: datetime,
) -> None:
    if kind == "extension" and effective is None:
        effective = issued
    if kind == "paper_filing":
        start, end = start or issued, end or issued
    notice = content(
        case_id=case_id,
        time_zone=zone,
        language=language,
        kind=kind,
        effective_deadline=effective,
        original_deadline=original,
        paper_period_start=start,
        paper_period_end=end,
    )
    payload = webhook_payload(notice, event_type=event_type_for(kind), issued_at=issued)
    assert json.loads(json.dumps(payload, allow_nan=False)) == payload
    assert payload["data"]["case_id"] == case_id
    for key in ("effective_deadline", "original_deadline"):
        value = payload["data"][key]
        assert value is None or (value.endswith("Z") and datetime.fromisoformat(value).utcoffset() == timedelta(0))
    body = text_body(notice)
    body.encode("utf-8")  # a lone surrogate would fail here, and in every mail relay
    assert case_id in body
    if kind != "attestation" or effective is not None:
        assert f"({zone})" in body
