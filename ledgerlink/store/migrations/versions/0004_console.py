"""The finance-ops console: indexes for its searches, the audit chain's verified-up-to checkpoint, settings.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

INDEXES = [
    ("ix_quarantine_status_id", "quarantine", ["status", "id"]),
    ("ix_quarantine_status_reason_code", "quarantine", ["status", "reason_code"]),
    ("ix_quarantine_source_name", "quarantine", ["source_name"]),
    ("ix_quarantine_created_at", "quarantine", ["created_at"]),
    ("ix_financing_decisions_decision", "financing_decisions", ["decision"]),
    ("ix_audit_log_subject", "audit_log", ["subject"]),
    ("ix_audit_log_actor", "audit_log", ["actor"]),
    ("ix_audit_log_at", "audit_log", ["at"]),
]


def upgrade() -> None:
    op.create_table(
        "audit_checkpoint",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("verified_id", BigId, nullable=False),
        sa.Column("verified_hash", sa.String(64), nullable=False),
        sa.Column("checked", sa.BigInteger(), nullable=False),
        sa.Column("verified_at", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_audit_checkpoint"),
    )
    op.create_table(
        "settings",
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_settings"),
    )
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
    # (status, feed) grows a third column: a page of one feed's rows of one rule reads only those.
    op.drop_index("ix_quarantine_status_feed", table_name="quarantine")
    op.create_index("ix_quarantine_status_feed_reason_code", "quarantine", ["status", "feed", "reason_code"])


def downgrade() -> None:
    op.drop_index("ix_quarantine_status_feed_reason_code", table_name="quarantine")
    op.create_index("ix_quarantine_status_feed", "quarantine", ["status", "feed"])
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_table("settings")
    op.drop_table("audit_checkpoint")
