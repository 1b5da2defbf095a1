"""The probe kinds PortalWatch knows: each kind's spec and runner, listed once here.

A new kind is a package of its own (spec + runner) and one line in `KINDS`; the configuration,
storage and workers only ever see `ProbeSpec`, `parse_spec` and `run_probe`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import Discriminator, Tag, TypeAdapter

from probes.browser import BrowserProbeSpec, run_browser_async, run_browser_probe
from probes.dns import DnsProbeSpec, run_dns_async, run_dns_probe
from probes.http import HttpProbeSpec, run_http_probe
from probes.result import CheckResult
from probes.spec import ProbeSpecBase
from probes.steps import StepsProbeSpec, run_steps_async, run_steps_probe
from probes.tcp import TcpProbeSpec, run_tcp_async, run_tcp_probe
from probes.tls import TlsProbeSpec, run_tls_async, run_tls_probe

DEFAULT_KIND = "http"  # configs written before there was more than one kind leave `type` out


@dataclass(frozen=True)
class Kind:
    name: str
    spec: type[ProbeSpecBase]
    run: Callable[..., CheckResult]
    # The kind's own coroutine, given the engine's shared HTTP session; a kind without one runs its
    # blocking runner on a thread of the loop's pool.
    run_async: Callable[..., Awaitable[CheckResult]] | None = None


async def _http_async(spec: HttpProbeSpec, location: str, *, session: Any) -> CheckResult:
    from probes.http.aio import run_http_probe_async  # aiohttp only where the engine runs

    return await run_http_probe_async(spec, location, session=session)


KINDS: tuple[Kind, ...] = (
    Kind("http", HttpProbeSpec, run_http_probe, _http_async),
    Kind("tcp", TcpProbeSpec, run_tcp_probe, run_tcp_async),
    Kind("dns", DnsProbeSpec, run_dns_probe, run_dns_async),
    Kind("tls", TlsProbeSpec, run_tls_probe, run_tls_async),
    Kind("steps", StepsProbeSpec, run_steps_probe, run_steps_async),
    Kind("browser", BrowserProbeSpec, run_browser_probe, run_browser_async),
)
_BY_NAME = {kind.name: kind for kind in KINDS}


def _kind_of(value: Any) -> str:
    if isinstance(value, dict):
        kind = value.get("type", DEFAULT_KIND)
        return kind if isinstance(kind, str) else repr(kind)
    return str(getattr(value, "type", DEFAULT_KIND))


if TYPE_CHECKING:
    ProbeSpec = ProbeSpecBase  # every kind's spec is one; the union below is for pydantic's validation
else:
    ProbeSpec = Annotated[
        Union[tuple(Annotated[kind.spec, Tag(kind.name)] for kind in KINDS)],  # noqa: UP007
        Discriminator(
            _kind_of, custom_error_type="probe_type", custom_error_message=f"type must be one of {', '.join(_BY_NAME)}"
        ),
    ]
_ADAPTER: TypeAdapter[ProbeSpecBase] = TypeAdapter(ProbeSpec)  # type: ignore[arg-type]


def parse_spec(data: Any) -> ProbeSpecBase:
    """A stored or configured spec, back as its kind's model."""
    return _ADAPTER.validate_python(data)


def run_probe(spec: ProbeSpecBase, location: str, **kwargs: Any) -> CheckResult:
    """Run `spec` once from `location`; keyword arguments go to the kind's runner (session, clock)."""
    kind = _BY_NAME.get(spec.type)
    if kind is None:
        raise ValueError(f"no runner for probe type {spec.type!r}")
    return kind.run(spec, location, **kwargs)


async def run_probe_async(spec: ProbeSpecBase, location: str, *, session: Any) -> CheckResult:
    """Run `spec` once from `location` on the running event loop, sharing `session` (aiohttp's)."""
    kind = _BY_NAME.get(spec.type)
    if kind is None:
        raise ValueError(f"no runner for probe type {spec.type!r}")
    if kind.run_async is not None:
        return await kind.run_async(spec, location, session=session)
    return await asyncio.to_thread(kind.run, spec, location)
