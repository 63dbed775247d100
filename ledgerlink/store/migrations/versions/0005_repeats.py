"""Repeated quarantine rows and the process of a run.

An open quarantine entry keeps a fingerprint of its row and errors, how often the row was seen and the
last run that saw it, so a file sent again does not duplicate it; a run started from the command line
keeps the host and process id running it, so the next run can tell it was abandoned.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("quarantine", sa.Column("fingerprint", sa.String(64), nullable=True))
    op.add_column("quarantine", sa.Column("seen_count", sa.Integer(), nullable=False, server_default="1"))
    op.add_column("quarantine", sa.Column("last_run_id", sa.String(36), nullable=True))
    op.add_column("quarantine", sa.Column("last_seen_at", sa.String(40), nullable=True))
    op.create_index("ix_quarantine_feed_fingerprint", "quarantine", ["feed", "fingerprint"])
    op.add_column("runs", sa.Column("host", sa.String(255), nullable=True))
    op.add_column("runs", sa.Column("pid", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("runs", "pid")
    op.drop_column("runs", "host")
    op.drop_index("ix_quarantine_feed_fingerprint", table_name="quarantine")
    for column in ("last_seen_at", "last_run_id", "seen_count", "fingerprint"):
        op.drop_column("quarantine", column)
