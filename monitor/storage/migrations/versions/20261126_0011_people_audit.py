"""People with roles and API tokens, an append-only audit log chained by SHA-256, and the desk's notes on outages

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26

- `people`: who reads or acts through the ops API or the dashboard; `role` is viewer, ops or admin (a
  CHECK constraint like every enum); `password_hash` (a slow hash) for the dashboard's sign-in, NULL
  for someone who only uses tokens; `slack_user_id` unique when given.
- `api_tokens`: each person's bearer tokens, kept only as their SHA-256 (`token_hash`, unique) with the
  token's public `prefix` (unique) to name it by; revoked ones stay, with `revoked_at`.
- `audit_log`: one row per action (who, when, what, before → after, why), `id` counted from 1 with no
  gap, `prev_hash` and `hash` chaining each row to the one before it. `audit_head` is the log's one
  head row (the last id and hash), locked by every append so the chain cannot fork.
- `outage_acknowledgements` (one per outage) and `outage_updates` (public or internal notes).
- `outages.false_positive_at`: ops marked the outage a false positive; relief and the status page stop
  counting it.

Append-only on PostgreSQL: a trigger refuses every UPDATE and DELETE of `audit_log` rows, and
TRUNCATE, whoever asks; the application has no path that does either. Someone who owns the table can
still disable the trigger (or drop it), which is why each row is also chained: `python -m monitor
verify-audit` finds an edited, removed or inserted row whatever was done to the trigger. SQLite (the
embedded mode) has the chain only.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.storage.types

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = monitor.storage.types.UTCDateTime(timezone=True)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

ROLES = ("viewer", "ops", "admin")
AUDIT_ACTIONS = (
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
LANGUAGES = ("en", "fr")

APPEND_ONLY_FUNCTION = """
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'audit entries are never changed or removed; record a new action instead';
END
$$
"""
APPEND_ONLY_ROWS = """
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()
"""
APPEND_ONLY_TRUNCATE = """
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()
"""


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def _check(table: str, column: str, values: Sequence[str]) -> sa.CheckConstraint:
    # op.f(): the name is final; the models' naming convention must not prefix it a second time.
    return sa.CheckConstraint(_in(column, values), name=op.f(f"ck_{table}_{column}"))


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("slack_user_id", sa.String(length=32), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.text("true")),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("slack_user_id"),
        _check("people", "role", ROLES),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("person_id", BigId, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("last_used_at", UTC, nullable=True),
        sa.Column("revoked_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
        sa.UniqueConstraint("prefix"),
    )
    op.create_index("ix_api_tokens_person_id", "api_tokens", ["person_id"], unique=False)
    op.create_table(
        "audit_log",
        sa.Column("id", BigId, autoincrement=False, nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("actor_id", BigId, nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=True),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["people.id"]),
        sa.PrimaryKeyConstraint("id"),
        _check("audit_log", "action", AUDIT_ACTIONS),
    )
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_id", BigId, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "outage_acknowledgements",
        sa.Column("outage_id", BigId, nullable=False),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=False),
        sa.Column("person_id", BigId, nullable=True),
        sa.Column("acknowledged_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["outage_id"], ["outages.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"]),
        sa.PrimaryKeyConstraint("outage_id"),
    )
    op.create_table(
        "outage_updates",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("outage_id", BigId, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("language", sa.String(length=32), nullable=True),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("person_id", BigId, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["outage_id"], ["outages.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"]),
        sa.PrimaryKeyConstraint("id"),
        _check("outage_updates", "language", LANGUAGES),
    )
    op.create_index("ix_outage_updates_outage", "outage_updates", ["outage_id", "id"], unique=False)
    with op.batch_alter_table("outages") as batch_op:
        batch_op.add_column(sa.Column("false_positive_at", UTC, nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY_FUNCTION)
        op.execute(APPEND_ONLY_ROWS)
        op.execute(APPEND_ONLY_TRUNCATE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    with op.batch_alter_table("outages") as batch_op:
        batch_op.drop_column("false_positive_at")
    op.drop_index("ix_outage_updates_outage", table_name="outage_updates")
    op.drop_table("outage_updates")
    op.drop_table("outage_acknowledgements")
    op.drop_table("audit_head")
    op.drop_table("audit_log")
    op.drop_index("ix_api_tokens_person_id", table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_table("people")
