"""Run HTTP probes concurrently on one event loop: the asyncio counterpart of `probes.http.runner`.

A worker runs hundreds of checks at once on a single loop, all through one shared session. It is
built on aiohttp because aiohttp parses HTTP in C and keeps its connection pool on the event loop,
so a check costs less CPU than with httpx, and checks per CPU-second is what limits a worker.

The judgement (status, latency, expected text), the error wording and the evidence are the sync
runner's: its helpers are imported, not copied, so the two runners cannot drift apart. Each check
has one deadline, `spec.timeout`, covering name lookup, connect, TLS, headers and body, so a target
that hangs or drips its answer is cut off on time and never holds up the other checks on the loop.
"""

from __future__ import annotations

import asyncio
import codecs
import errno
import math
import socket
import ssl
import time
import urllib.request
from collections.abc import Callable
from contextvars import ContextVar
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiohttp
import charset_normalizer
from aiohttp.http_exceptions import HttpProcessingError
from yarl import URL

from probes.http.runner import (
    EVIDENCE_BYTES,
    EVIDENCE_HEADERS,
    SEARCH_BYTES,
    TLS_OFF,
    Failure,
    _find,
    _host_port,
    _innermost,
    _judge,
    _ms,
    _timeouts,
    _utc_now,
    body_excerpt,
    prepare_request,
    unsent,
    verdict,
)
from probes.http.spec import HttpProbeSpec
from probes.result import CheckResult, ErrorClass

if TYPE_CHECKING:
    from aiohttp.connector import Connection
    from aiohttp.tracing import Trace
    from multidict import CIMultiDictProxy

__all__ = ["new_session", "run_http_probe_async"]

DNS_CACHE_SECONDS = 10  # spares a lookup per check, yet follows a DNS failover within seconds
MAX_REDIRECTS = 30  # requests' limit: both runners give up on the same redirect loop
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# aiohttp labels these requests application/octet-stream on its own; requests sends no Content-Type,
# and a portal may well refuse a form post with an unexpected one.
_NO_AUTO_CONTENT_TYPE = ("Content-Type",)


class _Hop:
    """Which URL the running check is fetching (redirects move it) and whether its connection is up.

    A deadline that passes before the headers arrive means "could not connect" or "no response"
    depending on this, as the sync runner's separate connect and read timeouts tell apart.
    """

    __slots__ = ("connected", "url")

    def __init__(self, url: str | URL) -> None:
        self.url = url
        self.connected = False


# Set for the length of one check; checks running at the same time are separate tasks, which never
# share a context, so each sees only its own hop.
_HOP: ContextVar[_Hop | None] = ContextVar("probes_http_hop", default=None)


class _ProbeConnector(aiohttp.TCPConnector):
    """aiohttp's connector, reporting each connection it hands out to the check that asked for it."""

    async def connect(
        self, req: aiohttp.ClientRequest, traces: list[Trace], timeout: aiohttp.ClientTimeout
    ) -> Connection:
        hop = _HOP.get()
        if hop is None:
            return await super().connect(req, traces, timeout)
        hop.url = req.url
        hop.connected = False
        connection = await super().connect(req, traces, timeout)
        hop.connected = True
        return connection


async def read_into(response: aiohttp.ClientResponse, limit: int, chunks: list[bytes]) -> None:
    """Append the body to `chunks` as it arrives, up to `limit` bytes in all.

    read(n) hands over whatever has arrived, up to n bytes: a body dripping in one byte at a time is
    cut off by the caller's deadline, a huge one at `limit`. What came before a failure stays in `chunks`.
    """
    size = sum(len(chunk) for chunk in chunks)
    while size < limit:
        chunk = await response.content.read(limit - size)
        if not chunk:
            return
        chunks.append(chunk)
        size += len(chunk)


# The proxy variables (HTTPS_PROXY, HTTP_PROXY, NO_PROXY), read when the worker's session is made.
_proxies: dict[str, str] = {}


def proxy_for(url: str) -> str | None:
    """The proxy a request to `url` goes through, as the worker's environment says, or None.

    A location reaches the portal the way its environment says: that path is what its checks measure,
    and its control check takes the same one, so a dead proxy makes the location blind rather than
    the portal down.
    """
    if not _proxies:
        return None
    parts = urlsplit(url)
    # proxy_bypass_environment is the standard library's NO_PROXY matcher (as requests uses it); the
    # type stubs omit it.
    if urllib.request.proxy_bypass_environment(parts.hostname or "", _proxies):  # type: ignore[attr-defined]
        return None
    return _proxies.get(parts.scheme)


def new_session(*, limit: int = 0) -> aiohttp.ClientSession:
    """The one session a worker's event loop shares between its checks; call it inside that loop.

    `limit` caps the open connections (0: no cap). A check waiting for a free connection spends its
    own deadline waiting, so a worker that sets a cap should not run more checks at once than that.
    """
    _proxies.clear()
    _proxies.update(urllib.request.getproxies_environment())
    connector = _ProbeConnector(
        limit=limit,
        ttl_dns_cache=DNS_CACHE_SECONDS,
        # getaddrinfo, like the sync runner: /etc/hosts and nsswitch count the same way in both,
        # whichever optional DNS library happens to be installed.
        resolver=aiohttp.ThreadedResolver(),
    )
    return aiohttp.ClientSession(
        connector=connector,
        # Proxies come from the environment once per session (see proxy_for), not per request:
        # aiohttp's trust_env reads netrc and the proxy variables on a thread for every request.
        trust_env=False,
        # A cookie one check was given must not log the next check in.
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=True,
        timeout=aiohttp.ClientTimeout(),  # no session-wide limit: each check brings its own deadline
    )


async def run_http_probe_async(
    spec: HttpProbeSpec,
    location: str,
    *,
    session: aiohttp.ClientSession,
    clock: Callable[[], datetime] = _utc_now,
) -> CheckResult:
    """Send the spec's request once; whatever the target does, answer with a CheckResult, never raise."""
    connect_s, timeout_s = _timeouts(spec)
    request = prepare_request(spec, location)
    secrets = request.secrets
    lines = [f"{spec.method} {request.url}", f"probed from: {location}"]
    if not spec.verify_tls:
        lines.append(TLS_OFF)
    if request.unsendable is not None:
        return unsent(spec, location, clock(), request, lines)
    limit = SEARCH_BYTES if spec.reads_body else EVIDENCE_BYTES
    hop = _Hop(request.url)
    token = _HOP.set(hop)
    loop = asyncio.get_running_loop()
    chunks: list[bytes] = []
    response: aiohttp.ClientResponse | None = None
    latency_ms = 0.0
    failure: Failure | None = None
    started_at = clock()
    start = time.perf_counter()
    deadline_at = loop.time() + timeout_s
    deadline = asyncio.timeout_at(deadline_at)
    try:
        async with deadline:
            response = await session.request(
                spec.method,
                request.url,
                proxy=proxy_for(request.url),
                headers=request.headers,
                # The UTF-8 bytes the sync runner sends; a str would also get a text/plain label.
                data=request.body,
                skip_auto_headers=(
                    _NO_AUTO_CONTENT_TYPE if spec.body is not None or spec.method in _BODY_METHODS else None
                ),
                allow_redirects=spec.follow_redirects,
                # aiohttp counts the redirect it refuses to follow; requests counts the ones it followed.
                max_redirects=MAX_REDIRECTS + 1,
                # False skips certificate and host name checks; aiohttp pools such connections apart
                # from verified ones, so a check that verifies never reuses one.
                ssl=spec.verify_tls,
                # Caps the TCP and TLS handshakes like the sync runner's connect timeout; the deadline
                # above bounds everything else. Unrounded: aiohttp rounds long timeouts up to a whole
                # second, which would make "within N ms" untrue.
                timeout=aiohttp.ClientTimeout(sock_connect=connect_s, ceil_threshold=math.inf),
            )
            latency_ms = (time.perf_counter() - start) * 1000
            await read_into(response, limit, chunks)
    except (aiohttp.ClientError, OSError, ValueError) as exc:  # TimeoutError, the deadline's, is an OSError
        timed_out = deadline.expired()
        if response is None:
            if isinstance(exc, aiohttp.ClientError | OSError) or timed_out:
                failure = _no_response(exc, hop, timed_out, connect_s, timeout_s)
            else:  # a header value or URL the HTTP client refuses, usually from a variable's value
                failure = ErrorClass.ASSERTION, f"request could not be sent: {exc}"
            lines.append(f"no response: {type(exc).__name__}: {str(exc) or failure[1]}")
            return verdict(spec, location, started_at, failure, lines, secrets)
        failure = _mid_body(exc, response, timed_out, timeout_s)
    finally:
        _HOP.reset(token)
        if response is not None:
            # Back to the pool when the body was read to the end; closed when it was cut short.
            response.release()
    if failure is None and loop.time() > deadline_at:
        # The last bytes were already buffered, so no await gave the deadline a chance to fire.
        failure = ErrorClass.TIMEOUT, f"response not complete within {_ms(timeout_s)} ms"

    body = b"".join(chunks)
    text = _decode(body, response.headers.get("content-type", ""))
    if response.history:
        lines.append(f"after {len(response.history)} redirect(s): {response.url}")
    lines.append(f"HTTP {response.status} {response.reason or ''}")
    headers = response.headers
    for name in EVIDENCE_HEADERS:
        value = _header(headers, name)
        if value is not None:
            lines.append(f"{name}: {value}")
    lines.extend(["", body_excerpt(text, secrets, cut=len(body) >= limit)])

    failure = failure or _judge(spec, response.status, latency_ms, text, lambda name: _header(headers, name))
    return verdict(
        spec, location, started_at, failure, lines, secrets, latency_ms=latency_ms, status_code=response.status
    )


def _header(headers: CIMultiDictProxy[str], name: str) -> str | None:
    values = headers.getall(name, None)
    # requests joins a repeated header the same way, so both runners judge the same value.
    return None if values is None else ", ".join(values)


def _no_response(exc: BaseException, hop: _Hop, timed_out: bool, connect_s: float, timeout_s: float) -> Failure:
    url = str(hop.url)  # after a redirect the failing host is not necessarily the one in the spec
    where = _host_port(url)
    if timed_out:
        if hop.connected:
            return ErrorClass.TIMEOUT, f"no response from {where} within {_ms(timeout_s)} ms"
        return ErrorClass.TIMEOUT, f"could not connect to {where} within {_ms(timeout_s)} ms"
    if isinstance(exc, aiohttp.ClientConnectorDNSError) or _find(exc, socket.gaierror):
        return ErrorClass.DNS, f"could not resolve host {urlsplit(url).hostname}"
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return ErrorClass.TIMEOUT, f"could not connect to {where} within {_ms(connect_s)} ms"
    if isinstance(exc, aiohttp.ClientConnectorError):
        # aiohttp's wrapper is itself an ssl.SSLError without the verify details; the cause has them.
        cause = exc.os_error
        if isinstance(exc, aiohttp.ClientSSLError) or isinstance(cause, ssl.SSLError):
            return ErrorClass.TLS, f"TLS with {where} failed: {_innermost(cause)}"
        if isinstance(cause, ConnectionRefusedError) or cause.errno == errno.ECONNREFUSED:
            return ErrorClass.CONNECT, f"connection refused by {where}"
        if isinstance(cause, ConnectionResetError):
            return ErrorClass.CONNECT, f"connection reset by {where}"
        return ErrorClass.CONNECT, f"could not connect to {where}: {_innermost(cause)}"
    if _find(exc, ssl.SSLError):
        return ErrorClass.TLS, f"TLS with {where} failed: {_innermost(exc)}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return ErrorClass.CONNECT, f"{where} closed the connection without answering"
    if _find(exc, ConnectionResetError):
        return ErrorClass.CONNECT, f"connection reset by {where}"
    if isinstance(exc, aiohttp.TooManyRedirects):
        exceeded = f"Exceeded {MAX_REDIRECTS} redirects."  # requests' wording for the same loop
        return ErrorClass.CONNECT, f"request to {where} failed with TooManyRedirects: {exceeded}"
    if isinstance(exc, aiohttp.ClientConnectionError):
        return ErrorClass.CONNECT, f"could not connect to {where}: {_innermost(exc)}"
    return ErrorClass.CONNECT, f"request to {where} failed with {type(exc).__name__}: {_detail(exc)}"


def _mid_body(exc: BaseException, response: aiohttp.ClientResponse, timed_out: bool, timeout_s: float) -> Failure:
    if timed_out:
        return ErrorClass.TIMEOUT, f"response not complete within {_ms(timeout_s)} ms"
    if _find(exc, ssl.SSLError):
        return ErrorClass.TLS, f"TLS failed while reading the body: {_innermost(exc)}"
    where = _host_port(str(response.url))
    return ErrorClass.CONNECT, f"connection to {where} broke mid-body: {_detail(exc)}"


def _detail(exc: BaseException) -> str:
    """The root cause in one line; aiohttp's parser errors print as "400, message: ..." otherwise."""
    parsing = _find(exc, HttpProcessingError)
    if parsing is not None and parsing.message:
        return " ".join(parsing.message.split())
    return _innermost(exc)


def _decode(body: bytes, content_type: str) -> str:
    """The body as text: the declared charset, else what charset_normalizer finds, as the sync runner does."""
    if not body:
        return ""
    encoding = _charset(content_type)
    if encoding is not None:
        try:
            return body.decode(encoding, errors="replace")
        except LookupError:
            return body.decode("utf-8", errors="replace")
    try:
        # Most pages are ASCII or UTF-8, which charset_normalizer would name too, at a hundred times
        # the CPU. Not final: a body cut at the read limit may end inside a character.
        return codecs.utf_8_decode(body, "strict", False)[0]
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(body).best()
    try:
        return body.decode(best.encoding if best is not None else "utf-8", errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def _charset(content_type: str) -> str | None:
    """The charset parameter of a Content-Type header, parsed the way requests parses it."""
    if "charset" not in content_type.lower():
        return None
    for param in content_type.split(";")[1:]:
        key, equals, value = param.partition("=")
        if equals and key.strip(" \"'").lower() == "charset":
            return value.strip(" \"'") or None
    return None
