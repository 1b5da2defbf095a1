"""Checks say why they ran: on schedule, or to confirm at once what a scheduled check saw

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26

- `checks.kind`: `scheduled` (its slot is on the probe's interval grid) or `confirmation` (asked for
  the moment a probe's first failure or first success was recorded; its slot is that moment). Every
  check recorded before this revision was a scheduled one.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECK_KINDS = ("scheduled", "confirmation")


def upgrade() -> None:
    with op.batch_alter_table("checks") as batch_op:
        batch_op.add_column(
            sa.Column(
                "kind",
                sa.String(length=32),
                nullable=False,
                server_default="scheduled",
            )
        )
        batch_op.create_check_constraint(
            op.f("ck_checks_kind"), "kind IN (" + ", ".join(repr(kind) for kind in CHECK_KINDS) + ")"
        )


def downgrade() -> None:
    with op.batch_alter_table("checks") as batch_op:
        batch_op.drop_constraint(op.f("ck_checks_kind"), type_="check")
        batch_op.drop_column("kind")
