"""Outage detection as pure functions over stored facts: streaks, component transitions, staleness."""
