"""Bank CSV exports (ING, Rabobank, ABN AMRO, bunq, Triodos, Knab, ASN, ...), read through the
mapping files in ``mappings/bank/``: one mapping per bank layout, entity ``bank_transaction``.

A file is recognised from its content: its header line (after any lines the mapping skips) holds the
columns the mapping cannot do without, or, for layouts without a header, its first line has the
mapping's number of columns and maps without error. Adding a bank is adding a mapping file.

``parse`` maps and checks the whole file first, so bad input stops it before anything is yielded:
the BankParseError names the file, the line, the field and the rule. It then yields a ``Statement`` per
account (in the order the accounts first appear) followed by that account's transactions in date
order (exports that list the newest entry first are turned round). Where the layout has a running
balance (``carry`` values ``balance_after`` and/or ``balance_before``), the opening and closing
balances come from it and every entry must continue it: previous balance + amount = balance.

A mapping may read two kinds of values that are not in the rows, as if they were columns:

- ``preamble:NAME``: the value of a ``NAME;value`` line above the header (ING Germany's
  "IBAN;DE12 ..." line, a card statement's "Kreditkarte:;4748********1234"; a trailing colon is
  left out of the name). A layout that reads one finds its header line among the first lines of
  the file, so a preamble of any length is passed over;
- ``settings:NAME``: the feed's setting (``settings: account: ...`` in dags/feeds.yaml), for exports
  that do not name the holder's own account (Oberbank, Raiffeisen). Without it the file is refused,
  naming the setting.

A file in the DOS Central European code page (cp852, recognised from its letters) is read as such
by a layout that takes a single-byte code page (cp1252 would read it, into the wrong letters).
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from ledgerlink.config import BUNDLED_MAPPINGS_DIR, mappings_dir
from ledgerlink.errors import LedgerlinkError
from ledgerlink.mapping import DriftError, Mapping, MapResult, SourceError, load_mapping
from ledgerlink.mapping.executor import run as run_mapping
from ledgerlink.mapping.sources import SourceOptions, read_source
from ledgerlink.redact import mask_accounts_in_text

from .model import Balance, BankParseError, Record, Statement, Transaction
from .settings import FeedSettings
from .text import CENTRAL_EUROPEAN, detect_encoding, read_head

FORMAT = "csv"
TAKES_SETTINGS = True

PREAMBLE = "preamble:"  # preamble:IBAN -> the value of the "IBAN;..." line above the header
SETTING = "settings:"   # settings:account -> the feed's settings
MAX_PREAMBLE_LINES = 40


def _outside(column: str) -> bool:
    """A column a mapping reads from outside the rows (the preamble, the feed's settings)."""
    return column.startswith((PREAMBLE, SETTING))


def layouts_folder() -> Path:
    """The project's mappings/bank (where a user adds a bank's layout), else the shipped layouts."""
    project = mappings_dir() / "bank"
    return project if project.is_dir() else BUNDLED_MAPPINGS_DIR / "bank"


@dataclass(frozen=True)
class Layout:
    """A bank CSV mapping and what recognising a file by it takes."""

    mapping: Mapping
    known: frozenset[str]     # header columns the mapping reads or ignores
    needed: frozenset[str]    # columns of its required fields: a header without one of them is not this layout
    outside: frozenset[str] = frozenset()  # preamble:/settings: values it reads

    @property
    def reads_preamble(self) -> bool:
        return any(c.startswith(PREAMBLE) for c in self.outside)

    @property
    def name(self) -> str:
        return self.mapping.path.stem


def layouts(folder: Path | None = None) -> tuple[Layout, ...]:
    """The bank CSV mappings in ``folder`` (default :func:`layouts_folder`)."""
    return _layouts(folder or layouts_folder())


@cache
def _layouts(folder: Path) -> tuple[Layout, ...]:
    """The bank CSV mappings in ``folder`` (a broken mapping file raises MappingFileError)."""
    out = []
    for path in sorted(folder.glob("*.yaml")):
        mapping = load_mapping(path)
        outside = frozenset(c for c in mapping.used_columns if _outside(c))
        needed = {c for plan in mapping.fields if plan.required and not plan.carried for c in plan.inputs} - outside
        out.append(Layout(mapping, (frozenset(mapping.used_columns) | frozenset(mapping.ignore_columns)) - outside,
                          frozenset(needed), outside))
    return tuple(out)


# --- recognising a file ------------------------------------------------------------------------

def detect(head: bytes, folder: Path | None = None) -> bool:
    """Is this a bank CSV export that one of the mappings reads? Judged from the first bytes only."""
    return match_layout(head, folder) is not None


def match_layout(head: bytes, folder: Path | None = None) -> Layout | None:
    """The layout whose mapping reads a file starting with ``head``: the best fit, or None."""
    best: tuple[tuple[int, int], Layout] | None = None
    for layout in layouts(folder):
        score = _score(layout, head)
        if score is not None and (best is None or score > best[0]):
            best = (score, layout)
    return best[1] if best else None


def _score(layout: Layout, head: bytes) -> tuple[int, int] | None:
    """How well the file's start fits the layout (higher is better), or None when it does not fit."""
    source = layout.mapping.source
    if not source.columns:
        found = header_line(layout, head)
        if found is None:
            return None
        header = set(found[2]) - {""}
        return len(header & layout.known), -len(layout.known - header)
    line = next((raw for raw in head.split(b"\n")[source.header_row:] if raw.strip()), None)
    # only this line is decoded: a bad byte further on is for the mapping engine to report
    text = None if line is None else _decode(line.rstrip(b"\r"), _encodings(source.encodings, head))
    if text is None:
        return None
    first = _split(text, source.delimiter, source.quote)
    if first is None:
        return None
    if source.columns:
        # Fewer fields than named columns is fine (trailing text columns a bank leaves off); more is not.
        if len(first) > len(source.columns):
            return None
        padded = first + [""] * (len(source.columns) - len(first))
        row = dict(zip(source.columns, padded, strict=True)) | {c: "X" for c in layout.outside}
        try:
            trial = layout.mapping.map_rows([(1, None, row)])
        except LedgerlinkError:
            return None
        return (len(source.columns), 0) if not trial.errors and len(trial.frame) == 1 else None
    return None


def header_line(layout: Layout, head: bytes) -> tuple[int, dict[str, str], list[str]] | None:
    """Where a layout with a header line finds it in a file starting with ``head``: (index of the line
    from 0, the ``NAME;value`` lines above it, the header's names), or None. The header is the
    mapping's ``header_row``; a layout that reads preamble values looks further down for it."""
    source = layout.mapping.source
    encodings = _encodings(source.encodings, head)
    lines = head.split(b"\n")
    start = source.header_row - 1
    above: dict[str, str] = {}
    for index in range(start, min(len(lines), start + MAX_PREAMBLE_LINES)):
        raw = lines[index].rstrip(b"\r")
        if not raw.strip():
            continue
        # only these lines are decoded: a bad byte further on is for the mapping engine to report
        text = _decode(raw, encodings)
        fields = None if text is None else _split(text, source.delimiter, source.quote)
        if fields is None:
            return None
        names = [c.strip() for c in fields]
        if layout.needed <= set(names):
            return index, above, names
        if not layout.reads_preamble:
            return None
        key = names[0].lstrip("\ufeff").rstrip(":").strip()
        if key and len(names) > 1:
            above.setdefault(key, names[1])
    return None


def _decode(head: bytes, encodings: list[str]) -> str | None:
    for encoding in encodings:
        try:
            # a multi-byte character cut at the end of the sample is not a decoding error
            return codecs.getincrementaldecoder(encoding)().decode(head, final=False)
        except (UnicodeDecodeError, LookupError):
            continue
    return None


def _split(line: str, delimiter: str, quote: str) -> list[str] | None:
    """One line split into fields (a quoted line break is not followed)."""
    try:
        return next(csv.reader([line], delimiter=delimiter, quotechar=quote))
    except (csv.Error, StopIteration):
        return None


def _no_match(path: Path, head: bytes, folder: Path | None) -> BankParseError:
    first = head.split(b"\n", 1)[0]
    line = first.decode(detect_encoding(first), errors="replace").strip().lstrip("\ufeff")
    line = mask_accounts_in_text(line)
    line = line if len(line) <= 160 else line[:159] + "…"
    names = ", ".join(layout.name for layout in layouts(folder))
    return BankParseError(str(path), "line 1", f"no bank CSV mapping matches this header ({line}); "
                                               f"bank CSV layouts known: {names}")


# --- parsing -----------------------------------------------------------------------------------

def layout_for(path: Path, folder: Path | None = None) -> Layout:
    """The layout of a bank CSV export; BankParseError when the file is empty or no layout fits."""
    head = read_head(path)
    if not head.strip():
        raise BankParseError(str(path), None, "the file is empty")
    layout = match_layout(head, folder)
    if layout is None:
        raise _no_match(path, head, folder)
    return layout


def map_export(path: Path, layout: Layout, mapping: Mapping | None = None,
               settings: FeedSettings | None = None) -> MapResult:
    """The export through its layout's mapping (or ``mapping``, the same with another drift policy),
    with the preamble and settings values it reads."""
    mapping = mapping or layout.mapping
    try:
        source = _central_european(path, mapping)
        if not layout.outside and source is mapping.source:
            return mapping.map_file(path, source_name=path.name)
        above: dict[str, str] = {}
        if layout.reads_preamble:
            found = header_line(layout, read_head(path))
            if found is None:
                raise BankParseError(str(path), None, f"no header line of {layout.name} in the first "
                                                      f"{MAX_PREAMBLE_LINES} lines")
            source = replace(source, header_row=found[0] + 1)
            above = found[1]
        table = read_source(path, source, mapping.used_columns)
        for column in sorted(layout.outside):
            value = _outside_value(path, layout, column, above, settings or FeedSettings())
            table.data[column] = np.full(len(table), value, dtype=object)
            table.columns.append(column)
        return run_mapping(mapping, table, source_name=path.name, engine="columnar")
    except (SourceError, DriftError) as exc:
        raise BankParseError(str(path), None, f"cannot be read as {layout.name}: {exc}") from None


def _central_european(path: Path, mapping: Mapping) -> SourceOptions:
    """The mapping's source options, read as cp852 when the file is in that code page (see _encodings)."""
    source = mapping.source
    encodings = _encodings(source.encodings, read_head(path))
    return source if encodings is source.encodings else replace(source, encodings=encodings)


def _encodings(encodings: list[str], head: bytes) -> list[str]:
    """A mapping's encodings for a file starting with ``head``: cp852 alone when the file is in that code
    page and the mapping takes a single-byte one (cp1252 would decode it too, into the wrong letters)."""
    single_byte = [e for e in encodings if _codec(e) not in ("utf-8", "utf-8-sig", "unknown")]
    if single_byte and CENTRAL_EUROPEAN not in single_byte and detect_encoding(head) == CENTRAL_EUROPEAN:
        return [CENTRAL_EUROPEAN]
    return encodings


def _codec(encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        return "unknown"  # the mapping engine names it when it reads the file


def _outside_value(path: Path, layout: Layout, column: str, above: dict[str, str], settings: FeedSettings) -> str:
    if column.startswith(PREAMBLE):
        name = column[len(PREAMBLE):]
        if name not in above:
            raise BankParseError(str(path), None, f"{layout.name} reads {name!r} from the lines above the header; "
                                                  "the file has no such line")
        return above[name]
    name = column[len(SETTING):]
    if name == "account":
        return settings.need_account(str(path), f"{layout.name} exports do not name the holder's own account")
    if name == "currency":
        return settings.need_currency(str(path), f"{layout.name} exports carry no currency")
    raise BankParseError(str(path), None, f"mapping {layout.mapping.display_path} reads {column!r}: there is no "
                                          "such setting (account, currency)")


def mapped_rows(result: MapResult) -> list[tuple[int, dict[str, Any]]]:
    """(row, mapped record) of the rows that mapped without error."""
    return [(int(row), rec) for row, rec in zip(result.frame["_row"].tolist(), result.records(), strict=True)]


def parse(path: Path | str, folder: Path | None = None, *, settings: FeedSettings | None = None) -> Iterator[Record]:
    """Statements (one per account) each followed by its transactions; BankParseError on bad input:
    strict, the first bad row refuses the file (a feed instead quarantines bad rows, see ledgerlink.bank).
    ``settings``: the feed's, for layouts that read them (``settings:account``)."""
    path = Path(path)
    layout = layout_for(path, folder)
    mapping = layout.mapping
    result = map_export(path, layout, settings=settings)
    if result.errors:
        err = result.errors[0]
        where = f"{mapping.display_path} line {err.mapping_line}" if err.mapping_line else mapping.display_path
        position = f"line {err.row}" if err.row is not None else None
        raise BankParseError(str(path), position, f"field {err.field}, rule {err.rule}: {err.message} "
                                                  f"({layout.name}, {where})")
    drift = [event.detail for event in result.drift]
    # every account is checked (running balance) before the first record is yielded
    statements, _ = group_statements(path, layout, mapped_rows(result), drift=drift, strict=True)
    for statement, transactions in statements:
        yield statement
        yield from transactions


def group_statements(path: Path, layout: Layout, rows: list[tuple[int, dict[str, Any]]], *, drift: Sequence[str] = (),
                     strict: bool) -> tuple[list[tuple[Statement, list[Transaction]]], list[dict[str, Any]]]:
    """Mapped rows as one statement per account (in the order the accounts first appear), its entries in
    date order, with the balances the running balance gives. A running balance that does not continue
    refuses the file when ``strict``; otherwise it is a finding and that statement has no balances."""
    accounts: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for row, rec in rows:
        accounts.setdefault(rec["account"], []).append((row, rec))
    out, findings = [], []
    for entries in accounts.values():
        ordered, broken = _in_date_order(path, entries, strict=strict)
        if broken is not None:
            row, message = broken
            findings.append({"kind": "balance_continuity", "account": entries[0][1]["account"],
                             "message": f"{path.name} line {row}: {message}: the statement is loaded without "
                                        "opening and closing balances"})
        statement = _statement(layout, ordered, list(drift), balances=broken is None)
        out.append((statement, [transaction_of_row(row, rec) for row, rec in ordered]))
    return out, findings


def _statement(layout: Layout, entries: list[tuple[int, dict[str, Any]]], drift: list[str], *,
               balances: bool) -> Statement:
    first = entries[0][1]
    currencies = {rec["currency"] for _row, rec in entries}
    currency = first["currency"] if len(currencies) == 1 else None
    opening, closing = _balances(entries, currency or first["currency"]) if balances else (None, None)
    dates = [rec["booking_date"] for _row, rec in entries]
    extra: dict[str, Any] = {"mapping": layout.mapping.display_path, "entries": len(entries)}
    if drift:
        extra["drift"] = drift
    return Statement(
        format=f"csv:{layout.name}",
        account_iban=first.get("account_iban"),
        account_number=None if first.get("account_iban") else first["account"],
        account_bic=next((rec["account_bic"] for _row, rec in entries if rec.get("account_bic")), None),
        currency=currency,
        opening_balance=opening,
        closing_balance=closing,
        from_date=min(dates),
        to_date=max(dates),
        position=f"line {min(row for row, _rec in entries)}",
        extra=extra,
    )


def statement_of_row(layout_name: str, rec: dict[str, Any]) -> Statement:
    """The statement a single row belongs to, without balances (a quarantined row replayed alone)."""
    return Statement(format=f"csv:{layout_name}", account_iban=rec.get("account_iban"),
                     account_number=None if rec.get("account_iban") else rec["account"],
                     account_bic=rec.get("account_bic"), currency=rec.get("currency"))


def transaction_of_row(row: int | None, rec: dict[str, Any]) -> Transaction:
    iban = rec.get("counterparty_iban")
    return Transaction(
        amount=rec["amount"],
        currency=rec["currency"],
        booking_date=rec["booking_date"],
        value_date=rec.get("value_date"),
        statement_id=rec.get("statement_id"),
        counterparty_name=rec.get("counterparty_name"),
        counterparty_iban=iban,
        counterparty_account=None if iban else rec.get("counterparty_account"),
        counterparty_bic=rec.get("counterparty_bic"),
        end_to_end_id=rec.get("end_to_end_id"),
        # the bank's reference where the layout has one, else the mapping's entry id
        bank_reference=rec.get("bank_reference") or rec.get("entry_id"),
        structured_reference=rec.get("structured_reference"),
        remittance_text=rec.get("remittance_text"),
        bank_transaction_code=rec.get("bank_transaction_code"),
        is_reversal=bool(rec.get("is_reversal")),
        position=None if row is None else f"line {row}",
    )


# --- order and running balance -----------------------------------------------------------------

def _balance_kind(entries: list[tuple[int, dict[str, Any]]]) -> str | None:
    for kind in ("balance_after", "balance_before"):
        if all(rec.get(kind) is not None for _row, rec in entries):
            return kind
    return None


def _in_date_order(path: Path, entries: list[tuple[int, dict[str, Any]]], *,
                   strict: bool) -> tuple[list[tuple[int, dict[str, Any]]], tuple[int, str] | None]:
    """The entries oldest first, and where the running balance breaks (None: it continues). Exports list
    them oldest or newest first; with a running balance the order is the one in which the balance runs
    on (same-day entries cannot be told apart by date)."""
    dates: list[date] = [rec["booking_date"] for _row, rec in entries]
    newest_first = dates[0] > dates[-1] and all(a >= b for a, b in zip(dates, dates[1:], strict=False))
    order = entries[::-1] if newest_first else entries
    kind = _balance_kind(entries)
    if kind is None:
        return order, None
    broken = _break(order, kind)
    if broken is None:
        return order, None
    if dates[0] == dates[-1] and _break(order[::-1], kind) is None:
        return order[::-1], None
    row, message = broken
    if strict:
        raise BankParseError(str(path), f"line {row}", f"field {kind}, rule balance.continuity: {message}")
    return order, broken


def _break(entries: list[tuple[int, dict[str, Any]]], kind: str) -> tuple[int, str] | None:
    """The first entry (row, message) where the running balance does not continue, or None."""
    for i, (row, rec) in enumerate(entries):
        amount: Decimal = rec["amount"]
        if rec.get("balance_before") is not None and rec.get("balance_after") is not None \
                and rec["balance_before"] + amount != rec["balance_after"]:
            return row, (f"balance before {rec['balance_before']} + amount {amount} is not the balance after "
                         f"{rec['balance_after']}")
        if i == 0:
            continue
        prev = entries[i - 1][1]
        if kind == "balance_after":
            expected = prev["balance_after"] + amount
            given = rec["balance_after"]
            what = f"previous balance {prev['balance_after']} + amount {amount} = {expected}"
        else:
            expected = prev["balance_before"] + prev["amount"]
            given = rec["balance_before"]
            what = f"previous balance before {prev['balance_before']} + its amount {prev['amount']} = {expected}"
        if expected != given:
            return row, f"the running balance does not continue: {what}, but the balance is {given}"
    return None


def _balances(entries: list[tuple[int, dict[str, Any]]], currency: str) -> tuple[Balance | None, Balance | None]:
    kind = _balance_kind(entries)
    if kind is None:
        return None, None
    first, last = entries[0][1], entries[-1][1]
    if kind == "balance_after":
        opening = first["balance_after"] - first["amount"]
        closing = last["balance_after"]
    else:
        opening = first["balance_before"]
        closing = last["balance_before"] + last["amount"]
    return Balance(opening, currency, first["booking_date"]), Balance(closing, currency, last["booking_date"])
