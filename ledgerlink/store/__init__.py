"""The canonical store: versioned records, runs, feed state, quarantine, the audit log, the outbox,
financing decisions and cash application's matches.

SQLite by default (``ledgerlink.config.store_url()``), PostgreSQL by URL. The schema is
owned by the alembic migrations in ``migrations/``, applied when a :class:`Store` opens.
Only this package knows the tables: other modules call the :class:`Store`, its repositories
(``store.outbox``, ``store.financing``, ``store.cashapp``) and its units of work (``store.unit_of_work()``).
"""

from ledgerlink.store.audit import AuditCheck
from ledgerlink.store.cashapp import CashappRepository, CashMatch, LearnedRule, NewMatch
from ledgerlink.store.feedstate import FeedState, select_incremental
from ledgerlink.store.financing import (
    FinancingRepository,
    NewDecision,
    RecordedDecisions,
    Submission,
    encode_checks,
)
from ledgerlink.store.outbox import Outbox, OutboxEntry, OutboxPolicy, OutboxRequest
from ledgerlink.store.quarantine import QuarantineEntry
from ledgerlink.store.records import LoadResult, RecordBatch, Records, StagedRecord, staged_table
from ledgerlink.store.store import Store
from ledgerlink.store.unit_of_work import UnitOfWork

__all__ = [
    "AuditCheck",
    "CashMatch",
    "CashappRepository",
    "FeedState",
    "FinancingRepository",
    "LearnedRule",
    "LoadResult",
    "NewDecision",
    "NewMatch",
    "Outbox",
    "OutboxEntry",
    "OutboxPolicy",
    "OutboxRequest",
    "QuarantineEntry",
    "RecordBatch",
    "Records",
    "RecordedDecisions",
    "StagedRecord",
    "Store",
    "Submission",
    "UnitOfWork",
    "encode_checks",
    "select_incremental",
    "staged_table",
]
