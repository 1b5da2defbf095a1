"""The asyncio HTTP probe against real targets on 127.0.0.1: the sync runner's verdicts, many checks at once."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from probes.http import HttpProbeSpec, aio, runner
from probes.http.aio import new_session, run_http_probe_async
from probes.http.runner import TRUNCATED
from probes.result import EVIDENCE_LIMIT, CheckResult, ErrorClass
from tests.probes.loopback import LOCATION, serve, with_tls
from tests.probes.loopback import http_spec as spec
from tests.probes.loopback import run_async as probe
from tests.probes.test_http import SIGN_IN_PAGE, Portal, PortalHandler

pytestmark = pytest.mark.timeout(20)

FRENCH_PAGE = (
    "<html><body><h1>Démarche en ligne</h1><p>Connectez-vous à votre espace personnel, sélectionnez la "
    "démarche et vérifiez vos données.</p></body></html>"
)


class AioPortalHandler(PortalHandler):
    def do_GET(self) -> None:
        if self.path == "/cut":
            # Promise 100 bytes, send 10, hang up: the connection breaks in the middle of the body.
            self.record()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.close_connection = True
        elif self.path.startswith("/away?to="):
            self.record()
            self.answer(302, "", {"Location": self.path.removeprefix("/away?to=")})
        elif self.path == "/loop":
            self.record()
            self.answer(302, "", {"Location": "/loop"})
        elif self.path in ("/french-utf-8", "/french-cp1252"):
            # No charset in the Content-Type: the probe has to work the encoding out from the bytes.
            self.record()
            self.answer(200, FRENCH_PAGE.encode(self.path.removeprefix("/french-")), content_type="text/html")
        else:
            super().do_GET()


class AioPortal(Portal):
    # Fifty checks connect at the same instant; the default backlog of 5 would drop most SYNs, and
    # the kernel retries a dropped one only a second later.
    request_queue_size = 128
    handler_class = AioPortalHandler


@pytest.fixture
def portal() -> Iterator[Portal]:
    with serve(AioPortal()) as server:
        yield server


@pytest.fixture
def tls_portal(tmp_path: Path) -> Iterator[Portal]:
    """The portal behind TLS with a self-signed certificate, which verification must refuse."""
    with serve(with_tls(AioPortal(), tmp_path)) as server:
        yield server


@pytest.fixture
def hung_port() -> Iterator[int]:
    """A port that accepts connections and never answers: the kernel completes the handshake and
    queues the request, and nothing ever reads it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        port: int = sock.getsockname()[1]
        yield port


def timed(run: Callable[[], CheckResult]) -> tuple[CheckResult, float]:
    began = time.perf_counter()
    result = run()
    return result, time.perf_counter() - began


def test_a_portal_answering_200_is_up_with_latency_and_evidence(portal: Portal) -> None:
    result = probe(spec(portal.url("/ok"), body_contains="Sign in"))

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
    result = probe(spec(portal.url("/down")))

    assert result.error_class is ErrorClass.STATUS
    assert result.error == "expected status 200, got 503"
    assert result.status_code == 503
    assert "HTTP 503 Service Unavailable" in result.evidence
    assert "retry-after: 120" in result.evidence
    assert "Down for maintenance" in result.evidence


def test_a_page_without_the_expected_text_is_an_assertion_failure(portal: Portal) -> None:
    result = probe(spec(portal.url("/ok"), body_contains="Welcome back"))

    assert result.error_class is ErrorClass.ASSERTION
    assert result.error == "body does not contain 'Welcome back'"
    assert result.status_code == 200
    assert "Sign in" in result.evidence


def test_an_answer_slower_than_max_latency_is_a_slow_failure(portal: Portal) -> None:
    result = probe(spec(portal.url("/late"), max_latency="100ms"))

    assert result.error_class is ErrorClass.SLOW
    assert result.latency_ms is not None and result.latency_ms >= 300
    assert result.error == f"response took {result.latency_ms:.0f} ms, over the 100 ms limit"


def test_a_refused_connection_is_a_connect_failure(closed_port: int) -> None:
    result = probe(spec(f"http://127.0.0.1:{closed_port}/"))

    assert result.error_class is ErrorClass.CONNECT
    assert result.error == f"connection refused by 127.0.0.1:{closed_port}"
    assert result.latency_ms is None and result.status_code is None
    assert "no response: ClientConnectorError" in result.evidence


def test_a_target_that_never_answers_is_cut_off_at_the_timeout(hung_port: int) -> None:
    result, elapsed = timed(lambda: probe(spec(f"http://127.0.0.1:{hung_port}/", timeout="0.5s")))

    assert result.error_class is ErrorClass.TIMEOUT
    assert result.error == f"no response from 127.0.0.1:{hung_port} within 500 ms"
    assert result.latency_ms is None and result.status_code is None
    assert 0.5 <= elapsed < 3  # the target would wait forever


def test_a_tls_handshake_never_answered_is_a_connect_timeout(hung_port: int) -> None:
    result = probe(spec(f"https://127.0.0.1:{hung_port}/", timeout="0.5s"))

    assert result.error_class is ErrorClass.TIMEOUT
    assert result.error == f"could not connect to 127.0.0.1:{hung_port} within 500 ms"
    assert result.status_code is None


def test_the_connect_phase_is_capped_below_a_longer_timeout(hung_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "CONNECT_TIMEOUT_CAP", 0.3)

    result, elapsed = timed(lambda: probe(spec(f"https://127.0.0.1:{hung_port}/", timeout="5s")))

    assert result.error_class is ErrorClass.TIMEOUT
    assert result.error == f"could not connect to 127.0.0.1:{hung_port} within 300 ms"
    assert elapsed < 4  # the cap, not the 5 s timeout, ended it


def test_a_body_dripping_in_past_the_timeout_is_cut_off_at_the_deadline(portal: Portal) -> None:
    result, elapsed = timed(lambda: probe(spec(portal.url("/drip"), timeout="0.5s")))

    assert result.error_class is ErrorClass.TIMEOUT
    assert result.error == "response not complete within 500 ms"
    assert result.status_code == 200  # the headers came quickly; the body never finished
    assert elapsed < 1.5  # the drip runs for 2 s; one deadline covers headers and body
    assert "HTTP 200 OK" in result.evidence


def test_a_connection_broken_mid_body_is_a_connect_failure_keeping_what_came(portal: Portal) -> None:
    result = probe(spec(portal.url("/cut")))

    assert result.error_class is ErrorClass.CONNECT
    assert result.error is not None
    assert result.error.startswith(f"connection to {portal.base.removeprefix('http://')} broke mid-body: ")
    assert result.status_code == 200
    assert result.evidence.endswith("\n\n0123456789")


def test_a_server_hanging_up_without_answering_is_a_connect_failure(portal: Portal) -> None:
    result = probe(spec(portal.url("/hang-up")))

    assert result.error_class is ErrorClass.CONNECT
    assert result.error == f"{portal.base.removeprefix('http://')} closed the connection without answering"
    assert result.status_code is None
    # aiohttp sends a GET once more when its connection drops unanswered, so that a keep-alive
    # connection the server had already let go is not taken for an outage.
    assert [request.path for request in portal.received] == ["/hang-up", "/hang-up"]


def test_an_unresolvable_host_is_a_dns_failure() -> None:
    # .invalid never resolves (RFC 6761), so the local resolver answers at once; no internet needed.
    # The check's deadline bounds the lookup as well.
    result, elapsed = timed(lambda: probe(spec("http://does-not-exist.invalid/", timeout="2s")))

    assert result.error_class is ErrorClass.DNS
    assert result.error == "could not resolve host does-not-exist.invalid"
    assert result.latency_ms is None
    assert elapsed < 5


def test_https_to_a_plain_http_server_is_a_tls_failure(portal: Portal) -> None:
    # The plain server answers the ClientHello with a clear-text 400, which the client's TLS layer
    # rejects as a record with a wrong version number (see the sync runner's test).
    result = probe(spec(portal.url("/ok").replace("http://", "https://")))

    assert result.error_class is ErrorClass.TLS
    assert result.error == f"TLS with {portal.base.removeprefix('http://')} failed: wrong version number"
    assert result.status_code is None


def test_a_certificate_nobody_vouches_for_is_a_tls_failure(tls_portal: Portal) -> None:
    result = probe(spec(tls_portal.url("/ok")))

    assert result.error_class is ErrorClass.TLS
    assert result.error is not None
    where = tls_portal.base.removeprefix("https://")
    assert result.error.startswith(f"TLS with {where} failed: self")
    assert "signed certificate" in result.error
    assert tls_portal.received == []  # verification failed before any request was sent


def test_a_redirect_is_followed_and_recorded_in_the_evidence(portal: Portal) -> None:
    result = probe(spec(portal.url("/redirect"), body_contains="Sign in"))

    assert result.ok
    assert result.status_code == 200
    assert f"after 1 redirect(s): {portal.url('/ok')}" in result.evidence


def test_a_failure_after_a_redirect_names_the_host_that_failed(portal: Portal, closed_port: int) -> None:
    result = probe(spec(portal.url(f"/away?to=http://127.0.0.1:{closed_port}/")))

    assert result.error_class is ErrorClass.CONNECT
    assert result.error == f"connection refused by 127.0.0.1:{closed_port}"


def test_a_redirect_loop_is_given_up_after_as_many_hops_as_the_sync_runner_allows(portal: Portal) -> None:
    result = probe(spec(portal.url("/loop")))

    assert result.error_class is ErrorClass.CONNECT
    assert result.error == (
        f"request to {portal.base.removeprefix('http://')} failed with TooManyRedirects: Exceeded 30 redirects."
    )
    assert len(portal.received) == 31  # the first request and 30 redirects followed, as with requests


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
def test_a_page_without_a_declared_charset_is_read_in_the_encoding_it_is_in(portal: Portal, encoding: str) -> None:
    result = probe(spec(portal.url(f"/french-{encoding}"), body_contains="Connectez-vous à votre espace"))

    assert result.ok, result.error
    assert result.evidence.endswith("\n\n" + FRENCH_PAGE)


def test_evidence_of_a_huge_page_is_cut_at_the_limit_with_a_marker(portal: Portal) -> None:
    result = probe(spec(portal.url("/huge")))

    assert result.ok
    assert len(result.evidence) == EVIDENCE_LIMIT
    assert result.evidence.endswith(TRUNCATED)
    assert "HTTP 200 OK" in result.evidence


def test_a_post_probe_delivers_its_body_and_headers_and_no_content_type_of_its_own(portal: Portal) -> None:
    with_type = spec(
        portal.url("/search"),
        method="post",
        body='{"query": "Führerschein"}',
        headers={"Content-Type": "application/json", "X-Probe": "portalwatch"},
        expect_status=[201],
    )
    without_type = spec(portal.url("/form"), method="post", body="q=1", expect_status=[201])

    assert probe(with_type).ok and probe(without_type).ok
    first, second = portal.received
    assert first.method == "POST" and first.path == "/search"
    assert first.headers["X-Probe"] == "portalwatch"
    assert first.headers["Content-Type"] == "application/json"
    assert first.body == '{"query": "Führerschein"}'.encode()
    assert "Content-Type" not in second.headers and second.body == b"q=1"


def test_started_at_comes_from_the_injected_clock(closed_port: int) -> None:
    moment = dt.datetime(2025, 3, 1, 8, 30, tzinfo=dt.UTC)

    result = probe(spec(f"http://127.0.0.1:{closed_port}/"), clock=lambda: moment)

    assert result.started_at == moment


def test_a_hung_target_does_not_hold_up_the_checks_running_beside_it(portal: Portal, hung_port: int) -> None:
    finished: list[str] = []

    async def fleet() -> list[CheckResult]:
        async with new_session() as session:

            async def check(name: str, probe_spec: HttpProbeSpec) -> CheckResult:
                result = await run_http_probe_async(probe_spec, LOCATION, session=session)
                finished.append(name)
                return result

            hung = check("hung", spec(f"http://127.0.0.1:{hung_port}/", timeout="2s"))
            fast = [check(f"fast-{n}", spec(portal.url(f"/ok?n={n}"))) for n in range(50)]
            return await asyncio.gather(hung, *fast)

    hung_result, *fast_results = asyncio.run(fleet())

    assert hung_result.error_class is ErrorClass.TIMEOUT
    assert all(result.ok for result in fast_results)
    assert len(finished) == 51 and finished[-1] == "hung"  # all fifty answered while the hung one waited
    assert len(portal.received) == 50


def test_requests_go_through_the_environment_s_proxy_unless_no_proxy_names_the_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.test:3128")
    monkeypatch.setenv("NO_PROXY", "intranet.test")

    async def made() -> None:
        session = aio.new_session()
        await session.close()

    asyncio.run(made())
    try:
        assert aio.proxy_for("https://portal.test/sign-in") == "http://proxy.test:3128"
        assert aio.proxy_for("http://intranet.test/") is None
    finally:
        aio._proxies.clear()  # the environment the other tests' sessions were made in
