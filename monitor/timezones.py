"""Which time zone names PortalWatch accepts: IANA names only, from the pinned tzdata package.

`zoneinfo.available_timezones()` also walks the host's zoneinfo directory, which holds names that
are not zones at all: `localtime` (a link to whatever zone the host is set to) and `posixrules`.
Accepting them would make a case's "end of day" depend on the machine the service runs on.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

_NOT_ZONES = frozenset({"localtime", "posixrules"})


@cache
def iana_zone_names() -> frozenset[str]:
    try:
        return frozenset(resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split())
    except (ModuleNotFoundError, OSError):
        return frozenset(available_timezones() - _NOT_ZONES)


def iana_zone(value: str) -> str:
    """`value` if it names an IANA zone this host can load; ValueError saying why otherwise."""
    if value not in iana_zone_names():
        raise ValueError(f"unknown time zone {value!r}; use an IANA name such as America/Toronto")
    try:
        ZoneInfo(value)
    except ZoneInfoNotFoundError:  # a KeyError, which pydantic would not report as a validation error
        raise ValueError(f"time zone {value!r} is not in this host's zone database") from None
    return value
