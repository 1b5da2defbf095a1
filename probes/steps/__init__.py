"""The `steps` probe kind: a short transaction (sign in, upload, read back, clean up) on one cookie jar."""

from probes.steps.runner import run_steps_async, run_steps_probe
from probes.steps.spec import StepsProbeSpec

__all__ = ["StepsProbeSpec", "run_steps_async", "run_steps_probe"]
