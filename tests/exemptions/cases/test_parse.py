"""Reading a cases CSV without a database: what is accepted, what is refused, and how each problem is named."""

from __future__ import annotations

import csv
import gc
import io
import pickle
import tracemalloc
import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest

from exemptions.cases.parse import (
    EARLIEST_DEADLINE,
    LATEST_DEADLINE,
    CaseRow,
    CasesReader,
    ImportRejected,
    RowError,
    parse_cases_csv,
)
from monitor.storage.enums import Language

KNOWN = ("pr-portal", "employer-portal")
HEADER = "case_id,components,deadline,time_zone"
DEADLINE = "2026-12-01T10:00:00-05:00"
FIELD_LIMIT = 131_072  # the csv module's default, process-wide


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def good_row(case_id: str = "C-1", *, deadline: str = DEADLINE, zone: str = "America/Toronto") -> str:
    return f"{case_id},pr-portal,{deadline},{zone}"


def parse(text: str) -> list[CaseRow]:
    return parse_cases_csv(text, known_components=KNOWN, source="cases.csv")


def rejection(text: str) -> ImportRejected:
    with pytest.raises(ImportRejected) as raised:
        parse(text)
    assert raised.value.source == "cases.csv"
    return raised.value


def where(errors: list[RowError]) -> list[tuple[int, int, str | None]]:
    return [(e.row, e.line, e.column) for e in errors]


# --- what stays as it was -----------------------------------------------------------------------


def test_valid_rows_are_returned_with_their_offset_zone_and_components() -> None:
    rows = parse(
        csv_text(good_row("C-1"), "C-2,pr-portal; employer-portal ;pr-portal,2026-12-01T10:00:00+05:30,Asia/Kolkata")
    )
    assert rows == [
        CaseRow("C-1", ("pr-portal",), datetime.fromisoformat(DEADLINE), "America/Toronto"),
        CaseRow(
            "C-2", ("pr-portal", "employer-portal"), datetime.fromisoformat("2026-12-01T10:00:00+05:30"), "Asia/Kolkata"
        ),
    ]


def test_extra_columns_and_column_order_do_not_matter() -> None:
    text = "time_zone,note,deadline,case_id,components\nAsia/Kolkata,urgent,2026-12-01T10:00:00+05:30,C-1,pr-portal\n"
    assert [r.case_id for r in parse(text)] == ["C-1"]


def test_a_row_may_leave_out_trailing_columns_that_are_ignored() -> None:
    assert len(parse(csv_text(good_row(), header=f"{HEADER},note"))) == 1


def test_a_bad_row_is_named_by_row_line_and_column_and_the_message_by_source() -> None:
    rows = [good_row(f"C-{i}") for i in range(1, 101)]
    rows[56] = good_row("C-57", deadline="2026-13-45T10:00:00-05:00")
    rejected = rejection(csv_text(*rows))
    assert where(rejected.errors) == [(57, 58, "deadline")]
    assert str(rejected.errors[0]).startswith("row 57 (line 58), column deadline: '2026-13-45T10:00:00-05:00'")
    assert str(rejected).startswith("cases.csv: 1 problem(s), nothing imported")


def test_every_bad_row_is_reported_in_file_order() -> None:
    text = csv_text(
        good_row("C-1", deadline="2026-12-01T10:00:00"),
        good_row("C-2"),
        good_row("C-3", zone="Mars/Olympus"),
        "C-4,visa-portal,2026-12-01T10:00:00-05:00,UTC",
    )
    assert where(rejection(text).errors) == [(1, 2, "deadline"), (3, 4, "time_zone"), (4, 5, "components")]


def test_a_duplicate_case_id_names_the_line_where_it_first_appears() -> None:
    errors = rejection(csv_text(good_row("C-1"), good_row("C-2"), good_row("C-1"))).errors
    assert where(errors) == [(3, 4, "case_id")]
    assert "'C-1' already appears on line 2" in errors[0].message


def test_a_missing_header_column_is_refused_naming_what_was_found() -> None:
    errors = rejection(csv_text("C-1,pr-portal,2026-12-01T10:00:00-05:00", header="case_id,components,deadline")).errors
    assert where(errors) == [(0, 1, None)]
    assert errors[0].message == "header lacks column(s) time_zone; got case_id, components, deadline"


def test_a_row_with_too_many_fields_is_refused() -> None:
    errors = rejection(csv_text(good_row() + ",surplus")).errors
    assert where(errors) == [(1, 2, None)]
    assert errors[0].message == "has 5 fields, the header has 4"


def test_a_row_missing_a_needed_field_names_that_column() -> None:
    errors = rejection(csv_text("C-1,pr-portal")).errors
    assert where(errors) == [(1, 2, "time_zone"), (1, 2, "deadline")]
    assert errors[0].message == "is missing: the row has 2 field(s), the header has 4"


def test_blank_lines_are_skipped_but_counted_as_lines() -> None:
    rejected = rejection(csv_text("", good_row("C-1"), "", good_row("C-2", zone="Nowhere")))
    assert where(rejected.errors) == [(2, 5, "time_zone")]


def test_a_row_spanning_lines_is_named_by_its_last_line() -> None:
    text = csv_text('"C-1",pr-portal,"2026-12-01T10:00:00-05:00\n",America/Toronto', good_row("C-2", zone="Nowhere"))
    assert where(rejection(text).errors) == [(2, 4, "time_zone")]


def test_a_byte_order_mark_and_spaces_around_header_names_are_tolerated() -> None:
    assert len(parse("\ufeff" + csv_text(good_row(), header=" case_id , components,deadline,time_zone"))) == 1


def test_a_case_id_of_64_characters_is_accepted_and_65_refused() -> None:
    assert len(parse(csv_text(good_row("C" * 64)))) == 1
    errors = rejection(csv_text(good_row("C" * 65))).errors
    assert where(errors) == [(1, 2, "case_id")]
    assert errors[0].message == "is longer than 64 characters"


# --- 1. NUL characters --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "column"),
    [
        ("C-\x001,pr-portal,2026-12-01T10:00:00-05:00,UTC,", "case_id"),
        ('C-1,"pr-portal\x00",2026-12-01T10:00:00-05:00,UTC,', "components"),
        ("C-1,pr-portal,2026-12-01T10:00:00-05:00\x00,UTC,", "deadline"),
        ("C-1,pr-portal,2026-12-01T10:00:00-05:00,UTC,\x00", "note"),
    ],
)
def test_a_nul_character_is_refused_at_its_row_line_and_column(row: str, column: str) -> None:
    errors = rejection(csv_text(good_row("C-0"), row, header=f"{HEADER},note")).errors
    assert where(errors) == [(2, 3, column)]
    assert "NUL character" in errors[0].message


def test_a_nul_character_in_the_header_is_refused_as_a_header_problem() -> None:
    errors = rejection(csv_text(good_row(), header=f"{HEADER},no\x00te")).errors
    assert where(errors) == [(0, 1, None)]
    assert "header column 5 'no\\x00te' contains a NUL character" in errors[0].message


# --- 2. fields longer than the csv module's limit -----------------------------------------------


def test_a_field_over_the_csv_field_limit_is_refused_naming_its_column_and_reading_goes_on() -> None:
    text = csv_text(f"C-1,{'x' * (FIELD_LIMIT + 1)},{DEADLINE},UTC", good_row("C-2", zone="Nowhere"))
    errors = rejection(text).errors
    assert where(errors) == [(1, 2, "components"), (2, 3, "time_zone")]
    assert errors[0].message == "is longer than 131,072 characters, the most a field may hold"
    assert csv.field_size_limit() == FIELD_LIMIT  # handled, not raised: the limit is process-wide


def test_a_field_of_exactly_the_csv_field_limit_is_read() -> None:
    errors = rejection(csv_text(f"C-1,{'x' * FIELD_LIMIT},{DEADLINE},UTC")).errors
    assert where(errors) == [(1, 2, "components")]
    assert errors[0].message.startswith("unknown component(s) 'xxx")


def test_an_over_long_quoted_field_spanning_lines_is_one_problem_and_the_rows_after_it_are_read() -> None:
    long_note = "a line of a long note\n" * (FIELD_LIMIT // 20)  # 6553 lines, over the limit
    text = csv_text(
        f'C-1,pr-portal,{DEADLINE},UTC,"{long_note}"', good_row("C-2", zone="Nowhere"), header=f"{HEADER},note"
    )
    errors = rejection(text).errors
    assert [(e.row, e.column) for e in errors] == [(1, "note"), (2, "time_zone")]
    assert errors[1].line == 2 + 6553 + 1  # the long row ends on the line with the closing quote


def test_an_over_long_field_in_the_header_is_a_header_problem() -> None:
    errors = rejection(f"case_id,{'x' * (FIELD_LIMIT + 1)}\n").errors
    assert where(errors) == [(0, 1, None)]
    assert errors[0].message == "the header has a field longer than 131,072 characters, the most a field may hold"


# --- 3. deadlines outside a sane range ----------------------------------------------------------


def test_the_deadline_bounds_are_aware_utc_datetimes() -> None:
    assert datetime(1970, 1, 1, tzinfo=UTC) == EARLIEST_DEADLINE
    assert datetime(2200, 1, 1, tzinfo=UTC) == LATEST_DEADLINE
    assert EARLIEST_DEADLINE.utcoffset() == LATEST_DEADLINE.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "deadline",
    [
        "9999-12-31T23:59:00-05:00",  # past datetime's end once in UTC
        "0001-01-01T00:00:00+05:00",  # before datetime's start once in UTC
        "9999-12-31T23:59:59+00:00",  # representable, but a grace period would overflow
        "1969-12-31T23:59:59+00:00",
        "1970-01-01T04:59:59+05:00",
        "2200-01-01T00:00:00+00:00",
        "2199-12-31T20:00:00-04:00",
    ],
)
def test_a_deadline_outside_1970_to_2200_is_refused_with_the_range_in_the_message(deadline: str) -> None:
    errors = rejection(csv_text(good_row(deadline=deadline))).errors
    assert where(errors) == [(1, 2, "deadline")]
    assert errors[0].message == (
        f"{deadline!r} is out of range: "
        "a deadline must be from 1970-01-01T00:00Z up to (not including) 2200-01-01T00:00Z"
    )


@pytest.mark.parametrize(
    "deadline", ["1970-01-01T00:00:00+00:00", "1970-01-01T05:00:00+05:00", "2199-12-31T23:59:59.999999Z"]
)
def test_a_deadline_at_the_edges_of_the_range_is_accepted(deadline: str) -> None:
    (row,) = parse(csv_text(good_row(deadline=deadline)))
    assert EARLIEST_DEADLINE <= row.deadline < LATEST_DEADLINE


# --- 4. repeated header columns -----------------------------------------------------------------


def test_a_needed_column_repeated_in_the_header_is_refused() -> None:
    text = csv_text(f"C-1,pr-portal,not a date,UTC,{DEADLINE}", header=f"{HEADER},deadline")
    errors = rejection(text).errors
    assert where(errors) == [(0, 1, "deadline")]
    assert errors[0].message == "appears 2 times in the header (columns 3, 5)"


def test_an_ignored_column_may_repeat_like_the_empty_ones_spreadsheets_add() -> None:
    assert len(parse(csv_text(good_row() + ",,", header=f"{HEADER},,"))) == 1


# --- 5. time zones ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "zone", ["localtime", "posixrules", "/etc/localtime", "right/UTC", "posix/UTC", "america/toronto", ""]
)
def test_a_time_zone_that_is_not_an_iana_name_is_refused(zone: str) -> None:
    errors = rejection(csv_text(good_row(zone=zone))).errors
    assert where(errors) == [(1, 2, "time_zone")]
    assert errors[0].message == f"unknown time zone {zone!r}; use an IANA name such as America/Toronto"


@pytest.mark.parametrize("zone", ["America/Toronto", "UTC", "Etc/GMT+5", "US/Eastern", "Asia/Kolkata"])
def test_an_iana_time_zone_name_is_accepted(zone: str) -> None:
    assert zone in zoneinfo.available_timezones()
    assert parse(csv_text(good_row(zone=zone)))[0].time_zone == zone


# --- 6. empty files -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\n", " \r\n\t\n", ",,,\n"])
def test_an_empty_or_blank_file_is_refused_asking_for_the_header(text: str) -> None:
    errors = rejection(text).errors
    assert where(errors) == [(0, 1, None)]
    assert errors[0].message == "the file is empty; expected a header row with case_id,components,deadline,time_zone"


@pytest.mark.parametrize("text", [HEADER, HEADER + "\n", HEADER + "\n\n\n"])
def test_a_header_without_data_rows_is_refused_rather_than_importing_nothing(text: str) -> None:
    errors = rejection(text).errors
    assert where(errors) == [(0, 1, None)]
    assert errors[0].message == "no data rows after the header; nothing to import"


def test_blank_lines_before_the_header_are_skipped() -> None:
    assert len(parse("\n \n" + csv_text(good_row()))) == 1


# --- 7. text that cannot be stored or shown -----------------------------------------------------


@pytest.mark.parametrize(("column", "index"), [("case_id", 0), ("components", 1), ("deadline", 2), ("time_zone", 3)])
def test_a_lone_surrogate_in_a_field_is_refused_and_kept_out_of_the_message(column: str, index: int) -> None:
    fields = good_row().split(",")
    fields[index] += "\udcff"  # what errors="surrogateescape" makes of the byte 0xFF
    errors = rejection(csv_text(",".join(fields))).errors
    assert where(errors) == [(1, 2, column)]
    assert "lone surrogate U+DCFF" in errors[0].message
    str(rejection(csv_text(",".join(fields)))).encode("utf-8")  # shown on a terminal or in JSON without failing


def test_a_header_with_surrogates_is_refused_and_shown_escaped() -> None:
    rejected = rejection(csv_text(good_row(), header="case_\udcffid,components,deadline,time_zone"))
    assert "'case_\\udcffid'" in str(rejected)
    str(rejected).encode("utf-8")


@pytest.mark.parametrize("case_id", ["C-\x011", "C\t1", "C\u200b1", "C\u00a01", "C-\x7f"])
def test_a_case_id_with_a_control_or_invisible_character_is_refused(case_id: str) -> None:
    errors = rejection(csv_text(good_row(f'"{case_id}"'))).errors
    assert where(errors) == [(1, 2, "case_id")]
    assert "contains a control or invisible character" in errors[0].message


def test_spaces_around_a_case_id_are_trimmed_and_spaces_inside_kept() -> None:
    assert parse(csv_text(good_row("  C 1  ")))[0].case_id == "C 1"


def test_a_huge_value_is_shortened_in_the_message() -> None:
    errors = rejection(csv_text(good_row(zone="Z" * 100_000))).errors
    assert len(errors[0].message) < 200
    assert "(100000 characters)" in errors[0].message


# --- the rejection ------------------------------------------------------------------------------


def test_a_rejection_built_from_source_and_errors_counts_them() -> None:
    rejected = ImportRejected("x.csv", [RowError(1, 2, "deadline", "bad")])
    assert rejected.error_count == 1
    assert str(rejected) == "x.csv: 1 problem(s), nothing imported:\n  row 1 (line 2), column deadline: bad"


def test_a_rejection_says_the_total_and_lists_at_most_50() -> None:
    errors = [RowError(i, i + 1, None, "bad") for i in range(1, 61)]
    rejected = ImportRejected("x.csv", errors[:55], error_count=1234)
    message = str(rejected)
    assert message.startswith("x.csv: 1234 problem(s), nothing imported")
    assert "row 50 (line 51)" in message
    assert "row 51 (line 52)" not in message
    assert message.endswith("… and 1184 more")


def test_a_rejection_survives_pickling() -> None:
    rejected = ImportRejected("x.csv", [RowError(1, 2, "deadline", "bad")], error_count=7)
    copy = pickle.loads(pickle.dumps(rejected))
    assert (copy.source, copy.errors, copy.error_count, str(copy)) == ("x.csv", rejected.errors, 7, str(rejected))


def test_parse_cases_csv_keeps_every_problem() -> None:
    rejected = rejection(csv_text(*(good_row(f"C-{i}", zone="Nowhere") for i in range(1500))))
    assert rejected.error_count == len(rejected.errors) == 1500


# --- the streaming reader -----------------------------------------------------------------------


def reader_over(text: str, **options: object) -> CasesReader:
    return CasesReader(io.StringIO(text, newline=""), known_components=KNOWN, source="big.csv", **options)  # type: ignore[arg-type]


def test_the_reader_yields_each_valid_row_with_its_line_and_collects_the_rest() -> None:
    reader = reader_over(csv_text(good_row("C-1"), good_row("C-2", zone="Nowhere"), "", good_row("C-3")))
    assert [(line, row.case_id) for line, row in reader] == [(2, "C-1"), (5, "C-3")]
    assert where(reader.errors) == [(2, 3, "time_zone")]
    assert (reader.error_count, reader.rows_read) == (1, 3)


def test_the_reader_reports_progress_and_the_deadline_range_in_utc() -> None:
    reader = reader_over(
        csv_text(
            good_row("C-1", deadline="2026-12-01T10:00:00-05:00"),
            good_row("C-2", deadline="2026-01-01T00:00:00+05:30"),
            good_row("C-3", deadline="2030-01-01T00:00:00Z"),
        )
    )
    assert reader.rows_read == 0 and reader.min_deadline is None and reader.max_deadline is None
    rows = iter(reader)
    next(rows)
    assert reader.rows_read == 1
    list(rows)
    assert reader.rows_read == 3
    assert reader.min_deadline == datetime(2025, 12, 31, 18, 30, tzinfo=UTC)
    assert reader.max_deadline == datetime(2030, 1, 1, tzinfo=UTC)


def test_the_reader_raises_header_problems_from_the_first_next() -> None:
    rows = iter(reader_over(csv_text(good_row(), header="case_id,deadline")))
    with pytest.raises(ImportRejected) as raised:
        next(rows)
    assert raised.value.source == "big.csv"
    assert where(raised.value.errors) == [(0, 1, None)]


def test_the_reader_keeps_the_first_max_errors_and_counts_them_all() -> None:
    reader = reader_over(csv_text(*(good_row(f"C-{i}", zone="Nowhere") for i in range(1, 2501))), max_errors=10)
    assert list(reader) == []
    assert reader.error_count == 2500
    assert [e.row for e in reader.errors] == list(range(1, 11))
    rejected = ImportRejected(reader.source, reader.errors, reader.error_count)
    assert str(rejected).startswith("big.csv: 2500 problem(s), nothing imported")
    assert str(rejected).endswith("… and 2490 more")


def test_without_duplicate_checks_the_reader_leaves_repeated_case_ids_to_the_caller() -> None:
    text = csv_text(good_row("C-1"), good_row("C-1"))
    assert [line for line, _ in reader_over(text, check_duplicates=False)] == [2, 3]
    checked = reader_over(text)
    assert [line for line, _ in checked] == [2]
    assert where(checked.errors) == [(2, 3, "case_id")]


def test_the_reader_reads_a_binary_upload_and_names_bytes_that_are_not_utf8() -> None:
    data = csv_text(good_row("C-1"), good_row("C-\xe9"), good_row("C-3")).encode("latin-1")
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", errors="surrogateescape", newline="")
    reader = CasesReader(stream, known_components=KNOWN)
    assert [row.case_id for _, row in reader] == ["C-1", "C-3"]
    assert where(reader.errors) == [(2, 3, "case_id")]
    assert "lone surrogate U+DCE9" in reader.errors[0].message


def test_a_strictly_decoded_stream_that_is_not_utf8_ends_the_reading_with_one_problem() -> None:
    rows = [good_row(f"C-{i}") for i in range(1, 1001)]  # more than the text layer decodes at once
    data = csv_text(*rows, good_row("C-\xe9"), good_row("C-1002")).encode("latin-1")
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline="")
    reader = CasesReader(stream, known_components=KNOWN)
    assert 0 < len(list(reader)) <= 1000
    assert reader.error_count == 1
    assert "not UTF-8 text at or shortly after this line" in reader.errors[0].message


def test_a_strictly_decoded_stream_that_is_not_utf8_from_the_start_is_refused() -> None:
    stream = io.TextIOWrapper(io.BytesIO(csv_text(good_row("C-\xe9")).encode("latin-1")), encoding="utf-8")
    with pytest.raises(ImportRejected, match="not UTF-8 text"):
        list(CasesReader(stream, known_components=KNOWN))


def test_the_reader_refuses_a_header_only_stream_once_it_reaches_the_end() -> None:
    with pytest.raises(ImportRejected, match="no data rows after the header"):
        list(reader_over(HEADER + "\n"))


def test_a_reader_can_be_iterated_only_once() -> None:
    reader = reader_over(csv_text(good_row()))
    list(reader)
    with pytest.raises(RuntimeError):
        iter(reader)


def test_a_reader_given_a_whole_string_says_it_needs_lines() -> None:
    with pytest.raises(TypeError, match="needs lines"):
        list(CasesReader(csv_text(good_row()), known_components=KNOWN))


def test_a_reader_given_bytes_says_it_needs_text() -> None:
    with pytest.raises(TypeError, match="needs text lines"):
        list(CasesReader(io.BytesIO(csv_text(good_row()).encode()), known_components=KNOWN))  # type: ignore[arg-type]


# --- bounded memory -----------------------------------------------------------------------------


def generated_rows(count: int) -> list[str]:
    """The lines of a cases CSV, made before memory is measured so that only the reading is."""
    lines = [HEADER + "\n"]
    for i in range(count):
        components = "pr-portal" if i % 3 else "pr-portal;employer-portal"
        lines.append(f"C-{i:07d},{components},2026-12-01T{i % 24:02d}:{i % 60:02d}:00-05:00,America/Toronto\n")
    return lines


def peak_memory_reading(count: int, *, check_duplicates: bool) -> int:
    reader = CasesReader(generated_rows(count), known_components=KNOWN, check_duplicates=check_duplicates)
    gc.collect()
    tracemalloc.start()
    try:
        rows = sum(1 for _ in reader)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (rows, reader.error_count) == (count, 0)
    return peak


def test_reading_ten_times_more_rows_without_duplicate_checks_does_not_take_more_memory() -> None:
    peak_memory_reading(1_000, check_duplicates=False)  # warm up the zone cache and the regex/csv machinery
    small = peak_memory_reading(20_000, check_duplicates=False)
    large = peak_memory_reading(200_000, check_duplicates=False)
    assert large < 2 * small + 256 * 1024, f"peak {small:,} bytes for 20k rows, {large:,} for 200k"


def test_duplicate_checks_do_hold_every_case_id_which_the_memory_measure_would_catch() -> None:
    # The counterpart of the test above: the same measure sees per-row state when there is some.
    small = peak_memory_reading(2_000, check_duplicates=True)
    large = peak_memory_reading(20_000, check_duplicates=True)
    assert large > 5 * small


# --- the optional columns: extendable, email, webhook_url, language ------------------------------

OPTIONAL_HEADER = f"{HEADER},extendable,email,webhook_url,language"


def with_contacts(
    case_id: str = "C-1", extendable: str = "", email: str = "", webhook_url: str = "", language: str = ""
) -> str:
    return f"{good_row(case_id)},{extendable},{email},{webhook_url},{language}"


def one_row(row: str, header: str = OPTIONAL_HEADER) -> CaseRow:
    (parsed,) = parse(csv_text(row, header=header))
    return parsed


def test_without_the_optional_columns_a_case_is_extendable_with_no_contacts() -> None:
    row = one_row(good_row(), header=HEADER)
    assert (row.extendable, row.email, row.webhook_url, row.language) == (True, None, None, None)


def test_empty_optional_cells_take_the_defaults() -> None:
    row = one_row(with_contacts(extendable=" ", email="", webhook_url="  ", language=""))
    assert (row.extendable, row.email, row.webhook_url, row.language) == (True, None, None, None)


def test_a_row_may_stop_before_its_optional_columns() -> None:
    row = one_row(good_row() + ",false", header=OPTIONAL_HEADER)  # email, webhook_url, language left out
    assert (row.extendable, row.email, row.webhook_url, row.language) == (False, None, None, None)


def test_the_optional_columns_are_read_and_stored_on_the_row() -> None:
    row = one_row(
        with_contacts(
            extendable="false",
            email=" Marie.Tremblay+ircc@example.ca ",
            webhook_url="https://hooks.example.ca:8443/deadlines?case=C-1",
            language="fr",
        )
    )
    assert row == CaseRow(
        "C-1",
        ("pr-portal",),
        datetime.fromisoformat(DEADLINE),
        "America/Toronto",
        False,
        "Marie.Tremblay+ircc@example.ca",
        "https://hooks.example.ca:8443/deadlines?case=C-1",
        Language.FR,
    )


def test_optional_columns_may_come_in_any_order_among_the_others() -> None:
    text = (
        f"language,case_id,email,components,deadline,time_zone,extendable\nEN,C-1,a@b.ca,pr-portal,{DEADLINE},UTC,No\n"
    )
    (row,) = parse(text)
    assert (row.language, row.email, row.extendable) == (Language.EN, "a@b.ca", False)


@pytest.mark.parametrize(
    ("written", "value"),
    [
        *[("true", True), ("TRUE", True), ("True", True), ("yes", True), ("1", True)],
        *[("false", False), ("FALSE", False), ("No", False), ("0", False)],
    ],
)
def test_extendable_reads_true_or_false_as_spreadsheets_and_people_write_them(written: str, value: bool) -> None:
    assert one_row(with_contacts(extendable=written)).extendable is value


@pytest.mark.parametrize("written", ["maybe", "t", "f", "2", "oui", "non", "true false", "-1"])
def test_anything_else_in_extendable_is_refused_at_its_row_line_and_column(written: str) -> None:
    errors = rejection(csv_text(good_row("C-0") + ",,,,", with_contacts(extendable=written), header=OPTIONAL_HEADER))
    assert where(errors.errors) == [(2, 3, "extendable")]
    assert errors.errors[0].message == (
        f"{written!r} is neither true nor false (yes/no and 1/0 are read too); empty means true"
    )


@pytest.mark.parametrize(
    "email",
    [
        "name@example.ca",
        "first.last+tag@sub.example.gc.ca",
        "o'brien@example.ie",
        "x@example.museum",
        "élise@exemple.québec",
        "user@xn--exmple-cua.ca",
        "a" * 64 + "@example.ca",
    ],
)
def test_a_plausible_email_address_is_kept_as_written(email: str) -> None:
    assert one_row(with_contacts(email=email)).email == email


@pytest.mark.parametrize(
    "email",
    [
        "name",
        "name@",
        "@example.ca",
        "name@example",
        "name@@example.ca",
        "na me@example.ca",
        "name@exa mple.ca",
        "name@example.c",
        "name@example.123",
        ".name@example.ca",
        "name.@example.ca",
        "na..me@example.ca",
        "name@-example.ca",
        "name@example-.ca",
        "name@example..ca",
        '"quoted"@example.ca',
        "<name@example.ca>",
        "name@example.ca, other@example.ca",
        "Name <name@example.ca>",
        "na\u200bme@example.ca",
        "a" * 65 + "@example.ca",
    ],
)
def test_an_implausible_email_address_is_refused_at_its_row_line_and_column(email: str) -> None:
    errors = rejection(csv_text(with_contacts(email=f'"{email}"'), header=OPTIONAL_HEADER)).errors
    assert where(errors) == [(1, 2, "email")]
    assert errors[0].message.endswith("is not a plausible email address such as name@example.ca")


def test_an_email_address_over_320_characters_is_refused() -> None:
    email = "a@" + ".".join(["b" * 60] * 6) + ".ca"
    assert len(email) > 320
    errors = rejection(csv_text(with_contacts(email=email), header=OPTIONAL_HEADER)).errors
    assert where(errors) == [(1, 2, "email")]
    assert errors[0].message == "is longer than 320 characters"


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.ca/deadlines",
        "http://10.0.0.5:8080/hook",
        "HTTPS://Example.CA/x?y=1#z",
        "https://[2001:db8::1]/hook",
        "https://user:secret@hooks.example.ca/",
        "https://hooks.example.ca/" + "x" * 2000,
    ],
)
def test_an_absolute_http_or_https_url_is_a_webhook(url: str) -> None:
    assert one_row(with_contacts(webhook_url=url)).webhook_url == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("hooks.example.ca/deadlines", "is not an absolute http:// or https:// URL"),
        ("/deadlines", "is not an absolute http:// or https:// URL"),
        ("ftp://files.example.ca/", "is not an absolute http:// or https:// URL"),
        ("mailto:name@example.ca", "is not an absolute http:// or https:// URL"),
        ("javascript:alert(1)", "is not an absolute http:// or https:// URL"),
        ("https:///deadlines", "has no host"),
        ("https://:8080/", "has no host"),
        ("https://example.ca:0/", "has no host"),
        ("https://example.ca:99999/", "is not a well-formed URL"),
        ("https://example.ca:port/", "is not a well-formed URL"),
        ("https://[::1/", "is not a well-formed URL"),
        ("https://example.ca/a b", "contains spaces or control characters"),
        ("https://example.ca/\u200b", "contains spaces or control characters"),
    ],
)
def test_anything_else_as_a_webhook_is_refused_at_its_row_line_and_column(url: str, why: str) -> None:
    errors = rejection(csv_text(with_contacts(webhook_url=f'"{url}"'), header=OPTIONAL_HEADER)).errors
    assert where(errors) == [(1, 2, "webhook_url")]
    assert why in errors[0].message


def test_a_webhook_url_over_2048_characters_is_refused() -> None:
    url = "https://hooks.example.ca/" + "x" * 2024
    errors = rejection(csv_text(with_contacts(webhook_url=url), header=OPTIONAL_HEADER)).errors
    assert where(errors) == [(1, 2, "webhook_url")]
    assert errors[0].message == "is longer than 2,048 characters"


@pytest.mark.parametrize(("written", "language"), [("en", Language.EN), ("fr", Language.FR), ("FR", Language.FR)])
def test_a_language_is_en_or_fr_in_any_case(written: str, language: Language) -> None:
    assert one_row(with_contacts(language=written)).language is language


@pytest.mark.parametrize("written", ["english", "français", "de", "en-CA", "e n"])
def test_any_other_language_is_refused_at_its_row_line_and_column(written: str) -> None:
    errors = rejection(csv_text(with_contacts(language=written), header=OPTIONAL_HEADER)).errors
    assert where(errors) == [(1, 2, "language")]
    assert errors[0].message == f"{written!r} is not a language cases are written to in; use en or fr"


def test_every_bad_optional_cell_of_a_row_is_reported_with_the_others() -> None:
    row = "C-1,pr-portal,2026-13-45T10:00:00-05:00,UTC,perhaps,nobody,ftp://x,de"
    errors = rejection(csv_text(good_row("C-0") + ",,,,", row, header=OPTIONAL_HEADER)).errors
    assert where(errors) == [
        (2, 3, "deadline"),
        (2, 3, "extendable"),
        (2, 3, "email"),
        (2, 3, "webhook_url"),
        (2, 3, "language"),
    ]


def test_a_nul_character_in_an_optional_column_is_refused_there() -> None:
    errors = rejection(csv_text(with_contacts(email="a\x00@example.ca"), header=OPTIONAL_HEADER)).errors
    assert where(errors) == [(1, 2, "email")]
    assert "NUL character" in errors[0].message


def test_an_optional_column_repeated_in_the_header_is_refused() -> None:
    errors = rejection(csv_text(good_row() + ",a@b.ca,c@d.ca", header=f"{HEADER},email,email")).errors
    assert where(errors) == [(0, 1, "email")]
    assert errors[0].message == "appears 2 times in the header (columns 5, 6)"


# --- the optional column access_code --------------------------------------------------------------

CODE_HEADER = f"{HEADER},access_code"


def code_of(row: CaseRow) -> str | None:
    return None if row.access_code is None else row.access_code.reveal()


@pytest.mark.parametrize(
    ("written", "normalised"),
    [
        ("ABCD1234", "ABCD1234"),
        ("abcd-1234", "ABCD1234"),
        (" Ab Cd-12 34 ", "ABCD1234"),
        ("7" * 64, "7" * 64),
        ("x-" * 64, "X" * 64),  # hyphens do not count towards the 64
    ],
)
def test_an_access_code_is_read_normalised_without_case_spaces_or_hyphens(written: str, normalised: str) -> None:
    assert code_of(one_row(f"{good_row()},{written}", header=CODE_HEADER)) == normalised


@pytest.mark.parametrize("row", [f"{good_row()},", f"{good_row()},   ", good_row()])
def test_an_empty_or_missing_access_code_cell_means_no_access_code(row: str) -> None:
    assert one_row(row, header=CODE_HEADER).access_code is None


@pytest.mark.parametrize(
    ("written", "got"),
    [
        ("ABC1234", "7"),
        ("AB-CD 12", "6"),
        ("A" * 65, "65"),
        ("ABCD_1234", "9 characters, 1 of them neither"),
        ("ÉCOLE2026", "9 characters, 1 of them neither"),
        ("ABCD\t1234", "9 characters, 1 of them neither"),
        ("straße12", "8 characters, 1 of them neither"),
    ],
)
def test_a_bad_access_code_is_refused_naming_line_and_field_without_repeating_the_code(written: str, got: str) -> None:
    rows = [f"{good_row(f'C-{i}')},ABCD1234" for i in range(1, 7)] + [f"{good_row('C-7')},{written}"]
    rejected = rejection(csv_text(*rows, header=CODE_HEADER))
    assert where(rejected.errors) == [(7, 8, "access_code")]
    assert rejected.errors[0].message == (
        f"must be 8 to 64 letters (A to Z) or digits (got {got}); spaces and hyphens do not count"
    )
    assert str(rejected.errors[0]).startswith("row 7 (line 8), column access_code: must be 8 to 64 letters")
    assert written not in str(rejected) and written.strip().upper() not in str(rejected)


def test_a_row_holding_an_access_code_never_shows_it() -> None:
    row = one_row(f"{good_row()},Secret-Code-42", header=CODE_HEADER)
    assert code_of(row) == "SECRETCODE42"
    for shown in (repr(row), str(row), f"{row}", repr(row.access_code), str(row.access_code), f"{row.access_code}"):
        assert "SECRET" not in shown.upper()
    assert "access_code=<access code>" in repr(row)


def test_rows_with_the_same_access_code_are_equal_and_with_another_are_not() -> None:
    (same,) = parse(csv_text(f"{good_row()},abcd-1234", header=CODE_HEADER))
    (other,) = parse(csv_text(f"{good_row()},ABCD1235", header=CODE_HEADER))
    assert same == one_row(f"{good_row()},ABCD1234", header=CODE_HEADER)
    assert same != other


@pytest.mark.parametrize("name", ["Access_Code", " ACCESS_CODE ", "ACCESS_code"])
def test_an_access_code_column_not_written_in_lowercase_refuses_the_file_rather_than_being_ignored(name: str) -> None:
    errors = rejection(csv_text(good_row() + ",ABCD1234", header=f"{HEADER},{name}")).errors
    assert where(errors) == [(0, 1, "access_code")]
    assert errors[0].message == (
        f"header column 5 {name.strip()} must be written access_code, in lowercase; otherwise its values would be "
        "ignored"
    )


def test_the_reader_lists_access_code_among_the_optional_columns_the_file_gives() -> None:
    reader = reader_over(csv_text(f"{good_row()},ABCD1234,a@b.ca", header=f"{HEADER},access_code,email"))
    (row,) = [row for _, row in reader]
    assert reader.optional_columns == ("email", "access_code")
    assert (code_of(row), row.email) == ("ABCD1234", "a@b.ca")


def test_the_quick_and_the_full_check_read_the_same_access_codes() -> None:
    text = csv_text(f"{good_row('C-1')},abcd-1234", f"{good_row('C-2')},", header=CODE_HEADER)

    class FullCheckOnly(CasesReader):
        _quick_check = False

    quick = list(reader_over(text))
    full = list(FullCheckOnly(io.StringIO(text, newline=""), known_components=KNOWN, source="cases.csv"))
    assert quick == full
    assert [code_of(row) for _, row in quick] == ["ABCD1234", None]


def test_the_streaming_reader_reads_the_optional_columns_too() -> None:
    text = csv_text(
        with_contacts("C-1", "no", "a@b.ca", "https://h.example/x", "fr"), with_contacts("C-2"), header=OPTIONAL_HEADER
    )
    rows = [row for _, row in reader_over(text)]
    assert [(r.extendable, r.email, r.webhook_url, r.language) for r in rows] == [
        (False, "a@b.ca", "https://h.example/x", Language.FR),
        (True, None, None, None),
    ]
