"""Records without the index on their run.

No query looks records up by their run (a record's run is read through the record), so the index
only cost a write per record and its bytes on every load.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_records_run_id", table_name="records")


def downgrade() -> None:
    op.create_index("ix_records_run_id", "records", ["run_id"])
