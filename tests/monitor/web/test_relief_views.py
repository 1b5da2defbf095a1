"""What ops and the public see of relief: a case's decision and history, and paper-filing authorisations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient

from exemptions.cases import import_cases
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.models import Outage
from monitor.usecases.relief import relieve
from tests.monitor.web.conftest import bearer

# Friday 20 November 2026, Toronto (EST): last good check 08:59, down 09:00, back at 14:00 — five hours.
LAST_OK = datetime(2026, 11, 20, 13, 59, tzinfo=UTC)
STARTED = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
ENDED = datetime(2026, 11, 20, 19, 0, tzinfo=UTC)


def long_outage(runtime: Runtime, *, ended_at: datetime | None = ENDED) -> int:
    with transaction(runtime.sessions) as session:
        outage = Outage(
            component_id="pr-portal",
            started_at=STARTED,
            last_ok_at=LAST_OK,
            last_failed_at=ENDED - timedelta(minutes=1),
            ended_at=ended_at,
            detected_at=STARTED + timedelta(minutes=1),
        )
        session.add(outage)
        session.flush()
        return outage.id


def add_cases(runtime: Runtime, text: str) -> None:
    with transaction(runtime.sessions) as session:
        import_cases(session, text, source="cases.csv")


def test_a_five_hour_outage_is_listed_publicly_as_a_paper_filing_authorisation(
    client: FlaskClient, runtime: Runtime
) -> None:
    outage_id = long_outage(runtime)
    relieve(runtime, outage_id)

    answer = client.get("/api/v1/paper-authorisations")

    assert answer.status_code == 200
    body = answer.get_json()
    assert body["time_zone"] == "America/Toronto"
    (authorisation,) = body["authorisations"]
    assert authorisation["component"] == "pr-portal"
    assert authorisation["outage_ids"] == [outage_id]
    assert datetime.fromisoformat(authorisation["from"]) == LAST_OK
    # The first accessible business day after Friday is Monday 23 November: until 23:59:59 EST.
    assert datetime.fromisoformat(authorisation["until"]) == datetime(2026, 11, 24, 4, 59, 59, tzinfo=UTC)
    assert authorisation["status"] == "final"
    assert authorisation["current"] is True  # the clock stands at Sunday 22 November
    assert client.get("/api/v1/paper-authorisations?current=true").get_json()["authorisations"] != []
    assert client.get("/api/v1/paper-authorisations?current=false").get_json()["authorisations"] == []
    assert client.get("/api/v1/paper-authorisations?component=employer-portal").get_json()["authorisations"] == []


def test_a_bad_filter_on_the_public_list_is_a_clear_422(client: FlaskClient) -> None:
    answer = client.get("/api/v1/paper-authorisations?current=maybe")

    assert answer.status_code == 422
    assert "current" in answer.get_json()["message"]


def test_the_ops_view_of_a_case_explains_its_relief_in_its_own_zone(client: FlaskClient, runtime: Runtime) -> None:
    outage_id = long_outage(runtime)
    add_cases(
        runtime,
        "case_id,components,deadline,time_zone\n"
        "K-1,pr-portal,2026-11-20T23:00:00+05:00,Asia/Karachi\n"
        "T-1,employer-portal,2026-11-20T12:00:00-05:00,America/Toronto\n",
    )
    relieve(runtime, outage_id)

    case = client.get("/api/ops/cases/K-1", headers=bearer()).get_json()

    # Karachi's deadline (13:00 EST) fell inside the outage. The test configuration keeps the legacy
    # `grace_days: 7`: 23:59:59 PKT seven days after Karachi's day of restoration (Saturday 21 November there).
    assert case["effective_deadline"] == "2026-11-28T23:59:59+05:00"
    assert case["extendable"] is True
    decision = case["decision"]
    assert decision["rules"] == ["deadline_day", "last_hour", "grace_days"]
    assert decision["outage_ids"] == [outage_id]
    assert decision["status"] == "final"
    assert decision["held"] is False
    assert [line["rule"] for line in decision["explanation"]] == decision["rules"]
    assert [entry["change"] for entry in case["history"]] == ["granted"]
    assert case["paper_filing"]["authorised"] is True
    assert case["paper_filing"]["authorisations"][0]["outage_ids"] == [outage_id]
    assert case["grants"][0]["outage_id"] == outage_id  # the earlier shape is kept

    other = client.get("/api/ops/cases/T-1", headers=bearer()).get_json()
    assert other["decision"] is None and other["history"] == []
    assert other["effective_deadline"] == "2026-11-20T12:00:00-05:00"
    assert other["paper_filing"] == {"authorised": False, "authorisations": []}


def test_a_declared_outage_gives_relief_and_a_correction_that_shortens_it_is_held_not_applied(
    client: FlaskClient, runtime: Runtime
) -> None:
    add_cases(
        runtime,
        "case_id,components,deadline,time_zone\nD-1,pr-portal,2026-11-20T12:00:00-05:00,America/Toronto\n",
    )
    declared = client.post(
        "/api/ops/outages",
        json={
            "component": "pr-portal",
            "started_at": "2026-11-20T09:00:00-05:00",
            "ended_at": "2026-11-20T14:00:00-05:00",
            "severity": "major_outage",
            "reason": "the operator reported the sign-in service down",
        },
        headers=bearer(),
    )
    assert declared.status_code == 201, declared.get_json()
    outage_id = declared.get_json()["id"]

    given = client.get("/api/ops/cases/D-1", headers=bearer()).get_json()
    assert given["decision"]["outage_ids"] == [outage_id]
    assert given["effective_deadline"] == "2026-11-27T23:59:59-05:00"  # legacy grace_days: 7 after Friday

    corrected = client.patch(
        f"/api/ops/outages/{outage_id}",
        json={"ended_at": "2026-11-20T09:20:00-05:00", "reason": "the operator's log shows 20 minutes"},
        headers=bearer(),
    )
    assert corrected.status_code == 200, corrected.get_json()

    after = client.get("/api/ops/cases/D-1", headers=bearer()).get_json()
    assert after["effective_deadline"] == given["effective_deadline"]  # never moved earlier
    assert after["decision"]["held"] is True
    assert after["decision"]["computed_deadline"] is None
    assert [entry["change"] for entry in after["history"]] == ["granted", "held"]
    # The paper-filing authorisation given while the record showed five hours stays: never silently taken back.
    assert client.get("/api/ops/paper-authorisations", headers=bearer()).get_json()["authorisations"] != []


def test_correcting_an_observed_outage_to_start_earlier_reaches_deadlines_before_its_first_failure(
    client: FlaskClient, runtime: Runtime
) -> None:
    outage_id = long_outage(runtime)  # observed from 08:59 EST (last good check) to 14:00
    add_cases(
        runtime,
        "case_id,components,deadline,time_zone\nE-1,pr-portal,2026-11-20T08:30:00-05:00,America/Toronto\n",
    )
    relieve(runtime, outage_id)
    assert client.get("/api/ops/cases/E-1", headers=bearer()).get_json()["decision"] is None

    corrected = client.patch(
        f"/api/ops/outages/{outage_id}",
        json={"started_at": "2026-11-20T07:00:00-05:00", "reason": "the operator's log: down from 07:00"},
        headers=bearer(),
    )

    assert corrected.status_code == 200, corrected.get_json()
    (correction,) = corrected.get_json()["corrections"]
    assert correction["before"]["last_ok_at"] == LAST_OK.isoformat()
    decision = client.get("/api/ops/cases/E-1", headers=bearer()).get_json()["decision"]
    assert decision["rules"][:2] == ["deadline_day", "last_hour"]
