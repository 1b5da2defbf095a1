"""Storing checked cases: insert or replace by case_id, in batches, inside the caller's transaction.

Large imports do not hold their rows in memory: they are staged per job in `import_rows` and
`import_row_components` as they are read, checked for duplicate case ids in SQL, and merged into
`cases` by set-based statements (see monitor.usecases.imports for the job around these functions).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, literal, select
from sqlalchemy.orm import Session

from exemptions.cases.parse import CaseRow, parse_cases_csv
from monitor.storage.dialect import insert_for
from monitor.storage.engine import utcnow
from monitor.storage.models import Case, CaseComponent, Component, ImportRow, ImportRowComponent
from monitor.storage.types import UTCDateTime

_BATCH = 5000
_LINES_PER_STATEMENT = 100_000


def store_cases(session: Session, rows: list[CaseRow]) -> int:
    """Insert or replace the given cases (matched by case_id) inside the caller's transaction."""
    now = utcnow()
    for start in range(0, len(rows), _BATCH):
        batch = rows[start : start + _BATCH]
        stmt = insert_for(session, Case)
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
            insert_for(session, CaseComponent),
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


# --- staging a large import ---------------------------------------------------------------------


def stage_rows(session: Session, job_id: str, rows: Sequence[tuple[int, CaseRow]]) -> None:
    """Stage checked rows of an import job, keyed by their line in the file, inside the caller's transaction."""
    if not rows:
        return
    connection = session.connection()
    # A million rows pass here: the driver gets them directly (COPY on PostgreSQL, executemany on SQLite),
    # which is 3-10x faster than an ORM or Core insert. The deadline still goes through its column type, so
    # it is stored exactly as every other UTCDateTime is.
    to_db = ImportRow.__table__.c.deadline.type.bind_processor(connection.dialect) or (lambda value: value)
    _insert_rows(
        connection,
        ImportRow.__tablename__,
        ("job_id", "line", "case_id", "deadline", "time_zone"),
        [(job_id, line, r.case_id, to_db(r.deadline), r.time_zone) for line, r in rows],
    )
    _insert_rows(
        connection,
        ImportRowComponent.__tablename__,
        ("job_id", "line", "component_id"),
        [(job_id, line, c) for line, r in rows for c in r.components],
    )


def _insert_rows(connection: Connection, table: str, columns: tuple[str, ...], values: list[tuple[Any, ...]]) -> None:
    if not values:
        return
    names = ", ".join(columns)
    if connection.dialect.name == "postgresql":
        # The psycopg connection under SQLAlchemy's, in the same transaction.
        driver = connection.connection.driver_connection
        if driver is None:
            raise RuntimeError("the database connection is closed")
        with driver.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in values:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in columns)
    connection.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({marks})", values)


def _line_ranges(session: Session, job_id: str) -> Iterator[tuple[int, int]]:
    """The staged lines in ranges of _LINES_PER_STATEMENT, [start, end), for statements that must stay small.

    SQLite gathers the row ids a DELETE removes in memory before removing them: one statement over a million
    staged rows grew the process by ~35 MiB, which the allocator then kept. A range at a time bounds that.
    """
    low, high = session.execute(
        select(func.min(ImportRow.line), func.max(ImportRow.line)).where(ImportRow.job_id == job_id)
    ).one()
    if low is None:
        return
    for start in range(int(low), int(high) + 1, _LINES_PER_STATEMENT):
        yield start, start + _LINES_PER_STATEMENT


def clear_staging(session: Session, job_id: str) -> None:
    for start, end in _line_ranges(session, job_id):
        session.execute(
            delete(ImportRowComponent).where(
                ImportRowComponent.job_id == job_id, ImportRowComponent.line >= start, ImportRowComponent.line < end
            )
        )
        session.execute(
            delete(ImportRow).where(ImportRow.job_id == job_id, ImportRow.line >= start, ImportRow.line < end)
        )
    # Components whose row was never written (a batch cut short): none today, but nothing of the job may stay.
    session.execute(delete(ImportRowComponent).where(ImportRowComponent.job_id == job_id))


def staged_duplicate_count(session: Session, job_id: str) -> int:
    """How many staged rows repeat a case_id staged on an earlier line (0: every case_id is unique)."""
    count = session.execute(
        select(func.count(), func.count(ImportRow.case_id.distinct())).where(ImportRow.job_id == job_id)
    ).one()
    return int(count[0]) - int(count[1])


def staged_duplicates(session: Session, job_id: str, *, limit: int) -> list[tuple[int, str, int]]:
    """The first `limit` repeats, in file order: (line, case_id, line where that case_id first appears)."""
    first = (
        select(ImportRow.case_id, func.min(ImportRow.line).label("first_line"))
        .where(ImportRow.job_id == job_id)
        .group_by(ImportRow.case_id)
        .having(func.count() > 1)
        .subquery()
    )
    rows = session.execute(
        select(ImportRow.line, ImportRow.case_id, first.c.first_line)
        .join(first, first.c.case_id == ImportRow.case_id)
        .where(ImportRow.job_id == job_id, ImportRow.line > first.c.first_line)
        .order_by(ImportRow.line)
        .limit(limit)
    ).all()
    return [(int(line), str(case_id), int(first_line)) for line, case_id, first_line in rows]


def merge_staged(session: Session, job_id: str, *, now: datetime) -> None:
    """Insert or replace the job's staged cases and their components, inside the caller's transaction.

    Set-based: the database does the work in three statements whatever the number of rows. The staged
    case_ids must be unique (see `staged_duplicate_count`): PostgreSQL refuses to upsert a row twice in one
    statement. The caller knows how many rows it staged (drivers do not all count an upsert's rows).
    """
    stamp = literal(now, UTCDateTime())
    staged = (
        select(ImportRow.case_id, ImportRow.deadline, ImportRow.time_zone, stamp, stamp)
        # SQLite needs a WHERE on an INSERT … SELECT … ON CONFLICT, or it reads ON CONFLICT as a join's ON.
        .where(ImportRow.job_id == job_id)
    )
    upsert: Any = insert_for(session, Case).from_select(
        ["case_id", "deadline", "time_zone", "created_at", "updated_at"], staged
    )
    session.execute(
        upsert.on_conflict_do_update(
            index_elements=[Case.case_id],
            set_={
                "deadline": upsert.excluded.deadline,
                "time_zone": upsert.excluded.time_zone,
                "updated_at": upsert.excluded.updated_at,
            },
        )
    )
    for start, end in _line_ranges(session, job_id):  # as in clear_staging: re-imported cases have many links
        session.execute(
            delete(CaseComponent).where(
                CaseComponent.case_id.in_(
                    select(ImportRow.case_id).where(
                        ImportRow.job_id == job_id, ImportRow.line >= start, ImportRow.line < end
                    )
                )
            )
        )
    session.execute(
        insert(CaseComponent).from_select(
            ["case_id", "component_id"],
            select(ImportRow.case_id, ImportRowComponent.component_id)
            .join(
                ImportRow,
                and_(ImportRow.job_id == ImportRowComponent.job_id, ImportRow.line == ImportRowComponent.line),
            )
            .where(ImportRowComponent.job_id == job_id),
        )
    )
