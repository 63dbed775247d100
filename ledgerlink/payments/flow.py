"""Outgoing payment statuses into the store, and back to the ledger through the outbox.

    update_payment_statuses(store, actor=...)              the statement entries not looked at yet -> statuses
    send_payment_writebacks(store, TrytonWriteback(client))  the ledger writebacks they enqueued -> Tryton

``update_payment_statuses`` reads the ``bank_transaction`` versions the store wrote after the position
kept as the state of the pseudo-feed ``payments_outgoing`` (each is looked at once, none is skipped),
matches their debits, returns and rejections to the payable invoices in the store
(:func:`ledgerlink.payments.status.payment_statuses`) and, in ONE unit of work per batch, writes

- a ``payment_status`` version per invoice and event (source ``bank``; natural key source, vendor and
  invoice number): ``paid`` (or ``partially_paid``), then ``returned`` or ``rejected`` with the reason
  code when the bank brings the payment back (the invoice moves back: paid -> returned);
- the ledger writeback of each event into the outbox: ``payments.record_payment`` (the pay wizard, for
  the bank entry's amount and date) and, for a payment coming back, ``payments.undo_payment``; the
  idempotency key is derived from the bank entry's key and the invoice's;
- an audit entry per status change (``payments.paid``, ``payments.returned``, ``payments.rejected``),
  the new position, and a run whose findings list what a person must look at: debits that match no
  invoice (never guessed), returns of payments never seen, amounts that do not fit.

``send_payment_writebacks`` claims those outbox entries and applies them to Tryton, each at most once
per key (the primitives find their tagged earlier result: a retry after a lost answer or a crash
between Tryton and the outbox records nothing twice); failures retry with backoff and become dead
letters after the outbox's attempts (``ledgerlink payments outbox --dead``, ``ledgerlink payments replay``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from connectors.erp.tryton import TrytonUnreachable
from ledgerlink.actors import DEFAULT_ACTOR
from ledgerlink.bank.canonical import transaction_from_payload
from ledgerlink.erp.writeback import Writeback, apply_writeback
from ledgerlink.errors import LedgerlinkError
from ledgerlink.financing.push import vendor_ibans
from ledgerlink.financing.writeback import find_invoice
from ledgerlink.model.entities import validator
from ledgerlink.model.money import MoneyError, exact_sum, format_amount, quantize_money
from ledgerlink.payments.settings import payment_settings
from ledgerlink.payments.status import (
    KINDS,
    PAID,
    PAY_KIND,
    UNDO_KIND,
    UNMATCHED,
    Payable,
    PaymentStatus,
    payment_statuses,
)
from ledgerlink.redact import mask_accounts_in_text
from ledgerlink.store import FeedState, Outbox, OutboxEntry, OutboxRequest, StagedRecord, Store, UnitOfWork

log = logging.getLogger("ledgerlink.payments")

ENTITY = "payment_status"
BANK_ENTITY = "bank_transaction"
FEED = "payments_outgoing"  # pseudo-feed: its state is the last bank_transaction version looked at
BATCH = 1000  # bank entries per unit of work


def writeback_key(step: str, entry_key: str, invoice_key: str) -> str:
    """The idempotency key of a ledger writeback (``pay`` or ``undo``) for one bank entry and one invoice,
    also the tag Tryton keeps (``[ll:<key>]``)."""
    digest = hashlib.sha256("\n".join((entry_key, invoice_key)).encode()).hexdigest()
    return f"{step}-{digest[:40]}"


def status_key(vendor_id: str, invoice_number: str) -> str:
    """The natural key of an invoice's bank-reported payment_status record."""
    return json.dumps({"source": "bank", "vendor_id": vendor_id, "invoice_number": invoice_number},
                      ensure_ascii=False, separators=(",", ":"))


def payables(store: Store) -> list[Payable]:
    """The payable invoices in the store (not cancelled), with their vendor's IBAN where they carry none."""
    ibans = vendor_ibans(store)
    out = []
    for record in store.current_records("invoice"):
        inv = record["payload"]
        if inv.get("direction") != "payable" or inv.get("status") == "cancelled":
            continue
        out.append(Payable(invoice_number=inv["invoice_number"], vendor_id=inv.get("vendor_id") or "",
                           currency=inv["currency"],
                           amount_open=Decimal(inv.get("amount_open") or inv["amount_incl_tax"]),
                           vendor_iban=inv.get("vendor_iban") or ibans.get(inv.get("vendor_id") or ""),
                           structured_reference=inv.get("structured_reference"), key=record["natural_key"]))
    return out


@dataclass
class UpdateResult:
    runs: list[str] = field(default_factory=list)
    entries: int = 0  # bank entry versions looked at
    by_status: Counter = field(default_factory=Counter)  # paid, partially_paid, returned, rejected, unmatched
    versions: int = 0  # payment_status versions written
    enqueued: int = 0  # ledger writebacks enqueued
    findings: list[dict[str, Any]] = field(default_factory=list)
    position: int | None = None  # the last bank entry version looked at

    @property
    def unmatched(self) -> list[dict[str, Any]]:
        return [f for f in self.findings if f["kind"] == "unmatched_payment"]

    def as_dict(self) -> dict[str, Any]:
        return {"runs": self.runs, "entries": self.entries, "by_status": dict(sorted(self.by_status.items())),
                "versions": self.versions, "enqueued": self.enqueued, "unmatched": len(self.unmatched),
                "findings": self.findings, "position": self.position}


def update_payment_statuses(store: Store, *, actor: str = DEFAULT_ACTOR, batch: int = BATCH) -> UpdateResult:
    """Look at every bank entry written since the last call, batch by batch (see the module docstring)."""
    result = UpdateResult()
    known = payables(store)
    while True:
        with store.unit_of_work() as work:
            # One update at a time, and no bank load half-way: every entry up to the last is committed.
            work.lock_entity(ENTITY)
            work.lock_entity(BANK_ENTITY)
            position = int(work.get_feed_state(FEED).cursor or 0)
            versions = work.versions_after(BANK_ENTITY, position, batch)
            if not versions:
                break
            _Batch(work, known, actor, result).run(position, versions)
        if len(versions) < batch:
            break
    log.info("outgoing payment statuses: %s", {k: v for k, v in result.as_dict().items() if k != "findings"})
    return result


@dataclass
class _Invoice:
    """An invoice's bank-reported status as this batch moves it: the current payload, the payments
    standing (not returned), the bank entries already applied."""

    payload: dict[str, Any] | None
    payments: list[dict[str, Any]]
    entries: list[str]


class _Batch:
    def __init__(self, work: UnitOfWork, known: list[Payable], actor: str, result: UpdateResult) -> None:
        self.work, self.actor, self.result = work, actor, result
        self.by_key = {p.key: p for p in known}
        self.known = known
        self.rounds: list[list[StagedRecord]] = []
        self.requests: list[OutboxRequest] = []
        self.findings: list[dict[str, Any]] = []
        self.counts: Counter = Counter()

    def run(self, position: int, versions: list[tuple[int, dict[str, Any]]]) -> None:
        work, result = self.work, self.result
        run_id = work.start_run(FEED, ENTITY, source={"entity": BANK_ENTITY, "after": position})
        entries = [(transaction_from_payload(r["payload"]), r["natural_key"]) for _, r in versions
                   if r["payload"].get("status", "booked") == "booked"]
        statuses = payment_statuses(self.known, entries)
        keys = {status_key(s.vendor_id or "", s.invoice_number or "") for s in statuses if s.status != UNMATCHED}
        current = work.find_records(ENTITY, keys)
        invoices: dict[str, _Invoice] = {}
        seen: Counter = Counter()  # events per invoice in this batch: the n-th is written in round n
        for s in statuses:
            if s.status == UNMATCHED:
                self._unmatched(s)
                continue
            key = status_key(s.vendor_id or "", s.invoice_number or "")
            if key not in invoices:
                found = current.get(key)
                lineage = (found or {}).get("lineage") or {}
                invoices[key] = _Invoice(found["payload"] if found else None, list(lineage.get("payments") or []),
                                         list(lineage.get("entries") or []))
            state = invoices[key]
            if s.entry_key in state.entries:  # a new version of an entry applied before
                continue
            record = self._event(run_id, key, state, s)
            if record is not None:
                while len(self.rounds) <= seen[key]:
                    self.rounds.append([])
                self.rounds[seen[key]].append(record)
                seen[key] += 1
        for records in self.rounds:
            inserted, updated, _ = work.write_versions(run_id, ENTITY, records)
            result.versions += inserted + updated
        enqueued = work.outbox.enqueue_many(self.requests, actor=self.actor)
        result.enqueued += sum(new for _, new in enqueued)
        last = versions[-1][0]
        work.put_feed_state(FEED, FeedState(cursor=str(last)), run_id)
        totals = {"read": {"count": len(versions)}, **{k: {"count": n} for k, n in sorted(self.counts.items())}}
        work.finish_run(run_id, "succeeded", totals=totals, findings=self.findings)
        work.audit("payments.statuses", f"run:{run_id}",
                   {"entries": len(versions), "after": position, "position": last, "statuses": dict(self.counts),
                    "writebacks": [r.key for r in self.requests], "findings": len(self.findings)}, actor=self.actor)
        result.runs.append(run_id)
        result.entries += len(versions)
        result.by_status.update(self.counts)
        result.findings.extend(self.findings)
        result.position = last

    # -- one event of one invoice -------------------------------------------------------------------

    def _event(self, run_id: str, key: str, state: _Invoice, s: PaymentStatus) -> StagedRecord | None:
        payable = self.by_key[s.invoice_key]
        if s.currency != payable.currency:
            self._finding("currency_differs", s, f"the entry is in {s.currency}, the invoice in {payable.currency}: "
                                                 "left for a person")
            return None
        before = (state.payload or {}).get("status")
        base = {"invoice_number": payable.invoice_number, "direction": "payable", "source": "bank",
                "vendor_id": payable.vendor_id, "currency": payable.currency}
        if s.status == PAID:
            payload, request = self._paid(key, state, s, payable, base)
        else:
            payload, request = self._returned(key, state, s, payable, base)
        if payload is None:
            return None
        errors = sorted(e.message for e in validator(ENTITY).iter_errors(payload))
        if errors:
            raise LedgerlinkError(f"payment status of invoice {payable.invoice_number} ({payload['status']}) "
                                  f"is invalid: {errors[0]}")
        if request is not None:
            self.requests.append(request)
        state.payload = payload
        state.entries.append(s.entry_key or "")
        self.counts[payload["status"]] += 1
        self.work.audit(f"payments.{s.status}", f"invoice:{s.invoice_key}", {
            "run_id": run_id, "from": before, "to": payload["status"], "amount": format(s.amount, "f"),
            "currency": s.currency, "bank_transaction": s.entry_key, "bank_reference": s.bank_reference,
            "reason": s.reason, "rule": s.rule, "writeback": None if request is None else request.key,
        }, actor=self.actor)
        lineage = {"bank_transaction": s.entry_key, "invoice": s.invoice_key, "rule": s.rule,
                   "evidence": s.evidence, "payments": state.payments, "entries": state.entries}
        return StagedRecord.build(key, payload, lineage)

    def _paid(self, key: str, state: _Invoice, s: PaymentStatus, payable: Payable,
              base: dict[str, Any]) -> tuple[dict[str, Any] | None, OutboxRequest | None]:
        cur, amount = payable.currency, -s.amount
        total = exact_sum(Decimal(p["amount"]) for p in state.payments) + amount
        payload = {**base, "status": "paid" if total >= payable.amount_open else "partially_paid",
                   "amount_paid": _money(total, cur), "amount_open": _money(max(payable.amount_open - total, Decimal(0)), cur),
                   **_dated("payment_date", s.booking_date), **_refs(s)}
        if total > payable.amount_open:
            self._finding("overpaid", s, f"paid {_money(total, cur)} of {_money(payable.amount_open, cur)} {cur} "
                                         f"(invoice {payable.invoice_number}): the ledger is not changed, a person "
                                         "reclaims the difference")
            state.payments.append({"key": None, "amount": _money(amount, cur), "entry": s.entry_key,
                                   "end_to_end_id": s.end_to_end_id})
            return payload, None
        wb_key = writeback_key("pay", s.entry_key or "", s.invoice_key or "")
        state.payments.append({"key": wb_key, "amount": _money(amount, cur), "entry": s.entry_key,
                               "end_to_end_id": s.end_to_end_id})
        request = OutboxRequest(PAY_KIND, wb_key, {
            "vendor_id": payable.vendor_id, "invoice_number": payable.invoice_number, "invoice_key": s.invoice_key,
            "amount": _money(amount, cur), "currency": cur, "date": s.booking_date,
            "bank_transaction": s.entry_key, "bank_reference": s.bank_reference, "end_to_end_id": s.end_to_end_id})
        return payload, request

    def _returned(self, key: str, state: _Invoice, s: PaymentStatus, payable: Payable,
                  base: dict[str, Any]) -> tuple[dict[str, Any] | None, OutboxRequest | None]:
        cur, amount = payable.currency, s.amount
        undone = _payment_returned(state.payments, s)
        if undone is not None:
            state.payments.remove(undone)
        total = exact_sum(Decimal(p["amount"]) for p in state.payments)
        payload = {**base, "status": s.status, "amount_paid": _money(total, cur),
                   "amount_open": _money(max(payable.amount_open - total, Decimal(0)), cur),
                   "amount_returned": _money(amount, cur), **_dated("return_date", s.booking_date),
                   **({"return_reason": s.reason} if s.reason else {}), **_refs(s)}
        previous = state.payload or {}
        for name in ("payment_date", "payment_reference"):  # of the payment that came back
            if previous.get(name) and undone is not None:
                payload[name] = previous[name]
        if undone is None:
            self._finding("return_without_payment", s, f"the bank brought back {_money(amount, cur)} {cur} for "
                                                       f"invoice {payable.invoice_number}, but no payment of it was "
                                                       "read from a statement: the ledger is not changed")
            return payload, None
        if Decimal(undone["amount"]) != amount or undone.get("key") is None:
            self._finding("return_differs", s, f"{_money(amount, cur)} {cur} came back for a payment of "
                                               f"{undone['amount']} (invoice {payable.invoice_number}): the ledger "
                                               "is not changed, a person settles it")
            return payload, None
        wb_key = writeback_key("undo", s.entry_key or "", s.invoice_key or "")
        request = OutboxRequest(UNDO_KIND, wb_key, {
            "vendor_id": payable.vendor_id, "invoice_number": payable.invoice_number, "invoice_key": s.invoice_key,
            "payment_key": undone["key"], "amount": _money(amount, cur), "currency": cur,
            "date": s.booking_date, "status": s.status, "reason": s.reason, "bank_transaction": s.entry_key,
            "bank_reference": s.bank_reference})
        return payload, request

    # -- findings -------------------------------------------------------------------------------------

    def _unmatched(self, s: PaymentStatus) -> None:
        what = "debit" if s.amount < 0 else "credit"
        ambiguous = s.evidence.get("ambiguous")
        why = f"several invoices fit ({', '.join(ambiguous)})" if ambiguous else "no payable invoice fits"
        self.counts[UNMATCHED] += 1
        self._finding("unmatched_payment", s, f"{what} of {format(s.amount, 'f')} {s.currency}: {why}")

    def _finding(self, kind: str, s: PaymentStatus, message: str) -> None:
        where = ", ".join(f"{name} {value}" for name, value in (
            ("booked", s.booking_date), ("bank reference", s.bank_reference), ("end-to-end id", s.end_to_end_id))
            if value)
        self.findings.append({
            "kind": kind, "message": mask_accounts_in_text(f"{message} ({where})" if where else message),
            "bank_transaction": s.entry_key, "booking_date": s.booking_date, "amount": format(s.amount, "f"),
            "currency": s.currency, "bank_reference": s.bank_reference, "end_to_end_id": s.end_to_end_id,
            "invoice_number": s.invoice_number, "vendor_id": s.vendor_id, **({"evidence": s.evidence} if s.evidence
                                                                              else {})})


def _money(amount: Decimal, currency: str) -> str:
    """An amount as text with the currency's exponent ("0.00"); a bank's extra decimals are kept, not rounded."""
    try:
        return format_amount(quantize_money(amount, currency))
    except MoneyError:
        return format_amount(amount)


def _dated(name: str, value: str | None) -> dict[str, str]:
    return {name: value} if value else {}


def _refs(s: PaymentStatus) -> dict[str, str]:
    out = {"bank_reference": s.bank_reference, "end_to_end_id": s.end_to_end_id}
    reference = s.end_to_end_id or s.bank_reference
    if reference:
        out["payment_reference"] = reference
    return {k: v for k, v in out.items() if v}


def _payment_returned(payments: list[dict[str, Any]], s: PaymentStatus) -> dict[str, Any] | None:
    """The standing payment a return brings back: the one with its end-to-end id, else its amount, else the last."""
    if not payments:
        return None
    if s.end_to_end_id:
        same = [p for p in payments if p.get("end_to_end_id") == s.end_to_end_id]
        if same:
            return same[-1]
    same_amount = [p for p in payments if Decimal(p["amount"]) == s.amount]
    return (same_amount or payments)[-1]


def unmatched_payments(store: Store, *, limit: int = 50) -> list[dict[str, Any]]:
    """What the latest ``limit`` update runs found for a person to look at, newest run first (each finding
    with its run id)."""
    return [{**finding, "run_id": run["id"]} for run in store.list_runs(feed=FEED, limit=limit)
            for finding in run.get("drift") or []]


# -- the ledger writebacks ------------------------------------------------------------------------


class _Later(LedgerlinkError):
    """Not yet: retried with the outbox's backoff."""


class _Never(LedgerlinkError):
    """Can never be applied as it stands: a dead letter at once."""


@dataclass
class SendResult:
    claimed: int = 0
    applied: int = 0
    replayed: int = 0  # applied before (an answer lost, a worker that died): found in the ledger, recorded now
    retry: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def send_payment_writebacks(store: Store, writeback: Writeback, *, journal: str | None = None,
                            worker: str | None = None, limit: int = 100, box: Outbox | None = None,
                            lease_seconds: float = 300.0, actor: str = DEFAULT_ACTOR) -> SendResult:
    """Claim up to ``limit`` due payment writebacks and apply them to the ledger, oldest first.

    ``journal`` (the bank journal payments are booked in) defaults to the settings'
    (:func:`ledgerlink.payments.settings.payment_settings`); ``writeback`` is a
    :class:`connectors.erp.tryton_writeback.TrytonWriteback`. A ledger that does not answer holds the
    remaining entries back without burning their attempts."""
    journal = journal or payment_settings().require_journal()
    box = box or store.outbox
    worker = worker or f"payments:{uuid.uuid4().hex[:8]}"
    result = SendResult()
    claimed = box.claim(worker, limit, lease_seconds, kinds=list(KINDS), actor=actor)
    result.claimed = len(claimed)
    for n, entry in enumerate(claimed):
        try:
            answer = _apply(store, writeback, box, entry, journal, actor)
        except _Never as exc:
            box.mark_dead_many([(entry.id, str(exc))], worker=worker, actor=actor)
            result.dead += 1
            result.errors.append(str(exc))
        except TrytonUnreachable as exc:
            held = box.mark_failed_many([e.id for e in claimed[n:]], str(exc), connection_error=True, worker=worker,
                                        actor=actor)
            result.retry += len(held)
            result.errors.append(str(exc))
            log.warning("payment writebacks: the ledger does not answer, %d held back: %s", len(held), exc)
            break
        except LedgerlinkError as exc:
            failed = box.mark_failed(entry.id, str(exc), worker=worker, actor=actor)
            result.dead += failed.status == "dead"
            result.retry += failed.status != "dead"
            result.errors.append(str(exc))
        else:
            box.mark_sent(entry.id, answer, worker=worker, actor=actor)
            result.applied += 1
            result.replayed += bool(answer.get("replayed"))
    if result.claimed:
        log.info("payment writebacks by %s: %s", worker, result.as_dict())
    return result


def _apply(store: Store, writeback: Writeback, box: Outbox, entry: OutboxEntry, journal: str,
           actor: str) -> dict[str, Any]:
    """Apply one writeback; returns what the outbox keeps of the answer."""
    p = entry.payload
    client = getattr(writeback, "client", None)
    if client is None:
        raise _Never("the writeback has no ledger client to find invoices with")
    if entry.kind == UNDO_KIND:
        _check_payment_sent(box, p["payment_key"])
    # Cash application's postings pay customer invoices (receivable) through the same writeback.
    direction = p.get("direction", "payable")
    party = p["customer_id"] if direction == "receivable" else p["vendor_id"]
    invoice = find_invoice(client, party, p["invoice_number"], direction=direction)
    currency = (invoice.get("currency.") or {}).get("code")
    if currency != p["currency"]:
        raise _Never(f"invoice {p['invoice_number']} of {party} is in {currency} in the ledger, "
                     f"the posting in {p['currency']}")
    date = dt.date.fromisoformat(p["date"])
    if entry.kind == PAY_KIND:
        done = apply_writeback(store, writeback, "record_payment", entry.idempotency_key, actor=actor,
                               invoice_id=int(invoice["id"]), amount=Decimal(p["amount"]), date=date, journal=journal)
    else:
        text = f"Payment {p['status']}" + (f" ({p['reason']})" if p.get("reason") else "")
        done = apply_writeback(store, writeback, "undo_payment", entry.idempotency_key, actor=actor,
                               invoice_id=int(invoice["id"]), payment_key=p["payment_key"], date=date,
                               description=text)
    move = done.get("move") or {}
    return {"invoice_id": int(invoice["id"]), "move_id": move.get("move_id"), "move_number": move.get("move_number"),
            "replayed": bool(done.get("replayed"))}


def _check_payment_sent(box: Outbox, payment_key: str) -> None:
    """An undo goes to the ledger after the payment it undoes."""
    payment = box.get_by_key(payment_key)
    if payment is None:
        raise _Never(f"the payment it undoes ({payment_key}) was never enqueued")
    if payment.status == "dead":
        raise _Never(f"the payment it undoes (outbox entry {payment.id}) is a dead letter: replay that entry, "
                     "then this one")
    if payment.status != "sent":
        raise _Later(f"waits for the payment it undoes (outbox entry {payment.id}, {payment.status}) to reach "
                     "the ledger")
