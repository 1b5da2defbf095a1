"""The shape of the configuration file, as pydantic models (validation only; reading the file is loader.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any, Literal

import holidays
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from monitor.storage.enums import Severity
from monitor.timezones import iana_zone
from probes import Duration, ProbeSpec, ProbeSpecBase
from probes.spec import ID_PATTERN, check_http_url


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


class RulesConfig(BaseModel):
    """Which relief rules apply; each can be switched off (README, "Relief policy")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    deadline_day: bool = True
    last_hour: bool = True
    long_outage: bool = True
    grace: bool = True
    paper_filing: bool = True


class CalendarConfig(BaseModel):
    """Whose holidays make a day not a business day: the `holidays` library's country, subdivision, categories."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    country: str = "CA"
    subdivision: str | None = None
    # `government`: the federal public service's days off (Victoria Day, Thanksgiving, Remembrance Day, ...).
    categories: tuple[str, ...] = ("public", "government")

    @model_validator(mode="after")
    def _known_to_the_holidays_library(self) -> CalendarConfig:
        try:
            holidays.country_holidays(self.country, subdiv=self.subdivision, categories=self.categories, years=2026)
        except (NotImplementedError, ValueError) as exc:
            # The library says which of country, subdivision or category it does not know.
            raise ValueError(f"unknown holiday calendar: {exc}") from None
        return self


class ReliefConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Legacy: a calendar-day minimum after restoration, in place of the `grace` rule, when set.
    grace_days: int | None = Field(default=None, ge=0, le=365)
    # How often relief resting on open outages is recomputed.
    interval: Duration = timedelta(seconds=60)
    min_minutes: int = Field(default=60, ge=1, le=24 * 60)
    long_outage_hours: float = Field(default=24, gt=0, le=24 * 366)
    lookback_days: int = Field(default=14, ge=1, le=366)
    grace_business_days: int = Field(default=2, ge=0, le=60)
    paper_after_hours: float = Field(default=4, gt=0, le=24 * 366)
    maintenance_notice_hours: float = Field(default=48, ge=0, le=24 * 366)
    counted_severities: tuple[Severity, ...] = Field(
        default=(Severity.PARTIAL_OUTAGE, Severity.MAJOR_OUTAGE), min_length=1
    )
    rules: RulesConfig = RulesConfig()
    calendar: CalendarConfig = CalendarConfig()


def _quorum(value: object) -> object:
    if isinstance(value, str) and value.strip().lower() == "majority":
        return "majority"
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("expected majority or a number of locations (1 or more)")
    if value < 1:
        raise ValueError("a quorum is at least 1 location")
    return value


# How many locations must see a component failing for it to be down: `majority` of those that can
# see (not blind), or a number (capped at the number that can see).
Quorum = Annotated[int | Literal["majority"], BeforeValidator(_quorum)]


class ComponentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1)
    description: str | None = None
    probes: list[ProbeSpec] = Field(min_length=1)
    # Overrides of the top-level detection keys, for this component only.
    quorum: Quorum | None = None
    merge_gap: Duration | None = None


# The earliest and latest instants a maintenance window may name: anything outside is a typo, and
# stays clear of the limits of Python's datetime when converted to UTC.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
INSTANT_EXAMPLE = "ISO 8601 with a UTC offset, such as 2026-12-05T23:00:00-05:00"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_RECURRING_DURATION = timedelta(days=7)
_TIME_OF_DAY = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")


def parse_instant(value: object) -> datetime:
    """An aware datetime, in UTC, from a datetime or ISO 8601 text that carries its UTC offset.

    A time without an offset is refused rather than guessed: "23:00" means another moment in every zone.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"expected {INSTANT_EXAMPLE}, got {value[:60]!r}") from None
    else:
        raise ValueError(f"expected {INSTANT_EXAMPLE}, got {type(value).__name__} {str(value)[:60]!r}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no UTC offset; expected {INSTANT_EXAMPLE}")
    # Compared on the wall-clock reading first: converting year 1 or 9999 to UTC could overflow.
    if not EARLIEST.year <= moment.year < LATEST.year:
        raise ValueError(f"{moment.isoformat()} is out of range: expected a time from 1970 up to (not including) 2200")
    return moment.astimezone(UTC)


def parse_time_of_day(value: object) -> time:
    """`23:00` (24-hour HH:MM) as a time; seconds, offsets and numbers are refused."""
    match = _TIME_OF_DAY.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f'expected a time of day as HH:MM (24-hour), such as "23:00", got {str(value)[:60]!r}')
    return time(int(match[1]), int(match[2]))


# An instant as the configuration file writes it; stored and compared in UTC.
Instant = Annotated[datetime, BeforeValidator(parse_instant)]
TimeOfDay = Annotated[time, BeforeValidator(parse_time_of_day)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class RecurrenceConfig(BaseModel):
    """A weekly maintenance window: on these days, at this local time, for this long."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    days: tuple[Weekday, ...] = Field(min_length=1, max_length=7)
    at: TimeOfDay
    duration: Duration
    time_zone: str

    @field_validator("days")
    @classmethod
    def _each_day_once(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        repeated = sorted({day for day in value if value.count(day) > 1}, key=WEEKDAYS.index)
        if repeated:
            raise ValueError(f"{', '.join(repeated)} listed more than once")
        return tuple(sorted(value, key=WEEKDAYS.index))

    @field_validator("duration")
    @classmethod
    def _sensible_duration(cls, value: timedelta) -> timedelta:
        if not timedelta(0) < value <= MAX_RECURRING_DURATION:
            raise ValueError("must be greater than zero and at most 7d")
        return value

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return iana_zone(value)

    def as_stored(self) -> dict[str, Any]:
        """The shape a stored window keeps (Maintenance.recurrence)."""
        return {
            "days": list(self.days),
            "at": self.at.strftime("%H:%M"),
            "duration_seconds": int(self.duration.total_seconds()),
            "time_zone": self.time_zone,
        }


class MaintenanceConfig(BaseModel):
    """A planned maintenance window the file declares: one-off (`starts_at`..`ends_at`) or recurring (`every`).

    A recurring window's optional `starts_at`/`ends_at` bound its occurrences. `announced_at` defaults
    to when the window was first stored.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=ID_PATTERN)
    title: str = Field(min_length=1, max_length=200)
    components: tuple[str, ...] = Field(min_length=1)
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    every: RecurrenceConfig | None = None
    announced_at: Instant | None = None

    @field_validator("title")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("ends_at")
    @classmethod
    def _after_start(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        starts_at = info.data.get("starts_at")
        if value is not None and starts_at is not None and value <= starts_at:
            raise ValueError(f"must be after starts_at ({starts_at.isoformat()})")
        return value

    @model_validator(mode="after")
    def _one_off_or_recurring(self) -> MaintenanceConfig:
        if self.every is None and (self.starts_at is None or self.ends_at is None):
            missing = " and ".join(name for name in ("starts_at", "ends_at") if getattr(self, name) is None)
            raise ValueError(f"a one-off window needs {missing}; a recurring one needs `every`")
        return self

    @property
    def recurring(self) -> bool:
        return self.every is not None


_RATE_PART = re.compile(r"^\s*\d+\s*(/|per)\s*(\d+\s*)?(second|minute|hour|day|month|year)s?\s*$", re.IGNORECASE)


class SelfServiceConfig(BaseModel):
    """The public self-service surfaces: case lookups, paper-filing requests, letter verification."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Per client, in Flask-Limiter's notation: several limits separated by ";" all apply.
    rate_limit: str = "10/minute;100/hour"
    # Verification is what officers do all day from one office address: a separate, looser limit.
    verify_rate_limit: str = "60/minute;1000/hour"
    letters_per_job: int = Field(default=50, ge=1, le=1000)  # letters one job signs before handing on
    letter_workers: int = Field(default=2, ge=1, le=64)  # signing jobs running at once, per deployment

    @field_validator("rate_limit", "verify_rate_limit")
    @classmethod
    def _limits(cls, value: str) -> str:
        parts = [part for part in value.split(";") if part.strip()]
        if not parts:
            raise ValueError("give at least one limit, e.g. 10/minute")
        for part in parts:
            if not _RATE_PART.match(part):
                raise ValueError(f"{part.strip()!r} is not a rate limit like 10/minute or 100 per hour")
        return value


class LocationConfig(BaseModel):
    """A place probes run from, and the control URL that tells whether it can see anything at all.

    `control` is a URL outside the portal (a well-known public site, or the location's own gateway)
    that the location checks with every batch of checks it runs. A location that cannot reach it is
    blind: its failures say nothing about the portal and are not counted.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    control: str | None = None
    control_timeout: Duration = timedelta(seconds=5)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.match(ID_PATTERN, value):
            raise ValueError(f"location {value!r} must be lowercase letters, digits, '-', '_' or '.'")
        return value

    @field_validator("control")
    @classmethod
    def _control(cls, value: str | None) -> str | None:
        return None if value is None else check_http_url(value)

    @field_validator("control_timeout")
    @classmethod
    def _timeout(cls, value: timedelta) -> timedelta:
        if not timedelta(0) < value <= timedelta(seconds=60):
            raise ValueError("control_timeout must be more than 0 and at most 60s")
        return value


def _location_entry(value: Any) -> Any:
    # Today's shape, a bare name, is a location without a control URL.
    return {"name": value} if isinstance(value, str) else value


MIN_PASSING_CHECKS_RETENTION = timedelta(days=1)
_FOREVER = frozenset({"off", "never", "forever"})


class RetentionConfig(BaseModel):
    """How long the evidence of passing checks is kept. Failed checks, and checks linked to an outage,
    keep theirs; the check rows stay, so the check log's chain still verifies."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # None (`off`, or null): kept forever.
    passing_checks: Duration | None = timedelta(days=30)

    @field_validator("passing_checks", mode="before")
    @classmethod
    def _off(cls, value: object) -> object:
        # YAML reads a bare `off` as false.
        if value is False or (isinstance(value, str) and value.strip().lower() in _FOREVER):
            return None
        if value is True:
            raise ValueError("expected a duration such as 30d, or off to keep it forever")
        return value

    @field_validator("passing_checks")
    @classmethod
    def _long_enough(cls, value: timedelta | None) -> timedelta | None:
        # A passing check becomes part of an outage's evidence only once the outage is recorded, which
        # a failure threshold can delay: anything younger than a day is never a candidate.
        if value is not None and value < MIN_PASSING_CHECKS_RETENTION:
            raise ValueError("must be at least 1d, or off to keep it forever")
        return value


MIN_METRICS_TOKEN_LENGTH = 24
_TOKEN = re.compile(r"[!-~]+")  # what a bearer header carries: visible ASCII, no spaces


class MetricsConfig(BaseModel):
    """`GET /metrics`: open, as scrape endpoints usually are, unless a token is set; then it needs
    `Authorization: Bearer <token>`. The token never shows in a repr, a log line or an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: SecretStr | None = None

    @field_validator("token")
    @classmethod
    def _strong(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        token = value.get_secret_value()
        if not _TOKEN.fullmatch(token):
            raise ValueError("the token must be printable ASCII characters without spaces")
        if len(token) < MIN_METRICS_TOKEN_LENGTH:
            raise ValueError(
                f"the token must be at least {MIN_METRICS_TOKEN_LENGTH} random characters (e.g. `openssl rand -hex 32`)"
            )
        return value


MAX_REMINDER = timedelta(days=7)


class SlackConfig(BaseModel):
    """What PortalWatch does in Slack beyond posting (the token and channel are settings, not this file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # How long after an open outage's message was posted, with nobody acknowledging it, the channel is
    # reminded (one reply each); `[]` for none.
    reminders: tuple[Duration, ...] = (timedelta(minutes=15), timedelta(minutes=60))

    @field_validator("reminders", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object) -> object:
        return () if value is None else value

    @field_validator("reminders")
    @classmethod
    def _sensible(cls, value: tuple[timedelta, ...]) -> tuple[timedelta, ...]:
        for after in value:
            if not timedelta(minutes=1) <= after <= MAX_REMINDER:
                raise ValueError("each reminder is from 1m to 7d after the message was posted")
            if after.total_seconds() != int(after.total_seconds()):
                raise ValueError("reminders are whole seconds (15m, 1h, 90s)")
        if len(set(value)) != len(value):
            raise ValueError("each reminder once")
        return tuple(sorted(value))


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    page: PageConfig = PageConfig()
    # Each entry is a name (`toronto`) or `{name: toronto, control: "https://…"}`.
    locations: list[Annotated[LocationConfig, BeforeValidator(_location_entry)]] = Field(
        default_factory=lambda: [LocationConfig(name="local")], min_length=1
    )
    failure_threshold: int = Field(default=2, ge=1)
    recovery_threshold: int = Field(default=2, ge=1)
    quorum: Quorum = "majority"
    # Failures within this long after an outage ended reopen it rather than open a new one.
    merge_gap: Duration = timedelta(minutes=10)
    relief: ReliefConfig = ReliefConfig()
    components: list[ComponentConfig] = Field(min_length=1)
    maintenance: list[MaintenanceConfig] = Field(default_factory=list)
    self_service: SelfServiceConfig = SelfServiceConfig()
    retention: RetentionConfig = RetentionConfig()
    metrics: MetricsConfig = MetricsConfig()
    slack: SlackConfig = SlackConfig()

    @field_validator("slack", mode="before")
    @classmethod
    def _default_slack(cls, value: object) -> object:
        return SlackConfig() if value is None else value

    @field_validator("retention", mode="before")
    @classmethod
    def _default_retention(cls, value: object) -> object:
        return RetentionConfig() if value is None else value

    @field_validator("metrics", mode="before")
    @classmethod
    def _default_metrics(cls, value: object) -> object:
        return MetricsConfig() if value is None else value

    @field_validator("locations")
    @classmethod
    def _unique_locations(cls, value: list[LocationConfig]) -> list[LocationConfig]:
        names = [location.name for location in value]
        if len(set(names)) != len(names):
            raise ValueError("locations must be unique")
        return value

    @property
    def location_names(self) -> list[str]:
        return [location.name for location in self.locations]

    def location(self, name: str) -> LocationConfig | None:
        return next((location for location in self.locations if location.name == name), None)

    def failure_threshold_for(self, probe: ProbeSpecBase) -> int:
        return probe.failure_threshold or self.failure_threshold

    def recovery_threshold_for(self, probe: ProbeSpecBase) -> int:
        return probe.recovery_threshold or self.recovery_threshold

    def probes(self) -> Iterator[tuple[ComponentConfig, ProbeSpecBase]]:
        for component in self.components:
            for probe in component.probes:
                yield component, probe
