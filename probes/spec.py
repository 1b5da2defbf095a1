"""What a probe is: the declarative spec a runner executes.

Every kind shares `ProbeSpecBase` (identity, schedule, thresholds); each kind adds its own fields in
its own package and is listed once in `probes.registry`. `ProbeSpec` is the discriminated union of
all kinds on `type`, so the configuration, storage and workers never name a kind.
"""

from __future__ import annotations

import re
import warnings
from datetime import timedelta
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from probes.duration import Duration, positive

ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
Impact = Literal["degraded_performance", "partial_outage", "major_outage"]


class ProbeSpecBase(BaseModel):
    """What every probe has, whatever it checks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=ID_PATTERN)
    type: str
    name: str | None = None
    interval: Duration = timedelta(seconds=60)
    timeout: Duration = timedelta(seconds=10)
    failure_threshold: int | None = Field(default=None, ge=1)
    recovery_threshold: int | None = Field(default=None, ge=1)
    # What this probe failing means for its component; an answer over `max_latency` is always
    # degraded performance (ErrorClass.SLOW).
    impact: Impact = "major_outage"

    @field_validator("interval", "timeout")
    @classmethod
    def _positive_duration(cls, value: timedelta) -> timedelta:
        return positive(value)


def check_http_url(value: str, *, shape: str | None = None) -> str:
    """`value` if it is an http(s) URL with a host; `shape`, when given, is what is checked in its place
    (the URL with its variables replaced by a stand-in)."""
    try:
        parts = urlsplit(shape if shape is not None else value)
        host = parts.hostname
        parts.port  # noqa: B018  (raises ValueError on a port out of range)
    except ValueError as exc:
        raise ValueError(f"is not a usable URL ({exc}): {value!r}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"must be an http:// or https:// URL with a host, got {value!r}")
    return value


def describe_statuses(codes: list[int]) -> str:
    """`200 or 201`, `200-399`: the expected statuses in a check's error line, runs of codes shortened."""
    runs: list[str] = []
    ordered = sorted(set(codes))
    start = 0
    for i in range(1, len(ordered) + 1):
        if i == len(ordered) or ordered[i] != ordered[i - 1] + 1:
            first, last = ordered[start], ordered[i - 1]
            runs.append(str(first) if last - first < 2 else f"{first}-{last}")
            if 0 < last - first < 2:
                runs[-1:] = [str(first), str(last)]
            start = i
    return " or ".join(runs)


def check_status_codes(value: list[int]) -> list[int]:
    for code in value:
        if not 100 <= code <= 599:
            raise ValueError(f"HTTP status codes run from 100 to 599, got {code}")
    return value


def compile_regex(pattern: str) -> re.Pattern[str]:
    """The compiled pattern; a ValueError saying why for one that cannot be used."""
    try:
        with warnings.catch_warnings():
            # Python warns of patterns whose meaning a later version will change (a "[" inside a set):
            # refused now, rather than read one way today and another after an upgrade.
            warnings.simplefilter("error")
            return re.compile(pattern)
    except (re.error, OverflowError, RecursionError, FutureWarning, DeprecationWarning) as exc:
        # OverflowError and RecursionError: a repeat count or nesting too large for the regex engine.
        raise ValueError(f"is not a valid regular expression ({exc}): {pattern!r}") from None


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def check_method(value: str) -> str:
    method = value.upper()
    if method not in HTTP_METHODS:
        raise ValueError(f"must be one of {', '.join(HTTP_METHODS)}, got {value!r}")
    return method


def _positive_or_none(value: timedelta | None) -> timedelta | None:
    return None if value is None else positive(value)


# The request and verdict fields every HTTP-speaking kind shares (http, each of a transaction's steps).
HttpMethod = Annotated[str, AfterValidator(check_method)]
StatusCodes = Annotated[list[int], Field(min_length=1), AfterValidator(check_status_codes)]
Latency = Annotated[Duration | None, AfterValidator(_positive_or_none)]
