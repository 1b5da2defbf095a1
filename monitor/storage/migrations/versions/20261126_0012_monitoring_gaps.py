"""Monitoring gaps: the times nobody watched a component, kept so they count neither as uptime nor as outage

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26

- `monitoring_gaps`: one row per spell of `unknown`, from the last check seen to the first check
  after (open while it lasts; at most one open per component). Components already `unknown` when
  this revision runs get their open gap from `watch_state_since`.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.storage.types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = monitor.storage.types.UTCDateTime(timezone=True)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "monitoring_gaps",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("component_id", sa.String(length=64), nullable=False),
        sa.Column("started_at", UTC, nullable=False),
        sa.Column("ended_at", UTC, nullable=True),
        sa.Column("detected_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["component_id"], ["components.id"], name=op.f("fk_monitoring_gaps_component_id_components")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_gaps")),
    )
    op.create_index(
        "ix_monitoring_gaps_component_started", "monitoring_gaps", ["component_id", "started_at"], unique=False
    )
    op.create_index(
        "uq_monitoring_gaps_one_open_per_component",
        "monitoring_gaps",
        ["component_id"],
        unique=True,
        postgresql_where=sa.text("ended_at IS NULL"),
        sqlite_where=sa.text("ended_at IS NULL"),
    )
    # A component nobody watches as this runs is in a gap already: it began at the last check seen.
    op.execute(
        "INSERT INTO monitoring_gaps (component_id, started_at, ended_at, detected_at)"
        " SELECT id, COALESCE(watch_state_since, updated_at), NULL, updated_at"
        " FROM components WHERE watch_state = 'unknown'"
    )


def downgrade() -> None:
    op.drop_index("uq_monitoring_gaps_one_open_per_component", table_name="monitoring_gaps")
    op.drop_index("ix_monitoring_gaps_component_started", table_name="monitoring_gaps")
    op.drop_table("monitoring_gaps")
