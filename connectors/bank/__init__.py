"""Bank-statement parsers. The format is recognised from the file's content, never its name.

    for record in parse(path):      # Statement, then its Transactions, then the next Statement...
        ...

Each format module exposes ``FORMAT`` (its name), ``detect(head: bytes) -> bool`` (is this
file mine, judged from its first 64 KiB) and ``parse(path: Path) -> Iterator[Record]``. A module
with ``TAKES_SETTINGS = True`` (QIF, bank CSV) takes ``settings=`` too: the feed's ``FeedSettings``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from pathlib import Path

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
    what the feed says that some formats do not carry (QIF's currency, an export's own account)."""
    path = Path(path)
    module = _module_for(path)
    if getattr(module, "TAKES_SETTINGS", False):
        return module.parse(path, settings=settings or FeedSettings())
    return module.parse(path)


__all__ = ["Balance", "BankParseError", "BatchDetail", "FeedSettings", "Record", "Statement", "Transaction", "as_json",
           "detect_format", "grouped", "parse"]
