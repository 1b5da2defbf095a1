"""Fixtures the probe tests share: a port nothing listens on, and the http runners side by side."""

from __future__ import annotations

import pytest

from tests.conftest import free_port
from tests.probes.loopback import Runner, run_async, run_sync


@pytest.fixture
def closed_port() -> int:
    return free_port()


@pytest.fixture(params=[run_sync, run_async], ids=["sync", "async"])
def run(request: pytest.FixtureRequest) -> Runner:
    runner: Runner = request.param
    return runner
