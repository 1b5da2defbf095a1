"""The `http` probe's spec: a request and what its answer must look like for the portal to count as up."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from probes.duration import Duration, positive
from probes.spec import ProbeSpecBase

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class HttpProbeSpec(ProbeSpecBase):
    type: Literal["http"] = "http"
    url: str
    method: str = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    expect_status: list[int] = Field(default_factory=lambda: [200], min_length=1)
    body_contains: str | None = None
    max_latency: Duration | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        try:
            parts = urlsplit(value)
            host = parts.hostname
            parts.port  # noqa: B018  (raises ValueError on a port out of range)
        except ValueError as exc:
            raise ValueError(f"is not a usable URL ({exc}): {value!r}") from None
        if parts.scheme not in ("http", "https") or not host:
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

    @field_validator("max_latency")
    @classmethod
    def _positive_latency(cls, value: timedelta | None) -> timedelta | None:
        return None if value is None else positive(value)
