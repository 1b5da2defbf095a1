"""Run any probe spec by handing it to the runner for its type."""

from __future__ import annotations

from typing import Any

from probes.http import run_http_probe
from probes.result import CheckResult
from probes.spec import ProbeSpec

__all__ = ["run_probe"]


def run_probe(spec: ProbeSpec, location: str, **kwargs: Any) -> CheckResult:
    """Run `spec` once from `location`; keyword arguments go to the type's runner (session, clock)."""
    if spec.type == "http":
        return run_http_probe(spec, location, **kwargs)
    # Reachable once ProbeSpec becomes a union and a new type lands here before its runner does.
    raise ValueError(f"no runner for probe type {spec.type!r}")
