"""QIF (Quicken Interchange Format): the bank, cash and credit-card registers of a QIF export.

A QIF file is a series of sections, each opened by a ``!`` line: ``!Type:Bank`` / ``!Type:CCard``
(also ``Cash``, ``Oth A``, ``Oth L``, which have the same layout) hold transactions, ``!Account``
blocks name the account the following sections belong to (N name, T type, ``$`` balance, ``/``
balance date), and the other sections (categories, classes, securities, investment registers,
memorised transactions) are not bank data and are skipped. A record is a set of lines, each a
one-letter code and a value, ended by ``^``:

    D date  T amount (U: the same, more precise)  P payee  M memo  N number/reference  C cleared
    L category ("[Other account]" for a transfer)  A address line
    S split category  E split memo  $ split amount  (% split percentage)

One ``Statement`` per run of records of one account. QIF carries no currency and no account
number: the currency comes from the feed's settings (refused when none is configured), the account
from its settings (``account``) when the file holds one account, else from the ``!Account`` name.
Amounts may carry thousands separators (``-1,000.00``, ``-1.000,00``). Dates come as M/D/Y, D/M/Y
or Y/M/D with ``/``, ``-``, ``.`` or Quicken's ``'`` before the year (``2/14'2020``, ``1/ 1'00``), with
2- or 4-digit years (2-digit: 00-69 are 20xx). The order is the feed's ``date_order`` setting, else
judged from the file's own dates (all dates must fit it); Quicken's ``'`` form is month first. When
the file's dates fit more than one order (``3/4/13``), the file is refused until one is configured.
Splits become the entry's ``batch`` (amount, and category/memo as the text). QIF has no balances
except an ``!Account`` block's own, used as the closing balance.
"""

from __future__ import annotations

import codecs
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from ledgerlink.model.identifiers import is_iban

from .model import Balance, BankParseError, BatchDetail, Record, Statement, Transaction
from .settings import DATE_ORDERS, FeedSettings
from .text import numbered_lines

FORMAT = "qif"
TAKES_SETTINGS = True

log = logging.getLogger(__name__)

REGISTERS = {"bank": "Bank", "ccard": "CCard", "cash": "Cash", "oth a": "Oth A", "oth l": "Oth L"}
_HEAD = re.compile(rb"!(type:|account|option:|clear:)", re.I)
_DATE = re.compile(r"(\d{1,4})\s*[/.\-]\s*(\d{1,2})\s*(['/.\-])\s*(\d{1,4})")


def detect(head: bytes) -> bool:
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8):]
    for line in head.splitlines()[:50]:
        line = line.strip()
        if not line or line.startswith(b"#") or line == b"^":
            continue
        return _HEAD.match(line) is not None
    return False


@dataclass
class _Account:
    name: str | None = None
    kind: str | None = None
    balance: str | None = None
    balance_date: str | None = None
    line: int = 0


@dataclass
class _Entry:
    line: int
    fields: list[tuple[str, str, int]] = field(default_factory=list)  # (code, value, line)


def parse(path: Path, *, settings: FeedSettings | None = None) -> Iterator[Record]:
    """Statements (one per run of an account's bank/card records) and their transactions."""
    path = Path(path)
    settings = settings or FeedSettings()
    currency = settings.need_currency(str(path), "a QIF file carries no currency")
    scan = _scan(path)
    order = settings.date_order or _judge_order(path, scan)
    account_setting = settings.account if len(scan.accounts) <= 1 else None
    return _Reader(path, currency, order, account_setting).run()


# -- the first pass: which date order, how many accounts -----------------------------------------

@dataclass
class _Scan:
    orders: set[str] = field(default_factory=lambda: set(DATE_ORDERS))
    apostrophe: bool = False
    first_ambiguous: tuple[int, str] | None = None
    accounts: set[str] = field(default_factory=set)
    dates: int = 0


def _scan(path: Path) -> _Scan:
    out = _Scan()
    section = None
    for lineno, line in numbered_lines(path):
        text = line.strip()
        if text.startswith("!"):
            section = text[1:].lower()
            continue
        if section == "account" and text.startswith("N") and text[1:].strip():
            out.accounts.add(text[1:].strip())
        if text.startswith("D") and section and section.startswith("type:") \
                and section[5:].strip() in REGISTERS:
            raw = text[1:].strip()
            m = _DATE.fullmatch(raw)
            if m is None:
                continue  # reported with its line when the record is read
            out.dates += 1
            out.apostrophe |= m.group(3) == "'"
            fits = {o for o in out.orders if _date_in(m, o) is not None}
            if len(fits) > 1 and out.first_ambiguous is None:
                out.first_ambiguous = (lineno, raw)
            out.orders = fits or out.orders  # a date no order reads is reported on its line
    return out


def _judge_order(path: Path, scan: _Scan) -> str:
    if scan.dates == 0 or len(scan.orders) == 1:
        return next(iter(scan.orders)) if len(scan.orders) == 1 else "MDY"
    if scan.apostrophe and "MDY" in scan.orders:
        return "MDY"  # Quicken's own M/D'YY
    where = f"line {scan.first_ambiguous[0]}" if scan.first_ambiguous else None
    example = f" ({scan.first_ambiguous[1]!r})" if scan.first_ambiguous else ""
    raise BankParseError(str(path), where, f"field D: the dates{example} read as {' or '.join(sorted(scan.orders))}: "
                                           "set the feed's settings: date_order (DMY, MDY or YMD; ledgerlink bank "
                                           "parse --date-order)")


def _date_in(m: re.Match[str], order: str) -> date | None:
    a, b, c = m.group(1), m.group(2), m.group(4)
    if order == "YMD":
        year, month, day = a, b, c
        if len(c) > 2:
            return None
    else:
        if len(a) > 2:
            return None
        month, day = (a, b) if order == "MDY" else (b, a)
        year = c
    if len(year) not in (2, 4):
        return None
    y = int(year)
    if len(year) == 2:
        y += 2000 if y < 70 else 1900
    try:
        return date(y, int(month), int(day))
    except ValueError:
        return None


# -- the second pass: records ---------------------------------------------------------------------

class _Reader:
    def __init__(self, path: Path, currency: str, order: str, account: str | None) -> None:
        self.path = path
        self.currency = currency
        self.order = order
        self.account_setting = account
        self.account = _Account()
        self.autoswitch = False  # between !Option:AutoSwitch and !Clear:AutoSwitch: a list of accounts
        self.skipped: dict[str, int] = {}

    def error(self, line: int, reason: str) -> BankParseError:
        return BankParseError(str(self.path), f"line {line}", reason)

    def run(self) -> Iterator[Record]:
        section: str | None = None
        entry: _Entry | None = None
        pending: list[Transaction] = []
        pending_from: _Account | None = None
        for lineno, raw in numbered_lines(self.path):
            text = raw.strip()
            if not text or text.startswith("#"):
                continue
            if text.startswith("!"):
                if entry is not None and entry.fields:
                    raise self.error(entry.line, "record not ended by '^' before the next section")
                entry = None
                header = re.sub(r"\s+", " ", text[1:].strip().lower())
                if header == "option:autoswitch":
                    self.autoswitch = True
                elif header == "clear:autoswitch":
                    self.autoswitch = False
                elif header == "account":
                    section = "account"
                elif header.startswith(("option:", "clear:")):
                    pass  # other options do not change what the records say
                else:  # !Type:Cat, !Type:Invst, !Type:Security, ...: not bank data, skipped
                    section = header[5:].strip() if header.startswith("type:") else header
                    self.skipped.setdefault(section, 0)
                continue
            if text == "^":
                if entry is not None and entry.fields:
                    if section == "account":
                        self._account_block(entry)
                    elif section in REGISTERS:
                        if pending and pending_from is not self.account:
                            assert pending_from is not None
                            yield from self._statement(pending_from, pending)
                            pending = []
                        pending_from = self.account
                        if self.account.kind is None:
                            self.account.kind = REGISTERS[section]
                        pending.append(self._transaction(entry))
                    elif section is not None:
                        self.skipped[section] = self.skipped.get(section, 0) + 1
                entry = None
                continue
            if section is None:
                raise self.error(lineno, "QIF line before any '!Type:' or '!Account' section header")
            if entry is None:
                entry = _Entry(lineno)
            entry.fields.append((text[0], text[1:].strip(), lineno))
        if entry is not None and entry.fields and section in REGISTERS:
            raise self.error(entry.line, "the last record is not ended by '^' (truncated file?)")
        if pending:
            assert pending_from is not None
            yield from self._statement(pending_from, pending)
        skipped = {k: v for k, v in self.skipped.items() if v}
        if skipped:
            log.info("%s: QIF sections that are not bank or card registers skipped: %s", self.path,
                     ", ".join(f"{k} ({v} records)" for k, v in sorted(skipped.items())))

    def _account_block(self, entry: _Entry) -> None:
        values = {code: value for code, value, _line in entry.fields}
        account = _Account(name=values.get("N") or None, kind=values.get("T") or None, balance=values.get("$") or None,
                           balance_date=values.get("/") or None, line=entry.line)
        if not self.autoswitch:  # an autoswitch list only announces accounts
            self.account = account

    def _statement(self, account: _Account, transactions: list[Transaction]) -> Iterator[Record]:
        number = self.account_setting or account.name
        iban = number.upper() if number and is_iban(number) else None
        closing = None
        if account.balance:
            when = self._date(account.balance_date, account.line) if account.balance_date else None
            closing = Balance(self._amount(account.balance, account.line, "$"), self.currency, when, kind="account")
        dates = [t.booking_date for t in transactions if t.booking_date]
        extra = {k: v for k, v in (("account_name", account.name), ("account_type", account.kind),
                                   ("date_order", self.order)) if v}
        statement = Statement(format=FORMAT, account_iban=iban, account_number=None if iban else number,
                              currency=self.currency, closing_balance=closing,
                              from_date=min(dates) if dates else None, to_date=max(dates) if dates else None,
                              position=transactions[0].position, extra=extra)
        yield statement
        yield from transactions

    def _transaction(self, entry: _Entry) -> Transaction:
        values: dict[str, tuple[str, int]] = {}
        splits: list[dict[str, str]] = []
        address: list[str] = []
        for code, value, line in entry.fields:
            if code in "SE$%":
                if code == "S" or not splits or code in splits[-1]:
                    splits.append({})
                splits[-1][code] = value
                splits[-1].setdefault("line", str(line))
            elif code == "A":
                address.append(value)
            else:
                values.setdefault(code, (value, line))
        if "D" not in values or not values["D"][0]:
            raise self.error(entry.line, "field D (date): missing in the record")
        booked = self._date(values["D"][0], values["D"][1])
        amount: Decimal | None = None
        for code in ("T", "U"):
            if code in values and values[code][0]:
                given = self._amount(values[code][0], values[code][1], code)
                if amount is not None and given != amount:
                    raise self.error(values[code][1], f"field U: {given} differs from the T amount {amount}")
                amount = given
        if amount is None:
            raise self.error(entry.line, "field T (amount): missing in the record")
        batch = []
        for split in splits:
            line = int(split["line"])
            text = "; ".join(v for v in (split.get("S"), split.get("E")) if v)
            batch.append(BatchDetail(amount=self._amount(split["$"], line, "$") if split.get("$") else None,
                                     currency=self.currency, remittance_text=text or None))
        category = values.get("L", ("", 0))[0]
        transfer = category[1:-1] if category.startswith("[") and category.endswith("]") else None
        number = values.get("N", ("", 0))[0]
        return Transaction(
            amount=amount, currency=self.currency, booking_date=booked,
            counterparty_name=values.get("P", ("", 0))[0] or None,
            counterparty_account=transfer or None,
            customer_reference=number or None,
            remittance_text=" ".join(v for v in (values.get("M", ("", 0))[0], *address) if v) or None,
            batch=batch, position=f"line {entry.line}",
        )

    def _date(self, raw: str, line: int) -> date:
        m = _DATE.fullmatch(raw.strip())
        day = _date_in(m, self.order) if m else None
        if day is None:
            raise self.error(line, f"field D: {raw!r} is not a date in {self.order[0]}/{self.order[1]}/{self.order[2]} "
                                   "order")
        return day

    def _amount(self, raw: str, line: int, code: str) -> Decimal:
        value = parse_amount(raw)
        if value is None:
            raise self.error(line, f"field {code}: {raw!r} is not an amount")
        return value


_NUMBER = re.compile(r"[+-]?(\d{1,3}([,.' ]\d{3})*|\d+)([.,]\d+)?")


def parse_amount(raw: str) -> Decimal | None:
    """A QIF amount: thousands separators (``,`` ``.`` ``'`` or space) and a decimal point or comma.
    The separator before the last group is the decimal one when it is followed by other than three
    digits, or when the other separator comes before it (``1.000,00``, ``1,000.00``)."""
    text = raw.strip().replace("\u00a0", " ")
    if not _NUMBER.fullmatch(text):
        return None
    sign = "-" if text.startswith("-") else ""
    digits = text.lstrip("+-")
    last = max(digits.rfind("."), digits.rfind(","))
    decimal_part = ""
    if last >= 0:
        tail = digits[last + 1:]
        sep = digits[last]
        others = digits[:last]
        decimal_sep = len(tail) != 3 or (sep == "," and "." in others) or (sep == "." and "," in others) \
            or (sep == "." and others.count(".") == 0 and "," not in others and " " not in others
                and "'" not in others)
        if decimal_sep:
            digits, decimal_part = others, tail
    whole = re.sub(r"[,.' ]", "", digits)
    try:
        return Decimal(f"{sign}{whole or '0'}.{decimal_part}" if decimal_part else f"{sign}{whole}")
    except InvalidOperation:
        return None
