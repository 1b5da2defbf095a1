"""What a probe is: the declarative spec a runner executes."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, field_validator

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object) -> timedelta:
    """Accept `500ms`, `5s`, `2m`, `1h`, `1d`, a bare number of seconds, or a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 5s, 500ms or 2m")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            number, unit = match.groups()
            return timedelta(seconds=float(number) * _UNIT_SECONDS[unit or "s"])
    raise ValueError(f"expected a duration such as 5s, 500ms or 2m, got {value!r}")


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be greater than zero")
    return value


# Serialized as seconds, so a stored spec reads back through the same parser.
Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(lambda value: value.total_seconds(), return_type=float, when_used="json"),
]

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class HttpProbeSpec(BaseModel):
    """An HTTP request and what its answer must look like for the portal to count as up."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    type: Literal["http"] = "http"
    name: str | None = None
    url: str
    method: str = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    expect_status: list[int] = Field(default_factory=lambda: [200], min_length=1)
    body_contains: str | None = None
    max_latency: Duration | None = None
    interval: Duration = timedelta(seconds=60)
    timeout: Duration = timedelta(seconds=10)
    failure_threshold: int | None = Field(default=None, ge=1)
    recovery_threshold: int | None = Field(default=None, ge=1)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http:// or https:// URL with a host, got {value!r}")
        return value

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        method = value.upper()
        if method not in HTTP_METHODS:
            raise ValueError(f"must be one of {', '.join(HTTP_METHODS)}, got {value!r}")
        return method

    @field_validator("expect_status")
    @classmethod
    def _status_codes(cls, value: list[int]) -> list[int]:
        for code in value:
            if not 100 <= code <= 599:
                raise ValueError(f"HTTP status codes run from 100 to 599, got {code}")
        return value

    @field_validator("interval", "timeout", "max_latency")
    @classmethod
    def _positive_duration(cls, value: timedelta | None) -> timedelta | None:
        return None if value is None else _positive(value)


# Later probe types (browser, tcp, dns, tls) join this as a discriminated union on `type`.
ProbeSpec = HttpProbeSpec
