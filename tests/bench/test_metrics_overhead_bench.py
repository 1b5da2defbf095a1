"""The metrics overhead benchmark, run tiny on both back ends: it finishes, checks itself and prints its figures.

Correctness only, never time: the figures' values depend on the machine; their lines must be there.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.timeout(180)
def test_the_metrics_overhead_benchmark_runs_on_both_back_ends_and_checks_itself(postgres_server: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.metrics_overhead", "--batches", "5", "--batch-size", "10", "--rounds", "1"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PORTALWATCH_BENCH_PG": postgres_server},
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "figure:   instrumentation alone " in out
    assert "figure:   engine at 636 checks per CPU-second" in out
    for backend in ("postgresql", "sqlite"):
        for figure in ("record_checks without metrics", "record_checks with metrics", "with - without, each round"):
            assert f"figure:   {backend} {figure}" in out
    assert "goal:     metrics cost at most 10% of the engine's checks per CPU-second: met" in out
    assert "checked:  every batch recorded all its checks" in out
