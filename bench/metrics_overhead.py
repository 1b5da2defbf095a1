"""What the metrics cost the probe engine: the counters record_checks feeds, per check, against what a check costs.

Run it from the repository root (PostgreSQL and SQLite by default):

    .venv/bin/python -m bench.metrics_overhead [--backends postgresql,sqlite] [--batches 100] [--batch-size 25]
                                              [--rounds 12] [--engine-checks-per-cpu-second 636]

The process keeps its metrics as the services do, in files of a metrics directory (prometheus_client's
multiprocess mode, a temporary directory here). Two measurements:

1. The instrumentation alone, precisely: for `--batches` batches of `--batch-size` check results (one in
   five failing, as many probes as the batch has), what a recording transaction's commit does for the
   metrics (`checks_recorded`, then the commit hook counting each check and observing its latency)
   plus one scheduler lateness observation per batch. CPU time of this process, per check.
2. record_checks end to end, with and without the metrics: a fresh database with `--batch-size` probes
   (5 per component), then `--rounds` rounds, each recording `--batches` batches with the metrics and
   `--batches` without (their order alternating between rounds), every check passing (the common case,
   and the cheapest: the metrics' share is largest there). "Without" takes the commit hooks off and
   record_checks' call out. CPU: this process (time.process_time) plus, on PostgreSQL, the database's
   backends (utime + stime from /proc, the server being on this machine). The medians of the phases, and
   of the difference within each round.

The relative cost is then stated against the engine's figure: a check costs 1 / `--engine-checks-per-
cpu-second` CPU seconds all told (probing, recording, PostgreSQL; 636 is the lowest figure the README's
probe engine table has, 500 probes at 20 s distributed, so the share is the largest it can be), and
the metrics cost that many microseconds more. The goal: at most 10 % fewer checks per CPU-second.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.orm import Session

from bench.relief import BenchFailed, fresh_database, pg_admin_url, pg_server_version
from monitor.config import parse_config
from monitor.metrics import multiprocess, series
from monitor.runtime import Runtime
from monitor.settings import Settings
from monitor.storage.engine import transaction
from monitor.storage.migrate import migrate
from monitor.usecases import checks
from monitor.usecases.checks import Observed, record_checks
from monitor.usecases.configure import apply_config
from probes.result import CheckResult, ErrorClass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
T0 = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
INTERVAL = timedelta(seconds=10)
GOAL_SHARE = 0.10  # at most 10 % fewer checks per CPU-second


def config(probes: int) -> str:
    lines = ["components:"]
    for component in range((probes + 4) // 5):
        lines += [f"  - id: component-{component}", f"    name: Component {component}", "    probes:"]
        for n in range(component * 5, min(probes, component * 5 + 5)):
            lines.append(f'      - {{id: probe-{n:03d}, type: http, url: "http://127.0.0.1:9/{n}", interval: 10s}}')
    return "\n".join(lines) + "\n"


def results(batch_size: int, at: datetime, *, failing_every: int = 0) -> list[CheckResult]:
    made = []
    for n in range(batch_size):
        if failing_every and n % failing_every == 0:
            made.append(
                CheckResult(
                    f"probe-{n:03d}", "local", at, False, status_code=503, error_class=ErrorClass.STATUS, error="503"
                )
            )
        else:
            made.append(CheckResult(f"probe-{n:03d}", "local", at, True, latency_ms=40.0 + n, status_code=200))
    return made


def instrumentation_per_check(batches: int, batch_size: int) -> float:
    """CPU microseconds per check of what the metrics do for a committed batch (and its scheduler batch)."""
    batch = results(batch_size, T0, failing_every=5)
    session = Session()  # only its `info`: the commit hook reads what record_checks left there
    commit_hook: Callable[[Session], None] = series._count_on_commit
    for _ in range(20):  # every label set's child and file entry made before timing
        series.checks_recorded(session, batch)
        commit_hook(session)
    started = time.process_time()
    for _ in range(batches):
        series.checks_recorded(session, batch)
        commit_hook(session)
        series.batch_sent("local", 0.2)
    return (time.process_time() - started) / (batches * batch_size) * 1e6


@dataclass(frozen=True)
class Phase:
    metrics: bool
    checks: int
    process_cpu: float
    database_cpu: float

    @property
    def per_check_us(self) -> float:
        return (self.process_cpu + self.database_cpu) / self.checks * 1e6


class Metrics:
    """Switches the metrics of record_checks on and off: the call in record_checks and the commit hooks."""

    def __init__(self) -> None:
        self.on = True
        self._recorded = checks.checks_recorded

    def set(self, on: bool) -> None:
        if on == self.on:
            return
        hooks = [("after_commit", series._count_on_commit), ("after_transaction_end", series._forget_on_rollback)]
        for name, hook in hooks:
            (event.listen if on else event.remove)(Session, name, hook)
        checks.checks_recorded = self._recorded if on else (lambda session, results: None)  # type: ignore[assignment]
        self.on = on


def backend_cpu(runtime: Runtime) -> Callable[[], float]:
    """Seconds of CPU the database's backends for this database have used (0 on SQLite)."""
    if runtime.engine.dialect.name != "postgresql":
        return lambda: 0.0
    with runtime.engine.connect() as conn:
        database = conn.execute(text("SELECT current_database()")).scalar_one()

    def used() -> float:
        with runtime.engine.connect() as conn:
            pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = :d"), {"d": database}).scalars()
            total = 0
            for pid in pids:
                try:
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / CLOCK_TICKS

    return used


def end_to_end(backend: str, batches: int, batch_size: int, rounds: int) -> list[Phase]:
    switch = Metrics()
    phases: list[Phase] = []
    with fresh_database(backend) as url:
        settings = Settings.explicit(database_url=url, data_dir=tempfile.mkdtemp(prefix="pw_bench_data_"))
        runtime = Runtime.create(settings, parse_config(config(batch_size), source="bench.yaml"))
        try:
            migrate(runtime.engine)
            with transaction(runtime.sessions) as session:
                apply_config(session, runtime.config, now=T0)
            database_cpu = backend_cpu(runtime)
            slot = T0
            for round_number in range(rounds + 1):  # the first round warms up and is not counted
                order = (True, False) if round_number % 2 else (False, True)
                for metrics in order:
                    switch.set(metrics)
                    database_before, started = database_cpu(), time.process_time()
                    for _ in range(batches):
                        slot += INTERVAL
                        observed = [Observed(r, slot) for r in results(batch_size, slot)]
                        with transaction(runtime.sessions) as session:
                            done = record_checks(session, observed, grace_days=None, now=slot)
                        if done.recorded != batch_size:
                            raise BenchFailed(f"a batch recorded {done.recorded} of {batch_size} checks")
                    phase = Phase(
                        metrics, batches * batch_size, time.process_time() - started, database_cpu() - database_before
                    )
                    if round_number:
                        phases.append(phase)
        finally:
            switch.set(True)
            runtime.close()
    return phases


def report(backend: str, phases: list[Phase]) -> None:
    with_metrics = [p.per_check_us for p in phases if p.metrics]
    without = [p.per_check_us for p in phases if not p.metrics]
    # Each round's two phases side by side: what drifts over the run (the tables growing, the machine's
    # other work) moves both alike.
    differences = sorted(w - o for w, o in zip(with_metrics, without, strict=True))
    difference = statistics.median(differences)
    base = statistics.median(without)
    print(f"{backend}: record_checks, CPU per check (this process + database backends)")
    print(
        f"figure:   {backend} record_checks without metrics {base:.1f} µs per check (median of {len(without)} phases)"
    )
    print(f"figure:   {backend} record_checks with metrics {statistics.median(with_metrics):.1f} µs per check")
    print(
        f"figure:   {backend} with - without, each round: median {difference:+.1f} µs ({difference / base:+.1%}),"
        f" from {differences[0]:+.1f} to {differences[-1]:+.1f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.metrics_overhead", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="postgresql,sqlite", help="postgresql, sqlite or both (default both)")
    parser.add_argument("--batches", type=int, default=100, help="batches per phase (default 100)")
    parser.add_argument("--batch-size", type=int, default=25, help="checks per batch (default 25)")
    parser.add_argument("--rounds", type=int, default=12, help="rounds with and without the metrics (default 12)")
    parser.add_argument(
        "--engine-checks-per-cpu-second",
        type=float,
        default=636.0,
        help="what a check costs the engine all told, as its benchmark measured it (default 636)",
    )
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not backends or any(b not in ("postgresql", "sqlite") for b in backends):
        parser.error("--backends: postgresql, sqlite or both")
    if min(args.batches, args.batch_size, args.rounds) < 1:
        parser.error("--batches, --batch-size and --rounds must be at least 1")

    with tempfile.TemporaryDirectory(prefix="pw_bench_metrics_") as directory:
        multiprocess.start(Path(directory))  # values in files, as every service process keeps them
        print(f"machine:  {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}")
        print(f"          1-minute load average {os.getloadavg()[0]:.2f}")
        try:
            if "postgresql" in backends:
                print(f"          PostgreSQL {pg_server_version(pg_admin_url())}")
            instrumentation_us = statistics.median(
                instrumentation_per_check(args.batches, args.batch_size) for _ in range(5)
            )
            budget_us = 1e6 / args.engine_checks_per_cpu_second
            share = instrumentation_us / (budget_us + instrumentation_us)
            print(
                f"figure:   instrumentation alone {instrumentation_us:.2f} µs of CPU per check"
                f" (multiprocess files; {args.batch_size} checks a batch, one lateness observation per batch)"
            )
            print(
                f"figure:   engine at {args.engine_checks_per_cpu_second:.0f} checks per CPU-second ({budget_us:.0f} µs"
                f" a check) → {args.engine_checks_per_cpu_second * (1 - share):.1f} with the metrics: {share:.2%} fewer"
            )
            for backend in backends:
                phases = end_to_end(backend, args.batches, args.batch_size, args.rounds)
                report(backend, phases)
            met = "met" if share <= GOAL_SHARE else "NOT met"
            print(f"goal:     metrics cost at most {GOAL_SHARE:.0%} of the engine's checks per CPU-second: {met}")
            counted = sum(1 for _ in Path(directory).glob("*.db"))
            print(f"checked:  every batch recorded all its checks; the values were kept in {counted} file(s)")
        except BenchFailed as exc:
            print(f"bench failed: {exc}", file=sys.stderr)
            return 1
    return 0 if share <= GOAL_SHARE else 1


if __name__ == "__main__":
    sys.exit(main())
