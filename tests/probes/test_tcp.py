"""The TCP probe against real sockets on 127.0.0.1: connected, refused, unanswered, unresolvable."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from probes import run_probe
from probes.result import CheckResult, ErrorClass
from probes.tcp import TcpProbeSpec, run_tcp_async, run_tcp_probe
from tests.probes.loopback import LOCATION

pytestmark = pytest.mark.timeout(20)


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        port: int = sock.getsockname()[1]
        yield port


@pytest.fixture
def full_port() -> Iterator[int]:
    """A port whose accept queue is full: Linux drops further SYNs, so a new connection is never answered.

    Filled until one more connection attempt goes unanswered, which proves the queue is full.
    """
    fillers: list[socket.socket] = []
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port: int = server.getsockname()[1]
        try:
            for _ in range(8):
                filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                fillers.append(filler)
                filler.settimeout(0.2)
                try:
                    filler.connect(("127.0.0.1", port))
                except TimeoutError:
                    break
            else:
                pytest.fail("the accept queue never filled up")
            yield port
        finally:
            for filler in fillers:
                filler.close()


def spec(host: str, port: int, **fields: Any) -> TcpProbeSpec:
    return TcpProbeSpec(id="portal-tcp", host=host, port=port, **fields)


def probe(probe_spec: TcpProbeSpec, **kwargs: Any) -> CheckResult:
    return asyncio.run(run_tcp_async(probe_spec, LOCATION, **kwargs))


def test_a_listening_port_is_up_with_the_connect_time(listening_port: int) -> None:
    result = probe(spec("127.0.0.1", listening_port))

    assert result.ok, result.error
    assert result.error_class is None and result.error is None and result.status_code is None
    assert result.latency_ms is not None and 0 < result.latency_ms < 5000
    lines = result.evidence.splitlines()
    assert lines[:2] == [f"TCP connect 127.0.0.1:{listening_port}", f"probed from: {LOCATION}"]
    assert lines[2].startswith(f"127.0.0.1:{listening_port}: connected in ")


def test_a_host_name_is_looked_up_and_the_addresses_shown(listening_port: int) -> None:
    result = probe(spec("localhost", listening_port))

    # localhost may also resolve to ::1, where nothing listens: the next address is tried.
    assert result.ok, result.evidence
    assert "resolved localhost in " in result.evidence
    assert f"127.0.0.1:{listening_port}: connected in " in result.evidence


def test_a_closed_port_is_a_connect_failure_saying_refused(closed_port: int) -> None:
    result = probe(spec("127.0.0.1", closed_port))

    assert result.error_class is ErrorClass.CONNECT
    assert result.error == f"connection refused by 127.0.0.1:{closed_port}"
    assert result.latency_ms is None
    assert f"127.0.0.1:{closed_port}: Connection refused" in result.evidence


def test_a_port_that_never_answers_is_a_timeout_at_the_deadline(full_port: int) -> None:
    began = time.perf_counter()
    result = probe(spec("127.0.0.1", full_port, timeout="0.3s"))
    elapsed = time.perf_counter() - began

    assert result.error_class is ErrorClass.TIMEOUT
    assert result.error == f"could not connect to 127.0.0.1:{full_port} within 300 ms"
    assert result.latency_ms is None
    assert "stopped at the 300 ms deadline" in result.evidence
    assert 0.3 <= elapsed < 2


def test_an_unresolvable_host_is_a_dns_failure() -> None:
    result = probe(spec("portal.invalid", 443))

    assert result.error_class is ErrorClass.DNS
    assert result.error == "could not resolve host portal.invalid"
    assert "name lookup failed: " in result.evidence


def test_started_at_comes_from_the_injected_clock(closed_port: int) -> None:
    moment = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    result = probe(spec("127.0.0.1", closed_port), clock=lambda: moment)

    assert result.started_at == moment


def test_the_blocking_runner_and_run_probe_give_the_same_verdict(listening_port: int, closed_port: int) -> None:
    assert run_tcp_probe(spec("127.0.0.1", listening_port), LOCATION).ok
    refused = run_probe(spec("127.0.0.1", closed_port), LOCATION)
    assert refused.error_class is ErrorClass.CONNECT and refused.location == LOCATION
