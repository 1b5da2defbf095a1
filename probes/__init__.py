"""Probe definitions and runners: run a probe spec, return a CheckResult with its evidence.

Nothing here knows about a database or a web framework.
"""

from probes.result import CheckResult, ErrorClass
from probes.spec import Duration, HttpProbeSpec, ProbeSpec

__all__ = ["CheckResult", "Duration", "ErrorClass", "HttpProbeSpec", "ProbeSpec"]
