"""Financing decisions: one row per invoice decided, with the rule that decided it and the outbox
entry (the submission to the platform) an eligible decision enqueued in the same transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, select, update

from ledgerlink.errors import StoreError
from ledgerlink.store.db import (
    ID_CHUNK,
    PG_LOCK_CLASS_ENTITY,
    dumps,
    entity_lock_key,
    execute_many,
    pg_lock,
    utcnow,
)
from ledgerlink.store.outbox import DEFAULT_ACTOR, OutboxRequest
from ledgerlink.store.repository import Repository
from ledgerlink.store.tables import financing_decisions, outbox, records

INVOICE_ENTITY = "invoice"  # decisions are made on versions of invoice records


@dataclass(frozen=True)
class NewDecision:
    """A decision to record; ``submission`` is the request an eligible one enqueues."""

    invoice_key: str  # natural key of the invoice record
    invoice_hash: str  # content hash of the version decided on
    decision: str  # eligible | ineligible
    rule: str
    reason: str
    checks: list[dict[str, Any]] | str  # every check with its result, or that list as JSON text (encode_checks)
    rules_version: str
    rules_hash: str
    run_id: str
    submission: OutboxRequest | None = None


def encode_checks(checks: list[dict[str, Any]] | str) -> str:
    """A decision's checks as stored. A decider of thousands of invoices encodes each decision's checks as
    it makes it, so that it does not hold thousands of small dicts until they are stored."""
    return checks if isinstance(checks, str) else dumps(checks)


@dataclass(frozen=True)
class Submission:
    """An invoice's submission: the earliest decision that enqueued it, and its outbox entry's status."""

    invoice_key: str
    outbox_id: int
    outbox_status: str
    run_id: str
    decided_at: str


@dataclass(frozen=True)
class RecordedDecisions:
    rows: list[dict[str, Any]]  # the decisions as stored, each with its outbox_id (or None)
    enqueued: int  # new outbox entries (a submission enqueued before is not counted)


class FinancingRepository(Repository):
    """``store.financing``, or ``work.financing`` in a unit of work."""

    # -- deciding -----------------------------------------------------------------------------------

    def lock_decisions(self) -> None:
        """Keep other deciders waiting until this unit of work ends: two decide runs at once would
        each see the other's invoices as not yet submitted."""
        if self._work is None:
            raise StoreError("lock_decisions() holds only within a unit of work (work.financing)")
        pg_lock(self._work._conn, entity_lock_key("financing_decisions"), lock_class=PG_LOCK_CLASS_ENTITY)

    def submissions(self, invoice_keys: Sequence[str]) -> dict[str, Submission]:
        """The invoices among ``invoice_keys`` that a decision submitted, with the earliest such decision."""
        query = (
            select(
                financing_decisions.c.invoice_key,
                financing_decisions.c.outbox_id,
                financing_decisions.c.run_id,
                financing_decisions.c.decided_at,
                outbox.c.status,
            )
            .join(outbox, outbox.c.id == financing_decisions.c.outbox_id)
            .where(financing_decisions.c.invoice_key.in_(bindparam("keys", expanding=True)))
            .order_by(financing_decisions.c.id.desc())
        )
        keys = list(invoice_keys)
        found: dict[str, Submission] = {}
        with self._reading() as conn:
            for start in range(0, len(keys), ID_CHUNK):
                for row in conn.execute(query, {"keys": keys[start : start + ID_CHUNK]}):
                    found[row.invoice_key] = Submission(row.invoice_key, row.outbox_id, row.status, row.run_id,
                                                        row.decided_at)
        return found

    def record_decisions(self, decisions: Sequence[NewDecision], *, actor: str = DEFAULT_ACTOR) -> RecordedDecisions:
        """Store the decisions and enqueue their submissions, in one transaction and in bulk."""
        with self._writing() as work:
            enqueued = iter(work.outbox.enqueue_ids(
                [d.submission for d in decisions if d.submission is not None], actor=actor))
            decided_at = utcnow()
            rows, new = [], 0
            for d in decisions:
                outbox_id = None
                if d.submission is not None:
                    outbox_id, is_new = next(enqueued)
                    new += is_new
                rows.append({
                    "invoice_key": d.invoice_key, "invoice_hash": d.invoice_hash, "decision": d.decision,
                    "rule": d.rule, "reason": d.reason, "details": encode_checks(d.checks),
                    "rules_version": d.rules_version,
                    "rules_hash": d.rules_hash, "run_id": d.run_id, "outbox_id": outbox_id, "decided_at": decided_at,
                })
            execute_many(work._conn, insert(financing_decisions), rows)
        return RecordedDecisions(rows, new)

    def decisions_of(self, invoice_key: str, limit: int = 20) -> list[dict[str, Any]]:
        """Decisions of one invoice, newest first, with their checks parsed (``details``)."""
        query = (
            select(financing_decisions)
            .where(financing_decisions.c.invoice_key == invoice_key)
            .order_by(financing_decisions.c.id.desc())
            .limit(limit)
        )
        with self._reading() as conn:
            rows = [dict(row._mapping) for row in conn.execute(query)]
        return [{**row, "details": json.loads(row["details"])} for row in rows]

    # -- sending ------------------------------------------------------------------------------------

    def decided_invoices(self, entry_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Outbox entry id -> the invoice version its (first) decision was made on; later versions do
        not change a request. Entries without a decision, or whose version is gone, are left out."""
        first = (
            select(financing_decisions.c.outbox_id, func.min(financing_decisions.c.id).label("decision_id"))
            .where(financing_decisions.c.outbox_id.in_(bindparam("ids", expanding=True)))
            .group_by(financing_decisions.c.outbox_id)
            .subquery()
        )
        query = (
            select(first.c.outbox_id, records.c.payload)
            .join(financing_decisions, financing_decisions.c.id == first.c.decision_id)
            .join(records, and_(records.c.entity == INVOICE_ENTITY,
                                records.c.natural_key == financing_decisions.c.invoice_key,
                                records.c.content_hash == financing_decisions.c.invoice_hash))
            .order_by(records.c.version.desc())
        )
        ids = sorted(set(entry_ids))
        found: dict[int, dict[str, Any]] = {}
        with self._reading() as conn:
            for start in range(0, len(ids), ID_CHUNK):
                for outbox_id, payload in conn.execute(query, {"ids": ids[start : start + ID_CHUNK]}):
                    found[outbox_id] = json.loads(payload)  # versions newest first: the oldest one stays
        return found

    def record_batch(self, key: str, entry_ids: Sequence[int], *, worker: str, actor: str = DEFAULT_ACTOR) -> None:
        """Write a platform batch (its idempotency key and entry ids) into its entries before the first
        send, so that every later send repeats it exactly (audited)."""
        batch = {"key": key, "entries": list(entry_ids)}
        with self._writing() as work:
            work._conn.execute(
                update(outbox)
                .where(outbox.c.id.in_(bindparam("ids", expanding=True)))
                .values(response=dumps({"batch": batch})),
                {"ids": list(entry_ids)},
            )
            work.audit("financing.batch", f"batch:{key}", {"entries": list(entry_ids), "worker": worker},
                       actor=actor)

    # -- figures ------------------------------------------------------------------------------------

    def decided_and_sent_times(self, kind: str) -> list[tuple[str, str]]:
        """(first decision, recorded send) timestamps of every sent outbox entry of ``kind``."""
        first_decision = (
            select(financing_decisions.c.outbox_id, func.min(financing_decisions.c.decided_at).label("decided_at"))
            .where(financing_decisions.c.outbox_id.is_not(None))
            .group_by(financing_decisions.c.outbox_id)
            .subquery()
        )
        query = (
            select(first_decision.c.decided_at, outbox.c.sent_at)
            .join(outbox, outbox.c.id == first_decision.c.outbox_id)
            .where(outbox.c.kind == kind, outbox.c.status == "sent")
        )
        with self._reading() as conn:
            return [(decided, sent) for decided, sent in conn.execute(query)]
