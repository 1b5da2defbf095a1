"""Slack that acts: acknowledgements, updates and reminders reach Slack; who set a person's Slack id

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26

- Event kinds `acknowledged` (the outage's message shows who is on it), `update_posted` (a note,
  posted as a reply to the outage's message) and `reminder` (still unacknowledged) join the CHECK
  constraint.
- Audit action `slack_user_set` (`python -m monitor set-slack-user`) joins the audit log's.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

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
    "severity_changed",
    "reopened",
)
NEW_EVENT_KINDS = ("acknowledged", "update_posted", "reminder")
EVENT_KINDS = (*OLD_EVENT_KINDS, *NEW_EVENT_KINDS)
OLD_AUDIT_ACTIONS = (
    "outage_declared",
    "outage_corrected",
    "outage_false_positive",
    "outage_acknowledged",
    "outage_update_posted",
    "maintenance_announced",
    "maintenance_cancelled",
    "cases_imported",
    "person_created",
    "password_set",
    "token_created",
    "token_revoked",
)
AUDIT_ACTIONS = (*OLD_AUDIT_ACTIONS, "slack_user_set")


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def _replace_check(table: str, column: str, values: Sequence[str]) -> None:
    with op.batch_alter_table(table) as batch_op:
        batch_op.drop_constraint(op.f(f"ck_{table}_{column}"), type_="check")
        batch_op.create_check_constraint(op.f(f"ck_{table}_{column}"), _in(column, values))


def upgrade() -> None:
    _replace_check("outbox_events", "kind", EVENT_KINDS)
    _replace_check("audit_log", "action", AUDIT_ACTIONS)


def downgrade() -> None:
    bind = op.get_bind()
    # The audit log is append-only (a trigger on PostgreSQL, the chain everywhere): its entries are never
    # removed, so an entry the older schema cannot name stops the downgrade instead.
    if bind.execute(sa.text("SELECT 1 FROM audit_log WHERE action = 'slack_user_set' LIMIT 1")).first():
        raise RuntimeError("the audit log records Slack ids being set; the older schema cannot hold those entries")
    kinds = ", ".join(repr(kind) for kind in NEW_EVENT_KINDS)
    # Slack-only events: their deliveries go with them (nothing else acts on them).
    op.execute(f"DELETE FROM deliveries WHERE event_id IN (SELECT id FROM outbox_events WHERE kind IN ({kinds}))")
    op.execute(f"DELETE FROM outbox_events WHERE kind IN ({kinds})")
    _replace_check("audit_log", "action", OLD_AUDIT_ACTIONS)
    _replace_check("outbox_events", "kind", OLD_EVENT_KINDS)
