"""The directory one host's processes share: each writes files of its own, a scrape sums them, and the files
of processes that no longer run are told from those of running ones.

Every process that records here is a real one of its own (the multiprocess mode is process-wide).
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from monitor.metrics import files
from monitor.metrics.exposition import SharedFiles
from monitor.settings import Settings
from tests.conftest import ROOT
from tests.promtool import promtool_check

pytestmark = pytest.mark.timeout(60)

# A process that records `checks` checks of probe `probe` and a batch sent 0.2 s late, as a worker would.
RECORDER = """
import os, sys
from datetime import UTC, datetime
from pathlib import Path
from monitor.metrics import files, multiprocess, series
from probes.result import CheckResult, ErrorClass
directory, probe, checks, host, wait = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5] == "wait"
if host:
    files.host_name = lambda: host  # as if in a container of that name
multiprocess.start(Path(directory))
at = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
ok = CheckResult(probe, "local", at, True, latency_ms=120.0, status_code=200)
down = CheckResult(probe, "local", at, False, status_code=503, error_class=ErrorClass.STATUS, error="got 503")
series.count_checks([ok] * checks + [down])
series.batch_sent("local", 0.2)
print(files.process_name(os.getpid(), host or None), flush=True)
if wait:
    sys.stdin.read()  # runs until the test closes its input
"""


@contextmanager
def recorder(directory: Path, probe: str, checks: int, *, host: str = "") -> Iterator[str]:
    """A recording process that keeps running inside the block; yields its name in the directory."""
    with subprocess.Popen(
        [sys.executable, "-c", RECORDER, str(directory), probe, str(checks), host, "wait"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdin is not None and process.stdout is not None
        try:
            yield process.stdout.readline().strip()
        finally:
            process.stdin.close()
            assert process.wait(timeout=30) == 0


def record_and_exit(directory: Path, probe: str, checks: int, *, host: str = "") -> str:
    done = subprocess.run(
        [sys.executable, "-c", RECORDER, str(directory), probe, str(checks), host, "exit"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout.strip()


def scraped(directory: Path) -> tuple[dict[tuple[str, tuple[tuple[str, str], ...]], float], str]:
    """The sums a scrape reads from the directory, by sample name and labels, and the exposition text."""
    registry = CollectorRegistry()
    registry.register(SharedFiles(directory))
    sums = {(s.name, tuple(sorted(s.labels.items()))): s.value for family in registry.collect() for s in family.samples}
    return sums, generate_latest(registry).decode()


def checks_of(sums: dict[tuple[str, tuple[tuple[str, str], ...]], float], probe: str, result: str) -> float:
    key = ("portalwatch_checks_total", (("location", "local"), ("probe", probe), ("result", result)))
    return sums.get(key, 0.0)


def test_what_each_process_records_goes_to_files_of_its_own_and_a_scrape_sums_them(tmp_path: Path) -> None:
    with recorder(tmp_path, "pr-home", 3) as first, recorder(tmp_path, "pr-home", 4, host="worker-2") as second:
        assert first != second and second.startswith("worker-2-")
        assert {files.owner(p.name) for p in tmp_path.glob("*.db")} == {first, second}
        assert {p.name for p in tmp_path.glob("*.alive")} == {f"{first}.alive", f"{second}.alive"}
        assert files.running(tmp_path, first) and files.running(tmp_path, second)

        sums, text = scraped(tmp_path)
    assert checks_of(sums, "pr-home", "ok") == 7
    assert checks_of(sums, "pr-home", "status") == 2
    assert sums[("portalwatch_check_latency_seconds_count", (("location", "local"),))] == 7  # answers only
    assert sums[("portalwatch_check_latency_seconds_bucket", (("le", "0.25"), ("location", "local")))] == 7
    assert sums[("portalwatch_check_latency_seconds_bucket", (("le", "0.1"), ("location", "local")))] == 0
    assert sums[("portalwatch_scheduler_lateness_seconds_count", (("location", "local"),))] == 2
    assert sums[("portalwatch_scheduler_lateness_seconds_sum", (("location", "local"),))] == pytest.approx(0.4)
    promtool_check(text)


def test_the_files_of_processes_no_longer_running_go_and_those_of_running_ones_stay(tmp_path: Path) -> None:
    gone = record_and_exit(tmp_path, "pr-gone", 5)
    gone_elsewhere = record_and_exit(tmp_path, "pr-gone", 1, host="old-container")
    with recorder(tmp_path, "pr-alive", 2, host="scheduler-host") as alive:
        assert not files.running(tmp_path, gone) and files.running(tmp_path, alive)

        assert sorted(files.remove_dead(tmp_path)) == sorted([gone, gone_elsewhere])

        assert files.names(tmp_path) == {alive}
        sums, _ = scraped(tmp_path)
        assert checks_of(sums, "pr-gone", "ok") == 0
        assert checks_of(sums, "pr-alive", "ok") == 2  # still read, and still written to
        assert files.remove_dead(tmp_path) == []
    assert files.remove_dead(tmp_path) == [alive]
    assert list(tmp_path.iterdir()) == []


def test_a_process_forked_after_start_writes_files_of_its_own(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import os, sys
        from datetime import UTC, datetime
        from pathlib import Path
        from monitor.metrics import multiprocess, series
        from probes.result import CheckResult
        multiprocess.start(Path(sys.argv[1]))
        ok = CheckResult("pr-home", "local", datetime(2026, 11, 20, tzinfo=UTC), True, latency_ms=5.0)
        series.count_checks([ok])
        child = os.fork()  # a Celery prefork child, say
        if child == 0:
            series.count_checks([ok, ok])
            os._exit(0)
        os.waitpid(child, 0)
        print(os.getpid(), child)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    parent, child = (int(pid) for pid in done.stdout.split())
    assert files.names(tmp_path) == {files.process_name(parent), files.process_name(child)}
    sums, _ = scraped(tmp_path)
    assert checks_of(sums, "pr-home", "ok") == 3


def test_a_name_a_running_process_holds_is_never_shared(tmp_path: Path) -> None:
    name = files.process_name(os.getpid())
    held = os.open(tmp_path / f"{name}.alive", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another host of the same name, same pid
        assert files.ProcessName(tmp_path)() == f"{name}.1"
    finally:
        os.close(held)


def test_a_worker_marked_dead_loses_its_live_gauges_and_its_lock_and_keeps_its_counts(tmp_path: Path) -> None:
    name = files.process_name(4242, "web-1")
    for file_name in (f"gauge_livesum_{name}.db", f"gauge_max_{name}.db", f"counter_{name}.db", f"{name}.alive"):
        (tmp_path / file_name).write_bytes(b"")
    files.mark_process_dead(tmp_path, 4242, "web-1")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"counter_{name}.db", f"gauge_max_{name}.db"]


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"PORTALWATCH_METRICS_DIR": "/srv/metrics"},
        {"PROMETHEUS_MULTIPROC_DIR": "/run/prom"},
        {"PORTALWATCH_METRICS_DIR": " ", "PORTALWATCH_DATA_DIR": "/var/lib/portalwatch"},
        {"DATABASE_URL": "sqlite:///var/demo.db"},
        {"DATABASE_URL": "sqlite:////tmp/a%20b/pw.db?timeout=3"},
        {"DATABASE_URL": "sqlite+pysqlite:///pw.db"},
        {"DATABASE_URL": "sqlite://"},
        {"DATABASE_URL": "sqlite:///:memory:"},
        {"DATABASE_URL": "postgresql+psycopg://portalwatch:pw@postgres:5432/portalwatch"},
        {"DATABASE_URL": "postgresql+psycopg://u@h/db", "PORTALWATCH_DATA_DIR": "/data"},
    ],
)
def test_the_gunicorn_master_finds_the_directory_the_settings_name(env: dict[str, str]) -> None:
    assert files.directory_from_env(env) == Settings.from_env(env).metrics_path


def test_a_process_that_cannot_use_the_metrics_directory_refuses_to_start(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "metrics"
    not_a_directory.write_text("")
    env = {
        "PATH": "/usr/bin:/bin",
        "PORTALWATCH_METRICS_DIR": str(not_a_directory),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'pw.db'}",
        "REDIS_URL": "redis://127.0.0.1:6379/12",
    }
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "scheduler"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"PortalWatch will not start: the metrics directory {not_a_directory} cannot be used" in done.stderr
    assert "Traceback" not in done.stderr
