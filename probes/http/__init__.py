"""The `http` probe kind: one request, judged by status, latency and body."""

from probes.http.runner import run_http_probe
from probes.http.spec import HttpProbeSpec

__all__ = ["HttpProbeSpec", "run_http_probe"]
