"""Open items and parties from JSON-lines files, for the command line and the benchmark.

Open items: one receivable per line, ``{"invoice_number", "party_id", "currency", "amount_open",
"due_date", "structured_reference"?, "issue_date"?, "key"?}`` (``customer_id`` is read where
``party_id`` is missing, as canonical receivable invoices carry it); other fields are ignored.
Parties: ``{"party_id", "name", "ibans": [...]}``. Amounts are decimal strings or JSON numbers (read
exactly, never as floats); dates ISO. Blank lines are skipped. The first problem stops the reading with
one message: ``FILE:LINE: field NAME: what is wrong``.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from ledgerlink.cashapp.model import OpenItem, Party
from ledgerlink.cashapp.statement import CashappInputError
from ledgerlink.model.identifiers import IdentifierError, normalize_iban
from ledgerlink.model.money import MoneyError, is_currency, quantize_money

MAX_LINE = 64 * 1024  # characters; a line longer than this is not an open item


def read_open_items(path: Path | str) -> list[OpenItem]:
    """The open items of a JSON-lines file; party ids and currencies are interned (one string object per
    distinct value: a million items of a hundred thousand customers hold a hundred thousand ids)."""
    items = []
    seen: dict[tuple[str, str, str | None], int] = {}
    for n, row in _rows(Path(path)):
        line = _Line(path, n, row)
        party_id = row.get("party_id", row.get("customer_id"))
        item = OpenItem(
            invoice_number=line.text("invoice_number"),
            party_id=sys.intern(line.text("party_id", party_id)),
            currency=sys.intern(line.currency("currency")),
            amount_open=line.positive_amount("amount_open", row["currency"]),
            due_date=line.date("due_date"),
            structured_reference=line.text("structured_reference", required=False),
            issue_date=line.date("issue_date", required=False),
            key=line.text("key", required=False))
        identity = (item.party_id, item.invoice_number, item.key)
        if identity in seen:
            raise line.error("invoice_number", f"{item.invoice_number} of {item.party_id} appears twice "
                                               f"(first at line {seen[identity]}); give each a distinct key")
        seen[identity] = n
        items.append(item)
    return items


def read_parties(path: Path | str) -> list[Party]:
    parties = []
    seen: dict[str, int] = {}
    for n, row in _rows(Path(path)):
        line = _Line(path, n, row)
        party_id = line.text("party_id")
        if party_id in seen:
            raise line.error("party_id", f"{party_id} appears twice (first at line {seen[party_id]})")
        seen[party_id] = n
        ibans = row.get("ibans", [])
        if not isinstance(ibans, list):
            raise line.error("ibans", "must be a list of IBANs")
        normalized = []
        for i, iban in enumerate(ibans):
            try:
                normalized.append(normalize_iban(iban if isinstance(iban, str) else ""))
            except IdentifierError as exc:
                raise line.error(f"ibans[{i}]", str(exc)) from None
        parties.append(Party(party_id, line.text("name"), tuple(normalized)))
    return parties


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        fh = path.open(encoding="utf-8-sig")
    except OSError as exc:
        raise CashappInputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with fh:
        try:
            for n, text in enumerate(fh, 1):
                if not text.strip():
                    continue
                if len(text) > MAX_LINE:
                    raise CashappInputError(f"{path}:{n}: the line is longer than {MAX_LINE} characters")
                try:
                    row = json.loads(text, parse_float=Decimal)
                except json.JSONDecodeError as exc:
                    raise CashappInputError(f"{path}:{n}: not a JSON object: {exc.msg} at column {exc.colno}") from None
                if not isinstance(row, dict):
                    raise CashappInputError(f"{path}:{n}: not a JSON object but {type(row).__name__}")
                yield n, row
        except UnicodeDecodeError as exc:
            raise CashappInputError(f"{path}: not UTF-8 text: {exc.reason}") from None


class _Line:
    """One row's fields, each checked with an error naming file, line and field."""

    def __init__(self, path: Path | str, n: int, row: dict[str, Any]) -> None:
        self.path, self.n, self.row = path, n, row

    def error(self, name: str, message: str) -> CashappInputError:
        return CashappInputError(f"{self.path}:{self.n}: field {name}: {message}")

    def text(self, name: str, value: Any = None, *, required: bool = True) -> Any:
        value = self.row.get(name) if value is None else value
        if value is None or value == "":
            if required:
                raise self.error(name, "missing")
            return None
        if not isinstance(value, str):
            raise self.error(name, f"must be text, not {json.dumps(value, default=str)}")
        return value

    def currency(self, name: str) -> str:
        value = self.text(name)
        if not is_currency(value):
            raise self.error(name, f"{value!r} is not an ISO 4217 currency code")
        return str(value)

    def positive_amount(self, name: str, currency: str) -> Decimal:
        value = self.row.get(name)
        if value is None or value == "":
            raise self.error(name, "missing")
        if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
            raise self.error(name, f"must be a decimal amount, not {json.dumps(value, default=str)}")
        try:
            amount = quantize_money(Decimal(value), currency)
        except InvalidOperation:
            raise self.error(name, f"{value!r} is not a decimal amount") from None
        except MoneyError as exc:
            raise self.error(name, str(exc)) from None
        if amount <= 0:
            raise self.error(name, f"{value} is not above zero (settled items are not open)")
        return amount

    def date(self, name: str, *, required: bool = True) -> Any:
        value = self.text(name, required=required)
        if value is None:
            return None
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise self.error(name, f"{value!r} is not a date (YYYY-MM-DD)") from None
