"""How soon relief is committed after an outage is recorded, among millions of cases, on SQLite and PostgreSQL.

Run it from the repository root:

    .venv/bin/python -m bench.relief [--cases 100000] [--touched 27332] [--backends sqlite,postgresql] [--profile]

The large run, the issue's figure (2.4 M cases, one outage touching the 27,332 cases of a draw):

    .venv/bin/python -m bench.relief --cases 2400000 --touched 27332 --backends postgresql

For each back end: a brand-new database (a SQLite file in a temporary directory, or a PostgreSQL
database created for the run and dropped afterwards), migrated, four components registered, and
`--cases` cases bulk-loaded by a child process (PostgreSQL COPY, or one SQLite transaction), then
settled: VACUUM ANALYZE, as autovacuum would after a load, and a CHECKPOINT (SQLite: a WAL
checkpoint), so that the relief runs measured next do not pay for writing the load out.

Most cases are background: deadlines at any second of 2026, 1 or 2 of the 4 components, 10 time
zones, 5% not extendable. Two draws of `--touched` cases each have their deadline at 23:59:59 local,
in all 10 zones, on the night of one outage of the sign-in component: a Friday night in February
that the probes saw (recorded as an `Outage` and its outbox event in one transaction) and one in
March that ops declare (`declare_outage`). No background deadline lies between an outage's start and
two days after its end, so exactly the draw's cases get a decision; background deadlines in the day
before it are looked at (candidates) and left alone.

A second child process, the measuring one, then for each outage in turn:
1. records it and commits, and delivers its relief delivery through the outbox consumer (`deliver`);
   "relief s" is from the recording transaction's commit to the relief run's commit;
2. checks the result against independent SQL counts: a decision for every case of the draw and no
   other, one grant per case for the outage, one history row per case (granted, or flagged when not
   extendable), every extendable deadline moved later, no scratch rows left;
3. runs the consumer again for the same event ("re-run s"): it must change nothing and leave every
   relief table's row count as it was.
Its peak RSS (`ru_maxrss`) covers only the relief work and the interpreter, not the load.
`--profile` also prints, per run, the time of each engine phase and of the slowest SQL statements,
and on PostgreSQL the plans (EXPLAIN ANALYZE, through auto_explain) of statements over 50 ms.

PostgreSQL is reached through the admin URL in PORTALWATCH_BENCH_PG (default
postgresql+psycopg://postgres@127.0.0.1:5432/test); it must be allowed to CREATE and DROP DATABASE.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy
from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

import exemptions.relief.engine as relief_engine
import monitor.usecases.relief as relief_usecases
from exemptions.relief.engine import ReliefRun
from monitor.config import parse_config
from monitor.outbox.store import emit
from monitor.runtime import Runtime
from monitor.settings import Settings
from monitor.storage.engine import make_engine, make_sessionmaker, transaction, utcnow
from monitor.storage.enums import Consumer, DecisionChange, EndReason, EventKind, OutageSource, Severity
from monitor.storage.migrate import migrate
from monitor.storage.models import (
    Case,
    Delivery,
    Grant,
    Outage,
    OutboxEvent,
    PaperAuthorisation,
    ReliefDecision,
    ReliefHistory,
    ReliefRunCase,
    ReliefRunGroup,
    ReliefRunOutage,
)
from monitor.usecases.checks import outage_subject
from monitor.usecases.configure import apply_config
from monitor.usecases.deliver import Outcome, deliver
from monitor.usecases.outages import declare_outage

# --- shared with bench.imports: back ends, databases, the machine header, its scenario ----------

DEFAULT_PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = ("sqlite", "postgresql")
SEED = 20260610

COMPONENTS = ("pr-portal", "employer-portal", "citizenship-portal", "study-permit-portal")
OUTAGE_COMPONENT = "pr-portal"
CONFIG = """
page: {name: Benchmark portal status, url: "http://status.test/", time_zone: America/Toronto}
relief: {grace_days: 7}
components:
  - id: pr-portal
    name: Permanent residence portal
    probes: [{id: pr-home, type: http, url: "http://127.0.0.1:9/pr"}]
  - id: employer-portal
    name: Employer portal
    probes: [{id: employer-home, type: http, url: "http://127.0.0.1:9/employer"}]
  - id: citizenship-portal
    name: Citizenship portal
    probes: [{id: citizenship-home, type: http, url: "http://127.0.0.1:9/citizenship"}]
  - id: study-permit-portal
    name: Study permit portal
    probes: [{id: study-permit-home, type: http, url: "http://127.0.0.1:9/study"}]
"""

TIME_ZONES = (
    "America/Toronto",
    "America/Vancouver",
    "America/Edmonton",
    "America/Winnipeg",
    "America/Halifax",
    "America/St_Johns",
    "America/Regina",
    "Europe/Paris",
    "Asia/Kolkata",
    "Asia/Manila",
)

# bench.imports' cases: deadlines over 30 days; its outage is 6 hours on day 12 (see add_outage).
SPREAD_START = datetime(2026, 6, 1, tzinfo=UTC)
SPREAD = timedelta(days=30)
WINDOW_START = datetime(2026, 6, 12, 13, 55, tzinfo=UTC)  # last successful check before the outage
WINDOW_END = WINDOW_START + timedelta(hours=6)  # first successful check after it


class BenchFailed(Exception):
    """A correctness check or a required server failed; the message says which."""


def pg_admin_url() -> str:
    return os.environ.get("PORTALWATCH_BENCH_PG", DEFAULT_PG_ADMIN_URL)


def pg_server_version(admin_url: str) -> str:
    """The server's version; BenchFailed with the URL tried if it cannot be reached."""
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    shown = make_url(admin_url).render_as_string(hide_password=True)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SHOW server_version")).scalar_one())
    except Exception as exc:
        raise BenchFailed(
            f"PostgreSQL was asked for (--backends) but is not reachable at {shown} "
            f"(set PORTALWATCH_BENCH_PG to an admin URL): {exc}"
        ) from exc
    finally:
        engine.dispose()


@contextmanager
def fresh_database(backend: str) -> Iterator[str]:
    """The URL of a brand-new empty database, removed afterwards whatever happens."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="pw_bench_") as directory:
            yield f"sqlite:///{Path(directory) / 'portalwatch.db'}"
        return
    admin_url = pg_admin_url()
    name = f"pw_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def add_outage(sessions: sessionmaker[Session]) -> int:
    """bench.imports' closed outage of OUTAGE_COMPONENT (with CONFIG), over WINDOW_START..WINDOW_END."""
    with transaction(sessions) as session:
        outage = Outage(
            component_id=OUTAGE_COMPONENT,
            started_at=WINDOW_START + timedelta(minutes=5),
            last_ok_at=WINDOW_START,
            ended_at=WINDOW_END,
            detected_at=WINDOW_START + timedelta(minutes=7),
            resolved_at=WINDOW_END + timedelta(minutes=2),
            grace_days=7,
        )
        session.add(outage)
        session.flush()
        return outage.id


def print_machine(backends: list[str]) -> None:
    """The machine and versions a run measured, printed above its figures."""
    versions = [f"sqlalchemy {sqlalchemy.__version__}"]
    if "sqlite" in backends:
        versions.append(f"SQLite {sqlite3.sqlite_version}")
    if "postgresql" in backends:
        versions.append(f"PostgreSQL server {pg_server_version(pg_admin_url())}")
    print(f"machine:  {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}")
    print(f"versions: {', '.join(versions)}")


def parse_backends(value: str) -> list[str]:
    names = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [n for n in names if n not in BACKENDS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"backends must be among {', '.join(BACKENDS)}, got {value!r}")
    return list(dict.fromkeys(names))


# --- this benchmark's scenario ------------------------------------------------------------------

SIGN_IN = "sign-in"
PORTALS = (SIGN_IN, "pr-portal", "employer-portal", "citizenship-portal")
# The default relief policy: deadline day, last hour, long outage, 2 business days' grace, paper filing.
RELIEF_CONFIG = """
page: {name: Benchmark portal status, url: "http://status.test/", time_zone: America/Toronto}
components:
  - id: sign-in
    name: Sign-in portal
    probes: [{id: sign-in-home, type: http, url: "http://127.0.0.1:9/sign-in"}]
  - id: pr-portal
    name: Permanent residence portal
    probes: [{id: pr-home, type: http, url: "http://127.0.0.1:9/pr"}]
  - id: employer-portal
    name: Employer portal
    probes: [{id: employer-home, type: http, url: "http://127.0.0.1:9/employer"}]
  - id: citizenship-portal
    name: Citizenship portal
    probes: [{id: citizenship-home, type: http, url: "http://127.0.0.1:9/citizenship"}]
"""
ZONES = (
    "America/St_Johns",
    "America/Halifax",
    "America/Toronto",
    "America/Winnipeg",
    "America/Edmonton",
    "America/Vancouver",
    "Europe/Paris",
    "Asia/Karachi",
    "Asia/Kolkata",
    "Asia/Manila",
)
BACKGROUND_START = datetime(2026, 1, 1, tzinfo=UTC)
BACKGROUND_SPAN = timedelta(days=365)
NOT_EXTENDABLE_SHARE = 0.05
# After this long past an outage's end no rule can reach a deadline (the outage is shorter than a day,
# so the long-outage rule never applies): background deadlines stay out of [start, end + CLEAR].
CLEAR = timedelta(days=2)
LOAD_BATCH = 50_000


@dataclass(frozen=True)
class Night:
    """One outage of the sign-in component, and the draw of cases whose deadlines fall in its night."""

    kind: str  # "observed": the probes recorded it; "declared": ops declare it
    prefix: str  # the case ids of its draw
    start: datetime  # observed: the last good check before it; declared: the start ops give
    end: datetime  # the first good check after it; declared: the end ops give

    def draw_deadline(self, zone: str) -> datetime:
        """23:59:59 local on the local day the outage began: within the outage's reach in every zone."""
        tz = ZoneInfo(zone)
        local = self.start.astimezone(tz)
        if local.hour >= 23:
            raise BenchFailed(f"{self.kind} outage starts within an hour of midnight in {zone}: no draw deadline")
        return datetime.combine(local.date(), clock_time(23, 59, 59), tzinfo=tz).astimezone(UTC)


# Friday 13 February 2026, from 19:55 in Toronto to 00:10 in Vancouver (7 h 15 min); and a month later,
# after the switch to summer time, a night ops report, from 20:25 in Toronto to 00:40 in Vancouver.
NIGHTS = (
    Night("observed", "DRAW-OBS-", datetime(2026, 2, 14, 0, 55, tzinfo=UTC), datetime(2026, 2, 14, 8, 10, tzinfo=UTC)),
    Night("declared", "DRAW-DEC-", datetime(2026, 3, 14, 0, 25, tzinfo=UTC), datetime(2026, 3, 14, 7, 40, tzinfo=UTC)),
)
RECORDED_AFTER = timedelta(minutes=2)  # the clock when an outage is recorded: this long after its end


@dataclass(frozen=True)
class CaseSpec:
    case_id: str
    deadline: int  # seconds since the epoch, UTC
    zone: str
    extendable: bool
    components: tuple[str, ...]


def make_cases(cases: int, touched: int, seed: int = SEED) -> Iterator[CaseSpec]:
    """Deterministic cases, streamed: the background, and a draw of `touched` per night, interleaved."""
    if cases < len(NIGHTS) * touched:
        raise BenchFailed(f"--cases {cases:,} cannot hold {len(NIGHTS)} draws of --touched {touched:,} cases")
    rng = random.Random(seed)
    draw_of: dict[int, int] = {}
    for number, position in enumerate(rng.sample(range(cases), len(NIGHTS) * touched)):
        draw_of[position] = number % len(NIGHTS)
    drawn = [0] * len(NIGHTS)
    deadlines = [{zone: int(night.draw_deadline(zone).timestamp()) for zone in ZONES} for night in NIGHTS]
    cleared = [(int(night.start.timestamp()), int((night.end + CLEAR).timestamp())) for night in NIGHTS]
    first = int(BACKGROUND_START.timestamp())
    span = int(BACKGROUND_SPAN.total_seconds())
    others = PORTALS[1:]
    background = 0
    for position in range(cases):
        zone = rng.choice(ZONES)
        extendable = rng.random() >= NOT_EXTENDABLE_SHARE
        night = draw_of.get(position)
        if night is not None:
            drawn[night] += 1
            extra = rng.choice(others) if rng.random() < 0.5 else None
            yield CaseSpec(
                f"{NIGHTS[night].prefix}{drawn[night]:06d}",
                deadlines[night][zone],
                zone,
                extendable,
                (SIGN_IN,) if extra is None else (SIGN_IN, extra),
            )
            continue
        deadline = first + rng.randrange(span)
        while any(lo <= deadline <= hi for lo, hi in cleared):
            deadline = first + rng.randrange(span)
        background += 1
        yield CaseSpec(
            f"CASE-{background:08d}", deadline, zone, extendable, tuple(rng.sample(PORTALS, rng.randint(1, 2)))
        )


def _batches(rows: Iterable[CaseSpec], size: int) -> Iterator[list[CaseSpec]]:
    batch: list[CaseSpec] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _stamp(seconds: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))


def load_postgresql(engine: Engine, rows: Iterable[CaseSpec], created: datetime) -> tuple[int, int]:
    """COPY the cases and their components in one transaction; (cases, component links)."""
    stamp = created.strftime("%Y-%m-%d %H:%M:%S+00")
    raw = engine.raw_connection()
    cases = links = 0
    try:
        connection: Any = raw.driver_connection  # psycopg 3
        with connection.cursor() as cursor:
            for batch in _batches(rows, LOAD_BATCH):
                case_lines = "".join(
                    f"{r.case_id}\t{_stamp(r.deadline)}+00\t{r.zone}\t{'tf'[not r.extendable]}\t{stamp}\t{stamp}\n"
                    for r in batch
                )
                link_lines = "".join(f"{r.case_id}\t{c}\n" for r in batch for c in r.components)
                with cursor.copy(
                    "COPY cases (case_id, deadline, time_zone, extendable, created_at, updated_at) FROM STDIN"
                ) as copy:
                    copy.write(case_lines)
                with cursor.copy("COPY case_components (case_id, component_id) FROM STDIN") as copy:
                    copy.write(link_lines)
                cases += len(batch)
                links += sum(len(r.components) for r in batch)
        raw.commit()
    finally:
        raw.close()
    return cases, links


def load_sqlite(engine: Engine, rows: Iterable[CaseSpec], created: datetime) -> tuple[int, int]:
    """The same rows in one SQLite transaction, as the UTCDateTime column stores them (naive UTC text)."""
    stamp = created.strftime("%Y-%m-%d %H:%M:%S.000000")
    raw = engine.raw_connection()
    cases = links = 0
    try:
        connection: Any = raw.driver_connection  # sqlite3, in autocommit mode (make_engine)
        connection.execute("BEGIN IMMEDIATE")
        for batch in _batches(rows, LOAD_BATCH):
            connection.executemany(
                "INSERT INTO cases (case_id, deadline, time_zone, extendable, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(r.case_id, f"{_stamp(r.deadline)}.000000", r.zone, r.extendable, stamp, stamp) for r in batch],
            )
            connection.executemany(
                "INSERT INTO case_components (case_id, component_id) VALUES (?, ?)",
                [(r.case_id, c) for r in batch for c in r.components],
            )
            cases += len(batch)
            links += sum(len(r.components) for r in batch)
        connection.execute("COMMIT")
    finally:
        raw.close()
    return cases, links


@dataclass(frozen=True)
class Loaded:
    cases: int
    links: int
    load_seconds: float  # the rows, committed
    settle_seconds: float  # VACUUM ANALYZE of the two tables and a CHECKPOINT (SQLite: a WAL checkpoint)


def settle(engine: Engine) -> None:
    """Statistics as autovacuum would gather them, and the load's writes flushed before anything is measured."""
    if engine.dialect.name != "postgresql":
        raw = engine.raw_connection()
        try:
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
        finally:
            raw.close()
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE) cases")
        conn.exec_driver_sql("VACUUM (ANALYZE) case_components")
        try:
            conn.exec_driver_sql("CHECKPOINT")
        except DBAPIError as exc:  # needs superuser or the pg_checkpoint role
            progress(f"no CHECKPOINT after the load ({exc.orig}); the first relief run may pay for writing it out")


def load(backend: str, url: str, cases: int, touched: int) -> Loaded:
    """A migrated, configured database holding the scenario's cases (the setup, timed apart)."""
    engine = make_engine(url)
    try:
        migrate(engine)
        created = utcnow()
        with transaction(make_sessionmaker(engine)) as session:
            apply_config(session, parse_config(RELIEF_CONFIG, source="bench-relief.yaml"), now=created)
        began = time.perf_counter()
        loader = load_postgresql if backend == "postgresql" else load_sqlite
        stored, links = loader(engine, make_cases(cases, touched), created)
        loaded = time.perf_counter()
        settle(engine)
        settled = time.perf_counter()
        if stored != cases:
            raise BenchFailed(f"{backend}: {stored:,} cases loaded, expected {cases:,}")
        return Loaded(stored, links, loaded - began, settled - loaded)
    finally:
        engine.dispose()


# --- measuring, in a child process --------------------------------------------------------------


@dataclass
class Measured:
    backend: str
    kind: str  # observed | declared
    cases: int
    touched: int
    relief_seconds: float  # the recording transaction's commit → the relief run's commit
    delivered_seconds: float  # … → the delivery marked done
    rerun_seconds: float  # the consumer again for the same event, commit included
    candidates: int
    groups: int
    decided: int
    changes: dict[str, int]
    paper: int
    peak_rss_mib: float = 0.0
    baseline_rss_mib: float = 0.0
    load_seconds: float = 0.0
    settle_seconds: float = 0.0


COUNTED = {
    "relief_decisions": ReliefDecision,
    "relief_history": ReliefHistory,
    "grants": Grant,
    "paper_authorisations": PaperAuthorisation,
    "relief_run_cases": ReliefRunCase,
    "relief_run_groups": ReliefRunGroup,
    "relief_run_outages": ReliefRunOutage,
}
SCRATCH = ("relief_run_cases", "relief_run_groups", "relief_run_outages")


def row_counts(sessions: sessionmaker[Session]) -> dict[str, int]:
    with transaction(sessions) as session:
        return {name: session.scalar(select(func.count()).select_from(model)) or 0 for name, model in COUNTED.items()}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class Runs:
    """Every ReliefRun the consumer makes, with the moment its transaction committed."""

    def __init__(self) -> None:
        self.made: list[tuple[ReliefRun, float]] = []
        self._original = relief_usecases.run_scope

    def __enter__(self) -> Runs:
        original = self._original

        def run_scope(runtime: Runtime, scope: relief_engine.Scope) -> ReliefRun:
            run = original(runtime, scope)  # returns once its transaction has committed
            self.made.append((run, time.perf_counter()))
            return run

        relief_usecases.run_scope = run_scope
        return self

    def __exit__(self, *_exc: object) -> None:
        relief_usecases.run_scope = self._original

    def last(self, since: int, label: str) -> tuple[ReliefRun, float]:
        if len(self.made) != since + 1:
            raise BenchFailed(f"{label}: expected one relief run, the consumer made {len(self.made) - since}")
        return self.made[-1]


def record(runtime: Runtime, night: Night) -> tuple[int, int, int]:
    """Record the night's outage with its outbox event, committed: (outage id, event id, relief delivery id)."""
    now = runtime.clock()
    with transaction(runtime.sessions) as session:
        if night.kind == "observed":
            outage = Outage(
                component_id=SIGN_IN,
                source=OutageSource.OBSERVED,
                severity=Severity.MAJOR_OUTAGE,
                started_at=night.start + timedelta(minutes=5),
                last_ok_at=night.start,
                last_failed_at=night.end - timedelta(minutes=5),
                ended_at=night.end,
                end_reason=EndReason.RECOVERED,
                detected_at=night.start + timedelta(minutes=7),
                resolved_at=now,
                created_at=now,
                updated_at=now,
            )
            session.add(outage)
            session.flush()
            emit(
                session,
                EventKind.OUTAGE_RESOLVED,
                subject=outage_subject(outage.id),
                outage_id=outage.id,
                component_id=SIGN_IN,
                payload={"reason": EndReason.RECOVERED.value},
                now=now,
            )
        else:
            outage = declare_outage(
                session,
                component_id=SIGN_IN,
                started_at=night.start,
                ended_at=night.end,
                severity=Severity.MAJOR_OUTAGE,
                reason="The sign-in portal's operator reported it down for the night; the probes were not watching.",
                now=now,
            )
        delivery = session.execute(
            select(Delivery.id, Delivery.event_id).where(
                Delivery.consumer == Consumer.RELIEF,
                Delivery.event_id.in_(select(OutboxEvent.id).where(OutboxEvent.outage_id == outage.id)),
            )
        ).one()
        return outage.id, delivery.event_id, delivery.id


def expected_of(sessions: sessionmaker[Session], night: Night) -> tuple[int, int]:
    """(extendable, not extendable) cases of the night's draw, counted in SQL."""
    with transaction(sessions) as session:
        rows = dict(
            session.execute(
                select(Case.extendable, func.count())
                .where(Case.case_id.like(f"{night.prefix}%"))
                .group_by(Case.extendable)
            ).all()
        )
    return int(rows.get(True, 0)), int(rows.get(False, 0))


def check_first_run(
    sessions: sessionmaker[Session],
    night: Night,
    label: str,
    outage_id: int,
    run: ReliefRun,
    before: dict[str, int],
    after: dict[str, int],
    touched: int,
) -> None:
    extendable, fixed = expected_of(sessions, night)
    if extendable + fixed != touched:
        raise BenchFailed(f"{label}: the draw holds {extendable + fixed:,} cases, expected {touched:,}")
    with transaction(sessions) as session:
        in_draw = select(Case.case_id).where(Case.case_id.like(f"{night.prefix}%"))
        decided_in_draw = session.scalar(
            select(func.count()).select_from(ReliefDecision).where(ReliefDecision.case_id.in_(in_draw))
        )
        moved = session.scalar(
            select(func.count())
            .select_from(ReliefDecision)
            .join(Case, Case.case_id == ReliefDecision.case_id)
            .where(Case.case_id.in_(in_draw), ReliefDecision.effective_deadline > Case.deadline)
        )
        granted = session.scalar(select(func.count()).select_from(Grant).where(Grant.outage_id == outage_id))
    new = {name: after[name] - before[name] for name in after}
    problems = []
    if run.decided != touched:
        problems.append(f"the run reports {run.decided:,} cases decided")
    if new["relief_decisions"] != touched or decided_in_draw != touched:
        problems.append(
            f"{new['relief_decisions']:,} decisions were written, {decided_in_draw:,} of them for the draw's cases"
        )
    if granted != touched:
        problems.append(f"{granted:,} grants rest on outage {outage_id}")
    if new["relief_history"] != touched:
        problems.append(f"{new['relief_history']:,} history rows were written")
    wanted = {
        k: v for k, v in {DecisionChange.GRANTED.value: extendable, DecisionChange.FLAGGED.value: fixed}.items() if v
    }
    if run.changes != wanted:
        problems.append(f"the run reports changes {run.changes}, expected {wanted}")
    if moved != extendable:
        problems.append(f"{moved:,} deadlines moved later, expected the {extendable:,} extendable ones")
    if any(after[name] for name in SCRATCH):
        problems.append(f"scratch rows left: {[(name, after[name]) for name in SCRATCH if after[name]]}")
    if problems:
        raise BenchFailed(
            f"{label}: expected a decision for each of the draw's {touched:,} cases and no other; "
            + "; ".join(problems)
        )


def measure_night(
    runtime: Runtime, runs: Runs, night: Night, cases: int, touched: int, profiler: Profiler | None
) -> Measured:
    label = f"{runtime.engine.dialect.name} {cases:,} cases, {night.kind} outage"
    now = night.end + RECORDED_AFTER
    runtime.clock = lambda: now
    before = row_counts(runtime.sessions)

    progress(f"{label}: recording it and delivering its relief…")
    if profiler:
        profiler.start()
    count = len(runs.made)
    outage_id, event_id, delivery_id = record(runtime, night)
    recorded = time.perf_counter()
    delivered = deliver(runtime, delivery_id)
    done = time.perf_counter()
    if profiler:
        profiler.stop(f"{label}, first run")
    if delivered.outcome != Outcome.DONE:
        raise BenchFailed(f"{label}: the relief delivery ended {delivered.outcome}")
    run, committed = runs.last(count, label)
    after = row_counts(runtime.sessions)
    check_first_run(runtime.sessions, night, label, outage_id, run, before, after, touched)

    progress(
        f"{label}: {run.decided:,} decided, committed {committed - recorded:.2f}s after the outage was recorded "
        f"(delivery done at {done - recorded:.2f}s); running the consumer again…"
    )
    if profiler:
        profiler.start()
    count = len(runs.made)
    began = time.perf_counter()
    changed = relief_usecases.relieve_event(runtime, event_id)
    rerun_seconds = time.perf_counter() - began
    if profiler:
        profiler.stop(f"{label}, re-run")
    rerun, _ = runs.last(count, f"{label} (re-run)")
    again = row_counts(runtime.sessions)
    if changed or rerun.changed or rerun.paper or again != after:
        moved = {name: (after[name], again[name]) for name in after if after[name] != again[name]}
        raise BenchFailed(
            f"{label}: the re-run must change nothing; it reports {changed} change(s) {rerun.changes}, "
            f"{rerun.paper} paper authorisation(s), row counts (before, after) {moved}"
        )
    return Measured(
        backend=runtime.engine.dialect.name,
        kind=night.kind,
        cases=cases,
        touched=touched,
        relief_seconds=committed - recorded,
        delivered_seconds=done - recorded,
        rerun_seconds=rerun_seconds,
        candidates=run.candidates,
        groups=run.groups,
        decided=run.decided,
        changes=dict(run.changes),
        paper=run.paper,
    )


def measure(url: str, cases: int, touched: int, *, profile: bool = False) -> list[Measured]:
    """Both nights on a loaded database, one after the other; checked as they go."""
    runtime = Runtime.create(
        Settings.explicit(database_url=url), parse_config(RELIEF_CONFIG, source="bench-relief.yaml")
    )
    try:
        baseline = peak_rss_mib()
        counts = row_counts(runtime.sessions)
        if any(counts.values()):
            raise BenchFailed(f"relief tables are not empty before the first outage: {counts}")
        profiler = Profiler(runtime.engine) if profile else None
        with Runs() as runs:
            measured = [measure_night(runtime, runs, night, cases, touched, profiler) for night in NIGHTS]
        peak = peak_rss_mib()
        for m in measured:
            m.peak_rss_mib, m.baseline_rss_mib = peak, baseline
        return measured
    finally:
        runtime.close()


# --- profiling (--profile) ----------------------------------------------------------------------

PHASES = (
    "load_record",
    "counted_spans",
    "deadline_ranges",
    "_stage_candidates",
    "_decide_groups",
    "decide",
    "_apply",
    "_link_grants",
    "_paper",
)
EXPLAIN_OVER_MS = 50


@dataclass
class Profiler:
    """Time spent per engine phase and per SQL statement while started; plans of slow ones on PostgreSQL."""

    engine: Engine
    phases: dict[str, list[float]] = field(default_factory=lambda: defaultdict(lambda: [0.0, 0.0]))
    statements: dict[str, list[float]] = field(default_factory=lambda: defaultdict(lambda: [0.0, 0.0]))
    plans: list[str] = field(default_factory=list)
    _originals: dict[str, Callable[..., Any]] = field(default_factory=dict)
    _on: bool = False

    def __post_init__(self) -> None:
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        if self.engine.dialect.name == "postgresql":
            event.listen(self.engine, "connect", self._auto_explain)
            self.engine.dispose()  # new connections, with auto_explain loaded

    def _auto_explain(self, dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.add_notice_handler(self._notice)
        try:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("LOAD 'auto_explain'")  # needs superuser, or the module in $libdir/plugins
                cursor.execute(f"SET auto_explain.log_min_duration = {EXPLAIN_OVER_MS}")
                for setting in ("log_analyze", "log_buffers", "log_timing", "log_triggers"):
                    cursor.execute(f"SET auto_explain.{setting} = on")
                cursor.execute("SET auto_explain.log_level = 'notice'")
            dbapi_connection.commit()
        except Exception as exc:  # the plans are a bonus: time the phases and statements without them
            dbapi_connection.rollback()
            progress(f"no plans: auto_explain could not be loaded ({exc})")

    def _notice(self, diagnostic: Any) -> None:
        if self._on and "duration:" in (diagnostic.message_primary or ""):
            self.plans.append(diagnostic.message_primary)

    def _before(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def _after(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        began = conn.info["bench_started"].pop()
        if self._on:
            key = " ".join(statement.split())[:110]
            entry = self.statements[key]
            entry[0] += time.perf_counter() - began
            entry[1] += 1

    def start(self) -> None:
        self.phases.clear()
        self.statements.clear()
        self.plans.clear()
        for name in PHASES:
            original = getattr(relief_engine, name)
            self._originals[name] = original
            setattr(relief_engine, name, self._timed(name, original))
        self._on = True

    def _timed(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                entry = self.phases[name]
                entry[0] += time.perf_counter() - began
                entry[1] += 1

        return timed

    def stop(self, title: str) -> None:
        self._on = False
        for name, original in self._originals.items():
            setattr(relief_engine, name, original)
        self._originals.clear()
        lines = [
            f"profile: {title}",
            "  engine phases (s, calls; _apply includes _link_grants, _decide_groups decide):",
        ]
        lines += [f"    {self.phases[n][0]:8.3f} {int(self.phases[n][1]):6d}  {n}" for n in PHASES if n in self.phases]
        lines.append("  SQL statements, slowest first (s, calls, statement):")
        slowest = sorted(self.statements.items(), key=lambda item: -item[1][0])[:12]
        lines += [f"    {seconds:8.3f} {int(calls):6d}  {key}" for key, (seconds, calls) in slowest]
        for plan in self.plans:
            lines.append("  plan: " + plan.replace("\n", "\n    "))
        print("\n".join(lines), file=sys.stderr, flush=True)


# --- the parent: one fresh database and two child processes per back end -----------------------

URL_VARIABLE = "PORTALWATCH_BENCH_URL"  # the child's database; never on the command line (passwords)


def run_child(step: str, url: str, *args: str) -> Any:
    command = [sys.executable, "-m", "bench.relief", "--child", step, *args]
    done = subprocess.run(
        command, stdout=subprocess.PIPE, text=True, check=False, env={**os.environ, URL_VARIABLE: url}
    )
    if done.returncode != 0:
        raise BenchFailed(f"the {step} process failed (exit {done.returncode}); its error is above")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_backend(backend: str, cases: int, touched: int, profile: bool) -> list[Measured]:
    with fresh_database(backend) as url:
        progress(f"{backend}: loading {cases:,} cases…")
        loaded = Loaded(**run_child("load", url, backend, str(cases), str(touched)))
        progress(f"{backend}: loaded in {loaded.load_seconds:.1f}s, settled in {loaded.settle_seconds:.1f}s")
        extra = ["--profile"] if profile else []
        measured = [Measured(**m) for m in run_child("measure", url, str(cases), str(touched), *extra)]
    for m in measured:
        m.load_seconds, m.settle_seconds = loaded.load_seconds, loaded.settle_seconds
    return measured


def progress(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


def render(results: list[Measured]) -> str:
    header = (
        "backend",
        "cases",
        "outage",
        "load s",
        "relief s",
        "re-run s",
        "decided",
        "candidates",
        "groups",
        "peak RSS MiB",
    )
    lines = []
    for r in results:
        first = r.kind == NIGHTS[0].kind
        lines.append(
            (
                r.backend,
                f"{r.cases:,}",
                r.kind,
                f"{r.load_seconds + r.settle_seconds:.1f}" if first else "",
                f"{r.relief_seconds:.2f}",
                f"{r.rerun_seconds:.2f}",
                f"{r.decided:,}",
                f"{r.candidates:,}",
                f"{r.groups:,}",
                f"{r.peak_rss_mib:.0f} (base {r.baseline_rss_mib:.0f})" if first else "",
            )
        )
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]

    def fmt(row: tuple[str, ...]) -> str:
        cells = zip(row, widths, strict=True)
        return "  ".join(cell.ljust(w) if i in (0, 2) else cell.rjust(w) for i, (cell, w) in enumerate(cells))

    return "\n".join([fmt(header), "  ".join("-" * w for w in widths), *(fmt(row) for row in lines)])


FOOTNOTE = """
relief s: from the commit of the transaction recording the outage (with its outbox event) to the commit of the
  relief run its outbox delivery made. re-run s: the consumer again for the same event; it changed nothing.
decided: cases given a decision, each checked against independent SQL counts; candidates: cases looked at;
  groups: distinct (deadline, zone, extendable, components) the policy decided.
load s: setup, not relief: COPY, VACUUM ANALYZE and CHECKPOINT (SQLite: one transaction and a WAL checkpoint).
peak RSS: the measuring process's ru_maxrss over both outages; base: before the first one."""


def count(value: str) -> int:
    try:
        number = int(value.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value!r}")
    return number


def child(argv: list[str]) -> int:
    url = os.environ[URL_VARIABLE]
    try:
        if argv[0] == "load":
            backend, cases, touched = argv[1], int(argv[2]), int(argv[3])
            print(json.dumps(asdict(load(backend, url, cases, touched))))
        else:
            cases, touched = int(argv[1]), int(argv[2])
            measured = measure(url, cases, touched, profile="--profile" in argv[3:])
            print(json.dumps([asdict(m) for m in measured]))
    except BenchFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m bench.relief", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=count, default=100_000, help="cases in all, draws included (default 100000)")
    parser.add_argument("--touched", type=count, default=27_332, help="cases each outage touches (default 27332)")
    parser.add_argument("--backends", type=parse_backends, default=list(BACKENDS), help="default: sqlite,postgresql")
    parser.add_argument("--profile", action="store_true", help="print per-phase and per-statement times")
    args = parser.parse_args(argv)
    backends: list[str] = args.backends
    cases: int = args.cases
    touched: int = args.touched

    try:
        if cases < len(NIGHTS) * touched:
            raise BenchFailed(f"--cases {cases:,} cannot hold {len(NIGHTS)} draws of --touched {touched:,} cases")
        print_machine(backends)
        print(
            f"scenario: {cases:,} cases (deadlines over 2026, 1 or 2 of {len(PORTALS)} components, {len(ZONES)} zones, "
            f"{NOT_EXTENDABLE_SHARE:.0%} not extendable, seed {SEED});\n"
            f"          per outage of {SIGN_IN} ("
            + ", ".join(f"{n.kind} {n.start:%d %b %H:%M}–{n.end:%H:%M} UTC" for n in NIGHTS)
            + f"): a draw of {touched:,} cases due 23:59:59 local that night"
        )
        print(flush=True)
        results: list[Measured] = []
        for backend in backends:
            results.extend(bench_backend(backend, cases, touched, args.profile))
    except BenchFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    print(render(results))
    print(FOOTNOTE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
