"""A real Celery worker whose process dies in the middle of a batch of checks: the batch comes back, once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from monitor.runtime import Runtime
from monitor.settings import Settings
from monitor.storage.engine import transaction
from monitor.storage.models import Check
from monitor.tasks.celery import make_celery
from monitor.usecases import jobs
from tests.conftest import ROOT, make_runtime
from tests.monitor.usecases.test_run_checks import TargetServer, config


def children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout.split()
    return [int(child) for child in found]


def recorded(runtime: Runtime) -> dict[str, int]:
    with transaction(runtime.sessions) as session:
        rows = session.execute(select(Check.probe_id, func.count()).group_by(Check.probe_id)).all()
    return {probe_id: n for probe_id, n in rows}


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.timeout(120)
def test_a_worker_process_killed_mid_batch_has_the_batch_run_again_and_nothing_is_recorded_twice_or_lost(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    server = TargetServer()
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    serving.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    probes = {f"fast-{n:02d}": f"ok/{n}" for n in range(20)} | {"slow": "hang/0"}
    text = config(base, probes, timeout="20s")  # the slow check is still out when its process dies
    path = tmp_path / "portalwatch.yaml"
    path.write_text(text)
    runtime = make_runtime(postgres_url, text)
    env = {
        **os.environ,
        "DATABASE_URL": postgres_url,
        "REDIS_URL": redis_url,
        "PORTALWATCH_CONFIG": str(path),
        "PORTALWATCH_LOCATION": "local",
        "PORTALWATCH_DATA_DIR": str(tmp_path / "data"),  # its metrics directory, out of the source tree
    }
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "monitor", "worker", "--probes-only", "--pool", "prefork", "--concurrency", "1"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    celery = make_celery(Settings.explicit(database_url=postgres_url, redis_url=redis_url))
    slot = datetime(2026, 11, 20, 15, 0, tzinfo=UTC).isoformat()
    try:
        celery.send_task(jobs.RUN_CHECKS, args=("local", [[probe, slot] for probe in probes]), queue="probes.local")
        deadline = time.monotonic() + 60
        while sum(recorded(runtime).values()) < 20:  # the fast ones are committed while the slow one is out
            assert time.monotonic() < deadline and worker.poll() is None, log.read_text(errors="replace")[-3000:]
            time.sleep(0.05)
        [child] = children(worker.pid)
        os.kill(child, signal.SIGKILL)  # the process running the batch dies, its task not acknowledged
        server.release.set()  # from now on the slow target answers

        # The worker gives the task back at once (acks_late, reject_on_worker_lost) and a new process
        # runs the batch again: only the check that was lost runs, and it is recorded once.
        while recorded(runtime).get("slow") is None:
            assert time.monotonic() < deadline and worker.poll() is None, log.read_text(errors="replace")[-3000:]
            time.sleep(0.05)
        time.sleep(0.5)  # room for a duplicate, were one coming
        assert recorded(runtime) == dict.fromkeys(probes, 1)
        assert child not in children(worker.pid)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
        celery.close()
        runtime.close()
        server.shutdown()
        server.server_close()
