"""The daily cash application on the store: new incoming bank entries matched to open receivables, the
sure matches posted to the ledger through the outbox, the rest in the worklist.

    match_incoming(store)          the bank entries written since the last call -> matches (worklist)
    send_payment_writebacks(...)   (ledgerlink.payments.flow) posts them in the ledger, with the
                                   outgoing payment statuses' writebacks
    settle_applied(store)          matches whose postings all reached the ledger -> applied
    resolve(store, match_id, ...)  a person's decision on a worklist item: posts it, teaches the payer

Each bank entry is looked at once: the position of the last ``bank_transaction`` version seen is kept
as the state of the pseudo-feed ``cashapp_incoming``, in the same unit of work as the matches and their
postings. Open receivables are the invoice records with direction ``receivable``, status ``approved``
and an amount still open; parties are the ``customer`` records; what people taught (an IBAN or a name
belongs to a customer) comes from the store. A posting is an outbox request of kind
``payments.record_payment`` whose idempotency key derives from the bank entry and the invoice, so a
retried run or sender posts nothing twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from connectors.fx.ecb import EcbRates
from ledgerlink.actors import DEFAULT_ACTOR
from ledgerlink.bank.canonical import transaction_from_payload
from ledgerlink.cashapp.engine import Matcher
from ledgerlink.cashapp.learning import learn
from ledgerlink.cashapp.model import AUTO, Allocation, LearnedRule, MatchResult, OpenItem, Party, Payment
from ledgerlink.cashapp.rules import Rules, load_rules
from ledgerlink.cashapp.statement import incoming, payments_of_entry
from ledgerlink.connections import find_connection
from ledgerlink.errors import LedgerlinkError
from ledgerlink.model.money import exact_sum, format_amount, quantize_money
from ledgerlink.payments.flow import PAY_KIND
from ledgerlink.store import FeedState, NewMatch, OutboxRequest, Store
from ledgerlink.store import LearnedRule as StoredRule

log = logging.getLogger("ledgerlink.cashapp")

FEED = "cashapp_incoming"  # pseudo-feed: its state is the last bank_transaction version looked at
BANK_ENTITY = "bank_transaction"
MATCH_ENTITY = "cash_match"
BATCH = 1000  # bank entry versions per unit of work
RATES_ENV = "LEDGERLINK_ECB_RATES"


class CashappError(LedgerlinkError):
    """A cash-application step cannot be done as asked; the message says which match and why."""


# -- what the matcher works on, read from the store ------------------------------------------------

def open_items(store: Store) -> list[OpenItem]:
    """The receivables still open: posted customer invoices with an amount to pay."""
    items = []
    for record in store.current_records("invoice"):
        inv = record["payload"]
        open_amount = Decimal(inv.get("amount_open") or "0")
        if inv.get("direction") != "receivable" or inv.get("status") != "approved" or open_amount <= 0:
            continue
        items.append(OpenItem(
            invoice_number=inv["invoice_number"], party_id=inv.get("customer_id") or "", currency=inv["currency"],
            # no due date: matched last among the customer's items when several could be paid
            amount_open=open_amount, due_date=_date(inv.get("due_date")) or _date(inv.get("issue_date")) or dt.date.max,
            structured_reference=inv.get("structured_reference"), issue_date=_date(inv.get("issue_date")),
            key=record["natural_key"]))
    return items


def parties(store: Store) -> list[Party]:
    return [Party(c["customer_id"], c["name"], tuple(a["iban"] for a in c.get("bank_accounts") or []))
            for c in (r["payload"] for r in store.current_records("customer"))]


def learned_rules(store: Store) -> list[LearnedRule]:
    return [LearnedRule("iban" if r.kind == "iban" else "alias", r.value, r.party_id, f"match {r.match_id}")
            for r in store.cashapp.learned_rules()]


def _date(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def configured_rates(path: Path | None = None) -> EcbRates | None:
    """ECB reference rates for foreign-currency payments: ``path``, else ``$LEDGERLINK_ECB_RATES``, else the
    extra ``ecb_rates`` of the ledger connection; None when none is set (such payments then wait for a person)."""
    if path is None:
        found = find_connection(os.environ.get("LEDGERLINK_PAYMENTS_CONN") or "ledgerlink_tryton")
        named = os.environ.get(RATES_ENV) or (found.extra.get("ecb_rates") if found else None)
        path = Path(named) if named else None
    return EcbRates.load(path) if path else None


# -- postings -----------------------------------------------------------------------------------------

def posting_key(entry_key: str, invoice_key: str) -> str:
    """The idempotency key of one posting (one bank entry, one invoice), also the tag Tryton keeps."""
    digest = hashlib.sha256("\n".join((entry_key, invoice_key)).encode()).hexdigest()
    return f"cash-{digest[:40]}"


def postings(result: MatchResult, entry_key: str) -> tuple[OutboxRequest, ...]:
    """The ledger payments a decided match makes: per allocation the cash it brings, in the invoice's
    currency (its open amount goes down by the allocation, of which discount and write-off are not cash;
    those the match keeps with their accounts for the books)."""
    out = []
    allocations = [a for a in result.allocations if a.amount > 0]
    for n, a in enumerate(allocations):
        cash = a.amount - a.discount
        if n == len(allocations) - 1 and result.write_off < 0:  # a short payment written off: the last pays less
            cash = exact_sum((cash, quantize_money(result.write_off * a.amount / a.payment_amount, a.currency)))
        if cash <= 0:
            continue
        out.append(OutboxRequest(PAY_KIND, posting_key(entry_key, a.key or a.invoice_number), {
            "direction": "receivable", "customer_id": a.party_id, "invoice_number": a.invoice_number,
            "invoice_key": a.key, "currency": a.currency, "amount": format_amount(cash),
            "date": result.payment.value_date.isoformat(), "entry_key": entry_key,
            "bank_reference": result.payment.bank_reference}))
    return tuple(out)


def _stored(result: MatchResult, entry_key: str, account: str | None) -> NewMatch:
    p = result.payment
    details = result.as_dict()
    applications = postings(result, entry_key) if result.decision == AUTO else ()
    return NewMatch(
        entry_key=entry_key, account=account, bank_reference=p.bank_reference, value_date=p.value_date.isoformat(),
        amount=details["amount"], currency=p.currency,
        counterparty={"name": p.counterparty_name, "iban": p.counterparty_iban, "remittance_text": p.remittance_text,
                      "structured_reference": p.structured_reference, "end_to_end_id": p.end_to_end_id},
        party_id=result.party_id, decision=result.decision, confidence=details["confidence"],
        allocations=details["allocations"],
        evidence={k: details[k] for k in ("evidence", "rule", "candidates", "write_off", "write_off_account",
                                          "write_off_reason", "discount", "fx")} | {
            "postings": [a.key for a in applications]},
        unapplied=details["unapplied"], applications=applications)


# -- the daily step -----------------------------------------------------------------------------------

@dataclass
class MatchRun:
    runs: list[str] = field(default_factory=list)
    entries: int = 0  # bank entry versions looked at
    payments: int = 0  # incoming payments matched
    by_decision: Counter = field(default_factory=Counter)
    amounts: dict[str, dict[str, str]] = field(default_factory=dict)  # decision -> currency -> amount
    postings: int = 0
    position: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"runs": self.runs, "entries": self.entries, "payments": self.payments,
                "by_decision": dict(sorted(self.by_decision.items())), "amounts": self.amounts,
                "postings": self.postings, "position": self.position}


def match_incoming(store: Store, *, rules: Rules | None = None, rates: EcbRates | None = None,
                   actor: str = DEFAULT_ACTOR, batch: int = BATCH) -> MatchRun:
    """Match every incoming bank entry written since the last call (see the module docstring)."""
    result = MatchRun()
    totals: dict[str, dict[str, Decimal]] = {}
    matcher = Matcher(open_items(store), parties(store), rules or load_rules(), rates=rates,
                      learned=learned_rules(store))
    while True:
        with store.unit_of_work() as work:
            work.lock_entity(MATCH_ENTITY)
            work.lock_entity(BANK_ENTITY)  # no bank load half-way: every entry up to the last is committed
            position = int(work.get_feed_state(FEED).cursor or 0)
            versions = work.versions_after(BANK_ENTITY, position, batch)
            if not versions:
                break
            run_id = work.start_run(FEED, MATCH_ENTITY, source={"entity": BANK_ENTITY, "after": position})
            # a batch credit's payments are matched as <entry key>/1, /2...
            keys = [r["natural_key"] for _, r in versions]
            unmatched = set(work.cashapp.unmatched(keys + [f"{k}/1" for k in keys]))
            fresh = {k for k in keys if k in unmatched and f"{k}/1" in unmatched}
            found: list[tuple[Payment, str, str | None]] = []
            for _, record in versions:
                key, payload = record["natural_key"], record["payload"]
                tx = transaction_from_payload(payload)
                if key in fresh and incoming(tx):
                    fresh.discard(key)  # a later version of the same entry in this batch is not a new payment
                    found += [(p, p.key or key, payload.get("account"))
                              for p in payments_of_entry(tx, key=key, reference=tx.bank_reference or key, where=key)]
            outcomes = matcher.match([p for p, _, _ in found])
            matches = [_stored(r, entry_key, account) for r, (_, entry_key, account) in zip(outcomes, found, strict=True)]
            work.cashapp.record_matches(run_id, matches, actor=actor)
            for r, m in zip(outcomes, matches, strict=True):
                result.by_decision[r.decision] += 1
                by_currency = totals.setdefault(r.decision, {})
                by_currency[r.currency] = by_currency.get(r.currency, Decimal(0)) + r.payment.amount
                result.postings += len(m.applications)
            last = versions[-1][0]
            work.put_feed_state(FEED, FeedState(cursor=str(last)), run_id)
            work.finish_run(run_id, "succeeded", totals={"read": {"count": len(versions)},
                                                         "matched": {"count": len(found)}})
            result.runs.append(run_id)
            result.entries += len(versions)
            result.payments += len(found)
            result.position = last
        if len(versions) < batch:
            break
    result.amounts = {d: {c: format_amount(a) for c, a in sorted(t.items())} for d, t in sorted(totals.items())}
    log.info("cash application: %s", result.as_dict())
    return result


def settle_applied(store: Store, *, actor: str = DEFAULT_ACTOR) -> int:
    """Matches whose postings have all reached the ledger become ``applied``."""
    done = []
    for match in store.cashapp.worklist(status="applying", limit=100_000):
        keys = match.evidence.get("postings") or []
        entries = [store.outbox.get_by_key(k) for k in keys]
        if entries and all(e is not None and e.status == "sent" for e in entries):
            done.append(match.entry_key)
    return store.cashapp.mark_applied(done, actor=actor) if done else 0


# -- the worklist ---------------------------------------------------------------------------------------

def resolve(store: Store, match_id: int, *, party_id: str, allocations: Sequence[tuple[str, Decimal]] = (),
            teach: bool = True, alias: str | None = None, actor: str, note: str | None = None) -> Any:
    """A person's decision on a worklist item: the payment is the customer's ``party_id`` and pays these
    ``(invoice number, amount)`` (none: it stays unapplied cash on the customer). ``teach`` makes the
    payer's IBAN (and name, and ``alias``) the customer's for later matching."""
    match = store.cashapp.get(match_id)
    if match.status != "open":
        raise CashappError(f"cash match {match_id} is {match.status}, not open")
    items = {i.invoice_number: i for i in open_items(store) if i.party_id == party_id}
    amount = Decimal(match.amount)
    chosen: list[Allocation] = []
    for number, value in allocations:
        item = items.get(number)
        if item is None:
            raise CashappError(f"cash match {match_id}: {number} is not an open invoice of customer {party_id}")
        if item.currency != match.currency:
            raise CashappError(f"cash match {match_id}: {number} is in {item.currency}, the payment in "
                               f"{match.currency}; a person resolves foreign-currency payments in the ledger")
        if value <= 0 or value > item.amount_open:
            raise CashappError(f"cash match {match_id}: {format_amount(value)} for {number} is not between 0 and "
                               f"its open {format_amount(item.amount_open)}")
        chosen.append(Allocation(number, party_id, value, item.currency, value, item.amount_open, key=item.key))
    left = amount - exact_sum(a.amount for a in chosen)
    if left < 0:
        raise CashappError(f"cash match {match_id}: allocations of {format_amount(amount - left)} exceed the "
                           f"payment of {match.amount} {match.currency}")
    payment = Payment(match.bank_reference or match.entry_key, amount, match.currency,
                      dt.date.fromisoformat(match.value_date or "1970-01-01"),
                      counterparty_name=match.counterparty.get("name"),
                      counterparty_iban=match.counterparty.get("iban"), key=match.entry_key)
    decided = MatchResult(payment, AUTO, tuple(chosen), Decimal(1), [], party_id, left)
    taught = [StoredRule("iban" if r.kind == "iban" else "alias", r.value, r.party_id)
              for r in learn(payment, party_id, alias=alias)] if teach else []
    return store.cashapp.resolve(
        match_id, party_id=party_id, allocations=[a.as_dict() for a in chosen],
        applications=postings(decided, match.entry_key), unapplied=format_amount(left), teach=taught,
        actor=actor, note=note)

