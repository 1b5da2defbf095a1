"""A check's error class may be `probe`: the probe itself could not run, which says nothing about the portal

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26

- `checks.error_class` gains `probe` (a runner that raised, a browser that cannot start): such a
  check is stored and chained as evidence about the worker, and never counted against the portal.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_ERROR_CLASSES = ("dns", "connect", "timeout", "tls", "status", "assertion")
ERROR_CLASSES = (*OLD_ERROR_CLASSES, "probe")


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def upgrade() -> None:
    with op.batch_alter_table("checks") as batch_op:
        batch_op.drop_constraint(op.f("ck_checks_error_class"), type_="check")
        batch_op.create_check_constraint(op.f("ck_checks_error_class"), _in("error_class", ERROR_CLASSES))


def downgrade() -> None:
    # Rewriting a `probe` check's class would break the check log's chain at it: refuse instead.
    if op.get_bind().execute(sa.text("SELECT 1 FROM checks WHERE error_class = 'probe' LIMIT 1")).first():
        raise RuntimeError("checks of error class 'probe' are recorded; the older schema cannot hold them")
    with op.batch_alter_table("checks") as batch_op:
        batch_op.drop_constraint(op.f("ck_checks_error_class"), type_="check")
        batch_op.create_check_constraint(op.f("ck_checks_error_class"), _in("error_class", OLD_ERROR_CLASSES))
