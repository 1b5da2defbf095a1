"""Run one HTTP probe against the portal and describe what came back as a CheckResult."""

from __future__ import annotations

import http.client
import ipaddress
import json
import re
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import charset_normalizer
import jmespath.exceptions
import requests
import urllib3.exceptions
from urllib3.response import BaseHTTPResponse

from probes.http.spec import HttpProbeSpec
from probes.identity import user_agent
from probes.result import EVIDENCE_LIMIT, CheckResult, ErrorClass, judged
from probes.secrets import MissingVariable, Secrets, read_environment, substitute_env
from probes.spec import describe_statuses

# A healthy TCP handshake takes well under a second; waiting longer only delays reporting a dead host.
CONNECT_TIMEOUT_CAP = 10.0
SEARCH_BYTES = 256 * 1024  # a login marker sits near the top of a page; never pull a whole download
EVIDENCE_BYTES = 4 * EVIDENCE_LIMIT  # worst case UTF-8 needs 4 bytes per evidence character
CHUNK_BYTES = 16 * 1024
EVIDENCE_HEADERS = ("content-type", "content-length", "server", "date", "location", "retry-after")
TRUNCATED = "\n…[truncated]"
_SSL_NOISE = re.compile(r"^\[[^\]]*\]\s*|\s*\(_ssl\.c:\d+\)$")
VALUE_CHARS = 200  # of a header or JSON value quoted in an error line, which must stay one readable line
TLS_OFF = "TLS verification: off"

Failure = tuple[ErrorClass, str]
_E = TypeVar("_E", bound=BaseException)


def request_headers(spec: HttpProbeSpec, location: str) -> dict[str, str]:
    """The probe's headers, with PortalWatch's User-Agent unless the probe sets its own."""
    if any(name.lower() == "user-agent" for name in spec.headers):
        return dict(spec.headers)
    return {"User-Agent": user_agent(location), **spec.headers}


@dataclass(frozen=True, slots=True)
class Request:
    """What one check sends: the spec's URL, headers and body with each `${env:NAME}` filled in, and
    the values filled in, to be redacted from the check's result."""

    url: str
    headers: dict[str, str]
    body: bytes | None
    secrets: Secrets
    unsendable: str | None = None  # why it cannot be sent (a variable is not set), or None


def prepare_request(spec: HttpProbeSpec, location: str) -> Request:
    """The request for one check, its environment variables read now; never raises."""
    headers = request_headers(spec, location)
    secrets = Secrets()
    if not spec.env_names:
        return Request(spec.url, headers, None if spec.body is None else spec.body.encode("utf-8"), secrets)
    env = read_environment(spec.env_names, secrets)
    try:
        url = substitute_env(spec.url, env, encode=True)
        headers = {name: substitute_env(value, env) for name, value in headers.items()}
        body = None if spec.body is None else substitute_env(spec.body, env)
    except MissingVariable as missing:
        return Request(spec.url, {}, None, secrets, unsendable=str(missing))
    for name, value in headers.items():
        if any(char in value for char in "\r\n\0"):
            reason = f"header {name}: its value holds a line break or NUL, which a header cannot carry"
            return Request(url, {}, None, secrets, unsendable=reason)
    # http.client would encode a str body as Latin-1 and choke on anything else.
    return Request(url, headers, None if body is None else body.encode("utf-8"), secrets)


def unsent(spec: HttpProbeSpec, location: str, started_at: datetime, request: Request, lines: list[str]) -> CheckResult:
    """The result of a check whose request could not be made: an assertion, nothing sent."""
    reason = request.unsendable or "the request could not be made"
    lines.append(f"not sent: {reason}")
    return verdict(spec, location, started_at, (ErrorClass.ASSERTION, reason), lines, request.secrets)


def verdict(
    spec: HttpProbeSpec,
    location: str,
    started_at: datetime,
    failure: Failure | None,
    lines: list[str],
    secrets: Secrets,
    *,
    latency_ms: float | None = None,
    status_code: int | None = None,
) -> CheckResult:
    """The check's result, its secrets taken out of the error and out of the evidence before it is cut."""
    if failure is not None and secrets:
        # A long value quoted in the error line is cut short with `…`, perhaps inside a secret.
        pieces = secrets.redact(failure[1]).split("…")
        failure = failure[0], "…".join([*map(secrets.trim_partial, pieces[:-1]), pieces[-1]])
    evidence = _bounded(secrets.redact("\n".join(lines)))
    return judged(spec.id, location, started_at, failure, evidence, latency_ms=latency_ms, status_code=status_code)


def body_excerpt(text: str, secrets: Secrets, *, cut: bool) -> str:
    """The start of the body kept as evidence. Secrets are redacted before it is cut to EVIDENCE_LIMIT,
    so no cut leaves the start of one behind; `cut`: the read stopped at its limit, maybe inside one."""
    if secrets:
        text = secrets.redact(text)
        if cut:
            text = secrets.trim_partial(text)
    return text[:EVIDENCE_LIMIT]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def run_http_probe(
    spec: HttpProbeSpec,
    location: str,
    *,
    session: requests.Session | None = None,
    clock: Callable[[], datetime] = _utc_now,
) -> CheckResult:
    """Send the spec's request once; whatever the target does, answer with a CheckResult, never raise."""
    if session is not None:
        return _probe(spec, location, session, clock)
    with requests.Session() as own:
        # Proxies from the environment apply, as in the engine's session (probes.http.aio).
        own.trust_env = True
        return _probe(spec, location, own, clock)


def _probe(spec: HttpProbeSpec, location: str, session: requests.Session, clock: Callable[[], datetime]) -> CheckResult:
    connect_s, timeout_s = _timeouts(spec)
    request = prepare_request(spec, location)
    secrets = request.secrets
    lines = [f"{spec.method} {request.url}", f"probed from: {location}"]
    if not spec.verify_tls:
        lines.append(TLS_OFF)
    started_at = clock()
    if request.unsendable is not None:
        return unsent(spec, location, started_at, request, lines)
    start = time.perf_counter()
    deadline = start + timeout_s
    lookup_failure = _lookup_within(request.url, timeout_s)
    if lookup_failure is not None:
        lines.append(f"no response: {lookup_failure[1]}")
        return verdict(spec, location, started_at, lookup_failure, lines, secrets)
    try:
        with warnings.catch_warnings():
            if not spec.verify_tls:
                # urllib3 warns on every unverified request, and the spec asked for exactly that. The
                # filter is process-wide while it lasts (warnings has no per-thread filters before
                # Python 3.14); a thread running beside this one at worst loses the same warning.
                warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            response = session.request(
                spec.method,
                request.url,
                headers=request.headers,
                data=request.body,
                timeout=(connect_s, timeout_s),
                allow_redirects=spec.follow_redirects,
                stream=True,
                verify=spec.verify_tls,
            )
    except requests.RequestException as exc:
        lines.append(f"no response: {type(exc).__name__}: {exc}")
        return verdict(spec, location, started_at, _classify_exception(exc, spec), lines, secrets)
    except ValueError as exc:  # a header value http.client cannot encode, usually from a variable's value
        lines.append(f"no response: {type(exc).__name__}: {exc}")
        unsendable = ErrorClass.ASSERTION, f"request could not be sent: {exc}"
        return verdict(spec, location, started_at, unsendable, lines, secrets)

    latency_ms = (time.perf_counter() - start) * 1000
    with response:
        limit = SEARCH_BYTES if spec.reads_body else EVIDENCE_BYTES
        body, read_failure = _read_body(response, limit, deadline, timeout_s, spec)
    text = _decode(body, response)

    if response.history:
        lines.append(f"after {len(response.history)} redirect(s): {response.url}")
    lines.append(f"HTTP {response.status_code} {response.reason}")
    lines.extend(f"{name}: {response.headers[name]}" for name in EVIDENCE_HEADERS if name in response.headers)
    lines.extend(["", body_excerpt(text, secrets, cut=len(body) >= limit)])

    failure = read_failure or _judge(spec, response.status_code, latency_ms, text, response.headers.get)
    return verdict(
        spec, location, started_at, failure, lines, secrets, latency_ms=latency_ms, status_code=response.status_code
    )


def _read_body(
    response: requests.Response, limit: int, deadline: float, timeout_s: float, spec: HttpProbeSpec
) -> tuple[bytes, Failure | None]:
    """Read at most `limit` bytes and stop at the deadline, so a slow-drip server cannot hold the probe.

    read1 returns whatever one socket read yields, so a server dripping bytes is caught at the next
    deadline check; a silent server is cut off when that one socket read has waited out what is left
    of the deadline (requests' read timeout would give each read the whole timeout again).
    """
    raw: BaseHTTPResponse = response.raw
    body = bytearray()
    late: Failure = (ErrorClass.TIMEOUT, f"response not complete within {_ms(timeout_s)} ms")
    try:
        while len(body) < limit:
            left = deadline - time.perf_counter()
            if left <= 0:
                return bytes(body), late
            _wait_at_most(raw, left)
            chunk = raw.read1(min(CHUNK_BYTES, limit - len(body)), decode_content=True)
            if not chunk:
                break
            body += chunk
    except urllib3.exceptions.ReadTimeoutError:
        return bytes(body), late
    except urllib3.exceptions.SSLError as exc:
        return bytes(body), (ErrorClass.TLS, f"TLS failed while reading the body: {_innermost(exc)}")
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        where = _host_port(response.url or spec.url)
        return bytes(body), (ErrorClass.CONNECT, f"connection to {where} broke mid-body: {_innermost(exc)}")
    if time.perf_counter() > deadline:
        return bytes(body), late
    return bytes(body), None


def _wait_at_most(raw: BaseHTTPResponse, seconds: float) -> None:
    """Make the next socket read of `raw` give up after `seconds`; the next request on the connection
    sets its own timeout again."""
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if isinstance(sock, socket.socket):
        sock.settimeout(seconds)


def _lookup_within(url: str, timeout_s: float) -> Failure | None:
    """Resolve the host first, giving up at the deadline; None when it resolved (or failed at once).

    requests' timeouts start at connect: getaddrinfo before it waits as long as the system resolver
    likes, 5 s per attempt per nameserver with a dead one. The lookup runs in a daemon thread that
    is left behind if it overruns (it cannot be cancelled, and must not keep the process alive).
    The connection then resolves the host once more, normally from the resolver's cache; only that
    first hop is bounded this way, not the hosts of any redirects. A lookup that fails at once is
    left to requests, so its error is classified the usual way.
    """
    host = urlsplit(url).hostname
    if not host or _is_ip(host):
        return None
    done = threading.Event()

    def lookup() -> None:
        try:
            socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            pass
        finally:
            done.set()

    threading.Thread(target=lookup, name=f"resolve {host}", daemon=True).start()
    if done.wait(timeout_s):
        return None
    return ErrorClass.TIMEOUT, f"could not connect to {_host_port(url)} within {_ms(timeout_s)} ms"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _judge(
    spec: HttpProbeSpec, status: int, latency_ms: float, text: str, header: Callable[[str], str | None]
) -> Failure | None:
    """The verdict on an answer, the same for both runners; `header` looks a header up by any case."""
    if status not in spec.expect_status:
        expected = describe_statuses(spec.expect_status)
        return ErrorClass.STATUS, f"expected status {expected}, got {status}"
    if spec.max_latency is not None:
        limit_ms = spec.max_latency.total_seconds() * 1000
        if latency_ms > limit_ms:
            return (
                ErrorClass.SLOW,
                f"response took {latency_ms:.0f} ms, over the {limit_ms:.0f} ms limit",
            )
    for name, expected, pattern in spec.header_expectations:
        value = header(name)
        if value is None:
            return ErrorClass.ASSERTION, f"header {name} is missing"
        if pattern is None and value.strip() != expected.strip():
            return ErrorClass.ASSERTION, f"header {name}: expected {expected!r}, got {_quoted(value)}"
        if pattern is not None and pattern.search(value) is None:
            return ErrorClass.ASSERTION, f"header {name}: expected a match for {expected}, got {_quoted(value)}"
    if spec.body_contains is not None and spec.body_contains not in text:
        return ErrorClass.ASSERTION, f"body does not contain {spec.body_contains!r}"
    for unwanted in spec.body_not_contains:
        if unwanted in text:
            return ErrorClass.ASSERTION, f"body contains {unwanted!r}"
    pattern = spec.body_pattern
    if pattern is not None and pattern.search(text) is None:
        return ErrorClass.ASSERTION, f"body does not match /{pattern.pattern}/"
    if spec.json_conditions:
        return _judge_json(spec, text)
    return None


def _judge_json(spec: HttpProbeSpec, text: str) -> Failure | None:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        if not text.strip():
            return ErrorClass.ASSERTION, "body is not JSON: it is empty"
        return ErrorClass.ASSERTION, f"body is not JSON: {exc}"
    except RecursionError:
        return ErrorClass.ASSERTION, "body is not JSON: nested too deeply to read"
    for condition in spec.json_conditions:
        try:
            found = condition.expression.search(document)
        except (jmespath.exceptions.JMESPathError, RecursionError, TypeError, ValueError) as exc:
            # A function given the wrong kind of value (`length(status)` on a number) fails at run
            # time; that is the body's shape, reported like any other mismatch.
            detail = " ".join(str(exc).split()) or type(exc).__name__
            return ErrorClass.ASSERTION, f"json {condition.path}: cannot be evaluated on this body: {detail}"
        if not _json_equal(found, condition.equals):
            expected, got = _json_text(condition.equals), _json_text(found)
            return ErrorClass.ASSERTION, f"json {condition.path}: expected {expected}, got {got}"
    return None


def _json_equal(found: Any, expected: Any) -> bool:
    """JSON equality: 1 equals 1.0, but true is not 1 (Python's True == 1 would say it is)."""
    if isinstance(found, bool) or isinstance(expected, bool):
        return isinstance(found, bool) and isinstance(expected, bool) and found == expected
    if isinstance(found, int | float) and isinstance(expected, int | float):
        return found == expected
    if isinstance(found, list) and isinstance(expected, list):
        return len(found) == len(expected) and all(map(_json_equal, found, expected))
    if isinstance(found, dict) and isinstance(expected, dict):
        return found.keys() == expected.keys() and all(_json_equal(found[key], expected[key]) for key in expected)
    return type(found) is type(expected) and found == expected


def _json_text(value: Any) -> str:
    """A JSON value in an error line: strings quoted as in the other messages, the rest as JSON."""
    if isinstance(value, str):
        return _quoted(value)
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"


def _quoted(value: str) -> str:
    return repr(value if len(value) <= VALUE_CHARS else value[: VALUE_CHARS - 1] + "…")


def _classify_exception(exc: requests.RequestException, spec: HttpProbeSpec) -> Failure:
    # After a redirect the failing host is not necessarily the one in the spec.
    url = exc.request.url if exc.request is not None and exc.request.url else spec.url
    where = _host_port(url)
    connect_s, timeout_s = _timeouts(spec)
    resolving = _find(exc, urllib3.exceptions.NameResolutionError) or _find(exc, socket.gaierror)
    if isinstance(exc, requests.ConnectionError) and resolving:
        return ErrorClass.DNS, f"could not resolve host {urlsplit(url).hostname}"
    if isinstance(exc, requests.exceptions.SSLError):
        return ErrorClass.TLS, f"TLS with {where} failed: {_innermost(exc)}"
    if isinstance(exc, requests.ConnectTimeout):
        return ErrorClass.TIMEOUT, f"could not connect to {where} within {_ms(connect_s)} ms"
    if isinstance(exc, requests.Timeout):
        return ErrorClass.TIMEOUT, f"no response from {where} within {_ms(timeout_s)} ms"
    if isinstance(exc, requests.ConnectionError):
        if _find(exc, ConnectionRefusedError):
            return ErrorClass.CONNECT, f"connection refused by {where}"
        # RemoteDisconnected is also a ConnectionResetError, so it has to be asked about first.
        if _find(exc, http.client.RemoteDisconnected):
            return ErrorClass.CONNECT, f"{where} closed the connection without answering"
        if _find(exc, ConnectionResetError):
            return ErrorClass.CONNECT, f"connection reset by {where}"
        return ErrorClass.CONNECT, f"could not connect to {where}: {_innermost(exc)}"
    return ErrorClass.CONNECT, f"request to {where} failed with {type(exc).__name__}: {_innermost(exc)}"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it wraps: requests and urllib3 nest causes in args and `reason`."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = (current.__cause__, current.__context__, getattr(current, "reason", None), *current.args)
        todo.extend(item for item in linked if isinstance(item, BaseException))


def _find(exc: BaseException, kind: type[_E]) -> _E | None:
    return next((cause for cause in _causes(exc) if isinstance(cause, kind)), None)


def _innermost(exc: BaseException) -> str:
    """The root cause in one line, which says more than requests' nested retry wording."""
    ssl_error = _find(exc, ssl.SSLError)
    if isinstance(ssl_error, ssl.SSLCertVerificationError) and ssl_error.verify_message:
        return str(ssl_error.verify_message)
    if ssl_error is not None:
        # "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)" -> "wrong version number"
        return _SSL_NOISE.sub("", str(ssl_error.strerror or ssl_error)) or type(ssl_error).__name__
    root = list(_causes(exc))[-1]
    text = " ".join(str(root).split()) or type(root).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "?"
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = None
    host = f"[{host}]" if ":" in host else host
    return host if port is None else f"{host}:{port}"


def _timeouts(spec: HttpProbeSpec) -> tuple[float, float]:
    """(connect, overall) seconds; the overall one also serves as requests' read timeout."""
    timeout_s = spec.timeout.total_seconds()
    return min(timeout_s, CONNECT_TIMEOUT_CAP), timeout_s


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _decode(body: bytes, response: requests.Response) -> str:
    if not body:
        return ""
    encoding = None
    # requests falls back to Latin-1 for text/* without a charset, which garbles most UTF-8 portals.
    if "charset" in response.headers.get("content-type", "").lower():
        encoding = response.encoding
    if encoding is None:
        best = charset_normalizer.from_bytes(body).best()
        encoding = best.encoding if best is not None else "utf-8"
    try:
        return body.decode(encoding, errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def _bounded(text: str) -> str:
    if len(text) <= EVIDENCE_LIMIT:
        return text
    return text[: EVIDENCE_LIMIT - len(TRUNCATED)] + TRUNCATED
