"""The shape of the configuration file, as pydantic models (validation only; reading the file is loader.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator

from monitor.timezones import iana_zone
from probes import Duration, ProbeSpec, ProbeSpecBase
from probes.spec import ID_PATTERN


class PageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = "portalwatch"
    name: str = "Portal status"
    url: str = "http://127.0.0.1:8080/"
    time_zone: str = "America/Toronto"  # how times are shown to people; storage is always UTC

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return iana_zone(value)


class ReliefConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    grace_days: int = Field(default=7, ge=0, le=365)
    # How often grants are (re)computed while an outage is still open.
    interval: Duration = timedelta(seconds=60)


class ComponentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1)
    description: str | None = None
    probes: list[ProbeSpec] = Field(min_length=1)


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    page: PageConfig = PageConfig()
    locations: list[str] = Field(default_factory=lambda: ["local"], min_length=1)
    failure_threshold: int = Field(default=2, ge=1)
    recovery_threshold: int = Field(default=2, ge=1)
    relief: ReliefConfig = ReliefConfig()
    components: list[ComponentConfig] = Field(min_length=1)

    @field_validator("locations")
    @classmethod
    def _location_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.match(ID_PATTERN, name):
                raise ValueError(f"location {name!r} must be lowercase letters, digits, '-', '_' or '.'")
        if len(set(value)) != len(value):
            raise ValueError("locations must be unique")
        return value

    def failure_threshold_for(self, probe: ProbeSpecBase) -> int:
        return probe.failure_threshold or self.failure_threshold

    def recovery_threshold_for(self, probe: ProbeSpecBase) -> int:
        return probe.recovery_threshold or self.recovery_threshold

    def probes(self) -> Iterator[tuple[ComponentConfig, ProbeSpecBase]]:
        for component in self.components:
            for probe in component.probes:
                yield component, probe
