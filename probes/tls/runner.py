"""Run one TLS probe: does the portal's certificate verify, and how long until it expires?

An expired or misissued certificate locks everyone out of a portal just as surely as a crashed
server, and browsers give people no way past it. This makes the handshake a browser would, with
verification on (the chain up to a trusted CA and the server name), and fails early, as an
assertion, while the certificate still has fewer than `min_days_valid` days to run, so the
renewal can happen before anyone is locked out.

The lookup and TCP connection are the TCP probe's, worded the same way. One deadline,
`spec.timeout`, covers lookup, connect, handshake and closing. The runner never raises for
anything the target does: it classifies the failure and says what happened in one line, with the
certificate's subject, issuer, names, validity, protocol and cipher as evidence.
"""

from __future__ import annotations

import asyncio
import functools
import math
import os
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from probes.http.runner import _innermost
from probes.result import CheckResult, ErrorClass, judged
from probes.tcp.runner import Dial, DialFailed, bounded, deadline_failure, dial, host_port, ms, run_sync
from probes.tcp.spec import unbracketed
from probes.tls.spec import TlsProbeSpec

__all__ = ["run_tls_async", "run_tls_probe"]

Failure = tuple[ErrorClass, str]
# getpeercert() names attributes in full; certificates are usually written with the short names.
_SHORT_NAMES = {
    "commonName": "CN",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "stateOrProvinceName": "ST",
    "localityName": "L",
    "emailAddress": "E",
}


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def run_tls_async(
    spec: TlsProbeSpec,
    location: str,
    *,
    session: Any = None,  # the engine's HTTP session, whose pooled connections would skip the handshake
    clock: Callable[[], datetime] = _utc_now,
) -> CheckResult:
    """Make one verified handshake; whatever the target does, answer with a CheckResult, never raise.

    Raises only when `spec.ca_file` cannot be loaded: that is this machine's configuration, not
    something the portal did, and must not be recorded as the portal's outage.
    """
    context = _context(spec.ca_file)
    timeout_s = spec.timeout.total_seconds()
    server_name = unbracketed(spec.expected_name)
    where = host_port(spec.host, spec.port)
    first = f"TLS handshake with {where}, server name {server_name}"
    target = Dial(spec.host, spec.port, [first, f"probed from: {location}"])
    loop = asyncio.get_running_loop()
    started_at = clock()
    start = time.perf_counter()
    deadline_at = loop.time() + timeout_s
    deadline = asyncio.timeout_at(deadline_at)
    try:
        async with deadline:
            sock = await dial(target)
            target.phase = "tls"
            began = time.perf_counter()
            try:
                _, writer = await asyncio.open_connection(
                    sock=sock,
                    ssl=context,
                    server_hostname=server_name,
                    # asyncio's own limit would otherwise cut in first when the spec allows more than 60 s.
                    ssl_handshake_timeout=timeout_s,
                )
            except BaseException:
                sock.close()
                raise
            latency_ms = (time.perf_counter() - start) * 1000
            target.lines.append(f"handshake done in {(time.perf_counter() - began) * 1000:.1f} ms")
    except DialFailed as exc:
        return judged(spec.id, location, started_at, exc.failure, bounded(target.lines))
    except TimeoutError:
        if not deadline.expired():
            raise
        target.lines.append(f"stopped at the {ms(timeout_s)} ms deadline")
        if target.phase == "tls":
            failure = ErrorClass.TIMEOUT, f"TLS handshake with {where} not complete within {ms(timeout_s)} ms"
        else:
            failure = deadline_failure(target, timeout_s)
        return judged(spec.id, location, started_at, failure, bounded(target.lines))
    except OSError as exc:  # ssl.SSLError and ssl.SSLCertVerificationError are OSErrors too
        # The connection itself was made (dial reports its own failures): whatever breaks now, a
        # refused certificate, a protocol mismatch or a server hanging up mid-handshake, is TLS's.
        target.lines.append(f"handshake failed: {type(exc).__name__}: {_innermost(exc)}")
        failure = ErrorClass.TLS, f"TLS with {where} failed: {_innermost(exc)}"
        return judged(spec.id, location, started_at, failure, bounded(target.lines))

    ssl_object = writer.get_extra_info("ssl_object")
    certificate = ssl_object.getpeercert() if ssl_object is not None else None
    version = ssl_object.version() if ssl_object is not None else None
    cipher = ssl_object.cipher() if ssl_object is not None else None
    await _close(writer, deadline_at - loop.time())

    if not certificate or "notAfter" not in certificate:
        failure = ErrorClass.TLS, f"TLS with {where} failed: no certificate was presented"
        return judged(spec.id, location, started_at, failure, bounded(target.lines), latency_ms=latency_ms)
    not_after = _cert_time(certificate["notAfter"])
    days_left = math.floor((not_after - started_at).total_seconds() / 86400)
    target.lines.extend(_describe(certificate, days_left))
    target.lines.append(f"protocol: {version or 'unknown'}")
    target.lines.append(f"cipher: {cipher[0] if cipher else 'unknown'}")

    verdict: Failure | None = None
    if days_left < spec.min_days_valid:
        verdict = (
            ErrorClass.ASSERTION,
            f"certificate expires in {_days(days_left)} (on {not_after:%Y-%m-%d}), "
            f"under the {spec.min_days_valid}-day minimum",
        )
    return judged(spec.id, location, started_at, verdict, bounded(target.lines), latency_ms=latency_ms)


def run_tls_probe(spec: TlsProbeSpec, location: str, **kwargs: Any) -> CheckResult:
    """The blocking form of `run_tls_async`, for callers outside an event loop."""
    return run_sync(run_tls_async(spec, location, **kwargs))


def _context(ca_file: str | None) -> ssl.SSLContext:
    """The verifying client context; loading a CA bundle is slow next to a check, so it is kept."""
    if ca_file is None:
        return _context_for(None, None)
    try:
        stat = os.stat(ca_file)
        # Keyed by the file's change time too, so a replaced bundle is read again.
        return _context_for(ca_file, (stat.st_mtime_ns, stat.st_size))
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"ca_file {ca_file!r} cannot be used: {exc}") from exc


@functools.lru_cache(maxsize=32)
def _context_for(ca_file: str | None, _version: tuple[int, int] | None) -> ssl.SSLContext:
    # Hostname checking and CERT_REQUIRED are the defaults here; a CA file replaces the system store.
    return ssl.create_default_context(cafile=ca_file)


async def _close(writer: asyncio.StreamWriter, seconds: float) -> None:
    """Close politely (TLS close_notify) within what is left of the deadline, else drop the connection.

    A server that never answers the close_notify would otherwise hold the check for asyncio's
    30-second shutdown timeout.
    """
    writer.close()
    try:
        async with asyncio.timeout(max(seconds, 0.0)):
            await writer.wait_closed()
    except (TimeoutError, OSError):
        writer.transport.abort()


def _cert_time(text: str) -> datetime:
    return datetime.fromtimestamp(ssl.cert_time_to_seconds(text), UTC)


def _describe(certificate: dict[str, Any], days_left: int) -> list[str]:
    names = ", ".join(f"{kind}:{value}" for kind, value in certificate.get("subjectAltName", ()))
    return [
        f"subject: {_distinguished_name(certificate.get('subject', ()))}",
        f"issuer: {_distinguished_name(certificate.get('issuer', ()))}",
        f"SANs: {names or 'none'}",
        f"notBefore: {_cert_time(certificate['notBefore']):%Y-%m-%d %H:%M:%S} UTC"
        if "notBefore" in certificate
        else "notBefore: unknown",
        f"notAfter: {_cert_time(certificate['notAfter']):%Y-%m-%d %H:%M:%S} UTC",
        f"days left: {days_left}",
    ]


def _distinguished_name(rdns: Any) -> str:
    parts = [f"{_SHORT_NAMES.get(key, key)}={value}" for rdn in rdns for key, value in rdn]
    return ", ".join(parts) or "empty"


def _days(count: int) -> str:
    return "1 day" if count == 1 else f"{count} days"
