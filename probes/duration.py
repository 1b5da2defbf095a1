"""Durations as people write them in the configuration: `500ms`, `5s`, `2m`, `1h`, `1d`."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
EXAMPLE = "expected a duration such as 5s, 500ms or 2m"


def parse_duration(value: object) -> timedelta:
    """Accept `500ms`, `5s`, `2m`, `1h`, `1d`, a bare number of seconds, or a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(EXAMPLE)
    seconds: float | None = None
    if isinstance(value, int | float):
        # float() of an int past 1e308 raises OverflowError; anything past 1e18 s is too long anyway.
        seconds = math.inf if isinstance(value, int) and abs(value) > 10**18 else float(value)
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            number, unit = match.groups()
            seconds = float(number) * _UNIT_SECONDS[unit or "s"]
    # YAML's `.nan` is a float; timedelta would refuse it as if it were too long.
    if seconds is None or math.isnan(seconds):
        raise ValueError(f"{EXAMPLE}, got {value!r}")
    try:
        return timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        # timedelta stops at 999,999,999 days; anything near that is a typo, not a schedule.
        raise ValueError(f"{value!r} is longer than any duration PortalWatch can use") from None


def positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be greater than zero")
    return value


# Serialized as seconds, so a stored spec reads back through the same parser.
Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(lambda value: value.total_seconds(), return_type=float, when_used="json"),
]
