"""The relief policy's vocabulary: the settings it runs on, the downtime it reads, the decisions it makes.

Everything here is a frozen value: the engine reads outages and maintenance from storage into
`Downtime` and `MaintenanceWindow`, the rules turn them into `Span`s and then `Decision`s or
`PaperPeriod`s, and nothing is mutated on the way. The defaults are the policy as published; every
number is configurable because the department changes them by notice, not by release.

A decision carries its own explanation (`Step`s): the letters and the audit trail quote them, so a
changed rule must change what the step says, never only the date.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from monitor.storage.enums import GrantStatus, Severity


class Rule(StrEnum):
    """The rules a new deadline can rest on, in the order a decision lists them."""

    DEADLINE_DAY = "deadline_day"  # outage on the deadline's own day, before the deadline
    LAST_HOUR = "last_hour"  # outage in the hour before the deadline
    LONG_OUTAGE = "long_outage"  # a long total outage in the weeks before the deadline
    GRACE = "grace"  # business days to recover after the portal came back
    GRACE_DAYS = "grace_days"  # the legacy grace: calendar days, replaces GRACE when configured
    PAPER_FILING = "paper_filing"  # per component: paper filing authorised during a long outage


# Rule order: a decision's rules and steps are listed in it, whatever order they were found in.
RULE_ORDER: dict[Rule, int] = {rule: index for index, rule in enumerate(Rule)}

DEFAULT_SEVERITIES: frozenset[Severity] = frozenset({Severity.PARTIAL_OUTAGE, Severity.MAJOR_OUTAGE})
DEFAULT_RULES: frozenset[Rule] = frozenset(
    {Rule.DEADLINE_DAY, Rule.LAST_HOUR, Rule.LONG_OUTAGE, Rule.GRACE, Rule.PAPER_FILING}
)


@dataclass(frozen=True)
class CalendarSpec:
    """Which public holidays are not business days: a country, an optional subdivision, and categories.

    The names are those of the `holidays` library (`CA`, `ON`, `public`, `government`).
    """

    country: str = "CA"
    subdivision: str | None = None
    categories: tuple[str, ...] = ("public", "government")


@dataclass(frozen=True)
class ReliefPolicy:
    min_minutes: int = 60  # outage that makes a day inaccessible, and that triggers the deadline-day rule
    long_outage_hours: float = 24  # total outage in the lookback that triggers the long-outage rule
    lookback_days: int = 14
    grace_business_days: int = 2  # business days after restoration the new deadline is at least
    grace_days: int | None = None  # legacy: calendar days after restoration; replaces the business-day grace
    paper_after_hours: float = 4  # an outage this long authorises paper filing for its component
    maintenance_notice_hours: float = 48  # maintenance announced this early does not count as outage
    counted_severities: frozenset[Severity] = DEFAULT_SEVERITIES
    rules: frozenset[Rule] = DEFAULT_RULES
    calendar: CalendarSpec = field(default_factory=CalendarSpec)

    def __post_init__(self) -> None:
        # Refused here rather than in each rule: a zero threshold would make no day ever accessible,
        # and the search for the first accessible business day would never end.
        if self.min_minutes <= 0:
            raise ValueError(f"min_minutes must be positive, not {self.min_minutes}")
        if self.long_outage_hours <= 0:
            raise ValueError(f"long_outage_hours must be positive, not {self.long_outage_hours}")
        for name in ("lookback_days", "grace_business_days", "paper_after_hours", "maintenance_notice_hours"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, not {getattr(self, name)}")
        if self.grace_days is not None and self.grace_days < 0:
            raise ValueError(f"grace_days must not be negative, not {self.grace_days}")


@dataclass(frozen=True)
class Downtime:
    """One outage as the engine read it from storage."""

    ref: str  # "outage:12" or "maintenance:3": what a decision cites
    component_id: str
    severity: Severity
    start: datetime  # aware; observed: last_ok_at (or started_at); declared: started_at
    end: datetime  # aware; ended_at, or for an open outage how far it counts so far
    open: bool  # still going on: decisions resting on it are provisional


@dataclass(frozen=True)
class MaintenanceWindow:
    """One occurrence of announced maintenance (a recurring window gives one per occurrence)."""

    ref: str
    component_ids: frozenset[str]
    start: datetime
    end: datetime
    announced_at: datetime


@dataclass(frozen=True)
class Span:
    """Counted downtime of one component: merged, with announced maintenance taken out."""

    component_id: str
    start: datetime
    end: datetime
    open: bool
    refs: frozenset[str]


@dataclass(frozen=True)
class Step:
    """One line of a decision's explanation: a rule, the deadline it gives, and why, in plain English."""

    rule: Rule
    deadline: datetime
    detail: str

    def as_json(self) -> dict[str, str]:
        return {"rule": self.rule.value, "deadline": self.deadline.astimezone(UTC).isoformat(), "detail": self.detail}


@dataclass(frozen=True)
class Decision:
    new_deadline: datetime  # aware UTC, the latest of the applying rules (always after the deadline)
    rules: tuple[Rule, ...]  # applied rules in rule order
    refs: tuple[str, ...]  # sorted refs of the spans the applying rules rest on
    final: bool  # no span it rests on is open
    restored_at: datetime | None  # when the outage the grace counts from ended; None while it is open
    steps: tuple[Step, ...]

    @property
    def status(self) -> GrantStatus:
        return GrantStatus.FINAL if self.final else GrantStatus.PROVISIONAL


@dataclass(frozen=True)
class PaperPeriod:
    """Paper filing authorised for one component, from an outage's start until a day after it ended."""

    component_id: str
    start: datetime
    until: datetime | None  # None while the outage is open: the period has no end yet
    refs: tuple[str, ...]
    final: bool

    @property
    def status(self) -> GrantStatus:
        return GrantStatus.FINAL if self.final else GrantStatus.PROVISIONAL
