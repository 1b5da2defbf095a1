"""The check log chained: each check's digest covers what it records and the check before it

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26

- `checks.prev_digest`, `checks.digest`: SHA-256 (hex) links of each (probe, location) chain.
  Checks recorded before this revision keep none; the chain starts with the first check after it.
- `probe_states.last_digest`: the head of the chain, so recording a check reads no other check.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("checks") as batch_op:
        batch_op.add_column(sa.Column("prev_digest", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("digest", sa.String(length=64), nullable=True))
    with op.batch_alter_table("probe_states") as batch_op:
        batch_op.add_column(sa.Column("last_digest", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("probe_states") as batch_op:
        batch_op.drop_column("last_digest")
    with op.batch_alter_table("checks") as batch_op:
        batch_op.drop_column("digest")
        batch_op.drop_column("prev_digest")
