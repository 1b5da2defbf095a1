"""How long granting relief takes at scale, on SQLite and PostgreSQL, checked for correctness as it goes.

Run it from the repository root:

    .venv/bin/python -m bench.relief [--cases 10000,100000] [--backends sqlite,postgresql]

For each back end and case count: a brand-new database (a SQLite file in a temporary directory, or a
PostgreSQL database created for the run and dropped afterwards), migrated, a four-component
configuration registered, N cases bulk-loaded with `store_cases`, and one closed outage on one
component. Then it times the first `grant_relief` run (which inserts the grants) and a re-run (which
must grant nothing). The number of grants is checked against an independent count of the cases on
that component whose deadline falls inside the window; any mismatch stops the run with an error.

PostgreSQL is reached through the admin URL in PORTALWATCH_BENCH_PG (default
postgresql+psycopg://postgres@127.0.0.1:5432/test); it must be allowed to CREATE and DROP DATABASE.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from exemptions.cases import CaseRow, store_cases
from exemptions.relief import grant_relief
from monitor.config import parse_config
from monitor.storage.engine import make_engine, make_sessionmaker, transaction, utcnow
from monitor.storage.migrate import migrate
from monitor.storage.models import Case, CaseComponent, Grant, Outage
from monitor.usecases.configure import apply_config

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

# Deadlines spread over 30 days; the outage window is 6 hours on day 12, and ~10% of deadlines fall in it.
SPREAD_START = datetime(2026, 6, 1, tzinfo=UTC)
SPREAD = timedelta(days=30)
WINDOW_START = datetime(2026, 6, 12, 13, 55, tzinfo=UTC)  # last successful check before the outage
WINDOW_END = WINDOW_START + timedelta(hours=6)  # first successful check after it
IN_WINDOW_SHARE = 0.10


class BenchFailed(Exception):
    """A correctness check or a required server failed; the message says which."""


@dataclass(frozen=True)
class Result:
    backend: str
    cases: int
    affected: int
    load_seconds: float
    first_run_seconds: float
    rerun_seconds: float

    @property
    def grants_per_second(self) -> float:
        return self.affected / self.first_run_seconds if self.first_run_seconds > 0 else float("inf")


def make_cases(count: int, seed: int = SEED) -> list[CaseRow]:
    """Deterministic cases: 1-2 components each, ~10 zones, ~10% of deadlines inside the outage window."""
    rng = random.Random(seed)
    zones = {name: ZoneInfo(name) for name in TIME_ZONES}
    spread = SPREAD.total_seconds()
    window = (WINDOW_END - WINDOW_START).total_seconds()
    rows: list[CaseRow] = []
    for number in range(1, count + 1):
        if rng.random() < IN_WINDOW_SHARE:
            deadline = WINDOW_START + timedelta(seconds=rng.uniform(0, window))
        else:
            deadline = SPREAD_START + timedelta(seconds=rng.uniform(0, spread))
        zone = rng.choice(TIME_ZONES)
        components = tuple(rng.sample(COMPONENTS, rng.randint(1, 2)))
        rows.append(
            CaseRow(
                case_id=f"CASE-{number:08d}",
                components=components,
                deadline=deadline.replace(microsecond=0).astimezone(zones[zone]),
                time_zone=zone,
            )
        )
    return rows


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


def expected_grants(sessions: sessionmaker[Session]) -> int:
    """Cases on the outage's component with a deadline inside the window, counted independently."""
    with transaction(sessions) as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(Case)
                .join(CaseComponent, CaseComponent.case_id == Case.case_id)
                .where(
                    CaseComponent.component_id == OUTAGE_COMPONENT,
                    Case.deadline >= WINDOW_START,
                    Case.deadline <= WINDOW_END,
                )
            )
            or 0
        )


def stored_grants(sessions: sessionmaker[Session], outage_id: int) -> int:
    with transaction(sessions) as session:
        return session.scalar(select(func.count()).select_from(Grant).where(Grant.outage_id == outage_id)) or 0


def timed_relief(sessions: sessionmaker[Session], outage_id: int, now: datetime) -> tuple[int, float]:
    """One grant_relief run in its own transaction, commit included: (grants made, seconds)."""
    began = time.perf_counter()
    with transaction(sessions) as session:
        granted = grant_relief(session, outage_id, now=now).granted
    return granted, time.perf_counter() - began


def bench_one(backend: str, rows: list[CaseRow]) -> Result:
    label = f"{backend} {len(rows):,} cases"
    with fresh_database(backend) as url:
        engine: Engine = make_engine(url)
        try:
            sessions = make_sessionmaker(engine)
            migrate(engine)
            with transaction(sessions) as session:
                apply_config(session, parse_config(CONFIG, source="bench-config.yaml"), now=utcnow())

            progress(f"{label}: loading…")
            began = time.perf_counter()
            with transaction(sessions) as session:
                stored = store_cases(session, rows)
            load_seconds = time.perf_counter() - began
            if stored != len(rows):
                raise BenchFailed(f"{label}: store_cases stored {stored} cases, expected {len(rows)}")

            outage_id = add_outage(sessions)
            expected = expected_grants(sessions)
            now = WINDOW_END + timedelta(minutes=10)

            progress(f"{label}: loaded in {load_seconds:.2f}s; granting relief ({expected:,} expected)…")
            granted, first_seconds = timed_relief(sessions, outage_id, now)
            if granted != expected:
                raise BenchFailed(
                    f"{label}: the first grant_relief run reported {granted:,} grants made, but {expected:,} cases "
                    f"on {OUTAGE_COMPONENT} have a deadline inside the outage window "
                    f"({stored_grants(sessions, outage_id):,} grants are stored for the outage)"
                )
            regranted, rerun_seconds = timed_relief(sessions, outage_id, now)
            if regranted != 0:
                raise BenchFailed(f"{label}: the re-run of grant_relief made {regranted:,} grants; it must make 0")
            in_table = stored_grants(sessions, outage_id)
            if in_table != expected:
                raise BenchFailed(f"{label}: {in_table:,} grants stored for the outage, expected {expected:,}")
        finally:
            engine.dispose()
    return Result(backend, len(rows), granted, load_seconds, first_seconds, rerun_seconds)


def progress(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


def render(results: list[Result]) -> str:
    header = ("backend", "cases", "affected", "load s", "relief 1st s", "re-run s", "grants/s")
    lines = [
        (
            r.backend,
            f"{r.cases:,}",
            f"{r.affected:,}",
            f"{r.load_seconds:.3f}",
            f"{r.first_run_seconds:.3f}",
            f"{r.rerun_seconds:.3f}",
            f"{r.grants_per_second:,.0f}",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]

    def fmt(row: tuple[str, ...]) -> str:
        cells = zip(row, widths, strict=True)
        return "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(cells))

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), rule, *(fmt(row) for row in lines)])


def parse_cases(value: str) -> list[int]:
    try:
        counts = [int(part.replace("_", "")) for part in value.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected case counts such as 10000,100000, got {value!r}") from None
    if not counts or any(c <= 0 for c in counts):
        raise argparse.ArgumentTypeError(f"case counts must be positive integers, got {value!r}")
    return counts


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.relief", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=parse_cases, default=[10_000, 100_000], help="default: 10000,100000")
    parser.add_argument("--backends", type=parse_backends, default=list(BACKENDS), help="default: sqlite,postgresql")
    args = parser.parse_args(argv)
    counts: list[int] = args.cases
    backends: list[str] = args.backends

    try:
        print_machine(backends)
        print(
            f"scenario: deadlines over {SPREAD.days} days, ~{IN_WINDOW_SHARE:.0%} inside a "
            f"{(WINDOW_END - WINDOW_START).total_seconds() / 3600:g}-hour closed outage of {OUTAGE_COMPONENT} "
            f"(1 of {len(COMPONENTS)} components), {len(TIME_ZONES)} time zones, seed {SEED}"
        )
        print(flush=True)

        results: list[Result] = []
        for count in counts:
            rows = make_cases(count)
            for backend in backends:
                results.append(bench_one(backend, rows))
    except BenchFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    print(render(results))
    print("\naffected = grants made by the first run (checked against an independent SQL count); re-runs granted 0.")
    print("Times include the commit; the load is store_cases for all N cases in one transaction.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
