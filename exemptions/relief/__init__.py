"""Granting relief as set-based SQL: one INSERT and one UPDATE per outage, whatever the number of cases."""

from exemptions.relief.grant import ReliefRun, grant_relief

__all__ = ["ReliefRun", "grant_relief"]
