"""Relief policy: declared outages and corrections, maintenance windows, decisions and their history, paper filing

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25

- Outages say who recorded them (`observed` by probes or `declared` by ops) and why; only observed
  outages are held to one open per component. The per-outage `grace_days` becomes optional: the
  policy in force decides, the legacy calendar-day grace only when configured.
- `outage_corrections` keeps every correction of an outage, before and after, with its reason.
- `maintenance_windows` (one-off or recurring) and the components each one covers.
- Cases (and staged import rows) say whether their deadline may be extended, and how to reach their holder.
- `relief_decisions` (one per affected case), `relief_history` (every change of one), and
  `paper_authorisations`; `relief_run_*` are a run's scratch rows, empty between runs.
- New event kinds join the CHECK constraint.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.storage.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = monitor.storage.types.UTCDateTime(timezone=True)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

OLD_EVENT_KINDS = ("opened", "resolved", "monitoring_lost", "monitoring_restored", "cases_imported", "delivery_failing")
EVENT_KINDS = (*OLD_EVENT_KINDS, "declared", "corrected", "maintenance_changed")
OUTAGE_SOURCES = ("observed", "declared")
MAINTENANCE_SOURCES = ("config", "api")
LANGUAGES = ("en", "fr")
GRANT_STATES = ("provisional", "final")
DECISION_CHANGES = ("granted", "extended", "updated", "finalised", "held", "flagged")


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def _check(table: str, column: str, values: Sequence[str]) -> sa.CheckConstraint:
    # op.f(): the name is final; the models' naming convention must not prefix it a second time.
    return sa.CheckConstraint(_in(column, values), name=op.f(f"ck_{table}_{column}"))


def upgrade() -> None:
    _outages()
    _contacts("cases")
    _contacts("import_rows")
    with op.batch_alter_table("outbox_events") as batch_op:
        batch_op.drop_constraint(op.f("ck_outbox_events_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_outbox_events_kind"), _in("kind", EVENT_KINDS))

    op.create_table(
        "outage_corrections",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("outage_id", BigId, nullable=False),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("corrected_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["outage_id"], ["outages.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outage_corrections") as batch_op:
        batch_op.create_index("ix_outage_corrections_outage_id", ["outage_id"], unique=False)

    op.create_table(
        "maintenance_windows",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=64), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("starts_at", UTC, nullable=False),
        sa.Column("ends_at", UTC, nullable=True),
        sa.Column("recurrence", sa.JSON(), nullable=True),
        sa.Column("announced_at", UTC, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
        _check("maintenance_windows", "source", MAINTENANCE_SOURCES),
    )
    op.create_table(
        "maintenance_components",
        sa.Column("maintenance_id", BigId, nullable=False),
        sa.Column("component_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["maintenance_id"], ["maintenance_windows.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["component_id"], ["components.id"]),
        sa.PrimaryKeyConstraint("maintenance_id", "component_id"),
    )

    op.create_table(
        "relief_decisions",
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("original_deadline", UTC, nullable=False),
        sa.Column("computed_deadline", UTC, nullable=True),
        sa.Column("effective_deadline", UTC, nullable=False),
        sa.Column("extendable", sa.Boolean(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("outage_ids", sa.JSON(), nullable=False),
        sa.Column("maintenance_ids", sa.JSON(), nullable=False),
        sa.Column("explanation", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("decided_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.case_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("case_id"),
        _check("relief_decisions", "status", GRANT_STATES),
    )
    with op.batch_alter_table("relief_decisions") as batch_op:
        batch_op.create_index("ix_relief_decisions_effective_deadline", ["effective_deadline"], unique=False)

    op.create_table(
        "relief_history",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(length=32), nullable=False),
        sa.Column("effective_deadline", UTC, nullable=False),
        sa.Column("computed_deadline", UTC, nullable=True),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("outage_ids", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("changed_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.case_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        _check("relief_history", "change", DECISION_CHANGES),
        _check("relief_history", "status", GRANT_STATES),
    )
    with op.batch_alter_table("relief_history") as batch_op:
        batch_op.create_index("ix_relief_history_case", ["case_id", "version"], unique=False)

    op.create_table(
        "paper_authorisations",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("outage_id", BigId, nullable=False),
        sa.Column("component_id", sa.String(length=64), nullable=False),
        sa.Column("starts_at", UTC, nullable=False),
        sa.Column("ends_at", UTC, nullable=True),
        sa.Column("outage_ids", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["outage_id"], ["outages.id"]),
        sa.ForeignKeyConstraint(["component_id"], ["components.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("outage_id"),
        _check("paper_authorisations", "status", GRANT_STATES),
    )
    with op.batch_alter_table("paper_authorisations") as batch_op:
        batch_op.create_index("ix_paper_authorisations_component", ["component_id", "starts_at"], unique=False)

    _scratch_tables()


def _outages() -> None:
    with op.batch_alter_table("outages") as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=32), nullable=False, server_default="observed"))
        batch_op.add_column(sa.Column("reason", sa.Text(), nullable=True))
        batch_op.alter_column("grace_days", existing_type=sa.Integer(), nullable=True)
        batch_op.create_check_constraint(op.f("ck_outages_source"), _in("source", OUTAGE_SOURCES))
        batch_op.drop_index("uq_outages_one_open_per_component")
        batch_op.create_index(
            "uq_outages_one_open_per_component",
            ["component_id"],
            unique=True,
            postgresql_where=sa.text("ended_at IS NULL AND source = 'observed'"),
            sqlite_where=sa.text("ended_at IS NULL AND source = 'observed'"),
        )
        batch_op.create_index("ix_outages_component_ended", ["component_id", "ended_at"], unique=False)
    with op.batch_alter_table("outages") as batch_op:
        batch_op.alter_column("source", existing_type=sa.String(length=32), server_default=None)


def _contacts(table: str) -> None:
    with op.batch_alter_table(table) as batch_op:
        batch_op.add_column(sa.Column("extendable", sa.Boolean(), nullable=False, server_default=sa.text("true")))
        batch_op.add_column(sa.Column("email", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("webhook_url", sa.String(length=2048), nullable=True))
        batch_op.add_column(sa.Column("language", sa.String(length=32), nullable=True))
        batch_op.create_check_constraint(op.f(f"ck_{table}_language"), _in("language", LANGUAGES))


def _scratch_tables() -> None:
    op.create_table(
        "relief_run_cases",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("deadline", UTC, nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("extendable", sa.Boolean(), nullable=False),
        sa.Column("mask", BigId, nullable=False),
        sa.Column("group_no", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", "case_id"),
    )
    op.create_table(
        "relief_run_groups",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("group_no", sa.Integer(), nullable=False),
        sa.Column("deadline", UTC, nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("extendable", sa.Boolean(), nullable=False),
        sa.Column("mask", BigId, nullable=False),
        sa.Column("computed_deadline", UTC, nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("outage_ids", sa.JSON(), nullable=False),
        sa.Column("maintenance_ids", sa.JSON(), nullable=False),
        sa.Column("explanation", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "group_no"),
        _check("relief_run_groups", "status", GRANT_STATES),
    )
    with op.batch_alter_table("relief_run_groups") as batch_op:
        batch_op.create_index(
            "ix_relief_run_groups_key", ["run_id", "deadline", "time_zone", "extendable", "mask"], unique=False
        )
    op.create_table(
        "relief_run_outages",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("group_no", sa.Integer(), nullable=False),
        sa.Column("outage_id", BigId, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "group_no", "outage_id"),
    )


def downgrade() -> None:
    raise NotImplementedError("0003 adds history that a downgrade would lose; restore a backup taken before upgrading")
