"""`GET /metrics` as deployed: real gunicorn with two gevent workers, beside a real scheduler and Celery worker
of the same host on PostgreSQL and Redis, all writing to one metrics directory.

Whichever gunicorn worker answers, the scrape has what the Celery worker counted and the scheduler timed,
plus what the database holds; `promtool check metrics` accepts it. The web's start removed the files of a
process that had ended and kept those of the running ones.
"""

from __future__ import annotations

import os
import re
import signal
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select, update

from monitor.metrics import files
from monitor.storage.engine import transaction
from monitor.storage.enums import LocationSight
from monitor.storage.models import Check, Location, Outage
from monitor.usecases.outages import declare_outage
from tests.conftest import make_runtime
from tests.deployment.test_deployment import COMPOSE, DOCKERFILE, gunicorn, migrate, shipped_gunicorn, web_env
from tests.e2e.test_distributed import start, stop
from tests.monitor.metrics.test_multiprocess import record_and_exit
from tests.monitor.usecases.targets import TargetServer, serving
from tests.promtool import promtool_check

SAMPLE = re.compile(r"^(?P<name>[a-z_]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")


def config(target: str) -> str:
    return f"""
page: {{name: Test portal status, url: "http://status.test/", time_zone: America/Toronto}}
locations: [local, {{name: montreal, control: "http://127.0.0.1:9/"}}]
failure_threshold: 2
recovery_threshold: 2
components:
  - id: pr-portal
    name: Permanent residence portal
    probes:
      - {{id: pr-up, type: http, url: "{target}/ok/1", interval: 1s, timeout: 1s}}
  - id: employer-portal
    name: Employer portal
    probes:
      - {{id: employer-down, type: http, url: "{target}/down/1", interval: 1s, timeout: 1s}}
"""


def samples(body: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for line in body.splitlines():
        match = SAMPLE.match(line)
        if match:
            labels = frozenset(re.findall(r'(\w+)="([^"]*)"', match["labels"] or ""))
            found[(match["name"], labels)] = float(match["value"])
    return found


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def wait_until(what: str, condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def target() -> Iterator[TargetServer]:
    with serving() as server:
        yield server


@pytest.mark.timeout(240)
def test_two_gunicorn_workers_serve_what_every_process_of_the_host_recorded_and_promtool_accepts_it(
    tmp_path: Path, postgres_url: str, redis_url: str, target: TargetServer
) -> None:
    metrics_dir = tmp_path / "metrics"
    config_file = tmp_path / "portalwatch.yaml"
    config_file.write_text(config(target.base))
    common = {"PORTALWATCH_METRICS_DIR": str(metrics_dir), "PORTALWATCH_DATA_DIR": str(tmp_path / "data")}
    env = web_env(postgres_url, PORTALWATCH_CONFIG=str(config_file), **common)
    migrate(env)
    # What the database holds before anything runs: an outage ops declared, a blind location.
    runtime = make_runtime(postgres_url, config_file.read_text())
    with transaction(runtime.sessions) as session:
        declare_outage(
            session,
            component_id="pr-portal",
            started_at=datetime.now(UTC),
            ended_at=None,
            severity="partial_outage",
            reason="The operator reports uploads failing",
            now=datetime.now(UTC),
        )
        session.execute(update(Location).where(Location.id == "montreal").values(sight=LocationSight.BLIND))
    # A process of an earlier run, ended: its files are in the directory.
    ghost = record_and_exit(metrics_dir, "ghost-probe", 3)

    # The scheduler and a Celery worker of the same host (probe queues only: the outbox stays pending).
    distributed = {**os.environ, **env, "REDIS_URL": redis_url}
    logs = {name: tmp_path / f"{name}.log" for name in ("scheduler", "worker")}
    worker = start(
        ["worker", "--pool", "threads", "--probes-only", "--loglevel", "WARNING"], distributed, logs["worker"]
    )
    scheduler = start(["scheduler"], distributed, logs["scheduler"])
    processes = [scheduler, worker]
    try:

        def recorded() -> tuple[int, int]:
            with transaction(runtime.sessions) as session:
                checks = session.scalar(select(func.count()).select_from(Check).where(Check.location == "local"))
                observed = session.scalar(select(func.count()).select_from(Outage).where(Outage.source == "observed"))
            return checks or 0, observed or 0

        wait_until("the worker to record checks and open an outage", lambda: recorded()[0] >= 6 and recorded()[1] == 1)
        running = files.names(metrics_dir) - {ghost}
        assert len(running) == 2, files.names(metrics_dir)  # the scheduler's and the worker's

        port, web, args = shipped_gunicorn(env)
        # The shipped configuration, with each access log line naming the worker that answered.
        args = ["--access-logformat", '%(p)s "%(r)s" %(s)s', *args]
        log = tmp_path / "gunicorn.log"
        with gunicorn(args, web, port, log, cwd=tmp_path) as url:
            # On starting, the master removed the ended process's files and kept the running ones'.
            assert files.names(metrics_dir) >= running and ghost not in files.names(metrics_dir)

            bodies: dict[str, str] = {}  # worker pid -> a body it served
            deadline = time.monotonic() + 30
            while len(bodies) < 2 and time.monotonic() < deadline:
                with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
                    assert response.status == 200
                    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
                    body = response.read().decode()
                served = re.findall(r'^<(\d+)> "GET /metrics HTTP/1.1" 200$', log.read_text(), flags=re.MULTILINE)
                if served:
                    bodies.setdefault(served[-1], body)
            assert len(bodies) == 2, log.read_text()[-3000:]  # both workers answered

            for body in bodies.values():
                promtool_check(body)
                found = samples(body)
                assert (value(found, "portalwatch_checks_total", probe="pr-up", location="local", result="ok") or 0) > 0
                down = value(
                    found, "portalwatch_checks_total", probe="employer-down", location="local", result="status"
                )
                assert (down or 0) >= 2
                assert (value(found, "portalwatch_check_latency_seconds_count", location="local") or 0) > 0
                assert (value(found, "portalwatch_scheduler_lateness_seconds_count", location="local") or 0) > 0
                assert value(found, "portalwatch_database_up") == 1
                assert value(found, "portalwatch_open_outages", severity="partial_outage") == 1  # declared
                assert value(found, "portalwatch_open_outages", severity="major_outage") == 1  # observed
                assert value(found, "portalwatch_location_blind", location="montreal") == 1
                assert value(found, "portalwatch_blind_locations") == 1
                assert (value(found, "portalwatch_outbox_pending", consumer="relief") or 0) >= 2
                assert "ghost-probe" not in body

            # A worker that dies is replaced: the master's child_exit (prometheus_client's mark_process_dead)
            # drops its lock file, and the new worker answers with the same sums.
            killed = int(next(iter(bodies)))
            os.kill(killed, signal.SIGKILL)
            wait_until("child_exit", lambda: not (metrics_dir / f"{files.process_name(killed)}.alive").exists())
            replaced = False
            deadline = time.monotonic() + 30
            while not replaced and time.monotonic() < deadline:
                with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
                    assert value(samples(response.read().decode()), "portalwatch_database_up") == 1
                served = re.findall(r'^<(\d+)> "GET /metrics HTTP/1.1" 200$', log.read_text(), flags=re.MULTILINE)
                replaced = served[-1] not in bodies
            assert replaced, log.read_text()[-3000:]

            for process in processes:
                stop(process)
            # They ended; what they counted stays until the next start, and matches the record exactly.
            with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
                found = samples(response.read().decode())
            counted = sum(
                v
                for (name, labels), v in found.items()
                if name == "portalwatch_checks_total" and ("location", "local") in labels
            )
            assert counted == recorded()[0]
        output = log.read_text()
        assert "MonkeyPatchWarning" not in output and "Traceback" not in output, output[-3000:]
    except BaseException:
        for name, path in logs.items():
            print(f"----- {name} -----\n{path.read_text(errors='replace')[-4000:]}")
        raise
    finally:
        for process in processes:
            stop(process)
        runtime.close()
    for name, process in zip(("scheduler", "worker"), processes, strict=True):
        assert process.returncode == 0, logs[name].read_text()


def test_in_compose_the_web_worker_and_scheduler_share_one_metrics_directory_the_image_lets_them_write() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    for name in ("web", "worker", "scheduler"):
        assert services[name]["environment"]["PORTALWATCH_METRICS_DIR"] == "/var/lib/portalwatch/metrics"
        assert "metrics:/var/lib/portalwatch/metrics" in services[name]["volumes"]
    dockerfile = DOCKERFILE.read_text()
    assert "ENV PORTALWATCH_METRICS_DIR=/var/lib/portalwatch/metrics" in dockerfile
    made = next(line for line in dockerfile.splitlines() if "mkdir -p" in line)
    assert "/var/lib/portalwatch/metrics" in made and "chown -R portalwatch /var/lib/portalwatch" in made
