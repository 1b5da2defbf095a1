"""Import jobs: all rows or none, problems capped but counted, a dead worker's job done once, memory flat."""

from __future__ import annotations

import io
import json
import sqlite3
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from exemptions.cases import ImportRejected, RowError, access, parse_cases_csv, verify_code
from exemptions.cases import store as cases_store
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import ImportState, Language
from monitor.storage.models import (
    Case,
    CaseComponent,
    Grant,
    ImportChunk,
    ImportJob,
    ImportRow,
    ImportRowComponent,
    Outage,
)
from monitor.usecases import cases as cases_usecase
from monitor.usecases import imports, jobs
from monitor.usecases.imports import ImportResult, Phase
from tests.conftest import OFFLINE_CONFIG, make_runtime
from tests.exemptions.cases.conftest import holding_code

HEADER = "case_id,components,deadline,time_zone"
START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
# Down from 10:00 to 11:00 EST on 20 November; the last good check was at 09:59.
OUTAGE_LAST_OK = datetime(2026, 11, 20, 14, 59, tzinfo=UTC)
INSIDE_DEADLINE = "2026-11-20T10:30:00-05:00"


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def runtime(database_url: str, clock: Clock) -> Iterator[Runtime]:
    runtime = make_runtime(database_url, OFFLINE_CONFIG)
    runtime.clock = clock
    yield runtime
    runtime.close()


@pytest.fixture
def sqlite_runtime(sqlite_url: str, clock: Clock) -> Iterator[Runtime]:
    runtime = make_runtime(sqlite_url, OFFLINE_CONFIG)
    runtime.clock = clock
    yield runtime
    runtime.close()


def row(i: int, prefix: str = "C") -> str:
    components = "pr-portal;employer-portal" if i % 3 == 0 else "pr-portal"
    deadline = INSIDE_DEADLINE if i % 1000 == 0 else f"2026-12-{1 + i % 28:02d}T10:00:00-05:00"
    return f"{prefix}-{i:06d},{components},{deadline},America/Toronto"


def valid_lines(n: int, prefix: str = "C") -> list[str]:
    return [row(i, prefix) for i in range(1, n + 1)]


def csv_bytes(lines: list[str], header: str = HEADER) -> bytes:
    return ("\n".join([header, *lines]) + "\n").encode()


def pieces(data: bytes, size: int = 300_000) -> Iterator[bytes]:
    """The upload as a client sends it: in pieces that do not line up with the stored chunks."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def upload(runtime: Runtime, data: bytes, source: str = "cases.csv") -> str:
    return imports.create_job(runtime, pieces(data), source=source)


def run(runtime: Runtime, data: bytes, source: str = "cases.csv") -> ImportResult:
    result = imports.run_import(runtime, upload(runtime, data, source))
    assert result is not None
    return result


def count(runtime: Runtime, model: Any) -> int:
    with transaction(runtime.sessions) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def job(runtime: Runtime, job_id: str) -> imports.ImportJobView:
    with transaction(runtime.sessions) as session:
        view = imports.job_view(session, job_id)
    assert view is not None
    return view


def assert_nothing_left_behind(runtime: Runtime) -> None:
    assert count(runtime, ImportChunk) == 0
    assert count(runtime, ImportRow) == 0
    assert count(runtime, ImportRowComponent) == 0


def add_outage(runtime: Runtime) -> int:
    with transaction(runtime.sessions) as session:
        outage = Outage(
            component_id="pr-portal",
            started_at=OUTAGE_LAST_OK + timedelta(minutes=1),
            last_ok_at=OUTAGE_LAST_OK,
            ended_at=OUTAGE_LAST_OK + timedelta(hours=1, minutes=1),
            detected_at=OUTAGE_LAST_OK + timedelta(minutes=2),
            grace_days=7,
        )
        session.add(outage)
        session.flush()
        return outage.id


def sync_errors(data: bytes) -> tuple[list[RowError], int]:
    """What the synchronous parser says about the same file: the reference for the job's report."""
    with pytest.raises(ImportRejected) as raised:
        parse_cases_csv(data.decode(), known_components=["pr-portal", "employer-portal"], source="cases.csv")
    return raised.value.errors, raised.value.error_count


class WorkerDied(BaseException):
    """Stands for the process being killed: not an Exception, so nothing in the job catches it."""


# --- all rows, and the relief they are owed ------------------------------------------------------


def test_a_job_stores_every_row_and_the_relief_an_outage_earned_them(runtime: Runtime) -> None:
    outage_id = add_outage(runtime)
    result = run(runtime, csv_bytes(valid_lines(12_000)))  # more than two staging batches
    assert (result.state, result.imported, result.rows_read, result.error_count) == (
        ImportState.SUCCEEDED,
        12_000,
        12_000,
        0,
    )
    assert result.outage_ids == [outage_id]
    assert result.granted == 12  # every thousandth case: on pr-portal, with a deadline inside the window
    assert count(runtime, Case) == 12_000
    assert count(runtime, CaseComponent) == 12_000 + 4_000
    with transaction(runtime.sessions) as session:
        granted = sorted(session.scalars(select(Grant.case_id)))
        c3 = session.get_one(Case, "C-000003")
        assert (c3.deadline, c3.time_zone) == (datetime(2026, 12, 4, 15, 0, tzinfo=UTC), "America/Toronto")
        assert sorted(c.component_id for c in c3.components) == ["employer-portal", "pr-portal"]
    assert granted == [f"C-{i:06d}" for i in range(1000, 12_001, 1000)]
    view = job(runtime, result.job_id)
    assert (view.state, view.imported, view.rows_read, view.attempts) == (ImportState.SUCCEEDED, 12_000, 12_000, 1)
    assert view.relief_for_outages == [outage_id]
    assert view.finished_at == START
    assert_nothing_left_behind(runtime)


def test_re_importing_through_a_job_replaces_deadlines_and_components(runtime: Runtime) -> None:
    run(runtime, csv_bytes(["KEEP,pr-portal,2026-12-01T10:00:00-05:00,America/Toronto", row(7)]))
    result = run(runtime, csv_bytes(["C-000007,employer-portal,2026-12-15T10:00:00+05:30,Asia/Kolkata"]))
    assert result.state == ImportState.SUCCEEDED
    assert count(runtime, Case) == 2
    with transaction(runtime.sessions) as session:
        case = session.get_one(Case, "C-000007")
        assert (case.deadline, case.time_zone) == (datetime(2026, 12, 15, 4, 30, tzinfo=UTC), "Asia/Kolkata")
        assert [c.component_id for c in case.components] == ["employer-portal"]
        assert [c.component_id for c in session.get_one(Case, "KEEP").components] == ["pr-portal"]
    assert job(runtime, result.job_id).relief_for_outages == []


# --- problems: capped, counted, in file order, nothing imported ----------------------------------


def test_thirty_thousand_bad_rows_are_rejected_listing_the_first_thousand_and_counting_all(runtime: Runtime) -> None:
    lines = valid_lines(100) + [f"BAD-{i},pr-portal,2026-13-45T10:00:00-05:00,America/Toronto" for i in range(30_000)]
    result = run(runtime, csv_bytes(lines))
    assert result.state == ImportState.REJECTED
    assert (result.error_count, len(result.errors), result.imported) == (30_000, 1000, 0)
    assert (result.errors[0].row, result.errors[0].line, result.errors[0].column) == (101, 102, "deadline")
    assert result.errors[-1].line == 1101
    view = job(runtime, result.job_id)
    assert (view.state, view.error_count, len(view.errors), view.rows_read) == (
        ImportState.REJECTED,
        30_000,
        1000,
        30_100,
    )
    assert view.errors[0] == {"row": 101, "line": 102, "column": "deadline", "message": result.errors[0].message}
    assert view.message == "30000 problem(s) in cases.csv; nothing was imported"
    assert count(runtime, Case) == 0
    assert_nothing_left_behind(runtime)


def test_a_case_id_repeated_in_a_later_batch_is_rejected_at_its_line_naming_the_first(runtime: Runtime) -> None:
    # A blank line and a row spanning two lines come first, so rows and lines no longer differ by one.
    header = f"{HEADER},note"
    lines = [f"{line}," for line in valid_lines(11_000)]
    lines[9] = f'{row(10)},"two\nlines"'
    lines.insert(20, "")
    lines.append(f"{row(4)},")  # C-000004 again, on line 11,004
    lines.append(f"{row(10_500)},")  # and C-010500
    data = csv_bytes(lines, header=header)
    result = run(runtime, data)
    assert result.state == ImportState.REJECTED
    assert [(e.row, e.line, e.column) for e in result.errors] == [
        (11_001, 11_004, "case_id"),
        (11_002, 11_005, "case_id"),
    ]
    assert result.errors[0].message == "'C-000004' already appears on line 5"
    assert result.errors[1].message == "'C-010500' already appears on line 10503"
    assert (result.errors, result.error_count) == sync_errors(data)
    assert count(runtime, Case) == 0
    assert_nothing_left_behind(runtime)


def test_bad_rows_and_repeated_ids_are_reported_together_in_file_order_as_the_synchronous_parser_does(
    runtime: Runtime,
) -> None:
    lines = valid_lines(8_000)
    lines[99] = "C-000100,pr-portal,2026-12-01T10:00:00,America/Toronto"  # no UTC offset
    lines[6_999] = row(2)  # C-000002 again
    lines[7_499] = "C-007500,visa-portal,2026-12-01T10:00:00-05:00,Mars/Olympus"
    data = csv_bytes(lines)
    result = run(runtime, data)
    assert [(e.row, e.column) for e in result.errors] == [
        (100, "deadline"),
        (7_000, "case_id"),
        (7_500, "components"),
        (7_500, "time_zone"),
    ]
    assert (result.errors, result.error_count) == sync_errors(data)


def test_a_header_without_a_needed_column_rejects_the_job_before_any_row(runtime: Runtime) -> None:
    result = run(runtime, csv_bytes(["C-1,pr-portal,2026-12-01T10:00:00-05:00"], header="case_id,components,deadline"))
    assert result.state == ImportState.REJECTED
    [error] = result.errors
    assert (error.row, error.line, error.column) == (0, 1, None)
    assert "time_zone" in error.message
    assert_nothing_left_behind(runtime)


def test_an_empty_upload_is_rejected_as_an_empty_file(sqlite_runtime: Runtime) -> None:
    result = run(sqlite_runtime, b"")
    assert result.state == ImportState.REJECTED
    assert "the file is empty" in result.errors[0].message


def test_bytes_that_are_not_utf8_are_reported_at_their_row_and_column(sqlite_runtime: Runtime) -> None:
    data = csv_bytes(valid_lines(3)).replace(b"C-000002,pr-portal", b"C-000002,pr-\xffportal")
    result = run(sqlite_runtime, data)
    assert result.state == ImportState.REJECTED
    assert [(e.row, e.line, e.column) for e in result.errors] == [(2, 3, "components")]
    assert "not valid Unicode" in result.errors[0].message


# --- the optional columns: extendable, email, webhook_url, language ------------------------------

CONTACTS = f"{HEADER},extendable,email,webhook_url,language"


def with_contacts(i: int, extendable: str = "", email: str = "", webhook_url: str = "", language: str = "") -> str:
    return f"{row(i)},{extendable},{email},{webhook_url},{language}"


def contacts_of(runtime: Runtime, case_id: str) -> tuple[bool, str | None, str | None, Language | None]:
    with transaction(runtime.sessions) as session:
        case = session.get_one(Case, case_id)
        return case.extendable, case.email, case.webhook_url, case.language


def stamps(runtime: Runtime) -> dict[str, datetime]:
    with transaction(runtime.sessions) as session:
        return {case_id: at for case_id, at in session.execute(select(Case.case_id, Case.updated_at))}


def test_a_job_stores_the_optional_columns_and_their_defaults(runtime: Runtime) -> None:
    lines = [with_contacts(i) for i in range(1, 12_001)]  # several staging batches
    lines[0] = with_contacts(1, "false", "a@example.ca", "https://hooks.example.ca/1", "fr")
    lines[7_000] = with_contacts(7_001, "No", "", "", "EN")
    lines[11_999] = row(12_000)  # a short row: its optional cells are empty
    result = run(runtime, csv_bytes(lines, header=CONTACTS))
    assert (result.state, result.imported) == (ImportState.SUCCEEDED, 12_000)
    assert contacts_of(runtime, "C-000001") == (False, "a@example.ca", "https://hooks.example.ca/1", Language.FR)
    assert contacts_of(runtime, "C-007001") == (False, None, None, Language.EN)
    assert contacts_of(runtime, "C-000002") == (True, None, None, None)
    assert contacts_of(runtime, "C-012000") == (True, None, None, None)
    run(runtime, csv_bytes([row(1, prefix="D")]))  # a file without the columns at all
    assert contacts_of(runtime, "D-000001") == (True, None, None, None)
    assert_nothing_left_behind(runtime)


@pytest.mark.parametrize(
    ("column", "value"),
    [("extendable", "sometimes"), ("email", "name@"), ("webhook_url", "hooks.example.ca/x"), ("language", "es")],
)
def test_a_bad_optional_value_in_a_job_is_named_by_row_line_and_column_as_the_parser_names_it(
    runtime: Runtime, column: str, value: str
) -> None:
    lines = [with_contacts(i) for i in range(1, 8_001)]
    cells = {"extendable": "", "email": "", "webhook_url": "", "language": "", column: value}
    lines[6_499] = f"{row(6_500)},{','.join(cells.values())}"
    data = csv_bytes(lines, header=CONTACTS)
    result = run(runtime, data)
    assert result.state == ImportState.REJECTED
    assert [(e.row, e.line, e.column) for e in result.errors] == [(6_500, 6_501, column)]
    assert (result.errors, result.error_count) == sync_errors(data)
    assert count(runtime, Case) == 0
    assert_nothing_left_behind(runtime)


def test_re_importing_through_a_job_updates_what_the_file_gives_and_only_the_cases_that_changed(
    runtime: Runtime, clock: Clock
) -> None:
    first = [
        with_contacts(1, "false", "a@example.ca", "https://hooks.example.ca/1", "fr"),
        with_contacts(2, "false", "b@example.ca", "https://hooks.example.ca/2", "en"),
        with_contacts(3),
        with_contacts(4),
        with_contacts(5),
    ]
    run(runtime, csv_bytes(first, header=CONTACTS))
    before = stamps(runtime)
    clock.advance(hours=1)
    again = [
        f"{row(1)},c@example.ca",  # only `email` is given: the rest of C-000001 is kept
        f"{row(2)},",  # and emptied: the default
        row(3).replace("pr-portal", "employer-portal"),  # its components change
        row(4).replace("10:00:00", "10:00:01"),  # its deadline changes
        row(5),  # nothing changes
    ]
    run(runtime, csv_bytes(again, header=f"{HEADER},email"))
    assert contacts_of(runtime, "C-000001") == (False, "c@example.ca", "https://hooks.example.ca/1", Language.FR)
    assert contacts_of(runtime, "C-000002") == (False, None, "https://hooks.example.ca/2", Language.EN)
    after = stamps(runtime)
    assert {case_id for case_id in after if after[case_id] != before[case_id]} == {
        "C-000001",
        "C-000002",
        "C-000003",
        "C-000004",
    }
    assert all(after[case_id] == clock.now for case_id in ("C-000002", "C-000003", "C-000004"))
    with transaction(runtime.sessions) as session:
        assert [c.component_id for c in session.get_one(Case, "C-000003").components] == ["employer-portal"]
    assert count(runtime, CaseComponent) == 5
    # Every column given: every value replaced, the emptied webhook made the default.
    run(runtime, csv_bytes([with_contacts(1, "true", "d@example.ca", "", "en")], header=CONTACTS))
    assert contacts_of(runtime, "C-000001") == (True, "d@example.ca", None, Language.EN)


# --- access codes: only ever stored as slow hashes ------------------------------------------------

CODES = f"{HEADER},access_code"


def code(i: int) -> str:
    return f"code-{i:06d}"  # as a person may write it: stored for CODE000001 and the like


def with_code(i: int, written: str | None = None) -> str:
    return f"{row(i)},{code(i) if written is None else written}"


def hash_of(runtime: Runtime, case_id: str) -> str | None:
    with transaction(runtime.sessions) as session:
        return session.get_one(Case, case_id).access_hash


@pytest.fixture
def staged(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every staged row, as the staging holds it just before the merge (either kind of staging)."""
    rows: list[dict[str, Any]] = []

    def spy(kind: type[cases_store.Staging], query: Any) -> None:
        merge = kind.merge

        def merge_after_looking(staging: Any, session: Session, **options: Any) -> None:
            rows.extend(dict(r._mapping) for r in session.execute(text(query(staging))))
            merge(staging, session, **options)

        monkeypatch.setattr(kind, "merge", merge_after_looking)

    spy(cases_store.TableStaging, lambda staging: f"SELECT * FROM import_rows WHERE job_id = '{staging.job_id}'")
    spy(cases_store.CopyStaging, lambda staging: "SELECT * FROM pw_import_stage")
    return rows


WITH_CODES = (1, 2, 4_999, 5_000, 5_001, 10_001, 12_000)  # in three staging batches


def test_a_job_stores_access_codes_only_as_hashes_across_batches_and_never_stages_a_code(
    runtime: Runtime, staged: list[dict[str, Any]]
) -> None:
    lines = [with_code(i) if i in WITH_CODES else f"{row(i)}," for i in range(1, 12_001)]
    lines[1] = with_code(2, "  CODE 000002 ")
    result = run(runtime, csv_bytes(lines, header=CODES))
    assert (result.state, result.imported) == (ImportState.SUCCEEDED, 12_000)
    for i in WITH_CODES:
        stored = hash_of(runtime, f"C-{i:06d}")
        assert stored is not None and stored.startswith("scrypt$4096$8$1$")
        assert verify_code(code(i), stored) and not verify_code(code(i + 1), stored)
    assert hash_of(runtime, "C-000003") is None
    # What waited in the staging: hashes where there were codes, never a code.
    hashed = {r["line"] - 1 for r in staged if r["access_hash"] is not None}
    assert hashed == set(WITH_CODES)
    assert not [r for r in staged if any(code(i).upper().replace("-", "") in str(r).upper() for i in WITH_CODES)]
    assert holding_code(runtime, *(code(i) for i in WITH_CODES)) == []
    assert_nothing_left_behind(runtime)


def test_a_job_without_the_access_code_column_keeps_the_hashes_and_an_empty_cell_clears_one(
    runtime: Runtime, clock: Clock
) -> None:
    run(runtime, csv_bytes([with_code(i) for i in (1, 2, 3, 4)], header=CODES))
    hashes, before = {i: hash_of(runtime, f"C-{i:06d}") for i in (1, 2, 3, 4)}, stamps(runtime)
    clock.advance(hours=1)
    run(runtime, csv_bytes([row(1).replace("pr-portal", "employer-portal")]))  # no access_code column at all
    run(
        runtime,
        csv_bytes(
            [
                f"{row(2)},",  # the column, empty: the code is removed
                with_code(3, "CODE000003"),  # the same code written otherwise: its hash is kept
                with_code(4, "code-new-0004"),  # another code: a new hash
            ],
            header=CODES,
        ),
    )
    after = stamps(runtime)
    assert hash_of(runtime, "C-000001") == hashes[1]
    assert hash_of(runtime, "C-000002") is None
    assert hash_of(runtime, "C-000003") == hashes[3]
    new = hash_of(runtime, "C-000004")
    assert new is not None and verify_code("CODENEW0004", new) and not verify_code(code(4), new)
    assert {case_id for case_id in after if after[case_id] != before[case_id]} == {"C-000001", "C-000002", "C-000004"}
    assert_nothing_left_behind(runtime)


def test_a_bad_access_code_in_a_job_is_named_by_row_line_and_column_and_never_shown(runtime: Runtime) -> None:
    lines = [with_code(i) if i % 1000 == 1 else f"{row(i)}," for i in range(1, 8_001)]
    lines[6_499] = with_code(6_500, "QZX-W")
    data = csv_bytes(lines, header=CODES)
    result = run(runtime, data)
    assert result.state == ImportState.REJECTED
    assert [(e.row, e.line, e.column) for e in result.errors] == [(6_500, 6_501, "access_code")]
    assert result.errors[0].message == (
        "must be 8 to 64 letters (A to Z) or digits (got 4); spaces and hyphens do not count"
    )
    assert (result.errors, result.error_count) == sync_errors(data)
    assert "QZX" not in json.dumps(job(runtime, result.job_id).errors)
    assert count(runtime, Case) == 0
    assert holding_code(runtime, "QZXW", code(1), code(1001)) == []
    assert_nothing_left_behind(runtime)


def test_once_a_row_is_refused_a_job_hashes_no_more_codes(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    hashed: list[int] = []
    real = imports.access_hashes

    def counting(rows: Any, *args: Any, **kwargs: Any) -> Any:
        hashed.append(sum(1 for row in rows if row.access_code is not None))
        return real(rows, *args, **kwargs)

    monkeypatch.setattr(imports, "access_hashes", counting)
    lines = [with_code(i) if i % 2_000 == 1 else f"{row(i)}," for i in range(1, 12_001)]
    lines[6_999] = with_code(7_000, "QZXW")
    result = run(runtime, csv_bytes(lines, header=CODES))
    assert [(e.row, e.column) for e in result.errors] == [(7_000, "access_code")]
    assert hashed == [3]  # the first batch's codes; the second batch holds the bad row
    assert count(runtime, Case) == 0
    assert_nothing_left_behind(runtime)


def test_import_file_stores_access_codes_as_the_job_does(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "cases.csv"
    path.write_bytes(csv_bytes([with_code(1), f"{row(2)},"], header=CODES))
    with path.open("rb") as file:
        result = imports.import_file(runtime, file, source=str(path), size=path.stat().st_size)
    assert result.state == ImportState.SUCCEEDED
    stored = hash_of(runtime, "C-000001")
    assert stored is not None and verify_code(code(1), stored)
    assert hash_of(runtime, "C-000002") is None
    assert_nothing_left_behind(runtime)


def test_the_synchronous_import_stores_access_codes_only_as_hashes_and_keeps_them_without_the_column(
    runtime: Runtime,
) -> None:
    text_with_codes = csv_bytes([with_code(1), with_code(2)], header=CODES).decode()
    imported = cases_usecase.import_cases_text(runtime, text_with_codes, source="cases.csv")
    assert len(imported.rows) == 2
    first = hash_of(runtime, "C-000001")
    assert first is not None and verify_code(code(1), first) and not verify_code(code(2), first)
    cases_usecase.import_cases_text(runtime, csv_bytes([row(1)]).decode(), source="cases.csv")
    assert hash_of(runtime, "C-000001") == first
    with pytest.raises(ImportRejected) as raised:
        cases_usecase.import_cases_text(runtime, csv_bytes([with_code(1, "QZXW")], header=CODES).decode(), source="x")
    assert [(e.row, e.line, e.column) for e in raised.value.errors] == [(1, 2, "access_code")]
    assert "QZXW" not in str(raised.value)
    assert hash_of(runtime, "C-000001") == first
    assert holding_code(runtime, code(1), code(2), "QZXW") == []


@pytest.fixture
def writer_gets_through(sqlite_url: str) -> Any:
    """Called while codes are hashed: another writer takes SQLite's write lock at once, or this raises (no
    transaction may hold the lock while codes are hashed: it would hold every other writer up that long)."""
    path = make_url(sqlite_url).database
    assert path is not None
    calls: list[bool] = []

    def check() -> None:
        other = sqlite3.connect(path, timeout=0.2, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # sqlite3.OperationalError: database is locked
            other.execute("COMMIT")
        finally:
            other.close()
        calls.append(True)

    check.calls = calls  # type: ignore[attr-defined]
    return check


@pytest.mark.parametrize("path", ["job", "synchronous"])
def test_access_codes_are_hashed_while_no_transaction_holds_sqlites_write_lock(
    sqlite_runtime: Runtime, writer_gets_through: Any, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    for module in (imports, cases_usecase):
        real = module.access_hashes

        def hashing(*args: Any, real: Any = real, **kwargs: Any) -> Any:
            writer_gets_through()
            return real(*args, **kwargs)

        monkeypatch.setattr(module, "access_hashes", hashing)
    run(sqlite_runtime, csv_bytes([with_code(1)], header=CODES))  # so that the next import reads a stored hash
    data = csv_bytes([with_code(i) if i in WITH_CODES else f"{row(i)}," for i in range(1, 12_001)], header=CODES)
    if path == "job":
        assert run(sqlite_runtime, data).state == ImportState.SUCCEEDED
        assert len(writer_gets_through.calls) == 1 + 3  # one per staging batch
    else:
        cases_usecase.import_cases_text(sqlite_runtime, data.decode(), source="cases.csv")
        assert len(writer_gets_through.calls) == 1 + 1
    stored = hash_of(sqlite_runtime, "C-012000")
    assert stored is not None and verify_code(code(12_000), stored)


# --- PostgreSQL: a large first import takes the bulk path ----------------------------------------


@pytest.fixture
def pg_runtime(postgres_url: str, clock: Clock) -> Iterator[Runtime]:
    runtime = make_runtime(postgres_url, OFFLINE_CONFIG)
    runtime.clock = clock
    yield runtime
    runtime.close()


def schema_of(runtime: Runtime) -> list[tuple[str, str]]:
    """The indexes and constraints of cases and case_components, by name and definition."""
    with runtime.engine.connect() as connection:
        indexes = connection.exec_driver_sql(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('cases', 'case_components')"
        ).all()
        constraints = connection.exec_driver_sql(
            "SELECT conname, pg_get_constraintdef(oid) || ' ' || convalidated::text FROM pg_constraint "
            "WHERE conrelid IN ('cases'::regclass, 'case_components'::regclass)"
        ).all()
    return sorted((str(name), str(definition)) for name, definition in [*indexes, *constraints])


@pytest.fixture
def bulk_taken(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Makes 1,000 rows enough for the bulk path, and records whether each PostgreSQL merge took it."""
    taken: list[bool] = []
    merge_into_empty = cases_store.CopyStaging._merge_into_empty

    def spy(staging: cases_store.CopyStaging, session: Session, now: datetime) -> bool:
        taken.append(merge_into_empty(staging, session, now))
        return taken[-1]

    monkeypatch.setattr(cases_store, "BULK_MIN_ROWS", 1_000)
    monkeypatch.setattr(cases_store.CopyStaging, "_merge_into_empty", spy)
    return taken


def test_a_large_first_import_takes_the_bulk_path_and_leaves_the_schema_as_it_was(
    pg_runtime: Runtime, bulk_taken: list[bool]
) -> None:
    schema = schema_of(pg_runtime)
    assert any(name == "ix_cases_deadline" for name, _ in schema)
    outage_id = add_outage(pg_runtime)
    lines = [with_contacts(i) for i in range(1, 12_001)]
    lines[0] = with_contacts(1, "false", "a@example.ca", "https://hooks.example.ca/1", "fr")
    result = run(pg_runtime, csv_bytes(lines, header=CONTACTS))
    assert (result.state, result.imported, result.outage_ids, result.granted) == (
        ImportState.SUCCEEDED,
        12_000,
        [outage_id],
        12,
    )
    assert bulk_taken == [True]
    assert schema_of(pg_runtime) == schema
    assert count(pg_runtime, Case) == 12_000
    assert count(pg_runtime, CaseComponent) == 16_000
    assert contacts_of(pg_runtime, "C-000001") == (False, "a@example.ca", "https://hooks.example.ca/1", Language.FR)
    # The next import finds cases stored: the general merge.
    result = run(pg_runtime, csv_bytes([row(i) for i in range(11_001, 13_001)]))
    assert (result.state, bulk_taken) == (ImportState.SUCCEEDED, [True, False])
    assert count(pg_runtime, Case) == 13_000
    assert_nothing_left_behind(pg_runtime)


def test_a_bulk_import_that_fails_before_its_commit_leaves_the_tables_and_their_schema_untouched(
    pg_runtime: Runtime, bulk_taken: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = schema_of(pg_runtime)

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("INSERT", {}, Exception("the outbox is unreachable"))

    monkeypatch.setattr(imports, "owe_imported_cases", fail)
    job_id = upload(pg_runtime, csv_bytes(valid_lines(3_000)))
    result = imports.run_import(pg_runtime, job_id, retry=False)
    assert result is not None and result.state == ImportState.FAILED
    assert bulk_taken == [True]
    assert schema_of(pg_runtime) == schema
    assert count(pg_runtime, Case) == 0
    assert count(pg_runtime, CaseComponent) == 0


def test_the_bulk_path_gives_way_to_a_transaction_reading_cases(
    pg_runtime: Runtime, bulk_taken: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cases_store, "BULK_LOCK_TIMEOUT", "200ms")
    with pg_runtime.engine.connect() as reader:
        reader.exec_driver_sql("SELECT count(*) FROM cases")  # its transaction stays open, holding a lock
        result = run(pg_runtime, csv_bytes(valid_lines(2_000)))
    assert (result.state, result.imported, bulk_taken) == (ImportState.SUCCEEDED, 2_000, [False]), result.message
    assert count(pg_runtime, Case) == 2_000


def test_the_bulk_path_and_the_general_merge_carry_the_access_hash(
    pg_runtime: Runtime, bulk_taken: list[bool], staged: list[dict[str, Any]]
) -> None:
    lines = [with_code(i) if i in (1, 2, 1_500) else f"{row(i)}," for i in range(1, 2_001)]
    assert run(pg_runtime, csv_bytes(lines, header=CODES)).state == ImportState.SUCCEEDED
    assert bulk_taken == [True]
    first = {i: hash_of(pg_runtime, f"C-{i:06d}") for i in (1, 2, 1_500)}
    assert all(h is not None and verify_code(code(i), h) for i, h in first.items())
    assert hash_of(pg_runtime, "C-000003") is None
    # The general merge: one code kept, one replaced, one removed, a new case with one; the rest untouched.
    again = [with_code(1), with_code(2, "CODE-NEW-0002"), f"{row(1_500)},", with_code(2_001)]
    assert run(pg_runtime, csv_bytes(again, header=CODES)).state == ImportState.SUCCEEDED
    assert bulk_taken == [True]  # too few rows to consider the bulk path: the general merge
    assert hash_of(pg_runtime, "C-000001") == first[1]
    replaced = hash_of(pg_runtime, "C-000002")
    assert replaced is not None and verify_code("CODENEW0002", replaced) and not verify_code(code(2), replaced)
    assert hash_of(pg_runtime, "C-001500") is None
    added = hash_of(pg_runtime, "C-002001")
    assert added is not None and verify_code(code(2_001), added)
    assert sorted(r["line"] for r in staged if r["access_hash"] is not None) == [2, 2, 3, 3, 5, 1_501]
    assert holding_code(pg_runtime, code(1), code(2), code(1_500), code(2_001), "CODENEW0002") == []
    assert_nothing_left_behind(pg_runtime)


# --- the command line's runs: the file read directly ---------------------------------------------


def test_import_file_runs_the_job_on_the_file_itself(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "cases.csv"
    path.write_bytes(csv_bytes(valid_lines(12_000)))
    with path.open("rb") as file:
        result = imports.import_file(runtime, file, source=str(path), size=path.stat().st_size)
    assert (result.state, result.imported, result.rows_read) == (ImportState.SUCCEEDED, 12_000, 12_000)
    view = job(runtime, result.job_id)
    assert (view.state, view.attempts, view.size_bytes, view.message) == (
        ImportState.SUCCEEDED,
        1,
        path.stat().st_size,
        f"imported 12000 case(s) from {path}",
    )
    assert count(runtime, Case) == 12_000
    assert_nothing_left_behind(runtime)


def test_import_file_rejects_a_bad_file_as_a_job_does(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "cases.csv"
    lines = valid_lines(8_000)
    lines[6_999] = row(2)
    path.write_bytes(csv_bytes(lines))
    with path.open("rb") as file:
        result = imports.import_file(runtime, file, source="cases.csv", size=path.stat().st_size)
    assert result.state == ImportState.REJECTED
    assert [(e.row, e.line, e.column) for e in result.errors] == [(7_000, 7_001, "case_id")]
    assert count(runtime, Case) == 0
    assert_nothing_left_behind(runtime)


def test_an_interrupted_import_file_is_marked_failed_at_once_and_imports_nothing(
    runtime: Runtime, tmp_path: Path
) -> None:
    path = tmp_path / "cases.csv"
    path.write_bytes(csv_bytes(valid_lines(12_000)))

    def interrupt(phase: Phase, rows: int) -> None:
        if rows >= imports.BATCH_ROWS:
            raise KeyboardInterrupt

    with path.open("rb") as file, pytest.raises(KeyboardInterrupt):
        imports.import_file(runtime, file, source="cases.csv", size=path.stat().st_size, progress=interrupt)
    with transaction(runtime.sessions) as session:
        [job_id] = session.scalars(select(ImportJob.id))
    view = job(runtime, job_id)
    assert view.state == ImportState.FAILED
    assert view.message is not None and "interrupted" in view.message
    assert count(runtime, Case) == 0
    assert_nothing_left_behind(runtime)


def test_a_foreground_job_whose_process_died_is_marked_failed_by_the_sweeper_never_run_again(
    runtime: Runtime, clock: Clock
) -> None:
    with transaction(runtime.sessions) as session:
        session.add(
            ImportJob(
                id="cd" * 16,
                source="cases.csv",
                state=ImportState.RUNNING,
                attempts=1,
                heartbeat_at=clock.now,
                message=imports.FOREGROUND,
            )
        )
    assert jobs.sweep_stuck_imports(runtime) == 0
    assert imports.run_import(runtime, "cd" * 16) is None  # running, and not for a worker to take
    clock.advance(minutes=3)
    assert imports.run_import(runtime, "cd" * 16) is None  # stale, still not for a worker to take
    assert jobs.sweep_stuck_imports(runtime) == 0
    view = job(runtime, "cd" * 16)
    assert (view.state, view.message, view.finished_at, view.attempts) == (
        ImportState.FAILED,
        imports.FOREGROUND_STOPPED,
        clock.now,
        1,
    )


# --- a worker that dies, is slow, or cannot reach storage ----------------------------------------


def test_a_job_whose_worker_died_is_taken_up_by_the_sweeper_and_completes_once(runtime: Runtime, clock: Clock) -> None:
    job_id = upload(runtime, csv_bytes(valid_lines(12_000)))

    def die(phase: Phase, rows: int) -> None:
        if phase == Phase.READING and rows >= imports.BATCH_ROWS:
            raise WorkerDied

    with pytest.raises(WorkerDied):
        imports.run_import(runtime, job_id, progress=die)
    assert job(runtime, job_id).state == ImportState.RUNNING
    if runtime.engine.dialect.name == "postgresql":
        assert count(runtime, ImportRow) == 0  # staged in its transaction's own table, gone with it
    else:
        assert count(runtime, ImportRow) > 0  # the batch it staged before dying, cleared by the next attempt
    assert count(runtime, Case) == 0

    assert jobs.sweep_stuck_imports(runtime) == 0  # its heartbeat is fresh: maybe it is only busy
    clock.advance(minutes=3)
    jobs.sweep_outbox_job(runtime)  # where the scheduler runs the import sweep; jobs run inline here

    view = job(runtime, job_id)
    assert (view.state, view.imported, view.attempts) == (ImportState.SUCCEEDED, 12_000, 2)
    assert count(runtime, Case) == 12_000
    assert_nothing_left_behind(runtime)
    clock.advance(minutes=3)
    assert jobs.sweep_stuck_imports(runtime) == 0
    assert imports.run_import(runtime, job_id) is None  # a late duplicate of the task does nothing


def test_a_worker_that_was_only_slow_stops_without_writing_once_its_job_was_taken_over(
    runtime: Runtime, clock: Clock
) -> None:
    job_id = upload(runtime, csv_bytes(valid_lines(12_000)))
    taken_over: list[int] = []

    def stall(phase: Phase, rows: int) -> None:
        # The first worker stalls for three minutes after its first batch; meanwhile another one does the job.
        if phase == Phase.READING and rows >= imports.BATCH_ROWS and not taken_over:
            clock.advance(minutes=3)
            taken_over.append(jobs.sweep_stuck_imports(runtime))

    assert imports.run_import(runtime, job_id, progress=stall) is None
    assert taken_over == [1]
    view = job(runtime, job_id)
    assert (view.state, view.imported, view.attempts) == (ImportState.SUCCEEDED, 12_000, 2)
    assert count(runtime, Case) == 12_000
    assert_nothing_left_behind(runtime)


def test_storage_failing_during_the_merge_imports_nothing_and_the_job_fails_after_five_attempts(
    runtime: Runtime, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    merges: list[int] = []
    merge: dict[type[cases_store.Staging], Any] = {
        kind: kind.merge for kind in (cases_store.TableStaging, cases_store.CopyStaging)
    }

    def merge_then_fail(staging: cases_store.Staging, session: Session, *, now: datetime, columns: Any) -> None:
        # The cases are written, then the commit fails.
        merge[type(staging)](staging, session, now=now, columns=columns)
        merges.append(session.scalar(select(func.count()).select_from(Case)) or 0)
        raise OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))

    for kind in merge:
        monkeypatch.setattr(kind, "merge", merge_then_fail)
    job_id = upload(runtime, csv_bytes(valid_lines(50)))
    result = imports.run_import(runtime, job_id)
    assert result is not None
    assert result.state == ImportState.QUEUED
    view = job(runtime, job_id)
    assert view.state == ImportState.QUEUED
    assert view.message is not None
    assert view.message.startswith("attempt 1 of 5 failed (OperationalError")
    assert count(runtime, Case) == 0

    assert jobs.sweep_stuck_imports(runtime) == 0  # retried after a pause, not on every sweep
    for _ in range(4):
        clock.advance(seconds=61)
        assert jobs.sweep_stuck_imports(runtime) == 1
    assert merges == [50] * 5
    view = job(runtime, job_id)
    assert (view.state, view.attempts, view.imported) == (ImportState.FAILED, 5, 0)
    assert view.message is not None
    assert "could not run after 5 attempt(s); nothing was imported" in view.message
    assert "server closed the connection" in view.message
    assert count(runtime, Case) == 0
    assert_nothing_left_behind(runtime)
    clock.advance(minutes=5)
    assert jobs.sweep_stuck_imports(runtime) == 0


def test_a_worker_that_died_on_the_last_attempt_leaves_a_failed_job(runtime: Runtime, clock: Clock) -> None:
    job_id = upload(runtime, csv_bytes(valid_lines(10)))
    with transaction(runtime.sessions) as session:
        session.get_one(ImportJob, job_id).attempts = imports.MAX_ATTEMPTS - 1

    def die(phase: Phase, rows: int) -> None:
        raise WorkerDied

    with pytest.raises(WorkerDied):
        imports.run_import(runtime, job_id, progress=die)
    clock.advance(minutes=3)
    assert jobs.sweep_stuck_imports(runtime) == 0
    view = job(runtime, job_id)
    assert (view.state, view.attempts) == (ImportState.FAILED, imports.MAX_ATTEMPTS)
    assert view.finished_at == clock.now
    assert count(runtime, Case) == 0
    assert_nothing_left_behind(runtime)


# --- queued jobs and uploads the sweeper looks after ---------------------------------------------


def test_a_queued_job_nobody_picked_up_is_sent_again_after_a_minute_but_not_on_every_sweep(
    sqlite_runtime: Runtime, clock: Clock
) -> None:
    sent: list[tuple[str, tuple[Any, ...], str]] = []
    sqlite_runtime.dispatch = lambda job, args, *, queue, expires=None: sent.append((job, args, queue))
    job_id = upload(sqlite_runtime, csv_bytes(valid_lines(3)))
    assert jobs.sweep_stuck_imports(sqlite_runtime) == 0
    clock.advance(seconds=61)
    assert jobs.sweep_stuck_imports(sqlite_runtime) == 1
    assert jobs.sweep_stuck_imports(sqlite_runtime) == 0
    clock.advance(seconds=61)
    assert jobs.sweep_stuck_imports(sqlite_runtime) == 1
    assert sent == [(jobs.IMPORT_CASES, (job_id,), jobs.DEFAULT_QUEUE)] * 2
    assert jobs.run(sqlite_runtime, *sent[0][:2]) == "succeeded"
    assert jobs.run(sqlite_runtime, *sent[1][:2]) is None  # sent twice, run once


def test_an_upload_that_fails_half_way_leaves_no_job(sqlite_runtime: Runtime) -> None:
    def arriving() -> Iterator[bytes]:
        yield b"x" * (3 * imports.CHUNK_BYTES)
        raise OSError("connection reset by peer")

    with pytest.raises(OSError, match="connection reset"):
        imports.create_job(sqlite_runtime, arriving(), source="cases.csv")
    assert count(sqlite_runtime, ImportJob) == 0
    assert count(sqlite_runtime, ImportChunk) == 0


def test_an_upload_whose_process_died_is_cleared_by_the_sweeper_and_never_run(
    sqlite_runtime: Runtime, clock: Clock
) -> None:
    with transaction(sqlite_runtime.sessions) as session:
        session.add(
            ImportJob(
                id="ab" * 16,
                source="cases.csv",
                state=ImportState.UPLOADING,
                heartbeat_at=clock.now,
            )
        )
        session.flush()  # the job before its chunk: no relationship tells the ORM the order
        session.add(ImportChunk(job_id="ab" * 16, seq=0, data=csv_bytes(valid_lines(3))))
    assert imports.run_import(sqlite_runtime, "ab" * 16) is None
    assert jobs.sweep_stuck_imports(sqlite_runtime) == 0
    assert count(sqlite_runtime, ImportChunk) == 1  # it may still be arriving
    clock.advance(minutes=3)
    assert jobs.sweep_stuck_imports(sqlite_runtime) == 0
    view = job(sqlite_runtime, "ab" * 16)
    assert (view.state, view.message, view.finished_at) == (ImportState.FAILED, imports.UPLOAD_INTERRUPTED, clock.now)
    assert count(sqlite_runtime, ImportChunk) == 0
    assert count(sqlite_runtime, Case) == 0


# --- memory ------------------------------------------------------------------------------------


def generated(n: int, prefix: str) -> Iterator[bytes]:
    yield f"{HEADER}\n".encode()
    for i in range(1, n + 1):
        yield f"{row(i, prefix)}\n".encode()


def peak_bytes(runtime: Runtime, job_id: str) -> int:
    tracemalloc.start()
    try:
        result = imports.run_import(runtime, job_id)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result is not None
    assert result.state in (ImportState.SUCCEEDED, ImportState.REJECTED)
    return peak


def test_a_job_ten_times_larger_does_not_take_more_memory(sqlite_runtime: Runtime) -> None:
    imports.run_import(sqlite_runtime, imports.create_job(sqlite_runtime, generated(100, "W"), source="warm-up.csv"))
    small = imports.create_job(sqlite_runtime, generated(10_000, "S"), source="small.csv")
    large = imports.create_job(sqlite_runtime, generated(100_000, "L"), source="large.csv")
    small_peak, large_peak = peak_bytes(sqlite_runtime, small), peak_bytes(sqlite_runtime, large)
    assert job(sqlite_runtime, large).imported == 100_000
    assert large_peak < 1.5 * small_peak, (small_peak, large_peak)


def test_a_file_of_bad_rows_ten_times_larger_does_not_take_more_memory(sqlite_runtime: Runtime) -> None:
    def bad(n: int) -> Iterator[bytes]:
        yield f"{HEADER}\n".encode()
        for i in range(n):
            yield f"B-{i},visa-portal,2026-13-45T10:00:00-05:00,Mars/Olympus\n".encode()

    small = imports.create_job(sqlite_runtime, bad(5_000), source="small.csv")
    large = imports.create_job(sqlite_runtime, bad(50_000), source="large.csv")
    small_peak, large_peak = peak_bytes(sqlite_runtime, small), peak_bytes(sqlite_runtime, large)
    view = job(sqlite_runtime, large)
    assert (view.error_count, len(view.errors)) == (150_000, 1000)
    assert large_peak < 2 * small_peak, (small_peak, large_peak)


def test_a_job_with_ten_times_more_access_codes_does_not_take_more_memory(
    sqlite_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Cheap parameters: what is measured is what the job holds while hashing, not the hashing itself.
    real_hash_code = access.hash_code
    monkeypatch.setattr(access, "hash_code", lambda code: real_hash_code(code, n=2**4, r=1, p=1))

    def with_codes(n: int, prefix: str) -> Iterator[bytes]:
        yield f"{CODES}\n".encode()
        for i in range(1, n + 1):
            yield f"{row(i, prefix)},{code(i)}\n".encode()

    imports.run_import(sqlite_runtime, imports.create_job(sqlite_runtime, with_codes(100, "W"), source="warm-up.csv"))
    small = imports.create_job(sqlite_runtime, with_codes(5_000, "S"), source="small.csv")
    large = imports.create_job(sqlite_runtime, with_codes(50_000, "L"), source="large.csv")
    small_peak, large_peak = peak_bytes(sqlite_runtime, small), peak_bytes(sqlite_runtime, large)
    assert job(sqlite_runtime, large).imported == 50_000
    assert large_peak < 1.5 * small_peak, (small_peak, large_peak)


def test_the_chunk_stream_reads_the_upload_back_byte_for_byte(sqlite_runtime: Runtime) -> None:
    data = bytes(range(256)) * 20_000  # 5 MB: several chunks, and bytes that are not text
    job_id = imports.create_job(sqlite_runtime, pieces(data, 777_777), source="blob")
    with transaction(sqlite_runtime.sessions) as session:
        chunks = [
            bytes(c)
            for c in session.scalars(
                select(ImportChunk.data).where(ImportChunk.job_id == job_id).order_by(ImportChunk.seq)
            )
        ]
    assert [len(c) for c in chunks] == [imports.CHUNK_BYTES] * 4 + [len(data) - 4 * imports.CHUNK_BYTES]
    stream = io.BufferedReader(imports._ChunkStream(lambda seq: chunks[seq] if seq < len(chunks) else None))
    assert stream.read() == data
    assert job(sqlite_runtime, job_id).size_bytes == len(data)
