"""The DNS probe against a small resolver of our own on 127.0.0.1: what each kind of answer is recorded as."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from probes import parse_spec, run_probe
from probes.dns import DnsProbeSpec, run_dns_async, run_dns_probe
from probes.dns.spec import parse_resolver
from probes.result import ErrorClass
from probes.tcp import TcpProbeSpec

pytestmark = pytest.mark.timeout(20)

LOCATION = "test-runner"
# name -> (record type, TTL, answers); names not listed here are answered NXDOMAIN.
ZONE: dict[str, tuple[str, int, list[str]]] = {
    "portal.example.": ("A", 300, ["192.0.2.10"]),
    "moved.example.": ("A", 60, ["192.0.2.99"]),
    "v6.example.": ("AAAA", 300, ["2001:db8::10"]),
    "mail.example.": ("MX", 3600, ["10 mx1.example.", "20 mx2.example."]),
    "www.example.": ("CNAME", 300, ["portal.example."]),
    "spf.example.": ("TXT", 300, ['"v=spf1 -all"']),
}
SILENT = "silent.example."  # questions about it are read and never answered
BROKEN = "broken.example."  # answered SERVFAIL


class LocalResolver:
    """A UDP DNS server on 127.0.0.1 answering from ZONE, on a thread of its own."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port: int = self.sock.getsockname()[1]
        self.questions: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="local-resolver", daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> LocalResolver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            reply = self._answer(dns.message.from_wire(wire))
            if reply is not None:
                self.sock.sendto(reply.to_wire(), peer)

    def _answer(self, query: dns.message.Message) -> dns.message.Message | None:
        question = query.question[0]
        name = question.name.to_text().lower()
        self.questions.append(name)
        if name == SILENT:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        if name == BROKEN:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif name not in ZONE:
            response.set_rcode(dns.rcode.NXDOMAIN)
            response.authority.append(
                dns.rrset.from_text("example.", 900, "IN", "SOA", "ns.example. admin.example. 1 7200 900 1209600 900")
            )
        else:
            record, ttl, answers = ZONE[name]
            if record == "CNAME" and dns.rdatatype.to_text(question.rdtype) != "CNAME":
                target = answers[0]
                response.answer.append(dns.rrset.from_text(name, ttl, "IN", "CNAME", target))
                record, ttl, answers = ZONE[target]
                name = target
            if dns.rdatatype.to_text(question.rdtype) == record:
                response.answer.append(dns.rrset.from_text_list(name, ttl, "IN", record, answers))
        return response


@pytest.fixture
def resolver() -> Iterator[LocalResolver]:
    with LocalResolver() as running:
        yield running


def spec(name: str, resolver: LocalResolver, **fields: Any) -> DnsProbeSpec:
    return DnsProbeSpec(id="portal-dns", query=name, resolver=resolver.address, **fields)


def probe(probe_spec: DnsProbeSpec) -> Any:
    return asyncio.run(run_dns_async(probe_spec, LOCATION))


def test_the_expected_answer_is_up_with_the_question_resolver_rcode_answers_and_ttl(resolver: LocalResolver) -> None:
    result = probe(spec("portal.example", resolver, expect=["192.0.2.10"]))

    assert result.ok, result.error
    assert result.error_class is None and result.error is None
    assert result.latency_ms is not None and 0 < result.latency_ms < 5000
    lines = result.evidence.splitlines()
    assert lines[:4] == [
        "question: portal.example. IN A",
        f"probed from: {LOCATION}",
        f"resolver: 127.0.0.1:{resolver.port}",
        "rcode: NOERROR",
    ]
    assert "answer: portal.example. 300 IN A 192.0.2.10" in lines
    assert "ttl: 300" in lines
    assert resolver.questions == ["portal.example."]


def test_a_wrong_answer_from_the_resolver_is_an_assertion_naming_expected_and_got(resolver: LocalResolver) -> None:
    result = probe(spec("moved.example", resolver, expect=["192.0.2.10"]))

    assert result.error_class is ErrorClass.ASSERTION
    assert result.error == "expected answers 192.0.2.10, got 192.0.2.99"
    assert "answer: moved.example. 60 IN A 192.0.2.99" in result.evidence
    assert result.latency_ms is not None


def test_nxdomain_is_a_dns_failure_with_the_zone_that_denied_it(resolver: LocalResolver) -> None:
    result = probe(spec("gone.example", resolver))

    assert result.error_class is ErrorClass.DNS
    assert result.error == "resolver answered NXDOMAIN for gone.example A, expected NOERROR"
    assert "rcode: NXDOMAIN" in result.evidence
    assert "authority: example. 900 IN SOA ns.example. admin.example. 1 7200 900 1209600 900" in result.evidence


def test_a_name_expected_not_to_exist_is_up_when_denied(resolver: LocalResolver) -> None:
    result = probe(spec("gone.example", resolver, expect_rcode="nxdomain"))

    assert result.ok, result.error


def test_servfail_is_a_dns_failure_naming_the_rcode(resolver: LocalResolver) -> None:
    result = probe(spec("broken.example", resolver))

    assert result.error_class is ErrorClass.DNS
    assert result.error == "resolver answered SERVFAIL for broken.example A, expected NOERROR"
    assert "rcode: SERVFAIL" in result.evidence
    assert resolver.questions == [BROKEN]  # asked once: a SERVFAIL is recorded, not retried to the deadline


def test_a_silent_resolver_is_a_timeout_at_the_deadline(resolver: LocalResolver) -> None:
    began = time.perf_counter()
    result = probe(spec("silent.example", resolver, timeout="0.4s"))
    elapsed = time.perf_counter() - began

    assert result.error_class is ErrorClass.TIMEOUT
    assert result.error == f"no answer from resolver 127.0.0.1:{resolver.port} for silent.example A within 400 ms"
    assert result.latency_ms is None
    assert 0.35 <= elapsed < 2


def test_an_empty_answer_is_a_dns_failure_unless_answers_are_expected(resolver: LocalResolver) -> None:
    empty = probe(spec("portal.example", resolver, record="AAAA"))
    expected = probe(spec("portal.example", resolver, record="AAAA", expect=["2001:db8::10"]))

    assert empty.error_class is ErrorClass.DNS
    assert empty.error == "resolver answered NOERROR with no AAAA records for portal.example"
    assert expected.error_class is ErrorClass.ASSERTION
    assert expected.error == "expected answers 2001:db8::10, got no answers"


@pytest.mark.parametrize(
    ("name", "record", "expect"),
    [
        ("v6.example", "AAAA", ["2001:0db8:0:0::10"]),  # the same address, spelt out
        ("mail.example", "mx", ["mx2.example", "10 MX1.example."]),  # any preference; trailing dot and case
        ("www.example", "CNAME", ["Portal.Example."]),
        ("www.example", "A", ["192.0.2.10"]),  # the CNAME is followed to the address
        ("spf.example", "TXT", ["v=spf1 -all"]),
        ("portal.example.", "A", ["192.0.2.10"]),
    ],
)
def test_expected_answers_are_compared_normalised_and_in_any_order(
    resolver: LocalResolver, name: str, record: str, expect: list[str]
) -> None:
    result = probe(spec(name, resolver, record=record, expect=expect))

    assert result.ok, result.error


def test_an_answer_missing_from_a_set_names_the_whole_set(resolver: LocalResolver) -> None:
    result = probe(spec("mail.example", resolver, record="MX", expect=["10 mx1.example", "30 mx3.example"]))

    assert result.error_class is ErrorClass.ASSERTION
    assert result.error == "expected answers 10 mx1.example, 30 mx3.example, got 10 mx1.example, 20 mx2.example"


def test_the_blocking_runner_and_run_probe_give_the_same_verdict(resolver: LocalResolver) -> None:
    probe_spec = spec("moved.example", resolver, expect=["192.0.2.10"])

    assert run_dns_probe(probe_spec, LOCATION).error_class is ErrorClass.ASSERTION
    assert run_probe(probe_spec, LOCATION).error_class is ErrorClass.ASSERTION


def test_parse_spec_builds_each_kind_from_its_type() -> None:
    tcp = parse_spec({"id": "portal-tcp", "type": "tcp", "host": "portal.example", "port": 443})
    dns_spec = parse_spec({"id": "portal-dns", "type": "dns", "query": "portal.example", "record": "aaaa"})
    tls = parse_spec({"id": "portal-tls", "type": "tls", "host": "portal.example"})

    assert isinstance(tcp, TcpProbeSpec) and tcp.port == 443
    assert isinstance(dns_spec, DnsProbeSpec) and dns_spec.record == "AAAA" and dns_spec.expect_rcode == "NOERROR"
    assert tls.type == "tls"
    assert getattr(tls, "port") == 443 and getattr(tls, "min_days_valid") == 14  # noqa: B009


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"type": "tcp", "host": "portal.example", "port": 0}, "port", "greater than or equal to 1"),
        ({"type": "tcp", "host": "portal.example", "port": 65536}, "port", "less than or equal to 65535"),
        ({"type": "tcp", "host": "https://portal.example/", "port": 443}, "host", "not a URL"),
        ({"type": "tcp", "host": "portal.example:443", "port": 443}, "host", "give the port separately"),
        ({"type": "tcp", "host": "portal example", "port": 443}, "host", "not a valid host name"),
        ({"type": "dns", "query": "portal.example", "record": "SOA"}, "record", "must be one of A, AAAA"),
        ({"type": "dns", "query": "portal.example", "resolver": "dns.example"}, "resolver", "must be an IP address"),
        ({"type": "dns", "query": "portal.example", "resolver": "10.0.0.2:99999"}, "resolver", "port must be"),
        ({"type": "dns", "query": "portal.example", "expect_rcode": "OK"}, "expect_rcode", "NOERROR"),
        ({"type": "dns", "query": "a..example"}, "query", "not a valid domain name"),
        ({"type": "tls", "host": "portal.example", "min_days_valid": -1}, "min_days_valid", "greater than or equal"),
        ({"type": "tls", "host": "portal.example", "port": "https"}, "port", "valid integer"),
        ({"type": "tls", "host": "portal.example", "server_name": "a b"}, "server_name", "not a valid host name"),
        ({"type": "tls", "host": "portal.example", "verify": False}, "verify", "Extra inputs"),
    ],
)
def test_a_bad_field_is_a_validation_error_naming_it(data: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_spec({"id": "portal-probe", **data})

    errors = caught.value.errors()
    assert len(errors) == 1
    assert errors[0]["loc"] == (data["type"], field)
    assert message in errors[0]["msg"]


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("10.0.0.2", ("10.0.0.2", 53)),
        ("10.0.0.2:5353", ("10.0.0.2", 5353)),
        ("2001:db8::1", ("2001:db8::1", 53)),
        ("[2001:db8::1]", ("2001:db8::1", 53)),
        ("[2001:db8::1]:5353", ("2001:db8::1", 5353)),
    ],
)
def test_a_resolver_is_an_ip_with_an_optional_port(text: str, address: tuple[str, int]) -> None:
    assert parse_resolver(text) == address


_RESOLVER_TEXT = st.one_of(
    st.text(max_size=60),
    st.from_regex(r"\[?[0-9a-fA-F:.]{0,45}\]?(:[0-9]{0,7})?", fullmatch=True),
    st.ip_addresses().map(str),
)


@settings(max_examples=300, deadline=None)
@given(resolver=st.one_of(_RESOLVER_TEXT, st.integers(), st.none(), st.floats(), st.binary(max_size=20)))
def test_any_resolver_value_either_parses_or_is_a_validation_error(resolver: object) -> None:
    try:
        parsed = parse_spec({"id": "fuzz", "type": "dns", "query": "portal.example", "resolver": resolver})
    except ValidationError:
        return
    assert isinstance(parsed, DnsProbeSpec)
    if parsed.resolver is not None:
        address, port = parse_resolver(parsed.resolver)
        assert 1 <= port <= 65535 and address


@settings(max_examples=300, deadline=None)
@given(
    host=st.one_of(
        st.text(max_size=300), st.ip_addresses().map(str), st.from_regex(r"[a-z0-9.-]{1,70}", fullmatch=True)
    ),
    port=st.one_of(st.integers(), st.text(max_size=8), st.floats(), st.booleans(), st.none()),
)
def test_any_tcp_host_and_port_either_parse_or_are_a_validation_error(host: object, port: object) -> None:
    try:
        parsed = parse_spec({"id": "fuzz", "type": "tcp", "host": host, "port": port})
    except ValidationError:
        return
    assert isinstance(parsed, TcpProbeSpec)
    assert 1 <= parsed.port <= 65535 and parsed.host
