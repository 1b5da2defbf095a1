"""Large cases imports as jobs: upload the bytes, then a worker reads, checks, stages and merges them.

A request stores the CSV as ~1 MiB `import_chunks` rows and creates an `import_jobs` row; any worker then runs
`run_import`: it claims the job with a conditional UPDATE, streams the chunks through the CasesReader, stages
the valid rows as they are read (memory does not grow with the file; see exemptions.cases.store for where),
finds duplicate case ids in SQL, and either rejects the file (the first 1000 problems kept, all counted) or
merges the staging into `cases` in ONE transaction together with the relief owed (an outbox event) and the
job's success. A job never leaves some of its cases imported and others not. The command line runs the same
code on a file it reads itself (`import_file`). Access codes are hashed a batch at a time before the batch is
staged, outside its transaction (see `_Run._hash_access_codes`).

Who holds a job: each claim increments `attempts`, and every later write of that attempt is conditional on
`state = running AND attempts = <its number>` (a fencing token). A worker that died stops beating; the
sweeper (`stuck_imports`, run by the outbox sweep) queues its job again, and a worker that was only slow finds
its claim gone at its next write and stops without having written anything that counts. After
MAX_ATTEMPTS the job is marked failed.

While its bytes arrive a job is `uploading`, which no worker claims; the upload's last write makes it
`queued`. An upload that stops (the process died) is marked failed and cleared by the sweeper.
"""

from __future__ import annotations

import io
import logging
import secrets
import time
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import IO, Any, BinaryIO, cast

from sqlalchemy import ColumnElement, CursorResult, Update, and_, delete, or_, select, update
from sqlalchemy.orm import Session

from exemptions.cases.parse import CaseRow, CasesReader, ImportRejected, RowError
from exemptions.cases.store import (
    Staging,
    access_hashes,
    clear_staging,
    known_component_ids,
    open_staging,
    stored_access_hashes,
)
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import AuditAction, Consumer, ImportState
from monitor.storage.models import Delivery, ImportChunk, ImportJob, OutboxEvent
from monitor.usecases import audit
from monitor.usecases.audit import Actor
from monitor.usecases.cases import relieve_now
from monitor.usecases.relief import owe_imported_cases

log = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024  # one import_chunks row; also what a reader holds of the file at a time
BATCH_ROWS = 5000  # rows staged per transaction: bounds memory, and how long SQLite's write lock is held
MAX_ERRORS = 1000  # problems kept on a rejected job; all of them are counted
MAX_ATTEMPTS = 5
STALE_AFTER = timedelta(minutes=2)  # a running job whose heartbeat is older than this lost its worker
REDISPATCH_AFTER = timedelta(minutes=1)  # a queued job not picked up for this long is sent again
BEAT_EVERY_SECONDS = 1.0  # progress and heartbeat while reading, at most this often

UPLOAD_INTERRUPTED = "the upload was interrupted before the whole file arrived; nothing was imported"
# The message of a job the command line runs, while it runs: it reads its file itself, so no worker can take
# it over; if its heartbeat stops, the sweeper marks it failed with FOREGROUND_STOPPED instead.
FOREGROUND = "running in the foreground: the command line that started it reads the file itself"
FOREGROUND_STOPPED = "the command line running the import stopped before it finished; nothing was imported"


class Phase(StrEnum):
    READING = "reading"
    CHECKING = "checking"  # for duplicate case ids, in SQL
    MERGING = "merging"  # into cases, in one transaction
    RELIEF = "relief"  # granting what past outages owe the imported cases


Progress = Callable[[Phase, int], None]  # (phase, rows read so far)


class LostClaim(Exception):
    """Another worker took the job over (this one looked dead); stop without writing anything more."""


@dataclass(frozen=True)
class ImportResult:
    """What one run of a job came to (`state` queued: it failed and will be tried again)."""

    job_id: str
    state: ImportState
    source: str
    rows_read: int = 0
    imported: int = 0
    error_count: int = 0
    errors: list[RowError] = field(default_factory=list)
    message: str | None = None
    outage_ids: list[int] = field(default_factory=list)
    granted: int = 0  # grants made right away for past outages (the rest follow through the outbox)


@dataclass(frozen=True)
class ImportJobView:
    """A job as the ops API shows it."""

    id: str
    state: ImportState
    source: str
    size_bytes: int
    rows_read: int
    imported: int
    error_count: int
    errors: list[dict[str, Any]]
    message: str | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    relief_for_outages: list[int] | None  # once succeeded: outages whose relief the imported cases were owed


def row_error_json(error: RowError) -> dict[str, Any]:
    return {"row": error.row, "line": error.line, "column": error.column, "message": error.message}


def _rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount


def _update() -> Update:
    # Conditional UPDATEs whose rowcount decides who holds a job; the session's objects are not kept in step.
    return update(ImportJob).execution_options(synchronize_session=False)


# --- uploading -----------------------------------------------------------------------------------


def _regroup(pieces: Iterable[bytes], size: int) -> Iterator[bytes]:
    """The bytes of `pieces` in blocks of `size` (the last may be shorter); holds at most one block more."""
    buffer = bytearray()
    for piece in pieces:
        buffer += piece
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)


def _new_job(runtime: Runtime, source: str, state: ImportState, **values: Any) -> str:
    """Store a new job, in its own transaction, with counters at zero: its id."""
    job_id = secrets.token_hex(16)
    now = runtime.clock()
    defaults: dict[str, Any] = {"size_bytes": 0, "rows_read": 0, "imported": 0, "error_count": 0, "attempts": 0}
    if state == ImportState.RUNNING:
        defaults["started_at"] = now
    with transaction(runtime.sessions) as session:
        session.add(
            ImportJob(
                id=job_id, source=source[:255], state=state, heartbeat_at=now, created_at=now, **{**defaults, **values}
            )
        )
    return job_id


def create_job(runtime: Runtime, pieces: Iterable[bytes], *, source: str, actor: Actor | None = None) -> str:
    """Store an upload as a queued job, one chunk per short transaction; returns the job id (not dispatched).

    `actor`: who uploads it, for the audit entry written when the job is queued.

    If `pieces` raises (the client went away, the body is too large) the job is removed and the error
    propagates; if the process dies instead, the sweeper finds the upload stopped and clears it.
    """
    job_id = _new_job(runtime, source, ImportState.UPLOADING)
    size = 0
    try:
        # One transaction per chunk: on SQLite each holds the database's write lock, and a client sending
        # slowly must not keep every other writer (recording checks) waiting for the whole upload.
        for seq, data in enumerate(_regroup(pieces, CHUNK_BYTES)):
            with transaction(runtime.sessions) as session:
                session.add(ImportChunk(job_id=job_id, seq=seq, data=data))
                session.execute(_update().where(ImportJob.id == job_id).values(heartbeat_at=runtime.clock()))
            size += len(data)
        with transaction(runtime.sessions) as session:
            # heartbeat_at of a queued job: when it was last sent to a worker (see stuck_imports).
            done = session.execute(
                _update()
                .where(ImportJob.id == job_id, ImportJob.state == ImportState.UPLOADING)
                .values(state=ImportState.QUEUED, size_bytes=size, heartbeat_at=runtime.clock())
            )
            if _rowcount(done) != 1:
                raise RuntimeError(f"import job {job_id} was cleared while its upload was still arriving")
            if actor is not None:
                audit.append(
                    session,
                    actor,
                    AuditAction.CASES_IMPORTED,
                    f"import:{job_id}",
                    after={"job": job_id, "source": source[:255], "size_bytes": size, "state": "queued"},
                    now=runtime.clock(),
                )
    except BaseException:
        try:
            with transaction(runtime.sessions) as session:
                session.execute(delete(ImportChunk).where(ImportChunk.job_id == job_id))
                session.execute(delete(ImportJob).where(ImportJob.id == job_id))
        except Exception:
            log.exception("could not remove the interrupted upload of import job %s; the sweeper will", job_id)
        raise
    return job_id


# --- reading the chunks back ---------------------------------------------------------------------


class _ChunkStream(io.RawIOBase):
    """The job's chunks in order as one binary stream; one chunk is held at a time."""

    def __init__(self, fetch: Callable[[int], bytes | None]) -> None:
        super().__init__()
        self._fetch = fetch
        self._seq = 0
        self._data = memoryview(b"")
        self._ended = False
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._data:
            if self._ended:
                return 0
            chunk = self._fetch(self._seq)
            if chunk is None:
                self._ended = True
                return 0
            self._seq += 1
            self._data = memoryview(chunk)
        count = min(len(target), len(self._data))
        target[:count] = self._data[:count]
        self._data = self._data[count:]
        self.bytes_read += count
        return count


class _RowNumbers:
    """The data row number of a staged line, for the duplicates found later in SQL (staging keeps lines only).

    `line - row` changes only at blank lines and rows spanning several lines, so only those points are kept,
    in two int64 arrays: nothing per ordinary row.
    """

    def __init__(self) -> None:
        self._lines = array("q")
        self._offsets = array("q")

    def note(self, line: int, row: int) -> None:
        offset = line - row
        if not self._offsets or self._offsets[-1] != offset:
            self._lines.append(line)
            self._offsets.append(offset)

    def row(self, line: int) -> int:
        index = bisect_right(self._lines, line) - 1
        return line - self._offsets[max(index, 0)] if self._offsets else line - 1


# --- running a job -------------------------------------------------------------------------------


def _stale(now: datetime) -> ColumnElement[bool]:
    """The heartbeat stopped; or it lies far ahead, the clock stepped back (the fence keeps a takeover safe)."""
    return or_(
        ImportJob.heartbeat_at.is_(None),
        ImportJob.heartbeat_at < now - STALE_AFTER,
        ImportJob.heartbeat_at > now + STALE_AFTER,
    )


def _foreground() -> ColumnElement[bool]:
    # Not `message = …`: NULL there would make `NOT _foreground()` NULL too, which no WHERE lets through.
    return and_(ImportJob.state == ImportState.RUNNING, ImportJob.message.is_not_distinct_from(FOREGROUND))


def _held(job_id: str, attempt: int) -> ColumnElement[bool]:
    return and_(ImportJob.id == job_id, ImportJob.state == ImportState.RUNNING, ImportJob.attempts == attempt)


def _fence(session: Session, job_id: str, attempt: int, **values: Any) -> None:
    """Update the job if this attempt still holds it; otherwise raise LostClaim (the transaction rolls back).

    Done first in each transaction of a run: on PostgreSQL it locks the job's row, so a takeover waits for the
    transaction, or the transaction waits for the takeover and then finds its claim gone.
    """
    result = session.execute(_update().where(_held(job_id, attempt)).values(**values))
    if _rowcount(result) != 1:
        raise LostClaim(f"import job {job_id}: attempt {attempt} no longer holds the job")


def _claim(runtime: Runtime, job_id: str) -> tuple[int, str, int] | None:
    """Take the job (queued, or running with a stale heartbeat); returns (attempt, source, size) or None."""
    now = runtime.clock()
    with transaction(runtime.sessions) as session:
        result = session.execute(
            _update()
            .where(
                ImportJob.id == job_id,
                ImportJob.attempts < MAX_ATTEMPTS,
                or_(
                    ImportJob.state == ImportState.QUEUED,
                    and_(ImportJob.state == ImportState.RUNNING, _stale(now), ~_foreground()),
                ),
            )
            .values(
                state=ImportState.RUNNING,
                attempts=ImportJob.attempts + 1,
                heartbeat_at=now,
                started_at=now,
                rows_read=0,
            )
        )
        if _rowcount(result) != 1:
            return None
        job = session.execute(
            select(ImportJob.attempts, ImportJob.source, ImportJob.size_bytes).where(ImportJob.id == job_id)
        ).one()
        # Rows an earlier attempt staged before its worker died: this attempt reads the file again from the top.
        clear_staging(session, job_id)
    return int(job.attempts), str(job.source), int(job.size_bytes)


def run_import(
    runtime: Runtime, job_id: str, *, progress: Progress | None = None, retry: bool = True
) -> ImportResult | None:
    """Run the job if it can be claimed; None if another worker has it, it is finished, or the claim was lost.

    A failure (storage down) is logged and the job released: queued again for the sweeper to retry after
    REDISPATCH_AFTER, or failed after MAX_ATTEMPTS (at once with `retry=False`).
    """
    claimed = _claim(runtime, job_id)
    if claimed is None:
        return None
    attempt, source, size = claimed
    run = _Run(runtime, job_id, attempt, source, size, progress)
    chunks = _ChunkStream(run.fetch_chunk)

    def whole_upload_read() -> None:
        if chunks.bytes_read != size:
            # The upload stored `size` bytes; fewer read back means chunks went missing. Refuse to import part.
            raise RuntimeError(f"read {chunks.bytes_read} of the upload's {size} bytes back from storage")

    try:
        return run.run(_text(io.BufferedReader(chunks, buffer_size=64 * 1024)), after_reading=whole_upload_read)
    except LostClaim as lost:
        log.warning("%s; stopping", lost)
        return None
    except Exception as exc:  # any failure is retried; the job is never left running and forgotten
        log.exception("import job %s, attempt %s failed", job_id, attempt)
        return _release(runtime, job_id, attempt, source, f"{type(exc).__name__}: {exc}", retry=retry)


def import_file(
    runtime: Runtime, file: BinaryIO, *, source: str, size: int, progress: Progress | None = None
) -> ImportResult:
    """Import a file in the foreground, as the command line does: a job's run, reading the file itself.

    The file is not copied into `import_chunks` first: at 2.4 million rows the upload alone took 2.8 s, and
    reading the chunks back slowed the reading too. Chunks exist so that any worker can take a job over after
    its worker died, and nobody takes this one over. What they would guard is kept otherwise: the import is
    still all or nothing (one transaction, or a rejection that stores nothing); if the process stops, nothing
    was imported, and the sweeper marks the job failed (see FOREGROUND) instead of running it again behind the
    person's back. Running the command again is the retry: an import updates cases by case_id, so running it
    twice gives what running it once does.
    """
    job_id = _new_job(runtime, source, ImportState.RUNNING, size_bytes=size, attempts=1, message=FOREGROUND)
    text = _text(file)
    try:
        return _Run(runtime, job_id, 1, source, size, progress).run(text)
    except LostClaim as lost:  # only the sweeper can have done that, having found the heartbeat stale
        log.warning("%s; stopping", lost)
        return ImportResult(job_id=job_id, state=ImportState.FAILED, source=source, message=str(lost))
    except Exception as exc:
        log.exception("import job %s (foreground) failed", job_id)
        return _release(runtime, job_id, 1, source, f"{type(exc).__name__}: {exc}", retry=False)
    except BaseException:  # interrupted (Ctrl-C): record it now rather than when the heartbeat has gone stale
        _release(runtime, job_id, 1, source, "interrupted", retry=False)
        raise
    finally:
        text.detach()  # the file stays the caller's to close


def _text(binary: IO[bytes]) -> io.TextIOWrapper:
    return io.TextIOWrapper(
        binary,
        encoding="utf-8-sig",
        errors="surrogateescape",  # bytes that are not UTF-8 are reported at their row and column
        newline="",  # a line break inside a quoted field is kept as written
    )


class _Run:
    """One attempt at a job, from the first row to the final state.

    Where the rows wait depends on the back end (see exemptions.cases.store): on PostgreSQL in a temporary
    table of one transaction that runs from the first row to the commit of the merge (heartbeats and the
    chunks go through transactions of their own); elsewhere in `import_rows`, in a transaction per batch,
    each fenced.
    """

    def __init__(
        self, runtime: Runtime, job_id: str, attempt: int, source: str, size: int, progress: Progress | None
    ) -> None:
        self.runtime = runtime
        self.job_id = job_id
        self.attempt = attempt
        self.source = source
        self.size = size
        self.progress = progress
        self.reader: CasesReader | None = None
        self.staged = 0
        self._last_beat = time.monotonic()

    def rows_read(self) -> int:
        return self.reader.rows_read if self.reader is not None else 0

    def _report(self, phase: Phase) -> None:
        if self.progress is not None:
            self.progress(phase, self.rows_read())

    def fetch_chunk(self, seq: int) -> bytes | None:
        with transaction(self.runtime.sessions) as session:
            # Beats here as well as per batch: a file of bad rows stages nothing for a long while.
            if time.monotonic() - self._last_beat >= BEAT_EVERY_SECONDS:
                self._beat(session)
            data = session.scalar(
                select(ImportChunk.data).where(ImportChunk.job_id == self.job_id, ImportChunk.seq == seq)
            )
        if seq > 0 and self.progress is not None:
            self._report(Phase.READING)
        return None if data is None else bytes(data)

    def _beat(self, session: Session) -> None:
        _fence(session, self.job_id, self.attempt, rows_read=self.rows_read(), heartbeat_at=self.runtime.clock())
        self._last_beat = time.monotonic()

    def _beat_if_due(self) -> None:
        if time.monotonic() - self._last_beat >= BEAT_EVERY_SECONDS:
            with transaction(self.runtime.sessions) as session:
                self._beat(session)

    @contextmanager
    def _step(self, held: Session | None) -> Iterator[Session]:
        """The session for a step: the run's own (private staging), after a heartbeat of its own when one is
        due; or a transaction of its own, fenced first."""
        if held is not None:
            self._beat_if_due()
            yield held
            return
        with transaction(self.runtime.sessions) as session:
            self._beat(session)
            yield session

    def _stage(self, staging: Staging, held: Session | None, batch: list[tuple[int, CaseRow]]) -> None:
        hashes = self._hash_access_codes(batch)
        with self._step(held) as session:
            staging.stage(session, batch, hashes)
        self.staged += len(batch)
        self._report(Phase.READING)

    def _hash_access_codes(self, batch: list[tuple[int, CaseRow]]) -> list[str | None] | None:
        """The batch's access hashes (None: the file has no such column), made before its transaction opens:
        slow on purpose, hashing must not hold SQLite's write lock. The hashes the cases have now are read in a
        short transaction of its own (a private staging's connection is busy copying); the heartbeat goes on
        between slices of codes. Once a row was refused, the file will be, so nothing more is hashed."""
        if self.reader is None or "access_code" not in self.reader.optional_columns or not batch:
            return None
        if self.reader.error_count:
            return [None] * len(batch)
        rows = [row for _, row in batch]
        with transaction(self.runtime.sessions) as session:
            stored = stored_access_hashes(session, (row.case_id for row in rows if row.access_code is not None))
        return access_hashes(rows, stored, between=self._beat_if_due)

    def run(self, text: Iterable[str], *, after_reading: Callable[[], None] | None = None) -> ImportResult:
        with transaction(self.runtime.sessions) as session:
            known = known_component_ids(session)
        # Duplicates are found in SQL over the staging: the reader's own check keeps every case_id.
        self.reader = CasesReader(
            text, known_components=known, source=self.source, max_errors=MAX_ERRORS, check_duplicates=False
        )
        session = self.runtime.sessions()
        staging: Staging | None = None
        try:
            session.begin()
            staging = open_staging(session, self.job_id)
            held = session if staging.private else None
            if held is None:
                session.close()
            return self._read_check_merge(self.reader, staging, held, after_reading)
        except BaseException:
            if staging is not None:
                try:
                    staging.abort()
                except Exception:  # the connection is gone, say: the error that stopped the run is the one to tell
                    log.warning("import job %s: could not abort its staging", self.job_id, exc_info=True)
            raise
        finally:
            session.close()  # rolls back whatever did not commit, a private staging with it

    def _read_check_merge(
        self, reader: CasesReader, staging: Staging, held: Session | None, after_reading: Callable[[], None] | None
    ) -> ImportResult:
        self._report(Phase.READING)
        numbers = _RowNumbers()
        batch: list[tuple[int, CaseRow]] = []
        offset = None  # line - row number, which numbers need to know only when it changes
        try:
            for line, row in reader:
                if line - reader.rows_read != offset:
                    offset = line - reader.rows_read
                    numbers.note(line, reader.rows_read)
                batch.append((line, row))
                if len(batch) >= BATCH_ROWS:
                    self._stage(staging, held, batch)
                    batch = []
            self._stage(staging, held, batch)
        except ImportRejected as rejected:  # the header, or no rows at all: nothing further can be read
            return self._reject(rejected.errors, rejected.error_count, staging, held)
        if after_reading is not None:
            after_reading()

        self._report(Phase.CHECKING)
        with self._step(held) as session:
            staging.end(session)
            duplicate_count = staging.duplicate_count(session)
            duplicates = staging.duplicates(session, limit=MAX_ERRORS) if duplicate_count else []
        if reader.error_count or duplicate_count:
            repeated = [
                RowError(numbers.row(line), line, "case_id", f"{case_id!r} already appears on line {first}")
                for line, case_id, first in duplicates
            ]
            # Both lists are in file order and each holds the first MAX_ERRORS of its kind, so the first
            # MAX_ERRORS of the merged list are the first of the file.
            errors = sorted([*reader.errors, *repeated], key=lambda e: e.line)[:MAX_ERRORS]
            return self._reject(errors, reader.error_count + duplicate_count, staging, held)
        return self._merge(reader, staging, held)

    def _reject(self, errors: list[RowError], error_count: int, staging: Staging, held: Session | None) -> ImportResult:
        if held is not None:
            staging.abort()
            held.rollback()  # the staged rows go with the transaction
        message = f"{error_count} problem(s) in {self.source}; nothing was imported"
        with transaction(self.runtime.sessions) as session:
            _fence(
                session,
                self.job_id,
                self.attempt,
                state=ImportState.REJECTED,
                rows_read=self.rows_read(),
                imported=0,
                error_count=error_count,
                errors=[row_error_json(e) for e in errors],
                message=message,
                finished_at=self.runtime.clock(),
                heartbeat_at=None,
            )
            _clear_job_data(session, self.job_id)
        return ImportResult(
            job_id=self.job_id,
            state=ImportState.REJECTED,
            source=self.source,
            rows_read=self.rows_read(),
            error_count=error_count,
            errors=errors,
            message=message,
        )

    def _merge(self, reader: CasesReader, staging: Staging, held: Session | None) -> ImportResult:
        self._report(Phase.MERGING)
        now = self.runtime.clock()
        message = f"imported {self.staged} case(s) from {self.source}"
        # One transaction: the cases, their components, the relief owed and the job's success commit together.
        with ExitStack() as stack:
            session = held if held is not None else stack.enter_context(transaction(self.runtime.sessions))
            # First: on PostgreSQL it locks the job's row, so a takeover waits until this commits (then finds
            # the job done) or fails (then finds the job its own).
            _fence(
                session,
                self.job_id,
                self.attempt,
                state=ImportState.SUCCEEDED,
                rows_read=self.rows_read(),
                imported=self.staged,
                error_count=0,
                errors=[],
                message=message,
                finished_at=now,
                heartbeat_at=None,
            )
            staging.merge(session, now=now, columns=reader.optional_columns)
            deliveries: list[int] = []
            outage_ids: list[int] = []
            if reader.min_deadline is not None and reader.max_deadline is not None:
                deliveries, outage_ids = owe_imported_cases(
                    session,
                    subject=_relief_subject(self.job_id),
                    start=reader.min_deadline,
                    end=reader.max_deadline,
                    cases=self.staged,
                    now=now,
                    extra={"job_id": self.job_id},
                )
            # In the same transaction, so a crash never leaves a finished job's staging behind for nobody.
            _clear_job_data(session, self.job_id)
            if held is not None:
                held.commit()
        self._report(Phase.RELIEF)
        granted = relieve_now(self.runtime, deliveries)
        return ImportResult(
            job_id=self.job_id,
            state=ImportState.SUCCEEDED,
            source=self.source,
            rows_read=self.rows_read(),
            imported=self.staged,
            message=message,
            outage_ids=outage_ids,
            granted=granted,
        )


def _relief_subject(job_id: str) -> str:
    return f"import:{job_id}"


def _clear_job_data(session: Session, job_id: str) -> None:
    clear_staging(session, job_id)
    session.execute(delete(ImportChunk).where(ImportChunk.job_id == job_id))


def _release(runtime: Runtime, job_id: str, attempt: int, source: str, error: str, *, retry: bool) -> ImportResult:
    """After a failed attempt: queued again (sent again by the sweeper after REDISPATCH_AFTER), or failed."""
    now = runtime.clock()
    give_up = not retry or attempt >= MAX_ATTEMPTS
    if give_up:
        state, message = ImportState.FAILED, _gave_up(attempt, error)
    else:
        state, message = ImportState.QUEUED, f"attempt {attempt} of {MAX_ATTEMPTS} failed ({error}); will retry"
    try:
        with transaction(runtime.sessions) as session:
            if give_up:
                _fence(session, job_id, attempt, state=state, message=message, finished_at=now, heartbeat_at=None)
                _clear_job_data(session, job_id)
            else:
                # heartbeat_at of a queued job: when it was last sent, so the retry waits REDISPATCH_AFTER.
                _fence(session, job_id, attempt, state=state, message=message[:4000], heartbeat_at=now)
    except LostClaim:
        return ImportResult(job_id=job_id, state=ImportState.RUNNING, source=source, message="taken over")
    except Exception:
        # Storage is still down: the job stays running, its heartbeat goes stale, and the sweeper takes it.
        log.exception("import job %s: could not record the failure of attempt %s", job_id, attempt)
        state = ImportState.RUNNING
    return ImportResult(job_id=job_id, state=state, source=source, message=message)


def _gave_up(attempts: int, last_error: str | None) -> str:
    why = f" The last problem: {last_error}" if last_error else ""
    return f"the import could not run after {attempts} attempt(s); nothing was imported.{why}"[:4000]


# --- the sweeper ---------------------------------------------------------------------------------


def stuck_imports(runtime: Runtime) -> list[str]:
    """Jobs to send to a worker again: queued and not picked up, or running on a worker that stopped beating.

    Also gives up on jobs that have used MAX_ATTEMPTS, and clears uploads that stopped arriving. Each job is
    taken with a conditional UPDATE, so two sweepers never both send it; a job sent twice anyway is claimed once.
    """
    now = runtime.clock()
    with transaction(runtime.sessions) as session:
        exhausted = list(
            session.scalars(
                select(ImportJob.id).where(
                    ImportJob.attempts >= MAX_ATTEMPTS,
                    or_(
                        ImportJob.state == ImportState.QUEUED,
                        and_(ImportJob.state == ImportState.RUNNING, _stale(now)),
                    ),
                )
            )
        )
        abandoned = list(
            session.scalars(select(ImportJob.id).where(ImportJob.state == ImportState.UPLOADING, _stale(now)))
        )
        stopped = list(
            session.scalars(
                select(ImportJob.id).where(
                    ImportJob.state == ImportState.RUNNING,
                    ImportJob.attempts < MAX_ATTEMPTS,
                    _stale(now),
                    ~_foreground(),
                )
            )
        )
        foreground_stopped = list(session.scalars(select(ImportJob.id).where(_foreground(), _stale(now))))
        waiting = list(
            session.scalars(
                select(ImportJob.id).where(
                    ImportJob.state == ImportState.QUEUED,
                    ImportJob.attempts < MAX_ATTEMPTS,
                    or_(
                        ImportJob.heartbeat_at.is_(None),
                        ImportJob.heartbeat_at < now - REDISPATCH_AFTER,
                        ImportJob.heartbeat_at > now + STALE_AFTER,  # the clock stepped back
                    ),
                )
            )
        )
        send: list[str] = []
        for job_id in stopped:
            # Queued again rather than left running: a stale running job would be sent on every sweep.
            result = session.execute(
                _update()
                .where(ImportJob.id == job_id, ImportJob.state == ImportState.RUNNING, _stale(now))
                .values(state=ImportState.QUEUED, heartbeat_at=now)
            )
            if _rowcount(result) == 1:
                log.warning("import job %s: its worker stopped; sending it again", job_id)
                send.append(job_id)
        for job_id in waiting:
            result = session.execute(
                _update().where(ImportJob.id == job_id, ImportJob.state == ImportState.QUEUED).values(heartbeat_at=now)
            )
            if _rowcount(result) == 1:
                send.append(job_id)
    for job_id in exhausted:
        _give_up(runtime, job_id, now)
    for job_id in foreground_stopped:
        _fail_stopped_foreground(runtime, job_id, now)
    for job_id in abandoned:
        _clear_abandoned_upload(runtime, job_id, now)
    return send


def _give_up(runtime: Runtime, job_id: str, now: datetime) -> None:
    with transaction(runtime.sessions) as session:
        job = session.get(ImportJob, job_id)
        if job is None or job.attempts < MAX_ATTEMPTS:
            return
        result = session.execute(
            _update()
            .where(
                ImportJob.id == job_id,
                or_(ImportJob.state == ImportState.QUEUED, and_(ImportJob.state == ImportState.RUNNING, _stale(now))),
            )
            .values(
                state=ImportState.FAILED,
                message=_gave_up(job.attempts, job.message),
                finished_at=now,
                heartbeat_at=None,
            )
        )
        if _rowcount(result) == 1:
            log.error("import job %s failed after %s attempts", job_id, job.attempts)
            _clear_job_data(session, job_id)


def _fail_stopped_foreground(runtime: Runtime, job_id: str, now: datetime) -> None:
    with transaction(runtime.sessions) as session:
        result = session.execute(
            _update()
            .where(ImportJob.id == job_id, _foreground(), _stale(now))
            .values(state=ImportState.FAILED, message=FOREGROUND_STOPPED, finished_at=now, heartbeat_at=None)
        )
        if _rowcount(result) == 1:
            log.error("import job %s: the command line running it stopped; marked failed", job_id)
            _clear_job_data(session, job_id)


def _clear_abandoned_upload(runtime: Runtime, job_id: str, now: datetime) -> None:
    with transaction(runtime.sessions) as session:
        result = session.execute(
            _update()
            .where(ImportJob.id == job_id, ImportJob.state == ImportState.UPLOADING)
            .values(state=ImportState.FAILED, message=UPLOAD_INTERRUPTED, finished_at=now, heartbeat_at=None)
        )
        if _rowcount(result) == 1:
            _clear_job_data(session, job_id)


# --- reading a job's status ----------------------------------------------------------------------


def job_view(session: Session, job_id: str) -> ImportJobView | None:
    job = session.get(ImportJob, job_id)
    if job is None:
        return None
    outage_ids: list[int] | None = None
    if job.state == ImportState.SUCCEEDED:
        # Through the relief delivery, whose (consumer, subject) is indexed; no event: no outage owed relief.
        payload = session.scalar(
            select(OutboxEvent.payload)
            .join(Delivery, Delivery.event_id == OutboxEvent.id)
            .where(Delivery.consumer == Consumer.RELIEF, Delivery.subject == _relief_subject(job_id))
            .limit(1)
        )
        outage_ids = [int(i) for i in (payload or {}).get("outage_ids", [])]
    return ImportJobView(
        id=job.id,
        state=job.state,
        source=job.source,
        size_bytes=job.size_bytes,
        rows_read=job.rows_read,
        imported=job.imported,
        error_count=job.error_count,
        errors=list(job.errors or []),
        message=job.message,
        attempts=job.attempts,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        relief_for_outages=outage_ids,
    )
