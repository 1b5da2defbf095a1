"""Cases with deadlines, the components they depend on, and the grants outages earned them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from monitor.db import Base, UTCDateTime, utcnow
from monitor.models import BigId


class Case(Base):
    """An applicant's or employer's file with a deadline that must be met on the portal."""

    __tablename__ = "cases"

    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    time_zone: Mapped[str] = mapped_column(String(64))  # the case's own zone: "end of day" means there
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
    """An extension an outage earned a case: one per (case, outage), never shortened once given."""

    __tablename__ = "grants"
    __table_args__ = (UniqueConstraint("case_id", "outage_id", name="uq_grants_case_outage"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id", ondelete="CASCADE"))
    outage_id: Mapped[int] = mapped_column(ForeignKey("outages.id"), index=True)
    original_deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    new_deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    # provisional while the outage is still open (the deadline keeps moving), final once it has ended.
    status: Mapped[str] = mapped_column(String(16))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
