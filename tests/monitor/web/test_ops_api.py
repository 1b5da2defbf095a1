"""The ops API answers only to the bearer token; the public Statuspage-shaped JSON needs no login."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.models import Case, Check, Outage
from monitor.web import create_app
from tests.conftest import OFFLINE_CONFIG, make_runtime, record_checks
from tests.monitor.web.conftest import NOW, TOKEN, add_outage, bearer

CONFIG = OFFLINE_CONFIG

HEADER = "case_id,components,deadline,time_zone"


def valid_csv(n: int = 100) -> str:
    rows = [
        f"C-{i:04d},pr-portal{';employer-portal' if i % 2 else ''},2026-12-{1 + i % 28:02d}T10:00:00-05:00,"
        "America/Toronto"
        for i in range(1, n + 1)
    ]
    return "\n".join([HEADER, *rows]) + "\n"


def csv_with_bad_row_57() -> str:
    lines = valid_csv().splitlines()
    lines[57] = "C-0057,pr-portal,2026-13-45T10:00:00-05:00,America/Toronto"
    return "\n".join(lines) + "\n"


def case_count(runtime: Runtime) -> int:
    with transaction(runtime.sessions) as session:
        return session.scalar(select(func.count()).select_from(Case)) or 0


# --- no valid token, nothing but a 401 ----------------------------------------------------------

REQUESTS = [
    ("GET", "/api/ops/outages"),
    ("GET", "/api/ops/cases/C-0001"),
    ("POST", "/api/ops/cases/import"),
]


def assert_unauthorized(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 401
    assert response.is_json
    body = response.get_json()
    assert body["error"] == "unauthorized"
    assert set(body) == {"error", "message"}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path"), REQUESTS)
def test_without_a_token_nothing_but_a_401_comes_back(
    client: FlaskClient, runtime: Runtime, method: str, path: str
) -> None:
    response = client.open(path, method=method, data=valid_csv(), content_type="text/csv")
    assert_unauthorized(response)
    assert "Bearer" in response.get_json()["message"]
    assert case_count(runtime) == 0


@pytest.mark.parametrize(("method", "path"), REQUESTS)
def test_a_wrong_token_is_refused(client: FlaskClient, runtime: Runtime, method: str, path: str) -> None:
    response = client.open(path, method=method, data=valid_csv(), content_type="text/csv", headers=bearer("s3cre"))
    assert_unauthorized(response)
    assert case_count(runtime) == 0


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic czNjcmV0Og==",  # s3cret: as HTTP Basic
        f"Basic {TOKEN}",
        TOKEN,
        f"Bearer {TOKEN}x",
        f"Bearer x{TOKEN}",
        "Bearer ",
        "Bearer",
    ],
)
def test_anything_but_the_exact_bearer_token_is_refused(
    client: FlaskClient, runtime: Runtime, authorization: str
) -> None:
    response = client.post(
        "/api/ops/cases/import", data=valid_csv(), content_type="text/csv", headers={"Authorization": authorization}
    )
    assert_unauthorized(response)
    assert case_count(runtime) == 0


def test_without_a_configured_token_the_ops_api_is_closed(sqlite_url: str) -> None:
    runtime = make_runtime(sqlite_url, CONFIG, ops_token=None)
    try:
        client = create_app(runtime).test_client()
        for token in ["", "None", "null", TOKEN]:
            response = client.get("/api/ops/outages", headers=bearer(token))
            assert_unauthorized(response)
            assert "PORTALWATCH_OPS_TOKEN" in response.get_json()["message"]
        response = client.post(
            "/api/ops/cases/import", data=valid_csv(), content_type="text/csv", headers=bearer("anything")
        )
        assert_unauthorized(response)
        assert case_count(runtime) == 0
    finally:
        runtime.close()


def test_the_public_status_api_needs_no_token(client: FlaskClient) -> None:
    assert client.get("/api/v2/status.json").status_code == 200


# --- with the right token -----------------------------------------------------------------------


def test_importing_a_csv_body_stores_the_cases(client: FlaskClient, runtime: Runtime) -> None:
    response = client.post("/api/ops/cases/import", data=valid_csv(), content_type="text/csv", headers=bearer())
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["imported"] == 100
    assert case_count(runtime) == 100


def test_the_scheme_name_is_not_case_sensitive(client: FlaskClient, runtime: Runtime) -> None:
    response = client.post(
        "/api/ops/cases/import",
        data=valid_csv(3),
        content_type="text/csv",
        headers={"Authorization": f"bearer {TOKEN}"},
    )
    assert response.status_code == 200
    assert case_count(runtime) == 3


def test_importing_an_uploaded_file_stores_the_cases(client: FlaskClient, runtime: Runtime) -> None:
    import io

    response = client.post(
        "/api/ops/cases/import",
        data={"file": (io.BytesIO(valid_csv(7).encode("utf-8-sig")), "cases.csv")},
        content_type="multipart/form-data",
        headers=bearer(),
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["imported"] == 7
    assert case_count(runtime) == 7


def test_a_bad_csv_is_rejected_with_422_listing_row_57_and_nothing_is_imported(
    client: FlaskClient, runtime: Runtime
) -> None:
    response = client.post(
        "/api/ops/cases/import", data=csv_with_bad_row_57(), content_type="text/csv", headers=bearer()
    )
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "invalid_csv"
    assert "nothing was imported" in body["message"]
    assert len(body["errors"]) == 1
    error = body["errors"][0]
    assert (error["row"], error["line"], error["column"]) == (57, 58, "deadline")
    assert "2026-13-45" in error["message"]
    assert case_count(runtime) == 0


def test_a_body_that_is_not_utf8_is_rejected(client: FlaskClient, runtime: Runtime) -> None:
    response = client.post("/api/ops/cases/import", data=b"case_id\xff\xfe", content_type="text/csv", headers=bearer())
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_csv"
    assert case_count(runtime) == 0


def test_a_case_shows_its_deadline_components_and_no_grants(client: FlaskClient) -> None:
    csv = f"{HEADER}\nAPP-42,pr-portal;employer-portal,2026-12-01T23:59:00-05:00,America/Toronto\n"
    assert client.post("/api/ops/cases/import", data=csv, content_type="text/csv", headers=bearer()).status_code == 200
    response = client.get("/api/ops/cases/APP-42", headers=bearer())
    assert response.status_code == 200
    assert response.get_json() == {
        "case_id": "APP-42",
        "components": ["employer-portal", "pr-portal"],
        "deadline": "2026-12-02T04:59:00+00:00",
        "time_zone": "America/Toronto",
        "effective_deadline": "2026-12-01T23:59:00-05:00",  # in the case's own zone
        "grants": [],
        "extendable": True,
        "decision": None,
        "history": [],
        "paper_filing": {"authorised": False, "authorisations": []},
        "letters": [],
        "letters_pending": 0,
        "notices": [],
    }


def test_an_unknown_case_is_a_404(client: FlaskClient) -> None:
    response = client.get("/api/ops/cases/NOPE", headers=bearer())
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"
    assert "NOPE" in response.get_json()["message"]


def test_no_outages_yet(client: FlaskClient) -> None:
    response = client.get("/api/ops/outages", headers=bearer())
    assert response.status_code == 200
    assert response.get_json() == {"outages": []}


def test_an_outage_is_listed_with_its_bounds(client: FlaskClient, runtime: Runtime) -> None:
    started = NOW - timedelta(hours=2)
    with transaction(runtime.sessions) as session:
        session.add(
            Outage(
                component_id="pr-portal",
                started_at=started,
                last_ok_at=started - timedelta(minutes=1),
                ended_at=None,
                detected_at=started + timedelta(minutes=1),
                grace_days=7,
            )
        )
    response = client.get("/api/ops/outages?open=1", headers=bearer())
    assert response.status_code == 200
    [outage] = response.get_json()["outages"]
    assert outage["component"] == {"id": "pr-portal", "name": "Permanent residence portal"}
    assert outage["status"] == "open"
    assert outage["started_at"] == "2026-11-22T12:15:00+00:00"
    assert outage["last_ok_at"] == "2026-11-22T12:14:00+00:00"
    assert outage["ended_at"] is None
    assert outage["duration_seconds"] == 7200
    assert outage["grants"] == 0
    assert outage["first_failed_check"] is None


def test_an_out_of_range_limit_is_a_400(client: FlaskClient) -> None:
    assert client.get("/api/ops/outages?limit=0", headers=bearer()).status_code == 400


# --- the public Statuspage-compatible summary ---------------------------------------------------


def test_the_summary_of_a_fresh_install_says_all_systems_operational(client: FlaskClient) -> None:
    response = client.get("/api/v2/summary.json")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    body = response.get_json()
    assert set(body) == {"page", "status", "components", "incidents", "scheduled_maintenances"}
    assert body["page"] == {
        "id": "pw-test",
        "name": "Test portal status",
        "url": "http://status.test/",
        "time_zone": "America/Toronto",
        "updated_at": "2026-11-22T14:15:00+00:00",
    }
    assert body["status"] == {"indicator": "none", "description": "All Systems Operational"}
    assert [(c["id"], c["name"], c["status"], c["position"]) for c in body["components"]] == [
        ("pr-portal", "Permanent residence portal", "operational", 0),
        ("employer-portal", "Employer portal", "operational", 1),
    ]
    assert body["components"][0]["description"] == "Applications for permanent residence"
    assert all(c["page_id"] == "pw-test" for c in body["components"])
    assert body["incidents"] == []
    assert body["scheduled_maintenances"] == []


def test_the_summary_shows_an_open_outage(client: FlaskClient, runtime: Runtime) -> None:
    with transaction(runtime.sessions) as session:
        session.add(
            Outage(
                component_id="employer-portal",
                started_at=NOW - timedelta(minutes=30),
                last_ok_at=NOW - timedelta(minutes=31),
                detected_at=NOW - timedelta(minutes=29),
                grace_days=7,
            )
        )
    body = client.get("/api/v2/summary.json").get_json()
    assert body["status"]["indicator"] == "major"
    assert {c["id"]: c["status"] for c in body["components"]} == {
        "pr-portal": "operational",
        "employer-portal": "major_outage",
    }
    [incident] = body["incidents"]
    assert incident["status"] == "investigating"
    assert incident["started_at"] == "2026-11-22T13:45:00+00:00"


def test_cases_imported_after_an_outage_get_the_relief_it_earned(client: FlaskClient, runtime: Runtime) -> None:
    outage_id = add_outage(runtime)  # down from 10:00 to 11:00 EST on 20 November
    csv = "\n".join(
        [
            HEADER,
            "INSIDE,pr-portal,2026-11-20T10:30:00-05:00,America/Toronto",
            "OUTSIDE,pr-portal,2026-11-21T10:30:00-05:00,America/Toronto",
        ]
    )
    response = client.post("/api/ops/cases/import", data=csv, headers={**bearer(), "Content-Type": "text/csv"})
    assert response.status_code == 200
    assert response.get_json() == {"imported": 2, "relief_for_outages": [outage_id]}
    [grant] = client.get("/api/ops/cases/INSIDE", headers=bearer()).get_json()["grants"]
    assert grant["new_deadline"] == "2026-11-28T04:59:59+00:00"  # 27 November, 23:59:59 EST
    assert grant["status"] == "final"
    assert client.get("/api/ops/cases/OUTSIDE", headers=bearer()).get_json()["grants"] == []


def test_a_check_is_shown_with_its_evidence_and_its_place_in_the_chain(client: FlaskClient, runtime: Runtime) -> None:
    record_checks(runtime, (0, True), (5, False))
    with transaction(runtime.sessions) as session:
        first, second = session.scalars(select(Check).order_by(Check.id)).all()
    answer = client.get(f"/api/ops/checks/{second.id}", headers=bearer())
    assert answer.status_code == 200
    body = answer.get_json()
    assert (body["probe_id"], body["kind"], body["error_class"]) == ("pr-home", "scheduled", "status")
    assert body["prev_digest"] == first.digest and body["digest"] == second.digest
    assert body["evidence_sha256"] == hashlib.sha256(second.evidence.encode()).hexdigest()
    assert client.get("/api/ops/checks/999999", headers=bearer()).status_code == 404
    assert client.get(f"/api/ops/checks/{second.id}").status_code == 401
