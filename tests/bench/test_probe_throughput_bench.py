"""The probe throughput benchmark, run tiny in both modes: it starts the real processes, measures, checks
its own results and stops everything. Correctness only, never time: the figures' values depend on the
machine; their lines must be there, and every due check must have been done.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from bench.probe_throughput import Scenario, due_slots, parse_scenarios
from monitor.config import parse_config
from monitor.scheduler.slots import slot_for
from tests.conftest import ROOT


def test_scenarios_are_probes_at_an_interval() -> None:
    assert [s.label for s in parse_scenarios("500@20s, 1000@10s,20@2s")] == ["500@20s", "1000@10s", "20@2s"]
    assert parse_scenarios("5000@1m") == [Scenario(5000, timedelta(minutes=1))]
    with pytest.raises(argparse.ArgumentTypeError):
        parse_scenarios("500")


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.timeout(150)
def test_the_probe_throughput_benchmark_does_every_due_check_in_both_modes(postgres_server: str) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.probe_throughput",
            "--scenarios",
            "20@2s",
            "--seconds",
            "8",
            "--warmup",
            "4",
            "--modes",
            "embedded,distributed",
        ],
        cwd=ROOT,
        # A Redis database of its own: a benchmark run by hand beside the suite holds the bench's default
        # database's scheduler lock.
        env={**os.environ, "PORTALWATCH_BENCH_REDIS": "redis://127.0.0.1:6379/9"},
        capture_output=True,
        text=True,
        timeout=140,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "checks/CPU-s" in done.stdout
    assert "lateness p50/p95/p99/max s" in done.stdout
    for mode in ("embedded", "distributed"):
        # 20 probes every 2 s over a little more than 8 s: 4 slots each, a fifth for a probe whose offset
        # falls in the few milliseconds the window ran over.
        row = re.search(rf"^{mode} +20 +2s +(\d+)/(\d+) ", done.stdout, re.MULTILINE)
        assert row is not None, done.stdout
        assert row[1] == row[2] and 80 <= int(row[2]) <= 84
        assert f"{mode} 20@2s: every due check done: met" in done.stdout
        assert f"{mode} 20@2s: p95 lateness" in done.stdout
    assert "PostgreSQL backend(s)" in done.stdout
    assert "scheduler" in done.stdout
    assert "load:     1-minute load average" in done.stdout


def test_due_slots_are_the_scheduler_s_slots_in_the_window() -> None:
    config = parse_config(
        "components:\n  - id: a\n    name: A\n    probes:\n"
        '      - {id: p1, type: http, url: "http://127.0.0.1:9/", interval: 2s}\n'
        '      - {id: p2, type: http, url: "http://127.0.0.1:9/", interval: 3s}\n'
    )
    start = datetime(2026, 11, 26, 12, 0, 0, 123456, tzinfo=UTC)
    end = start + timedelta(seconds=12)

    due = due_slots(config, start, end)

    assert {p for p, _ in due} == {"p1", "p2"}
    assert sum(p == "p1" for p, _ in due) == 6 and sum(p == "p2" for p, _ in due) == 4
    for probe_id, slot in due:
        interval = timedelta(seconds=2 if probe_id == "p1" else 3)
        assert start <= slot < end
        assert slot_for(probe_id, interval, slot) == slot
