"""`make run` only ever touches the demo's own data, whatever the environment says."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from demo.run import DEMO_TOKEN, demo_settings
from tests.conftest import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_settings_ignore_a_real_deployment_s_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://prod@db.example/portalwatch")
    monkeypatch.setenv("REDIS_URL", "redis://broker.example:6379/0")
    monkeypatch.setenv("PORTALWATCH_OPS_TOKEN", "a-real-production-secret-0123456789")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-real")
    settings = demo_settings(Path("var/demo.db"), "demo/portalwatch.yaml")
    assert settings.database == "sqlite:///var/demo.db"
    assert not settings.distributed
    assert settings.token == DEMO_TOKEN
    assert settings.slack_token is None


@pytest.mark.timeout(90)
def test_the_demo_run_against_a_configured_production_database_leaves_it_untouched(
    tmp_path: Path, postgres_url: str
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "DATABASE_URL": postgres_url,  # "production": it must stay empty
        "REDIS_URL": "redis://127.0.0.1:9/0",  # nothing listens there: the demo must not try it
        "PORTALWATCH_OPS_TOKEN": "a-real-production-secret-0123456789",
    }
    command = [sys.executable, "-m", "demo", "--port", str(port), "--portal-port", str(free_port()), "--cases", "5"]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and status is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/status.json", timeout=2) as response:
                    status = response.status
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.3)
        assert status == 200, "the demo never served its status page"
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/ops/outages", headers={"Authorization": f"Bearer {DEMO_TOKEN}"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200  # the demo's own token opens the demo's own ops API
    finally:
        os.killpg(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert (tmp_path / "var" / "demo.db").exists()
    engine = create_engine(postgres_url)
    try:
        assert inspect(engine).get_table_names() == [], "the demo wrote into the configured database"
    finally:
        engine.dispose()
    assert b"Traceback" not in output, output.decode(errors="replace")[-3000:]
