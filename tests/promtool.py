"""Prometheus' own checker for what `GET /metrics` serves: `promtool check metrics` (Debian's `prometheus`)."""

from __future__ import annotations

import shutil
import subprocess

import pytest


def promtool_check(body: str) -> None:
    """Fail unless `promtool check metrics` accepts `body`: the exposition parses and passes its lint."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is required to check /metrics: `make system-deps` installs Debian's prometheus package")
    done = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, f"promtool check metrics:\n{done.stdout}{done.stderr}\n--- body ---\n{body}"
