"""Parsed bank statements -> canonical records (schemas/bank_statement, schemas/bank_transaction).

Identity is content, because bank ids are not: banks reuse statement ids every year, and a
re-sent period repeats entries under another statement. So

- an entry's ``entry_id`` is a hash of what the bank says about it (account, dates, amount,
  references, counterparty, text) plus its occurrence number among identical entries of the
  same statement: two identical card payments on one day stay two entries, and the same
  entry delivered again (a duplicate file, an overlapping statement) has the same id;
- a statement's ``fingerprint`` hashes its account, balances and the ids of its entries, so
  the same statement delivered twice is recognised whatever its file name or id.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any

from connectors.bank import BatchDetail, Statement, Transaction, as_json
from ledgerlink.model.money import exact_sum, format_amount

_IDENTITY_FIELDS = (
    "booking_date", "value_date", "amount", "currency", "counterparty_name", "counterparty_iban",
    "counterparty_account", "end_to_end_id", "bank_reference", "customer_reference",
    "structured_reference", "remittance_text", "bank_transaction_code", "is_reversal", "status",
)


def _amount(value: Decimal | None) -> str | None:
    return None if value is None else format_amount(value)


# Where an entry was delivered (which statement, file position, format) is lineage, not content:
# the same entry re-sent in an overlapping statement must compare unchanged.
DELIVERY_FIELDS = ("statement_id", "statement_key", "position", "format")


def transaction_payload(statement: Statement, tx: Transaction) -> dict[str, Any]:
    """The canonical bank_transaction of one entry, with its delivery fields (see DELIVERY_FIELDS)."""
    data = as_json(tx)
    data.pop("statement_id", None)
    data["amount"] = _amount(tx.amount)
    if tx.batch:
        data["batch"] = [{**d, **({"amount": _amount(b.amount)} if b.amount is not None else {})}
                         for d, b in zip(data["batch"], tx.batch, strict=True)]
    if tx.booking_date is None and tx.value_date is not None:
        data["booking_date"] = tx.value_date.isoformat()  # MT942/pending entries may carry only a value date
    out = {
        "account": statement.account or "",
        **({"statement_id": statement.statement_id} if statement.statement_id else {}),
        **({"account_iban": statement.account_iban} if statement.account_iban else {}),
        **({"account_bic": statement.account_bic} if statement.account_bic else {}),
        "format": statement.format,
        **data,
    }
    return {k: v for k, v in out.items() if v not in (None, "")}


_TRANSACTION_FIELDS = frozenset(f.name for f in fields(Transaction)) - {"amount", "booking_date", "value_date", "batch"}


def transaction_from_payload(payload: dict[str, Any]) -> Transaction:
    """A stored bank_transaction back as the parsers' Transaction (what code reading entries takes)."""
    def day(name: str) -> dt.date | None:
        return dt.date.fromisoformat(payload[name]) if payload.get(name) else None

    batch = [BatchDetail(**{**item, "amount": Decimal(item["amount"]) if item.get("amount") else None})
             for item in payload.get("batch") or []]
    return Transaction(amount=Decimal(payload["amount"]), booking_date=day("booking_date"),
                       value_date=day("value_date"), batch=batch,
                       **{k: v for k, v in payload.items() if k in _TRANSACTION_FIELDS})


def entry_identity(account: str, payload: dict[str, Any]) -> str:
    basis = [account] + [payload.get(k) for k in _IDENTITY_FIELDS]
    return hashlib.sha256(json.dumps(basis, ensure_ascii=False).encode()).hexdigest()[:24]


@dataclass
class StatementRecords:
    """One parsed statement as canonical records, with its checks."""

    statement: Statement
    payload: dict[str, Any]                      # the bank_statement record
    transactions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def key(self) -> str:
        """The statement's natural key text (its entries carry it as ``statement_key``)."""
        return statement_key(self.payload["account"], self.payload["fingerprint"])


def statement_key(account: str, fingerprint: str) -> str:
    return json.dumps({"account": account, "fingerprint": fingerprint})


def statement_records(statement: Statement, transactions: list[Transaction]) -> StatementRecords:
    """Canonical records of a statement and its entries, with entry ids, fingerprint and balance check."""
    account = statement.account or ""
    seen: Counter[str] = Counter()
    payloads = []
    for tx in transactions:
        payload = transaction_payload(statement, tx)
        identity = entry_identity(account, payload)
        seen[identity] += 1
        payload["entry_id"] = f"{identity}-{seen[identity]}"
        payloads.append(payload)
    record: dict[str, Any] = {
        "account": account,
        "format": statement.format,
        "entries": len(transactions),
    }
    for name in ("account_iban", "account_number", "account_bic", "currency", "statement_id", "sequence",
                 "created_at"):
        value = getattr(statement, name)
        if value:
            record[name] = value
    for name in ("from_date", "to_date"):
        value = getattr(statement, name)
        if value is not None:
            record[name] = value.isoformat()
    for label, balance in (("opening", statement.opening_balance), ("closing", statement.closing_balance)):
        if balance is not None:
            record[f"{label}_balance"] = format_amount(balance.amount)
            if balance.date is not None:
                record[f"{label}_date"] = balance.date.isoformat()
    difference = balance_difference(statement, transactions)
    record["balanced"] = None if difference is None else difference == 0
    if difference:
        record["difference"] = format_amount(difference)
    basis = [account, record.get("currency"), record.get("opening_balance"), record.get("opening_date"),
             record.get("closing_balance"), record.get("closing_date"), sorted(p["entry_id"] for p in payloads)]
    record["fingerprint"] = hashlib.sha256(json.dumps(basis).encode()).hexdigest()
    for p in payloads:
        p["statement_key"] = statement_key(account, record["fingerprint"])
    return StatementRecords(statement, record, payloads)


def balance_difference(statement: Statement, transactions: list[Transaction]) -> Decimal | None:
    """closing - (opening + booked entries in the statement's currency); None without both balances."""
    return difference_after(statement, exact_sum(t.amount for t in transactions if moves_balance(statement, t)))


def moves_balance(statement: Statement, tx: Transaction) -> bool:
    """Does the entry count in the balance check: booked, in the statement's balance currency."""
    opening, closing = statement.opening_balance, statement.closing_balance
    currency = (closing.currency if closing else "") or (opening.currency if opening else "")
    return tx.status == "booked" and tx.currency == currency


def difference_after(statement: Statement, moved: Decimal) -> Decimal | None:
    """closing - (opening + moved), ``moved`` being the sum of the entries that move the balance (see
    moves_balance); None without both balances. For a reader that streams the entries."""
    opening, closing = statement.opening_balance, statement.closing_balance
    if opening is None or closing is None:
        return None
    return exact_sum((closing.amount, -opening.amount, -moved))
