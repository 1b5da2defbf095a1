"""The detection latency benchmark, run tiny against PortalWatch's real processes: it finishes, checks
itself and prints its figures.

Correctness only, never time: the figures' values depend on the machine; their lines must be there.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

FIGURES = ("record", "Slack", "summary.json", "Slack after record", "summary after record")
OUTAGE_GOALS = (
    "outage recorded, after the switch",
    "outage in Slack, after recording",
    "outage on summary.json, after recording",
)
GOALS = (
    *OUTAGE_GOALS,
    "recovery recorded, after the switch",
    "recovery in Slack, after recording",
    "recovery on summary.json, after recording",
)


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench.detection_latency", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )


def assert_figures_printed(
    done: subprocess.CompletedProcess[str], trials: int, processes: int, goals: tuple[str, ...] = GOALS
) -> None:
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "1-minute load average" in out
    for number in range(1, trials + 1):
        assert any(line.split()[:2] == [str(number), "outage"] for line in out.splitlines())
        assert any(line.split()[:2] == [str(number), "recovery"] for line in out.splitlines())
    for kind in ("outage", "recovery"):
        for figure in FIGURES:
            assert f"figure:   {kind} {figure} " in out
    for goal in goals:
        assert f"goal:     {goal} " in out
    assert "page.updated_at advanced every time: yes" in out  # no cache inside the server
    assert f"checked:  each of the {trials} trials opened exactly one outage" in out
    assert f"its {processes} processes exited 0 on SIGTERM and left nothing running" in out


@pytest.mark.timeout(180)
def test_the_detection_latency_benchmark_runs_embedded_and_checks_itself() -> None:
    done = run_bench("--trials", "2", "--mode", "embedded")

    assert_figures_printed(done, trials=2, processes=1)
    assert "PortalWatch embedded (serve)" in done.stdout


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.timeout(180)
def test_the_detection_latency_benchmark_runs_distributed_and_checks_itself(postgres_server: str) -> None:
    done = run_bench("--trials", "2", "--mode", "distributed")

    assert_figures_printed(done, trials=2, processes=3)
    assert "PortalWatch distributed (serve, worker, scheduler)" in done.stdout


def assert_three_locations_with_quorum(done: subprocess.CompletedProcess[str], processes: int) -> None:
    assert_figures_printed(done, trials=2, processes=processes, goals=OUTAGE_GOALS)
    out = done.stdout
    assert "from 3 locations (loc-1, loc-2, loc-3), quorum majority (2)" in out
    assert "all 3 locations probed the target after every switch" in out
    assert "goal:     recovery: none with several locations" in out
    assert "goal:     recovery recorded" not in out  # the quorum issue's goals are for the outage only


@pytest.mark.timeout(180)
def test_the_benchmark_runs_three_locations_with_a_quorum_embedded() -> None:
    # `serve` runs every location's checks itself: its dispatcher takes each probes.<location> queue.
    done = run_bench("--trials", "2", "--mode", "embedded", "--locations", "3")

    assert_three_locations_with_quorum(done, processes=1)
    assert "PortalWatch embedded (serve)" in done.stdout


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.timeout(180)
def test_the_benchmark_runs_three_locations_with_a_quorum_distributed(postgres_server: str) -> None:
    # The bench's own Redis database (10), as the one-location run above: the two never run at once.
    done = run_bench("--trials", "2", "--mode", "distributed", "--locations", "3")

    assert_three_locations_with_quorum(done, processes=5)
    assert "PortalWatch distributed (serve, worker-loc-1, worker-loc-2, worker-loc-3, scheduler)" in done.stdout
