"""The ops API's test app: the offline configuration, a bearer token, and a clock stopped at NOW."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient

from monitor.runtime import Runtime
from monitor.web import create_app
from tests.conftest import OFFLINE_CONFIG, make_runtime

TOKEN = "s3cret"
NOW = datetime(2026, 11, 22, 14, 15, tzinfo=UTC)


@pytest.fixture
def runtime(sqlite_url: str) -> Iterator[Runtime]:
    runtime = make_runtime(sqlite_url, OFFLINE_CONFIG, ops_token=TOKEN)
    runtime.clock = lambda: NOW
    yield runtime
    runtime.close()


@pytest.fixture
def client(runtime: Runtime) -> FlaskClient:
    return create_app(runtime).test_client()


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
