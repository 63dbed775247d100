"""Financing: eligibility decisions and the transactional outbox.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.String(40), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("claimed_by", sa.String(200), nullable=True),
        sa.Column("claimed_until", sa.String(40), nullable=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("sent_at", sa.String(40), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("idempotency_key", name="uq_outbox_idempotency_key"),
    )
    op.create_index("ix_outbox_status_next_attempt_at", "outbox", ["status", "next_attempt_at"])
    op.create_index("ix_outbox_status_claimed_until", "outbox", ["status", "claimed_until"])

    op.create_table(
        "financing_decisions",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("invoice_key", sa.Text(), nullable=False),
        sa.Column("invoice_hash", sa.String(64), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("rules_version", sa.String(64), nullable=False),
        sa.Column("rules_hash", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("outbox_id", BigId, nullable=True),
        sa.Column("decided_at", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_financing_decisions"),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], name="fk_financing_decisions_outbox_id_outbox"),
    )
    op.create_index(
        "ix_financing_decisions_invoice_key_decided_at", "financing_decisions", ["invoice_key", "decided_at"]
    )
    op.create_index("ix_financing_decisions_run_id", "financing_decisions", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_financing_decisions_run_id", table_name="financing_decisions")
    op.drop_index("ix_financing_decisions_invoice_key_decided_at", table_name="financing_decisions")
    op.drop_table("financing_decisions")
    op.drop_index("ix_outbox_status_claimed_until", table_name="outbox")
    op.drop_index("ix_outbox_status_next_attempt_at", table_name="outbox")
    op.drop_table("outbox")
