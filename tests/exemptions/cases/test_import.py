"""Importing cases from CSV: every row is checked first, then all are stored or none."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from exemptions.cases import ImportRejected, RowError, import_cases, verify_code
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import Language
from monitor.storage.models import Case, CaseComponent, Grant, Outage
from tests.conftest import OFFLINE_CONFIG, make_runtime
from tests.exemptions.cases.conftest import holding_code, import_with_cli

CONFIG = OFFLINE_CONFIG

HEADER = "case_id,components,deadline,time_zone"
BAD_DATE = "2026-13-45T10:00:00-05:00"
FIRST_DEADLINE = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 10:00 EST


def valid_rows(n: int = 100) -> list[str]:
    rows = []
    for i in range(1, n + 1):
        deadline = (FIRST_DEADLINE + timedelta(hours=i)).astimezone(UTC).isoformat()
        components = "pr-portal" if i % 3 else "pr-portal;employer-portal"
        rows.append(f"C-{i:04d},{components},{deadline},America/Toronto")
    return rows


def csv_text(rows: list[str], header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def with_bad_row_57() -> str:
    rows = valid_rows()
    rows[56] = f"C-0057,pr-portal,{BAD_DATE},America/Toronto"
    return csv_text(rows)


@pytest.fixture
def runtime(database_url: str) -> Iterator[Runtime]:
    runtime = make_runtime(database_url, CONFIG)
    yield runtime
    runtime.close()


def rejected_errors(runtime: Runtime, text: str) -> list[RowError]:
    with pytest.raises(ImportRejected) as raised, transaction(runtime.sessions) as session:
        import_cases(session, text, source="cases.csv")
    assert raised.value.source == "cases.csv"
    return raised.value.errors


def stored_cases(runtime: Runtime) -> int:
    with transaction(runtime.sessions) as session:
        return session.scalar(select(func.count()).select_from(Case)) or 0


def stored_links(runtime: Runtime) -> int:
    with transaction(runtime.sessions) as session:
        return session.scalar(select(func.count()).select_from(CaseComponent)) or 0


def case_view(runtime: Runtime, case_id: str) -> tuple[datetime, str, list[str]]:
    with transaction(runtime.sessions) as session:
        case = session.get(Case, case_id)
        assert case is not None, f"case {case_id} was not stored"
        return case.deadline, case.time_zone, sorted(c.component_id for c in case.components)


# --- all or nothing -----------------------------------------------------------------------------


def test_a_hundred_valid_rows_are_all_stored(runtime: Runtime) -> None:
    with transaction(runtime.sessions) as session:
        rows = import_cases(session, csv_text(valid_rows()), source="cases.csv")
    assert len(rows) == 100
    assert stored_cases(runtime) == 100
    assert stored_links(runtime) == 100 + 33  # every third case also depends on the employer portal
    assert case_view(runtime, "C-0003") == (
        FIRST_DEADLINE + timedelta(hours=3),
        "America/Toronto",
        ["employer-portal", "pr-portal"],
    )


def test_one_bad_date_on_row_57_rejects_the_whole_file_and_stores_nothing(runtime: Runtime) -> None:
    errors = rejected_errors(runtime, with_bad_row_57())
    assert len(errors) == 1
    error = errors[0]
    assert (error.row, error.line, error.column) == (57, 58, "deadline")
    assert BAD_DATE in error.message
    assert str(error).startswith("row 57 (line 58), column deadline: ")
    assert stored_cases(runtime) == 0
    assert stored_links(runtime) == 0


def test_the_rejection_message_names_the_source_row_and_column(runtime: Runtime) -> None:
    with pytest.raises(ImportRejected) as raised, transaction(runtime.sessions) as session:
        import_cases(session, with_bad_row_57(), source="march-cases.csv")
    message = str(raised.value)
    assert message.startswith("march-cases.csv: 1 problem(s), nothing imported")
    assert "row 57 (line 58), column deadline" in message


def test_a_rejected_file_leaves_previously_imported_cases_untouched(runtime: Runtime) -> None:
    with transaction(runtime.sessions) as session:
        import_cases(session, csv_text(["KEEP,employer-portal,2026-11-01T12:00:00-04:00,America/Toronto"]))
    rows = valid_rows()
    rows[0] = "KEEP,pr-portal,2027-01-01T12:00:00-05:00,America/Toronto"
    rows[56] = f"C-0057,pr-portal,{BAD_DATE},America/Toronto"
    rejected_errors(runtime, csv_text(rows))
    assert stored_cases(runtime) == 1
    assert case_view(runtime, "KEEP") == (
        datetime(2026, 11, 1, 16, 0, tzinfo=UTC),
        "America/Toronto",
        ["employer-portal"],
    )


def test_every_bad_row_is_reported_not_just_the_first(runtime: Runtime) -> None:
    rows = valid_rows()
    rows[9] = "C-0010,pr-portal,2026-12-01T10:00:00,America/Toronto"
    rows[56] = f"C-0057,pr-portal,{BAD_DATE},America/Toronto"
    rows[89] = "C-0090,pr-portal,2026-12-01T10:00:00-05:00,Mars/Olympus"
    errors = rejected_errors(runtime, csv_text(rows))
    assert [(e.row, e.column) for e in errors] == [(10, "deadline"), (57, "deadline"), (90, "time_zone")]
    assert stored_cases(runtime) == 0


# --- what each kind of mistake is reported as ---------------------------------------------------


def test_a_deadline_without_utc_offset_is_refused(runtime: Runtime) -> None:
    errors = rejected_errors(runtime, csv_text(["C-1,pr-portal,2026-12-01T10:00:00,America/Toronto"]))
    assert [(e.row, e.line, e.column) for e in errors] == [(1, 2, "deadline")]
    assert "no UTC offset" in errors[0].message


def test_a_date_only_deadline_is_refused_for_lacking_an_offset(runtime: Runtime) -> None:
    errors = rejected_errors(runtime, csv_text(["C-1,pr-portal,2026-12-01,America/Toronto"]))
    assert [(e.row, e.column) for e in errors] == [(1, "deadline")]


def test_an_unknown_component_is_refused(runtime: Runtime) -> None:
    errors = rejected_errors(runtime, csv_text(["C-1,pr-portal;visa-portal,2026-12-01T10:00:00-05:00,America/Toronto"]))
    assert [(e.row, e.line, e.column) for e in errors] == [(1, 2, "components")]
    assert "visa-portal" in errors[0].message
    assert "employer-portal, pr-portal" in errors[0].message  # the known ones are listed


def test_a_case_without_components_is_refused(runtime: Runtime) -> None:
    errors = rejected_errors(runtime, csv_text(["C-1, ; ,2026-12-01T10:00:00-05:00,America/Toronto"]))
    assert [(e.row, e.column) for e in errors] == [(1, "components")]


def test_an_unknown_time_zone_is_refused(runtime: Runtime) -> None:
    errors = rejected_errors(runtime, csv_text(["C-1,pr-portal,2026-12-01T10:00:00-05:00,Eastern Time"]))
    assert [(e.row, e.line, e.column) for e in errors] == [(1, 2, "time_zone")]
    assert "'Eastern Time'" in errors[0].message


def test_a_duplicate_case_id_names_the_line_where_it_first_appears(runtime: Runtime) -> None:
    rows = valid_rows(10)
    rows.append("C-0004,employer-portal,2026-12-05T10:00:00-05:00,America/Toronto")
    errors = rejected_errors(runtime, csv_text(rows))
    assert [(e.row, e.line, e.column) for e in errors] == [(11, 12, "case_id")]
    assert "'C-0004' already appears on line 5" in errors[0].message
    assert stored_cases(runtime) == 0


def test_an_empty_case_id_is_refused(runtime: Runtime) -> None:
    errors = rejected_errors(runtime, csv_text([",pr-portal,2026-12-01T10:00:00-05:00,America/Toronto"]))
    assert [(e.row, e.column) for e in errors] == [(1, "case_id")]


def test_a_missing_header_column_is_refused_before_any_row(runtime: Runtime) -> None:
    text = csv_text(["C-1,pr-portal,2026-12-01T10:00:00-05:00"], header="case_id,components,deadline")
    errors = rejected_errors(runtime, text)
    assert len(errors) == 1
    assert (errors[0].row, errors[0].line, errors[0].column) == (0, 1, None)
    assert "time_zone" in errors[0].message
    assert stored_cases(runtime) == 0


def test_a_row_with_too_many_fields_is_refused(runtime: Runtime) -> None:
    errors = rejected_errors(runtime, csv_text(["C-1,pr-portal,2026-12-01T10:00:00-05:00,America/Toronto,surplus"]))
    assert [(e.row, e.line) for e in errors] == [(1, 2)]
    assert "5 fields" in errors[0].message


def test_extra_columns_and_column_order_do_not_matter(runtime: Runtime) -> None:
    text = "time_zone,note,deadline,case_id,components\nAsia/Kolkata,urgent,2026-12-01T10:00:00+05:30,C-1,pr-portal\n"
    with transaction(runtime.sessions) as session:
        import_cases(session, text)
    assert case_view(runtime, "C-1") == (datetime(2026, 12, 1, 4, 30, tzinfo=UTC), "Asia/Kolkata", ["pr-portal"])


# --- re-importing -------------------------------------------------------------------------------


def test_re_importing_a_case_updates_its_deadline_zone_and_components(runtime: Runtime) -> None:
    with transaction(runtime.sessions) as session:
        import_cases(
            session,
            csv_text(
                [
                    "C-1,pr-portal;employer-portal,2026-12-01T10:00:00-05:00,America/Toronto",
                    "C-2,pr-portal,2026-12-02T10:00:00-05:00,America/Toronto",
                ]
            ),
        )
    with transaction(runtime.sessions) as session:
        import_cases(session, csv_text(["C-1,employer-portal,2026-12-15T10:00:00+05:30,Asia/Kolkata"]))
    assert stored_cases(runtime) == 2
    assert case_view(runtime, "C-1") == (datetime(2026, 12, 15, 4, 30, tzinfo=UTC), "Asia/Kolkata", ["employer-portal"])
    assert case_view(runtime, "C-2") == (datetime(2026, 12, 2, 15, 0, tzinfo=UTC), "America/Toronto", ["pr-portal"])
    assert stored_links(runtime) == 2


# --- the command line ---------------------------------------------------------------------------


def cli_case_count(cli: tuple[Path, dict[str, str]]) -> int:
    config, env = cli
    runtime = make_runtime(env["DATABASE_URL"], config.read_text(encoding="utf-8"))
    try:
        return stored_cases(runtime)
    finally:
        runtime.close()


def test_the_cli_rejects_a_bad_file_naming_row_57_and_stores_nothing(
    cli: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(with_bad_row_57(), encoding="utf-8")
    result = import_with_cli(cli, bad)
    assert result.returncode == 1, result.stderr
    assert "row 57 (line 58), column deadline" in result.stderr
    assert str(bad) in result.stderr
    assert "nothing imported" in result.stderr
    assert cli_case_count(cli) == 0


def test_the_cli_imports_a_valid_file(cli: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text(csv_text(valid_rows()), encoding="utf-8")
    result = import_with_cli(cli, good)
    assert result.returncode == 0, result.stderr
    assert "imported 100 case(s)" in result.stdout
    assert cli_case_count(cli) == 100


def test_the_cli_accepts_a_file_saved_with_a_byte_order_mark(cli: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    good = tmp_path / "excel.csv"
    good.write_text(csv_text(valid_rows(5)), encoding="utf-8-sig")
    result = import_with_cli(cli, good)
    assert result.returncode == 0, result.stderr
    assert cli_case_count(cli) == 5


def test_the_cli_says_when_it_cannot_read_the_file(cli: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.csv"
    result = import_with_cli(cli, missing)
    assert result.returncode == 2
    assert f"{missing}: cannot read" in result.stderr


# --- cases imported after an outage still get the relief it earned them --------------------------

LAST_OK = datetime(2026, 6, 10, 13, 55, tzinfo=UTC)  # 09:55 EDT
STARTED = datetime(2026, 6, 10, 14, 0, tzinfo=UTC)
ENDED = datetime(2026, 6, 10, 18, 30, tzinfo=UTC)


def add_past_outage(cli: tuple[Path, dict[str, str]]) -> None:
    config, env = cli
    runtime = make_runtime(env["DATABASE_URL"], config.read_text(encoding="utf-8"))
    try:
        with transaction(runtime.sessions) as session:
            session.add(
                Outage(
                    component_id="pr-portal",
                    started_at=STARTED,
                    last_ok_at=LAST_OK,
                    ended_at=ENDED,
                    detected_at=STARTED + timedelta(minutes=1),
                    resolved_at=ENDED + timedelta(minutes=1),
                    grace_days=7,
                )
            )
    finally:
        runtime.close()


def cli_grants(cli: tuple[Path, dict[str, str]]) -> dict[str, tuple[datetime, str]]:
    config, env = cli
    runtime = make_runtime(env["DATABASE_URL"], config.read_text(encoding="utf-8"))
    try:
        with transaction(runtime.sessions) as session:
            return {g.case_id: (g.new_deadline, g.status) for g in session.scalars(select(Grant))}
    finally:
        runtime.close()


def test_a_case_imported_after_an_outage_gets_the_relief_it_earned(
    cli: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    add_past_outage(cli)
    path = tmp_path / "late.csv"
    path.write_text(csv_text(["MID,pr-portal,2026-06-10T12:00:00-04:00,America/Toronto"]), encoding="utf-8")
    result = import_with_cli(cli, path)
    assert result.returncode == 0, result.stderr
    assert "1 new grant(s)" in result.stdout
    assert cli_grants(cli) == {"MID": (datetime(2026, 6, 18, 3, 59, 59, tzinfo=UTC), "final")}


def test_a_case_imported_later_with_its_deadline_between_the_last_good_check_and_the_first_failure_gets_relief(
    cli: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    # The relief window opens at the last good check (09:55 EDT), before the first failure (10:00 EDT).
    add_past_outage(cli)
    path = tmp_path / "edge.csv"
    path.write_text(csv_text(["AT-LAST-OK,pr-portal,2026-06-10T09:57:00-04:00,America/Toronto"]), encoding="utf-8")
    result = import_with_cli(cli, path)
    assert result.returncode == 0, result.stderr
    assert cli_grants(cli) == {"AT-LAST-OK": (datetime(2026, 6, 18, 3, 59, 59, tzinfo=UTC), "final")}


# --- the optional columns: extendable, email, webhook_url, language ------------------------------

CONTACTS = f"{HEADER},extendable,email,webhook_url,language"


def contacts_of(runtime: Runtime, case_id: str) -> tuple[bool, str | None, str | None, Language | None]:
    with transaction(runtime.sessions) as session:
        case = session.get_one(Case, case_id)
        return case.extendable, case.email, case.webhook_url, case.language


def stamps_of(runtime: Runtime) -> dict[str, datetime]:
    with transaction(runtime.sessions) as session:
        return {case_id: updated_at for case_id, updated_at in session.execute(select(Case.case_id, Case.updated_at))}


def import_text(runtime: Runtime, text: str) -> None:
    with transaction(runtime.sessions) as session:
        import_cases(session, text, source="cases.csv")


def test_the_optional_columns_are_stored_and_take_their_defaults_when_absent_or_empty(runtime: Runtime) -> None:
    import_text(
        runtime,
        csv_text(
            [
                "C-1,pr-portal,2026-12-01T10:00:00-05:00,America/Toronto,false,a@example.ca,https://h.example.ca/1,fr",
                "C-2,pr-portal,2026-12-01T10:00:00-05:00,America/Toronto,,,,",
                "C-3,pr-portal,2026-12-01T10:00:00-05:00,America/Toronto",  # a short row
            ],
            header=CONTACTS,
        ),
    )
    import_text(runtime, csv_text(["C-4,pr-portal,2026-12-01T10:00:00-05:00,America/Toronto"]))  # no such columns
    assert contacts_of(runtime, "C-1") == (False, "a@example.ca", "https://h.example.ca/1", Language.FR)
    for case_id in ("C-2", "C-3", "C-4"):
        assert contacts_of(runtime, case_id) == (True, None, None, None)


@pytest.mark.parametrize(
    ("column", "value"),
    [("extendable", "perhaps"), ("email", "nobody"), ("webhook_url", "ftp://x.ca/"), ("language", "de")],
)
def test_a_bad_optional_value_rejects_the_whole_file_naming_row_line_and_column(
    runtime: Runtime, column: str, value: str
) -> None:
    rows = [f"{row},,,," for row in valid_rows(10)]
    cells = {"extendable": "", "email": "", "webhook_url": "", "language": "", column: value}
    rows[6] = f"C-0007,pr-portal,2026-12-01T10:00:00-05:00,America/Toronto,{','.join(cells.values())}"
    errors = rejected_errors(runtime, csv_text(rows, header=CONTACTS))
    assert [(e.row, e.line, e.column) for e in errors] == [(7, 8, column)]
    assert stored_cases(runtime) == 0


def test_re_importing_updates_the_optional_columns_the_file_gives_and_keeps_those_it_leaves_out(
    runtime: Runtime,
) -> None:
    deadline = "2026-12-01T10:00:00-05:00"
    import_text(
        runtime,
        csv_text(
            [
                f"C-1,pr-portal,{deadline},America/Toronto,false,a@example.ca,https://h.example.ca/1,fr",
                f"C-2,pr-portal,{deadline},America/Toronto,false,b@example.ca,https://h.example.ca/2,en",
            ],
            header=CONTACTS,
        ),
    )
    # C-1: every column given, changed; C-2: only email given, emptied; the rest of C-2 is kept.
    import_text(
        runtime,
        csv_text(
            [f"C-1,pr-portal,{deadline},America/Toronto,true,c@example.ca,http://h.example.ca/3,en"], header=CONTACTS
        ),
    )
    import_text(runtime, csv_text([f"C-2,pr-portal,{deadline},America/Toronto,"], header=f"{HEADER},email"))
    assert contacts_of(runtime, "C-1") == (True, "c@example.ca", "http://h.example.ca/3", Language.EN)
    assert contacts_of(runtime, "C-2") == (False, None, "https://h.example.ca/2", Language.EN)


def test_a_re_import_moves_updated_at_only_for_the_cases_it_changes(runtime: Runtime) -> None:
    header = f"{HEADER},extendable,email"

    def row(case_id: str, components: str = "pr-portal", time: str = "10:00:00", tail: str = ",") -> str:
        return f"{case_id},{components},2026-12-01T{time}-05:00,America/Toronto,{tail}"

    import_text(runtime, csv_text([row("SAME"), row("NEW-EMAIL"), row("NEW-LINK"), row("NEW-DEADLINE")], header))
    before = stamps_of(runtime)
    again = [
        row("SAME", tail="true,"),  # true: what is stored already
        row("NEW-EMAIL", tail=",x@example.ca"),
        row("NEW-LINK", components="pr-portal;employer-portal"),
        row("NEW-DEADLINE", time="10:00:01"),
    ]
    import_text(runtime, csv_text(again, header))
    after = stamps_of(runtime)
    assert after["SAME"] == before["SAME"]
    assert all(after[case_id] > before[case_id] for case_id in ("NEW-EMAIL", "NEW-LINK", "NEW-DEADLINE"))
    assert case_view(runtime, "NEW-LINK")[2] == ["employer-portal", "pr-portal"]


# --- the optional column access_code: stored only as a slow hash ---------------------------------

CODES = f"{HEADER},access_code"
DEADLINE = "2026-12-01T10:00:00-05:00"


def with_code(case_id: str, code: str, deadline: str = DEADLINE) -> str:
    return f"{case_id},pr-portal,{deadline},America/Toronto,{code}"


def hash_of(runtime: Runtime, case_id: str) -> str | None:
    with transaction(runtime.sessions) as session:
        return session.get_one(Case, case_id).access_hash


def test_an_access_code_is_stored_only_as_a_hash_that_the_right_code_verifies_against(runtime: Runtime) -> None:
    import_text(
        runtime,
        csv_text([with_code("C-1", "abcd-1234"), with_code("C-2", "WXYZ 9876 QRST"), with_code("C-3", " ")], CODES),
    )
    first, second = hash_of(runtime, "C-1"), hash_of(runtime, "C-2")
    assert first is not None and first.startswith("scrypt$4096$8$1$")
    assert second is not None and second != first
    assert verify_code("ABCD1234", first) and verify_code("abcd 1234", first)
    assert not verify_code("ABCD1235", first) and not verify_code("WXYZ9876QRST", first)
    assert verify_code("wxyz-9876-qrst", second)
    assert hash_of(runtime, "C-3") is None  # an empty cell: no code
    assert holding_code(runtime, "ABCD1234", "WXYZ9876QRST") == []


def test_a_file_without_the_access_code_column_keeps_the_hashes_and_an_empty_cell_clears_one(runtime: Runtime) -> None:
    import_text(runtime, csv_text([with_code("C-1", "ABCD1234"), with_code("C-2", "EFGH5678")], CODES))
    first = hash_of(runtime, "C-1")
    import_text(runtime, csv_text(["C-1,employer-portal,2026-12-02T10:00:00-05:00,America/Toronto"]))
    assert hash_of(runtime, "C-1") == first
    assert case_view(runtime, "C-1")[2] == ["employer-portal"]
    import_text(runtime, csv_text([with_code("C-2", "")], CODES))
    assert hash_of(runtime, "C-2") is None
    assert hash_of(runtime, "C-1") == first


def test_re_importing_an_unchanged_code_keeps_its_hash_and_the_case_untouched_and_a_new_code_replaces_it(
    runtime: Runtime,
) -> None:
    import_text(runtime, csv_text([with_code("SAME", "ABCD1234"), with_code("NEW", "EFGH5678")], CODES))
    hashes, before = {c: hash_of(runtime, c) for c in ("SAME", "NEW")}, stamps_of(runtime)
    import_text(runtime, csv_text([with_code("SAME", "abcd-1234"), with_code("NEW", "IJKL9012")], CODES))
    after = stamps_of(runtime)
    assert hash_of(runtime, "SAME") == hashes["SAME"]
    assert after["SAME"] == before["SAME"]
    changed = hash_of(runtime, "NEW")
    assert changed != hashes["NEW"] and after["NEW"] > before["NEW"]
    assert changed is not None and verify_code("IJKL9012", changed) and not verify_code("EFGH5678", changed)


def test_a_bad_access_code_rejects_the_file_naming_line_and_field_without_showing_the_code(runtime: Runtime) -> None:
    rows = [with_code(f"C-{i}", f"GOOD{i:04d}") for i in range(1, 11)]
    rows[6] = with_code("C-7", "QZX-W")
    with pytest.raises(ImportRejected) as raised, transaction(runtime.sessions) as session:
        import_cases(session, csv_text(rows, CODES), source="cases.csv")
    assert [(e.row, e.line, e.column) for e in raised.value.errors] == [(7, 8, "access_code")]
    assert "row 7 (line 8), column access_code: must be 8 to 64 letters (A to Z) or digits (got 4)" in str(raised.value)
    assert "QZX" not in str(raised.value) and "QZX" not in repr(raised.value.errors)
    assert stored_cases(runtime) == 0
    assert holding_code(runtime, "GOOD0001", "QZXW") == []
