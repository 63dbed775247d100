"""Cash application's worklist: one match per incoming bank entry, and the rules people taught.

A match is written when the matcher has looked at an entry: ``applying`` when its allocations are
decided (an automatic match, or a person's resolution) and their application to the ledger waits in
the outbox, written in the same transaction; ``open`` while it waits in the worklist (a suggestion or
an exception); ``applied`` once the ledger has every allocation; ``rejected`` when a person says it is
not a customer's payment. Cash left over on a party (an overpayment, a payment nobody could place) is
tracked as ``unapplied`` until someone settles it. Every change is audited with who made it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ledgerlink.errors import StoreError
from ledgerlink.store.db import ID_CHUNK, dumps, utcnow
from ledgerlink.store.outbox import DEFAULT_ACTOR, OutboxRequest
from ledgerlink.store.repository import Repository
from ledgerlink.store.tables import MATCH_DECISIONS, MATCH_STATUSES, cash_matches, cashapp_rules

RULE_KINDS = ("iban", "alias")


@dataclass(frozen=True)
class NewMatch:
    """The matcher's result for one incoming entry, as stored (amounts and confidence as decimal text)."""

    entry_key: str
    account: str | None
    bank_reference: str | None
    value_date: str | None
    amount: str
    currency: str
    counterparty: dict[str, Any]  # name, iban, remittance text, references
    party_id: str | None
    decision: str  # auto | suggest | exception
    confidence: str
    allocations: list[dict[str, Any]]
    evidence: dict[str, Any]
    unapplied: str = "0"
    applications: tuple[OutboxRequest, ...] = ()  # the ledger postings an automatic match enqueues


@dataclass(frozen=True)
class CashMatch:
    id: int
    entry_key: str
    account: str | None
    bank_reference: str | None
    value_date: str | None
    amount: str
    currency: str
    counterparty: dict[str, Any]
    party_id: str | None
    decision: str
    confidence: str
    status: str
    allocations: list[dict[str, Any]]
    evidence: dict[str, Any]
    unapplied: str
    unapplied_status: str | None
    run_id: str
    created_at: str
    updated_at: str
    resolved_by: str | None
    note: str | None


@dataclass(frozen=True)
class LearnedRule:
    """What a person taught: payments with this IBAN (or payer name) come from that party."""

    kind: str  # iban | alias
    value: str
    party_id: str
    created_by: str = ""
    created_at: str = ""
    match_id: int | None = None


def _match(row: Any) -> CashMatch:
    data = dict(row._mapping)
    for name in ("counterparty", "allocations", "evidence"):
        data[name] = json.loads(data[name])
    return CashMatch(**data)


def _has_cash_left(amount: str) -> bool:
    return amount not in ("", "0") and amount.lstrip("-").strip("0.") != ""


class CashappRepository(Repository):
    """``store.cashapp``, or ``work.cashapp`` in a unit of work."""

    # -- the matcher's results ------------------------------------------------------------------------

    def unmatched(self, entry_keys: Sequence[str]) -> list[str]:
        """Those of ``entry_keys`` that have no match yet, in the given order."""
        query = select(cash_matches.c.entry_key).where(cash_matches.c.entry_key.in_(bindparam("keys", expanding=True)))
        seen: set[str] = set()
        keys = list(dict.fromkeys(entry_keys))
        with self._reading() as conn:
            for start in range(0, len(keys), ID_CHUNK):
                seen.update(conn.execute(query, {"keys": keys[start:start + ID_CHUNK]}).scalars())
        return [k for k in keys if k not in seen]

    def record_matches(self, run_id: str, matches: Sequence[NewMatch], *, actor: str = DEFAULT_ACTOR) -> int:
        """Store the matcher's results and enqueue the automatic matches' postings, in one transaction.
        An entry matched before is refused (the caller asks :meth:`unmatched` first)."""
        for m in matches:
            if m.decision not in MATCH_DECISIONS:
                raise StoreError(f"cash match of {m.entry_key}: unknown decision {m.decision!r}")
        stamp = utcnow()
        rows = [{
            "entry_key": m.entry_key, "account": m.account, "bank_reference": m.bank_reference,
            "value_date": m.value_date, "amount": m.amount, "currency": m.currency,
            "counterparty": dumps(m.counterparty), "party_id": m.party_id, "decision": m.decision,
            "confidence": m.confidence, "status": "applying" if m.applications else "open",
            "allocations": dumps(m.allocations), "evidence": dumps(m.evidence), "unapplied": m.unapplied,
            "unapplied_status": "open" if _has_cash_left(m.unapplied) else None,
            "run_id": run_id, "created_at": stamp, "updated_at": stamp,
        } for m in matches]
        with self._writing() as work:
            if rows:
                work._conn.execute(insert(cash_matches), rows)
            work.outbox.enqueue_many([a for m in matches for a in m.applications], actor=actor)
            for m in matches:
                work.audit("cashapp.match", f"bank_transaction:{m.entry_key}", {
                    "run_id": run_id, "decision": m.decision, "confidence": m.confidence, "party_id": m.party_id,
                    "allocations": m.allocations, "unapplied": m.unapplied,
                    "postings": [a.key for a in m.applications]}, actor=actor)
        return len(rows)

    # -- the worklist ---------------------------------------------------------------------------------

    def get(self, match_id: int) -> CashMatch:
        with self._reading() as conn:
            row = conn.execute(select(cash_matches).where(cash_matches.c.id == match_id)).first()
        if row is None:
            raise StoreError(f"no cash match with id {match_id}")
        return _match(row)

    def worklist(self, *, status: str | None = "open", limit: int = 100, after_id: int = 0) -> list[CashMatch]:
        """Matches oldest first, of one status (``None``: all), after ``after_id`` (paging)."""
        if status is not None and status not in MATCH_STATUSES:
            raise StoreError(f"unknown cash match status {status!r}; expected one of {', '.join(MATCH_STATUSES)}")
        query = select(cash_matches).where(cash_matches.c.id > after_id).order_by(cash_matches.c.id).limit(limit)
        if status is not None:
            query = query.where(cash_matches.c.status == status)
        with self._reading() as conn:
            return [_match(row) for row in conn.execute(query)]

    def counts(self) -> dict[str, dict[str, int]]:
        """Matches by decision and by status."""
        with self._reading() as conn:
            by_decision: dict[str, int] = dict(conn.execute(select(cash_matches.c.decision, func.count())
                                            .group_by(cash_matches.c.decision)).all())
            by_status: dict[str, int] = dict(conn.execute(select(cash_matches.c.status, func.count())
                                          .group_by(cash_matches.c.status)).all())
        return {"decision": by_decision, "status": by_status}

    def resolve(self, match_id: int, *, party_id: str | None, allocations: list[dict[str, Any]],
                applications: Sequence[OutboxRequest], unapplied: str, teach: Sequence[LearnedRule] = (),
                actor: str, note: str | None = None) -> CashMatch:
        """A person's decision on an open match: the allocations to post (enqueued now) and the rules it
        teaches (used by later matching)."""
        with self._writing() as work:
            current = self._locked_open(work, match_id)
            evidence = {**current.evidence, "postings": [a.key for a in applications]}
            work._conn.execute(update(cash_matches).where(cash_matches.c.id == match_id).values(
                party_id=party_id, allocations=dumps(allocations), evidence=dumps(evidence),
                status="applying" if applications else "applied",
                unapplied=unapplied, unapplied_status="open" if _has_cash_left(unapplied) else None,
                updated_at=utcnow(), resolved_by=actor, note=note))
            work.outbox.enqueue_many(list(applications), actor=actor)
            taught = self._teach(work, teach, actor=actor, match_id=match_id)
            work.audit("cashapp.resolve", f"bank_transaction:{current.entry_key}", {
                "match_id": match_id, "was": current.decision, "party_id": party_id, "allocations": allocations,
                "unapplied": unapplied, "taught": taught, "note": note,
                "postings": [a.key for a in applications]}, actor=actor)
        return self.get(match_id)

    def reject(self, match_id: int, *, actor: str, reason: str) -> CashMatch:
        """Take an open match off the worklist: not a customer's payment (a refund, a transfer...)."""
        with self._writing() as work:
            current = self._locked_open(work, match_id)
            work._conn.execute(update(cash_matches).where(cash_matches.c.id == match_id).values(
                status="rejected", unapplied_status=None, updated_at=utcnow(), resolved_by=actor, note=reason))
            work.audit("cashapp.reject", f"bank_transaction:{current.entry_key}",
                       {"match_id": match_id, "reason": reason}, actor=actor)
        return self.get(match_id)

    def mark_applied(self, entry_keys: Sequence[str], *, actor: str = DEFAULT_ACTOR) -> int:
        """Matches whose postings have all reached the ledger: ``applying`` -> ``applied``."""
        change = (update(cash_matches)
                  .where(cash_matches.c.entry_key.in_(bindparam("keys", expanding=True)),
                         cash_matches.c.status == "applying")
                  .values(status="applied", updated_at=utcnow()))
        keys, changed = list(dict.fromkeys(entry_keys)), 0
        with self._writing() as work:
            for start in range(0, len(keys), ID_CHUNK):
                changed += work._conn.execute(change, {"keys": keys[start:start + ID_CHUNK]}).rowcount or 0
            if changed:
                work.audit("cashapp.applied", "cash_matches", {"entries": keys}, actor=actor)
        return changed

    # -- unapplied cash -------------------------------------------------------------------------------

    def unapplied(self, *, limit: int = 100) -> list[CashMatch]:
        """Matches with cash left on a party that nobody settled yet, oldest first."""
        query = (select(cash_matches).where(cash_matches.c.unapplied_status == "open")
                 .order_by(cash_matches.c.id).limit(limit))
        with self._reading() as conn:
            return [_match(row) for row in conn.execute(query)]

    def settle_unapplied(self, match_id: int, *, actor: str, note: str) -> CashMatch:
        with self._writing() as work:
            found = work._conn.execute(select(cash_matches).where(cash_matches.c.id == match_id)
                                       .with_for_update()).first()
            if found is None or found.unapplied_status != "open":
                raise StoreError(f"cash match {match_id} has no unapplied cash to settle")
            work._conn.execute(update(cash_matches).where(cash_matches.c.id == match_id)
                               .values(unapplied_status="resolved", updated_at=utcnow()))
            work.audit("cashapp.unapplied_settled", f"bank_transaction:{found.entry_key}",
                       {"match_id": match_id, "amount": found.unapplied, "currency": found.currency, "note": note},
                       actor=actor)
        return self.get(match_id)

    # -- learned rules --------------------------------------------------------------------------------

    def learned_rules(self) -> list[LearnedRule]:
        with self._reading() as conn:
            rows = conn.execute(select(cashapp_rules).order_by(cashapp_rules.c.id)).all()
        return [LearnedRule(r.kind, r.value, r.party_id, r.created_by, r.created_at, r.match_id) for r in rows]

    def _teach(self, work: Any, rules: Sequence[LearnedRule], *, actor: str, match_id: int) -> list[dict[str, str]]:
        taught = []
        for rule in rules:
            if rule.kind not in RULE_KINDS or not rule.value:
                raise StoreError(f"cannot learn a {rule.kind!r} rule {rule.value!r}; kinds: {', '.join(RULE_KINDS)}")
            known = work._conn.execute(select(cashapp_rules.c.party_id).where(
                cashapp_rules.c.kind == rule.kind, cashapp_rules.c.value == rule.value)).scalar()
            if known is not None and known != rule.party_id:
                raise StoreError(f"{rule.kind} {rule.value!r} already belongs to party {known}; not taught to "
                                 f"{rule.party_id} (a person resolves the conflict first)")
            if known is None:
                values = {"kind": rule.kind, "value": rule.value, "party_id": rule.party_id, "created_by": actor,
                          "created_at": utcnow(), "match_id": match_id}
                dialect_insert = pg_insert if work._conn.dialect.name == "postgresql" else sqlite_insert
                work._conn.execute(dialect_insert(cashapp_rules).values(**values).on_conflict_do_nothing())
                taught.append({"kind": rule.kind, "value": rule.value, "party_id": rule.party_id})
        return taught

    def _locked_open(self, work: Any, match_id: int) -> CashMatch:
        row = work._conn.execute(select(cash_matches).where(cash_matches.c.id == match_id).with_for_update()).first()
        if row is None:
            raise StoreError(f"no cash match with id {match_id}")
        if row.status != "open":
            raise StoreError(f"cash match {match_id} is {row.status}, not open: it was settled before")
        return _match(row)
