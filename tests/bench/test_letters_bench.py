"""The letters and verification benchmarks, run tiny: they finish, check their own results and print their figures.

Correctness only, never time: the figures' values depend on the machine; their lines must be there.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT


def run_bench(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, timeout=240, check=False
    )


@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_the_letters_benchmark_issues_every_owed_letter_once_on_both_back_ends(postgres_server: str) -> None:
    done = run_bench("bench.letters", "--cases", "40", "--workers", "2", "--backends", "sqlite,postgresql")

    assert done.returncode == 0, done.stdout + done.stderr
    for backend in ("sqlite", "postgresql"):
        assert f"{backend} relief:  40 cases decided" in done.stdout
        assert "80 letters owed (40 extension, 40 paper_filing)" in done.stdout
        assert f"{backend} letters: 80 letters for 40 cases issued by 2 worker(s)" in done.stdout
        assert "letters/s" in done.stdout
        assert f"{backend} checked: each of the 80 owed letters issued exactly once" in done.stdout
    assert "peak RSS MiB" in done.stdout
    assert "PG backend CPU s" in done.stdout


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.timeout(300)
def test_the_verification_benchmark_serves_checks_and_stops_gunicorn(postgres_server: str) -> None:
    # One employer request at a time: what the run checks is the benchmark, not concurrent signing.
    done = run_bench(
        "bench.verify_load", "--seconds", "2", "--rate", "20", "--requests", "5", "--paper-connections", "1"
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "a. GET /api/v1/verify/<code>: 40 requests, latency ms p50" in done.stdout
    assert "b. POST /api/v1/paper-filing-requests: 5 requests, latency ms p50" in done.stdout
    assert "c. verification, while employers ask: 40 requests" in done.stdout
    assert "0 errors" in done.stdout
    assert "checked:  every answer as expected" in done.stdout  # gunicorn was stopped, none of it left
