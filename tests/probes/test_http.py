"""The HTTP probe against real HTTP servers on 127.0.0.1: what each kind of portal failure is recorded as."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from probes import run_probe
from probes.http.runner import TRUNCATED, run_http_probe
from probes.result import EVIDENCE_LIMIT, ErrorClass
from tests.probes.loopback import LOCATION, LoopbackHandler, LoopbackServer, serve
from tests.probes.loopback import http_spec as spec

pytestmark = pytest.mark.timeout(10)

SIGN_IN_PAGE = "<html><title>Citizen portal</title><body><form>Sign in</form></body></html>"


class PortalHandler(LoopbackHandler):
    def do_GET(self) -> None:
        self.record()
        route = self.path.split("?")[0]
        if route == "/ok":
            self.answer(200, SIGN_IN_PAGE)
        elif route == "/down":
            self.answer(503, "<h1>Down for maintenance</h1>", {"Retry-After": "120"})
        elif route == "/forbidden":
            self.answer(403, "<h1>Forbidden</h1>")
        elif route == "/late":
            time.sleep(0.3)
            self.answer(200, SIGN_IN_PAGE)
        elif route == "/slow":
            time.sleep(1.5)
            self.answer(200, SIGN_IN_PAGE)
        elif route == "/drip":
            self._drip()
        elif route == "/hang-up":
            self.close_connection = True  # read the request, then close without a status line
        elif route == "/redirect":
            self.answer(302, "", {"Location": "/ok"})
        elif route == "/huge":
            self.answer(200, "x" * 1_000_000)
        else:
            self.answer(404, "not found")

    def do_POST(self) -> None:
        self.record(self.read_body())
        self.answer(201, "created")

    def _drip(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "20")
        self.end_headers()
        for _ in range(20):  # 2 s in all, one byte at a time
            self.wfile.write(b".")
            time.sleep(0.1)


class Portal(LoopbackServer):
    handler_class = PortalHandler


@pytest.fixture
def portal() -> Iterator[Portal]:
    with serve(Portal()) as server:
        yield server


def test_a_portal_answering_200_is_up_with_latency_and_evidence(portal: Portal) -> None:
    result = run_http_probe(spec(portal.url("/ok"), body_contains="Sign in"), LOCATION)

    assert result.ok
    assert result.error_class is None and result.error is None
    assert result.probe_id == "portal-login" and result.location == LOCATION
    assert result.status_code == 200
    assert result.latency_ms is not None and 0 < result.latency_ms < 5000
    lines = result.evidence.splitlines()
    assert lines[0] == f"GET {portal.url('/ok')}"
    assert f"probed from: {LOCATION}" in lines
    assert "HTTP 200 OK" in lines
    assert "content-type: text/html; charset=utf-8" in lines
    assert f"content-length: {len(SIGN_IN_PAGE)}" in lines
    assert result.evidence.endswith("\n\n" + SIGN_IN_PAGE)


def test_a_portal_answering_503_is_a_status_failure_naming_the_code(portal: Portal) -> None:
    result = run_http_probe(spec(portal.url("/down")), LOCATION)

    assert not result.ok
    assert result.error_class is ErrorClass.STATUS
    assert result.error == "expected status 200, got 503"
    assert result.status_code == 503
    assert result.latency_ms is not None
    assert "HTTP 503 Service Unavailable" in result.evidence
    assert "retry-after: 120" in result.evidence
    assert "Down for maintenance" in result.evidence


def test_a_403_is_a_status_failure_unless_the_probe_expects_it(portal: Portal) -> None:
    refused = run_http_probe(spec(portal.url("/forbidden")), LOCATION)
    expected = run_http_probe(spec(portal.url("/forbidden"), expect_status=[200, 403]), LOCATION)

    assert refused.error_class is ErrorClass.STATUS
    assert refused.error == "expected status 200, got 403"
    assert expected.ok and expected.status_code == 403


def test_a_page_without_the_expected_text_is_an_assertion_failure(portal: Portal) -> None:
    result = run_http_probe(spec(portal.url("/ok"), body_contains="Welcome back"), LOCATION)

    assert result.error_class is ErrorClass.ASSERTION
    assert result.error == "body does not contain 'Welcome back'"
    assert result.status_code == 200
    assert "Sign in" in result.evidence  # the page that was served instead is kept as proof


def test_a_wrong_status_is_reported_before_a_missing_text(portal: Portal) -> None:
    result = run_http_probe(spec(portal.url("/down"), body_contains="Sign in"), LOCATION)

    assert result.error_class is ErrorClass.STATUS


def test_an_answer_slower_than_max_latency_is_a_slow_failure(portal: Portal) -> None:
    result = run_http_probe(spec(portal.url("/late"), max_latency="100ms"), LOCATION)

    assert result.error_class is ErrorClass.SLOW
    assert result.latency_ms is not None and result.latency_ms >= 300
    assert result.error == f"response took {result.latency_ms:.0f} ms, over the 100 ms limit"
    assert result.status_code == 200


def test_a_server_silent_past_the_timeout_is_a_timeout(portal: Portal) -> None:
    began = time.perf_counter()
    result = run_http_probe(spec(portal.url("/slow"), timeout="0.5s"), LOCATION)
    elapsed = time.perf_counter() - began

    assert result.error_class is ErrorClass.TIMEOUT
    assert result.error == f"no response from {portal.base.removeprefix('http://')} within 500 ms"
    assert result.latency_ms is None and result.status_code is None
    assert elapsed < 1.4  # gave up at the timeout, did not wait for the 1.5 s answer
    assert "no response: ReadTimeout" in result.evidence


def test_a_body_dripping_in_past_the_timeout_is_a_timeout_not_a_hang(portal: Portal) -> None:
    began = time.perf_counter()
    result = run_http_probe(spec(portal.url("/drip"), timeout="0.5s"), LOCATION)
    elapsed = time.perf_counter() - began

    assert result.error_class is ErrorClass.TIMEOUT
    assert result.error == "response not complete within 500 ms"
    assert result.status_code == 200  # the headers came quickly; the body never finished
    assert elapsed < 1.0  # the drip runs for 2 s; the probe must not follow it
    assert "HTTP 200 OK" in result.evidence


def test_a_refused_connection_is_a_connect_failure(closed_port: int) -> None:
    result = run_http_probe(spec(f"http://127.0.0.1:{closed_port}/"), LOCATION)

    assert result.error_class is ErrorClass.CONNECT
    assert result.error == f"connection refused by 127.0.0.1:{closed_port}"
    assert result.latency_ms is None and result.status_code is None
    assert "no response: ConnectionError" in result.evidence


def test_a_server_hanging_up_without_answering_is_a_connect_failure(portal: Portal) -> None:
    result = run_http_probe(spec(portal.url("/hang-up")), LOCATION)

    assert result.error_class is ErrorClass.CONNECT
    assert result.error == f"{portal.base.removeprefix('http://')} closed the connection without answering"
    assert result.status_code is None


def test_an_unresolvable_host_is_a_dns_failure() -> None:
    # .invalid never resolves (RFC 6761), so the local resolver answers at once; no internet needed.
    # It fails at once, so the error is the resolver's, not the lookup deadline's.
    result = run_http_probe(spec("http://does-not-exist.invalid/", timeout="2s"), LOCATION)

    assert result.error_class is ErrorClass.DNS
    assert result.error == "could not resolve host does-not-exist.invalid"
    assert result.latency_ms is None


def test_a_name_lookup_hanging_past_the_timeout_is_cut_off_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    # A resolver that never answers, as with a dead nameserver; released when the test ends so the
    # lookup thread the probe left behind can finish.
    release = threading.Event()

    def hanging_lookup(*args: Any, **kwargs: Any) -> Any:
        release.wait(5)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", hanging_lookup)
    try:
        began = time.perf_counter()
        result = run_http_probe(spec("http://portal.example/", timeout="0.3s"), LOCATION)
        elapsed = time.perf_counter() - began
    finally:
        release.set()

    assert result.error_class is ErrorClass.TIMEOUT
    assert result.error == "could not connect to portal.example:80 within 300 ms"
    assert result.latency_ms is None and result.status_code is None
    assert elapsed < 2


def test_https_to_a_plain_http_server_is_a_tls_failure(portal: Portal) -> None:
    # The plain server reads the ClientHello as a request line (it always holds a 0x0a byte: the
    # supported_groups extension is type 0x000a), answers "HTTP/1.0 400" in clear text, and the
    # client's TLS layer rejects those bytes as a record with a wrong version number.
    result = run_http_probe(spec(portal.url("/ok").replace("http://", "https://")), LOCATION)

    assert result.error_class is ErrorClass.TLS
    assert result.error == f"TLS with {portal.base.removeprefix('http://')} failed: wrong version number"
    assert result.status_code is None
    assert "no response: SSLError" in result.evidence


def test_a_redirect_is_followed_and_recorded_in_the_evidence(portal: Portal) -> None:
    result = run_http_probe(spec(portal.url("/redirect"), body_contains="Sign in"), LOCATION)

    assert result.ok
    assert result.status_code == 200
    assert f"after 1 redirect(s): {portal.url('/ok')}" in result.evidence


def test_evidence_of_a_huge_page_is_cut_at_the_limit_with_a_marker(portal: Portal) -> None:
    result = run_http_probe(spec(portal.url("/huge")), LOCATION)

    assert result.ok
    assert len(result.evidence) == EVIDENCE_LIMIT
    assert result.evidence.endswith(TRUNCATED)
    assert "HTTP 200 OK" in result.evidence


def test_started_at_is_the_send_time_in_aware_utc(portal: Portal) -> None:
    before = datetime.now(UTC)
    result = run_http_probe(spec(portal.url("/ok")), LOCATION)
    after = datetime.now(UTC)

    assert result.started_at.utcoffset() == timedelta(0)
    assert before <= result.started_at <= after


def test_started_at_comes_from_the_injected_clock(closed_port: int) -> None:
    moment = datetime(2025, 3, 1, 8, 30, tzinfo=UTC)
    result = run_http_probe(spec(f"http://127.0.0.1:{closed_port}/"), LOCATION, clock=lambda: moment)

    assert result.started_at == moment


def test_a_post_probe_delivers_its_body_and_headers(portal: Portal) -> None:
    probe = spec(
        portal.url("/search"),
        method="post",
        body='{"query": "Führerschein"}',
        headers={"Content-Type": "application/json", "X-Probe": "portalwatch"},
        expect_status=[201],
    )
    result = run_http_probe(probe, LOCATION)

    assert result.ok
    assert result.evidence.startswith(f"POST {portal.url('/search')}\n")
    [request] = portal.received
    assert request.method == "POST" and request.path == "/search"
    assert request.headers["X-Probe"] == "portalwatch"
    assert request.headers["Content-Type"] == "application/json"
    assert request.body == '{"query": "Führerschein"}'.encode()


def test_run_probe_hands_an_http_spec_to_the_http_runner(portal: Portal) -> None:
    result = run_probe(spec(portal.url("/ok")), LOCATION)

    assert result.ok and result.status_code == 200


def test_run_probe_refuses_a_type_it_has_no_runner_for(portal: Portal) -> None:
    unknown = spec(portal.url("/ok")).model_copy(update={"type": "carrier-pigeon"})

    with pytest.raises(ValueError, match="carrier-pigeon"):
        run_probe(unknown, LOCATION)
