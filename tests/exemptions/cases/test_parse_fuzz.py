"""Whatever text arrives, reading it as cases either returns rows that later steps can use or refuses it cleanly.

Bounded in time (a few seconds in all): a set number of examples per property, and no example database kept.
"""

from __future__ import annotations

import csv
import io
import re
import zoneinfo
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlsplit

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from exemptions.cases.access import normalise_code
from exemptions.cases.parse import (
    EARLIEST_DEADLINE,
    LATEST_DEADLINE,
    MAX_EMAIL_LENGTH,
    MAX_WEBHOOK_URL_LENGTH,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    CaseRow,
    CasesReader,
    ImportRejected,
    parse_cases_csv,
)
from monitor.storage.enums import Language

KNOWN = ("pr-portal", "employer-portal")
AVAILABLE_ZONES = zoneinfo.available_timezones()
FIELD_LIMIT = csv.field_size_limit()

FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Characters that mean something to CSV, to the checks, or to what stores and shows the result.
TRICKY = [",", '"', ";", "\n", "\r", "\x00", "\udcff", "\ud800", "\t", "\x01", "\x7f", "\u200b", "\ufeff", " "]
tricky_text = st.text(st.one_of(st.characters(), st.sampled_from(TRICKY)), max_size=40)

ODD_DEADLINES = [
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+23:59",
    "9999-12-31T23:59:00-05:00",
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59.999999+00:00",
    "1969-12-31T23:59:59.999999+00:00",
    "1970-01-01T00:00:00Z",
    "2199-12-31T23:59:59.999999+00:00",
    "2200-01-01T00:00:00+00:00",
    "2026-12-01T10:00:00",
    "2026-12-01",
    "2026-02-30T10:00:00Z",
    "2026-12-01T24:00:00Z",
    "2026-12-01T10:00:00+24:00",
    "2026-12-01T10:00:00-05:00:30.5",
    "20261201T100000-0500",
    "２０２６-12-01T10:00:00Z",
    "2026-12-01T10:00:00\x00Z",
    "2026-12-01T10:00:00\udcffZ",
    "",
]
ODD_ZONES = [
    "localtime",
    "posixrules",
    "/etc/localtime",
    "right/UTC",
    "posix/UTC",
    "Factory",
    "../../etc/passwd",
    "Europe/../Europe/Paris",
    "america/toronto",
    "America/Toronto\x00",
    "UTC\udcff",
    " UTC ",
    "",
]
fixed_offsets = st.timedeltas(min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59))
offsets = st.builds(timezone, fixed_offsets)
# Most deadlines near the accepted range (1970 to 2200), so its edges are crossed often; some anywhere at all.
# (Hypothesis leans towards min_value, hence a day before the range: its edge, with offsets either side.)
near_range = st.datetimes(min_value=datetime(1969, 12, 31), max_value=datetime(2200, 1, 1, 23), timezones=offsets)
anywhere = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59), timezones=offsets)
huge_field = st.sampled_from(
    [
        "x" * (FIELD_LIMIT - 1),
        "x" * FIELD_LIMIT,
        "x" * (FIELD_LIMIT + 1),
        ("y" * 1000 + "\n") * (FIELD_LIMIT // 1000),  # over the limit only as one quoted field spanning lines
        '"' * (FIELD_LIMIT + 2),
    ]
)
ODD_CASE_IDS = ["C-\x001", "C-\udcff", "C\t1", "C\u200b1", "C\u00a01", " C-1 ", "C 1", "Ç-1", "C" * 64, "C" * 65, ""]
ODD_COMPONENTS = ["visa-portal", "", " ; ", "pr-portal\x00", "pr-portal\udcff", "pr-portal;;", " pr-portal "]
PLAUSIBLE_EXTENDABLE = ["", "true", "false", "TRUE", "False", "yes", "no", "1", "0", " true "]
ODD_EXTENDABLE = ["maybe", "t", "2", "tru e", "true\x00", "\udcff", "oui", "-0"]
PLAUSIBLE_EMAILS = ["", "name@example.ca", "first.last+tag@sub.example.gc.ca", "élise@exemple.québec", " a@b.ca "]
ODD_EMAILS = [
    "name",
    "@example.ca",
    "name@example",
    "a@@b.ca",
    "a b@c.ca",
    ".a@b.ca",
    "a..b@c.ca",
    "a@-b.ca",
    "a@b.c",
    "a\u200b@b.ca",
    "a\x00@b.ca",
    "a\udcff@b.ca",
    "a@" + "b" * 300 + ".ca",
    "a" * 65 + "@b.ca",
]
PLAUSIBLE_URLS = ["", "https://hooks.example.ca/deadlines", "http://10.0.0.5:8080/hook?x=1", "HTTPS://A.CA/"]
ODD_URLS = [
    "hooks.example.ca",
    "ftp://a.ca/",
    "javascript:alert(1)",
    "https:///x",
    "https://a.ca:0/",
    "https://a.ca:99999/",
    "https://[::1/",
    "https://a.ca/a b",
    "https://a.ca/\x00",
    "https://a.ca/\udcff",
    "https://a.ca/" + "x" * 2048,
    "https://a.ca/\\back\\slash",
]
PLAUSIBLE_LANGUAGES = ["", "en", "fr", "EN", "Fr"]
ODD_LANGUAGES = ["english", "de", "en-CA", "e\x00n", "\udcff"]
PLAUSIBLE_CODES = ["", "ABCD1234", "abcd-1234", " Ab Cd 12 34 ", "7" * 64, "x-" * 64]
ODD_CODES = ["ABC1234", "A" * 65, "ABCD_1234", "ÉCOLE2026", "straße12", "ABCD\x001234", "ABCD\udcff1234", "ABCD\t1234"]


def column_values(odd_one_in: int) -> dict[str, st.SearchStrategy[str]]:
    """A plausible value for each needed column, and one time in `odd_one_in` an odd one."""

    def mostly(plausible: st.SearchStrategy[str], odd: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.integers(1, odd_one_in).flatmap(lambda roll: odd if roll == 1 else plausible)

    return {
        "case_id": mostly(st.from_regex(r"C-[0-9]{1,4}", fullmatch=True), st.sampled_from(ODD_CASE_IDS)),
        "components": mostly(
            st.lists(st.sampled_from(KNOWN), min_size=1, max_size=3).map(";".join), st.sampled_from(ODD_COMPONENTS)
        ),
        "deadline": mostly(
            st.one_of(
                near_range.map(lambda d: d.isoformat()),
                near_range.map(lambda d: d.isoformat(sep=" ", timespec="minutes")),
            ),
            st.one_of(st.sampled_from(ODD_DEADLINES), anywhere.map(lambda d: d.isoformat())),
        ),
        "time_zone": mostly(st.sampled_from(sorted(AVAILABLE_ZONES)), st.sampled_from(ODD_ZONES)),
        "extendable": mostly(st.sampled_from(PLAUSIBLE_EXTENDABLE), st.sampled_from(ODD_EXTENDABLE)),
        "email": mostly(st.sampled_from(PLAUSIBLE_EMAILS), st.one_of(st.sampled_from(ODD_EMAILS), st.emails())),
        "webhook_url": mostly(st.sampled_from(PLAUSIBLE_URLS), st.sampled_from(ODD_URLS)),
        "language": mostly(st.sampled_from(PLAUSIBLE_LANGUAGES), st.sampled_from(ODD_LANGUAGES)),
        "access_code": mostly(st.sampled_from(PLAUSIBLE_CODES), st.sampled_from(ODD_CODES)),
    }


plausible_headers = st.one_of(
    st.permutations(list(REQUIRED_COLUMNS)),
    st.permutations([*REQUIRED_COLUMNS, "note"]),
    # Some of the optional columns, in any order among the others.
    st.lists(st.sampled_from(OPTIONAL_COLUMNS), unique=True, min_size=1).flatmap(
        lambda optional: st.permutations([*REQUIRED_COLUMNS, *optional])
    ),
)
any_headers = st.one_of(
    plausible_headers,
    st.lists(
        st.sampled_from(
            [
                *REQUIRED_COLUMNS,
                *OPTIONAL_COLUMNS,
                "note",
                "",
                " deadline",
                "\ufeffcase_id",
                "dead\x00line",
                "access_code",
                " Access_Code",
            ]
        ),
        max_size=9,
    ),
)
MOSTLY_PLAUSIBLE = column_values(odd_one_in=25)
OFTEN_ODD = column_values(odd_one_in=3)


@st.composite
def cases_csv(draw: st.DrawFn) -> str:
    """A cases file from the CSV grammar: a header, rows of plausible and odd fields, written properly or not.

    Half the files are nearly right, so that enough of them are accepted to check what is returned; the other
    half are messy: any header, short and long rows, tricky text, fields over the csv module's size limit.
    """
    messy = draw(st.booleans())
    header = draw(any_headers if messy else plausible_headers)
    values = OFTEN_ODD if messy else MOSTLY_PLAUSIBLE
    rows = []
    for number in range(draw(st.integers(0, 6) if messy else st.integers(1, 4))):
        row = []
        for name in header:
            roll = draw(st.integers(0, 29)) if messy else 29
            # Huge fields rarely: each takes a while to read.
            value = draw(huge_field if roll == 0 else tricky_text if roll < 6 else values.get(name, tricky_text))
            row.append(f"{value}/{number}" if name == "case_id" and not messy else value)  # mostly unique
        shape = draw(st.sampled_from(["as is", "as is", "one short", "one more"])) if messy else "as is"
        rows.append(row[:-1] if shape == "one short" else [*row, "surplus"] if shape == "one more" else row)
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    if draw(st.booleans()):  # quoted as CSV requires
        out = io.StringIO()
        if draw(st.booleans()):
            csv.writer(out, lineterminator=newline, quoting=csv.QUOTE_ALL).writerows([header, *rows])
        else:
            csv.writer(out, lineterminator=newline).writerows([header, *rows])
        return out.getvalue()
    return newline.join(",".join(fields) for fields in [header, *rows])  # as a careless exporter writes it


def read(text: str) -> list[CaseRow] | ImportRejected:
    try:
        return parse_cases_csv(text, known_components=KNOWN, source="fuzz.csv")
    except ImportRejected as rejected:
        return rejected


def assert_clean_rejection(rejected: ImportRejected) -> None:
    assert rejected.errors, "a rejection names at least one problem"
    assert rejected.error_count >= len(rejected.errors)
    for error in rejected.errors:
        assert error.row >= 0, error
        assert error.line >= 1, error
        assert error.message, error
    str(rejected).encode("utf-8")  # the message reaches a terminal or JSON: no lone surrogates in it


def assert_usable(row: CaseRow) -> None:
    assert row.case_id and row.case_id.isprintable() and len(row.case_id) <= 64
    assert row.components and set(row.components) <= set(KNOWN)
    assert row.time_zone in AVAILABLE_ZONES and row.time_zone != "localtime"
    deadline = row.deadline
    assert deadline.tzinfo is not None and deadline.utcoffset() is not None
    assert EARLIEST_DEADLINE <= deadline < LATEST_DEADLINE
    deadline.astimezone(UTC)
    (deadline + timedelta(days=400)).astimezone(zoneinfo.ZoneInfo(row.time_zone))  # as relief extends it
    assert isinstance(row.extendable, bool)
    assert row.language is None or isinstance(row.language, Language)
    if row.email is not None:
        assert 0 < len(row.email) <= MAX_EMAIL_LENGTH and row.email == row.email.strip()
        local, _, domain = row.email.rpartition("@")
        assert local and "." in domain and " " not in row.email and row.email.isprintable()
    if row.webhook_url is not None:
        parts = urlsplit(row.webhook_url)
        assert parts.scheme.lower() in ("http", "https") and parts.hostname
        assert len(row.webhook_url) <= MAX_WEBHOOK_URL_LENGTH and row.webhook_url.isprintable()
        assert not any(c.isspace() for c in row.webhook_url)
    if row.access_code is not None:
        assert re.fullmatch("[A-Z0-9]{8,64}", row.access_code.reveal())
        assert row.access_code.reveal() not in repr(row)
    for text in (row.case_id, *row.components, row.time_zone, row.email or "", row.webhook_url or ""):
        text.encode("utf-8")  # storable: no lone surrogates
        assert "\x00" not in text


def assert_rows_or_clean_rejection(text: str) -> None:
    outcome = read(text)
    event("refused" if isinstance(outcome, ImportRejected) else "accepted")  # seen with --hypothesis-show-statistics
    if isinstance(outcome, ImportRejected):
        assert_clean_rejection(outcome)
    else:
        assert outcome, "a file with no cases is refused, not imported as nothing"
        for row in outcome:
            assert_usable(row)


@settings(FUZZ, max_examples=1000)
@given(st.text(st.one_of(st.characters(), st.sampled_from(TRICKY)), max_size=300))
def test_any_text_gives_usable_rows_or_a_clean_rejection(text: str) -> None:
    assert_rows_or_clean_rejection(text)


@settings(FUZZ, max_examples=1000)
@given(tricky_text.map(lambda tail: ",".join(REQUIRED_COLUMNS) + "\n" + tail))
def test_any_text_after_a_right_header_gives_usable_rows_or_a_clean_rejection(text: str) -> None:
    assert_rows_or_clean_rejection(text)


@settings(FUZZ, max_examples=1000)
@given(cases_csv())
def test_any_file_from_the_csv_grammar_gives_usable_rows_or_a_clean_rejection(text: str) -> None:
    assert_rows_or_clean_rejection(text)


@settings(FUZZ, max_examples=400)
@given(cases_csv(), st.integers(1, 3))
def test_the_streaming_reader_agrees_with_parse_cases_csv_and_caps_its_errors(text: str, max_errors: int) -> None:
    whole = read(text)
    reader = CasesReader(
        io.StringIO(text, newline=""), known_components=KNOWN, source="fuzz.csv", max_errors=max_errors
    )
    try:
        streamed = [row for _, row in reader]
    except ImportRejected as rejected:  # the header, or no data rows at all
        assert isinstance(whole, ImportRejected)
        assert rejected.errors == whole.errors
        return
    assert len(reader.errors) == min(reader.error_count, max_errors)
    assert reader.rows_read >= len(streamed)
    for row in streamed:
        assert_usable(row)
    if isinstance(whole, ImportRejected):
        assert reader.error_count == whole.error_count
        assert reader.errors == whole.errors[:max_errors]
    else:
        assert reader.error_count == 0
        assert streamed == whole
        deadlines = [row.deadline for row in streamed]
        assert (reader.min_deadline, reader.max_deadline) == (min(deadlines), max(deadlines))


class FullCheckOnly(CasesReader):
    """The reader without its quick check: every row through the check that names each problem."""

    _quick_check = False


@settings(FUZZ, max_examples=400)
@given(cases_csv(), st.booleans())
def test_the_quick_check_accepts_exactly_what_the_full_check_does(text: str, check_duplicates: bool) -> None:
    def read_with(kind: type[CasesReader]) -> tuple[object, ...]:
        reader = kind(
            io.StringIO(text, newline=""), known_components=KNOWN, source="fuzz.csv", check_duplicates=check_duplicates
        )
        try:
            rows = list(reader)
        except ImportRejected as rejected:
            return ("rejected", rejected.errors)
        return (rows, reader.errors, reader.error_count, reader.rows_read, reader.min_deadline, reader.max_deadline)

    assert read_with(CasesReader) == read_with(FullCheckOnly)


# What a problem with an access code may say: fixed text, and counts.
CODE_PROBLEMS = [
    re.compile(
        r"must be 8 to 64 letters \(A to Z\) or digits \(got [0-9]+(?: characters, [0-9]+ of them neither)?\); "
        r"spaces and hyphens do not count"
    ),
    re.compile(re.escape("contains a NUL character; the file is probably not a text CSV: save it as CSV (UTF-8)")),
    re.compile(
        re.escape(
            "contains text that is not valid Unicode (from bytes that are not UTF-8); save the file as CSV (UTF-8)"
        )
    ),
]


@settings(FUZZ, max_examples=1000)
@given(
    st.one_of(
        st.text(st.one_of(st.characters(), st.sampled_from([*TRICKY, "-", "a", "Z", "7"])), max_size=80),
        st.from_regex(r"[ ]?[A-Za-z0-9 -]{6,70}[ ]?", fullmatch=True),  # near the rule, either side of it
    ),
    st.booleans(),
)
def test_any_text_as_an_access_code_is_read_or_refused_by_a_row_error_that_never_repeats_it(
    code: str, quote_all: bool
) -> None:
    # Written as spreadsheets write CSV (a writer with lineterminator "\n" would leave a "\r" unquoted, and the
    # rest of the code would become a row of its own, with its text in other columns).
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerows(
        [[*REQUIRED_COLUMNS, "access_code"], ["C-1", "pr-portal", "2026-12-01T10:00:00-05:00", "UTC", code]]
    )
    outcome = read(out.getvalue())  # anything raised but the parser's own rejection fails the test
    if isinstance(outcome, ImportRejected):
        event("refused")
        assert_clean_rejection(outcome)
        (error,) = outcome.errors
        # Line 2, or a later one when a line break in the code makes the row span lines (named by its last).
        assert (error.row, error.column) == (1, "access_code") and error.line >= 2
        assert any(problem.fullmatch(error.message) for problem in CODE_PROBLEMS), error.message
    else:
        event("accepted")
        (row,) = outcome
        normalised = normalise_code(code)
        assert (None if row.access_code is None else row.access_code.reveal()) == (normalised or None)
        assert_usable(row)
