"""The canonical store: versioned records, runs, feed state, quarantine and the audit log.

SQLite by default (``ledgerlink.config.store_url()``), PostgreSQL by URL. The schema is
owned by the alembic migrations in ``migrations/``, applied when a :class:`Store` opens.
"""

from ledgerlink.store.audit import AuditCheck
from ledgerlink.store.feedstate import FeedState, select_incremental
from ledgerlink.store.quarantine import QuarantineEntry
from ledgerlink.store.records import LoadResult, RecordBatch, StagedRecord
from ledgerlink.store.store import Store

__all__ = [
    "AuditCheck",
    "FeedState",
    "LoadResult",
    "QuarantineEntry",
    "RecordBatch",
    "StagedRecord",
    "Store",
    "select_incremental",
]
