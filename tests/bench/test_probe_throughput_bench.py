"""The probe throughput benchmark, run tiny in both modes, and its steps and browser kinds in a worker: it
starts the real processes, measures, checks its own results and stops everything. Correctness only,
never time: the figures' values depend on the machine; their lines must be there, and every due check
must have been done.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from bench.loopback_portals import BrowserPortal, StepsPortal
from bench.probe_throughput import KINDS, PASSWORD_ENV, Scenario, config_text, due_slots, parse_kinds, parse_scenarios
from monitor.config import parse_config
from monitor.scheduler.slots import slot_for
from probes.steps import run_steps_probe
from tests.conftest import ROOT

BENCH_REDIS = "redis://127.0.0.1:6379/9"


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m bench.probe_throughput` with these arguments, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "bench.probe_throughput", *args],
        cwd=ROOT,
        # A Redis database of its own: a benchmark run by hand beside the suite holds the bench's default
        # database's scheduler lock.
        env={**os.environ, "PORTALWATCH_BENCH_REDIS": BENCH_REDIS},
        capture_output=True,
        text=True,
        timeout=140,
        check=False,
    )


def test_scenarios_are_probes_at_an_interval() -> None:
    assert [s.label for s in parse_scenarios("500@20s, 1000@10s,20@2s")] == ["500@20s", "1000@10s", "20@2s"]
    assert parse_scenarios("5000@1m") == [Scenario(5000, timedelta(minutes=1))]
    with pytest.raises(argparse.ArgumentTypeError):
        parse_scenarios("500")


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.timeout(150)
def test_the_probe_throughput_benchmark_does_every_due_check_in_both_modes(postgres_server: str) -> None:
    done = run_bench("--scenarios", "20@2s", "--seconds", "8", "--warmup", "4", "--modes", "embedded,distributed")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "checks/CPU-s" in done.stdout
    assert "lateness p50/p95/p99/max s" in done.stdout
    for mode in ("embedded", "distributed"):
        # 20 probes every 2 s over a little more than 8 s: 4 slots each, a fifth for a probe whose offset
        # falls in the few milliseconds the window ran over.
        row = re.search(rf"^http +{mode} +20 +2s +(\d+)/(\d+) ", done.stdout, re.MULTILINE)
        assert row is not None, done.stdout
        assert row[1] == row[2] and 80 <= int(row[2]) <= 84
        assert f"{mode} 20@2s: every due check done: met" in done.stdout
        assert f"{mode} 20@2s: p95 lateness" in done.stdout
    assert "PostgreSQL backend(s)" in done.stdout
    assert "scheduler" in done.stdout
    assert "load:     1-minute load average" in done.stdout
    assert "CPUs busy on average in the window" in done.stdout


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.timeout(150)
def test_the_benchmark_runs_steps_and_browser_probes_in_a_worker(postgres_server: str) -> None:
    done = run_bench("--kind", "steps,browser", "--scenarios", "2@3s", "--seconds", "6", "--warmup", "3")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "worker checks/CPU-s" in done.stdout and "worker tree RSS/PSS MiB" in done.stdout
    for kind in ("steps", "browser"):
        # Distributed only, their default: 2 probes every 3 s over a little more than 6 s, 2 slots each and
        # a third for a probe whose offset falls in the few milliseconds the window ran over.
        row = re.search(rf"^{kind} +distributed +2 +3s +(\d+)/(\d+) ", done.stdout, re.MULTILINE)
        assert row is not None, done.stdout
        assert row[1] == row[2] and 4 <= int(row[2]) <= 6
        assert f"{kind} distributed 2@3s: every due check done: met" in done.stdout
        assert f"{kind} embedded" not in done.stdout
    tree = re.search(r"^ +worker tree \(the worker and every process it started\): .*PSS.*$", done.stdout, re.MULTILINE)
    assert tree is not None and "chromium" in done.stdout.split("browser distributed 2@3s over")[1], done.stdout
    assert "chromium: 1 browser process(es) in the window" in done.stdout
    answered = re.findall(r"the portal answered: (.*)$", done.stdout, re.MULTILINE)
    assert len(answered) == 2 and all("refused 0, other 0" in line for line in answered), answered
    assert "upload" in answered[0] and "delete" in answered[0] and "sign-in" in answered[1]


def test_kinds_and_their_configurations() -> None:
    assert parse_kinds("steps, browser,steps") == ["steps", "browser"]
    with pytest.raises(argparse.ArgumentTypeError):
        parse_kinds("ftp")
    for kind in KINDS:
        config = parse_config(config_text(Scenario(5, timedelta(seconds=10)), [8001, 8002], "bench-x", 2, kind))
        probes = [probe for _component, probe in config.probes()]
        assert [p.type for p in probes] == [kind] * 5
        assert len({p.id for p in probes}) == 5


def test_a_steps_probe_of_the_bench_passes_against_its_portal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "pw-bench")
    with StepsPortal("pw-bench") as portal:
        port = portal.server.server_address[1]
        config = parse_config(config_text(Scenario(2, timedelta(seconds=10)), [port], "bench-x", 1, "steps"))
        results = [run_steps_probe(probe, "bench-x") for _component, probe in config.probes()]  # type: ignore[arg-type]
        stats = portal.snapshot()

    assert all(r.ok for r in results), [r.evidence for r in results]
    assert stats == {
        "probe": 2,
        "refused": 0,
        "other": 0,
        "sign-in": 2,
        "upload": 2,
        "read-back": 2,
        "delete": 2,
        "documents_kept": 0,
        "sessions_open": 0,
    }


def test_the_portals_refuse_what_a_wrong_transaction_sends() -> None:
    with StepsPortal("pw-bench") as steps, BrowserPortal("pw-bench") as browser:
        base = f"http://127.0.0.1:{steps.server.server_address[1]}/s/1"
        with urllib.request.urlopen(f"{base}/sign-in", timeout=10) as page:
            token = re.search(r'name="csrf" value="([0-9a-f]+)"', page.read().decode())
        assert token is not None
        for form in (
            {"user": "probe", "password": "wrong", "csrf": token[1]},  # the token is spent by this attempt
            {"user": "probe", "password": "pw-bench", "csrf": token[1]},
        ):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(f"{base}/sign-in", data=urllib.parse.urlencode(form).encode(), timeout=10)
            refused.value.close()
            assert refused.value.code == 403
        with pytest.raises(urllib.error.HTTPError) as unknown:
            urllib.request.urlopen(f"{base}/elsewhere", timeout=10)
        unknown.value.close()
        assert unknown.value.code == 404
        wrong = urllib.parse.urlencode({"user": "probe", "password": "wrong"}).encode()
        with urllib.request.urlopen(f"{browser.url}b/1/sign-in", data=wrong, timeout=10) as page:
            assert "Wrong user or password" in page.read().decode()

        assert steps.snapshot()["refused"] == 2 and steps.snapshot()["other"] == 1
        assert browser.snapshot()["refused"] == 1


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
