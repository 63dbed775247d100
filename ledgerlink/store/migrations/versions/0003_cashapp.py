"""Cash application: matches of incoming payments (the worklist) and the rules people taught it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "cash_matches",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("entry_key", sa.Text(), nullable=False),
        sa.Column("account", sa.String(64), nullable=True),
        sa.Column("bank_reference", sa.Text(), nullable=True),
        sa.Column("value_date", sa.String(10), nullable=True),
        sa.Column("amount", sa.String(40), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("counterparty", sa.Text(), nullable=False),
        sa.Column("party_id", sa.String(64), nullable=True),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("confidence", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("allocations", sa.Text(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("unapplied", sa.String(40), nullable=False),
        sa.Column("unapplied_status", sa.String(16), nullable=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
        sa.Column("resolved_by", sa.String(200), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_cash_matches"),
        sa.UniqueConstraint("entry_key", name="uq_cash_matches_entry_key"),
    )
    op.create_index("ix_cash_matches_status_id", "cash_matches", ["status", "id"])
    op.create_index("ix_cash_matches_unapplied_status", "cash_matches", ["unapplied_status"])
    op.create_table(
        "cashapp_rules",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("party_id", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("match_id", BigId, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_cashapp_rules"),
        sa.UniqueConstraint("kind", "value", name="uq_cashapp_rules_kind_value"),
    )


def downgrade() -> None:
    op.drop_table("cashapp_rules")
    op.drop_index("ix_cash_matches_unapplied_status", table_name="cash_matches")
    op.drop_index("ix_cash_matches_status_id", table_name="cash_matches")
    op.drop_table("cash_matches")
