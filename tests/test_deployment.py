"""The distributed stack as shipped: docker-compose.yml is valid Compose, and web runs under gunicorn."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from monitor.config import load_config
from tests.conftest import ROOT

COMPOSE = ROOT / "docker-compose.yml"


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    # The Compose Specification's JSON schema (vendored by check-jsonschema): no Docker engine needed.
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_stack_runs_web_worker_scheduler_on_postgres_and_redis() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert {"web", "worker", "scheduler", "postgres", "redis"} <= services.keys()
    assert services["worker"]["command"][:4] == ["python", "-m", "monitor", "worker"]
    assert services["scheduler"]["command"][:4] == ["python", "-m", "monitor", "scheduler"]
    assert "monitor.wsgi:app" in services["web"]["command"]
    for name in ("web", "worker", "scheduler"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["REDIS_URL"].startswith("redis://")
        config = ROOT / env["PORTALWATCH_CONFIG"].removeprefix("/app/")
        assert load_config(config).components  # the file the stack is told to read exists and is valid


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.timeout(90)
def test_web_serves_the_status_api_under_gunicorn(tmp_path: Path) -> None:
    env = {
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'pw.db'}",
        "PORTALWATCH_CONFIG": str(ROOT / "demo" / "portalwatch.yaml"),
    }
    subprocess.run([sys.executable, "-m", "monitor", "migrate"], cwd=ROOT, env=env, check=True, timeout=60)
    port = free_port()
    gunicorn = Path(sys.executable).parent / "gunicorn"
    with (tmp_path / "gunicorn.log").open("wb") as log:
        server = subprocess.Popen(
            [str(gunicorn), "--bind", f"127.0.0.1:{port}", "--workers", "2", "monitor.wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/summary.json", timeout=5) as response:
                    summary = json.load(response)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError((tmp_path / "gunicorn.log").read_text()) from None
                time.sleep(0.3)
        assert summary["status"]["indicator"] == "none"
        assert [c["id"] for c in summary["components"]] == [
            "pr-portal",
            "representative-portal",
            "employer-portal",
            "sign-in",
        ]
    finally:
        server.terminate()
        server.wait(timeout=20)
