"""Every table: what is watched, what was seen, outages, the outbox, cases and the relief they were granted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from monitor.storage.engine import Base, utcnow
from monitor.storage.enums import (
    AuditAction,
    CheckKind,
    Consumer,
    DecisionChange,
    DeliveryState,
    EndReason,
    EventKind,
    GrantStatus,
    ImportState,
    Language,
    LetterKind,
    LetterState,
    LocationSight,
    MaintenanceSource,
    NoticeChannel,
    NoticeState,
    OutageChangeKind,
    OutageSource,
    Role,
    Severity,
    WatchState,
)
from monitor.storage.types import BigId, UTCDateTime, enum_column
from probes.result import ErrorClass


class Location(Base):
    """A place probes run from; each has its own Celery queue `probes.<id>`."""

    __tablename__ = "locations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    activated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)  # when it last became active
    # A URL outside the portal this location must reach to be trusted (e.g. a well-known public site).
    control_url: Mapped[str | None] = mapped_column(String(2000))
    # Derived from its control checks, one row per change in the outbox (location_blind / location_seeing).
    sight: Mapped[LocationSight] = mapped_column(
        enum_column(LocationSight, "sight"), default=LocationSight.SEEING, server_default=LocationSight.SEEING.value
    )
    sight_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    control_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    control_error: Mapped[str | None] = mapped_column(Text)  # what the last failed control check found
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Component(Base):
    """A part of the portal people depend on, as shown on the status page."""

    __tablename__ = "components"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Whether checks are arriving; `unknown` since the last check anyone saw (see detection.staleness).
    watch_state: Mapped[WatchState] = mapped_column(enum_column(WatchState, "watch_state"), default=WatchState.WATCHED)
    watch_state_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Detection, as the configuration gives it: how many locations must agree (None: a majority of
    # those that can see), and how soon after an outage's end new failures reopen it.
    quorum: Mapped[int | None] = mapped_column(Integer)
    merge_gap_seconds: Mapped[float] = mapped_column(Float, default=600.0, server_default=text("600"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    probes: Mapped[list[Probe]] = relationship(back_populates="component")


class Probe(Base):
    """A synthetic check of one component; its full spec is kept so workers need no config file."""

    __tablename__ = "probes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    component_id: Mapped[str] = mapped_column(ForeignKey("components.id"), index=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    interval_seconds: Mapped[float] = mapped_column(Float)
    failure_threshold: Mapped[int] = mapped_column(Integer)
    recovery_threshold: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    activated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)  # when it last became active
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    component: Mapped[Component] = relationship(back_populates="probes")


class Check(Base):
    """One run of one probe from one location: the raw evidence everything else is derived from."""

    __tablename__ = "checks"
    __table_args__ = (
        # A check is identified by its schedule slot, so a redelivered or duplicated task records nothing twice.
        UniqueConstraint("probe_id", "location", "slot", name="uq_checks_probe_location_slot"),
        Index("ix_checks_probe_started", "probe_id", "started_at"),
        # Retention finds the passing checks whose evidence it may drop here; a check leaves this index
        # once pruned, so each run reads what is left to prune, not every check ever kept.
        Index(
            "ix_checks_unpruned",
            "ok",
            "started_at",
            postgresql_where=text("evidence_pruned_at IS NULL"),
            sqlite_where=text("evidence_pruned_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    probe_id: Mapped[str] = mapped_column(ForeignKey("probes.id"))
    location: Mapped[str] = mapped_column(String(64))
    slot: Mapped[datetime] = mapped_column(UTCDateTime)
    # A confirmation is a check of its own: its slot is the instant it was asked for, so it never takes
    # a scheduled slot's place and a redelivered confirmation is recorded once too.
    kind: Mapped[CheckKind] = mapped_column(
        enum_column(CheckKind, "kind"), default=CheckKind.SCHEDULED, server_default=CheckKind.SCHEDULED.value
    )
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ok: Mapped[bool] = mapped_column(Boolean)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error_class: Mapped[ErrorClass | None] = mapped_column(enum_column(ErrorClass, "error_class"))
    error: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[str] = mapped_column(Text, default="")
    # SHA-256 of the evidence text as recorded, the value the chain's digest covers: it keeps the chain
    # verifiable once retention has dropped the text (`evidence_pruned_at`). None only for checks
    # recorded before it was kept.
    evidence_sha256: Mapped[str | None] = mapped_column(String(64))
    evidence_pruned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The check log's chain (monitor.evidence.chain): this check's digest covers what it records and the
    # digest of the check before it at the same probe and location, so no check can be edited, removed
    # or slipped in unnoticed. None only for checks recorded before the log was chained.
    prev_digest: Mapped[str | None] = mapped_column(String(64))
    digest: Mapped[str | None] = mapped_column(String(64))
    # Run from a location whose control check failed in the same batch: kept as evidence, never counted.
    blind: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))


class EvidencePiece(Base):
    """A large piece of a check's evidence (a screenshot), kept in the evidence store under its SHA-256.

    The check's evidence text names the digest, so the chain that covers the text covers the piece.
    """

    __tablename__ = "evidence_pieces"
    __table_args__ = (
        UniqueConstraint("check_id", "name", name="uq_evidence_pieces_check_name"),
        Index("ix_evidence_pieces_sha256", "sha256"),  # is a file still needed by another piece?
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    check_id: Mapped[int] = mapped_column(ForeignKey("checks.id"))
    name: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProbeState(Base):
    """The running streak of one probe at one location, folded from its checks (see detection.Streak)."""

    __tablename__ = "probe_states"

    probe_id: Mapped[str] = mapped_column(ForeignKey("probes.id"), primary_key=True)
    location: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    successes: Mapped[int] = mapped_column(Integer, default=0)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failing_since_check_id: Mapped[int | None] = mapped_column(BigId)
    succeeding_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_ok_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_slot: Mapped[datetime | None] = mapped_column(UTCDateTime)
    watched_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    down: Mapped[bool] = mapped_column(Boolean, default=False)
    down_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    down_since_check_id: Mapped[int | None] = mapped_column(BigId)
    last_ok_before_down: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recovered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    severity: Mapped[Severity | None] = mapped_column(enum_column(Severity, "severity"))  # of the latest failure
    last_digest: Mapped[str | None] = mapped_column(String(64))  # the head of this chain of checks


class Outage(Base):
    """A period when a component was down, bounded by checks: the record relief and letters rest on."""

    __tablename__ = "outages"
    __table_args__ = (
        # At most one open observed outage per component, whatever restarts or concurrent workers do.
        # Declared outages are ops' statements and may overlap what the probes saw.
        Index(
            "uq_outages_one_open_per_component",
            "component_id",
            unique=True,
            postgresql_where=text("ended_at IS NULL AND source = 'observed'"),
            sqlite_where=text("ended_at IS NULL AND source = 'observed'"),
        ),
        Index("ix_outages_started", "started_at"),
        Index("ix_outages_component_ended", "component_id", "ended_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    component_id: Mapped[str] = mapped_column(ForeignKey("components.id"))
    source: Mapped[OutageSource] = mapped_column(enum_column(OutageSource, "source"), default=OutageSource.OBSERVED)
    reason: Mapped[str | None] = mapped_column(Text)  # a declared outage's reason, as ops gave it
    severity: Mapped[Severity] = mapped_column(enum_column(Severity, "severity"), default=Severity.MAJOR_OUTAGE)
    # Observed: the first failed check of the streak. Declared: the start ops gave.
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_ok_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # last success before it
    # The last failed check seen while it was watched without a gap: provisional relief never reaches past it.
    last_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    gap_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # checks resumed here after a monitoring gap
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # first success of the recovering streak
    end_reason: Mapped[EndReason | None] = mapped_column(enum_column(EndReason, "end_reason"))
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when the end was recorded
    first_check_id: Mapped[int | None] = mapped_column(ForeignKey("checks.id"))
    # The calendar-day grace of the policy in force when it opened, when the legacy `relief.grace_days` is set.
    grace_days: Mapped[int | None] = mapped_column(Integer)
    # When ops marked it a false positive (a correction, kept in outage_corrections): relief and the status
    # page no longer count it, and relief already given stays (never worse off).
    false_positive_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    component: Mapped[Component] = relationship()


class MonitoringGap(Base):
    """A time nobody watched a component: from the last check anyone saw (or its set-up) to the first
    check after. Written when the component is marked `unknown` and closed when checks resume.

    A gap counts neither as uptime nor as outage: uptime figures leave it out of the time observed,
    and relief leaves it out of an observed outage that spans it.
    """

    __tablename__ = "monitoring_gaps"
    __table_args__ = (
        # At most one open gap per component, whatever two sweeps at once do.
        Index(
            "uq_monitoring_gaps_one_open_per_component",
            "component_id",
            unique=True,
            postgresql_where=text("ended_at IS NULL"),
            sqlite_where=text("ended_at IS NULL"),
        ),
        Index("ix_monitoring_gaps_component_started", "component_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    component_id: Mapped[str] = mapped_column(ForeignKey("components.id"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the last check seen before it
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the first check after it
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when the sweep noticed it


class OutageChange(Base):
    """The history of an observed outage, as detection wrote it: opened, severity changed, reopened, ended.

    Relief reads the severity changes to count each part of an outage at the severity it had then.
    """

    __tablename__ = "outage_changes"
    __table_args__ = (Index("ix_outage_changes_outage", "outage_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    outage_id: Mapped[int] = mapped_column(ForeignKey("outages.id"))
    kind: Mapped[OutageChangeKind] = mapped_column(enum_column(OutageChangeKind, "kind"))
    severity: Mapped[Severity] = mapped_column(enum_column(Severity, "severity"))  # from `at` on
    at: Mapped[datetime] = mapped_column(UTCDateTime)  # when the checks showed it
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class OutageCorrection(Base):
    """An audit record of ops correcting an outage's bounds or severity: what was, what became, and why."""

    __tablename__ = "outage_corrections"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    outage_id: Mapped[int] = mapped_column(ForeignKey("outages.id"), index=True)
    before: Mapped[dict[str, Any]] = mapped_column(JSON)
    after: Mapped[dict[str, Any]] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
    corrected_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Maintenance(Base):
    """A planned maintenance window: one-off (`starts_at`..`ends_at`) or recurring (`recurrence`).

    Announced at least `relief.maintenance_notice_hours` before an occurrence starts, downtime inside it
    is maintenance and does not count towards relief; announced later, the window counts like an outage.
    """

    __tablename__ = "maintenance_windows"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # The configuration file's id for a window it lists, so reloading updates rather than duplicates it.
    key: Mapped[str | None] = mapped_column(String(64), unique=True)
    source: Mapped[MaintenanceSource] = mapped_column(enum_column(MaintenanceSource, "source"))
    title: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)  # recurring: no occurrence before this
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # recurring: none after this (None: no end)
    # Recurring windows: {"days": ["sat"], "at": "23:00", "duration_seconds": 14400, "time_zone": "..."}.
    recurrence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    announced_at: Mapped[datetime] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    components: Mapped[list[MaintenanceComponent]] = relationship(cascade="all, delete-orphan")


class MaintenanceComponent(Base):
    __tablename__ = "maintenance_components"

    maintenance_id: Mapped[int] = mapped_column(
        ForeignKey("maintenance_windows.id", ondelete="CASCADE"), primary_key=True
    )
    component_id: Mapped[str] = mapped_column(ForeignKey("components.id"), primary_key=True)


class OutboxEvent(Base):
    """A status change, written in the same transaction as the change; each consumer gets a Delivery."""

    __tablename__ = "outbox_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[EventKind] = mapped_column(enum_column(EventKind, "kind"))
    # What the event is about, e.g. `outage:12`; consumers that keep one message per subject key on it.
    subject: Mapped[str] = mapped_column(String(128))
    outage_id: Mapped[int | None] = mapped_column(ForeignKey("outages.id"), index=True)
    component_id: Mapped[str | None] = mapped_column(ForeignKey("components.id"))
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Delivery(Base):
    """One consumer's duty to act on one event, with its own claim, attempts and backoff."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "consumer", name="uq_deliveries_event_consumer"),
        Index("ix_deliveries_due", "state", "available_at"),
        Index("ix_deliveries_subject", "consumer", "subject"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("outbox_events.id"))
    consumer: Mapped[Consumer] = mapped_column(enum_column(Consumer, "consumer"))
    subject: Mapped[str] = mapped_column(String(128))  # the event's, copied so claims can serialise on it
    state: Mapped[DeliveryState] = mapped_column(enum_column(DeliveryState, "state"), default=DeliveryState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)  # not tried again before this
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claim_token: Mapped[str | None] = mapped_column(String(32))  # only the holder of the claim may finish it
    last_error: Mapped[str | None] = mapped_column(Text)
    alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # ops were told it keeps failing
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class NotifyMessage(Base):
    """The one message a channel keeps per subject (e.g. a Slack message per outage), updated as it changes.

    `marker` is written before the first post and travels with it, so a post whose answer was lost
    can be found again instead of being posted twice.
    """

    __tablename__ = "notify_messages"
    __table_args__ = (UniqueConstraint("channel", "subject", name="uq_notify_messages_channel_subject"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(128))
    marker: Mapped[str] = mapped_column(String(64))
    destination: Mapped[str | None] = mapped_column(String(128))  # e.g. the Slack channel id
    external_id: Mapped[str | None] = mapped_column(String(128))  # e.g. the Slack message ts
    attempted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a post was sent (its answer may be lost)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Case(Base):
    """An applicant's or employer's file with a deadline that must be met on the portal."""

    __tablename__ = "cases"

    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    time_zone: Mapped[str] = mapped_column(String(64))  # the case's own zone: "end of day" means there
    # False for a statutory deadline: relief flags the case as affected but never moves its deadline.
    extendable: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    email: Mapped[str | None] = mapped_column(String(320))
    webhook_url: Mapped[str | None] = mapped_column(String(2048))
    language: Mapped[Language | None] = mapped_column(enum_column(Language, "language"))
    # The holder's self-service access code, only ever as a slow hash (see exemptions.cases.access).
    access_hash: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    components: Mapped[list[CaseComponent]] = relationship(cascade="all, delete-orphan")
    grants: Mapped[list[Grant]] = relationship(order_by="Grant.id")


class CaseComponent(Base):
    __tablename__ = "case_components"
    __table_args__ = (Index("ix_case_components_component", "component_id", "case_id"),)

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id", ondelete="CASCADE"), primary_key=True)
    component_id: Mapped[str] = mapped_column(ForeignKey("components.id"), primary_key=True)


class Grant(Base):
    """An outage a case's relief decision rests on: one per (case, outage), never shortened once given.

    `new_deadline` and `status` follow the case's decision (see ReliefDecision), which weighs every
    outage of the case's components together.
    """

    __tablename__ = "grants"
    __table_args__ = (UniqueConstraint("case_id", "outage_id", name="uq_grants_case_outage"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id", ondelete="CASCADE"))
    outage_id: Mapped[int] = mapped_column(ForeignKey("outages.id"), index=True)
    original_deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    new_deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    # provisional while the outage is still open (the deadline keeps moving), final once it has ended.
    status: Mapped[GrantStatus] = mapped_column(enum_column(GrantStatus, "status"))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReliefDecision(Base):
    """A case's current relief: what the rules give now, and the deadline in effect, never moved earlier."""

    __tablename__ = "relief_decisions"

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id", ondelete="CASCADE"), primary_key=True)
    original_deadline: Mapped[datetime] = mapped_column(UTCDateTime)  # the case's deadline when last decided
    # What the rules give today; None when no rule applies any more (a correction removed the outage).
    computed_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # In force: never earlier than anything given before; the original deadline for a case not extendable.
    effective_deadline: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    extendable: Mapped[bool] = mapped_column(Boolean)
    rules: Mapped[list[str]] = mapped_column(JSON)  # the rules that applied, by name
    outage_ids: Mapped[list[int]] = mapped_column(JSON)  # the outages it rests on
    maintenance_ids: Mapped[list[int]] = mapped_column(JSON)  # late-announced maintenance it rests on
    explanation: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # one line per rule: what it gives and why
    status: Mapped[GrantStatus] = mapped_column(enum_column(GrantStatus, "status"))
    # A digest of what the rules last computed (deadline, rules, outages, status): a run that computes the
    # same again writes nothing, so re-running relief is a no-op and history only records real changes.
    signature: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReliefHistory(Base):
    """Every change of a case's decision, in order: the trail that explains its deadline."""

    __tablename__ = "relief_history"
    __table_args__ = (Index("ix_relief_history_case", "case_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    change: Mapped[DecisionChange] = mapped_column(enum_column(DecisionChange, "change"))
    effective_deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    computed_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rules: Mapped[list[str]] = mapped_column(JSON)
    outage_ids: Mapped[list[int]] = mapped_column(JSON)
    status: Mapped[GrantStatus] = mapped_column(enum_column(GrantStatus, "status"))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PaperAuthorisation(Base):
    """Paper (or other-means) filing authorised for everyone depending on a component, for a period.

    One per outage long enough to earn it; its period only ever grows. `ends_at` is None while the
    outage is still going on.
    """

    __tablename__ = "paper_authorisations"
    __table_args__ = (Index("ix_paper_authorisations_component", "component_id", "starts_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    outage_id: Mapped[int] = mapped_column(ForeignKey("outages.id"), unique=True)
    component_id: Mapped[str] = mapped_column(ForeignKey("components.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outage_ids: Mapped[list[int]] = mapped_column(JSON)  # every outage the period rests on
    status: Mapped[GrantStatus] = mapped_column(enum_column(GrantStatus, "status"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReliefRunCase(Base):
    """Scratch rows of one relief run: the cases it decides, keyed for grouping (cleared before it commits)."""

    __tablename__ = "relief_run_cases"

    run_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    time_zone: Mapped[str] = mapped_column(String(64))
    extendable: Mapped[bool] = mapped_column(Boolean)
    mask: Mapped[int] = mapped_column(BigId)  # which of the run's components with downtime the case depends on
    group_no: Mapped[int | None] = mapped_column(Integer)  # the group whose decision it takes; None: no rule applies


class ReliefRunGroup(Base):
    """Scratch rows of one relief run: the decision for every case sharing one group's key."""

    __tablename__ = "relief_run_groups"
    __table_args__ = (Index("ix_relief_run_groups_key", "run_id", "deadline", "time_zone", "extendable", "mask"),)

    run_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    group_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    time_zone: Mapped[str] = mapped_column(String(64))
    extendable: Mapped[bool] = mapped_column(Boolean)
    mask: Mapped[int] = mapped_column(BigId)
    computed_deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    rules: Mapped[list[str]] = mapped_column(JSON)
    outage_ids: Mapped[list[int]] = mapped_column(JSON)
    maintenance_ids: Mapped[list[int]] = mapped_column(JSON)
    explanation: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    status: Mapped[GrantStatus] = mapped_column(enum_column(GrantStatus, "status"))
    signature: Mapped[str] = mapped_column(String(64))


class ReliefRunOutage(Base):
    """Scratch rows of one relief run: the outages each group's decision rests on."""

    __tablename__ = "relief_run_outages"

    run_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    group_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    outage_id: Mapped[int] = mapped_column(BigId, primary_key=True)


class ImportJob(Base):
    """A cases CSV import too large to answer in one request: uploaded, then run by a worker."""

    __tablename__ = "import_jobs"
    # The outbox sweep looks for stuck jobs every 2 s; finished jobs pile up and must not be read each time.
    __table_args__ = (Index("ix_import_jobs_state", "state"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    source: Mapped[str] = mapped_column(String(255))
    state: Mapped[ImportState] = mapped_column(enum_column(ImportState, "state"), default=ImportState.QUEUED)
    size_bytes: Mapped[int] = mapped_column(BigId, default=0)
    rows_read: Mapped[int] = mapped_column(BigId, default=0)
    imported: Mapped[int] = mapped_column(BigId, default=0)
    error_count: Mapped[int] = mapped_column(BigId, default=0)
    errors: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)  # the first problems, capped
    message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a running job that stops beating is retried
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ImportChunk(Base):
    """The uploaded bytes of an import job, in order; any worker can read them back."""

    __tablename__ = "import_chunks"

    job_id: Mapped[str] = mapped_column(ForeignKey("import_jobs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ImportRow(Base):
    """A checked row of an import job, staged so the whole file is merged into cases by set-based SQL."""

    __tablename__ = "import_rows"
    __table_args__ = (Index("ix_import_rows_job_case", "job_id", "case_id"),)

    job_id: Mapped[str] = mapped_column(ForeignKey("import_jobs.id", ondelete="CASCADE"), primary_key=True)
    line: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[str] = mapped_column(String(64))
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    time_zone: Mapped[str] = mapped_column(String(64))
    extendable: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    email: Mapped[str | None] = mapped_column(String(320))
    webhook_url: Mapped[str | None] = mapped_column(String(2048))
    language: Mapped[Language | None] = mapped_column(enum_column(Language, "language"))
    access_hash: Mapped[str | None] = mapped_column(String(200))


class ImportRowComponent(Base):
    __tablename__ = "import_row_components"

    job_id: Mapped[str] = mapped_column(ForeignKey("import_jobs.id", ondelete="CASCADE"), primary_key=True)
    line: Mapped[int] = mapped_column(BigId, primary_key=True)
    component_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class Letter(Base):
    """A signed bilingual letter: owed (pending) from the moment a decision needs it, issued once signed.

    A pending row is written in the same transaction as the decision or authorisation it rests on, so
    no final decision is ever left without its letter; the PDF is made and signed afterwards, outside
    any transaction that holds locks on decisions. `(kind, case_id, basis)` identifies what a case's
    letter was issued for (a decision version, an authorisation), so a repeated run owes nothing twice.
    A letter is never deleted or changed once issued: a later one that gives more supersedes it, and
    the old code keeps verifying, marked superseded.
    """

    __tablename__ = "letters"
    __table_args__ = (
        UniqueConstraint("kind", "case_id", "basis", name="uq_letters_kind_case_basis"),
        Index("ix_letters_case", "case_id", "kind"),
        Index("ix_letters_state", "state", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # Unguessable, typeable (see exemptions.letters.codes); given when the letter is signed.
    code: Mapped[str | None] = mapped_column(String(16), unique=True)
    kind: Mapped[LetterKind] = mapped_column(enum_column(LetterKind, "kind"))
    state: Mapped[LetterState] = mapped_column(enum_column(LetterState, "state"), default=LetterState.PENDING)
    # Not a foreign key: a letter is a public record that outlives the case row it was written for.
    case_id: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("letter_requests.id"), index=True)
    basis: Mapped[str] = mapped_column(String(64))  # e.g. `decision:3`, `authorisation:12`, `request:40`
    component_id: Mapped[str | None] = mapped_column(String(64))
    outage_ids: Mapped[list[int]] = mapped_column(JSON)
    window_start: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the outage window or attested period
    window_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    original_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    new_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paper_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paper_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rules: Mapped[list[str]] = mapped_column(JSON, default=list)  # the relief rules it rests on, by name
    time_zone: Mapped[str] = mapped_column(String(64))  # the holder's: every date on the letter is shown in it
    language: Mapped[Language | None] = mapped_column(enum_column(Language, "language"))
    # What the letter says beyond the columns (rules in plain words, locations, check counts), as printed.
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    evidence_digest: Mapped[str | None] = mapped_column(String(64))
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    pdf_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    superseded_by: Mapped[str | None] = mapped_column(String(16))  # the code of the letter that replaced it
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a signing job holds it
    claim_token: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LetterRequest(Base):
    """An employer's or representative's request for a paper-filing letter, and what the record answered."""

    __tablename__ = "letter_requests"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    component_id: Mapped[str] = mapped_column(String(64))
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    organisation: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))  # kept for the record, never shown by verification
    language: Mapped[Language] = mapped_column(enum_column(Language, "language"))
    outcome: Mapped[LetterKind | None] = mapped_column(enum_column(LetterKind, "outcome"))  # None: nothing recorded
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Notice(Base):
    """One letter's notice to its holder over one channel: an outbox row of its own, claimed and retried.

    Written in the transaction that issues the letter. `message_id` is fixed when the row is written and
    sent with every attempt (email Message-ID, Standard Webhooks `webhook-id`), so a receiver that got an
    attempt whose answer was lost can tell the retry is the same notice.
    """

    __tablename__ = "notices"
    __table_args__ = (
        UniqueConstraint("letter_id", "channel", name="uq_notices_letter_channel"),
        Index("ix_notices_due", "state", "available_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letters.id"))
    case_id: Mapped[str | None] = mapped_column(String(64), index=True)
    channel: Mapped[NoticeChannel] = mapped_column(enum_column(NoticeChannel, "channel"))
    destination: Mapped[str] = mapped_column(String(2048))  # the address or URL it was sent to
    language: Mapped[Language | None] = mapped_column(enum_column(Language, "language"))
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[NoticeState] = mapped_column(enum_column(NoticeState, "state"), default=NoticeState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claim_token: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    permanent_failure: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# --- people, their tokens, and the audit log of what they did ---------------------------------------


class Person(Base):
    """Someone who reads or acts through the ops API or the dashboard, with a role (viewer, ops, admin)."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"))
    # For the dashboard's sign-in: a slow hash (monitor.people.credentials), never the password. None: no sign-in.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    slack_user_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiToken(Base):
    """A person's bearer token for the ops API, kept only as its SHA-256; shown once, when it is made.

    `prefix` is the token's public part (`pw_<prefix>_…`): how people name a token to revoke it.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    """One thing someone did: who, when, what, before → after, and why. Append-only, chained by SHA-256.

    `id` counts entries from 1 with no gap (given under the head's lock, see AuditHead); `hash` covers
    the entry and `prev_hash`, the hash of the entry before it (monitor.audit.chain). The code has no
    path that updates or deletes an entry, and on PostgreSQL a trigger refuses both.
    """

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))  # the person's name, `bootstrap` or `cli`
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    action: Mapped[AuditAction] = mapped_column(enum_column(AuditAction, "action"))
    subject: Mapped[str] = mapped_column(String(128))  # e.g. `outage:12`, `person:alice`, `token:ab12cd34`
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The audit log's one head row: the last entry's id and hash.

    Every append locks it first (SELECT … FOR UPDATE; SQLite's writer lock does the same), so two
    actions at once cannot both chain to the same entry; and since it names the last entry, removing
    entries from the end of the log is caught too.
    """

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # always 1
    last_id: Mapped[int] = mapped_column(BigId, default=0)
    hash: Mapped[str | None] = mapped_column(String(64))


class OutageAcknowledgement(Base):
    """Someone on the desk has seen an outage and is on it: once per outage."""

    __tablename__ = "outage_acknowledgements"

    outage_id: Mapped[int] = mapped_column(ForeignKey("outages.id"), primary_key=True)
    acknowledged_by: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    acknowledged_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutageUpdate(Base):
    """A note about an outage: public ones are shown on the status page, internal ones only to ops."""

    __tablename__ = "outage_updates"
    __table_args__ = (Index("ix_outage_updates_outage", "outage_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    outage_id: Mapped[int] = mapped_column(ForeignKey("outages.id"))
    body: Mapped[str] = mapped_column(Text)
    public: Mapped[bool] = mapped_column(Boolean)
    language: Mapped[Language | None] = mapped_column(enum_column(Language, "language"))
    author: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
