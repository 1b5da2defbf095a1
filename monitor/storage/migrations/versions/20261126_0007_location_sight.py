"""Locations check a control URL and can be blind; checks say whether they were run blind

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26

- `locations.control_url`, `sight` (`seeing` or `blind`), `sight_since`, `control_checked_at`,
  `control_error`: a location that cannot reach its control URL is blind, and its checks stop
  counting against the portal until it reaches it again. Every location starts out seeing.
- `checks.blind`: the check was run in a batch whose control check failed; it is kept as evidence
  and never folded into detection.
- Two new event kinds, `location_blind` and `location_seeing`, join the CHECK constraint.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.storage.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = monitor.storage.types.UTCDateTime(timezone=True)

OLD_EVENT_KINDS = (
    "opened",
    "resolved",
    "monitoring_lost",
    "monitoring_restored",
    "cases_imported",
    "delivery_failing",
    "declared",
    "corrected",
    "maintenance_changed",
)
EVENT_KINDS = (*OLD_EVENT_KINDS, "location_blind", "location_seeing")
SIGHTS = ("seeing", "blind")


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def upgrade() -> None:
    with op.batch_alter_table("locations") as batch_op:
        batch_op.add_column(sa.Column("control_url", sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column("sight", sa.String(length=32), nullable=False, server_default="seeing"))
        batch_op.add_column(sa.Column("sight_since", UTC, nullable=True))
        batch_op.add_column(sa.Column("control_checked_at", UTC, nullable=True))
        batch_op.add_column(sa.Column("control_error", sa.Text(), nullable=True))
        batch_op.create_check_constraint(op.f("ck_locations_sight"), _in("sight", SIGHTS))
    with op.batch_alter_table("checks") as batch_op:
        batch_op.add_column(sa.Column("blind", sa.Boolean(), nullable=False, server_default=sa.text("false")))
    with op.batch_alter_table("outbox_events") as batch_op:
        batch_op.drop_constraint(op.f("ck_outbox_events_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_outbox_events_kind"), _in("kind", EVENT_KINDS))


def downgrade() -> None:
    with op.batch_alter_table("outbox_events") as batch_op:
        batch_op.drop_constraint(op.f("ck_outbox_events_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_outbox_events_kind"), _in("kind", OLD_EVENT_KINDS))
    with op.batch_alter_table("checks") as batch_op:
        batch_op.drop_column("blind")
    with op.batch_alter_table("locations") as batch_op:
        batch_op.drop_constraint(op.f("ck_locations_sight"), type_="check")
        batch_op.drop_column("control_error")
        batch_op.drop_column("control_checked_at")
        batch_op.drop_column("sight_since")
        batch_op.drop_column("sight")
        batch_op.drop_column("control_url")
