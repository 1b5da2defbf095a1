"""Importing cases from CSV: every row checked first, then all stored in one transaction or none."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from exemptions.models import Case, CaseComponent
from monitor.db import utcnow
from monitor.models import Component

REQUIRED_COLUMNS = ("case_id", "components", "deadline", "time_zone")
_BATCH = 5000


@dataclass(frozen=True)
class CaseRow:
    case_id: str
    components: tuple[str, ...]
    deadline: datetime
    time_zone: str


@dataclass(frozen=True)
class RowError:
    row: int  # data row number, 1 = the first row after the header
    line: int  # line in the file, counting the header
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"row {self.row} (line {self.line})" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.message}"


class ImportRejected(Exception):
    def __init__(self, source: str, errors: list[RowError]) -> None:
        self.source = source
        self.errors = errors
        shown = "\n  ".join(str(e) for e in errors[:50])
        more = f"\n  … and {len(errors) - 50} more" if len(errors) > 50 else ""
        super().__init__(f"{source}: {len(errors)} problem(s), nothing imported:\n  {shown}{more}")


def parse_cases_csv(text: str, *, known_components: Iterable[str], source: str = "<csv>") -> list[CaseRow]:
    """Parse and check every row; raise ImportRejected listing all problems, naming row and column."""
    known = set(known_components)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ImportRejected(
            source, [RowError(0, 1, None, f"header lacks column(s) {', '.join(missing)}; got {', '.join(header)}")]
        )
    rows: list[CaseRow] = []
    errors: list[RowError] = []
    first_line: dict[str, int] = {}
    for number, record in enumerate(reader, start=1):
        line = reader.line_num
        problems = len(errors)

        def fail(column: str | None, message: str, number: int = number, line: int = line) -> None:
            errors.append(RowError(number, line, column, message))

        if None in record:
            fail(None, f"has {len(header) + len(record[None])} fields, the header has {len(header)}")  # type: ignore[index]
            continue
        case_id = (record["case_id"] or "").strip()
        if not case_id:
            fail("case_id", "is empty")
        elif len(case_id) > 64:
            fail("case_id", "is longer than 64 characters")
        elif case_id in first_line:
            fail("case_id", f"{case_id!r} already appears on line {first_line[case_id]}")
        else:
            first_line[case_id] = line

        components = tuple(dict.fromkeys(c.strip() for c in (record["components"] or "").split(";") if c.strip()))
        if not components:
            fail("components", "is empty; list component ids separated by ';'")
        unknown = [c for c in components if c not in known]
        if unknown:
            fail("components", f"unknown component(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")

        zone = (record["time_zone"] or "").strip()
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            fail("time_zone", f"unknown time zone {zone!r}; use an IANA name such as America/Toronto")

        raw_deadline = (record["deadline"] or "").strip()
        deadline: datetime | None = None
        try:
            deadline = datetime.fromisoformat(raw_deadline)
        except ValueError:
            fail("deadline", f"{raw_deadline!r} is not an ISO 8601 date-time such as 2026-12-01T23:59:00-05:00")
        else:
            if deadline.tzinfo is None:
                fail("deadline", f"{raw_deadline!r} has no UTC offset; write it like 2026-12-01T23:59:00-05:00")
                deadline = None

        if len(errors) == problems and deadline is not None:
            rows.append(CaseRow(case_id, components, deadline, zone))
    if errors:
        raise ImportRejected(source, errors)
    return rows


def store_cases(session: Session, rows: list[CaseRow]) -> int:
    """Insert or replace the given cases (matched by case_id) inside the caller's transaction."""
    now = utcnow()
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for start in range(0, len(rows), _BATCH):
        batch = rows[start : start + _BATCH]
        stmt = insert(Case)
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=[Case.case_id],
                set_={"deadline": stmt.excluded.deadline, "time_zone": stmt.excluded.time_zone, "updated_at": now},
            ),
            [
                {
                    "case_id": r.case_id,
                    "deadline": r.deadline,
                    "time_zone": r.time_zone,
                    "created_at": now,
                    "updated_at": now,
                }
                for r in batch
            ],
        )
        session.execute(delete(CaseComponent).where(CaseComponent.case_id.in_([r.case_id for r in batch])))
        session.execute(
            insert(CaseComponent),
            [{"case_id": r.case_id, "component_id": c} for r in batch for c in r.components],
        )
    return len(rows)


def known_component_ids(session: Session) -> list[str]:
    return list(session.scalars(select(Component.id)))


def import_cases(session: Session, text: str, *, source: str = "<csv>") -> list[CaseRow]:
    """Check then store; on any bad row raise ImportRejected and store nothing."""
    rows = parse_cases_csv(text, known_components=known_component_ids(session), source=source)
    store_cases(session, rows)
    return rows
