"""The public self-service API: verifying letters, case lookup without enumeration, employers' paper-filing
requests, rate limits. Letters are made and signed by the real code; `pdfsig` judges them as a reader would."""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import GrantStatus, Severity
from monitor.storage.models import Outage, PaperAuthorisation
from monitor.web import create_app
from tests.conftest import OFFLINE_CONFIG, make_runtime, record_checks
from tests.monitor.web.conftest import NOW, TOKEN, add_outage, bearer
from tests.monitor.web.conftest import add_case as web_case

ACCESS_CODE = "K7QM-2XPR-9WD4"


def employer(**overrides: Any) -> dict[str, Any]:
    return {
        "component": "pr-portal",
        "attempted_at": "2026-11-20T10:30:00-05:00",  # inside the recorded outage (10:00 to 11:00 EST)
        "organisation": "Érablière Tremblay inc.",
        "email": "rh@erabliere.example",
        "language": "fr",
    } | overrides


def add_case(runtime: Runtime, case_id: str = "IMM-0042", *, access_code: str | None = ACCESS_CODE) -> None:
    due = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)  # 10:30 EST, inside the outage
    web_case(runtime, case_id, deadline=due, access_code=access_code, email="holder@example.ca")


def attestation(client: FlaskClient, runtime: Runtime) -> dict[str, Any]:
    """A letter made through the real path: an employer asking about the (too brief) recorded outage."""
    add_outage(runtime)
    answer = client.post("/api/v1/paper-filing-requests", json=employer())
    assert answer.status_code == 200, answer.get_json()
    letter: dict[str, Any] = answer.get_json()["letter"]
    return letter


# --- verification ----------------------------------------------------------------------------------


def test_a_letter_verifies_by_code_and_says_what_it_attests_without_contact_data(
    client: FlaskClient, runtime: Runtime
) -> None:
    letter = attestation(client, runtime)

    answer = client.get(f"/api/v1/verify/{letter['code']}")
    shown = answer.get_json()

    assert answer.status_code == 200
    assert shown["valid"] is True and shown["kind"] == "attestation" and shown["superseded_by"] is None
    assert shown["component"] == {"id": "pr-portal", "name": "Permanent residence portal"}
    assert shown["outage_window"] == {"start": "2026-11-20T09:59:00-05:00", "end": "2026-11-20T11:00:00-05:00"}
    assert len(shown["evidence_digest"]) == 64 and len(shown["sha256"]) == 64
    assert shown["holder"] == "Érablière Tremblay inc."
    assert "rh@erabliere.example" not in answer.get_data(as_text=True)
    # The printed, grouped form of the code and a lower-case one find the same letter.
    assert client.get(f"/api/v1/verify/{letter['display_code'].lower()}").status_code == 200


def test_an_unknown_or_malformed_code_is_not_valid(client: FlaskClient) -> None:
    for code in ("B8C7SG2A0CTSX", "not-a-code", "UUUUUUUUUUUUU"):
        answer = client.get(f"/api/v1/verify/{code}")
        assert answer.status_code == 404
        assert answer.get_json()["valid"] is False


def test_the_pdf_is_served_and_pdfsig_finds_its_signature_valid_and_covering_the_whole_file(
    client: FlaskClient, runtime: Runtime, tmp_path: Path
) -> None:
    letter = attestation(client, runtime)
    pdf = client.get(f"/letters/{letter['code']}.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    path = tmp_path / "letter.pdf"
    path.write_bytes(pdf.data)

    report = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=30, check=False).stdout

    assert "Signature is Valid." in report
    assert "Total document signed" in report
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, timeout=30, check=True).stdout
    assert "Outage attestation" in text and "Attestation de panne" in text
    assert letter["display_code"] in text


def test_posting_the_exact_bytes_says_genuine_and_a_one_byte_edit_is_rejected_by_pdfsig_and_by_verify(
    client: FlaskClient, runtime: Runtime, tmp_path: Path
) -> None:
    letter = attestation(client, runtime)
    pdf = client.get(f"/letters/{letter['code']}.pdf").data

    genuine = client.post("/api/v1/verify", data=pdf, content_type="application/pdf").get_json()
    assert genuine["genuine"] is True
    assert genuine["letter"]["code"] == letter["code"]

    edited = bytearray(pdf)
    position = pdf.index(b"Attestation") if b"Attestation" in pdf else len(pdf) // 3
    edited[position + 1] ^= 0x01
    path = tmp_path / "edited.pdf"
    path.write_bytes(bytes(edited))
    report = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=30, check=False).stdout
    assert "Signature is Valid." not in report

    rejected = client.post("/api/v1/verify", data=bytes(edited), content_type="application/pdf").get_json()
    assert rejected["genuine"] is False
    assert rejected["letter"] is None
    assert rejected["reason"]


def test_garbage_and_empty_bodies_get_a_clear_answer_not_an_error(client: FlaskClient) -> None:
    garbage = client.post("/api/v1/verify", data=b"%PDF-1.7 not really", content_type="application/pdf")
    assert garbage.status_code == 200 and garbage.get_json()["genuine"] is False
    empty = client.post("/api/v1/verify", data=b"", content_type="application/pdf")
    assert empty.status_code == 422 and empty.get_json()["field"] == "body"


# --- applicants ------------------------------------------------------------------------------------


def test_a_holder_with_the_right_code_sees_the_effective_deadline_and_the_case_s_letters(
    client: FlaskClient, runtime: Runtime
) -> None:
    add_case(runtime)
    from monitor.usecases import jobs, relief

    outage_id = add_outage(runtime)
    relief.relieve(runtime, outage_id)
    jobs.sweep_letters(runtime)

    answer = client.post("/api/v1/cases/lookup", json={"case_id": "IMM-0042", "access_code": "k7qm2xpr9wd4"})
    found = answer.get_json()

    assert answer.status_code == 200
    assert found["case_id"] == "IMM-0042"
    assert found["effective_deadline"] > found["original_deadline"]
    assert found["decision"]["status"] == "final"
    assert all(rule["en"] and rule["fr"] for rule in found["decision"]["rules"])
    [letter] = found["letters"]
    assert letter["kind"] == "extension"
    assert letter["pdf_url"] == f"http://status.test/letters/{letter['code']}.pdf"
    assert letter["verify_url"] == f"http://status.test/verify/{letter['code']}"
    assert "access_code" not in found and "scrypt$" not in str(found) and "holder@example.ca" not in str(found)

    # Ops see the same letters on the case.
    ops = client.get("/api/ops/cases/IMM-0042", headers=bearer()).get_json()
    assert [(row["code"], row["kind"], row["superseded"]) for row in ops["letters"]] == [
        (letter["code"], "extension", False)
    ]
    assert ops["letters"][0]["issued"]


def test_an_unknown_case_and_a_wrong_code_get_the_same_status_and_body(client: FlaskClient, runtime: Runtime) -> None:
    add_case(runtime)
    add_case(runtime, "IMM-NOCODE", access_code=None)

    answers = [
        client.post("/api/v1/cases/lookup", json={"case_id": "IMM-0042", "access_code": "WRONG0000000"}),
        client.post("/api/v1/cases/lookup", json={"case_id": "IMM-9999", "access_code": ACCESS_CODE}),
        client.post("/api/v1/cases/lookup", json={"case_id": "IMM-NOCODE", "access_code": ACCESS_CODE}),
        client.post("/api/v1/cases/lookup", json={"case_id": "IMM-0042"}),
    ]

    assert {answer.status_code for answer in answers} == {404}
    assert len({answer.get_data() for answer in answers}) == 1


def test_unknown_cases_and_wrong_codes_take_the_same_time_within_noise(runtime: Runtime) -> None:
    add_case(runtime)
    client = create_app(runtime).test_client()
    samples: dict[str, list[float]] = {"wrong": [], "unknown": []}
    bodies = {
        "wrong": {"case_id": "IMM-0042", "access_code": "WRONG0000000"},
        "unknown": {"case_id": "IMM-9999", "access_code": "WRONG0000000"},
    }
    runtime.config = runtime.config.model_copy(
        update={"self_service": runtime.config.self_service.model_copy(update={"rate_limit": "1000/minute"})}
    )
    for _ in range(25):
        for name, body in bodies.items():  # interleaved, so drift in machine load hits both alike
            started = time.perf_counter()
            assert client.post("/api/v1/cases/lookup", json=body).status_code == 404
            samples[name].append(time.perf_counter() - started)

    wrong, unknown = statistics.median(samples["wrong"]), statistics.median(samples["unknown"])
    # Both are dominated by the same slow hash; a shortcut for unknown cases would be several times faster.
    assert 0.6 < unknown / wrong < 1.6, (wrong, unknown)


@pytest.fixture
def limited(sqlite_url: str) -> Iterator[Runtime]:
    config = OFFLINE_CONFIG + 'self_service: {rate_limit: "3/minute", verify_rate_limit: "5/minute"}\n'
    runtime = make_runtime(sqlite_url, config, ops_token=TOKEN)
    runtime.clock = lambda: NOW
    yield runtime
    runtime.close()


def test_lookups_beyond_the_rate_limit_get_429_with_retry_after(limited: Runtime) -> None:
    client = create_app(limited).test_client()
    body = {"case_id": "IMM-9999", "access_code": "WRONG0000000"}

    statuses = [client.post("/api/v1/cases/lookup", json=body).status_code for _ in range(3)]
    refused = client.post("/api/v1/cases/lookup", json=body)

    assert statuses == [404, 404, 404]
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.get_json()["error"] == "too_many_requests"
    # Verification has its own allowance: an officer checking letters is not stopped by lookups.
    assert client.get("/api/v1/verify/B8C7SG2A0CTSX").status_code == 404
    for _ in range(5):
        client.get("/api/v1/verify/B8C7SG2A0CTSX")
    assert client.get("/api/v1/verify/B8C7SG2A0CTSX").status_code == 429


# --- employers -------------------------------------------------------------------------------------


def test_a_paper_filing_authorisation_covering_the_attempt_gives_the_exemption_letter_on_the_spot(
    client: FlaskClient, runtime: Runtime
) -> None:
    outage_id = add_outage(runtime)
    with transaction(runtime.sessions) as session:
        session.add(
            PaperAuthorisation(
                outage_id=outage_id,
                component_id="pr-portal",
                starts_at=datetime(2026, 11, 20, 14, 59, tzinfo=UTC),
                ends_at=datetime(2026, 11, 22, 4, 59, 59, tzinfo=UTC),
                outage_ids=[outage_id],
                status=GrantStatus.FINAL,
                created_at=NOW,
                updated_at=NOW,
            )
        )

    answer = client.post("/api/v1/paper-filing-requests", json=employer())
    body = answer.get_json()

    assert answer.status_code == 201
    assert body["covered"] is True
    assert body["paper_filing"] == {"from": "2026-11-20T09:59:00-05:00", "until": "2026-11-21T23:59:59-05:00"}
    shown = client.get(f"/api/v1/verify/{body['letter']['code']}").get_json()
    assert shown["kind"] == "paper_filing" and shown["grants"]["paper_filing"]["until"] == "2026-11-21T23:59:59-05:00"


def test_a_counted_outage_long_enough_for_paper_filing_covers_the_attempt_before_relief_has_run(
    client: FlaskClient, runtime: Runtime
) -> None:
    with transaction(runtime.sessions) as session:
        session.add(
            Outage(
                component_id="pr-portal",
                started_at=datetime(2026, 11, 20, 14, 0, tzinfo=UTC),
                last_ok_at=datetime(2026, 11, 20, 13, 59, tzinfo=UTC),
                ended_at=datetime(2026, 11, 20, 20, 0, tzinfo=UTC),  # six hours
                detected_at=datetime(2026, 11, 20, 14, 1, tzinfo=UTC),
            )
        )

    answer = client.post("/api/v1/paper-filing-requests", json=employer())

    assert answer.status_code == 201
    assert answer.get_json()["letter"]["kind"] == "paper_filing"


def test_an_outage_too_brief_for_paper_filing_gets_an_attestation_and_the_reason(
    client: FlaskClient, runtime: Runtime
) -> None:
    add_outage(runtime)  # one hour: paper filing needs four

    answer = client.post("/api/v1/paper-filing-requests", json=employer())
    body = answer.get_json()

    assert answer.status_code == 200
    assert body["covered"] is False
    assert body["letter"]["kind"] == "attestation"
    assert "4 hours" in body["reason"] and "4 heures" in body["reason_fr"]


def test_a_degraded_period_is_attested_but_does_not_count(client: FlaskClient, runtime: Runtime) -> None:
    outage_id = add_outage(runtime)
    with transaction(runtime.sessions) as session:
        session.get_one(Outage, outage_id).severity = Severity.DEGRADED_PERFORMANCE

    body = client.post("/api/v1/paper-filing-requests", json=employer()).get_json()

    assert body["letter"]["kind"] == "attestation"
    assert "does not count" in body["reason"]


def test_nothing_recorded_gives_the_availability_around_the_attempt_and_no_letter(
    client: FlaskClient, runtime: Runtime
) -> None:
    at = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
    # Five good checks: 30 and 10 minutes before, 10 and 50 after (inside the hour either side), 70 after.
    record_checks(runtime, *((minutes * 60.0, True) for minutes in (0, 20, 40, 80, 100)), t0=at - timedelta(minutes=30))

    answer = client.post(
        "/api/v1/paper-filing-requests", json=employer(attempted_at="2026-11-21T10:00:00-05:00", language="en")
    )
    body = answer.get_json()

    assert answer.status_code == 200
    assert body["letter"] is None and body["covered"] is False
    availability = body["availability"]
    assert (availability["checks"], availability["ok"], availability["failed"]) == (4, 4, 0)
    assert [row["location"] for row in availability["locations"]] == ["local"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"attempted_at": "2026-11-23T10:00:00-05:00"}, "attempted_at"),  # after NOW: the future
        ({"attempted_at": "yesterday at ten"}, "attempted_at"),
        ({"attempted_at": "2026-11-20T10:30:00"}, "attempted_at"),  # no offset
        ({"component": "no-such-portal"}, "component"),
        ({"email": "not an address"}, "email"),
        ({"organisation": ""}, "organisation"),
        ({"language": "de"}, "language"),
    ],
)
def test_a_bad_request_gets_422_naming_the_field(client: FlaskClient, change: dict[str, str], field: str) -> None:
    answer = client.post("/api/v1/paper-filing-requests", json=employer(**change))

    assert answer.status_code == 422
    assert answer.get_json()["field"] == field


def test_a_body_that_is_not_json_gets_422(client: FlaskClient) -> None:
    answer = client.post("/api/v1/paper-filing-requests", data=b"\xff\xfe", content_type="application/json")
    assert answer.status_code == 422 and answer.get_json()["field"] == "body"
