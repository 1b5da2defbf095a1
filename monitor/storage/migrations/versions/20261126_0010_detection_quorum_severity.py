"""Detection you can defend: quorum of locations, severity from each probe's impact, outage history

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26

- `components.quorum` (NULL: a majority of the locations that can see) and `merge_gap_seconds`
  (failures this soon after an outage ended reopen it; 600 by default).
- `probe_states.severity`: what the latest failure of a probe at a location means for its component.
- `checks.error_class` gains `slow`: the right answer, later than the probe's `max_latency`.
- `outage_changes`: each observed outage's history (opened, severity, reopened, ended) with the
  severity from each change on; relief counts each part at the severity it had. Outages recorded
  before this revision have none and count at their one severity, as before.
- Event kinds `severity_changed` and `reopened` join the CHECK constraint.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.storage.types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = monitor.storage.types.UTCDateTime(timezone=True)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

SEVERITIES = ("degraded_performance", "partial_outage", "major_outage")
CHANGE_KINDS = ("opened", "severity", "reopened", "ended")
OLD_ERROR_CLASSES = ("dns", "connect", "timeout", "tls", "status", "assertion", "probe")
ERROR_CLASSES = (*OLD_ERROR_CLASSES, "slow")
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
    "location_blind",
    "location_seeing",
)
EVENT_KINDS = (*OLD_EVENT_KINDS, "severity_changed", "reopened")


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def upgrade() -> None:
    with op.batch_alter_table("components") as batch_op:
        batch_op.add_column(sa.Column("quorum", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("merge_gap_seconds", sa.Float(), nullable=False, server_default=sa.text("600")))
    with op.batch_alter_table("probe_states") as batch_op:
        batch_op.add_column(sa.Column("severity", sa.String(length=32), nullable=True))
        batch_op.create_check_constraint(op.f("ck_probe_states_severity"), _in("severity", SEVERITIES))
    with op.batch_alter_table("checks") as batch_op:
        batch_op.drop_constraint(op.f("ck_checks_error_class"), type_="check")
        batch_op.create_check_constraint(op.f("ck_checks_error_class"), _in("error_class", ERROR_CLASSES))
    with op.batch_alter_table("outbox_events") as batch_op:
        batch_op.drop_constraint(op.f("ck_outbox_events_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_outbox_events_kind"), _in("kind", EVENT_KINDS))
    op.create_table(
        "outage_changes",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("outage_id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=32), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.Column("recorded_at", UTC, nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.CheckConstraint(_in("kind", CHANGE_KINDS), name=op.f("ck_outage_changes_kind")),
        sa.CheckConstraint(_in("severity", SEVERITIES), name=op.f("ck_outage_changes_severity")),
        sa.ForeignKeyConstraint(["outage_id"], ["outages.id"], name=op.f("fk_outage_changes_outage_id_outages")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outage_changes")),
    )
    op.create_index("ix_outage_changes_outage", "outage_changes", ["outage_id", "at"], unique=False)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT 1 FROM checks WHERE error_class = 'slow' LIMIT 1")).first():
        raise RuntimeError("checks of error class 'slow' are recorded; the older schema cannot hold them")
    op.drop_index("ix_outage_changes_outage", table_name="outage_changes")
    op.drop_table("outage_changes")
    op.execute("DELETE FROM outbox_events WHERE kind IN ('severity_changed', 'reopened')")
    with op.batch_alter_table("outbox_events") as batch_op:
        batch_op.drop_constraint(op.f("ck_outbox_events_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_outbox_events_kind"), _in("kind", OLD_EVENT_KINDS))
    with op.batch_alter_table("checks") as batch_op:
        batch_op.drop_constraint(op.f("ck_checks_error_class"), type_="check")
        batch_op.create_check_constraint(op.f("ck_checks_error_class"), _in("error_class", OLD_ERROR_CLASSES))
    with op.batch_alter_table("probe_states") as batch_op:
        batch_op.drop_constraint(op.f("ck_probe_states_severity"), type_="check")
        batch_op.drop_column("severity")
    # Not a batch (a table copy on SQLite): other tables' foreign keys point at components.
    op.drop_column("components", "merge_gap_seconds")
    op.drop_column("components", "quorum")
