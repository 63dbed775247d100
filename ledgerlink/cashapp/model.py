"""What cash application works on and what it decides: open items, parties, payments, allocations.

Every class is a frozen dataclass. Money is ``Decimal`` with the currency's ISO 4217 exponent (checked
on construction: an amount with too many decimals, or a float, is refused), dates are ``datetime.date``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from ledgerlink.model.identifiers import normalize_iban
from ledgerlink.model.money import currency_exponent, format_amount, quantize_money

Decision = Literal["auto", "suggest", "exception"]
AUTO: Decision = "auto"
SUGGEST: Decision = "suggest"
EXCEPTION: Decision = "exception"


def _money(owner: str, name: str, amount: Any, currency: str) -> Decimal:
    if isinstance(amount, float) or not isinstance(amount, (Decimal, int, str)):
        raise ValueError(f"{owner}.{name} must be a Decimal (or an exact string), not {type(amount).__name__}")
    return quantize_money(amount if isinstance(amount, Decimal) else Decimal(amount), currency)


def _text(amount: Decimal, currency: str) -> str:
    """An amount as JSON text with the currency's decimals ("0.00", "-7.50")."""
    return format_amount(amount.quantize(Decimal(1).scaleb(-currency_exponent(currency))))


def _date(owner: str, name: str, value: Any, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise ValueError(f"{owner}.{name} must be a date, not {value!r}")


@dataclass(frozen=True, slots=True)
class OpenItem:
    """An open receivable: what ``party_id`` still owes on ``invoice_number``.

    ``key`` identifies the item where invoice numbers alone do not (several ledgers); it is given back
    in each allocation. ``issue_date`` is needed for an early-payment discount (its period runs from it).
    """

    invoice_number: str
    party_id: str
    currency: str
    amount_open: Decimal
    due_date: dt.date
    structured_reference: str | None = None
    issue_date: dt.date | None = None
    key: str | None = None

    def __post_init__(self) -> None:
        if not self.invoice_number or not self.party_id:
            raise ValueError("an open item needs an invoice_number and a party_id")
        amount = _money("OpenItem", "amount_open", self.amount_open, self.currency)
        if amount <= 0:
            raise ValueError(f"open item {self.invoice_number}: amount_open must be above zero, not {amount}")
        object.__setattr__(self, "amount_open", amount)
        _date("OpenItem", "due_date", self.due_date)
        _date("OpenItem", "issue_date", self.issue_date, optional=True)


@dataclass(frozen=True, slots=True)
class Party:
    """A customer: its id, its name and the IBANs it pays from (stored in electronic form)."""

    party_id: str
    name: str
    ibans: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.party_id:
            raise ValueError("a party needs a party_id")
        object.__setattr__(self, "ibans", tuple(normalize_iban(i) for i in self.ibans))


@dataclass(frozen=True, slots=True)
class Payment:
    """An incoming payment (``amount`` above zero) as the bank reported it."""

    bank_reference: str
    amount: Decimal
    currency: str
    value_date: dt.date
    booking_date: dt.date | None = None
    counterparty_name: str | None = None
    counterparty_iban: str | None = None
    remittance_text: str | None = None
    structured_reference: str | None = None
    end_to_end_id: str | None = None
    key: str | None = None

    def __post_init__(self) -> None:
        amount = _money("Payment", "amount", self.amount, self.currency)
        if amount <= 0:
            raise ValueError(f"payment {self.bank_reference}: only incoming payments are matched (amount {amount})")
        object.__setattr__(self, "amount", amount)
        _date("Payment", "value_date", self.value_date)
        _date("Payment", "booking_date", self.booking_date, optional=True)
        if self.counterparty_iban:
            object.__setattr__(self, "counterparty_iban", "".join(self.counterparty_iban.split()).upper())


@dataclass(frozen=True, slots=True)
class Allocation:
    """What one payment applies to one open item.

    ``amount`` is what the item's open amount goes down by, in the item's currency; of it, ``discount``
    is the early-payment discount granted (not paid in cash). ``payment_amount`` is ``amount`` in the
    payment's currency (equal to it when the currencies are the same). ``open_before`` is what was
    open when the payment came, so ``settled`` says whether nothing is left.
    """

    invoice_number: str
    party_id: str
    amount: Decimal
    currency: str
    payment_amount: Decimal
    open_before: Decimal
    discount: Decimal = Decimal(0)
    key: str | None = None

    @property
    def settled(self) -> bool:
        return self.amount == self.open_before

    def as_dict(self) -> dict[str, Any]:
        return {"invoice_number": self.invoice_number, "amount": _text(self.amount, self.currency),
                "currency": self.currency, "party_id": self.party_id,
                "payment_amount": format_amount(self.payment_amount),
                "open_before": _text(self.open_before, self.currency),
                "discount": _text(self.discount, self.currency), "settled": self.settled, "key": self.key}


@dataclass(frozen=True, slots=True)
class LearnedRule:
    """A fact taught by a person's resolution of a payment, used by later matching.

    ``kind`` is ``iban`` (this counterparty IBAN belongs to ``party_id``) or ``alias`` (this text, as
    the payer's name or in the remittance text, means ``party_id``). ``source`` says which resolution
    taught it (e.g. the payment's bank reference)."""

    kind: Literal["iban", "alias"]
    value: str
    party_id: str
    source: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("iban", "alias"):
            raise ValueError(f"a learned rule is of kind 'iban' or 'alias', not {self.kind!r}")
        if not self.value or not self.value.strip() or not self.party_id:
            raise ValueError("a learned rule needs a value and a party_id")
        if self.kind == "iban":
            object.__setattr__(self, "value", normalize_iban(self.value))


@dataclass(frozen=True, slots=True)
class MatchResult:
    """The decision on one payment.

    The amounts balance exactly, in the payment's currency and its minor units::

        payment.amount == sum(a.payment_amount for a in allocations) + unapplied + write_off + discount

    ``unapplied`` (never negative) is cash left on the party (``party_id``) or, without a party, on the
    suspense account. ``write_off`` and ``discount`` are signed: negative when the payment settles more
    than it brings (a short payment written off, an early-payment discount taken), positive when it brings
    a little more than it settles (an overpayment within the tolerance, written off as income).

    For ``auto`` the allocations have been applied (the open items went down); for ``suggest`` they are
    the proposal a person confirms; an ``exception`` has none. ``candidates`` lists other open items
    worth a look, ``evidence`` what made the decision (one dict per rule or check, with its score).
    """

    payment: Payment
    decision: Decision
    allocations: tuple[Allocation, ...]
    confidence: Decimal
    evidence: list[dict[str, Any]]
    party_id: str | None
    unapplied: Decimal
    write_off: Decimal = Decimal(0)
    discount: Decimal = Decimal(0)
    fx: dict[str, Any] | None = None
    write_off_account: str | None = None
    write_off_reason: str | None = None
    rule: str | None = None
    candidates: list[dict[str, Any]] = field(default_factory=list)

    @property
    def currency(self) -> str:
        return self.payment.currency

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: amounts and the confidence as decimal strings."""
        p = self.payment
        return {
            "kind": "match", "bank_reference": p.bank_reference, "decision": self.decision,
            "allocations": [a.as_dict() for a in self.allocations],
            "confidence": format_amount(self.confidence), "evidence": self.evidence,
            "amount": _text(p.amount, p.currency), "currency": p.currency, "value_date": p.value_date.isoformat(),
            "counterparty_name": p.counterparty_name, "party_id": self.party_id, "rule": self.rule,
            "unapplied": _text(self.unapplied, p.currency), "write_off": _text(self.write_off, p.currency),
            "write_off_account": self.write_off_account, "write_off_reason": self.write_off_reason,
            "discount": _text(self.discount, p.currency), "fx": self.fx, "candidates": self.candidates,
        }
