"""The `tcp` probe's spec: a host and a port that must accept a connection."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import Field, field_validator

from probes.spec import ProbeSpecBase

_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


def valid_host(value: str) -> str:
    """A DNS name (international names allowed) or an IP address, as a probe connects to it.

    Anything else is refused here with the reason, rather than failing every check as a DNS outage.
    """
    host = value.strip()
    if host != value or not host:
        raise ValueError(f"must be a host name or an IP address without spaces, got {value!r}")
    literal = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(literal)
    except ValueError:
        pass
    else:
        return host
    if "://" in host or "/" in host:
        raise ValueError(f"must be a bare host name, not a URL, got {value!r}")
    if ":" in host:
        raise ValueError(f"must be a host name or an IP address; give the port separately, got {value!r}")
    try:
        # What getaddrinfo itself does with a non-ASCII name (IDNA), so "impôts.gouv.fr" is accepted.
        ascii_name = host.encode("idna").decode("ascii")
    except (UnicodeError, ValueError):
        raise ValueError(f"is not a valid host name: {value!r}") from None
    labels = ascii_name.removesuffix(".").split(".")
    if len(ascii_name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise ValueError(f"is not a valid host name: {value!r}")
    return host


def unbracketed(host: str) -> str:
    """The host as getaddrinfo wants it: an IPv6 address without the brackets of a URL."""
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


class TcpProbeSpec(ProbeSpecBase):
    type: Literal["tcp"] = "tcp"
    host: str
    port: int = Field(ge=1, le=65535)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return valid_host(value)
