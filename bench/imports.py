"""How fast a large cases import runs as a job, and how much memory it takes, on SQLite and PostgreSQL.

Run it from the repository root:

    .venv/bin/python -m bench.imports [--rows 1000000] [--backends sqlite,postgresql] [--bad-mb 100]

It writes two CSV files to a temporary directory: `--rows` valid cases (deadlines over 30 days, 1 or 2 of 4
components, 10 time zones, seeded), and about `--bad-mb` MB of rows that each have three problems (unknown
component, unknown time zone, impossible date). Each measurement runs in a child process of its own, so the
peak RSS it reports is that import's alone: a brand-new database (bench.relief's), migrated and configured,
one closed outage, then the job path the API and the CLI share: `create_job` stores the file in 1 MiB chunks,
`run_import` reads them back through the CasesReader, stages the rows in batches, checks for repeated case
ids in SQL and merges everything in one transaction. Each run is checked: every case stored (valid file), or
the job rejected with exactly 1000 problems listed and every one counted (bad file).

PostgreSQL is reached as bench.relief does, through PORTALWATCH_BENCH_PG.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from bench.relief import (
    BACKENDS,
    COMPONENTS,
    CONFIG,
    SEED,
    SPREAD,
    SPREAD_START,
    TIME_ZONES,
    BenchFailed,
    add_outage,
    fresh_database,
    parse_backends,
    print_machine,
)
from monitor.config import parse_config
from monitor.runtime import Runtime
from monitor.settings import Settings
from monitor.storage.engine import transaction, utcnow
from monitor.storage.enums import ImportState
from monitor.storage.migrate import migrate
from monitor.storage.models import Case, ImportChunk, ImportRow
from monitor.usecases import imports
from monitor.usecases.configure import apply_config

HEADER = "case_id,components,deadline,time_zone\n"
BAD_ROW = "BAD-{:09d},visa-portal,2026-13-45T10:00:00-05:00,Mars/Olympus\n"
BAD_PROBLEMS_PER_ROW = 3


@dataclass(frozen=True)
class Measured:
    backend: str
    kind: str  # valid | bad
    rows: int
    size_bytes: int
    upload_seconds: float
    read_seconds: float  # reading, checking and staging every row
    check_seconds: float  # repeated case ids, in SQL
    merge_seconds: float  # the one transaction: cases, components, relief owed, the job's success
    relief_seconds: float
    total_seconds: float
    baseline_rss_mib: float  # the child before the import: interpreter, SQLAlchemy, a migrated database
    peak_rss_mib: float
    state: str
    error_count: int
    errors_kept: int
    errors_json_bytes: int

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.total_seconds if self.total_seconds > 0 else float("inf")


def write_valid_csv(path: Path, rows: int) -> int:
    rng = random.Random(SEED)
    spread = int(SPREAD.total_seconds())
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER)
        for number in range(1, rows + 1):
            deadline = (SPREAD_START + timedelta(seconds=rng.randrange(spread))).isoformat()
            components = ";".join(rng.sample(COMPONENTS, rng.randint(1, 2)))
            out.write(f"CASE-{number:08d},{components},{deadline},{rng.choice(TIME_ZONES)}\n")
    return path.stat().st_size


def write_bad_csv(path: Path, megabytes: float) -> int:
    """About `megabytes` MB of rows with three problems each; returns the number of rows."""
    target = int(megabytes * 1_000_000)
    rows = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        size = out.write(HEADER)
        while size < target:
            size += out.write(BAD_ROW.format(rows))
            rows += 1
    return rows


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# --- one measurement, in a child process ---------------------------------------------------------


def measure(backend: str, path: Path, kind: str, rows: int) -> Measured:
    label = f"{backend} {kind} {rows:,} rows"
    with fresh_database(backend) as url:
        runtime = Runtime.create(Settings.explicit(database_url=url), parse_config(CONFIG, source="bench-config.yaml"))
        try:
            migrate(runtime.engine)
            with transaction(runtime.sessions) as session:
                apply_config(session, runtime.config, now=utcnow())
            outage_id = add_outage(runtime.sessions)
            baseline = peak_rss_mib()

            phases: dict[str, float] = {}
            current = {"phase": "reading"}
            since = [time.perf_counter()]

            def progress(phase: imports.Phase, _rows: int) -> None:
                if phase.value != current["phase"]:
                    now = time.perf_counter()
                    phases[current["phase"]] = now - since[0]
                    current["phase"], since[0] = phase.value, now

            began = time.perf_counter()
            with path.open("rb") as file:
                job_id = imports.create_job(
                    runtime, iter(lambda: file.read(imports.CHUNK_BYTES), b""), source=path.name
                )
            uploaded = since[0] = time.perf_counter()
            result = imports.run_import(runtime, job_id, progress=progress)
            ended = time.perf_counter()
            phases[current["phase"]] = ended - since[0]
            if result is None:
                raise BenchFailed(f"{label}: the job could not be claimed")

            with transaction(runtime.sessions) as session:
                cases = session.scalar(select(func.count()).select_from(Case)) or 0
                leftovers = sum(
                    session.scalar(select(func.count()).select_from(model)) or 0 for model in (ImportRow, ImportChunk)
                )
                view = imports.job_view(session, job_id)
            if view is None or leftovers:
                raise BenchFailed(f"{label}: the job's row is gone or {leftovers} staging/chunk rows were left")
            if kind == "valid":
                if result.state != ImportState.SUCCEEDED or result.imported != rows or cases != rows:
                    raise BenchFailed(
                        f"{label}: job {result.state}, {result.imported:,} imported, {cases:,} cases stored; "
                        f"expected {rows:,} ({result.message})"
                    )
                if view.relief_for_outages != [outage_id]:
                    raise BenchFailed(f"{label}: relief owed for {view.relief_for_outages}, expected [{outage_id}]")
            else:
                expected = rows * BAD_PROBLEMS_PER_ROW
                if (result.state, result.error_count, len(view.errors), cases) != (
                    ImportState.REJECTED,
                    expected,
                    imports.MAX_ERRORS,
                    0,
                ):
                    raise BenchFailed(
                        f"{label}: job {result.state} with {result.error_count:,} problems counted, "
                        f"{len(view.errors)} kept, {cases} cases stored; expected rejected, {expected:,}, "
                        f"{imports.MAX_ERRORS}, 0"
                    )
            return Measured(
                backend=backend,
                kind=kind,
                rows=rows,
                size_bytes=path.stat().st_size,
                upload_seconds=uploaded - began,
                read_seconds=phases.get("reading", 0.0),
                check_seconds=phases.get("checking", 0.0),
                merge_seconds=phases.get("merging", 0.0),
                relief_seconds=phases.get("relief", 0.0),
                total_seconds=ended - began,
                baseline_rss_mib=baseline,
                peak_rss_mib=peak_rss_mib(),
                state=result.state.value,
                error_count=result.error_count,
                errors_kept=len(view.errors),
                errors_json_bytes=len(json.dumps(view.errors)),
            )
        finally:
            runtime.close()


def run_child(backend: str, path: Path, kind: str, rows: int) -> Measured:
    command = [sys.executable, "-m", "bench.imports", "--child", backend, kind, str(path), str(rows)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    sys.stderr.write(done.stderr)
    if done.returncode != 0:
        raise BenchFailed(f"{backend} {kind}: the measuring process failed (exit {done.returncode})")
    return Measured(**json.loads(done.stdout.strip().splitlines()[-1]))


# --- the report --------------------------------------------------------------------------------


def table(header: tuple[str, ...], lines: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]

    def fmt(row: tuple[str, ...]) -> str:
        cells = zip(row, widths, strict=True)
        return "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(cells))

    return "\n".join([fmt(header), "  ".join("-" * w for w in widths), *(fmt(row) for row in lines)])


def render(results: list[Measured]) -> str:
    valid = [r for r in results if r.kind == "valid"]
    bad = [r for r in results if r.kind == "bad"]
    parts = []
    if valid:
        parts.append(
            table(
                (
                    "backend",
                    "rows",
                    "MB",
                    "upload s",
                    "read s",
                    "check s",
                    "merge s",
                    "total s",
                    "rows/s",
                    "peak RSS MiB",
                ),
                [
                    (
                        r.backend,
                        f"{r.rows:,}",
                        f"{r.size_bytes / 1e6:.0f}",
                        f"{r.upload_seconds:.1f}",
                        f"{r.read_seconds:.1f}",
                        f"{r.check_seconds:.1f}",
                        f"{r.merge_seconds:.1f}",
                        f"{r.total_seconds:.1f}",
                        f"{r.rows_per_second:,.0f}",
                        f"{r.peak_rss_mib:.0f} (base {r.baseline_rss_mib:.0f})",
                    )
                    for r in valid
                ],
            )
        )
    if bad:
        parts.append(
            table(
                ("bad rows", "rows", "MB", "total s", "rows/s", "problems", "kept", "kept JSON KB", "peak RSS MiB"),
                [
                    (
                        r.backend,
                        f"{r.rows:,}",
                        f"{r.size_bytes / 1e6:.0f}",
                        f"{r.total_seconds:.1f}",
                        f"{r.rows_per_second:,.0f}",
                        f"{r.error_count:,}",
                        f"{r.errors_kept:,}",
                        f"{r.errors_json_bytes / 1000:.0f}",
                        f"{r.peak_rss_mib:.0f} (base {r.baseline_rss_mib:.0f})",
                    )
                    for r in bad
                ],
            )
        )
    return "\n\n".join(parts)


def positive(value: str) -> float:
    try:
        number = float(value.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value!r}")
    return number


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        child_backend, kind, path, child_rows = argv[1:5]
        try:
            measured = measure(child_backend, Path(path), kind, int(child_rows))
        except BenchFailed as exc:
            print(f"FAILED: {exc}", file=sys.stderr)
            return 1
        print(json.dumps(measured.__dict__))
        return 0

    parser = argparse.ArgumentParser(prog="python -m bench.imports", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=positive, default=1_000_000, help="valid rows (default 1000000)")
    parser.add_argument("--backends", type=parse_backends, default=list(BACKENDS), help="default: sqlite,postgresql")
    parser.add_argument("--bad-mb", type=float, default=100.0, help="MB of bad rows (default 100; 0 to skip)")
    args = parser.parse_args(argv)
    backends: list[str] = args.backends
    rows = int(args.rows)

    try:
        print_machine(backends)
        print(
            f"job:      {imports.CHUNK_BYTES // 1024} KiB chunks, {imports.BATCH_ROWS:,} rows staged per transaction, "
            f"{imports.MAX_ERRORS} problems kept"
        )
        print(flush=True)
        results: list[Measured] = []
        with tempfile.TemporaryDirectory(prefix="pw_bench_imports_") as directory:
            valid = Path(directory) / "cases.csv"
            print(f"  … writing {rows:,} valid rows", file=sys.stderr, flush=True)
            write_valid_csv(valid, rows)
            for backend in backends:
                print(f"  … {backend}: importing {rows:,} rows", file=sys.stderr, flush=True)
                results.append(run_child(backend, valid, "valid", rows))
            if args.bad_mb > 0:
                bad = Path(directory) / "bad.csv"
                bad_rows = write_bad_csv(bad, args.bad_mb)
                for backend in backends:
                    print(f"  … {backend}: importing {args.bad_mb:g} MB of bad rows", file=sys.stderr, flush=True)
                    results.append(run_child(backend, bad, "bad", bad_rows))
    except BenchFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    print(render(results))
    print(
        "\ntotal = upload + read + check + merge + relief, commits included; rows/s = rows / total. "
        "merge s is the one transaction\n(on SQLite it holds the database's write lock that long). "
        "Peak RSS is the measuring process's (ru_maxrss); base is before the upload."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
