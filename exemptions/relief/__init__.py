"""Deciding relief for many cases at once: the policy's decisions applied with set-based SQL."""

from exemptions.relief.engine import ReliefRun, Scope, TooManyComponents, relieve

__all__ = ["ReliefRun", "Scope", "TooManyComponents", "relieve"]
