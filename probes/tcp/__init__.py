"""The `tcp` probe kind: does the host accept a connection on the port."""

from probes.tcp.runner import run_tcp_async, run_tcp_probe
from probes.tcp.spec import TcpProbeSpec

__all__ = ["TcpProbeSpec", "run_tcp_async", "run_tcp_probe"]
