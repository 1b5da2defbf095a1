"""Reading a cases CSV: every row checked, every problem named by row, line and column (no database here).

The file: a header row naming at least `case_id,components,deadline,time_zone`, optionally `extendable`,
`email`, `webhook_url`, `language` and `access_code` (in any order; other columns are allowed and ignored), then
one case per row. `components` lists component ids separated by `;`, `deadline` is ISO 8601 with a UTC offset,
`time_zone` an IANA zone name, `access_code` the holder's self-service code (see exemptions.cases.access: 8 to
64 letters or digits, not case-sensitive, spaces and hyphens ignored). An empty optional cell takes the default:
extendable, and no email, webhook, language or access code.

An access code is never shown: a row holds it as an `AccessCode`, whose repr hides it, no problem reported
repeats it, and what is stored is its slow hash (exemptions.cases.store hashes it before staging or storing).

`CasesReader` reads a text stream row by row in bounded memory (for large imports run as a background job);
`parse_cases_csv` reads a whole string on top of it and refuses the file if any row is wrong.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, NamedTuple
from urllib.parse import urlsplit

from exemptions.cases.access import AccessCode, read_access_code
from monitor.storage.enums import Language
from monitor.timezones import iana_zone_names

REQUIRED_COLUMNS = ("case_id", "components", "deadline", "time_zone")
OPTIONAL_COLUMNS = ("extendable", "email", "webhook_url", "language", "access_code")
MAX_CASE_ID_LENGTH = 64
MAX_EMAIL_LENGTH = 320  # the column's size: a local part of up to 64 characters, @, a domain of up to 255
MAX_WEBHOOK_URL_LENGTH = 2048
MAX_ERRORS_SHOWN = 50  # in ImportRejected's message; `errors` keeps every collected one

# Columns whose name must be written exactly: written in other letters (`Access_Code`) the column would be
# ignored as unknown, silently dropping what the file means, so the file is refused instead.
EXACT_NAMES = ("access_code",)

# `extendable`: true or false as spreadsheets write them (TRUE, False), and yes/no, 1/0; any case.
EXTENDABLE_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}

# Deadlines outside this range are refused. Not a policy about which dates are plausible: datetime's own range
# ends at year 1 and 9999, so a deadline there overflows when converted to UTC or extended by grace days
# (`9999-12-31T23:59-05:00` is already past the end in UTC). Other code may reuse the bounds.
EARLIEST_DEADLINE = datetime(1970, 1, 1, tzinfo=UTC)  # included
LATEST_DEADLINE = datetime(2200, 1, 1, tzinfo=UTC)  # excluded

_EXPECTED_HEADER = ",".join(REQUIRED_COLUMNS)
_NONE: frozenset[str] = frozenset()
_DEADLINE_RANGE = "from 1970-01-01T00:00Z up to (not including) 2200-01-01T00:00Z"
_LANGUAGES = {language.value: language for language in Language}
_LANGUAGES_LISTED = " or ".join(_LANGUAGES)

# A NUL or a lone surrogate (what `errors="surrogateescape"` makes of bytes that are not UTF-8) passes through
# the csv module into the fields, then makes the database or the JSON/terminal output fail later. Python 3.11's
# csv accepts NUL; older versions raised `_csv.Error: line contains NUL`, which is handled below as well.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

# A plausible address, not RFC 5322's every corner: a dot-separated local part without spaces, quotes or
# brackets, and a domain of at least two labels whose last is a name (letters, or an IDNA `xn--` label).
# Letters may be any script's (internationalised addresses); isprintable() keeps invisible characters out.
_EMAIL_ATOM = r"[^\s\"(),.:;<>@\[\\\]]+"
_DOMAIN_LABEL = r"[^\W_](?:(?:[^\W_]|-){0,61}[^\W_])?"
_EMAIL = re.compile(
    rf"(?P<local>{_EMAIL_ATOM}(?:\.{_EMAIL_ATOM})*)"
    rf"@(?P<domain>(?:{_DOMAIN_LABEL}\.)+(?:[^\W\d_]{{2,63}}|(?i:xn--[a-z0-9-]{{1,59}})))"
)
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")


class CaseRow(NamedTuple):
    """One checked case. A named tuple rather than a dataclass: millions are made in a large import, and a
    tuple is made three times faster than a frozen dataclass."""

    case_id: str
    components: tuple[str, ...]
    deadline: datetime  # as written, with its UTC offset
    time_zone: str
    extendable: bool = True  # False: relief flags the case as affected but never moves its deadline
    email: str | None = None
    webhook_url: str | None = None
    language: Language | None = None
    access_code: AccessCode | None = None  # normalised; shows as <access code>; stored only as its hash


@dataclass(frozen=True)
class RowError:
    row: int  # data row number, 1 = the first row after the header; 0 = the header or the file as a whole
    line: int  # line in the file, counting the header (a row spanning lines is named by its last line)
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"row {self.row} (line {self.line})" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.message}"


class ImportRejected(Exception):
    """The file is refused as a whole; `errors` are the problems found (maybe capped), `error_count` all of them."""

    def __init__(self, source: str, errors: list[RowError], error_count: int | None = None) -> None:
        self.source = source
        self.errors = errors
        self.error_count = len(errors) if error_count is None else max(error_count, len(errors))
        shown = "\n  ".join(str(e) for e in errors[:MAX_ERRORS_SHOWN])
        hidden = self.error_count - min(len(errors), MAX_ERRORS_SHOWN)
        more = f"\n  … and {hidden} more" if hidden > 0 else ""
        super().__init__(f"{source}: {self.error_count} problem(s), nothing imported:\n  {shown}{more}")

    def __reduce__(self) -> tuple[type[ImportRejected], tuple[str, list[RowError], int]]:
        # Exception pickling replays `args` (the message) into __init__, which needs source and errors:
        # without this a rejection could not cross a process boundary (e.g. a task queue's result).
        return (type(self), (self.source, self.errors, self.error_count))


def _show(value: str, limit: int = 60) -> str:
    """`value` quoted for a message: escaped (no NUL or surrogate reaches a terminal or JSON) and bounded,
    because fields may be up to 131,072 characters and a thousand errors are kept."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}… ({len(value)} characters)"


def _show_name(name: str) -> str:
    """A header name as written when it is plain, quoted and escaped when it is not."""
    return name if name.isprintable() and 0 < len(name) <= 60 else _show(name)


def _unstorable(value: str, *, secret: bool = False) -> str | None:
    """Why `value` cannot be stored, or None. `secret`: say nothing of what the value holds (an access code)."""
    found = _UNSTORABLE.search(value)
    if found is None:
        return None
    char = found.group()
    if char == "\x00":
        return "contains a NUL character; the file is probably not a text CSV: save it as CSV (UTF-8)"
    what = "from bytes" if secret else f"lone surrogate U+{ord(char):04X}, from bytes"
    return f"contains text that is not valid Unicode ({what} that are not UTF-8); save the file as CSV (UTF-8)"


def split_components(raw: str) -> tuple[str, ...]:
    """The component ids of a `components` cell: split at `;`, trimmed, empty ones dropped, each kept once."""
    if raw and ";" not in raw and raw == raw.strip():  # the common case, without the lists below
        return (raw,)
    return tuple(dict.fromkeys(c.strip() for c in raw.split(";") if c.strip()))


# --- the optional columns: each reads a non-empty, stripped cell into (value, None) or (None, problem) -------


def read_extendable(raw: str) -> tuple[bool | None, str | None]:
    value = EXTENDABLE_WORDS.get(raw.lower())
    if value is None:
        return None, f"{_show(raw)} is neither true nor false (yes/no and 1/0 are read too); empty means true"
    return value, None


def read_email(raw: str) -> tuple[str | None, str | None]:
    if len(raw) > MAX_EMAIL_LENGTH:
        return None, f"is longer than {MAX_EMAIL_LENGTH} characters"
    found = _EMAIL.fullmatch(raw)
    if found is None or len(found.group("local")) > 64 or len(found.group("domain")) > 255 or not raw.isprintable():
        return None, f"{_show(raw)} is not a plausible email address such as name@example.ca"
    return raw, None


def read_webhook_url(raw: str) -> tuple[str | None, str | None]:
    example = "an absolute http:// or https:// URL such as https://example.ca/hooks/deadlines"
    if len(raw) > MAX_WEBHOOK_URL_LENGTH:
        return None, f"is longer than {MAX_WEBHOOK_URL_LENGTH:,} characters"
    if _SPACE_OR_CONTROL.search(raw) is not None or not raw.isprintable():
        return None, f"{_show(raw)} contains spaces or control characters; percent-encode them (a space is %20)"
    try:
        parts = urlsplit(raw)
        port = parts.port  # ValueError when it is not a number from 0 to 65535
    except ValueError:
        return None, f"{_show(raw)} is not a well-formed URL; write {example}"
    if parts.scheme.lower() not in ("http", "https"):
        return None, f"{_show(raw)} is not {example}"
    if not parts.hostname or port == 0:
        return None, f"{_show(raw)} has no host (or port 0); write {example}"
    return raw, None


def read_language(raw: str) -> tuple[Language | None, str | None]:
    language = _LANGUAGES.get(raw.lower())
    if language is None:
        return None, f"{_show(raw)} is not a language cases are written to in; use {_LANGUAGES_LISTED}"
    return language, None


_OPTIONAL_READERS: dict[str, Callable[[str], tuple[Any, str | None]]] = {
    "extendable": read_extendable,
    "email": read_email,
    "webhook_url": read_webhook_url,
    "language": read_language,
    "access_code": read_access_code,
}


class _RecordScan:
    """Walks a CSV record the way csv.reader's default (excel) dialect does, for a record it gave up on.

    The csv module says neither which field was too long nor where the record it abandoned ends: it drops the
    rest of the line and resumes at the next one, which inside a quoted field spanning lines would turn the rest
    of that field into bogus rows. Used on that error path only. `"` opens a quoted field only at a field's start,
    `""` inside one is a quote, and a line break outside quotes (or the end of a line) ends the record.
    """

    _PLAIN_END = re.compile("[,\r\n]")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.index = 0  # of the field being read
        self.length = 0  # its characters so far
        self.state = "start"  # start | plain | quoted | quote_in_quoted
        self.too_long: int | None = None  # index of the first field longer than `limit`
        self.ended = False

    def _grow(self, count: int) -> None:
        self.length += count
        if self.length > self.limit and self.too_long is None:
            self.too_long = self.index

    def feed(self, line: str) -> None:
        i, n = 0, len(line)
        while i < n:
            if self.state == "quoted":
                close = line.find('"', i)
                self._grow((n if close < 0 else close) - i)
                if close < 0:
                    break
                self.state, i = "quote_in_quoted", close + 1
                continue
            char = line[i]
            if char in "\r\n":
                self.ended = True
                return
            if char == ",":
                self.index, self.length, self.state, i = self.index + 1, 0, "start", i + 1
                continue
            if self.state == "quote_in_quoted" and char == '"':
                self._grow(1)
                self.state, i = "quoted", i + 1
                continue
            if self.state == "start" and char == '"':
                self.state, i = "quoted", i + 1
                continue
            # Plain text, also after a closing quote (the csv module appends it to the field when not strict).
            stop = self._PLAIN_END.search(line, i)
            end = n if stop is None else stop.start()
            self._grow(end - i)
            self.state, i = "plain", end
        if self.state != "quoted":
            self.ended = True


class CasesReader:
    """Reads a cases CSV from a text stream row by row; memory does not grow with the file.

    Iterating yields `(line, row)` for each row that passes its own checks, as it is read; problems are collected
    in `errors` (the first `max_errors`, in file order) and counted in `error_count`. The file as a whole is valid
    only if `error_count` is 0 once iteration has ended. Problems with the header, an empty file and a file with
    no data rows raise `ImportRejected` from iteration instead, since no row can be read or none was given.

    `stream` is any iterable of text lines: a list of lines, or a file opened in text mode, best with
    `newline=""` (so a line break inside a quoted field is kept as written) and `encoding="utf-8-sig",
    errors="surrogateescape"` (so bytes that are not UTF-8 are reported at their row and column; with strict
    decoding the first undecodable chunk ends the reading with one error). A physical line is held in memory
    whole, as are the lines of one row, up to a few field limits.

    With `check_duplicates` a case_id seen twice is an error naming the line of the first, which needs a dict of
    every case_id (memory grows with the file); without it the reader keeps no per-row state and the caller must
    detect duplicates itself (e.g. in the database).
    """

    # Rows as most rows are (every field there, nothing to report) pass a quick check inlined in the reading
    # loop; any other row, and any row the quick check does not accept, gets the full check, which names each
    # problem. Off in tests that compare the two.
    _quick_check: ClassVar[bool] = True
    _COMBINATIONS_KEPT = 4096  # distinct `components` cells remembered as valid, for the quick check

    def __init__(
        self,
        stream: Iterable[str],
        *,
        known_components: Iterable[str],
        source: str = "<csv>",
        max_errors: int = 1000,
        check_duplicates: bool = True,
    ) -> None:
        self.source = source
        self.errors: list[RowError] = []
        self.error_count = 0
        self.rows_read = 0
        self.min_deadline: datetime | None = None  # in UTC
        self.max_deadline: datetime | None = None  # in UTC
        # The optional columns the header names, once it has been read. A column the file leaves out says
        # nothing about existing cases: storing keeps their value (and gives new cases the default).
        self.optional_columns: tuple[str, ...] = ()
        self._stream = stream
        self._known = frozenset(known_components)
        self._known_listed = ", ".join(sorted(self._known))
        self._max_errors = max_errors
        self._first_line: dict[str, int] | None = {} if check_duplicates else None
        self._started = False
        self._line = 0  # physical lines read from the stream
        # The lines of the row being read, kept for the error path while they are few characters.
        self._row_lines: list[str] = []
        self._row_chars = 0
        self._row_chars_kept = 8 * csv.field_size_limit()
        self._row_unstorable = False  # a line of the row holds a NUL or a surrogate: worth looking field by field
        # `components` cells already found valid, and what they hold.
        self._combinations: dict[str, tuple[str, ...]] = {}

    # --- reading ---------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[tuple[int, CaseRow]]:
        if self._started:
            raise RuntimeError("a CasesReader reads its stream once; make a new one to read again")
        self._started = True
        return self._read()

    def _lines(self) -> Iterator[str]:
        if isinstance(self._stream, str):  # iterating it would give characters, each read as a line
            raise TypeError(f"{self.source}: CasesReader needs lines, e.g. io.StringIO(text, newline=''), not a str")
        search = _UNSTORABLE.search
        kept = self._row_lines
        for line in self._stream:
            if not isinstance(line, str):
                raise TypeError(f"{self.source}: CasesReader needs text lines, got {type(line).__name__}")
            self._line += 1
            self._row_chars += len(line)
            if self._row_chars <= self._row_chars_kept:
                kept.append(line)
            # Once a line, not once a field: the rows that pass are many. ASCII without NUL is the usual line.
            if (not line.isascii() or "\x00" in line) and search(line) is not None:
                self._row_unstorable = True
            yield line

    def _next_row(self, reader: Iterator[list[str]]) -> list[str]:
        self._row_lines.clear()
        self._row_chars = 0
        self._row_unstorable = False
        return next(reader)

    def _read(self) -> Iterator[tuple[int, CaseRow]]:
        lines = self._lines()
        reader = csv.reader(lines)
        header, header_line = self._read_header(reader)
        try:
            yield from self._read_rows(reader, lines, header)
        except UnicodeDecodeError as exc:
            # From a stream decoded strictly: the decoder cannot resume, and it reads ahead in chunks, so the
            # line is only near the bad bytes.
            message = (
                f"the file is not UTF-8 text at or shortly after this line ({exc.reason}); nothing after it was read"
            )
            self._add(RowError(self.rows_read + 1, self._line + 1, None, message))
        if self.rows_read == 0 and self.error_count == 0:
            raise ImportRejected(
                self.source, [RowError(0, header_line, None, "no data rows after the header; nothing to import")]
            )

    def _read_rows(
        self, reader: Iterator[list[str]], lines: Iterator[str], header: list[str]
    ) -> Iterator[tuple[int, CaseRow]]:
        index = {name: i for i, name in enumerate(header)}
        width = len(header)
        # The quick check, with everything it needs in local variables: this loop runs millions of times.
        quick = self._quick_check
        i_case, i_components, i_deadline, i_zone = (index[name] for name in REQUIRED_COLUMNS)
        optional = [(index[name], _OPTIONAL_READERS[name]) for name in OPTIONAL_COLUMNS if name in index]
        i_extendable, i_email, i_webhook, i_language, i_access = (index.get(name, -1) for name in OPTIONAL_COLUMNS)
        zones = iana_zone_names()
        combinations = self._combinations
        first_line = self._first_line
        parse_deadline = datetime.fromisoformat
        earliest, latest, utc_zone = EARLIEST_DEADLINE, LATEST_DEADLINE, UTC
        low, high = self.min_deadline, self.max_deadline  # aware datetimes compare as instants, whatever the offset
        make = tuple.__new__  # what CaseRow(...) does, without the Python call that fills in its defaults
        row_lines = self._row_lines
        while True:
            # What _next_row does, inlined.
            row_lines.clear()
            self._row_chars = 0
            self._row_unstorable = False
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                self.rows_read += 1
                self._unreadable_row(exc, header, lines)
                continue
            if not fields:  # a blank line
                continue
            self.rows_read += 1
            line = self._line
            if quick and len(fields) == width and not self._row_unstorable:
                case_id = fields[i_case].strip()
                components = combinations.get(fields[i_components].strip())
                zone = fields[i_zone].strip()
                if (
                    components is not None
                    and 0 < len(case_id) <= MAX_CASE_ID_LENGTH
                    and case_id.isprintable()
                    and zone in zones
                ):
                    try:
                        deadline = parse_deadline(fields[i_deadline].strip())
                        # Out of range also where converting to UTC would overflow (years 1 and 9999).
                        fits = deadline.tzinfo is not None and earliest <= deadline < latest
                    except (ValueError, OverflowError):
                        fits = False
                    if fits:
                        extendable, email, webhook_url, language, access_code = True, None, None, None, None
                        problem = None
                        for position, read in optional:
                            raw = fields[position].strip()
                            if raw:
                                value, problem = read(raw)
                                if problem is not None:
                                    break
                                if position == i_extendable:
                                    extendable = value
                                elif position == i_email:
                                    email = value
                                elif position == i_webhook:
                                    webhook_url = value
                                elif position == i_language:
                                    language = value
                                elif position == i_access:
                                    access_code = value
                        if problem is None and (first_line is None or first_line.setdefault(case_id, line) == line):
                            if low is None or deadline < low:
                                low = self.min_deadline = deadline.astimezone(utc_zone)
                            if high is None or deadline > high:
                                high = self.max_deadline = deadline.astimezone(utc_zone)
                            yield (
                                line,
                                make(
                                    CaseRow,
                                    (
                                        case_id,
                                        components,
                                        deadline,
                                        zone,
                                        extendable,
                                        email,
                                        webhook_url,
                                        language,
                                        access_code,
                                    ),
                                ),
                            )
                            continue
            row = self._check_row(self.rows_read, line, fields, header, index)
            low, high = self.min_deadline, self.max_deadline
            if row is not None:
                yield line, row

    def _read_header(self, reader: Iterator[list[str]]) -> tuple[list[str], int]:
        while True:
            try:
                cells = self._next_row(reader)
            except StopIteration:
                raise ImportRejected(
                    self.source,
                    [RowError(0, 1, None, f"the file is empty; expected a header row with {_EXPECTED_HEADER}")],
                ) from None
            except csv.Error as exc:
                line = max(self._line, 1)
                message = f"the header {self._csv_problem(exc)}"
                raise ImportRejected(self.source, [RowError(0, line, None, message)]) from None
            except UnicodeDecodeError as exc:
                message = f"the file is not UTF-8 text ({exc.reason}); save it as CSV (UTF-8)"
                raise ImportRejected(self.source, [RowError(0, self._line + 1, None, message)]) from None
            # Blank lines (or only spaces and commas) before the header are skipped, so a file of only those
            # is "empty" rather than "lacks every column".
            if any(cell.strip() for cell in cells):
                break
        line = self._line
        # A byte order mark survives when the file was decoded as plain UTF-8; spaces around names are a slip.
        header = [cell.strip() for cell in [cells[0].removeprefix("\ufeff"), *cells[1:]]]
        problems: list[RowError] = []
        for position, name in enumerate(header, start=1):
            why = _unstorable(name)
            if why is not None:
                problems.append(RowError(0, line, None, f"header column {position} {_show(name)} {why}"))
            elif name.casefold() in EXACT_NAMES and name not in EXACT_NAMES:
                exact = name.casefold()
                message = (
                    f"header column {position} {_show_name(name)} must be written {exact}, in lowercase; "
                    "otherwise its values would be ignored"
                )
                problems.append(RowError(0, line, exact, message))
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            got = ", ".join(_show_name(name) for name in header[:20]) + (", …" if len(header) > 20 else "")
            problems.append(RowError(0, line, None, f"header lacks column(s) {', '.join(missing)}; got {got}"))
        for name in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS):
            positions = [str(i) for i, h in enumerate(header, start=1) if h == name]
            if len(positions) > 1:
                # With two `deadline` columns either could be meant; silently taking one imports wrong dates.
                where = ", ".join(positions)
                problems.append(
                    RowError(0, line, name, f"appears {len(positions)} times in the header (columns {where})")
                )
        if problems:
            raise ImportRejected(self.source, problems)
        self.optional_columns = tuple(name for name in OPTIONAL_COLUMNS if name in header)
        return header, line

    # --- problems --------------------------------------------------------------------------------

    def _add(self, error: RowError) -> None:
        self.error_count += 1
        if len(self.errors) < self._max_errors:
            self.errors.append(error)

    @staticmethod
    def _csv_problem(exc: csv.Error, *, column_known: bool = False) -> str:
        text = str(exc)
        if "field larger than field limit" in text:
            # The limit is the csv module's, process-wide: raising it here would change it for every other reader.
            limit = csv.field_size_limit()
            if column_known:
                return f"is longer than {limit:,} characters, the most a field may hold"
            return f"has a field longer than {limit:,} characters, the most a field may hold"
        if "NUL" in text:  # Python < 3.11
            return "contains a NUL character; the file is probably not a text CSV: save it as CSV (UTF-8)"
        return f"cannot be read as CSV: {text}"

    def _unreadable_row(self, exc: csv.Error, header: list[str], lines: Iterator[str]) -> None:
        line = self._line
        column: str | None = None
        if self._row_chars <= self._row_chars_kept:
            scan = _RecordScan(csv.field_size_limit())
            for text in self._row_lines:
                scan.feed(text)
            if scan.too_long is not None and scan.too_long < len(header):
                column = header[scan.too_long]
            # The csv module resumes at the next line; inside a quoted field that is still the same row, so the
            # rest of it is skipped here rather than read as rows of its own.
            while not scan.ended:
                rest = next(lines, None)
                if rest is None:
                    break
                scan.feed(rest)
        self._add(RowError(self.rows_read, line, column, self._csv_problem(exc, column_known=column is not None)))

    # --- one row ---------------------------------------------------------------------------------

    def _check_row(
        self, number: int, line: int, fields: list[str], header: list[str], index: dict[str, int]
    ) -> CaseRow | None:
        """Every check, each problem reported; the row, or None once its problems have been."""
        problems_before = self.error_count
        if len(fields) > len(header):
            self._add(RowError(number, line, None, f"has {len(fields)} fields, the header has {len(header)}"))
            return None

        unstorable: set[str] | frozenset[str] = _NONE
        if self._row_unstorable:
            unstorable = set()
            for position, value in enumerate(fields):
                why = _unstorable(value, secret=header[position] == "access_code")
                if why is not None:
                    unstorable.add(header[position])
                    self._add(RowError(number, line, header[position], why))

        case_id = self._field(number, line, fields, header, index, unstorable, "case_id")
        if case_id is not None:
            self._check_case_id(number, line, case_id)

        components: tuple[str, ...] = ()
        raw_components = self._field(number, line, fields, header, index, unstorable, "components")
        if raw_components is not None:
            components = split_components(raw_components)
            if not components:
                self._add(RowError(number, line, "components", "is empty; list component ids separated by ';'"))
            if not self._known.issuperset(components):
                unknown = [c for c in components if c not in self._known]
                listed = ", ".join(_show_name(c) for c in unknown[:10]) + (", …" if len(unknown) > 10 else "")
                message = f"unknown component(s) {listed}; known: {self._known_listed}"
                self._add(RowError(number, line, "components", message))
            elif components and len(self._combinations) < self._COMBINATIONS_KEPT:
                self._combinations[raw_components] = components

        zone = self._field(number, line, fields, header, index, unstorable, "time_zone")
        if zone is not None and zone not in iana_zone_names():
            message = f"unknown time zone {_show(zone)}; use an IANA name such as America/Toronto"
            self._add(RowError(number, line, "time_zone", message))

        raw_deadline = self._field(number, line, fields, header, index, unstorable, "deadline")
        checked = None if raw_deadline is None else self._check_deadline(number, line, raw_deadline)

        values: dict[str, Any] = {}
        for name in OPTIONAL_COLUMNS:
            at = index.get(name)
            # A row may stop before its last optional columns: they are empty, and take their default.
            if at is None or at >= len(fields) or name in unstorable:
                continue
            raw = fields[at].strip()
            if raw:
                value, problem = _OPTIONAL_READERS[name](raw)
                if problem is not None:
                    self._add(RowError(number, line, name, problem))
                values[name] = value

        if self.error_count != problems_before or case_id is None or zone is None or checked is None:
            return None
        deadline, utc = checked
        if self.min_deadline is None or utc < self.min_deadline:
            self.min_deadline = utc
        if self.max_deadline is None or utc > self.max_deadline:
            self.max_deadline = utc
        return CaseRow(
            case_id,
            components,
            deadline,
            zone,
            values.get("extendable", True),
            values.get("email"),
            values.get("webhook_url"),
            values.get("language"),
            values.get("access_code"),
        )

    def _field(
        self,
        number: int,
        line: int,
        fields: list[str],
        header: list[str],
        index: dict[str, int],
        unstorable: set[str] | frozenset[str],
        column: str,
    ) -> str | None:
        """The column's value stripped, or None once its problem has been reported."""
        if column in unstorable:
            return None
        position = index[column]
        if position >= len(fields):
            # Short rows are allowed when only ignored columns are left out; a needed one is named.
            message = f"is missing: the row has {len(fields)} field(s), the header has {len(header)}"
            self._add(RowError(number, line, column, message))
            return None
        return fields[position].strip()

    def _check_case_id(self, number: int, line: int, case_id: str) -> None:
        message: str | None = None
        if not case_id:
            message = "is empty"
        elif len(case_id) > MAX_CASE_ID_LENGTH:
            message = f"is longer than {MAX_CASE_ID_LENGTH} characters"
        elif not case_id.isprintable():
            # Tabs, line breaks, zero-width and other invisible characters make ids that look equal but are not.
            position, char = next((i, c) for i, c in enumerate(case_id, start=1) if not c.isprintable())
            message = (
                f"{_show(case_id)} contains a control or invisible character (U+{ord(char):04X} at position "
                f"{position}); a case id must be printable text"
            )
        elif self._first_line is not None:
            first = self._first_line.setdefault(case_id, line)
            if first != line:
                message = f"{case_id!r} already appears on line {first}"
        if message is not None:
            self._add(RowError(number, line, "case_id", message))

    def _check_deadline(self, number: int, line: int, raw: str) -> tuple[datetime, datetime] | None:
        """The deadline as written and in UTC, or None once its problem has been reported."""
        try:
            deadline = datetime.fromisoformat(raw)
        except (ValueError, OverflowError):
            message = f"{_show(raw)} is not an ISO 8601 date-time such as 2026-12-01T23:59:00-05:00"
            self._add(RowError(number, line, "deadline", message))
            return None
        if deadline.tzinfo is None:
            message = f"{_show(raw)} has no UTC offset; write it like 2026-12-01T23:59:00-05:00"
            self._add(RowError(number, line, "deadline", message))
            return None
        try:
            utc = deadline.astimezone(UTC)
        except OverflowError:  # year 1 with a positive offset, year 9999 with a negative one
            utc = None
        if utc is None or not EARLIEST_DEADLINE <= utc < LATEST_DEADLINE:
            message = f"{_show(raw)} is out of range: a deadline must be {_DEADLINE_RANGE}"
            self._add(RowError(number, line, "deadline", message))
            return None
        return deadline, utc


def read_cases_csv(
    text: str, *, known_components: Iterable[str], source: str = "<csv>"
) -> tuple[list[CaseRow], tuple[str, ...]]:
    """Parse and check every row: the rows, and the optional columns the file gives (see
    CasesReader.optional_columns); raise ImportRejected listing all problems, naming row and column."""
    # Every problem is kept, as before the streaming reader existed: the text is in memory already, and callers
    # show the full list.
    reader = CasesReader(
        io.StringIO(text, newline=""), known_components=known_components, source=source, max_errors=sys.maxsize
    )
    rows = [row for _, row in reader]
    if reader.error_count:
        raise ImportRejected(source, reader.errors, reader.error_count)
    return rows, reader.optional_columns


def parse_cases_csv(text: str, *, known_components: Iterable[str], source: str = "<csv>") -> list[CaseRow]:
    """Parse and check every row; raise ImportRejected listing all problems, naming row and column."""
    return read_cases_csv(text, known_components=known_components, source=source)[0]
