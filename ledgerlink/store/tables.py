"""Tables of the canonical store (SQLAlchemy Core).

The schema itself is created and changed only by the alembic migrations in
``ledgerlink/store/migrations``; this module describes it for queries and for the
migration check that compares both.

Conventions: timestamps are ISO-8601 UTC text (``2024-05-01T12:00:00.000000+00:00``),
so they sort as strings and read the same on SQLite and PostgreSQL; structured values
(payloads, lineage, totals, errors) are JSON text.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

# 64-bit ids on PostgreSQL; on SQLite an INTEGER PRIMARY KEY is the rowid (also 64-bit).
BigId = BigInteger().with_variant(Integer(), "sqlite")

RUN_STATUSES = ("running", "succeeded", "failed", "skipped")
QUARANTINE_STATUSES = ("open", "replayed", "discarded")

runs = Table(
    "runs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("feed", String(200), nullable=False),
    Column("entity", String(200), nullable=False),
    Column("mapping", Text, nullable=True),
    Column("source", Text, nullable=True),  # JSON: name, sha256, size, path
    Column("status", String(16), nullable=False),
    Column("started_at", String(40), nullable=False),
    Column("finished_at", String(40), nullable=True),
    Column("totals", Text, nullable=True),  # JSON: control totals
    Column("drift", Text, nullable=True),  # JSON list
    Column("error", Text, nullable=True),
    # Where a run from the command line runs: the next run of the feed marks it abandoned once that
    # process is gone. Empty for runs whose steps run in several processes (Airflow tasks).
    Column("host", String(255), nullable=True),
    Column("pid", Integer, nullable=True),
    Index(None, "feed", "started_at"),
)

records = Table(
    "records",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("entity", String(200), nullable=False),
    Column("natural_key", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("lineage", Text, nullable=False),
    Column("run_id", String(36), ForeignKey("runs.id"), nullable=False),
    Column("created_at", String(40), nullable=False),
    # Also how a key's head (its highest version) is found: see records.is_head.
    UniqueConstraint("entity", "natural_key", "version"),
)

feed_state = Table(
    "feed_state",
    metadata,
    Column("feed", String(200), primary_key=True),
    Column("cursor", Text, nullable=True),
    Column("boundary_keys", Text, nullable=False),  # JSON list
    Column("updated_at", String(40), nullable=False),
    Column("run_id", String(36), ForeignKey("runs.id"), nullable=True),
)

processed_files = Table(
    "processed_files",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("feed", String(200), nullable=False),
    Column("name", Text, nullable=False),
    Column("size", BigInteger, nullable=True),
    Column("sha256", String(64), nullable=False),
    Column("run_id", String(36), ForeignKey("runs.id"), nullable=False),
    Column("status", String(32), nullable=False),
    Column("processed_at", String(40), nullable=False),
    UniqueConstraint("feed", "sha256"),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("run_id", String(36), ForeignKey("runs.id"), nullable=False),
    Column("feed", String(200), nullable=False),
    Column("entity", String(200), nullable=False),
    Column("mapping", Text, nullable=True),
    Column("source_name", Text, nullable=True),
    Column("source_sha256", String(64), nullable=True),
    Column("row", Integer, nullable=True),
    Column("location", Text, nullable=True),
    Column("raw", Text, nullable=False),  # JSON: original source values
    Column("errors", Text, nullable=False),  # JSON list of {field, rule, message, mapping_line}
    Column("reason_code", String(100), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("resolved_at", String(40), nullable=True),
    Column("resolved_by", String(200), nullable=True),
    Column("resolution_run_id", String(36), ForeignKey("runs.id"), nullable=True),
    # sha256 of the source row and its errors' rules: the same bad row sent again while its entry is
    # open is counted on that entry (seen_count, last_run_id) instead of a second entry.
    Column("fingerprint", String(64), nullable=True),
    Column("seen_count", Integer, nullable=False, server_default="1"),
    Column("last_run_id", String(36), nullable=True),
    Column("last_seen_at", String(40), nullable=True),
    Index(None, "status", "feed", "reason_code"),
    Index(None, "feed", "fingerprint"),
    Index(None, "run_id"),
    # The console's filters, newest first.
    Index(None, "status", "id"),
    Index(None, "status", "reason_code"),
    Index(None, "source_name"),
    Index(None, "created_at"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", String(40), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(100), nullable=False),
    Column("subject", Text, nullable=False),
    Column("details", Text, nullable=False),  # canonical JSON
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # Each entry is the successor of exactly one other: a fork of the chain cannot commit.
    UniqueConstraint("prev_hash"),
    # The console searches the log by record, by user and by time.
    Index(None, "subject"),
    Index(None, "actor"),
    Index(None, "at"),
)

# How far the audit chain has been verified: the console checks only the entries appended since.
audit_checkpoint = Table(
    "audit_checkpoint",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("verified_id", BigId, nullable=False),
    Column("verified_hash", String(64), nullable=False),
    Column("checked", BigInteger, nullable=False),  # entries verified from the first up to verified_id
    Column("verified_at", String(40), nullable=False),
)

# Settings an admin changes in the console (each change audited with the old and new value).
settings = Table(
    "settings",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_by", String(200), nullable=False),
    Column("updated_at", String(40), nullable=False),
)

FINANCING_DECISIONS = ("eligible", "ineligible")
OUTBOX_STATUSES = ("pending", "in_flight", "sent", "dead")

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("kind", String(100), nullable=False),
    Column("idempotency_key", String(128), nullable=False),
    Column("payload", Text, nullable=False),  # JSON
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", String(40), nullable=False),
    Column("last_error", Text, nullable=True),  # scrubbed: no secrets, no account numbers
    Column("claimed_by", String(200), nullable=True),
    Column("claimed_until", String(40), nullable=True),
    Column("created_at", String(40), nullable=False),
    Column("sent_at", String(40), nullable=True),
    Column("response", Text, nullable=True),  # JSON
    UniqueConstraint("idempotency_key"),
    # Claiming reads due pending entries and expired in-flight leases.
    Index(None, "status", "next_attempt_at"),
    Index(None, "status", "claimed_until"),
)

financing_decisions = Table(
    "financing_decisions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("invoice_key", Text, nullable=False),  # natural key of the invoice record
    Column("invoice_hash", String(64), nullable=False),  # content hash of the version decided on
    Column("decision", String(16), nullable=False),
    Column("rule", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("details", Text, nullable=False),  # JSON: every check with its result
    Column("rules_version", String(64), nullable=False),
    Column("rules_hash", String(64), nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("outbox_id", BigId, ForeignKey("outbox.id"), nullable=True),
    Column("decided_at", String(40), nullable=False),
    Index(None, "invoice_key", "decided_at"),
    Index(None, "run_id"),
    Index(None, "decision"),  # the console's counts
)

MATCH_DECISIONS = ("auto", "suggest", "exception")
# open: in the worklist; applying: allocations decided (by the matcher or a person), their application
# to the ledger is in the outbox; applied: the ledger has them; rejected: not for cash application.
MATCH_STATUSES = ("open", "applying", "applied", "rejected")

cash_matches = Table(
    "cash_matches",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("entry_key", Text, nullable=False),  # natural key of the bank_transaction record
    Column("account", String(64), nullable=True),
    Column("bank_reference", Text, nullable=True),
    Column("value_date", String(10), nullable=True),
    Column("amount", String(40), nullable=False),  # decimal text
    Column("currency", String(3), nullable=False),
    Column("counterparty", Text, nullable=False),  # JSON: name, iban, remittance text, references
    Column("party_id", String(64), nullable=True),
    Column("decision", String(16), nullable=False),
    Column("confidence", String(8), nullable=False),
    Column("status", String(16), nullable=False),
    Column("allocations", Text, nullable=False),  # JSON list
    Column("evidence", Text, nullable=False),  # JSON: the matcher's result beyond allocations
    Column("unapplied", String(40), nullable=False),  # decimal text: cash left on the party
    Column("unapplied_status", String(16), nullable=True),  # open | resolved, when there is unapplied cash
    Column("run_id", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("resolved_by", String(200), nullable=True),
    Column("note", Text, nullable=True),
    UniqueConstraint("entry_key"),
    Index(None, "status", "id"),
    Index(None, "unapplied_status"),
)

cashapp_rules = Table(
    "cashapp_rules",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),  # iban | alias: what of a payment points at the party
    Column("value", Text, nullable=False),
    Column("party_id", String(64), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("match_id", BigId, nullable=True),  # the resolution that taught it
    UniqueConstraint("kind", "value"),
)
