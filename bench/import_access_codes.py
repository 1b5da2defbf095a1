"""How fast cases with access codes import, and how much of that time goes into hashing the codes.

Run it from the repository root:

    .venv/bin/python -m bench.import_access_codes [--rows 20000] [--backends sqlite] [--again]

It writes `--rows` valid cases (bench.imports' cases: deadlines over 30 days, 1 or 2 of 4 components, 10 time
zones, seeded), each with an access code written as people write them (`ab12-cd34-ef56`), and imports the file
into a brand-new database, migrated and configured, with one closed outage, through `import_file`: the code the
command line runs (`python -m exemptions import-cases`), read row by row, the codes hashed a batch at a time on
a few threads outside any transaction, staged, checked and merged in one transaction.

Every code is hashed with scrypt (N=2**12, r=8, p=1; see exemptions.cases.access). `hashing s` is the time the
import spent waiting for its hashes (its wall-clock time inside the hashing step), so `hashing %` is the share
of the import's time hashing takes. With `--again` the same file is imported a second time: each unchanged code
is checked against its stored hash, which costs what hashing does, and no case is written.

Each run is checked: every case stored with a hash, a sample of codes verified against theirs (and a wrong code
refused), no code stored in plain anywhere in `cases`, and the relief owed for the outage.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.imports import check_outcome, peak_rss_mib, positive, prepared, table
from bench.relief import (
    COMPONENTS,
    SEED,
    SPREAD,
    SPREAD_START,
    TIME_ZONES,
    BenchFailed,
    parse_backends,
    print_machine,
)
from exemptions.cases import access, verify_code
from monitor.runtime import Runtime
from monitor.storage.engine import transaction
from monitor.storage.enums import ImportState
from monitor.storage.models import Case
from monitor.usecases import imports

HEADER = "case_id,components,deadline,time_zone,access_code\n"
CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # as codes printed on letters avoid 0/o and 1/l/i
SAMPLE = 25  # codes verified against their stored hash after each run


@dataclass(frozen=True)
class Measured:
    backend: str
    run: str  # first | again
    rows: int
    total_seconds: float
    hash_seconds: float
    peak_rss_mib: float

    @property
    def cases_per_second(self) -> float:
        return self.rows / self.total_seconds if self.total_seconds > 0 else float("inf")

    @property
    def hash_share(self) -> float:
        return self.hash_seconds / self.total_seconds if self.total_seconds > 0 else 0.0


def write_csv(path: Path, rows: int) -> dict[str, str]:
    """The file; returns a sample of case ids and the codes written for them."""
    rng = random.Random(SEED)
    spread = int(SPREAD.total_seconds())
    sample_every = max(1, rows // SAMPLE)
    sample: dict[str, str] = {}
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER)
        for number in range(1, rows + 1):
            deadline = (SPREAD_START + timedelta(seconds=rng.randrange(spread))).isoformat()
            components = ";".join(rng.sample(COMPONENTS, rng.randint(1, 2)))
            letters = "".join(rng.choices(CODE_ALPHABET, k=12))
            code = f"{letters[:4]}-{letters[4:8]}-{letters[8:]}"
            case_id = f"CASE-{number:08d}"
            out.write(f"{case_id},{components},{deadline},{rng.choice(TIME_ZONES)},{code}\n")
            if number % sample_every == 0:
                sample[case_id] = code
    return sample


class HashTimer:
    """Wraps the import's hashing step and adds up the wall-clock time spent in it."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._real: Callable[..., Any] = imports.access_hashes

    def __enter__(self) -> HashTimer:
        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return self._real(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - began

        imports.access_hashes = timed  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        imports.access_hashes = self._real  # type: ignore[assignment]


def import_once(runtime: Runtime, path: Path) -> tuple[float, float]:
    """(total seconds, hashing seconds) of one import of the file through import_file."""
    with HashTimer() as timer, path.open("rb") as file:
        began = time.perf_counter()
        result = imports.import_file(runtime, file, source=path.name, size=path.stat().st_size)
        total = time.perf_counter() - began
    if result.state != ImportState.SUCCEEDED:
        raise BenchFailed(f"the import ended {result.state.value}: {result.message}")
    return total, timer.seconds


def check_codes(runtime: Runtime, label: str, rows: int, sample: dict[str, str]) -> None:
    with transaction(runtime.sessions) as session:
        # Every case holds a scrypt hash where its code was, so none holds the code.
        hashed = session.scalar(select(func.count()).select_from(Case).where(Case.access_hash.like("scrypt$%"))) or 0
        stored = {
            case_id: access_hash
            for case_id, access_hash in session.execute(
                select(Case.case_id, Case.access_hash).where(Case.case_id.in_(list(sample)))
            )
        }
    if hashed != rows:
        raise BenchFailed(f"{label}: {hashed:,} cases have a scrypt hash; expected {rows:,}")
    for case_id, code in sample.items():
        if not verify_code(code, stored.get(case_id)) or verify_code(code[::-1], stored.get(case_id)):
            raise BenchFailed(f"{label}: the stored hash of {case_id} does not verify its code (or verifies another)")


def measure(backend: str, path: Path, rows: int, sample: dict[str, str], again: bool) -> list[Measured]:
    results: list[Measured] = []
    with prepared(backend) as (_, runtime, outage_id):
        runs = ["first", "again"] if again else ["first"]
        for run in runs:
            label = f"{backend} {run} {rows:,} rows"
            print(f"  … {label}", file=sys.stderr, flush=True)
            total, hashing = import_once(runtime, path)
            check_outcome(runtime, label, "valid", rows, outage_id)
            check_codes(runtime, label, rows, sample)
            results.append(Measured(backend, run, rows, total, hashing, peak_rss_mib()))
    return results


def one_hash_ms(count: int = 20) -> float:
    """Milliseconds one hash takes on one thread, here and now."""
    began = time.perf_counter()
    for number in range(count):
        access.hash_code(f"BENCH{number:04d}")
    return (time.perf_counter() - began) / count * 1000


def render(results: list[Measured]) -> str:
    return table(
        ("backend", "run", "rows", "total s", "hashing s", "hashing %", "cases/s", "peak RSS MiB"),
        [
            (
                r.backend,
                r.run,
                f"{r.rows:,}",
                f"{r.total_seconds:.1f}",
                f"{r.hash_seconds:.1f}",
                f"{100 * r.hash_share:.0f}",
                f"{r.cases_per_second:,.0f}",
                f"{r.peak_rss_mib:.0f}",
            )
            for r in results
        ],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.import_access_codes", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=positive, default=20_000, help="cases, each with a code (default 20000)")
    parser.add_argument("--backends", type=parse_backends, default=["sqlite"], help="default: sqlite")
    parser.add_argument("--again", action="store_true", help="import the same file a second time, unchanged")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    rows = int(args.rows)
    backends: list[str] = args.backends
    try:
        print_machine(backends)
        print(
            f"hashing:  scrypt N={access.SCRYPT_N}, r={access.SCRYPT_R}, p={access.SCRYPT_P} "
            f"({128 * access.SCRYPT_R * access.SCRYPT_N // 2**20} MiB a hash), {access.HASH_THREADS} threads, "
            f"{one_hash_ms():.1f} ms a hash on one thread; {imports.BATCH_ROWS:,} rows staged per batch"
        )
        print(flush=True)
        results: list[Measured] = []
        with tempfile.TemporaryDirectory(prefix="pw_bench_access_") as directory:
            path = Path(directory) / "cases-with-codes.csv"
            print(f"  … writing {rows:,} cases with access codes", file=sys.stderr, flush=True)
            sample = write_csv(path, rows)
            for backend in backends:
                results.extend(measure(backend, path, rows, sample, args.again))
    except BenchFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    print(render(results))
    print(
        "\ntotal: import_file from its start to its end, commits and relief included; cases/s = rows / total.\n"
        "hashing s: wall-clock time inside the hashing step (the import waits for it); hashing % = hashing / total.\n"
        "again: the same codes checked against their stored hashes, which costs what hashing does."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
