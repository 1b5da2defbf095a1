"""What a probe is: the declarative spec a runner executes.

Every kind shares `ProbeSpecBase` (identity, schedule, thresholds); each kind adds its own fields in
its own package and is listed once in `probes.registry`. `ProbeSpec` is the discriminated union of
all kinds on `type`, so the configuration, storage and workers never name a kind.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator

from probes.duration import Duration, positive

ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


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

    @field_validator("interval", "timeout")
    @classmethod
    def _positive_duration(cls, value: timedelta) -> timedelta:
        return positive(value)
