"""Bank-statement parsers. The format is recognised from the file's content, never its name.

    for record in parse(path):      # Statement, then its Transactions, then the next Statement...
        ...

Each format module exposes ``FORMAT`` (its name), ``detect(head: bytes) -> bool`` (is this
file mine, judged from its first 64 KiB) and ``parse(path: Path) -> Iterator[Record]``. A module
with ``TAKES_SETTINGS = True`` (QIF, bank CSV) takes ``settings=`` too: the feed's ``FeedSettings``.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path

from ledgerlink.model.money import MAX_DIGITS, MoneyError, check_amount, check_digits, currency_exponent

from .model import Balance, BankParseError, BatchDetail, Record, Statement, Transaction, as_json
from .settings import FeedSettings
from .text import read_head

# Checked in this order: the most specific signatures first (XML before the text formats,
# whose markers are short).
FORMAT_MODULES = (
    "connectors.bank.camt",
    "connectors.bank.ofx",
    "connectors.bank.mt940",
    "connectors.bank.coda",
    "connectors.bank.bai2",
    "connectors.bank.norma43",
    "connectors.bank.qif",
    "connectors.bank.csv_export",  # last: a header match against the shipped bank CSV mappings
)


def _modules():
    for name in FORMAT_MODULES:
        try:
            yield importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


def _module_for(path: Path):
    head = read_head(path)
    if not head.strip():
        raise BankParseError(str(path), None, "the file is empty")
    for module in _modules():
        if module.detect(head):
            return module
    raise BankParseError(str(path), "line 1", "not a bank statement format ledgerlink knows "
                         "(camt.052/053/054, MT940/MT942, BAI2, CODA, OFX, Norma 43, QIF, bank CSV exports)")


def grouped(records: Iterable[Record]) -> list[tuple[Statement, list[Transaction]]]:
    """Statements with their transactions, from a parser's stream (holds them all: for files that
    fit in memory, tests and the loader). A transaction before any statement is a parser bug."""
    out: list[tuple[Statement, list[Transaction]]] = []
    for record in records:
        if isinstance(record, Statement):
            out.append((record, []))
        elif not out:
            raise ValueError("a transaction before any statement in the parser's output")
        else:
            out[-1][1].append(record)
    return out


def detect_format(path: Path | str) -> str:
    """The format of ``path`` (a module's FORMAT); BankParseError when no parser recognises it."""
    return _module_for(Path(path)).FORMAT


def parse(path: Path | str, settings: FeedSettings | None = None) -> Iterator[Record]:
    """Statements and their transactions from one file, streamed, whatever its format. ``settings``:
    what the feed says that some formats do not carry (QIF's currency, an export's own account), and
    ``strict``: a finding the parser would record on the statement refuses the file instead.
    Every amount is checked against its currency on the way out (see ``checked``)."""
    path = Path(path)
    settings = settings or FeedSettings()
    module = _module_for(path)
    options: dict[str, object] = {}
    if getattr(module, "TAKES_SETTINGS", False):
        options["settings"] = settings
    if settings.strict and "strict" in inspect.signature(module.parse).parameters:
        options["strict"] = True
    return checked(module.parse(path, **options), str(path))


def checked(records: Iterable[Record], file: str) -> Iterator[Record]:
    """``records`` as they are, once each currency is an ISO 4217 code with minor units and each
    amount (balances and batch details too) fits its currency: no more decimals than the minor
    unit (no JPY cents) and at most 18 significant digits (ISO 20022 TotalDigits). The first
    that does not is refused with a BankParseError naming the record's line or XPath. An amount
    whose currency the file does not give (an MT940 entry without balances) is only checked for
    its digits: the mapping quarantines it for the missing currency."""
    # currency -> minus its exponent, for the currencies check_amount has accepted in this file
    known: dict[str, int] = {}
    for record in records:
        # The usual transaction, decided without the calls: no batch, a Decimal amount already in
        # its known currency's minor units, with at most MAX_DIGITS digits (check_amount accepts it).
        if type(record) is Transaction and not record.batch and type(record.amount) is Decimal:
            exponent = known.get(record.currency)
            if exponent is not None:
                _, digits, amount_exponent = record.amount.as_tuple()
                if amount_exponent == exponent and len(digits) <= MAX_DIGITS:
                    yield record
                    continue
        for what, amount, currency in _amounts(record):
            try:
                if amount is None:
                    currency_exponent(currency)
                elif currency:
                    check_amount(amount, currency)
                    known[currency] = -currency_exponent(currency)
                else:
                    check_digits(amount)
            except MoneyError as exc:
                raise BankParseError(file, record.position, f"{what}: {exc}") from None
        yield record


def _amounts(record: Record) -> Iterator[tuple[str, Decimal | None, str | None]]:
    """(what, amount or None for a bare currency, currency) of every amount a record carries."""
    if isinstance(record, Statement):
        if record.currency is not None:
            yield "statement currency", None, record.currency
        for label, balance in (("opening balance", record.opening_balance), ("closing balance", record.closing_balance)):
            if balance is not None:
                yield label, balance.amount, balance.currency or record.currency
        return
    yield "amount", record.amount, record.currency
    for number, detail in enumerate(record.batch, start=1):
        if detail.amount is not None:
            yield f"batch detail {number} amount", detail.amount, detail.currency or record.currency
        elif detail.currency is not None:
            yield f"batch detail {number} currency", None, detail.currency


__all__ = ["Balance", "BankParseError", "BatchDetail", "FeedSettings", "Record", "Statement", "Transaction", "as_json",
           "checked", "detect_format", "grouped", "parse"]
