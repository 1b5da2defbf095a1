"""Fixtures of the use-case tests: loopback targets and runtimes made from a configuration text."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from monitor.runtime import Runtime
from tests.conftest import make_runtime
from tests.monitor.usecases.targets import TargetServer, serving


@pytest.fixture
def target_server() -> Iterator[TargetServer]:
    with serving() as server:
        yield server


@pytest.fixture
def target(target_server: TargetServer) -> str:
    return target_server.base


@pytest.fixture
def make(database_url: str) -> Iterator[Any]:
    made: list[Runtime] = []

    def build(text: str, **settings: Any) -> Runtime:
        runtime = make_runtime(database_url, text, **settings)
        made.append(runtime)
        return runtime

    yield build
    for runtime in made:
        runtime.close()
