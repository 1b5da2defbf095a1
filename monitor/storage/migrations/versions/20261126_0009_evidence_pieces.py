"""Large pieces of evidence kept by digest; retention of passing checks that keeps the chain verifiable

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26

- `evidence_pieces`: one row per large piece of a check's evidence (a browser's screenshot), kept in
  the evidence store under its SHA-256; `(check_id, name)` unique; indexed by digest, so a file is
  removed only when no piece needs it any more.
- `checks.evidence_sha256`: the SHA-256 of the evidence text as recorded (the value the chain's digest
  covers), filled for every new check; `checks.evidence_pruned_at`: when retention dropped the text.
  Checks recorded before this revision keep NULL; retention fills the digest when it prunes one.
- `ix_checks_unpruned`: the checks retention has not looked at yet (partial: `evidence_pruned_at IS NULL`).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.storage.types

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = monitor.storage.types.UTCDateTime(timezone=True)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UNPRUNED = sa.text("evidence_pruned_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("checks") as batch_op:
        batch_op.add_column(sa.Column("evidence_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("evidence_pruned_at", UTC, nullable=True))
    op.create_index(
        "ix_checks_unpruned",
        "checks",
        ["ok", "started_at"],
        unique=False,
        postgresql_where=UNPRUNED,
        sqlite_where=UNPRUNED,
    )
    op.create_table(
        "evidence_pieces",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("check_id", BigId, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["check_id"], ["checks.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("check_id", "name", name="uq_evidence_pieces_check_name"),
    )
    op.create_index("ix_evidence_pieces_sha256", "evidence_pieces", ["sha256"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_evidence_pieces_sha256", table_name="evidence_pieces")
    op.drop_table("evidence_pieces")
    op.drop_index("ix_checks_unpruned", table_name="checks")
    with op.batch_alter_table("checks") as batch_op:
        batch_op.drop_column("evidence_pruned_at")
        batch_op.drop_column("evidence_sha256")
