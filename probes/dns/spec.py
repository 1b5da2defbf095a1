"""The `dns` probe's spec: a question for a resolver, and what its answer must be for the portal to be findable."""

from __future__ import annotations

import ipaddress
from typing import Literal

import dns.exception
import dns.name
from pydantic import Field, field_validator

from probes.spec import ProbeSpecBase

RECORD_TYPES = ("A", "AAAA", "CNAME", "MX", "TXT", "NS")
# The response codes a resolver gives for an ordinary query (RFC 1035, 2136); the rest need EDNS or TSIG.
RCODES = (
    "NOERROR",
    "FORMERR",
    "SERVFAIL",
    "NXDOMAIN",
    "NOTIMP",
    "REFUSED",
    "YXDOMAIN",
    "YXRRSET",
    "NXRRSET",
    "NOTAUTH",
)
DNS_PORT = 53
RESOLVER_EXAMPLE = "must be an IP address with an optional port, such as 10.0.0.2, 10.0.0.2:53 or [2001:db8::1]:53"


def parse_resolver(value: str) -> tuple[str, int]:
    """`IP`, `IPv4:port`, `[IPv6]` or `[IPv6]:port` as (address, port); ValueError says what is wrong."""
    text = value.strip()
    port_text: str | None = None
    if text.startswith("["):
        address, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"{RESOLVER_EXAMPLE}, got {value!r}")
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:
        address, _, port_text = text.partition(":")
    else:
        address = text  # an IPv4 address, or an IPv6 one without a port
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise ValueError(f"{RESOLVER_EXAMPLE}, got {value!r}") from None
    if text.startswith("[") and ip.version != 6:
        raise ValueError(f"only an IPv6 address goes in brackets, got {value!r}")
    if port_text is None:
        return str(ip), DNS_PORT
    # Length first: int() of thousands of digits is refused by Python itself, with a less helpful message.
    if not (port_text.isascii() and port_text.isdigit() and len(port_text) <= 5 and 1 <= int(port_text) <= 65535):
        raise ValueError(f"port must be a number from 1 to 65535, got {port_text!r} in {value!r}")
    return str(ip), int(port_text)


class DnsProbeSpec(ProbeSpecBase):
    type: Literal["dns"] = "dns"
    # The domain name to look up (`name` stays the optional label every kind has).
    query: str
    record: str = "A"
    resolver: str | None = None  # "IP[:port]"; the system's resolvers when left out
    expect: list[str] | None = Field(default=None, min_length=1)
    expect_rcode: str = "NOERROR"

    @field_validator("query")
    @classmethod
    def _domain_name(cls, value: str) -> str:
        if not value.strip() or value != value.strip():
            raise ValueError(f"must be a domain name without spaces, got {value!r}")
        try:
            dns.name.from_text(value)
        except (dns.exception.DNSException, UnicodeError, ValueError) as exc:
            raise ValueError(f"is not a valid domain name ({exc}): {value!r}") from None
        return value

    @field_validator("record")
    @classmethod
    def _record_type(cls, value: str) -> str:
        record = value.upper()
        if record not in RECORD_TYPES:
            raise ValueError(f"must be one of {', '.join(RECORD_TYPES)}, got {value!r}")
        return record

    @field_validator("resolver")
    @classmethod
    def _resolver(cls, value: str | None) -> str | None:
        if value is not None:
            parse_resolver(value)
        return value

    @field_validator("expect")
    @classmethod
    def _answers(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not all(answer.strip() for answer in value):
            raise ValueError("expected answers must not be empty")
        return value

    @field_validator("expect_rcode")
    @classmethod
    def _rcode(cls, value: str) -> str:
        rcode = value.upper()
        if rcode not in RCODES:
            raise ValueError(f"must be one of {', '.join(RCODES)}, got {value!r}")
        return rcode
