"""Storing checked cases: insert or update by case_id, inside the caller's transaction.

Large imports do not hold their rows in memory: they are staged as they are read, checked for duplicate case
ids in SQL, and merged into `cases` by set-based statements (see monitor.usecases.imports for the job around
these). Where they wait is a `Staging`:

- on PostgreSQL, `CopyStaging`: a temporary table of the run's own transaction, filled by one COPY that the
  server processes while the file is still being parsed. Nothing is written to the WAL, no foreign key is
  checked per row, and nothing is left behind whatever happens: the table ends with the transaction. A
  large first import into an empty `cases` table is merged by the bulk path (see `_merge_into_empty`).
- elsewhere (SQLite), `TableStaging`: `import_rows` and `import_row_components`, written in short transactions.

Whatever the path, only what changes is written: new cases are inserted, existing ones updated only where a
value differs, and only the component links that were added or removed are written. `updated_at` moves when a
case's values or components changed, so re-importing an unchanged inventory writes no case.

Access codes are stored only as slow hashes, in `access_hash` (see exemptions.cases.access). They are hashed
before they are staged or stored (`access_hashes`), a batch at a time on a few threads, and never inside a
transaction that writes: on SQLite every transaction holds the database's write lock, and hashing 5,000 codes
takes tens of seconds. A case whose stored hash the file's code still matches keeps that hash, so re-importing an
unchanged code changes nothing (the check costs what hashing does).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, select, text, tuple_, update
from sqlalchemy.orm import Session

from exemptions.cases.access import hash_many
from exemptions.cases.parse import OPTIONAL_COLUMNS, CaseRow, read_cases_csv
from monitor.storage.dialect import insert_for
from monitor.storage.engine import utcnow
from monitor.storage.models import Case, CaseComponent, Component, ImportRow, ImportRowComponent
from monitor.storage.types import UTCDateTime

_BATCH = 5000
_LINES_PER_STATEMENT = 100_000
# The file's column, where the table's is named otherwise: a code is stored only as its hash.
_STORED_AS = {"access_code": "access_hash"}
# The values an import sets on a case besides its components (columns of `cases` and `import_rows`). A re-import
# updates the required ones and the optional columns its file gives (`columns`); a column the file leaves out
# keeps what is stored.
CASE_VALUES = ("deadline", "time_zone", *(_STORED_AS.get(name, name) for name in OPTIONAL_COLUMNS))


def updated_values(columns: Iterable[str]) -> tuple[str, ...]:
    """The values a re-import may change: the required ones, and those of `columns` that are optional columns
    (by the name of their column in `cases`: `access_code` updates `access_hash`)."""
    given = set(columns)
    return ("deadline", "time_zone", *(_STORED_AS.get(name, name) for name in OPTIONAL_COLUMNS if name in given))


def _values(row: CaseRow, access_hash: str | None) -> dict[str, Any]:
    return {
        "deadline": row.deadline,
        "time_zone": row.time_zone,
        "extendable": row.extendable,
        "email": row.email,
        "webhook_url": row.webhook_url,
        "language": row.language,
        "access_hash": access_hash,
    }


# --- access codes, hashed before anything is written ---------------------------------------------


def stored_access_hashes(session: Session, case_ids: Iterable[str]) -> dict[str, str]:
    """The access hashes the given cases have now (those that have one)."""
    wanted = list(dict.fromkeys(case_ids))
    found: dict[str, str] = {}
    for start in range(0, len(wanted), _BATCH):  # bound values a statement: SQLite allows 32,766
        result = session.execute(
            select(Case.case_id, Case.access_hash).where(
                Case.case_id.in_(wanted[start : start + _BATCH]), Case.access_hash.is_not(None)
            )
        )
        found.update((case_id, access_hash) for case_id, access_hash in result if access_hash is not None)
    return found


def access_hashes(
    rows: Sequence[CaseRow], stored: Mapping[str, str], *, between: Callable[[], None] | None = None
) -> list[str | None] | None:
    """The `access_hash` to store for each row (None where it has no code), or None when no row has a code.

    `stored`: the hashes the cases have now (`stored_access_hashes`); a code that still matches its case's keeps
    it. Runs no statement and takes ~15 ms of a core per code: call it outside any transaction that holds locks.
    `between`: called between slices of codes (see access.hash_many), e.g. for a job's heartbeat.
    """
    codes = [row.access_code for row in rows]
    if all(code is None for code in codes):
        return None
    return hash_many(codes, [stored.get(row.case_id) for row in rows], between=between)


def hash_access_codes(session: Session, rows: Sequence[CaseRow]) -> list[str | None] | None:
    """`access_hashes` of `rows`, reading what their cases have now through `session`."""
    if all(row.access_code is None for row in rows):
        return None
    stored = stored_access_hashes(session, (row.case_id for row in rows if row.access_code is not None))
    return access_hashes(rows, stored)


def store_cases(
    session: Session,
    rows: list[CaseRow],
    *,
    columns: Iterable[str] = OPTIONAL_COLUMNS,
    hashes: Sequence[str | None] | None = None,
) -> int:
    """Insert or update the given cases (matched by case_id) inside the caller's transaction.

    As a merge of a large import does (see below): existing cases are updated where a value of theirs
    differs, only the links that change are written, and `updated_at` moves only for a case that changed.

    `hashes`: `access_hashes(rows, …)`, made before the transaction; without them the codes are hashed here,
    before the first write but inside the caller's transaction (fine for a few codes).
    """
    if hashes is None:
        hashes = hash_access_codes(session, rows)
    if hashes is not None and len(hashes) != len(rows):
        raise ValueError(f"{len(hashes)} access hashes for {len(rows)} rows")
    now = utcnow()
    updated = updated_values(columns)
    for start in range(0, len(rows), _BATCH):
        batch = rows[start : start + _BATCH]
        batch_hashes = [None] * len(batch) if hashes is None else hashes[start : start + _BATCH]
        stmt = insert_for(session, Case)
        stored_values = tuple_(*(getattr(Case, name) for name in updated))
        new_values = tuple_(*(getattr(stmt.excluded, name) for name in updated))
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=[Case.case_id],
                set_={**{name: getattr(stmt.excluded, name) for name in updated}, "updated_at": now},
                where=stored_values.is_distinct_from(new_values),
            ),
            [
                {"case_id": r.case_id, **_values(r, h), "created_at": now, "updated_at": now}
                for r, h in zip(batch, batch_hashes, strict=True)
            ],
        )
        listed = {(r.case_id, c) for r in batch for c in r.components}
        stored = {
            (case_id, component_id)
            for case_id, component_id in session.execute(
                select(CaseComponent.case_id, CaseComponent.component_id).where(
                    CaseComponent.case_id.in_([r.case_id for r in batch])
                )
            )
        }
        removed, added = stored - listed, listed - stored
        pairs = sorted(removed)
        for first in range(0, len(pairs), 1000):  # two bound values a pair: SQLite allows 32,766 a statement
            session.execute(
                delete(CaseComponent).where(
                    tuple_(CaseComponent.case_id, CaseComponent.component_id).in_(pairs[first : first + 1000])
                )
            )
        if added:
            session.execute(
                insert_for(session, CaseComponent),
                [{"case_id": case_id, "component_id": c} for case_id, c in sorted(added)],
            )
        changed = sorted({case_id for case_id, _ in removed | added})
        if changed:
            session.execute(
                update(Case)
                .where(Case.case_id.in_(changed))
                .values(updated_at=now)
                .execution_options(synchronize_session=False)
            )
    return len(rows)


def known_component_ids(session: Session) -> list[str]:
    return list(session.scalars(select(Component.id)))


def import_cases(session: Session, text: str, *, source: str = "<csv>") -> list[CaseRow]:
    """Check then store; on any bad row raise ImportRejected and store nothing. Access codes are hashed inside
    the caller's transaction: for small files (monitor.usecases.cases hashes outside it)."""
    rows, columns = read_cases_csv(text, known_components=known_component_ids(session), source=source)
    store_cases(session, rows, columns=columns)
    return rows


# --- staging a large import ---------------------------------------------------------------------


class Staging:
    """Where the checked rows of one run of an import job wait until the whole file has been read and checked.

    `private`: the rows live in the run's own transaction, so every step, from the first row to the merge and
    its commit, must use the one session the staging was opened with; otherwise each step may use a short
    transaction of its own.
    """

    private = False

    def stage(
        self, session: Session, rows: Sequence[tuple[int, CaseRow]], hashes: Sequence[str | None] | None = None
    ) -> None:
        """Stage checked rows, keyed by their line in the file. `hashes`: `access_hashes` of the rows, made
        before the transaction; without them the rows' codes are hashed here (as new: no stored hash is kept)."""
        raise NotImplementedError

    def end(self, session: Session) -> None:
        """Every row is in."""

    def abort(self) -> None:
        """The run stops without merging (a rejection, an error, the worker being stopped); the caller then ends
        the transaction. Does nothing once done, or after `end`."""

    def duplicate_count(self, session: Session) -> int:
        """How many staged rows repeat a case_id staged on an earlier line (0: every case_id is unique)."""
        raise NotImplementedError

    def duplicates(self, session: Session, *, limit: int) -> list[tuple[int, str, int]]:
        """The first `limit` repeats, in file order: (line, case_id, line where that case_id first appears)."""
        raise NotImplementedError

    def merge(self, session: Session, *, now: datetime, columns: Iterable[str] = OPTIONAL_COLUMNS) -> None:
        """Insert or update the staged cases and their components (see `updated_values` for `columns`). The
        staged case_ids must be unique."""
        raise NotImplementedError


def open_staging(session: Session, job_id: str) -> Staging:
    """CopyStaging on PostgreSQL (its temporary table is created in `session`'s transaction), TableStaging
    elsewhere."""
    if session.get_bind().dialect.name == "postgresql":
        return CopyStaging(session)
    return TableStaging(job_id)


class TableStaging(Staging):
    """The job's rows in `import_rows` and `import_row_components`, each batch in the caller's transaction."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id

    def stage(
        self, session: Session, rows: Sequence[tuple[int, CaseRow]], hashes: Sequence[str | None] | None = None
    ) -> None:
        stage_rows(session, self.job_id, rows, hashes)

    def duplicate_count(self, session: Session) -> int:
        return staged_duplicate_count(session, self.job_id)

    def duplicates(self, session: Session, *, limit: int) -> list[tuple[int, str, int]]:
        return staged_duplicates(session, self.job_id, limit=limit)

    def merge(self, session: Session, *, now: datetime, columns: Iterable[str] = OPTIONAL_COLUMNS) -> None:
        merge_staged(session, self.job_id, now=now, columns=columns)


def _hashes_for(rows: Sequence[tuple[int, CaseRow]], hashes: Sequence[str | None] | None) -> Sequence[str | None]:
    """The access hash of each staged row: as given, or made here when a row has a code and none were given."""
    if hashes is None:
        hashes = access_hashes([row for _, row in rows], {})
        if hashes is None:
            return [None] * len(rows)
    if len(hashes) != len(rows):
        raise ValueError(f"{len(hashes)} access hashes for {len(rows)} rows")
    return hashes


def stage_rows(
    session: Session, job_id: str, rows: Sequence[tuple[int, CaseRow]], hashes: Sequence[str | None] | None = None
) -> None:
    """Stage checked rows of an import job, keyed by their line in the file, inside the caller's transaction.
    `hashes`: as for Staging.stage."""
    if not rows:
        return
    access = _hashes_for(rows, hashes)
    connection = session.connection()
    # A million rows pass here: the driver gets them directly (COPY on PostgreSQL, executemany on SQLite),
    # which is 3-10x faster than an ORM or Core insert. The deadline still goes through its column type, so
    # it is stored exactly as every other UTCDateTime is.
    # dialect_impl(): the back end's own DateTime processor too (SQLite's text format with microseconds), not
    # only ours; without it SQLite got '… 15:30:00', which sorts before an equal '… 15:30:00.000000' bound.
    deadline_type = ImportRow.__table__.c.deadline.type.dialect_impl(connection.dialect)
    to_db = deadline_type.bind_processor(connection.dialect) or (lambda value: value)
    _insert_rows(
        connection,
        ImportRow.__tablename__,
        (
            "job_id",
            "line",
            "case_id",
            "deadline",
            "time_zone",
            "extendable",
            "email",
            "webhook_url",
            "language",
            "access_hash",
        ),
        [
            (
                job_id,
                line,
                r.case_id,
                to_db(r.deadline),
                r.time_zone,
                r.extendable,
                r.email,
                r.webhook_url,
                None if r.language is None else r.language.value,
                access_hash,
            )
            for (line, r), access_hash in zip(rows, access, strict=True)
        ],
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


def merge_staged(session: Session, job_id: str, *, now: datetime, columns: Iterable[str] = OPTIONAL_COLUMNS) -> None:
    """Insert or update the job's staged cases and their components, inside the caller's transaction.

    Set-based: four statements per range of lines, whatever the number of rows. The staged case_ids must be
    unique (see `staged_duplicate_count`): an upsert may not touch a row twice in one statement. The caller
    knows how many rows it staged (drivers do not all count an upsert's rows).
    """
    values = ", ".join(CASE_VALUES)
    updated = updated_values(columns)
    statements = [
        # 1. Existing cases whose components change get a new updated_at (first: new cases are not in yet).
        "UPDATE cases SET updated_at = :now WHERE case_id IN ("
        " SELECT cc.case_id FROM import_rows r JOIN case_components cc ON cc.case_id = r.case_id"
        " WHERE r.job_id = :job_id AND r.line >= :start AND r.line < :end AND NOT EXISTS ("
        "  SELECT 1 FROM import_row_components rc"
        "  WHERE rc.job_id = r.job_id AND rc.line = r.line AND rc.component_id = cc.component_id)"
        " UNION SELECT r.case_id FROM import_rows r"
        " JOIN import_row_components rc ON rc.job_id = r.job_id AND rc.line = r.line"
        " WHERE r.job_id = :job_id AND r.line >= :start AND r.line < :end"
        " AND EXISTS (SELECT 1 FROM cases c WHERE c.case_id = r.case_id) AND NOT EXISTS ("
        "  SELECT 1 FROM case_components cc WHERE cc.case_id = r.case_id AND cc.component_id = rc.component_id))",
        # 2. New cases inserted; existing ones updated where a value differs. (SQLite needs the WHERE of the
        # SELECT, or it reads ON CONFLICT as a join's ON.)
        f"INSERT INTO cases (case_id, {values}, created_at, updated_at)"
        f" SELECT case_id, {values}, :now, :now FROM import_rows"
        " WHERE job_id = :job_id AND line >= :start AND line < :end"
        f" ON CONFLICT (case_id) DO UPDATE SET {', '.join(f'{v} = excluded.{v}' for v in updated)},"
        " updated_at = excluded.updated_at"
        f" WHERE ({', '.join(f'cases.{v}' for v in updated)})"
        f" IS NOT ({', '.join(f'excluded.{v}' for v in updated)})",
        # 3. Links no longer listed removed, 4. the missing ones added.
        "DELETE FROM case_components WHERE case_id IN ("
        " SELECT case_id FROM import_rows WHERE job_id = :job_id AND line >= :start AND line < :end)"
        " AND NOT EXISTS (SELECT 1 FROM import_rows r"
        " JOIN import_row_components rc ON rc.job_id = r.job_id AND rc.line = r.line"
        " WHERE r.job_id = :job_id AND r.case_id = case_components.case_id"
        " AND rc.component_id = case_components.component_id)",
        "INSERT INTO case_components (case_id, component_id)"
        " SELECT r.case_id, rc.component_id FROM import_row_components rc"
        " JOIN import_rows r ON r.job_id = rc.job_id AND r.line = rc.line"
        " WHERE rc.job_id = :job_id AND rc.line >= :start AND rc.line < :end ON CONFLICT DO NOTHING",
    ]
    if session.get_bind().dialect.name == "postgresql":
        statements[1] = statements[1].replace(" IS NOT (", " IS DISTINCT FROM (")
    clauses = [
        text(statement).bindparams(bindparam("now", type_=UTCDateTime())) if ":now" in statement else text(statement)
        for statement in statements
    ]
    for start, end in _line_ranges(session, job_id):  # see _line_ranges: SQLite's memory
        for clause in clauses:
            names = {"now": now, "job_id": job_id, "start": start, "end": end}
            session.execute(clause, {name: value for name, value in names.items() if f":{name}" in clause.text})


# --- PostgreSQL: a temporary table filled by COPY -------------------------------------------------

_STAGE = "pw_import_stage"
_STAGE_COLUMNS = (
    "line",
    "case_id",
    "deadline_us",
    "time_zone",
    "extendable",
    "email",
    "webhook_url",
    "language",
    "access_hash",
    "components",
)
# COPY's text format: a backslash, a tab or a line break in a value must be escaped.
_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_COPY_ROWS = 20_000  # rows formatted into one block of text before it is handed to the driver
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# An import this large into an empty `cases` table takes the bulk path (see CopyStaging._merge_into_empty),
# if it can lock the tables within BULK_LOCK_TIMEOUT.
BULK_MIN_ROWS = 100_000
BULK_LOCK_TIMEOUT = "5s"


def _copy_text(value: str | None) -> str:
    if value is None:
        return "\\N"
    return value.translate(_COPY_ESCAPES) if _COPY_SPECIAL.search(value) else value


def _array_literal(components: tuple[str, ...]) -> str:
    """`{"a","b"}`, as COPY text: each element quoted, so no id can be read as a delimiter or NULL."""
    quoted = ('"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"' for c in components)
    return _copy_text("{" + ",".join(quoted) + "}")


_VALUES = ", ".join(CASE_VALUES)


def _staged(name: str) -> str:
    """A staged value as SQL, the deadline made a timestamptz again (exactly)."""
    return "timestamptz 'epoch' + s.deadline_us * interval '1 microsecond'" if name == "deadline" else f"s.{name}"


_STAGED_VALUES = ", ".join(_staged(name) for name in CASE_VALUES)


def _pg_merge(columns: Iterable[str]) -> tuple[str, ...]:
    """The general merge: only what differs is written (`columns`: see updated_values)."""
    updated = updated_values(columns)
    return (
        # 1. Existing cases updated where a value differs, then the new ones inserted.
        f"UPDATE cases c SET ({', '.join(updated)}, updated_at) = ({', '.join(map(_staged, updated))}, %(now)s)"
        f" FROM {_STAGE} s WHERE c.case_id = s.case_id"
        f" AND ({', '.join(f'c.{v}' for v in updated)}) IS DISTINCT FROM ({', '.join(map(_staged, updated))})",
        f"INSERT INTO cases (case_id, {_VALUES}, created_at, updated_at)"
        f" SELECT s.case_id, {_STAGED_VALUES}, %(now)s, %(now)s FROM {_STAGE} s"
        " WHERE NOT EXISTS (SELECT FROM cases c WHERE c.case_id = s.case_id)",
        # 2. The links no longer listed removed and the missing ones added, in one statement (both see the links
        # as they were); the cases whose links changed get a new updated_at, unless they have it already.
        "WITH removed AS ("
        f" DELETE FROM case_components cc USING {_STAGE} s"
        " WHERE cc.case_id = s.case_id AND cc.component_id <> ALL (s.components) RETURNING cc.case_id"
        "), added AS ("
        " INSERT INTO case_components (case_id, component_id)"
        f" SELECT s.case_id, u.component_id FROM {_STAGE} s CROSS JOIN LATERAL unnest(s.components) AS u(component_id)"
        " WHERE NOT EXISTS (SELECT FROM case_components cc"
        " WHERE cc.case_id = s.case_id AND cc.component_id = u.component_id)"
        " ON CONFLICT DO NOTHING RETURNING case_id"
        ") UPDATE cases SET updated_at = %(now)s"
        " WHERE case_id IN (SELECT case_id FROM removed UNION SELECT case_id FROM added)"
        " AND updated_at IS DISTINCT FROM %(now)s",
    )


# Into an empty table: every row is new.
_PG_INSERT_ALL = (
    f"INSERT INTO cases (case_id, {_VALUES}, created_at, updated_at)"
    f" SELECT s.case_id, {_STAGED_VALUES}, %(now)s, %(now)s FROM {_STAGE} s",
    f"INSERT INTO case_components (case_id, component_id) SELECT case_id, unnest(components) FROM {_STAGE}",
)
# What the bulk path drops, then makes again from the definitions read here: (name, definition) of each
# - index of `cases` or `case_components` that backs no constraint (on `cases`: unless unique),
# - primary key or unique constraint of `case_components`,
# - foreign key from `case_components` to `cases`.
# The key of `cases` stays (the links' foreign key needs it, and it keeps case ids unique as rows go in), and so
# does the links' foreign key to `components`.
_ANY_CASE = "SELECT EXISTS (SELECT FROM cases)"
_BULK_INDEXES = (
    "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
    " WHERE (x.indrelid = 'case_components'::regclass OR x.indrelid = 'cases'::regclass AND NOT x.indisunique)"
    " AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = x.indexrelid) ORDER BY 1"
)
_BULK_CONSTRAINTS = (
    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'case_components'::regclass"
    " AND (contype IN ('p', 'u') OR contype = 'f' AND confrelid = 'cases'::regclass)"
    " ORDER BY contype = 'f', conname"  # keys first, foreign keys last
)


class CopyStaging(Staging):
    """Staging on PostgreSQL: a temporary table of the run's transaction, filled by one COPY as rows are read.

    The table is dropped when the transaction ends, committed or not, so a run that fails or whose worker dies
    leaves nothing behind, and no two runs ever see each other's rows. The server stores each block of rows
    while the next one is parsed, on the other core. Duplicates are found and the merge is done from the same
    table, in the same transaction.
    """

    private = True

    def __init__(self, session: Session) -> None:
        self.rows = 0
        self._lines: list[str] = []
        connection = session.connection()
        columns = (
            "line bigint NOT NULL, case_id text NOT NULL, deadline_us bigint NOT NULL, time_zone text NOT NULL, "
            "extendable boolean NOT NULL, email text, webhook_url text, language text, access_hash text, "
            "components text[] NOT NULL"
        )
        connection.exec_driver_sql(f"CREATE TEMPORARY TABLE {_STAGE} ({columns}) ON COMMIT DROP")
        driver = connection.connection.driver_connection
        if driver is None:
            raise RuntimeError("the database connection is closed")
        self._copying = ExitStack()
        cursor = self._copying.enter_context(driver.cursor())
        self._copy = self._copying.enter_context(cursor.copy(f"COPY {_STAGE} ({', '.join(_STAGE_COLUMNS)}) FROM STDIN"))
        self._arrays: dict[tuple[str, ...], str] = {}

    def stage(
        self, session: Session, rows: Sequence[tuple[int, CaseRow]], hashes: Sequence[str | None] | None = None
    ) -> None:
        # One line of COPY text per row, written as one block: no per-row driver calls. A deadline goes as
        # microseconds since 1970 (exact whatever its offset, and half the cost of formatting it). Text is
        # escaped where it may hold a special character; the parser refused control characters in case ids.
        # (No statement may run on this connection while its COPY is open: stored hashes are read before.)
        lines = self._lines
        arrays = self._arrays
        epoch, microsecond = _EPOCH, _MICROSECOND
        access = _hashes_for(rows, hashes)
        for (line, row), access_hash in zip(rows, access, strict=True):
            case_id, components, deadline, zone, extendable, email, webhook_url, language, _ = row
            if "\\" in case_id:
                case_id = case_id.replace("\\", "\\\\")
            array = arrays.get(components)
            if array is None:
                array = arrays[components] = _array_literal(components)
            if email is None and webhook_url is None and language is None:
                contacts = "\\N\t\\N\t\\N"
            else:
                contacts = (
                    f"{_copy_text(email)}\t{_copy_text(webhook_url)}\t"
                    f"{_copy_text(None if language is None else language.value)}"
                )
            lines.append(
                f"{line}\t{case_id}\t{(deadline - epoch) // microsecond}\t{zone}\t{'t' if extendable else 'f'}\t"
                f"{contacts}\t{_copy_text(access_hash)}\t{array}\n"
            )
        self.rows += len(rows)
        if len(lines) >= _COPY_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._lines:
            self._copy.write("".join(self._lines))
            self._lines.clear()

    def end(self, session: Session) -> None:
        self._flush()
        self._copying.close()  # ends the COPY
        # Temporary tables are never analyzed on their own; without statistics the planner guesses a few
        # thousand rows and may join a million by nested loops.
        session.connection().exec_driver_sql(f"ANALYZE {_STAGE}")

    def abort(self) -> None:
        # Ends an unfinished COPY with an error, which makes the server discard it.
        self._lines.clear()
        stopped = RuntimeError("the import stopped before every row was read")
        self._copying.__exit__(RuntimeError, stopped, None)

    def duplicate_count(self, session: Session) -> int:
        connection = session.connection()
        connection.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        count = connection.exec_driver_sql(f"SELECT count(*) - count(DISTINCT case_id) FROM {_STAGE}").scalar()
        return int(count or 0)

    def duplicates(self, session: Session, *, limit: int) -> list[tuple[int, str, int]]:
        rows = (
            session.connection()
            .exec_driver_sql(
                f"WITH first AS (SELECT case_id, min(line) AS first_line FROM {_STAGE} GROUP BY case_id "
                "HAVING count(*) > 1) "
                f"SELECT s.line, s.case_id, f.first_line FROM {_STAGE} s JOIN first f USING (case_id) "
                "WHERE s.line > f.first_line ORDER BY s.line LIMIT %(limit)s",
                {"limit": limit},
            )
            .all()
        )
        return [(int(line), str(case_id), int(first_line)) for line, case_id, first_line in rows]

    def merge(self, session: Session, *, now: datetime, columns: Iterable[str] = OPTIONAL_COLUMNS) -> None:
        connection = session.connection()
        # For this transaction only: hashes and sorts of millions of rows stay in memory.
        connection.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        connection.exec_driver_sql("SET LOCAL maintenance_work_mem = '512MB'")
        if not (self.rows >= BULK_MIN_ROWS and self._merge_into_empty(session, now)):
            # Two imports merging at once would each find a case missing and both insert it: they take turns.
            # Readers, relief and the probes are not held up (they do not write cases).
            connection.exec_driver_sql("LOCK TABLE cases IN SHARE ROW EXCLUSIVE MODE")
            for statement in _pg_merge(columns):
                connection.exec_driver_sql(statement, {"now": now})

    def _merge_into_empty(self, session: Session, now: datetime) -> bool:
        """A first, large import into an empty `cases` table, as PostgreSQL's documentation advises for
        populating a database: the indexes and keys of the two tables that can go (see _BULK_INDEXES) are
        dropped, the rows inserted, and each made again from its own definition, built or checked once for the
        whole table. Kept up or checked row by row, they cost more than inserting the rows. Returns False, having
        changed nothing, when the table is not empty, its locks cannot be had within BULK_LOCK_TIMEOUT, or the
        role may not alter the tables.

        `cases` and `case_components` are then held exclusively until the import commits: whatever reads them
        waits, for tables that were empty. The links' foreign key to `components` stays, checked row by row:
        dropping it would lock the status page out meanwhile.
        """
        if session.connection().exec_driver_sql(_ANY_CASE).scalar():
            return False  # without asking for a lock that would hold up every reader of cases while it waits
        savepoint = session.begin_nested()
        connection = session.connection()  # after begin_nested: only then is the SAVEPOINT itself sent
        try:
            connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{BULK_LOCK_TIMEOUT}'")
            connection.exec_driver_sql("LOCK TABLE cases, case_components IN ACCESS EXCLUSIVE MODE")
            if connection.exec_driver_sql(_ANY_CASE).scalar():  # stored meanwhile, before the lock
                savepoint.rollback()
                return False
            indexes = connection.exec_driver_sql(_BULK_INDEXES).all()
            constraints = connection.exec_driver_sql(_BULK_CONSTRAINTS).all()
            for name, _ in reversed(constraints):  # foreign keys first
                connection.exec_driver_sql(f"ALTER TABLE case_components DROP CONSTRAINT {_identifier(name)}")
            for name, _ in indexes:
                connection.exec_driver_sql(f"DROP INDEX {_identifier(name)}")
            connection.exec_driver_sql("SET LOCAL lock_timeout TO DEFAULT")
        except Exception as exc:
            if not _refused(exc):
                raise
            savepoint.rollback()
            return False
        for statement in _PG_INSERT_ALL:
            connection.exec_driver_sql(statement, {"now": now})
        for name, definition in constraints:
            connection.exec_driver_sql(f"ALTER TABLE case_components ADD CONSTRAINT {_identifier(name)} {definition}")
        for _, definition in indexes:
            connection.exec_driver_sql(definition)
        # The tables were empty when last analyzed, if ever: without statistics the planner would take millions
        # of rows for a handful (relief reads them right after the commit).
        connection.exec_driver_sql("ANALYZE cases, case_components")
        savepoint.commit()
        return True


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _refused(exc: BaseException) -> bool:
    """The database would not let the bulk path change the tables: a lock not had in time, or no privilege."""
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    # lock_not_available, insufficient_privilege, dependent_objects_still_exist (another table's key on them)
    return code in ("55P03", "42501", "2BP01")
