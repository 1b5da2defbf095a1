"""How fast signed letters are issued for every case an outage touched: letters per second, peak RSS.

Run it from the repository root:

    .venv/bin/python -m bench.letters [--cases 27332] [--workers 2] [--backends postgresql] [--batch 50] [--profile]

For each back end (default PostgreSQL only; `--backends sqlite,postgresql` adds a SQLite file): a
brand-new database (bench.relief's), migrated and configured with bench.imports' four components, and
`--cases` cases bulk-loaded (bench.relief's loader, then VACUUM ANALYZE and a CHECKPOINT). Every case is
on pr-portal, extendable, has an email address, one of 10 time zones, and a deadline at a random second
inside bench.imports' 6-hour outage of pr-portal (12 June 2026, recorded closed). So every case gets a
final extension, and, since an outage of at least 4 hours authorises paper filing from its start to
the end of the next business day, every case is also owed a paper-filing letter: 2 letters per case.
Both figures are printed; letters/s counts letters, not cases.

1. "relief s": `monitor.usecases.relief.relieve` for the outage, timed from the call to its return (its
   transaction committed). It must leave a final, later deadline for every case and exactly one pending
   extension and one pending paper-filing letter per case.
2. The owed letters are issued by `--workers` processes (default 2, the machine's cores), each started
   as a Celery worker would be: its own interpreter and Runtime on the same database and data directory
   (the parent made the self-signed signing key first). Before the clock starts each worker connects to
   the database and renders and signs one sample letter (not stored), so it is warm, as a worker that
   has already signed letters is. On a common "go" each loops `issue_letters(runtime)` (claim a batch
   of `--batch`, default the configuration's letters_per_job, render, sign, store, queue its notice:
   what `issue_letters_job` loops, without sending the notices) until it finds nothing left to claim.
   "wall s" is from the go to the moment the last worker found nothing left; letters/s = letters
   issued / wall s.
3. Per worker: its CPU seconds over the run (getrusage), how much of its wall time went to rendering
   (reportlab, `render_pdf`) and to signing (pyHanko, `Signer.sign`), the rest being the database and
   the letter's content, its peak RSS over its whole life (ru_maxrss from wait4, the warm-up
   included), and the CPU seconds of its own PostgreSQL backend (utime + stime from /proc/<pid>/stat,
   when the server runs on this machine). The PostgreSQL background processes (WAL writer,
   checkpointer, background writer) are shown apart: they serve every database on the server. "CPU per
   letter" is the workers' CPU seconds, and their backends', divided by the letters issued: unlike
   letters/s it does not depend on what else runs on the machine, and 1000 * cores / (both together)
   bounds the letters per second the machine could issue if it did nothing else.
4. The result is checked: every owed letter issued exactly once (issued count = owed = the workers'
   own counts, every letter claimed once, unique codes, none left pending), one email notice queued per
   letter, and 5 letters picked at random whose stored SHA-256 matches their PDF and which
   `runtime.signer().validate` finds genuine, with their own code.

The 1-minute load average before and after is printed: other work on the machine takes cores from the
workers and shows in wall time, not in CPU seconds per letter.
`--profile` runs the first worker under cProfile and prints its slowest functions.

PostgreSQL is reached as bench.relief does, through PORTALWATCH_BENCH_PG.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import os
import pstats
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

from sqlalchemy import func, select, text, update

import monitor.usecases.letters as letter_use
import monitor.usecases.relief as relief_use
from bench.relief import (
    CONFIG,
    OUTAGE_COMPONENT,
    TIME_ZONES,
    URL_VARIABLE,
    WINDOW_END,
    WINDOW_START,
    BenchFailed,
    CaseSpec,
    add_outage,
    count,
    fresh_database,
    load_postgresql,
    load_sqlite,
    parse_backends,
    print_machine,
    settle,
)
from exemptions.letters import Signer, render_pdf
from exemptions.letters.samples import sample_content
from monitor.config import Config, parse_config
from monitor.runtime import Runtime
from monitor.settings import Settings
from monitor.storage.engine import transaction, utcnow
from monitor.storage.enums import GrantStatus, LetterKind, LetterState
from monitor.storage.migrate import migrate
from monitor.storage.models import Case, Letter, Notice, ReliefDecision
from monitor.usecases.configure import apply_config

ROOT = Path(__file__).resolve().parent.parent
SEED = 20260612
DEFAULT_CASES = 27_332
GOAL_LETTERS_PER_SECOND = 50.0
SAMPLED = 5
# Deadlines at random seconds from half an hour after the last good check to the first good one after it.
DEADLINES_FROM = WINDOW_START + timedelta(minutes=30)
LETTERS_PER_CASE = {LetterKind.EXTENSION: 1, LetterKind.PAPER_FILING: 1}


def bench_config() -> Config:
    return parse_config(CONFIG, source="bench-letters.yaml")


# --- the scenario: cases whose deadlines fall inside the outage ----------------------------------


def make_cases(cases: int, seed: int = SEED, prefix: str = "LTR-") -> Iterator[CaseSpec]:
    """Deterministic cases on OUTAGE_COMPONENT, extendable, each deadline inside the outage."""
    rng = random.Random(seed)
    first = int(DEADLINES_FROM.timestamp())
    span = int((WINDOW_END - DEADLINES_FROM).total_seconds())
    for number in range(1, cases + 1):
        yield CaseSpec(
            f"{prefix}{number:06d}",
            first + rng.randrange(span + 1),
            rng.choice(TIME_ZONES),
            True,
            (OUTAGE_COMPONENT,),
        )


@dataclass(frozen=True)
class Prepared:
    outage_id: int
    cases: int
    load_seconds: float
    relief_seconds: float
    owed: dict[str, int]  # pending letters by kind, right after relief

    @property
    def letters(self) -> int:
        return sum(self.owed.values())


def load_cases(runtime: Runtime, cases: int) -> float:
    """Migrate, configure and bulk-load the cases, each with an email address; the load's seconds."""
    migrate(runtime.engine)
    created = utcnow()
    with transaction(runtime.sessions) as session:
        apply_config(session, runtime.config, now=created)
    began = time.perf_counter()
    loader = load_postgresql if runtime.engine.dialect.name == "postgresql" else load_sqlite
    stored, _links = loader(runtime.engine, make_cases(cases), created)
    with transaction(runtime.sessions) as session:
        # Holders give an address: each letter issued queues its notice, as in production.
        session.execute(update(Case).values(email="holder-" + Case.case_id + "@example.test"))
    settle(runtime.engine)
    if stored != cases:
        raise BenchFailed(f"{stored:,} cases loaded, expected {cases:,}")
    return time.perf_counter() - began


def prepare(runtime: Runtime, cases: int) -> Prepared:
    """The loaded cases, the outage, and its relief run: every case decided and owed its letters."""
    load_seconds = load_cases(runtime, cases)
    outage_id = add_outage(runtime.sessions)
    began = time.perf_counter()
    run = relief_use.relieve(runtime, outage_id)
    relief_seconds = time.perf_counter() - began
    with transaction(runtime.sessions) as session:
        moved = session.scalar(
            select(func.count())
            .select_from(ReliefDecision)
            .where(
                ReliefDecision.status == GrantStatus.FINAL,
                ReliefDecision.effective_deadline > ReliefDecision.original_deadline,
            )
        )
        owed = {
            str(kind): int(n)
            for kind, n in session.execute(
                select(Letter.kind, func.count()).where(Letter.state == LetterState.PENDING).group_by(Letter.kind)
            )
        }
    expected = {str(kind): per_case * cases for kind, per_case in LETTERS_PER_CASE.items()}
    if run.decided != cases or moved != cases or owed != expected or run.letters != sum(expected.values()):
        raise BenchFailed(
            f"relief decided {run.decided:,} cases, {moved:,} with a final, later deadline, and owed {run.letters:,} "
            f"letters {owed}; expected all {cases:,} cases and letters {expected}"
        )
    return Prepared(outage_id, cases, load_seconds, relief_seconds, owed)


def issue_all(runtime: Runtime, *, batch: int | None = None) -> int:
    """Issue owed letters in this process until none is left to claim; how many were issued."""
    issued = 0
    while True:
        done = letter_use.issue_letters(runtime, limit=batch)
        if done == 0:
            return issued
        issued += done


# --- the checks ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checked:
    issued: int
    notices: int
    sampled: int


def check_issued(runtime: Runtime, owed: int, reported: int, *, notices_expected: bool = True) -> Checked:
    """Every owed letter issued exactly once, each with its notice; a sample validates. BenchFailed otherwise."""
    with transaction(runtime.sessions) as session:
        by_state = {
            str(state): int(n)
            for state, n in session.execute(select(Letter.state, func.count()).group_by(Letter.state))
        }
        issued = by_state.get(LetterState.ISSUED.value, 0)
        codes, distinct, hashed, max_attempts, superseded = session.execute(
            select(
                func.count(Letter.code),
                func.count(func.distinct(Letter.code)),
                func.count(Letter.pdf_sha256),
                func.max(Letter.attempts),
                func.count(Letter.superseded_by),
            ).where(Letter.state == LetterState.ISSUED)
        ).one()
        notices, noticed = session.execute(
            select(func.count(), func.count(func.distinct(Notice.letter_id))).select_from(Notice)
        ).one()
        ids = list(session.scalars(select(Letter.id).where(Letter.state == LetterState.ISSUED).order_by(Letter.id)))
    problems = []
    if by_state.get(LetterState.PENDING.value, 0):
        problems.append(f"{by_state[LetterState.PENDING.value]:,} letters are still pending")
    if not (issued == owed == reported):
        problems.append(f"{issued:,} letters are issued and the workers report {reported:,}; {owed:,} were owed")
    if not (codes == distinct == hashed == issued):
        problems.append(f"{codes:,} codes ({distinct:,} distinct) and {hashed:,} digests for {issued:,} letters")
    if (max_attempts or 0) > 1:
        problems.append(f"a letter was claimed {max_attempts} times (a claim went stale or was taken twice)")
    if superseded:
        problems.append(f"{superseded:,} letters were marked superseded; none should be")
    if notices_expected and not (notices == noticed == issued):
        problems.append(f"{notices:,} notices for {noticed:,} letters, expected one per issued letter ({issued:,})")
    if problems:
        raise BenchFailed("; ".join(problems))
    sampled = validate_sample(runtime, random.Random(SEED).sample(ids, min(SAMPLED, len(ids))))
    return Checked(issued, int(notices), sampled)


def validate_sample(runtime: Runtime, letter_ids: list[int]) -> int:
    """Each letter's PDF matches its stored digest and validates as genuine, claiming its own code."""
    signer = runtime.signer()
    with transaction(runtime.sessions) as session:
        rows = session.execute(
            select(Letter.id, Letter.code, Letter.pdf, Letter.pdf_sha256).where(Letter.id.in_(letter_ids))
        ).all()
    if len(rows) != len(letter_ids):
        raise BenchFailed(f"{len(letter_ids) - len(rows)} sampled letters were not found")
    for letter_id, code, pdf, digest in rows:
        if pdf is None or hashlib.sha256(pdf).hexdigest() != digest:
            raise BenchFailed(f"letter {letter_id}: its PDF is missing or does not match its SHA-256")
        validation = signer.validate(pdf)
        if not validation.genuine or validation.claimed_code != code:
            raise BenchFailed(
                f"letter {letter_id} ({code}) does not validate: {validation.reason}, claims {validation.claimed_code}"
            )
    return len(rows)


# --- CPU of processes, from /proc --------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PG_BACKGROUND = ("walwriter", "checkpointer", "background writer")


def process_cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process on this machine, or None if there is none by that id."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": state is field 3, utime 14, stime 15
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def is_postgres(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"postgres")
    except OSError:
        return False


def pg_background_cpu() -> float | None:
    """CPU seconds so far of this machine's PostgreSQL WAL writer, checkpointer and background writer."""
    total, found = 0.0, False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cmdline.startswith("postgres:") and any(name in cmdline for name in PG_BACKGROUND):
            seconds = process_cpu_seconds(int(entry.name))
            if seconds is not None:
                total, found = total + seconds, True
    return total if found else None


# --- a worker: its own process and Runtime ---------------------------------------------------------


@dataclass
class WorkerResult:
    number: int
    issued: int = 0
    batches: int = 0
    ended: float = 0.0  # time.monotonic() when it found nothing left (one clock for every process)
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    render_seconds: float = 0.0
    sign_seconds: float = 0.0
    backend_pid: int | None = None
    backend_cpu_seconds: float | None = None
    peak_rss_mib: float = 0.0  # from wait4, in the parent


def backend_pid(runtime: Runtime) -> int | None:
    if runtime.engine.dialect.name != "postgresql":
        return None
    with runtime.engine.connect() as conn:
        pid = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
    return pid if is_postgres(pid) else None  # None: the server is not on this machine


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def worker(number: int, url: str, data_dir: str, batch: int | None, profile: bool) -> WorkerResult:
    """Warm up, say ready (with the backend's pid), wait for "go", then issue until nothing is left."""
    runtime = Runtime.create(Settings.explicit(database_url=url, data_dir=data_dir), bench_config())
    try:
        signer = runtime.signer()
        signer.sign(render_pdf(sample_content(LetterKind.EXTENSION)), reason="warm-up")
        result = WorkerResult(number, backend_pid=backend_pid(runtime))
        print(f"ready {result.backend_pid or 0}", flush=True)
        if sys.stdin.readline().strip() != "go":
            raise BenchFailed(f"worker {number}: the parent did not say go")

        def timed_render(content: Any) -> bytes:
            began = time.perf_counter()
            try:
                return render_pdf(content)
            finally:
                result.render_seconds += time.perf_counter() - began

        original_sign = Signer.sign

        def timed_sign(self: Signer, pdf: bytes, *, reason: str, location: str | None = None) -> bytes:
            began = time.perf_counter()
            try:
                return original_sign(self, pdf, reason=reason, location=location)
            finally:
                result.sign_seconds += time.perf_counter() - began

        profiler = cProfile.Profile() if profile else None
        with ExitStack() as patches:
            patches.enter_context(mock.patch.object(letter_use, "render_pdf", timed_render))
            patches.enter_context(mock.patch.object(Signer, "sign", timed_sign))
            cpu, backend = own_cpu_seconds(), process_cpu_seconds(result.backend_pid or -1)
            began = time.monotonic()
            if profiler:
                profiler.enable()
            while (issued := letter_use.issue_letters(runtime, limit=batch)) > 0:
                result.issued += issued
                result.batches += 1
            if profiler:
                profiler.disable()
            result.ended = time.monotonic()
            result.wall_seconds = result.ended - began
            result.cpu_seconds = own_cpu_seconds() - cpu
            after = process_cpu_seconds(result.backend_pid or -1)
            if backend is not None and after is not None and backend_pid(runtime) == result.backend_pid:
                result.backend_cpu_seconds = after - backend
        if profiler:
            print_profile(profiler, f"worker {number}")
        return result
    finally:
        runtime.close()


def print_profile(profiler: cProfile.Profile, title: str) -> None:
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.strip_dirs().sort_stats(order).print_stats(30)
        print(f"profile: {title}, by {order}\n{out.getvalue()}", file=sys.stderr, flush=True)


# --- the parent: one fresh database, prepared, then the workers -----------------------------------


@dataclass
class Measured:
    backend: str
    cases: int
    load_seconds: float
    relief_seconds: float
    owed: dict[str, int]
    workers: list[WorkerResult] = field(default_factory=list)
    wall_seconds: float = 0.0
    pg_background_cpu_seconds: float | None = None
    checked: Checked | None = None

    @property
    def letters(self) -> int:
        return sum(self.owed.values())

    @property
    def per_second(self) -> float:
        return self.letters / self.wall_seconds if self.wall_seconds > 0 else float("inf")


def run_workers(url: str, data_dir: str, workers: int, batch: int | None, profile: bool) -> Measured:
    """Start the workers, wait until each is warm, say go, and collect what each did."""
    command = [sys.executable, "-m", "bench.letters", "--child", data_dir, str(batch or 0)]
    env = {**os.environ, URL_VARIABLE: url}
    processes: list[subprocess.Popen[str]] = []
    measured = Measured("", 0, 0.0, 0.0, {})
    try:
        for number in range(1, workers + 1):
            flags = [str(number), *(["--profile"] if profile and number == 1 else [])]
            processes.append(
                subprocess.Popen(
                    [*command, *flags], cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
                )
            )
        for number, process in enumerate(processes, 1):
            assert process.stdout is not None
            line = process.stdout.readline().split()
            if line[:1] != ["ready"]:
                raise BenchFailed(f"worker {number} did not start (exit {process.poll()}); its error is above")
        background = pg_background_cpu()
        began = time.monotonic()
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.close()
        for number, process in enumerate(processes, 1):
            assert process.stdout is not None
            lines = process.stdout.read().strip().splitlines()
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
            if process.returncode != 0 or not lines:
                raise BenchFailed(f"worker {number} failed (exit {process.returncode}); its error is above")
            result = WorkerResult(**json.loads(lines[-1]))
            result.peak_rss_mib = usage.ru_maxrss / 1024  # KiB on Linux
            measured.workers.append(result)
        measured.wall_seconds = max(r.ended for r in measured.workers) - began
        after = pg_background_cpu()
        if background is not None and after is not None:
            measured.pg_background_cpu_seconds = after - background
        return measured
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def bench_backend(backend: str, cases: int, workers: int, batch: int | None, profile: bool) -> Measured:
    with fresh_database(backend) as url, tempfile.TemporaryDirectory(prefix="pw_bench_letters_") as data_dir:
        runtime = Runtime.create(Settings.explicit(database_url=url, data_dir=data_dir), bench_config())
        try:
            progress(f"{backend}: loading {cases:,} cases and deciding their relief…")
            prepared = prepare(runtime, cases)
            runtime.signer()  # the self-signed key, made once before the workers start
            progress(
                f"{backend}: relief owed {prepared.letters:,} letters in {prepared.relief_seconds:.2f}s; "
                f"issuing them with {workers} worker(s)…"
            )
            measured = run_workers(url, data_dir, workers, batch, profile)
            measured.backend, measured.cases = backend, cases
            measured.load_seconds, measured.relief_seconds = prepared.load_seconds, prepared.relief_seconds
            measured.owed = prepared.owed
            reported = sum(w.issued for w in measured.workers)
            measured.checked = check_issued(runtime, prepared.letters, reported)
            return measured
        finally:
            runtime.close()


def progress(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


def fmt_optional(value: float | None, pattern: str = "{:.1f}") -> str:
    return "n/a" if value is None else pattern.format(value)


def render(m: Measured) -> str:
    kinds = ", ".join(f"{n:,} {kind}" for kind, n in sorted(m.owed.items()))
    goal = "met" if m.per_second >= GOAL_LETTERS_PER_SECOND else "MISSED"
    lines = [
        f"{m.backend} relief:  {m.cases:,} cases decided (each final, deadline moved later) and {m.letters:,} "
        f"letters owed ({kinds}) in {m.relief_seconds:.2f} s (load, not timed: {m.load_seconds:.1f} s)",
        f"{m.backend} letters: {m.letters:,} letters for {m.cases:,} cases issued by {len(m.workers)} worker(s) in "
        f"{m.wall_seconds:.1f} s: {m.per_second:.1f} letters/s (goal >= {GOAL_LETTERS_PER_SECOND:g}: {goal})",
    ]
    header = (
        "worker",
        "letters",
        "batches",
        "wall s",
        "CPU s",
        "render s",
        "sign s",
        "other s",
        "peak RSS MiB",
        "PG backend CPU s",
    )
    rows = [
        (
            str(w.number),
            f"{w.issued:,}",
            f"{w.batches:,}",
            f"{w.wall_seconds:.1f}",
            f"{w.cpu_seconds:.1f}",
            f"{w.render_seconds:.1f}",
            f"{w.sign_seconds:.1f}",
            f"{w.wall_seconds - w.render_seconds - w.sign_seconds:.1f}",
            f"{w.peak_rss_mib:.0f}",
            fmt_optional(w.backend_cpu_seconds),
        )
        for w in m.workers
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        lines.append("  " + "  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)))
    worker_cpu = sum(w.cpu_seconds for w in m.workers)
    backend_cpu = [w.backend_cpu_seconds for w in m.workers]
    pg_cpu = None if any(c is None for c in backend_cpu) else sum(c or 0.0 for c in backend_cpu)
    per_letter = f"CPU per letter: workers {1000 * worker_cpu / m.letters:.1f} ms"
    if pg_cpu is not None:
        per_letter += f", their PostgreSQL backends {1000 * pg_cpu / m.letters:.1f} ms"
    if m.backend == "postgresql":
        per_letter += (
            f"; PostgreSQL background processes (WAL writer, checkpointer, background writer, shared with any other "
            f"database on the server) {fmt_optional(m.pg_background_cpu_seconds)} CPU s"
        )
    lines.append("  " + per_letter)
    if m.checked is not None:
        lines.append(
            f"{m.backend} checked: each of the {m.checked.issued:,} owed letters issued exactly once (claimed once, "
            f"unique codes, none pending), {m.checked.notices:,} notices queued, {m.checked.sampled} sampled PDFs "
            "genuine"
        )
    return "\n".join(lines)


def child(argv: list[str]) -> int:
    data_dir, batch, number = argv[0], int(argv[1]), int(argv[2])
    try:
        result = worker(number, os.environ[URL_VARIABLE], data_dir, batch or None, "--profile" in argv[3:])
    except BenchFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(asdict(result)), flush=True)
    return 0


def load_average() -> float:
    return os.getloadavg()[0]


def report(prelude: Callable[[], None], run: Callable[[], tuple[list[str], list[str]]]) -> int:
    """Print the machine (`prelude`), run the bench, print its lines with the load average around it.

    `run` returns its report's lines and the problems it found; any problem, or a BenchFailed, fails it.
    """
    try:
        prelude()
        before = load_average()
        print(flush=True)
        lines, problems = run()
    except BenchFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"load:     1-minute load average {before:.2f} before the run, {load_average():.2f} after")
    print("\n".join(lines))
    if problems:
        print("FAILED: " + "\nFAILED: ".join(problems), file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m bench.letters", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=count, default=DEFAULT_CASES, help=f"default {DEFAULT_CASES}")
    parser.add_argument("--workers", type=count, default=2, help="worker processes (default 2)")
    parser.add_argument("--backends", type=parse_backends, default=["postgresql"], help="default: postgresql")
    parser.add_argument("--batch", type=count, default=None, help="letters per claim (default: letters_per_job)")
    parser.add_argument("--profile", action="store_true", help="profile the first worker (cProfile)")
    args = parser.parse_args(argv)
    backends: list[str] = args.backends

    try:
        print_machine(backends)
        before = load_average()
        batch = args.batch or bench_config().self_service.letters_per_job
        print(
            f"scenario: {args.cases:,} cases on {OUTAGE_COMPONENT}, each deadline inside its 6-hour outage "
            f"({WINDOW_START:%d %b %H:%M}–{WINDOW_END:%H:%M} UTC), {len(TIME_ZONES)} zones, all extendable, each "
            "with an email;\n          each owed an extension notice and, as the outage lasted >= 4 h, a "
            f"paper-filing letter; {args.workers} worker(s), {batch} letters per claim"
        )
        print(flush=True)
        results = [bench_backend(b, args.cases, args.workers, args.batch, args.profile) for b in backends]
    except BenchFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"load:     1-minute load average {before:.2f} before the run, {load_average():.2f} after")
    for measured in results:
        print(render(measured))
    return 0


if __name__ == "__main__":
    sys.exit(main())
