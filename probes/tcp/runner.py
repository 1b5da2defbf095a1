"""Run one TCP probe: does the portal's host accept a connection on its port at all?

Below HTTP, this separates "the server is down or firewalled" from "the web application is failing",
and covers services that do not speak HTTP. The connection step here (name lookup, then each address
in turn) is also the TLS probe's first step, so both word lookup and connect failures the same way.

One deadline, `spec.timeout`, covers the lookup and every connection attempt. The runner never
raises for anything the target does: it classifies the failure and says what happened in one line,
with the addresses tried and each one's outcome as evidence.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from probes.result import EVIDENCE_LIMIT, CheckResult, ErrorClass, judged
from probes.tcp.spec import TcpProbeSpec, unbracketed

__all__ = ["Dial", "DialFailed", "dial", "run_sync", "run_tcp_async", "run_tcp_probe"]

TRUNCATED = "\n…[truncated]"

Failure = tuple[ErrorClass, str]
T = TypeVar("T")


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Dial:
    """Where one check connects to and how far it got: a deadline that passes mid-way is worded by `phase`."""

    host: str
    port: int
    lines: list[str]  # the check's evidence, appended to as it goes
    phase: str = "resolve"  # then "connect"; the TLS probe moves it on to "tls"
    timings: dict[str, float] = field(default_factory=dict)  # milliseconds per step

    @property
    def where(self) -> str:
        return host_port(self.host, self.port)


class DialFailed(Exception):
    """The lookup or every connection attempt failed; `failure` says how, in the probe's words."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure[1])
        self.failure = failure


async def dial(target: Dial) -> socket.socket:
    """A connected, non-blocking socket to one of the host's addresses, tried in the resolver's order.

    The caller owns the socket. Raises DialFailed; a deadline around the call may stop it anywhere.
    """
    loop = asyncio.get_running_loop()
    host = unbracketed(target.host)
    began = time.perf_counter()
    try:
        infos = await loop.getaddrinfo(host, target.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        target.lines.append(f"name lookup failed: {_reason(exc)}")
        raise DialFailed((ErrorClass.DNS, f"could not resolve host {target.host}")) from None
    target.timings["lookup"] = _ms_since(began)
    # IPv6 entries also carry flow and scope ids: address and port are enough to tell them apart.
    addresses: list[tuple[socket.AddressFamily, tuple[str, int]]] = list(
        dict.fromkeys((family, (str(sockaddr[0]), int(sockaddr[1]))) for family, _, _, _, sockaddr in infos)
    )
    if host != addresses[0][1][0] or len(addresses) > 1:
        shown = ", ".join(address for _, (address, _) in addresses)
        target.lines.append(f"resolved {target.host} in {target.timings['lookup']:.0f} ms: {shown}")

    target.phase = "connect"
    errors: list[OSError] = []
    for family, sockaddr in addresses:
        label = host_port(sockaddr[0], sockaddr[1])
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setblocking(False)
        attempt = time.perf_counter()
        try:
            await loop.sock_connect(sock, sockaddr)
        except OSError as exc:
            sock.close()
            errors.append(exc)
            target.lines.append(f"{label}: {_reason(exc)}")
            continue
        except asyncio.CancelledError:
            sock.close()
            target.lines.append(f"{label}: no answer after {_ms_since(attempt):.0f} ms")
            raise
        except BaseException:
            sock.close()
            raise
        target.timings["connect"] = _ms_since(attempt)
        target.lines.append(f"{label}: connected in {target.timings['connect']:.1f} ms")
        return sock
    raise DialFailed(_unreachable(target.where, errors))


def _unreachable(where: str, errors: list[OSError]) -> Failure:
    if errors and all(isinstance(exc, ConnectionRefusedError) for exc in errors):
        return ErrorClass.CONNECT, f"connection refused by {where}"
    # Refusal on one address says less than, say, "No route to host" on another.
    worst = next((exc for exc in errors if not isinstance(exc, ConnectionRefusedError)), None)
    if worst is None:
        return ErrorClass.CONNECT, f"could not connect to {where}: no address to connect to"
    if isinstance(worst, TimeoutError):  # the kernel gave up on its own SYN retries
        return ErrorClass.TIMEOUT, f"could not connect to {where}: {_reason(worst)}"
    return ErrorClass.CONNECT, f"could not connect to {where}: {_reason(worst)}"


def deadline_failure(target: Dial, timeout_s: float) -> Failure:
    """What a deadline passing at `target.phase` means, for the lookup and connect phases."""
    if target.phase == "resolve":
        return ErrorClass.TIMEOUT, f"could not resolve host {target.host} within {ms(timeout_s)} ms"
    return ErrorClass.TIMEOUT, f"could not connect to {target.where} within {ms(timeout_s)} ms"


async def run_tcp_async(
    spec: TcpProbeSpec,
    location: str,
    *,
    session: Any = None,  # the engine's HTTP session, which a TCP connection has no use for
    clock: Callable[[], datetime] = _utc_now,
) -> CheckResult:
    """Connect once; whatever the target does, answer with a CheckResult, never raise."""
    timeout_s = spec.timeout.total_seconds()
    target = Dial(spec.host, spec.port, [f"TCP connect {host_port(spec.host, spec.port)}", f"probed from: {location}"])
    started_at = clock()
    start = time.perf_counter()
    deadline = asyncio.timeout(timeout_s)
    try:
        async with deadline:
            sock = await dial(target)
    except DialFailed as exc:
        return judged(spec.id, location, started_at, exc.failure, bounded(target.lines))
    except TimeoutError:
        if not deadline.expired():
            raise
        target.lines.append(f"stopped at the {ms(timeout_s)} ms deadline")
        return judged(spec.id, location, started_at, deadline_failure(target, timeout_s), bounded(target.lines))
    latency_ms = _ms_since(start)
    sock.close()  # nothing was sent: closing a plain TCP socket never waits
    return judged(spec.id, location, started_at, None, bounded(target.lines), latency_ms=latency_ms)


def run_tcp_probe(spec: TcpProbeSpec, location: str, **kwargs: Any) -> CheckResult:
    """The blocking form of `run_tcp_async`, for callers outside an event loop."""
    return run_sync(run_tcp_async(spec, location, **kwargs))


def run_sync(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)`, except that a name lookup still running on a worker thread is not waited for.

    getaddrinfo cannot be cancelled: past the deadline it keeps its thread until the system resolver
    gives up, which can take many seconds. asyncio.run would join that thread before returning and
    so break the check's deadline; closing the loop lets the thread finish on its own instead.
    """
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(main)
    finally:
        try:
            leftovers = asyncio.all_tasks(loop)
            for task in leftovers:
                task.cancel()
            if leftovers:
                loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()  # shuts the lookup threads' pool down without joining it


def host_port(host: str, port: int) -> str:
    host = unbracketed(host)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def ms(seconds: float) -> int:
    return round(seconds * 1000)


def _ms_since(began: float) -> float:
    return (time.perf_counter() - began) * 1000


def _reason(exc: BaseException) -> str:
    """An OS error as the OS words it ("Connection refused"), without asyncio's "Connect call failed"."""
    if isinstance(exc, OSError) and exc.errno is not None:
        if isinstance(exc, socket.gaierror):
            return str(exc.strerror or exc)
        try:
            return os.strerror(exc.errno)
        except ValueError:
            return errno.errorcode.get(exc.errno, str(exc))
    return " ".join(str(exc).split()) or type(exc).__name__


def bounded(lines: list[str]) -> str:
    text = "\n".join(lines)
    if len(text) <= EVIDENCE_LIMIT:
        return text
    return text[: EVIDENCE_LIMIT - len(TRUNCATED)] + TRUNCATED
