"""The `python -m monitor` commands an operator runs by hand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import OFFLINE_CONFIG, ROOT


def run_monitor(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "portalwatch.yaml"
    config.write_text(OFFLINE_CONFIG, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTALWATCH_", "SLACK_", "REDIS_URL"))}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.db'}"
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args, "--config", str(config)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_outbox_command_prints_each_consumer_s_backlog_as_json(tmp_path: Path) -> None:
    result = run_monitor(tmp_path, "outbox")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [c["consumer"] for c in report["consumers"]] == ["relief", "slack"]
    assert all(c["pending"] == 0 for c in report["consumers"])
    assert report["failing"] == []


def test_migrate_brings_the_schema_up_and_registers_the_configuration(tmp_path: Path) -> None:
    result = run_monitor(tmp_path, "migrate")
    assert result.returncode == 0, result.stderr
    assert "database is at the latest schema; configuration registered" in result.stdout
