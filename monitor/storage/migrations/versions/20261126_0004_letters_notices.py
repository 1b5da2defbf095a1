"""Letters anyone can verify, employers' letter requests, notices to holders, access codes as slow hashes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26

- `letters`: every signed letter (extension notice, paper-filing exemption, outage attestation),
  owed as a pending row in the transaction of the decision it rests on, issued once signed;
  `(kind, case_id, basis)` unique so a repeated relief run owes nothing twice; the verification
  code unique.
- `letter_requests`: what an employer or representative asked for and what the record answered.
- `notices`: one row per letter and channel (email, webhook), claimed and retried like the outbox.
- Cases (and staged import rows) keep the holder's access code, only as a slow hash.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.storage.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = monitor.storage.types.UTCDateTime(timezone=True)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

LETTER_KINDS = ("extension", "paper_filing", "attestation")
LETTER_STATES = ("pending", "issued")
LANGUAGES = ("en", "fr")
NOTICE_CHANNELS = ("email", "webhook")
NOTICE_STATES = ("pending", "sent")


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def _check(table: str, column: str, values: Sequence[str]) -> sa.CheckConstraint:
    # op.f(): the name is final; the models' naming convention must not prefix it a second time.
    return sa.CheckConstraint(_in(column, values), name=op.f(f"ck_{table}_{column}"))


def upgrade() -> None:
    for table in ("cases", "import_rows"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("access_hash", sa.String(length=200), nullable=True))

    op.create_table(
        "letter_requests",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("component_id", sa.String(length=64), nullable=False),
        sa.Column("attempted_at", UTC, nullable=False),
        sa.Column("organisation", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("language", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        _check("letter_requests", "language", LANGUAGES),
        _check("letter_requests", "outcome", LETTER_KINDS),
    )

    op.create_table(
        "letters",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=16), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=True),
        sa.Column("request_id", BigId, nullable=True),
        sa.Column("basis", sa.String(length=64), nullable=False),
        sa.Column("component_id", sa.String(length=64), nullable=True),
        sa.Column("outage_ids", sa.JSON(), nullable=False),
        sa.Column("window_start", UTC, nullable=True),
        sa.Column("window_end", UTC, nullable=True),
        sa.Column("original_deadline", UTC, nullable=True),
        sa.Column("new_deadline", UTC, nullable=True),
        sa.Column("paper_from", UTC, nullable=True),
        sa.Column("paper_until", UTC, nullable=True),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=32), nullable=True),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("evidence_digest", sa.String(length=64), nullable=True),
        sa.Column("pdf", sa.LargeBinary(), nullable=True),
        sa.Column("pdf_sha256", sa.String(length=64), nullable=True),
        sa.Column("issued_at", UTC, nullable=True),
        sa.Column("superseded_by", sa.String(length=16), nullable=True),
        sa.Column("superseded_at", UTC, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_at", UTC, nullable=True),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["letter_requests.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
        sa.UniqueConstraint("kind", "case_id", "basis", name="uq_letters_kind_case_basis"),
        _check("letters", "kind", LETTER_KINDS),
        _check("letters", "state", LETTER_STATES),
        _check("letters", "language", LANGUAGES),
    )
    with op.batch_alter_table("letters") as batch_op:
        batch_op.create_index("ix_letters_case", ["case_id", "kind"], unique=False)
        batch_op.create_index("ix_letters_state", ["state", "id"], unique=False)
        batch_op.create_index("ix_letters_request_id", ["request_id"], unique=False)
        batch_op.create_index("ix_letters_pdf_sha256", ["pdf_sha256"], unique=False)

    op.create_table(
        "notices",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("letter_id", BigId, nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("destination", sa.String(length=2048), nullable=False),
        sa.Column("language", sa.String(length=32), nullable=True),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("available_at", UTC, nullable=False),
        sa.Column("claimed_at", UTC, nullable=True),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("permanent_failure", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("sent_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(["letter_id"], ["letters.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("letter_id", "channel", name="uq_notices_letter_channel"),
        sa.UniqueConstraint("message_id"),
        _check("notices", "channel", NOTICE_CHANNELS),
        _check("notices", "state", NOTICE_STATES),
        _check("notices", "language", LANGUAGES),
    )
    with op.batch_alter_table("notices") as batch_op:
        batch_op.create_index("ix_notices_due", ["state", "available_at"], unique=False)
        batch_op.create_index("ix_notices_case_id", ["case_id"], unique=False)


def downgrade() -> None:
    raise NotImplementedError("0004 adds issued letters that a downgrade would lose; restore a backup instead")
