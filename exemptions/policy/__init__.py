"""The relief policy as pure rules: the window an outage opens and the deadline it extends to."""

from exemptions.policy.window import END_OF_DAY, ReliefWindow, extended_deadline, relief_window

__all__ = ["END_OF_DAY", "ReliefWindow", "extended_deadline", "relief_window"]
