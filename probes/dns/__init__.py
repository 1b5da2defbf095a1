"""The `dns` probe kind: does the portal's name resolve, with the expected response code and answers."""

from probes.dns.runner import run_dns_async, run_dns_probe
from probes.dns.spec import DnsProbeSpec

__all__ = ["DnsProbeSpec", "run_dns_async", "run_dns_probe"]
