"""The `tls` probe kind: does the certificate verify, and is it valid for long enough."""

from probes.tls.runner import run_tls_async, run_tls_probe
from probes.tls.spec import TlsProbeSpec

__all__ = ["TlsProbeSpec", "run_tls_async", "run_tls_probe"]
