"""Per-consumer outbox deliveries, watch state, outage evidence bounds, import jobs, CHECK-constrained enums

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

- `outage_events` (one claim and one attempt counter shared by relief and Slack) becomes
  `outbox_events` plus one `deliveries` row per consumer; pending events stay pending for both.
- The Slack message of an outage moves from `outages.slack_channel/slack_ts` to `notify_messages`.
- Components get their watch state; probes and locations when they became active; streaks their
  last slot, last failure and watched run; outages the last failed check, the gap, and why they ended.
- States, severities and kinds get CHECK constraints.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.storage.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = monitor.storage.types.UTCDateTime(timezone=True)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

ERROR_CLASSES = ("dns", "connect", "timeout", "tls", "status", "assertion")
SEVERITIES = ("degraded_performance", "partial_outage", "major_outage")
WATCH_STATES = ("watched", "unknown")
END_REASONS = ("recovered", "component_removed", "watch_removed")
EVENT_KINDS = ("opened", "resolved", "monitoring_lost", "monitoring_restored", "cases_imported", "delivery_failing")
CONSUMERS = ("relief", "slack")
DELIVERY_STATES = ("pending", "done", "superseded")
GRANT_STATES = ("provisional", "final")
IMPORT_STATES = ("uploading", "queued", "running", "succeeded", "rejected", "failed")


def _check(table: str, column: str, values: Sequence[str]) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{value}'" for value in values)
    # op.f(): the name is final; the models' naming convention must not prefix it a second time.
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=op.f(f"ck_{table}_{column}"))


def upgrade() -> None:
    op.create_table(
        "locations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("activated_at", UTC, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "notify_messages",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("marker", sa.String(length=64), nullable=False),
        sa.Column("destination", sa.String(length=128), nullable=True),
        sa.Column("external_id", sa.String(length=128), nullable=True),
        sa.Column("attempted_at", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "subject", name="uq_notify_messages_channel_subject"),
    )
    op.create_table(
        "outbox_events",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("outage_id", BigId, nullable=True),
        sa.Column("component_id", sa.String(length=64), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["component_id"], ["components.id"]),
        sa.ForeignKeyConstraint(["outage_id"], ["outages.id"]),
        sa.PrimaryKeyConstraint("id"),
        _check("outbox_events", "kind", EVENT_KINDS),
    )
    with op.batch_alter_table("outbox_events") as batch_op:
        batch_op.create_index("ix_outbox_events_outage_id", ["outage_id"], unique=False)
    op.create_table(
        "deliveries",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("event_id", BigId, nullable=False),
        sa.Column("consumer", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("available_at", UTC, nullable=False),
        sa.Column("claimed_at", UTC, nullable=True),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("alerted_at", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("done_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["outbox_events.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id", "consumer", name="uq_deliveries_event_consumer"),
        _check("deliveries", "consumer", CONSUMERS),
        _check("deliveries", "state", DELIVERY_STATES),
    )
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.create_index("ix_deliveries_due", ["state", "available_at"], unique=False)
        batch_op.create_index("ix_deliveries_subject", ["consumer", "subject"], unique=False)
    op.create_table(
        "import_jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("size_bytes", BigId, nullable=False),
        sa.Column("rows_read", BigId, nullable=False),
        sa.Column("imported", BigId, nullable=False),
        sa.Column("error_count", BigId, nullable=False),
        sa.Column("errors", sa.JSON(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("heartbeat_at", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("started_at", UTC, nullable=True),
        sa.Column("finished_at", UTC, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        _check("import_jobs", "state", IMPORT_STATES),
    )
    with op.batch_alter_table("import_jobs") as batch_op:
        batch_op.create_index("ix_import_jobs_state", ["state"], unique=False)
    op.create_table(
        "import_chunks",
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["import_jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", "seq"),
    )
    op.create_table(
        "import_rows",
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("line", BigId, nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("deadline", UTC, nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["import_jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", "line"),
    )
    with op.batch_alter_table("import_rows") as batch_op:
        batch_op.create_index("ix_import_rows_job_case", ["job_id", "case_id"], unique=False)
    op.create_table(
        "import_row_components",
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("line", BigId, nullable=False),
        sa.Column("component_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["import_jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", "line", "component_id"),
    )

    with op.batch_alter_table("components") as batch_op:
        batch_op.add_column(
            sa.Column("watch_state", sa.String(length=32), nullable=False, server_default="watched")
        )
        batch_op.add_column(sa.Column("watch_state_since", UTC, nullable=True))
        batch_op.add_column(sa.Column("last_check_at", UTC, nullable=True))
        batch_op.create_check_constraint(op.f("ck_components_watch_state"), _in("watch_state", WATCH_STATES))
    with op.batch_alter_table("components") as batch_op:
        batch_op.alter_column("watch_state", server_default=None)

    with op.batch_alter_table("probes") as batch_op:
        batch_op.add_column(sa.Column("activated_at", UTC, nullable=True))
    op.execute("UPDATE probes SET activated_at = created_at")
    with op.batch_alter_table("probes") as batch_op:
        batch_op.alter_column("activated_at", existing_type=UTC, nullable=False)

    with op.batch_alter_table("probe_states") as batch_op:
        batch_op.add_column(sa.Column("last_failed_at", UTC, nullable=True))
        batch_op.add_column(sa.Column("last_slot", UTC, nullable=True))
        batch_op.add_column(sa.Column("watched_since", UTC, nullable=True))

    with op.batch_alter_table("checks") as batch_op:
        batch_op.alter_column("error_class", existing_type=sa.String(length=16), type_=sa.String(length=32))
        batch_op.create_check_constraint(op.f("ck_checks_error_class"), _in("error_class", ERROR_CLASSES))

    with op.batch_alter_table("grants") as batch_op:
        batch_op.alter_column("status", existing_type=sa.String(length=16), type_=sa.String(length=32))
        batch_op.create_check_constraint(op.f("ck_grants_status"), _in("status", GRANT_STATES))

    with op.batch_alter_table("outages") as batch_op:
        batch_op.add_column(sa.Column("last_failed_at", UTC, nullable=True))
        batch_op.add_column(sa.Column("gap_at", UTC, nullable=True))
        batch_op.add_column(sa.Column("end_reason", sa.String(length=32), nullable=True))
        batch_op.create_check_constraint(op.f("ck_outages_end_reason"), _in("end_reason", END_REASONS))
        batch_op.create_check_constraint(op.f("ck_outages_severity"), _in("severity", SEVERITIES))
    _backfill_outages()
    _move_slack_messages()
    _move_outage_events()

    with op.batch_alter_table("outages") as batch_op:
        batch_op.drop_column("slack_channel")
        batch_op.drop_column("slack_ts")
    with op.batch_alter_table("outage_events") as batch_op:
        batch_op.drop_index("ix_outage_events_outage_id")
        batch_op.drop_index("ix_outage_events_pending")
    op.drop_table("outage_events")


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def _backfill_outages() -> None:
    # Ended outages ended because their probes recovered: that was the only way an outage ended before.
    op.execute("UPDATE outages SET end_reason = 'recovered' WHERE ended_at IS NOT NULL")
    # An open outage's provisional relief now stops at its last failed check: find it in the evidence.
    op.execute(
        """
        UPDATE outages SET last_failed_at = (
            SELECT max(checks.started_at) FROM checks JOIN probes ON probes.id = checks.probe_id
            WHERE probes.component_id = outages.component_id AND NOT checks.ok
              AND checks.started_at >= outages.started_at
        )
        WHERE ended_at IS NULL
        """
    )
    op.execute("UPDATE outages SET last_failed_at = started_at WHERE ended_at IS NULL AND last_failed_at IS NULL")


def _move_slack_messages() -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.text(
            "SELECT id, slack_channel, slack_ts, created_at FROM outages "
            "WHERE slack_channel IS NOT NULL AND slack_ts IS NOT NULL"
        )
    ).all()
    messages = sa.table(
        "notify_messages",
        sa.column("channel", sa.String),
        sa.column("subject", sa.String),
        sa.column("marker", sa.String),
        sa.column("destination", sa.String),
        sa.column("external_id", sa.String),
        sa.column("attempted_at", UTC),
        sa.column("created_at", UTC),
        sa.column("updated_at", UTC),
    )
    if rows:
        op.bulk_insert(
            messages,
            [
                {
                    "channel": "slack",
                    "subject": f"outage:{row.id}",
                    "marker": secrets.token_hex(12),
                    "destination": row.slack_channel,
                    "external_id": row.slack_ts,
                    "attempted_at": _aware(row.created_at),
                    "created_at": _aware(row.created_at),
                    "updated_at": _aware(row.created_at),
                }
                for row in rows
            ],
        )


def _move_outage_events() -> None:
    """Each old event becomes an outbox event with a relief and a Slack delivery; unfinished ones stay pending."""
    connection = op.get_bind()
    rows = connection.execute(
        sa.text(
            "SELECT e.id, e.outage_id, e.kind, e.created_at, e.available_at, e.attempts, e.processed_at, "
            "e.last_error, o.component_id FROM outage_events e JOIN outages o ON o.id = e.outage_id ORDER BY e.id"
        )
    ).all()
    events = sa.table(
        "outbox_events",
        sa.column("id", BigId),
        sa.column("kind", sa.String),
        sa.column("subject", sa.String),
        sa.column("outage_id", BigId),
        sa.column("component_id", sa.String),
        sa.column("created_at", UTC),
    )
    deliveries = sa.table(
        "deliveries",
        sa.column("event_id", BigId),
        sa.column("consumer", sa.String),
        sa.column("subject", sa.String),
        sa.column("state", sa.String),
        sa.column("attempts", sa.Integer),
        sa.column("available_at", UTC),
        sa.column("last_error", sa.Text),
        sa.column("created_at", UTC),
        sa.column("done_at", UTC),
    )
    for row in rows:
        subject = f"outage:{row.outage_id}"
        event_id = connection.execute(
            events.insert()
            .values(
                kind=row.kind,
                subject=subject,
                outage_id=row.outage_id,
                component_id=row.component_id,
                created_at=_aware(row.created_at),
            )
            .returning(events.c.id)
        ).scalar_one()
        done = row.processed_at is not None and row.last_error is None
        for consumer in CONSUMERS:
            connection.execute(
                deliveries.insert().values(
                    event_id=event_id,
                    consumer=consumer,
                    subject=subject,
                    # An event the old outbox gave up on (processed with an error) is owed again.
                    state="done" if done else "pending",
                    attempts=0,
                    available_at=_aware(row.available_at),
                    last_error=row.last_error,
                    created_at=_aware(row.created_at),
                    done_at=_aware(row.processed_at) if done else None,
                )
            )


def _aware(value: object) -> object:
    from datetime import UTC as utc
    from datetime import datetime

    if isinstance(value, str):  # SQLite hands back text for raw SELECTs
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=utc)
    return value


def downgrade() -> None:
    raise NotImplementedError("0002 moves data into new tables; restore a backup taken before upgrading instead")
