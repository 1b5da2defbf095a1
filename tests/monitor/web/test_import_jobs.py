"""Large imports through the ops API run as jobs to poll; a CSV body is read whatever its Content-Type."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.exceptions import ClientDisconnected
from werkzeug.test import TestResponse

from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import Language
from monitor.storage.models import Case, ImportChunk, ImportJob
from monitor.usecases import jobs
from monitor.web import create_app
from tests.conftest import OFFLINE_CONFIG, make_runtime
from tests.monitor.web.conftest import NOW, TOKEN, add_outage, bearer

HEADER = "case_id,components,deadline,time_zone"
IMPORT = "/api/ops/cases/import"
ONE_MIB = 1024 * 1024


def rows(n: int, prefix: str = "C") -> list[str]:
    # Every thousandth deadline falls inside the outage of `add_outage`; `+05:30` would be a space in a form.
    return [
        f"{prefix}-{i:06d},pr-portal,2026-11-20T10:30:00-05:00,America/Toronto"
        if i % 1000 == 0
        else f"{prefix}-{i:06d},pr-portal,2026-12-{1 + i % 28:02d}T10:00:00+05:30,Asia/Kolkata"
        for i in range(1, n + 1)
    ]


def csv_body(lines: list[str]) -> bytes:
    return ("\n".join([HEADER, *lines]) + "\n").encode()


BIG = csv_body(rows(20_000))  # ~1.3 MB: over the limit for answering at once
SMALL = csv_body(rows(5))


class Recorder:
    """A dispatcher that keeps jobs instead of running them, as Celery's broker would."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, tuple[Any, ...], str]] = []

    def __call__(self, job: str, args: tuple[Any, ...], *, queue: str, expires: float | None = None) -> None:
        self.sent.append((job, args, queue))


def case_count(runtime: Runtime) -> int:
    with transaction(runtime.sessions) as session:
        return session.scalar(select(func.count()).select_from(Case)) or 0


def poll(client: FlaskClient, response: TestResponse) -> dict[str, Any]:
    polled = client.get(response.headers["Location"], headers=bearer())
    assert polled.status_code == 200, polled.get_data(as_text=True)
    body: dict[str, Any] = polled.get_json()
    return body


def post_raw(client: FlaskClient, body: bytes, headers: dict[str, str] | None = None) -> TestResponse:
    """A body with no Content-Type at all (the test client adds none when given bytes and no content_type)."""
    return client.post(IMPORT, data=body, headers={**bearer(), **(headers or {})})


def post_chunked(client: FlaskClient, body: bytes, headers: dict[str, str] | None = None) -> TestResponse:
    """Transfer-Encoding: chunked, no Content-Length: what a server hands on for a streamed upload."""
    return client.post(
        IMPORT,
        input_stream=io.BytesIO(body),
        headers={**bearer(), "Transfer-Encoding": "chunked", "Content-Type": "text/csv", **(headers or {})},
        environ_overrides={"wsgi.input_terminated": True},
    )


# --- the job: 202, a URL to poll, the same result a small import gives ---------------------------


@pytest.fixture
def runtime_on(database_url: str) -> Iterator[Runtime]:
    runtime = make_runtime(database_url, OFFLINE_CONFIG, ops_token=TOKEN)
    runtime.clock = lambda: NOW
    yield runtime
    runtime.close()


def test_an_import_over_one_mib_answers_202_and_the_polled_job_succeeds_with_the_relief_owed(
    runtime_on: Runtime,
) -> None:
    runtime = runtime_on
    recorder = Recorder()
    runtime.dispatch = recorder
    client = create_app(runtime).test_client()
    outage_id = add_outage(runtime)

    response = client.post(IMPORT, data=BIG, content_type="text/csv", headers=bearer())
    assert response.status_code == 202, response.get_data(as_text=True)
    body = response.get_json()
    assert response.headers["Location"] == f"/api/ops/imports/{body['id']}"
    assert response.headers["Retry-After"] == "2"
    assert {k: body[k] for k in ("state", "source", "size_bytes", "rows_read", "imported", "error_count")} == {
        "state": "queued",
        "source": "request body",
        "size_bytes": len(BIG),
        "rows_read": 0,
        "imported": 0,
        "error_count": 0,
    }
    assert recorder.sent == [(jobs.IMPORT_CASES, (body["id"],), jobs.DEFAULT_QUEUE)]
    assert poll(client, response) == body
    assert case_count(runtime) == 0

    jobs.run(runtime, *recorder.sent[0][:2])  # a worker picks it up

    done = poll(client, response)
    assert set(done) == {
        "id",
        "state",
        "source",
        "size_bytes",
        "rows_read",
        "imported",
        "error_count",
        "errors",
        "message",
        "attempts",
        "created_at",
        "started_at",
        "finished_at",
        "relief_for_outages",
    }
    assert (done["state"], done["rows_read"], done["imported"], done["error_count"], done["errors"]) == (
        "succeeded",
        20_000,
        20_000,
        0,
        [],
    )
    assert done["relief_for_outages"] == [outage_id]
    assert done["finished_at"] == "2026-11-22T14:15:00+00:00"
    assert case_count(runtime) == 20_000
    [grant] = client.get("/api/ops/cases/C-001000", headers=bearer()).get_json()["grants"]
    assert grant["new_deadline"] == "2026-11-28T04:59:59+00:00"
    assert client.get("/api/ops/cases/C-000999", headers=bearer()).get_json()["grants"] == []


def test_where_jobs_run_inline_the_202_already_shows_the_finished_job(client: FlaskClient, runtime: Runtime) -> None:
    response = client.post(IMPORT, data=BIG, content_type="text/csv", headers=bearer())
    assert response.status_code == 202
    body = response.get_json()
    assert (body["state"], body["imported"], body["relief_for_outages"]) == ("succeeded", 20_000, [])
    assert "Retry-After" not in response.headers
    assert case_count(runtime) == 20_000


def test_prefer_respond_async_makes_even_a_small_import_a_job(client: FlaskClient, runtime: Runtime) -> None:
    response = client.post(
        IMPORT, data=SMALL, content_type="text/csv", headers={**bearer(), "Prefer": "return=minimal, respond-async"}
    )
    assert response.status_code == 202
    assert response.headers["Preference-Applied"] == "respond-async"
    assert poll(client, response)["imported"] == 5


def test_a_file_with_more_access_codes_than_can_be_hashed_while_the_client_waits_becomes_a_job(
    client: FlaskClient, runtime: Runtime
) -> None:
    lines = [f"{line},K7QM2XPR{i:04d}" for i, line in enumerate(rows(150))]
    body = ("\n".join([HEADER + ",access_code", *lines]) + "\n").encode()

    response = client.post(IMPORT, data=body, content_type="text/csv", headers=bearer())

    assert response.status_code == 202
    assert "Preference-Applied" not in response.headers
    assert poll(client, response)["imported"] == 150
    with transaction(runtime.sessions) as session:
        hashes = list(session.scalars(select(Case.access_hash)))
    assert len(hashes) == 150 and all(value and value.startswith("scrypt$") for value in hashes)


def test_a_small_import_still_answers_200_at_once(client: FlaskClient, runtime: Runtime) -> None:
    response = client.post(IMPORT, data=SMALL, content_type="text/csv", headers=bearer())
    assert response.status_code == 200
    assert response.get_json() == {"imported": 5, "relief_for_outages": []}
    with transaction(runtime.sessions) as session:
        assert session.scalar(select(func.count()).select_from(ImportJob)) == 0


def test_a_small_bad_import_still_answers_422_with_its_problems_counted(client: FlaskClient) -> None:
    bad = csv_body([f"B-{i},pr-portal,2026-13-45T10:00:00-05:00,America/Toronto" for i in range(3)])
    response = client.post(IMPORT, data=bad, content_type="text/csv", headers=bearer())
    assert response.status_code == 422
    body = response.get_json()
    assert set(body) == {"error", "message", "error_count", "errors"}
    assert (body["error"], body["error_count"], len(body["errors"])) == ("invalid_csv", 3, 3)
    assert set(body["errors"][0]) == {"row", "line", "column", "message"}


def test_a_small_chunked_body_is_imported_at_once_and_a_large_one_becomes_a_job(
    client: FlaskClient, runtime: Runtime
) -> None:
    small = post_chunked(client, SMALL)
    assert small.status_code == 200, small.get_data(as_text=True)
    assert small.get_json()["imported"] == 5
    large = post_chunked(client, csv_body(rows(20_000, prefix="L")))
    assert large.status_code == 202
    assert poll(client, large)["imported"] == 20_000
    assert case_count(runtime) == 20_005


def test_thousands_of_bad_rows_in_a_large_upload_reject_the_job_listing_the_first_thousand(
    client: FlaskClient, runtime: Runtime
) -> None:
    bad = csv_body([f"BAD-{i:06d},pr-portal,2026-13-45T10:00:00-05:00,America/Toronto" for i in range(30_000)])
    assert len(bad) > ONE_MIB
    response = client.post(IMPORT, data=bad, content_type="text/csv", headers=bearer())
    assert response.status_code == 202
    body = poll(client, response)
    assert (body["state"], body["error_count"], len(body["errors"]), body["imported"]) == ("rejected", 30_000, 1000, 0)
    assert body["errors"][0]["row"] == 1 and body["errors"][0]["column"] == "deadline"
    assert body["message"] == "30000 problem(s) in request body; nothing was imported"
    assert "relief_for_outages" not in body
    assert case_count(runtime) == 0


# --- whatever the Content-Type ------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", [None, "application/x-www-form-urlencoded", "text/plain; charset=utf-8", "application/octet-stream"]
)
@pytest.mark.parametrize("size", ["small", "large"])
def test_a_csv_body_is_imported_whatever_its_content_type(
    client: FlaskClient, runtime: Runtime, content_type: str | None, size: str
) -> None:
    body = SMALL if size == "small" else BIG
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = post_raw(client, body, headers)
    assert response.status_code == (200 if size == "small" else 202), response.get_data(as_text=True)
    imported = response.get_json()["imported"]
    assert imported == (5 if size == "small" else 20_000)
    with transaction(runtime.sessions) as session:
        case = session.get_one(Case, "C-000001")
        # Parsed as a form, `+05:30` would have become ` 05:30`: the bytes reached the parser untouched.
        assert case.deadline == datetime(2026, 12, 2, 4, 30, tzinfo=UTC)


def test_an_empty_body_is_refused_saying_how_to_send_the_file(client: FlaskClient) -> None:
    for headers in [{}, {"Content-Type": "application/x-www-form-urlencoded"}, {"Content-Type": "text/csv"}]:
        response = post_raw(client, b"", headers)
        assert response.status_code == 422
        body = response.get_json()
        assert body["error"] == "invalid_csv"
        assert body["message"].startswith("the request body is empty")
        assert "--data-binary" in body["message"]
        assert body["error_count"] == 1
    chunked = post_chunked(client, b"")
    assert chunked.status_code == 422
    assert chunked.get_json()["message"].startswith("the request body is empty")


def test_a_multipart_upload_without_a_file_part_is_refused_naming_the_parts_it_had(client: FlaskClient) -> None:
    response = client.post(
        IMPORT,
        data={"data": (io.BytesIO(SMALL), "cases.csv"), "note": "march"},
        content_type="multipart/form-data",
        headers=bearer(),
    )
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "missing_file"
    assert "'file'" in body["message"] and "'data'" in body["message"] and "'note'" in body["message"]


def test_a_multipart_upload_with_an_empty_file_is_refused_as_empty(client: FlaskClient) -> None:
    response = client.post(
        IMPORT, data={"file": (io.BytesIO(b""), "cases.csv")}, content_type="multipart/form-data", headers=bearer()
    )
    assert response.status_code == 422
    assert response.get_json()["message"].startswith("the request body is empty")


def test_a_large_multipart_upload_becomes_a_job_named_after_its_file(client: FlaskClient, runtime: Runtime) -> None:
    response = client.post(
        IMPORT,
        data={"file": (io.BytesIO(BIG), "march-cases.csv")},
        content_type="multipart/form-data",
        headers=bearer(),
    )
    # The test client encodes a large upload into a temporary file that closing the response leaves open.
    response.request.environ["wsgi.input"].close()
    assert response.status_code == 202
    body = poll(client, response)
    assert (body["state"], body["source"], body["imported"], body["size_bytes"]) == (
        "succeeded",
        "march-cases.csv",
        20_000,
        len(BIG),
    )


class Disconnecting(io.BytesIO):
    """A client that sends 3 MiB of its upload, then goes away."""

    def __init__(self) -> None:
        super().__init__(csv_body(rows(80_000)))

    def read(self, size: int | None = -1) -> bytes:
        self._check()
        return super().read(min(64 * 1024, size if size is not None and size >= 0 else 64 * 1024))

    def readinto(self, target: Any) -> int:  # what Werkzeug's LimitedStream calls
        self._check()
        return super().readinto(memoryview(target)[: 64 * 1024])

    def _check(self) -> None:
        if self.tell() >= 3 * ONE_MIB:
            raise ClientDisconnected()


def test_a_client_that_goes_away_during_its_upload_leaves_no_job(client: FlaskClient, runtime: Runtime) -> None:
    response = client.post(
        IMPORT,
        input_stream=Disconnecting(),
        headers={**bearer(), "Transfer-Encoding": "chunked", "Content-Type": "text/csv"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 400
    with transaction(runtime.sessions) as session:
        assert session.scalar(select(func.count()).select_from(ImportJob)) == 0
        assert session.scalar(select(func.count()).select_from(ImportChunk)) == 0


# --- GET /api/ops/imports/<id> ------------------------------------------------------------------


def test_an_unknown_job_is_a_404_and_a_malformed_id_a_422(client: FlaskClient) -> None:
    missing = client.get(f"/api/ops/imports/{'0' * 32}", headers=bearer())
    assert missing.status_code == 404
    assert missing.get_json()["error"] == "not_found"
    for bad in ["nope", "0" * 31, "0" * 33, "A" * 32, "g" * 32]:
        response = client.get(f"/api/ops/imports/{bad}", headers=bearer())
        assert response.status_code == 422, bad
        assert response.get_json()["error"] == "invalid_job_id"


def test_a_job_is_shown_only_with_the_token(client: FlaskClient) -> None:
    job_id = client.post(IMPORT, data=BIG, content_type="text/csv", headers=bearer()).get_json()["id"]
    response = client.get(f"/api/ops/imports/{job_id}")
    assert response.status_code == 401
    assert set(response.get_json()) == {"error", "message"}
    response = client.get(f"/api/ops/imports/{job_id}", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401


def test_a_job_the_broker_refused_is_still_answered_202_and_sent_later_by_the_sweeper(
    client: FlaskClient, runtime: Runtime
) -> None:
    def broker_down(job: str, args: tuple[Any, ...], *, queue: str, expires: float | None = None) -> None:
        raise ConnectionError("Error 111 connecting to redis:6379. Connection refused.")

    runtime.dispatch = broker_down
    response = client.post(IMPORT, data=BIG, content_type="text/csv", headers=bearer())
    assert response.status_code == 202
    assert response.get_json()["state"] == "queued"
    recorder = Recorder()
    runtime.dispatch = recorder
    later = NOW + timedelta(minutes=2)
    runtime.clock = lambda: later
    assert jobs.sweep_stuck_imports(runtime) == 1
    assert recorder.sent == [(jobs.IMPORT_CASES, (response.get_json()["id"],), jobs.DEFAULT_QUEUE)]


# --- the optional columns in a large upload -------------------------------------------------------


def test_a_large_upload_with_the_optional_columns_stores_them_and_names_a_bad_one(runtime_on: Runtime) -> None:
    runtime = runtime_on
    recorder = Recorder()
    runtime.dispatch = recorder
    client = create_app(runtime).test_client()
    header = f"{HEADER},extendable,email,webhook_url,language"
    lines = [f"{line},,,," for line in rows(20_000)]
    lines[0] = lines[0].removesuffix(",,,,") + ",false,a@example.ca,https://hooks.example.ca/a,fr"
    body = ("\n".join([header, *lines]) + "\n").encode()
    assert len(body) > ONE_MIB

    response = client.post(IMPORT, data=body, content_type="text/csv", headers=bearer())
    assert response.status_code == 202, response.get_data(as_text=True)
    jobs.run(runtime, *recorder.sent[-1][:2])
    assert poll(client, response)["imported"] == 20_000
    with transaction(runtime.sessions) as session:
        first, second = session.get_one(Case, "C-000001"), session.get_one(Case, "C-000002")
        assert (first.extendable, first.email, first.webhook_url, first.language) == (
            False,
            "a@example.ca",
            "https://hooks.example.ca/a",
            Language.FR,
        )
        assert (second.extendable, second.email, second.webhook_url, second.language) == (True, None, None, None)

    lines[12_344] = lines[12_344].removesuffix(",,,,") + ",,not-an-address,,"
    response = client.post(IMPORT, data=("\n".join([header, *lines]) + "\n").encode(), headers=bearer())
    assert response.status_code == 202
    jobs.run(runtime, *recorder.sent[-1][:2])
    done = poll(client, response)
    assert (done["state"], done["error_count"]) == ("rejected", 1)
    assert {k: done["errors"][0][k] for k in ("row", "line", "column")} == {
        "row": 12_345,
        "line": 12_346,
        "column": "email",
    }
