"""Heads found from the versions themselves: no record_heads table.

A key's head is its highest version, which the unique index on (entity, natural key, version)
finds with one lookup. The separate table of heads repeated each key and hash once more and had
to be kept in step on every load: a million-row load wrote about 150 bytes a record more for it
and ran a second bulk insert. Downgrading builds the table again from the versions.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_table("record_heads")


def downgrade() -> None:
    op.create_table(
        "record_heads",
        sa.Column("entity", sa.String(200), nullable=False),
        sa.Column("natural_key", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("entity", "natural_key"),
        sqlite_with_rowid=False,
    )
    op.execute("""
        INSERT INTO record_heads (entity, natural_key, version, content_hash)
        SELECT r.entity, r.natural_key, r.version, r.content_hash FROM records r
        WHERE NOT EXISTS (SELECT 1 FROM records newer WHERE newer.entity = r.entity
                          AND newer.natural_key = r.natural_key AND newer.version > r.version)""")
