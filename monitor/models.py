"""What is watched and what was seen: components, probes, checks, streaks, outages and their events."""

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
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from monitor.db import Base, UTCDateTime, utcnow

# SQLite only auto-increments INTEGER PRIMARY KEY, PostgreSQL wants BIGINT for tables that grow forever.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Component(Base):
    """A part of the portal people depend on, as shown on the status page."""

    __tablename__ = "components"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
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
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    probe_id: Mapped[str] = mapped_column(ForeignKey("probes.id"))
    location: Mapped[str] = mapped_column(String(64))
    slot: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ok: Mapped[bool] = mapped_column(Boolean)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error_class: Mapped[str | None] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[str] = mapped_column(Text, default="")


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
    last_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    down: Mapped[bool] = mapped_column(Boolean, default=False)
    down_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    down_since_check_id: Mapped[int | None] = mapped_column(BigId)
    last_ok_before_down: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recovered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Outage(Base):
    """A period when a component was down, bounded by checks: the record relief and letters rest on."""

    __tablename__ = "outages"
    __table_args__ = (
        # At most one open outage per component, whatever restarts or concurrent workers do.
        Index(
            "uq_outages_one_open_per_component",
            "component_id",
            unique=True,
            postgresql_where=text("ended_at IS NULL"),
            sqlite_where=text("ended_at IS NULL"),
        ),
        Index("ix_outages_started", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    component_id: Mapped[str] = mapped_column(ForeignKey("components.id"))
    severity: Mapped[str] = mapped_column(String(32), default="major_outage")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)  # first failed check of the streak
    last_ok_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # last success before it
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # first success of the recovering streak
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when recovery was confirmed
    first_check_id: Mapped[int | None] = mapped_column(ForeignKey("checks.id"))
    grace_days: Mapped[int] = mapped_column(Integer)  # the relief policy in force when it opened
    slack_channel: Mapped[str | None] = mapped_column(String(64))
    slack_ts: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    component: Mapped[Component] = relationship()


class OutageEvent(Base):
    """A status change, written in the same transaction as the outage; the outbox consumers act on it."""

    __tablename__ = "outage_events"
    __table_args__ = (Index("ix_outage_events_pending", "processed_at", "available_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    outage_id: Mapped[int] = mapped_column(ForeignKey("outages.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # opened | resolved
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)  # not retried before this
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
