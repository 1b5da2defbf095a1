"""Deterministic demo cases: ids, affected components and deadlines in each applicant's own time zone."""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TextIO
from zoneinfo import ZoneInfo

from probes.duration import parse_duration

# Where IRCC applicants and representatives actually are, so offsets (incl. half-hours) get exercised.
TIME_ZONES: tuple[str, ...] = (
    "America/Toronto",
    "America/Vancouver",
    "America/Halifax",
    "America/Winnipeg",
    "America/Edmonton",
    "America/St_Johns",
    "Asia/Kolkata",
    "Asia/Manila",
    "Europe/Paris",
    "Africa/Lagos",
)
CSV_FIELDS: tuple[str, ...] = ("case_id", "components", "deadline", "time_zone", "access_code")
# Typeable access codes for the demo's applicants (the real ones come from the department's own system).
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
DEFAULT_COMPONENTS = "pr,representative,employer,sign-in"


def generate_cases(
    count: int, *, start: datetime, span: timedelta, components: Sequence[str], seed: int = 7
) -> list[dict[str, str]]:
    """``count`` cases with deadlines uniformly spread over [start, start + span], same output for a seed.

    Each case names one or two of ``components`` (joined by ";"), and its deadline is an ISO 8601
    timestamp with offset, in whole seconds, expressed in the case's ``time_zone``.
    """
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("start must be timezone-aware")
    if count < 0:
        raise ValueError("count must not be negative")
    if span < timedelta(0):
        raise ValueError("span must not be negative")
    pool = list(dict.fromkeys(components))
    if not pool:
        raise ValueError("components must not be empty")
    rng = random.Random(seed)
    span_seconds = int(span.total_seconds())
    cases: list[dict[str, str]] = []
    for number in range(1, count + 1):
        picked = rng.sample(pool, rng.randint(1, min(2, len(pool))))
        # Keep the caller's component order so the same pair always reads the same way.
        picked.sort(key=pool.index)
        time_zone = rng.choice(TIME_ZONES)
        # Whole seconds keep the CSV readable and can't overshoot start + span.
        deadline = start + timedelta(seconds=rng.randint(0, span_seconds))
        cases.append(
            {
                "case_id": f"D-{number:06d}",
                "components": ";".join(picked),
                "deadline": deadline.astimezone(ZoneInfo(time_zone)).isoformat(),
                "time_zone": time_zone,
                "access_code": "".join(rng.choice(_CODE_ALPHABET) for _ in range(12)),
            }
        )
    return cases


def write_cases_csv(cases: Iterable[Mapping[str, str]], path_or_file: str | os.PathLike[str] | TextIO) -> int:
    """Write ``cases`` as CSV with the ``case_id,components,deadline,time_zone,access_code`` header; returns rows."""
    if isinstance(path_or_file, str | os.PathLike):
        with open(path_or_file, "w", newline="", encoding="utf-8") as handle:
            return _write(cases, handle)
    return _write(cases, path_or_file)


def _write(cases: Iterable[Mapping[str, str]], handle: TextIO) -> int:
    writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    rows = 0
    for case in cases:
        writer.writerow({field: case[field] for field in CSV_FIELDS})
        rows += 1
    return rows


def parse_span(text: str) -> timedelta:
    """Accept ``600s``, ``10m``, ``2h``, ``1d`` or a bare number of seconds (as probe intervals do)."""
    return parse_duration(text)


def _span_arg(text: str) -> timedelta:
    try:
        return parse_span(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.cases", description=__doc__)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--span", type=_span_arg, default=parse_span("10m"), help="e.g. 600s, 10m, 2h")
    parser.add_argument("--components", default=DEFAULT_COMPONENTS, help="comma-separated component ids")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", required=True, help="CSV file to write, or - for stdout")
    args = parser.parse_args(argv)
    components = [c.strip() for c in args.components.split(",") if c.strip()]
    if not components:
        parser.error("--components must name at least one component")
    if args.count < 0:
        parser.error("--count must not be negative")
    start = datetime.now(UTC).replace(microsecond=0)
    cases = generate_cases(args.count, start=start, span=args.span, components=components, seed=args.seed)
    if args.out == "-":
        written = write_cases_csv(cases, sys.stdout)
        print(f"Wrote {written} cases", file=sys.stderr)
    else:
        written = write_cases_csv(cases, args.out)
        print(f"Wrote {written} cases to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
