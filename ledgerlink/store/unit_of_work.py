"""A unit of work: one store transaction for a domain step whose reads and writes commit together.

    with store.unit_of_work() as work:
        work.lock_entity("financing_event")
        if not work.record_exists("financing_event", event_id):
            run_id = work.start_run(...)
            work.write_versions(run_id, "financing_event", [...])
            work.audit("financing.webhook", f"run:{run_id}", {...})

Everything commits when the block ends, or nothing if it raises. The audit entries of a unit of
work, its own and those of the repositories reached from it (``work.outbox``,
``work.financing``), are appended together when it commits: one lock, one read of the chain's
last hash, one bulk insert.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection

from ledgerlink.store import audit as audit_mod
from ledgerlink.store import feedstate as feedstate_mod
from ledgerlink.store import records as records_mod
from ledgerlink.store import runs as runs_mod
from ledgerlink.store.cashapp import CashappRepository
from ledgerlink.store.db import PG_LOCK_CLASS_ENTITY, entity_lock_key, pg_lock
from ledgerlink.store.feedstate import FeedState
from ledgerlink.store.financing import FinancingRepository
from ledgerlink.store.outbox import Outbox
from ledgerlink.store.records import Records
from ledgerlink.store.repository import StoreAccess

DEFAULT_ACTOR = "ledgerlink"


class UnitOfWork:
    """Made by :meth:`Store.unit_of_work`; its methods join that one transaction."""

    def __init__(self, store: StoreAccess, conn: Connection) -> None:
        self._store = store
        self._conn = conn
        self._audit: list[audit_mod.AuditEntry] = []
        self.outbox = Outbox(store, work=self)
        self.financing = FinancingRepository(store, work=self)
        self.cashapp = CashappRepository(store, work=self)

    def lock_entity(self, entity: str) -> None:
        """Wait for other units of work and loads of ``entity``, and keep them waiting until this one
        ends (PostgreSQL; SQLite admits one writer at a time anyway)."""
        pg_lock(self._conn, entity_lock_key(entity), lock_class=PG_LOCK_CLASS_ENTITY)

    # -- records and runs -----------------------------------------------------------------------

    def record_exists(self, entity: str, natural_key: str) -> bool:
        return records_mod.has_key(self._conn, entity, natural_key)

    def find_records(self, entity: str, natural_keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Current versions of those keys that exist, by natural key (as :meth:`Store.find_records`)."""
        return records_mod.find(self._conn, entity, natural_keys)

    def write_versions(self, run_id: str, entity: str, records: Records) -> tuple[int, int, int]:
        """A new version for each new or changed key; returns ``(inserted, updated, unchanged)``."""
        return records_mod.upsert(self._conn, run_id, entity, records)

    def start_run(self, feed: str, entity: str, *, source: dict | None = None) -> str:
        """A run of ``feed``; unlike :meth:`Store.start_run` not audited: the unit's own entry says what it did."""
        return runs_mod.start(self._conn, feed, entity, source=source)

    def versions_after(self, entity: str, position: int, limit: int = 1000) -> list[tuple[int, dict[str, Any]]]:
        """Versions of ``entity`` written after ``position``, oldest first, each with its position (for a
        step that looks at each new version once, keeping the last position it saw as its feed state).
        Take :meth:`lock_entity` first: then no load of the entity is half-way and none is skipped."""
        return records_mod.written_after(self._conn, entity, position, limit)

    def finish_run(self, run_id: str, status: str, *, totals: dict | None = None,
                   findings: list[dict[str, Any]] | None = None) -> None:
        """Finish a run; ``findings`` (what a person should look at) show with the run, as a load's do."""
        runs_mod.finish(self._conn, run_id, status, totals=totals, drift=findings)

    def get_feed_state(self, feed: str) -> FeedState:
        return feedstate_mod.get(self._conn, feed)

    def put_feed_state(self, feed: str, state: FeedState, run_id: str) -> None:
        feedstate_mod.put(self._conn, feed, state, run_id)

    # -- audit ------------------------------------------------------------------------------------

    def audit(self, action: str, subject: str, details: dict[str, Any], *, actor: str = DEFAULT_ACTOR) -> None:
        """Add an entry to the audit log when this unit of work commits."""
        self._audit.append(audit_mod.AuditEntry(action, subject, details, actor))

    def _commit_audit(self) -> None:
        entries, self._audit = self._audit, []
        audit_mod.append_many(self._conn, entries)
