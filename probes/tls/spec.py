"""The `tls` probe's spec: a TLS endpoint whose certificate must verify and stay valid long enough."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from probes.spec import ProbeSpecBase
from probes.tcp.spec import valid_host


class TlsProbeSpec(ProbeSpecBase):
    type: Literal["tls"] = "tls"
    host: str
    port: int = Field(default=443, ge=1, le=65535)
    server_name: str | None = None  # the name sent (SNI) and checked against the certificate; `host` if left out
    min_days_valid: int = Field(default=14, ge=0)
    ca_file: str | None = Field(default=None, min_length=1)  # a PEM bundle trusted instead of the system's CAs

    @field_validator("host", "server_name")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        return None if value is None else valid_host(value)

    @property
    def expected_name(self) -> str:
        return self.server_name or self.host
