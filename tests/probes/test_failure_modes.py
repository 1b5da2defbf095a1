"""The portal failures the issue lists that the per-kind tests leave out, against real targets on 127.0.0.1.

Covered elsewhere, and not repeated here: a sign-in step answering 403 while the home page works and
an upload over 2 MB refused while a small one passes (test_steps), 200 with an error page
(test_http_conditions), a slow page over its ceiling and a refused connection (test_http,
test_http_aio, test_tcp, test_tls), a body dripping in past the deadline (test_http, test_http_aio),
a self-signed or expiring certificate (test_tls, test_http_conditions) and a wrong DNS answer from a
local resolver (test_dns).

Here: a gateway answering 502 in bursts, a body that stalls mid-way after a slow start (the deadline
covers the whole check, not each read), and each failure class inside a transaction, named by its step.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from probes.http import HttpProbeSpec
from probes.result import ErrorClass, failed_step
from probes.steps import StepsProbeSpec
from tests.probes import loopback
from tests.probes.loopback import LoopbackHandler, LoopbackServer, Runner, serve, with_tls
from tests.probes.loopback import run_steps as check

pytestmark = pytest.mark.timeout(30)

HOME = "<h1>Citizen portal</h1>"
ERROR_PAGE = "<h1>Service unavailable</h1><p>Please try again later.</p>"
# The gateway's answers, one per request, in fits and spurts.
BURSTS = [200, 200, 502, 502, 502, 200, 502, 200, 200, 502, 502, 200]
STALL_START = 0.3  # seconds before a stalling page sends the first half of its body


class GatewayHandler(LoopbackHandler):
    """`/home` 200; `/gateway` the next of BURSTS; `/error-page` an error page served with 200; `/slow`
    200 after 300 ms; `/stall` headers at once, half the body STALL_START later, then nothing."""

    server: Gateway
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path == "/home":
            self.answer(200, HOME)
        elif self.path == "/gateway":
            with self.server.lock:
                status = next(self.server.bursts)
            self.answer(status, HOME if status == 200 else "<h1>502 Bad Gateway</h1>")
        elif self.path == "/error-page":
            self.answer(200, ERROR_PAGE)
        elif self.path == "/slow":
            time.sleep(0.3)
            self.answer(200, HOME)
        elif self.path == "/stall":
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.flush()
            time.sleep(STALL_START)
            self.wfile.write(b"<h1>Your docu")
            self.wfile.flush()
            self.server.release.wait(5)  # the rest never comes while the probe waits
            self.close_connection = True
        else:
            self.answer(404, "not found")


class Gateway(LoopbackServer):
    handler_class = GatewayHandler
    request_queue_size = 64

    def __init__(self) -> None:
        super().__init__()
        self.bursts = iter(BURSTS)


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    with serve(Gateway()) as server:
        yield server


@pytest.fixture
def tls_gateway(tmp_path: Path) -> Iterator[Gateway]:
    """The same portal behind TLS with a self-signed certificate."""
    with serve(with_tls(Gateway(), tmp_path)) as server:
        yield server


def http_spec(url: str, **fields: Any) -> HttpProbeSpec:
    return loopback.http_spec(url, id="pr-home", **fields)


def transaction(gateway: Gateway, second: dict[str, Any], *, timeout: str = "5s") -> StepsProbeSpec:
    """The home page, then the step under test, then a cleanup that runs whatever happened."""
    return StepsProbeSpec.model_validate(
        {
            "id": "rep-portal",
            "type": "steps",
            "timeout": timeout,
            "steps": [
                {"name": "home", "url": gateway.url("/home"), "body_contains": "Citizen portal"},
                second,
                {"name": "cleanup", "url": gateway.url("/home"), "always": True},
            ],
        }
    )


# --- 502 in bursts ------------------------------------------------------------------------------------


def test_a_gateway_answering_502_in_bursts_fails_exactly_the_checks_that_got_one(gateway: Gateway, run: Runner) -> None:
    spec = http_spec(gateway.url("/gateway"), body_contains="Citizen portal")

    results = [run(spec) for _ in BURSTS]

    assert [result.status_code for result in results] == BURSTS
    for status, result in zip(BURSTS, results, strict=True):
        if status == 200:
            assert result.ok, result.error
            assert (result.error_class, result.error) == (None, None)
        else:
            assert result.error_class is ErrorClass.STATUS
            assert result.error == "expected status 200, got 502"
            assert "HTTP 502 Bad Gateway" in result.evidence


def test_a_step_answered_502_in_bursts_fails_the_transaction_at_that_step_only_then(gateway: Gateway) -> None:
    spec = transaction(gateway, {"name": "dashboard", "url": gateway.url("/gateway")})

    results = [check(spec) for _ in BURSTS]

    for status, result in zip(BURSTS, results, strict=True):
        assert result.status_code == status
        if status == 200:
            assert result.ok, result.error
            assert failed_step(result.evidence) is None
        else:
            assert result.error_class is ErrorClass.STATUS
            assert result.error == "step 'dashboard': expected status 200, got 502"
            assert failed_step(result.evidence) == "dashboard"
            assert "== step 3 'cleanup' (always): passed, HTTP 200" in result.evidence


# --- a body that stalls mid-way -----------------------------------------------------------------------


def test_a_body_stalling_mid_way_is_cut_off_at_the_checks_deadline(gateway: Gateway, run: Runner) -> None:
    # Half the body comes 300 ms in; a deadline per read would wait another 500 ms from there.
    began = time.perf_counter()
    result = run(http_spec(gateway.url("/stall"), timeout="500ms"))
    elapsed = time.perf_counter() - began

    assert result.error_class is ErrorClass.TIMEOUT
    assert result.error == "response not complete within 500 ms"
    assert result.status_code == 200  # the headers came at once; the body never finished
    assert "<h1>Your docu" in result.evidence  # what came before the stall is kept
    assert elapsed < 0.75


def test_a_step_whose_body_stalls_mid_way_is_cut_off_at_the_transactions_deadline(gateway: Gateway) -> None:
    spec = transaction(gateway, {"name": "download", "url": gateway.url("/stall")}, timeout="500ms")
    began = time.perf_counter()

    result = check(spec)

    assert time.perf_counter() - began < 0.75
    assert result.error_class is ErrorClass.TIMEOUT
    assert result.error == "step 'download': response not complete within the check's 500 ms deadline"
    assert result.status_code == 200
    assert failed_step(result.evidence) == "download"
    assert "== step 3 'cleanup' (always): not run: the check's deadline had passed" in result.evidence


# --- each failure class inside a transaction, named by its step ---------------------------------------


def test_an_error_page_served_with_200_fails_its_step(gateway: Gateway) -> None:
    result = check(
        transaction(
            gateway, {"name": "services", "url": gateway.url("/error-page"), "body_not_contains": "unavailable"}
        )
    )

    assert result.error_class is ErrorClass.ASSERTION
    assert result.error == "step 'services': body contains 'unavailable'"
    assert result.status_code == 200
    assert failed_step(result.evidence) == "services"
    assert "Please try again later." in result.evidence


def test_a_step_slower_than_its_ceiling_fails_it(gateway: Gateway) -> None:
    result = check(transaction(gateway, {"name": "search", "url": gateway.url("/slow"), "max_latency": "100ms"}))

    assert result.error_class is ErrorClass.SLOW
    assert result.error is not None
    assert result.error.startswith("step 'search': response took ")
    assert result.error.endswith(" ms, over the 100 ms limit")
    assert failed_step(result.evidence) == "search"


def test_a_refused_connection_fails_its_step(gateway: Gateway, closed_port: int) -> None:
    result = check(transaction(gateway, {"name": "api", "url": f"http://127.0.0.1:{closed_port}/status"}))

    assert result.error_class is ErrorClass.CONNECT
    assert result.error == f"step 'api': connection refused by 127.0.0.1:{closed_port}"
    assert result.status_code is None and result.latency_ms is None
    assert failed_step(result.evidence) == "api"


def test_a_self_signed_certificate_fails_its_step(gateway: Gateway, tls_gateway: Gateway) -> None:
    result = check(transaction(gateway, {"name": "secure area", "url": tls_gateway.url("/home")}))

    assert result.error_class is ErrorClass.TLS
    host = tls_gateway.url("").removeprefix("https://")
    assert result.error == f"step 'secure area': TLS with {host} failed: self-signed certificate"
    assert failed_step(result.evidence) == "secure area"


def test_an_unresolvable_host_fails_its_step(gateway: Gateway) -> None:
    # .invalid never resolves (RFC 6761): the local resolver says so at once, no network needed.
    result = check(transaction(gateway, {"name": "identity", "url": "http://sign-in.invalid/"}))

    assert result.error_class is ErrorClass.DNS
    assert result.error == "step 'identity': could not resolve host sign-in.invalid"
    assert failed_step(result.evidence) == "identity"
