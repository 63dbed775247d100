"""What every bank-statement parser produces: statements and their transactions.

A parser is a generator over one file that yields, in file order, a ``Statement`` followed
by that statement's ``Transaction`` objects, then the next ``Statement`` and so on. The
statement is complete (balances included) when it is yielded, so a consumer can stream:
it never needs to hold a whole file. Amounts are signed Decimals (negative = debit),
dates are ``datetime.date``. ``position`` says where in the file a thing came from
(``line 12`` or an XPath), for error messages and lineage.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import date
from decimal import Decimal
from typing import Any


class BankParseError(ValueError):
    """A bank file cannot be parsed. The message names the file, the position and the reason."""

    def __init__(self, file: str, position: str | None, reason: str) -> None:
        self.file, self.position, self.reason = file, position, reason
        where = f"{file}: {position}" if position else file
        super().__init__(f"{where}: {reason}")


@dataclass
class Balance:
    amount: Decimal  # signed: negative when the account is overdrawn (debit balance)
    currency: str
    date: date | None = None
    kind: str = ""  # the format's own code: OPBD, CLBD, 60F, 62M, ...


@dataclass
class BatchDetail:
    """One underlying payment of a batch (collective) entry."""

    amount: Decimal | None = None
    currency: str | None = None
    counterparty_name: str | None = None
    counterparty_iban: str | None = None
    counterparty_bic: str | None = None
    end_to_end_id: str | None = None
    structured_reference: str | None = None
    remittance_text: str | None = None
    return_reason: str | None = None


@dataclass
class Statement:
    format: str  # camt.053.001.02, mt940, mt942, bai2, coda, ofx, norma43, csv:<mapping>
    statement_id: str | None = None
    sequence: str | None = None  # statement (electronic) sequence number as given
    account_iban: str | None = None  # electronic form, upper case, no spaces
    account_number: str | None = None  # when the account is not an IBAN (or as given besides it)
    account_bic: str | None = None
    currency: str | None = None
    opening_balance: Balance | None = None
    closing_balance: Balance | None = None
    created_at: str | None = None  # ISO date-time the bank created the statement, if given
    from_date: date | None = None
    to_date: date | None = None
    position: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # format specifics worth keeping

    @property
    def account(self) -> str | None:
        return self.account_iban or self.account_number


@dataclass
class Transaction:
    amount: Decimal  # signed: negative = debit
    currency: str
    booking_date: date | None = None
    value_date: date | None = None
    statement_id: str | None = None
    counterparty_name: str | None = None
    counterparty_iban: str | None = None
    counterparty_account: str | None = None  # non-IBAN account number
    counterparty_bic: str | None = None
    end_to_end_id: str | None = None
    bank_reference: str | None = None  # account servicer / bank reference
    customer_reference: str | None = None  # the account owner's reference (MT940 :61: before //)
    structured_reference: str | None = None  # RF creditor reference, betalingskenmerk, +++OGM+++
    remittance_text: str | None = None  # unstructured remittance information
    bank_transaction_code: str | None = None  # the format's own code (e.g. NTRF, 'N654', '475')
    iso_domain: str | None = None  # ISO 20022 BkTxCd domain / family / sub-family
    iso_family: str | None = None
    iso_subfamily: str | None = None
    is_reversal: bool = False
    is_return: bool = False
    return_reason: str | None = None  # ISO 20022 return reason code of a returned payment (AC04, MS03, ...)
    status: str = "booked"  # booked | pending | info (camt.052 / MT942 may carry pending entries)
    batch: list[BatchDetail] = field(default_factory=list)
    position: str | None = None
    # SEPA details a format carries besides the above (keys in TRANSACTION_EXTRA_KEYS)
    extra: dict[str, str] = field(default_factory=dict)


# What Transaction.extra may hold: the SEPA direct-debit mandate and creditor identifier, the ISO
# purpose code and the ultimate parties (on whose behalf the payment was made or received).
TRANSACTION_EXTRA_KEYS = ("mandate_id", "creditor_id", "purpose_code", "ultimate_debtor", "ultimate_creditor")


Record = Statement | Transaction


def as_json(obj: Statement | Transaction | Balance | BatchDetail) -> dict[str, Any]:
    """A JSON-ready dict: Decimals as strings ("-12.50"), dates ISO, empty values left out."""
    out: dict[str, Any] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if value is None or value == [] or value == {}:
            continue
        out[f.name] = _json_value(value)
    return out


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (Balance, BatchDetail)):
        return as_json(value)
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    return value


ParseResult = Iterator[Record]
