"""Payments to match, from a bank statement file of any format the bank parsers read.

Only incoming money is matched: booked credit entries that are neither reversals of our own debits
nor returned payments. A credit entry carrying several underlying payments (a batch with one amount
per payer) gives one payment per detail, ``bank_reference`` suffixed ``/1``, ``/2``...
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from connectors.bank import BankParseError, Statement, Transaction, parse
from ledgerlink.cashapp.model import Payment
from ledgerlink.errors import LedgerlinkError


class CashappInputError(LedgerlinkError):
    """An input file of cash application cannot be used; the message names the file, the line or
    position, and the field."""


def payments_from_statement(path: Path | str) -> Iterator[Payment]:
    """The incoming payments of a statement file, in file order."""
    path = Path(path)
    if not path.is_file():
        raise CashappInputError(f"{path}: no such file")
    statement: Statement | None = None
    try:
        for record in parse(path):
            if isinstance(record, Statement):
                statement = record
            elif incoming(record):
                yield from _payments(path, statement, record)
    except BankParseError as exc:
        raise CashappInputError(str(exc)) from None


def incoming(t: Transaction) -> bool:
    """Incoming money to match: a booked credit that is neither a reversal of our own debit nor a return."""
    return t.amount > 0 and t.status == "booked" and not t.is_reversal and not t.is_return


def _payments(path: Path, statement: Statement | None, t: Transaction) -> Iterator[Payment]:
    statement_id = t.statement_id or (statement.statement_id if statement else None)
    reference = t.bank_reference or t.end_to_end_id or f"{statement_id or path.name}:{t.position}"
    yield from payments_of_entry(t, key=f"{path.name}:{t.position}", reference=reference,
                                 where=f"{path}: {t.position or 'entry'}")


def payments_of_entry(t: Transaction, *, key: str, reference: str, where: str) -> Iterator[Payment]:
    """The payments of one incoming entry: one, or one per payer of a batch credit (``reference/1``...,
    ``key/1``...). ``key`` identifies the entry (a file position, or its natural key in the store)."""
    value_date = t.value_date or t.booking_date
    if value_date is None:
        raise CashappInputError(f"{where}: field value_date: the entry has neither a value nor a booking date")
    details = [d for d in t.batch if d.amount is not None and d.amount > 0]
    try:
        if len(details) > 1 and len(details) == len(t.batch):
            for n, d in enumerate(details, 1):
                assert d.amount is not None
                yield Payment(f"{reference}/{n}", d.amount, d.currency or t.currency, value_date, t.booking_date,
                              d.counterparty_name, d.counterparty_iban, d.remittance_text, d.structured_reference,
                              d.end_to_end_id, key=f"{key}/{n}")
            return
        yield Payment(reference, t.amount, t.currency, value_date, t.booking_date, t.counterparty_name,
                      t.counterparty_iban, t.remittance_text, t.structured_reference, t.end_to_end_id, key=key)
    except ValueError as exc:
        raise CashappInputError(f"{where}: field amount: {exc}") from None
