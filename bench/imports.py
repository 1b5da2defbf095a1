"""How fast a large cases import runs, and how much memory it takes, on SQLite and PostgreSQL.

Run it from the repository root:

    .venv/bin/python -m bench.imports [--rows 1000000] [--backends sqlite,postgresql] [--bad-mb 100]
                                      [--via job,cli]

It writes two CSV files to a temporary directory: `--rows` valid cases (deadlines over 30 days, 1 or 2 of 4
components, 10 time zones, seeded), and about `--bad-mb` MB of rows that each have three problems (unknown
component, unknown time zone, impossible date). Each measurement runs on a brand-new database (bench.relief's),
migrated and configured, with one closed outage, in a process of its own, so the peak RSS it reports is that
import's alone:

- `--via job`: the path of a large upload to the API, in a child process: `create_job` stores the file in
  1 MiB chunks, `run_import` reads them back through the CasesReader, stages the rows, checks for repeated
  case ids in SQL and merges everything in one transaction.
- `--via cli`: `python -m exemptions import-cases FILE --config FILE` itself, as a person runs it, timed from
  its start to its exit; the phases are those the command reports when it ends, its peak RSS is the kernel's
  for that process.

Each run is checked: every case stored and the relief owed for the outage (valid file), or the import rejected
with exactly 1000 problems listed and every one counted (bad file), and nothing left in the staging tables.

PostgreSQL is reached as bench.relief does, through PORTALWATCH_BENCH_PG.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
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
from monitor.storage.models import Case, CaseComponent, ImportChunk, ImportJob, ImportRow
from monitor.usecases import imports
from monitor.usecases.configure import apply_config

ROOT = Path(__file__).resolve().parent.parent
VIAS = ("job", "cli")

HEADER = "case_id,components,deadline,time_zone\n"
BAD_ROW = "BAD-{:09d},visa-portal,2026-13-45T10:00:00-05:00,Mars/Olympus\n"
BAD_PROBLEMS_PER_ROW = 3


@dataclass(frozen=True)
class Measured:
    backend: str
    via: str  # job | cli
    kind: str  # valid | bad
    rows: int
    size_bytes: int
    start_seconds: float  # cli: from the process's start to its first row (interpreter, configuration, schema)
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


# --- one measurement ---------------------------------------------------------------------------


@contextmanager
def prepared(backend: str) -> Iterator[tuple[str, Runtime, int]]:
    """A brand-new database, migrated and configured, with one closed outage: (url, runtime, outage id)."""
    with fresh_database(backend) as url:
        runtime = Runtime.create(Settings.explicit(database_url=url), parse_config(CONFIG, source="bench-config.yaml"))
        try:
            migrate(runtime.engine)
            with transaction(runtime.sessions) as session:
                apply_config(session, runtime.config, now=utcnow())
            yield url, runtime, add_outage(runtime.sessions)
        finally:
            runtime.close()


def check_outcome(runtime: Runtime, label: str, kind: str, rows: int, outage_id: int) -> imports.ImportJobView:
    """The import's job as stored, once it is checked to have done what it should; BenchFailed otherwise."""
    with transaction(runtime.sessions) as session:
        job_id = session.scalar(select(ImportJob.id).order_by(ImportJob.created_at.desc()).limit(1))
        cases = session.scalar(select(func.count()).select_from(Case)) or 0
        links = session.scalar(select(func.count()).select_from(CaseComponent)) or 0
        leftovers = sum(
            session.scalar(select(func.count()).select_from(model)) or 0 for model in (ImportRow, ImportChunk)
        )
        view = None if job_id is None else imports.job_view(session, job_id)
    if view is None or leftovers:
        raise BenchFailed(f"{label}: no import job was recorded, or {leftovers} staging/chunk rows were left")
    if kind == "valid":
        if view.state != ImportState.SUCCEEDED or view.imported != rows or cases != rows or links < rows:
            raise BenchFailed(
                f"{label}: job {view.state}, {view.imported:,} imported, {cases:,} cases and {links:,} links "
                f"stored; expected {rows:,} ({view.message})"
            )
        if view.relief_for_outages != [outage_id]:
            raise BenchFailed(f"{label}: relief owed for {view.relief_for_outages}, expected [{outage_id}]")
    else:
        expected = rows * BAD_PROBLEMS_PER_ROW
        if (view.state, view.error_count, len(view.errors), cases) != (
            ImportState.REJECTED,
            expected,
            imports.MAX_ERRORS,
            0,
        ):
            raise BenchFailed(
                f"{label}: job {view.state} with {view.error_count:,} problems counted, {len(view.errors)} kept, "
                f"{cases} cases stored; expected rejected, {expected:,}, {imports.MAX_ERRORS}, 0"
            )
    return view


def measure_job(backend: str, path: Path, kind: str, rows: int) -> Measured:
    """The job path, in this (child) process: upload into chunks, then run_import."""
    label = f"{backend} job {kind} {rows:,} rows"
    with prepared(backend) as (_, runtime, outage_id):
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
            job_id = imports.create_job(runtime, iter(lambda: file.read(imports.CHUNK_BYTES), b""), source=path.name)
        uploaded = since[0] = time.perf_counter()
        result = imports.run_import(runtime, job_id, progress=progress)
        ended = time.perf_counter()
        phases[current["phase"]] = ended - since[0]
        if result is None:
            raise BenchFailed(f"{label}: the job could not be claimed")
        view = check_outcome(runtime, label, kind, rows, outage_id)
        return Measured(
            backend=backend,
            via="job",
            kind=kind,
            rows=rows,
            size_bytes=path.stat().st_size,
            start_seconds=0.0,
            upload_seconds=uploaded - began,
            read_seconds=phases.get("reading", 0.0),
            check_seconds=phases.get("checking", 0.0),
            merge_seconds=phases.get("merging", 0.0),
            relief_seconds=phases.get("relief", 0.0),
            total_seconds=ended - began,
            baseline_rss_mib=baseline,
            peak_rss_mib=peak_rss_mib(),
            state=view.state.value,
            error_count=view.error_count,
            errors_kept=len(view.errors),
            errors_json_bytes=len(json.dumps(view.errors)),
        )


def run_child(backend: str, path: Path, kind: str, rows: int) -> Measured:
    command = [sys.executable, "-m", "bench.imports", "--child", backend, kind, str(path), str(rows)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    sys.stderr.write(done.stderr)
    if done.returncode != 0:
        raise BenchFailed(f"{backend} {kind}: the measuring process failed (exit {done.returncode})")
    return Measured(**json.loads(done.stdout.strip().splitlines()[-1]))


# What the command says when it ends: "took 52.3 s: start 1.1 s, reading 8.0 s, checking 0.9 s, …".
TOOK = re.compile(r"^took (?P<total>[0-9.]+) s: (?P<phases>.*)$", re.MULTILINE)
PHASE = re.compile(r"(?P<name>\w+) (?P<seconds>[0-9.]+) s")


def measure_cli(backend: str, path: Path, kind: str, rows: int, directory: Path) -> Measured:
    """`python -m exemptions import-cases` in a process of its own, on a database prepared here."""
    label = f"{backend} cli {kind} {rows:,} rows"
    with prepared(backend) as (url, runtime, outage_id):
        config = directory / "bench-config.yaml"
        config.write_text(CONFIG, encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTALWATCH_", "SLACK_", "REDIS_URL"))}
        env.update(DATABASE_URL=url, PYTHONPATH=str(ROOT))
        command = [sys.executable, "-m", "exemptions", "import-cases", str(path), "--config", str(config)]
        out_path, err_path = directory / "cli.out", directory / "cli.err"
        with out_path.open("w", encoding="utf-8") as out, err_path.open("w", encoding="utf-8") as err:
            began = time.perf_counter()
            child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err)
            # wait4, not Popen.wait: it also gives this child's own resource use, its peak RSS among it.
            _, status, usage = os.wait4(child.pid, 0)
            ended = time.perf_counter()
        child.returncode = os.waitstatus_to_exitcode(status)
        stdout, stderr = out_path.read_text(encoding="utf-8"), err_path.read_text(encoding="utf-8")
        expected_exit = 0 if kind == "valid" else 1
        if child.returncode != expected_exit:
            raise BenchFailed(f"{label}: exit {child.returncode}, expected {expected_exit}:\n{stderr[-3000:]}")
        took = TOOK.search(stderr)
        if took is None:
            raise BenchFailed(f"{label}: the command did not say how long each phase took:\n{stderr[-3000:]}")
        phases = {m["name"]: float(m["seconds"]) for m in PHASE.finditer(took["phases"])}
        view = check_outcome(runtime, label, kind, rows, outage_id)
        if kind == "valid" and f"imported {rows} case(s)" not in stdout:
            raise BenchFailed(f"{label}: unexpected answer {stdout!r}")
        # What the process did before its own clock started (interpreter, imports) counts as starting too.
        before_clock = (ended - began) - float(took["total"])
        return Measured(
            backend=backend,
            via="cli",
            kind=kind,
            rows=rows,
            size_bytes=path.stat().st_size,
            start_seconds=before_clock + phases.get("start", 0.0),
            upload_seconds=0.0,
            read_seconds=phases.get("reading", 0.0),
            check_seconds=phases.get("checking", 0.0),
            merge_seconds=phases.get("storing", 0.0),
            relief_seconds=phases.get("relief", 0.0),
            total_seconds=ended - began,
            baseline_rss_mib=0.0,
            peak_rss_mib=usage.ru_maxrss / 1024,  # KiB on Linux
            state=view.state.value,
            error_count=view.error_count,
            errors_kept=len(view.errors),
            errors_json_bytes=len(json.dumps(view.errors)),
        )


def measure_one(via: str, backend: str, path: Path, kind: str, rows: int, directory: Path) -> Measured:
    if via == "cli":
        return measure_cli(backend, path, kind, rows, directory)
    return run_child(backend, path, kind, rows)


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
                    "via",
                    "rows",
                    "MB",
                    "start s",
                    "upload s",
                    "read s",
                    "check s",
                    "merge s",
                    "relief s",
                    "total s",
                    "rows/s",
                    "peak RSS MiB",
                ),
                [
                    (
                        r.backend,
                        r.via,
                        f"{r.rows:,}",
                        f"{r.size_bytes / 1e6:.0f}",
                        f"{r.start_seconds:.1f}",
                        f"{r.upload_seconds:.1f}",
                        f"{r.read_seconds:.1f}",
                        f"{r.check_seconds:.1f}",
                        f"{r.merge_seconds:.1f}",
                        f"{r.relief_seconds:.1f}",
                        f"{r.total_seconds:.1f}",
                        f"{r.rows_per_second:,.0f}",
                        _rss(r),
                    )
                    for r in valid
                ],
            )
        )
    if bad:
        parts.append(
            table(
                (
                    "bad rows",
                    "via",
                    "rows",
                    "MB",
                    "total s",
                    "rows/s",
                    "problems",
                    "kept",
                    "kept JSON KB",
                    "peak RSS MiB",
                ),
                [
                    (
                        r.backend,
                        r.via,
                        f"{r.rows:,}",
                        f"{r.size_bytes / 1e6:.0f}",
                        f"{r.total_seconds:.1f}",
                        f"{r.rows_per_second:,.0f}",
                        f"{r.error_count:,}",
                        f"{r.errors_kept:,}",
                        f"{r.errors_json_bytes / 1000:.0f}",
                        _rss(r),
                    )
                    for r in bad
                ],
            )
        )
    return "\n\n".join(parts)


def _rss(measured: Measured) -> str:
    if measured.via == "cli":
        return f"{measured.peak_rss_mib:.0f}"
    return f"{measured.peak_rss_mib:.0f} (base {measured.baseline_rss_mib:.0f})"


def parse_vias(value: str) -> list[str]:
    names = [part.strip() for part in value.split(",") if part.strip()]
    if not names or any(n not in VIAS for n in names):
        raise argparse.ArgumentTypeError(f"--via must be among {', '.join(VIAS)}, got {value!r}")
    return list(dict.fromkeys(names))


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
            measured = measure_job(child_backend, Path(path), kind, int(child_rows))
        except BenchFailed as exc:
            print(f"FAILED: {exc}", file=sys.stderr)
            return 1
        print(json.dumps(measured.__dict__))
        return 0

    parser = argparse.ArgumentParser(prog="python -m bench.imports", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=positive, default=1_000_000, help="valid rows (default 1000000)")
    parser.add_argument("--backends", type=parse_backends, default=list(BACKENDS), help="default: sqlite,postgresql")
    parser.add_argument("--bad-mb", type=float, default=100.0, help="MB of bad rows (default 100; 0 to skip)")
    parser.add_argument(
        "--via", type=parse_vias, default=["job"], help="job (an upload run as a job), cli (the command), or both"
    )
    args = parser.parse_args(argv)
    backends: list[str] = args.backends
    vias: list[str] = args.via
    rows = int(args.rows)

    try:
        print_machine(backends)
        print(
            f"job:      {imports.CHUNK_BYTES // 1024} KiB chunks, {imports.BATCH_ROWS:,} rows staged per batch, "
            f"{imports.MAX_ERRORS} problems kept"
        )
        print(flush=True)
        results: list[Measured] = []
        with tempfile.TemporaryDirectory(prefix="pw_bench_imports_") as directory:
            valid = Path(directory) / "cases.csv"
            print(f"  … writing {rows:,} valid rows", file=sys.stderr, flush=True)
            write_valid_csv(valid, rows)
            for backend in backends:
                for via in vias:
                    print(f"  … {backend} via {via}: importing {rows:,} rows", file=sys.stderr, flush=True)
                    results.append(measure_one(via, backend, valid, "valid", rows, Path(directory)))
            if args.bad_mb > 0:
                bad = Path(directory) / "bad.csv"
                bad_rows = write_bad_csv(bad, args.bad_mb)
                for backend in backends:
                    for via in vias:
                        print(
                            f"  … {backend} via {via}: importing {args.bad_mb:g} MB of bad rows",
                            file=sys.stderr,
                            flush=True,
                        )
                        results.append(measure_one(via, backend, bad, "bad", bad_rows, Path(directory)))
    except BenchFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    print(render(results))
    print(
        "\ntotal: from the upload (job) or the command's start (cli) to the end, commits included; rows/s = rows / "
        "total.\nstart s: the command's own start (interpreter, configuration, schema check). merge s is the one "
        "transaction\n(on SQLite it holds the database's write lock that long). Peak RSS: the measuring process's "
        "(job: ru_maxrss,\nbase before the upload) or the command's (cli: its own ru_maxrss, from wait4)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
