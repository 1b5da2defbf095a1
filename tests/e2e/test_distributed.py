"""The whole flow distributed: PostgreSQL, Redis, a real Celery worker process and a scheduler process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from demo.portal import FlakyPortal
from monitor.web import create_app
from tests.conftest import ROOT, SlackStandIn, make_runtime
from tests.e2e.story import Story


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "monitor", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@contextmanager
def stopped_after(processes: list[subprocess.Popen[bytes]], logs: list[Path]) -> Iterator[None]:
    """Stop every process in `processes` (as the list stands at the end) however the block ends; if it
    failed, print the end of each log first."""
    try:
        yield
    except BaseException:
        for log in logs:
            if log.exists():
                print(f"----- {log.name} -----\n{log.read_text(errors='replace')[-4000:]}")
        raise
    finally:
        for process in processes:
            stop(process)


@pytest.mark.timeout(180)
def test_distributed_stack_records_relieves_and_announces_an_outage(
    tmp_path: Path, distributed_env: dict[str, str], portal: FlakyPortal, slack: SlackStandIn
) -> None:
    env = distributed_env
    # The test reads through the same web app the `web` service runs, on the same PostgreSQL database.
    runtime = make_runtime(env["DATABASE_URL"], Path(env["PORTALWATCH_CONFIG"]).read_text(), ops_token="ops-secret")
    story = Story(runtime, create_app(runtime).test_client(), portal, datetime.now(UTC) + timedelta(seconds=5))
    story.import_cases()

    worker = start(
        ["worker", "--pool", "threads", "--concurrency", "4", "--loglevel", "WARNING"], env, tmp_path / "worker.log"
    )
    scheduler = start(["scheduler"], env, tmp_path / "scheduler.log")
    try:
        failed_from, failed_until = story.run()
        slack.wait_for(lambda calls: [c["method"] for c in calls] == ["chat.postMessage", "chat.update"])
        story.assert_record(failed_from, failed_until, interval=timedelta(seconds=0.5))
    except BaseException:
        for name in ("worker.log", "scheduler.log"):
            print(f"----- {name} -----\n{(tmp_path / name).read_text(errors='replace')[-4000:]}")
        raise
    finally:
        stop(scheduler)
        stop(worker)
        runtime.close()
    assert worker.returncode == 0, (tmp_path / "worker.log").read_text()
    assert scheduler.returncode == 0, (tmp_path / "scheduler.log").read_text()
    post, update = slack.calls
    assert "Major outage: Permanent residence portal" in post["body"]["text"]
    assert (update["body"]["channel"], update["body"]["ts"]) == ("C0OUTAGES", "1700000000.000001")
    assert update["body"]["text"].startswith("Resolved: Permanent residence portal")
