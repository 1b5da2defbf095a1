"""Run one DNS probe: does the portal's name still resolve, to the addresses it should?

A portal is unreachable for everyone when its name stops resolving (an expired domain, a broken
delegation, a zone pushed with a typo) even though its servers are fine, and an HTTP probe would
only say "could not resolve host". This asks a resolver directly, so the evidence shows which
resolver said what: the response code, the records with their TTL, and the zone's SOA on a denial.

One deadline, `spec.timeout`, bounds the whole lookup, retries included. The runner never raises
for anything the resolver does: it classifies the failure and says what happened in one line.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.rrset

from probes.dns.spec import DnsProbeSpec, parse_resolver
from probes.result import CheckResult, ErrorClass, judged
from probes.tcp.runner import bounded, host_port, ms

__all__ = ["run_dns_async", "run_dns_probe"]

Failure = tuple[ErrorClass, str]


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def run_dns_async(
    spec: DnsProbeSpec,
    location: str,
    *,
    session: Any = None,  # the engine's HTTP session, which a DNS query has no use for
    clock: Callable[[], datetime] = _utc_now,
) -> CheckResult:
    """Ask the resolver once; whatever it answers (or not), return a CheckResult, never raise."""
    timeout_s = spec.timeout.total_seconds()
    qname = dns.name.from_text(spec.query)
    asked = f"{spec.query} {spec.record}"
    lines = [f"question: {qname.to_text()} IN {spec.record}", f"probed from: {location}"]
    started_at = clock()
    try:
        resolver, used = _resolver(spec, timeout_s)
    except dns.resolver.NoResolverConfiguration:
        lines.append("resolver: none configured on this machine")
        failure = ErrorClass.DNS, f"no resolver configured to ask for {asked}"
        return judged(spec.id, location, started_at, failure, bounded(lines))
    lines.append(f"resolver: {used}")

    start = time.perf_counter()
    response: dns.message.Message | None = None
    answer: dns.resolver.Answer | None = None
    deadline = asyncio.timeout(timeout_s)
    try:
        async with deadline:
            answer = await resolver.resolve(
                qname, spec.record, raise_on_no_answer=False, lifetime=timeout_s, search=False
            )
        response = answer.response
    except TimeoutError:
        if not deadline.expired():
            raise
        return _timed_out(spec, location, started_at, lines, used, asked, timeout_s)
    except dns.exception.Timeout:  # the resolver's own lifetime, which is the same deadline
        return _timed_out(spec, location, started_at, lines, used, asked, timeout_s)
    except dns.resolver.NXDOMAIN as exc:
        response = exc.responses().get(qname)
        rcode = "NXDOMAIN"
    except dns.resolver.YXDOMAIN:
        rcode = "YXDOMAIN"
    except dns.resolver.NoNameservers as exc:
        # Every server answered with an error code (SERVFAIL, REFUSED...) or could not be used.
        errors = exc.kwargs.get("errors") or []
        response = next((error[4] for error in reversed(errors) if error[4] is not None), None)
        if response is None:
            lines.extend(f"{error[0]}: {error[3]}" for error in errors)
            why = errors[-1][3] if errors else "no usable server"
            failure = ErrorClass.DNS, f"resolver {used} could not answer {asked}: {why}"
            return judged(spec.id, location, started_at, failure, bounded(lines))
        rcode = dns.rcode.to_text(response.rcode())
    except dns.exception.DNSException as exc:
        lines.append(f"failed: {type(exc).__name__}: {exc}")
        failure = ErrorClass.DNS, f"lookup of {asked} from {used} failed: {exc}"
        return judged(spec.id, location, started_at, failure, bounded(lines))
    else:
        rcode = dns.rcode.to_text(response.rcode())
    latency_ms = (time.perf_counter() - start) * 1000

    lines.append(f"rcode: {rcode}")
    if response is not None:
        lines.extend(_section("answer", response.answer))
        if not response.answer:
            lines.extend(_section("authority", response.authority))  # the SOA of the zone that said so
    rrset = answer.rrset if answer is not None else None
    if rrset is not None:
        lines.append(f"ttl: {rrset.ttl}")

    verdict = _judge(spec, asked, rcode, rrset)
    return judged(spec.id, location, started_at, verdict, bounded(lines), latency_ms=latency_ms)


def run_dns_probe(spec: DnsProbeSpec, location: str, **kwargs: Any) -> CheckResult:
    """The blocking form of `run_dns_async`, for callers outside an event loop."""
    return asyncio.run(run_dns_async(spec, location, **kwargs))


def _resolver(spec: DnsProbeSpec, timeout_s: float) -> tuple[dns.asyncresolver.Resolver, str]:
    if spec.resolver is None:
        resolver = dns.asyncresolver.Resolver()  # /etc/resolv.conf, read afresh for each check
        used = f"system ({', '.join(str(server) for server in resolver.nameservers)})"
    else:
        address, port = parse_resolver(spec.resolver)
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [address]
        resolver.port = port
        used = host_port(address, port)
    resolver.lifetime = timeout_s
    resolver.cache = None  # each check asks afresh: a cached answer would hide an outage
    # A SERVFAIL is the answer to record, not a reason to ask the same server again until the deadline.
    resolver.retry_servfail = False
    return resolver, used


def _timed_out(
    spec: DnsProbeSpec, location: str, started_at: datetime, lines: list[str], used: str, asked: str, timeout_s: float
) -> CheckResult:
    lines.append(f"no answer within the {ms(timeout_s)} ms deadline")
    failure = ErrorClass.TIMEOUT, f"no answer from resolver {used} for {asked} within {ms(timeout_s)} ms"
    return judged(spec.id, location, started_at, failure, bounded(lines))


def _judge(spec: DnsProbeSpec, asked: str, rcode: str, rrset: dns.rrset.RRset | None) -> Failure | None:
    if rcode != spec.expect_rcode:
        return ErrorClass.DNS, f"resolver answered {rcode} for {asked}, expected {spec.expect_rcode}"
    got = _answers(spec.record, rrset)
    if spec.expect is not None:
        have = {key for _, keys in got for key in keys}
        if not all(_normal(spec.record, wanted) in have for wanted in spec.expect):
            shown = ", ".join(sorted(text for text, _ in got)) or "no answers"
            return ErrorClass.ASSERTION, f"expected answers {', '.join(spec.expect)}, got {shown}"
    elif rcode == "NOERROR" and not got:
        return ErrorClass.DNS, f"resolver answered NOERROR with no {spec.record} records for {spec.query}"
    return None


def _answers(record: str, rrset: dns.rrset.RRset | None) -> list[tuple[str, set[str]]]:
    """Each answer as shown to people, with the normalised forms an expected answer may match."""
    if rrset is None:
        return []
    found: list[tuple[str, set[str]]] = []
    for rdata in rrset:
        if record in ("A", "AAAA"):
            text = str(ipaddress.ip_address(rdata.address))
            found.append((text, {text}))
        elif record in ("CNAME", "NS"):
            text = _name(rdata.target.to_text())
            found.append((text, {text}))
        elif record == "MX":
            exchange = _name(rdata.exchange.to_text())
            # "mail.example.org" matches whatever the preference; "10 mail.example.org" only that one.
            found.append((f"{rdata.preference} {exchange}", {f"{rdata.preference} {exchange}", exchange}))
        else:  # TXT: the strings of one record are one value, split only because of DNS's 255-byte limit
            text = b"".join(rdata.strings).decode("utf-8", errors="replace")
            found.append((f'"{text}"', {text}))
    return found


def _normal(record: str, text: str) -> str:
    """An expected answer in the form `_answers` gives: trailing dots, case and address spelling aside."""
    text = text.strip()
    if record in ("A", "AAAA"):
        try:
            return str(ipaddress.ip_address(text))
        except ValueError:
            return text
    if record in ("CNAME", "NS"):
        return _name(text)
    if record == "MX":
        preference, _, exchange = text.partition(" ")
        if exchange.strip() and preference.isdigit():
            return f"{int(preference)} {_name(exchange.strip())}"
        return _name(text)
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def _name(text: str) -> str:
    try:
        return dns.name.from_text(text.strip()).to_text(omit_final_dot=True).lower()
    except (dns.exception.DNSException, UnicodeError, ValueError):
        return text.strip().removesuffix(".").lower()


def _section(title: str, rrsets: list[Any]) -> list[str]:
    return [f"{title}: {line}" for rrset in rrsets for line in rrset.to_text().splitlines()]
