"""How fast letters are made: rendered as bilingual PDFs and signed, in one process or several at once.

Run it from the repository root:

    .venv/bin/python -m bench.letters_render [--letters 500] [--processes 1] [--profile]

Each process signs with the same kept self-signed key (made in a temporary directory, as a deployment
without a configured key does), first makes a few letters untimed (fonts registered, pyHanko imported),
then renders and signs `--letters` letters, the three kinds in turn, each with a fresh code: example
letters of realistic size (two outages, rules, a DST change; see exemptions.letters.samples). Render
and sign are timed apart, in wall time and in the process's CPU time (on a shared machine the CPU time
is the steadier figure). The processes start their timed loops together, so with `--processes 2` on a
2-core machine the letters/s is what two signing workers achieve side by side.

Every 25th letter, and the last, is checked: Signer.validate must find it genuine, outside the timing.

`--profile` prints, for one process, the functions that took the most time (cProfile, cumulative).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import multiprocessing
import os
import pstats
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import version
from multiprocessing.synchronize import Barrier
from pathlib import Path

from exemptions.letters import Signer, render_pdf
from exemptions.letters.samples import PAGE_NAME, sample_content
from monitor.storage.enums import LetterKind

WARM_UP = 5
CHECK_EVERY = 25
KINDS = tuple(LetterKind)


class BenchFailed(Exception):
    """A letter failed its check; the message says which."""


@dataclass(frozen=True)
class Measured:
    letters: int
    wall_seconds: float  # the whole timed loop, letters built, rendered and signed
    render_ms: list[float]
    sign_ms: list[float]
    render_cpu_ms: float  # per letter, mean
    sign_cpu_ms: float
    pdf_bytes: int  # mean size of a signed letter
    first_letter_ms: float  # the first letter of the process: imports, font registration
    peak_rss_mib: float


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(key_directory: Path, letters: int, start: Barrier | None, profile: bool) -> Measured:
    """Render and sign `letters` letters in this process; checked, BenchFailed if one is not genuine."""
    signer = Signer.self_signed(key_directory, PAGE_NAME)
    began = time.perf_counter()
    for number in range(WARM_UP):
        content = sample_content(KINDS[number % len(KINDS)])
        signed = signer.sign(render_pdf(content), reason="warm-up")
        if number == 0:
            first_letter_ms = (time.perf_counter() - began) * 1000
    if start is not None:
        start.wait()

    profiler = cProfile.Profile() if profile else None
    render_ms: list[float] = []
    sign_ms: list[float] = []
    render_cpu = sign_cpu = 0.0
    size = 0
    checks: list[tuple[str, bytes]] = []
    if profiler is not None:
        profiler.enable()
    loop_began = time.perf_counter()
    for number in range(letters):
        content = sample_content(KINDS[number % len(KINDS)])
        wall, cpu = time.perf_counter(), time.process_time()
        unsigned = render_pdf(content)
        wall_rendered, cpu_rendered = time.perf_counter(), time.process_time()
        signed = signer.sign(unsigned, reason=f"{content.kind.value} {content.code}")
        wall_signed, cpu_signed = time.perf_counter(), time.process_time()
        render_ms.append((wall_rendered - wall) * 1000)
        sign_ms.append((wall_signed - wall_rendered) * 1000)
        render_cpu += cpu_rendered - cpu
        sign_cpu += cpu_signed - cpu_rendered
        size += len(signed)
        if number % CHECK_EVERY == 0 or number == letters - 1:
            checks.append((content.code, signed))
    wall_seconds = time.perf_counter() - loop_began
    if profiler is not None:
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
        print(out.getvalue(), file=sys.stderr)

    peak = peak_rss_mib()
    for code, signed in checks:
        result = signer.validate(signed)
        if not result.genuine or result.claimed_code != code:
            raise BenchFailed(f"letter {code}: {result.reason} (claims {result.claimed_code})")
    return Measured(
        letters=letters,
        wall_seconds=wall_seconds,
        render_ms=render_ms,
        sign_ms=sign_ms,
        render_cpu_ms=render_cpu * 1000 / letters,
        sign_cpu_ms=sign_cpu * 1000 / letters,
        pdf_bytes=size // letters,
        first_letter_ms=first_letter_ms,
        peak_rss_mib=peak,
    )


def _child(key_directory: Path, letters: int, start: Barrier, results: multiprocessing.Queue[object]) -> None:
    try:
        results.put(measure(key_directory, letters, start, profile=False))
    except BaseException as exc:
        start.abort()
        results.put(f"{type(exc).__name__}: {exc}")


def run_processes(key_directory: Path, letters: int, processes: int) -> tuple[list[Measured], float]:
    """Each process measures `letters` letters, all starting together; (their results, wall time of all)."""
    context = multiprocessing.get_context("fork")
    start = context.Barrier(processes + 1)
    results: multiprocessing.Queue[object] = context.Queue()
    children = [context.Process(target=_child, args=(key_directory, letters, start, results)) for _ in range(processes)]
    for child in children:
        child.start()
    try:
        start.wait(timeout=300)
    except Exception as exc:
        raise BenchFailed("a measuring process failed before its timed loop") from exc
    began = time.perf_counter()
    outcomes = [results.get(timeout=3600) for _ in children]
    wall = time.perf_counter() - began
    for child in children:
        child.join()
    failures = [o for o in outcomes if not isinstance(o, Measured)]
    if failures:
        raise BenchFailed("; ".join(str(f) for f in failures))
    return [o for o in outcomes if isinstance(o, Measured)], wall


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def report(results: list[Measured], wall: float) -> str:
    letters = sum(r.letters for r in results)
    render = [ms for r in results for ms in r.render_ms]
    sign = [ms for r in results for ms in r.sign_ms]
    total = [a + b for r in results for a, b in zip(r.render_ms, r.sign_ms, strict=True)]
    cpu_render = statistics.fmean(r.render_cpu_ms for r in results)
    cpu_sign = statistics.fmean(r.sign_cpu_ms for r in results)
    lines = [
        f"letters:  {letters:,} in {len(results)} process(es), {wall:.2f} s: {letters / wall:.1f} letters/s "
        f"({1000 * wall / letters * len(results):.1f} ms per letter per process)",
        "             mean     p50     p95     max   (wall ms per letter)",
    ]
    for label, values in (("render", render), ("sign", sign), ("both", total)):
        lines.append(
            f"  {label:8s} {statistics.fmean(values):7.2f} {_percentile(values, 0.5):7.2f} "
            f"{_percentile(values, 0.95):7.2f} {max(values):7.2f}"
        )
    lines.append(
        f"cpu:      render {cpu_render:.2f} ms + sign {cpu_sign:.2f} ms = {cpu_render + cpu_sign:.2f} ms per letter "
        f"→ {1000 / (cpu_render + cpu_sign):.1f} letters/s per busy core"
    )
    lines.append(
        f"first:    {statistics.fmean(r.first_letter_ms for r in results):.0f} ms for a process's first letter "
        "(pyHanko import, font registration)"
    )
    lines.append(
        f"size:     {statistics.fmean(r.pdf_bytes for r in results) / 1024:.1f} KiB per signed letter; "
        f"peak RSS {max(r.peak_rss_mib for r in results):.1f} MiB per process"
    )
    return "\n".join(lines)


def count(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.letters_render", description=__doc__.split("\n\n")[0])
    parser.add_argument("--letters", type=count, default=500, help="letters per process (default 500)")
    parser.add_argument("--processes", type=count, default=1, help="signing processes side by side (default 1)")
    parser.add_argument("--profile", action="store_true", help="print where the time goes (one process only)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.profile and args.processes != 1:
        parser.error("--profile measures one process")

    try:
        with tempfile.TemporaryDirectory(prefix="pw_letters_") as directory:
            key_directory = Path(directory) / "letters"
            Signer.self_signed(key_directory, PAGE_NAME)  # made once, before the processes start
            if args.processes == 1:
                results = [measure(key_directory, args.letters, None, args.profile)]
                wall = results[0].wall_seconds
            else:
                results, wall = run_processes(key_directory, args.letters, args.processes)
    except BenchFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1

    # The shared header lives with the storage benchmarks and imports SQLAlchemy: imported only now, so
    # that it does not count in the peak RSS measured above.
    from bench.relief import print_machine

    print_machine([])
    print(
        f"letters:  reportlab {version('reportlab')}, segno {version('segno')}, pyHanko {version('pyhanko')}, "
        f"cryptography {version('cryptography')}; {os.cpu_count()} CPUs seen"
    )
    print()
    print(report(results, wall))
    print(f"checked:  every {CHECK_EVERY}th letter and the last of each process found genuine by Signer.validate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
