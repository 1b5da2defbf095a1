"""Redis for the scheduler's tests: database 12, keys under a prefix of their own per test (never FLUSHDB)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from tests.monitor.scheduler.fakes import RedisSpace
from tests.monitor.scheduler.proxy import TcpProxy

REDIS_HOST, REDIS_PORT, REDIS_DB = "127.0.0.1", 6379, 12

# Two probes with different intervals at two locations: what the scheduler's tests send checks for.
CONFIG = """
locations: [montreal, vancouver]
failure_threshold: 3
relief: {interval: 30s}
components:
  - id: pr-portal
    name: Permanent residence portal
    probes:
      - {id: pr-home, type: http, url: "http://127.0.0.1:9/pr/", interval: 10s}
      - {id: pr-login, type: http, url: "http://127.0.0.1:9/pr/login", interval: 1m}
"""


@pytest.fixture
def redis_space() -> Iterator[RedisSpace]:
    url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        pytest.fail(f"Redis is required for this test and is not reachable at {url}: {exc}")
    prefix = f"pwtest:{uuid.uuid4().hex[:12]}:scheduler"
    yield RedisSpace(url, prefix, client)
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def redis_proxy() -> Iterator[TcpProxy]:
    proxy = TcpProxy((REDIS_HOST, REDIS_PORT))
    proxy.start()
    yield proxy
    proxy.stop()
