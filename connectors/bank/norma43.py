"""Spanish Norma 43 statements (AEB / CSB Cuaderno 43, "Información normalizada de cuenta corriente").

Fixed-width records of 80 characters:

    00  file header (optional, older files)
    11  account header: bank, branch, account number, period, initial balance with its sign code
        (1 debit, 2 credit), currency as an ISO 4217 numeric code (978 = EUR), holder name
    22  movement: operation and value dates, common and own concept codes, sign code, amount,
        document number, references 1 and 2
    23  complementary concept (up to five per movement): remittance text
    24  currency equivalence of the preceding movement
    33  account end: number and total of debits and credits, final balance
    88  end of file: number of records

Amounts have two implied decimals. One ``Statement`` per 11..33 account; the account number is
the 20-digit CCC (bank, branch, control digits, account), the control digits being computed
from the other parts, and the IBAN is derived from it. The common and own concept codes give
``bank_transaction_code`` (``04-007``), the 23 concepts the remittance text; references 1 and 2
become ``customer_reference`` and the document number ``bank_reference``. A 24 equivalence is
kept in the statement's ``extra["currency_equivalences"]``.

Malformed input raises ``BankParseError``. Each account is reconciled with its 33 record: counts
and totals of debits and credits, initial balance + credits - debits == final balance, account
and currency; the 88 record count is checked too (some banks count the 88 record itself, which is
accepted). A difference, or a missing 33 or 88 record, is a discrepancy: with ``strict=True`` it
raises ``BankParseError``; by default it is recorded in the statement's ``extra["discrepancies"]``
(88: logged as a warning, the statements having been yielded).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from iso4217 import Currency

from .model import Balance, Record, Statement, Transaction
from .text import ControlledFileParser, fixed_width_lines

FORMAT = "norma43"
RECORD_LENGTH = 80

_NUMERIC_CURRENCY = {c.number: c.code for c in Currency if c.number}
_DIGITS = re.compile(r"\d+")
_ACCOUNT_HEADER = re.compile(rb"11\d{30}[0-9 ]\d{17}")
_FILE_HEADER = re.compile(rb"00\d{10}")
_CCC_WEIGHTS = (1, 2, 4, 8, 5, 10, 9, 7, 3, 6)


def detect(head: bytes) -> bool:
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8):]
    lines = [line for line in head.splitlines() if line.strip()][:2]
    if lines and _FILE_HEADER.match(lines[0]) and len(lines[0].rstrip()) <= RECORD_LENGTH:
        lines = lines[1:]
    return bool(lines) and _ACCOUNT_HEADER.match(lines[0]) is not None and len(lines[0].rstrip()) <= RECORD_LENGTH


def ccc_control_digits(bank: str, branch: str, account: str) -> str:
    """The two control digits of a Spanish CCC (bank 4, branch 4, account 10 digits)."""

    def digit(number: str) -> str:
        total = sum(int(c) * w for c, w in zip(number.rjust(10, "0"), _CCC_WEIGHTS, strict=True))
        d = 11 - total % 11
        return "1" if d == 10 else "0" if d == 11 else str(d)

    return digit("00" + bank + branch) + digit(account)


def spanish_iban(ccc: str) -> str:
    return f"ES{98 - int(ccc + '142800') % 97:02d}{ccc}"


@dataclass
class _Account:
    statement: Statement
    key: str  # bank + branch + account, as in the 11 record
    currency_code: str
    transactions: list[Transaction] = field(default_factory=list)
    concepts: int = 0  # 23 records of the current movement
    debits: int = 0
    credits: int = 0
    debit_total: Decimal = Decimal("0.00")
    credit_total: Decimal = Decimal("0.00")


class _Parser(ControlledFileParser):
    def __init__(self, path: Path, strict: bool) -> None:
        super().__init__(path, strict)
        self.account: _Account | None = None
        self.records = 0  # every record but 00 and 88
        self.ended = False  # 88 seen
        self.lineno = 0



    def run(self) -> Iterator[Record]:
        seen = False
        for lineno, line in fixed_width_lines(self.path, RECORD_LENGTH, "Norma 43"):
            self.lineno = lineno
            code = line[:2]
            position = f"record {code} at line {lineno}"
            handler = getattr(self, f"_rec_{code}", None)
            if handler is None:
                raise self.error(position, f"unknown Norma 43 record type {code!r}")
            if not seen and code not in ("00", "11"):
                raise self.error(position, "a Norma 43 file starts with an 11 account header record")
            if self.ended:
                raise self.error(position, "record after the 88 end-of-file record")
            seen = True
            if code not in ("00", "88"):
                self.records += 1
            result = handler(line, position)
            if result is not None:
                yield from result
        if not seen:
            raise self.error(None, "no Norma 43 records in the file")
        yield from self._close_open_account(f"line {self.lineno}", "file ends")
        if not self.ended:
            self.discrepancy(f"line {self.lineno}", "no 88 end-of-file record (truncated file?)", None)

    def _close_open_account(self, position: str, what: str) -> Iterator[Record]:
        account = self.account
        if account is None:
            return
        self.discrepancy(position, f"{what} inside account {account.statement.account_number}, "
                                   "without its 33 end-of-account record (no final balance)", account.statement)
        yield from self._flush()

    def _flush(self) -> Iterator[Record]:
        account = self.account
        assert account is not None
        self.account = None
        yield account.statement
        yield from account.transactions

    def _current(self, position: str) -> _Account:
        if self.account is None:
            raise self.error(position, "record outside an account (no 11 account header before it)")
        return self.account

    def _rec_00(self, line: str, position: str) -> None:
        if self.records:
            raise self.error(position, "00 file header record after the first account")
        _date(line[6:12], self, position, "file date")

    def _rec_11(self, line: str, position: str) -> Iterator[Record]:
        yield from self._close_open_account(position, "a new account header")
        bank, branch, number = line[2:6], line[6:10], line[10:20]
        for value, what in ((bank, "bank code"), (branch, "branch code"), (number, "account number")):
            if not _DIGITS.fullmatch(value):
                raise self.error(position, f"{what} {value!r} is not numeric")
        start = _date(line[20:26], self, position, "start date")
        end = _date(line[26:32], self, position, "end date")
        currency = self._currency(line[47:50], position)
        ccc = bank + branch + ccc_control_digits(bank, branch, number) + number
        statement = Statement(format=FORMAT, statement_id=f"{ccc}/{start:%Y%m%d}-{end:%Y%m%d}",
                              account_iban=spanish_iban(ccc), account_number=ccc, currency=currency,
                              from_date=start, to_date=end, position=position,
                              extra={"information_mode": line[50].strip()})
        holder = line[51:77].strip()
        if holder:
            statement.extra["account_holder"] = holder
        sign = self._sign(line[32], position, "initial balance", statement)
        amount = _amount(line[33:47], self, position, "initial balance")
        statement.opening_balance = Balance(_negate(amount) if sign < 0 else amount, currency, start, kind="initial")
        self.account = _Account(statement, bank + branch + number, line[47:50])

    def _rec_22(self, line: str, position: str) -> None:
        account = self._current(position)
        if line[27] not in "12":
            raise self.error(position, f"debit/credit code {line[27]!r} is neither 1 (debit) nor 2 (credit)")
        amount = _amount(line[28:42], self, position, "amount")
        if line[27] == "1":
            account.debits += 1
            account.debit_total += amount
            amount = _negate(amount)
        else:
            account.credits += 1
            account.credit_total += amount
        common, own = line[22:24], line[24:27]
        if not (_DIGITS.fullmatch(common) and _DIGITS.fullmatch(own)):
            raise self.error(position, f"concept codes {common!r}/{own!r} are not numeric")
        refs = [r for r in (line[52:64].strip(), line[64:80].strip()) if r.strip("0")]
        document = line[42:52].strip()
        statement = account.statement
        account.transactions.append(Transaction(
            amount=amount, currency=statement.currency or "", statement_id=statement.statement_id,
            booking_date=_date(line[10:16], self, position, "operation date"),
            value_date=_date(line[16:22], self, position, "value date"),
            bank_transaction_code=f"{common}-{own}",
            bank_reference=document if document.strip("0") else None,
            customer_reference=" / ".join(refs) or None,
            position=position))
        account.concepts = 0

    def _rec_23(self, line: str, position: str) -> None:
        tx = self._last(position)
        account = self._current(position)
        account.concepts += 1
        if not _DIGITS.fullmatch(line[2:4]):
            raise self.error(position, f"concept data code {line[2:4]!r} is not numeric")
        text = " ".join(s for s in (line[4:42].strip(), line[42:80].strip()) if s)
        if text:
            tx.remittance_text = f"{tx.remittance_text} {text}" if tx.remittance_text else text

    def _rec_24(self, line: str, position: str) -> None:
        tx = self._last(position)
        account = self._current(position)
        currency = self._currency(line[4:7], position)
        amount = _amount(line[7:21], self, position, "equivalent amount")
        entry: dict[str, Any] = {"position": tx.position, "currency": currency,
                                 "amount": _negate(amount) if tx.amount < 0 else amount}
        account.statement.extra.setdefault("currency_equivalences", []).append(entry)

    def _rec_33(self, line: str, position: str) -> Iterator[Record]:
        account = self._current(position)
        st = account.statement
        if line[2:20] != account.key:
            self.discrepancy(position, f"account {line[2:20]!r} differs from the 11 record's {account.key!r}", st)
        if line[73:76] != account.currency_code:
            self.discrepancy(position, f"currency {line[73:76]!r} differs from the 11 record's "
                                       f"{account.currency_code!r}", st)
        debits = _int(line[20:25], self, position, "number of debits")
        debit_total = _amount(line[25:39], self, position, "total debits")
        credits = _int(line[39:44], self, position, "number of credits")
        credit_total = _amount(line[44:58], self, position, "total credits")
        sign = self._sign(line[58], position, "final balance", st)
        final = _amount(line[59:73], self, position, "final balance")
        final = _negate(final) if sign < 0 else final
        if (debits, debit_total) != (account.debits, account.debit_total):
            self.discrepancy(position, f"{debits} debits totalling {debit_total} announced, the account has "
                                       f"{account.debits} totalling {account.debit_total}", st)
        if (credits, credit_total) != (account.credits, account.credit_total):
            self.discrepancy(position, f"{credits} credits totalling {credit_total} announced, the account has "
                                       f"{account.credits} totalling {account.credit_total}", st)
        assert st.opening_balance is not None
        expected = st.opening_balance.amount + account.credit_total - account.debit_total
        if final != expected:
            self.discrepancy(position, f"final balance {final} differs from initial balance "
                                       f"{st.opening_balance.amount} + credits - debits = {expected}", st)
        st.closing_balance = Balance(final, st.currency or "", st.to_date, kind="final")
        yield from self._flush()

    def _rec_88(self, line: str, position: str) -> Iterator[Record]:
        yield from self._close_open_account(position, "the end-of-file record")
        self.ended = True
        count = _int(line[20:26], self, position, "number of records")
        if count not in (self.records, self.records + 1):  # some banks count the 88 record itself
            self.discrepancy(position, f"end-of-file record counts {count} records, the file has "
                                       f"{self.records} (00 and 88 not counted)", None)

    def _last(self, position: str) -> Transaction:
        account = self._current(position)
        if not account.transactions:
            raise self.error(position, "record without the 22 movement record it belongs to")
        return account.transactions[-1]

    def _currency(self, code: str, position: str) -> str:
        if not _DIGITS.fullmatch(code) or int(code) not in _NUMERIC_CURRENCY:
            raise self.error(position, f"currency {code!r} is not an ISO 4217 numeric currency code")
        return _NUMERIC_CURRENCY[int(code)]

    def _sign(self, code: str, position: str, what: str, statement: Statement) -> int:
        if code == "1":
            return -1
        if code != "2":
            # Seen in files of some generators for a credit balance; read as credit.
            self.discrepancy(position, f"{what} sign code {code!r} is neither 1 (debit) nor 2 (credit), "
                                       "read as credit", statement)
        return 1


def parse(path: Path, *, strict: bool = False) -> Iterator[Record]:
    """Statements (one per 11..33 account) and their transactions from a Norma 43 file.

    ``strict=True`` raises on totals or balances that do not reconcile instead of recording them."""
    return _Parser(Path(path), strict).run()


def _int(value: str, p: _Parser, position: str, what: str) -> int:
    if not _DIGITS.fullmatch(value):
        raise p.error(position, f"{what} {value!r} is not a number")
    return int(value)


def _amount(value: str, p: _Parser, position: str, what: str) -> Decimal:
    # Two implied decimals, whatever the currency.
    return Decimal(_int(value, p, position, what)).scaleb(-2)


def _negate(amount: Decimal) -> Decimal:
    return -amount if amount else amount  # no "-0.00"


def _date(value: str, p: _Parser, position: str, what: str) -> date:
    if not _DIGITS.fullmatch(value) or len(value) != 6:
        raise p.error(position, f"{what} {value!r} is not YYMMDD")
    try:
        yy = int(value[:2])
        return date((1900 if yy >= 69 else 2000) + yy, int(value[2:4]), int(value[4:]))
    except ValueError:
        raise p.error(position, f"{what} {value!r} is not a valid date") from None
