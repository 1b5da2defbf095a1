"""Probe definitions and runners: run a probe spec, return a CheckResult with its evidence.

Nothing here knows about a database or a web framework.
"""

from probes.duration import Duration, parse_duration
from probes.registry import ProbeSpec, parse_spec, run_probe
from probes.result import CheckResult, ErrorClass
from probes.spec import ProbeSpecBase

__all__ = [
    "CheckResult",
    "Duration",
    "ErrorClass",
    "ProbeSpec",
    "ProbeSpecBase",
    "parse_duration",
    "parse_spec",
    "run_probe",
]
