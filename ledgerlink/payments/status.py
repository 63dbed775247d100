"""Outgoing payment statuses: which of our supplier invoices a bank statement shows paid, returned or rejected.

Read from the debit entries of camt.053/054, MT940 and the other statement formats (each payment of a
batch debit on its own), and from the entries that bring a payment back:

- a debit entry is our payment: matched to a payable invoice by end-to-end id (the one we sent with the
  payment order), else by a reference (the invoice number or structured reference in the text) with the
  amount, else by the vendor's IBAN with the amount (only when one invoice fits) -> ``paid``;
- an entry flagged as a return (camt RtrInf, MT940 /RTRN/, CODA return codes) -> ``returned``, with the
  return reason code (AC04 closed account, MS03 ...), matched the same way;
- a reversed debit (the bank undid the payment before it left) -> ``rejected``;
- whatever finds no invoice -> ``unmatched`` (never guessed).

Incoming payments are cash application's (ledgerlink.cashapp), not looked at here.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from connectors.bank import BatchDetail, Transaction
from ledgerlink.model.identifiers import IdentifierError, normalize_iban

PAID, RETURNED, REJECTED, UNMATCHED = "paid", "returned", "rejected", "unmatched"
_NON_ALNUM = re.compile(r"[^0-9A-Za-z]")

# The ledger writebacks (outbox kinds) that statuses lead to; named here, where the command line reads them.
PAY_KIND = "payments.record_payment"
UNDO_KIND = "payments.undo_payment"
KINDS = (PAY_KIND, UNDO_KIND)


@dataclass(frozen=True)
class Payable:
    """A supplier invoice we pay (a canonical payable invoice)."""

    invoice_number: str
    vendor_id: str
    currency: str
    amount_open: Decimal
    end_to_end_id: str | None = None
    vendor_iban: str | None = None
    structured_reference: str | None = None
    key: str | None = None  # natural key of the invoice record in the store


@dataclass(frozen=True)
class PaymentStatus:
    """What one debit entry (or one payment of a batch) or one return says of one invoice."""

    bank_reference: str | None
    end_to_end_id: str | None
    invoice_number: str | None  # None when nothing matched
    status: str  # paid | returned | rejected | unmatched
    amount: Decimal  # as booked: negative for a payment, positive for money coming back
    currency: str
    reason: str | None = None  # return reason code
    booking_date: str | None = None
    vendor_id: str | None = None
    invoice_key: str | None = None
    rule: str | None = None  # what matched: end_to_end_id | reference_and_amount | iban_and_amount
    entry_key: str | None = None  # natural key of the bank_transaction record, when read from the store
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"kind": "payment_status", "bank_reference": self.bank_reference, "end_to_end_id": self.end_to_end_id,
                "invoice_number": self.invoice_number, "status": self.status, "amount": format(self.amount, "f"),
                "reason": self.reason, "currency": self.currency, "booking_date": self.booking_date,
                "vendor_id": self.vendor_id, "rule": self.rule, **({"evidence": self.evidence} if self.evidence else {})}


@dataclass(frozen=True)
class Movement:
    """One payment as the statement shows it: an entry, or one payment of a batch entry."""

    amount: Decimal
    currency: str
    kind: str  # paid | returned | rejected
    end_to_end_id: str | None
    bank_reference: str | None
    booking_date: str | None
    structured_reference: str | None
    remittance_text: str | None
    counterparty_iban: str | None
    reason: str | None
    entry_key: str | None = None


def _norm(text: str | None) -> str:
    return _NON_ALNUM.sub("", text or "").upper()


def _iban(text: str | None) -> str | None:
    if not text:
        return None
    try:
        return normalize_iban(text)
    except IdentifierError:
        return None


def movements(tx: Transaction, entry_key: str | None = None) -> Iterator[Movement]:
    """The outgoing payments (and their returns) an entry holds; nothing for other incoming money."""
    if tx.is_return:
        if tx.amount <= 0:  # a collection of ours coming back: cash application's business
            return
        kind = RETURNED
    elif tx.is_reversal and tx.amount > 0:
        kind = REJECTED
    elif tx.amount < 0 and not tx.is_reversal:
        kind = PAID
    else:
        return
    booked = tx.booking_date.isoformat() if tx.booking_date else None
    parts: list[Transaction | BatchDetail] = list(tx.batch) if tx.batch else [tx]
    for part in parts:
        amount = part.amount if part.amount is not None else tx.amount
        yield Movement(amount=amount, currency=part.currency or tx.currency, kind=kind,
                       end_to_end_id=part.end_to_end_id or (None if tx.batch else tx.end_to_end_id),
                       bank_reference=tx.bank_reference, booking_date=booked,
                       structured_reference=part.structured_reference, remittance_text=part.remittance_text,
                       counterparty_iban=part.counterparty_iban, reason=getattr(part, "return_reason", None)
                       or tx.return_reason, entry_key=entry_key)


class PayableIndex:
    """Payables by end-to-end id, by reference (invoice number, structured reference) and by vendor IBAN."""

    def __init__(self, payables: Iterable[Payable]) -> None:
        self.by_e2e: dict[str, Payable] = {}
        self.by_reference: dict[str, list[Payable]] = defaultdict(list)
        self.by_iban: dict[str, list[Payable]] = defaultdict(list)
        for p in payables:
            if p.end_to_end_id:
                self.by_e2e[_norm(p.end_to_end_id)] = p
            for ref in (p.invoice_number, p.structured_reference):
                if _norm(ref):
                    self.by_reference[_norm(ref)].append(p)
            iban = _iban(p.vendor_iban)
            if iban:
                self.by_iban[iban].append(p)
        self._longest = max((len(k) for k in self.by_reference), default=0)

    def referenced(self, m: Movement) -> list[Payable]:
        """Payables whose invoice number or structured reference the payment names (spacing and
        punctuation ignored; a number split over a few words is found too)."""
        found: dict[int, Payable] = {}
        if _norm(m.structured_reference) in self.by_reference:
            found.update((id(p), p) for p in self.by_reference[_norm(m.structured_reference)])
        words = [w for w in (_norm(w) for w in (m.remittance_text or "").split()) if w]
        for start in range(len(words)):
            joined = ""
            for word in words[start:start + 4]:
                joined += word
                if len(joined) > self._longest:
                    break
                found.update((id(p), p) for p in self.by_reference.get(joined, ()))
        return list(found.values())


def payment_statuses(payables: Iterable[Payable], entries: Iterable[tuple[Transaction, str | None]]) -> list[PaymentStatus]:
    """One status per outgoing payment, return and rejection in ``entries`` ((transaction, its store key))."""
    index = PayableIndex(payables)
    paid: dict[int, str | None] = {}  # id(payable) -> the entry that paid it in these entries
    out = []
    for tx, key in entries:
        for m in movements(tx, key):
            payable, rule, evidence = _match(index, m)
            status = m.kind if payable is not None else UNMATCHED
            if payable is not None and m.kind == PAID:
                if id(payable) in paid:
                    evidence = {**evidence, "duplicate_of": paid[id(payable)]}
                paid.setdefault(id(payable), m.bank_reference or m.end_to_end_id)
            out.append(PaymentStatus(
                bank_reference=m.bank_reference, end_to_end_id=m.end_to_end_id,
                invoice_number=payable.invoice_number if payable else None, status=status, amount=m.amount,
                currency=m.currency, reason=m.reason, booking_date=m.booking_date,
                vendor_id=payable.vendor_id if payable else None, invoice_key=payable.key if payable else None,
                rule=rule, entry_key=m.entry_key, evidence=evidence))
    return out


def _match(index: PayableIndex, m: Movement) -> tuple[Payable | None, str | None, dict[str, Any]]:
    size = abs(m.amount)
    if m.end_to_end_id and _norm(m.end_to_end_id) in index.by_e2e:
        payable = index.by_e2e[_norm(m.end_to_end_id)]
        differs = payable.currency != m.currency or size != payable.amount_open
        return payable, "end_to_end_id", ({"amount_open": format(payable.amount_open, "f")} if differs else {})
    fits = [p for p in index.referenced(m) if p.currency == m.currency and 0 < size <= p.amount_open]
    if len(fits) == 1:
        payable = fits[0]
        partial = size < payable.amount_open
        return payable, "reference_and_amount", ({"partial": True, "amount_open": format(payable.amount_open, "f")}
                                                 if partial else {})
    if len(fits) > 1:
        return None, None, {"ambiguous": sorted(p.invoice_number for p in fits)}
    iban = _iban(m.counterparty_iban)
    same = [p for p in index.by_iban.get(iban or "", ()) if p.currency == m.currency and p.amount_open == size]
    if len(same) == 1:
        return same[0], "iban_and_amount", {}
    if len(same) > 1:
        return None, None, {"ambiguous": sorted(p.invoice_number for p in same)}
    return None, None, {}
