"""Belgian CODA statements (Febelfin "Coded statement of account", version 2).

Fixed-width records of 128 characters, one statement per block:

    0  header (creation date, bank, addressee, BIC)
    1  old balance: account (structure 0 Belgian account, 1 foreign account, 2 Belgian IBAN,
       3 foreign IBAN) and currency, sign, amount, date, paper and CODA sequence numbers
    21/22/23  a movement: amount and sign, value and entry dates, transaction code
       (type, family, operation, category), communication (free, or structured: type 101/102 is
       the Belgian structured communication +++123/4567/89012+++), counterparty BIC (22),
       counterparty account and name (23)
    31/32/33  information linked to the preceding movement (communication, counterparty name)
    4  free message
    8  new balance
    9  trailer: record count, debit and credit totals

A movement with a globalisation code opens a batch: the following 21 records with the same
sequence number and a detail number above 0 are its details; they become ``BatchDetail`` entries
of the one ``Transaction`` for the global amount (the balance counts the global amount once).
Amounts have 3 decimals in the file; they are given with the currency's decimals when nothing is
lost (17752.120 EUR -> 17752.12).

A structured communication (type 101 or 102) whose mod-97 check digits are right becomes
``structured_reference`` in the ``+++123/4567/89012+++`` form; with wrong check digits it is not a
valid structured communication, and its 12 digits are kept in ``remittance_text`` instead.

Malformed input raises ``BankParseError``. The statement is reconciled: old balance + movements ==
new balance, the 9 record's count and debit/credit totals, batch details against their global
amount, and the account of the 8 record against the 1 record. A difference is a discrepancy: with
``strict=True`` it raises ``BankParseError``, by default it is recorded in
``extra["discrepancies"]``.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from ledgerlink.model.identifiers import is_iban
from ledgerlink.model.money import MoneyError, currency_exponent

from .model import Balance, BatchDetail, Record, Statement, Transaction
from .text import ControlledFileParser, fixed_width_lines

FORMAT = "coda"
RECORD_LENGTH = 128

_HEAD = re.compile(rb"00000\d{6}")
_DIGITS = re.compile(r"\d+")
_NOT_PROVIDED = {"", "NOTPROVIDED", "NOT PROVIDED"}


def ogm(digits: str) -> str | None:
    """The ``+++123/4567/89012+++`` form of a Belgian structured communication, or None when the
    12 digits are not one (the last two digits are the first ten mod 97, 97 for 0)."""
    if len(digits) != 12 or not digits.isdigit():
        return None
    check = int(digits[:10]) % 97 or 97
    if check != int(digits[10:]):
        return None
    return f"+++{digits[:3]}/{digits[3:7]}/{digits[7:]}+++"


def belgian_iban(bban: str) -> str | None:
    """The IBAN of a 12-digit Belgian account number, None when its check digits are wrong."""
    if len(bban) != 12 or not bban.isdigit() or (int(bban[:10]) % 97 or 97) != int(bban[10:]):
        return None
    return f"BE{98 - int(bban + '111400') % 97:02d}{bban}"


def detect(head: bytes) -> bool:
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8):]
    lines = head.splitlines()
    if len(lines) < 2 or not _HEAD.match(lines[0]):
        return False
    return 100 < len(lines[0].rstrip()) <= RECORD_LENGTH and lines[1][:1] == b"1"


@dataclass
class _Movement:
    tx: Transaction
    seq: str
    detail: str
    glob: int
    comm: list[str] = field(default_factory=list)  # communication pieces, fixed-width (joined raw)
    info: list[str] = field(default_factory=list)  # free information from 3x records
    stack: list[int] = field(default_factory=list)  # open globalisation levels
    details: list[_Movement] = field(default_factory=list)  # batch details (leaves)
    batch: BatchDetail | None = None
    address_next: bool = False  # a 32 record carries the address of a type 001 information record


@dataclass
class _Block:
    header: dict
    statement: Statement | None = None
    exponent: int = 2
    account_raw: str = ""
    movements: list[_Movement] = field(default_factory=list)
    last: _Movement | None = None  # the 21 record the next 22/23/3x belong to
    records: int = 0  # records 1, 2x, 3x, 4 and 8
    closed: bool = False  # record 8 seen
    messages: list[str] = field(default_factory=list)


class _Parser(ControlledFileParser):
    def __init__(self, path: Path, strict: bool) -> None:
        super().__init__(path, strict)
        self.block: _Block | None = None
        self.lineno = 0



    def run(self) -> Iterator[Record]:
        seen = False
        for lineno, line in fixed_width_lines(self.path, RECORD_LENGTH, "CODA"):
            self.lineno = lineno
            kind = line[0]
            code = line[:2] if kind in "23" else kind
            position = f"record {code} at line {lineno}"
            if not seen and kind != "0":
                raise self.error(position, "a CODA file starts with a 0 header record")
            seen = True
            handler = getattr(self, f"_rec_{code}", None)
            if handler is None:
                raise self.error(position, f"unknown CODA record type {code!r}")
            if kind != "0":
                block = self._block(position)
                if kind != "9":
                    block.records += 1
            result = handler(line, position)
            if result is not None:
                yield from result
        if not seen:
            raise self.error(None, "no CODA records in the file")
        if self.block is not None:
            raise self.error(f"line {self.lineno}", "file ends inside a statement (no 9 trailer record; truncated?)")

    def _block(self, position: str) -> _Block:
        if self.block is None:
            raise self.error(position, "record outside a statement (no 0 header record before it)")
        return self.block

    def _statement(self, position: str) -> Statement:
        block = self._block(position)
        if block.statement is None:
            raise self.error(position, "record before the 1 old balance record")
        if block.closed:
            raise self.error(position, "record after the 8 new balance record")
        return block.statement

    # -- header and balances ----------------------------------------------------------------
    def _rec_0(self, line: str, position: str) -> None:
        if self.block is not None:
            raise self.error(position, "0 header record inside a statement (missing 9 trailer record)")
        version = line[127]
        if version != "2":
            raise self.error(position, f"CODA version {version.strip() or 'blank'!r} is not supported "
                                       "(version 2 only)")
        created = _date(line[5:11], self, position, "creation date")
        header = {"created_at": created.isoformat() if created else None, "bic": line[60:71].strip() or None,
                  "extra": {k: v for k, v in (("bank_id", line[11:14].strip()),
                                              ("file_reference", line[24:34].strip()),
                                              ("addressee", line[34:60].strip()),
                                              ("company_id", line[71:82].strip()),
                                              ("separate_application", line[83:88].strip()),
                                              ("duplicate", line[16] == "D")) if v}}
        self.block = _Block(header)

    def _rec_1(self, line: str, position: str) -> None:
        block = self._block(position)
        if block.statement is not None:
            raise self.error(position, "second 1 old balance record in a statement")
        structure = line[1]
        if structure == "0":  # Belgian account number
            account, currency = line[5:17].strip(), line[18:21]
            iban = belgian_iban(account)
        elif structure == "1":  # foreign account number
            account, currency = line[5:39].strip(), line[39:42]
            iban = None
        elif structure in "23":  # IBAN: Belgian (16 characters) or foreign
            account = (line[5:21] if structure == "2" else line[5:39]).strip().replace(" ", "").upper()
            currency = line[39:42]
            iban = account if is_iban(account) else None
        else:
            raise self.error(position, f"unknown account structure {structure!r} (0, 1, 2 or 3)")
        if not account:
            raise self.error(position, "1 old balance record without an account number")
        currency = currency.strip().upper()
        block.exponent = _exponent(currency, self, position)
        opening = Balance(self._amount(line[42], line[43:58], position, "old balance", block.exponent),
                          currency, _date(line[58:64], self, position, "old balance date"), kind="old")
        block.account_raw = line[5:42]
        holder, description = line[64:90].strip(), line[90:125].strip()
        block.statement = Statement(
            format=FORMAT, sequence=line[125:128].strip() or None, account_iban=iban, account_number=account,
            account_bic=block.header["bic"], currency=currency, opening_balance=opening,
            created_at=block.header["created_at"], position=position,
            extra={**block.header["extra"], "paper_sequence": line[2:5].strip(),
                   **({"account_holder": holder} if holder else {}),
                   **({"account_description": description} if description else {})})

    def _rec_8(self, line: str, position: str) -> None:
        statement = self._statement(position)
        block = self._block(position)
        if line[4:41].rstrip() != block.account_raw.rstrip():
            self.discrepancy(position, f"account {line[4:41].strip()!r} differs from the 1 record's "
                                       f"{block.account_raw.strip()!r}", statement)
        statement.closing_balance = Balance(
            self._amount(line[41], line[42:57], position, "new balance", block.exponent),
            statement.currency or "", _date(line[57:63], self, position, "new balance date"), kind="new")
        block.closed = True

    def _rec_9(self, line: str, position: str) -> Iterator[Record]:
        block = self._block(position)
        statement = block.statement
        if statement is None or not block.closed or statement.closing_balance is None:
            raise self.error(position, "9 trailer record before the 8 new balance record")
        self.block = None
        count = _int(line[16:22], self, position, "number of records")
        debit = self._amount("0", line[22:37], position, "debit total", block.exponent)
        credit = self._amount("0", line[37:52], position, "credit total", block.exponent)
        movements = [m.tx.amount for m in block.movements]
        zero = Decimal(0).scaleb(-block.exponent)
        debits = -sum((a for a in movements if a < 0), zero) or zero
        credits = sum((a for a in movements if a > 0), zero)
        if count != block.records:
            self.discrepancy(position, f"trailer counts {count} records, the statement has {block.records} "
                                       "(records 1 to 8)", statement)
        if debit != debits or credit != credits:
            self.discrepancy(position, f"trailer totals debit {debit} / credit {credit}, the movements add up "
                                       f"to debit {debits} / credit {credits}", statement)
        opening, closing = statement.opening_balance, statement.closing_balance
        assert opening is not None
        if opening.amount + credits - debits != closing.amount:
            self.discrepancy(position, f"old balance {opening.amount} + movements {credits - debits} = "
                                       f"{opening.amount + credits - debits}, the new balance is {closing.amount}",
                             statement)
        for m in block.movements:
            self._finish(m, block, statement)
        dates = [m.tx.booking_date for m in block.movements if m.tx.booking_date]
        statement.to_date = closing.date
        statement.from_date = min([*dates, closing.date]) if closing.date else min(dates, default=None)
        year = f"{closing.date.year}-" if closing.date else ""
        statement.statement_id = f"{statement.account}/{year}{statement.extra['paper_sequence']}"
        if block.messages:
            statement.extra["messages"] = block.messages
        yield statement
        for m in block.movements:
            m.tx.statement_id = statement.statement_id
            yield m.tx

    # -- movements ---------------------------------------------------------------------------
    def _rec_21(self, line: str, position: str) -> None:
        statement = self._statement(position)
        block = self._block(position)
        seq, detail = line[2:6], line[6:10]
        if not (seq.isdigit() and detail.isdigit()):
            raise self.error(position, f"sequence/detail number {seq + detail!r} is not numeric")
        amount = self._amount(line[31], line[32:47], position, "amount", block.exponent)
        glob = _int(line[124], self, position, "globalisation code")
        tx = Transaction(
            amount=amount, currency=statement.currency or "", position=position,
            value_date=_date(line[47:53], self, position, "value date"),
            booking_date=_date(line[115:121], self, position, "entry date"),
            bank_reference=line[10:31].strip() or None,
            bank_transaction_code=_transaction_code(line[54:61], self, position))
        m = _Movement(tx, seq, detail, glob)
        self._communication(m, line, position)
        parent = block.movements[-1] if block.movements else None
        if int(detail) == 0:
            if parent is not None and parent.seq == seq:
                raise self.error(position, f"second movement with sequence number {seq}")
            if glob:
                m.stack.append(glob)
            block.movements.append(m)
        else:
            if parent is None or parent.seq != seq:
                raise self.error(position, f"detail {detail} of movement {seq}, which is not the preceding movement")
            if glob and glob not in parent.stack:
                parent.stack.append(glob)  # opens a sub-level: its own details follow
            else:
                if glob:
                    parent.stack.remove(glob)
                parent.details.append(m)
            m.batch = BatchDetail(amount=amount, currency=tx.currency)
        block.last = m

    def _rec_22(self, line: str, position: str) -> None:
        m = self._linked(line, position, "21")
        m.comm.append(line[10:63])
        ref = line[63:98].strip()
        if ref.upper() not in _NOT_PROVIDED:
            m.tx.end_to_end_id = ref
        bic = line[98:109].strip()
        if bic:
            m.tx.counterparty_bic = bic
        r_type, reason = line[112], line[113:117].strip()
        if r_type == "4":
            m.tx.is_reversal = True
        elif r_type.strip() or reason:
            m.tx.is_return = True
            m.tx.return_reason = reason or None

    def _rec_23(self, line: str, position: str) -> None:
        m = self._linked(line, position, "21")
        number = (line[10:44].split() or [""])[0].upper()
        if number.upper() not in _NOT_PROVIDED and number.strip("0"):
            if is_iban(number):
                m.tx.counterparty_iban = number
            else:
                m.tx.counterparty_account = number
        name = line[47:82].strip()
        if name.upper() not in _NOT_PROVIDED:
            m.tx.counterparty_name = name
        m.comm.append(line[82:125])

    def _rec_31(self, line: str, position: str) -> None:
        m = self._linked(line, position, "3")
        if line[39] == "1":
            kind, content = line[40:43], line[43:113]
            if kind == "001":  # counterparty name; its address follows on a 32 record
                if m.tx.counterparty_name is None and content.strip():
                    m.tx.counterparty_name = content.strip()
                m.address_next = True
                return
            m.info.append(content)
        else:
            m.info.append(line[40:113])

    def _rec_32(self, line: str, position: str) -> None:
        m = self._linked(line, position, "3")
        if m.address_next:  # street, locality: not remittance information
            m.address_next = False
        else:
            m.info.append(line[10:115])

    def _rec_33(self, line: str, position: str) -> None:
        self._linked(line, position, "3").info.append(line[10:100])

    def _rec_4(self, line: str, position: str) -> None:
        if self._block(position).statement is None:  # some banks write it after the 8 record
            raise self.error(position, "record before the 1 old balance record")
        message = line[32:112].strip()
        if message:
            self._block(position).messages.append(message)

    def _linked(self, line: str, position: str, kind: str) -> _Movement:
        self._statement(position)
        m = self._block(position).last
        if m is None:
            raise self.error(position, "record without the 21 movement record it belongs to")
        if line[2:6] != m.seq or (kind == "21" and line[6:10] != m.detail):
            raise self.error(position, f"record for movement {line[2:6]}/{line[6:10]} follows movement "
                                       f"{m.seq}/{m.detail}")
        return m

    def _communication(self, m: _Movement, line: str, position: str) -> None:
        if line[61] == "1":
            kind, content = line[62:65], line[65:115]
            if kind in ("101", "102"):
                digits = content[:12]
                reference = ogm(digits)
                if reference:
                    m.tx.structured_reference = reference
                else:
                    m.comm.append(digits.strip() + " ")
                return
            m.comm.append(content)
        elif line[61] in "0 ":
            m.comm.append(line[62:115])
        else:
            raise self.error(position, f"communication type {line[61]!r} is neither 0 (free) nor 1 (structured)")

    def _finish(self, m: _Movement, block: _Block, statement: Statement) -> None:
        text = " ".join("".join(m.comm).split())
        info = " ".join("".join(m.info).split())
        m.tx.remittance_text = " ".join(filter(None, (text, info))) or None
        for detail in m.details:
            self._finish(detail, block, statement)
            d, b = detail.tx, detail.batch
            assert b is not None
            b.counterparty_name, b.counterparty_iban, b.counterparty_bic = (
                d.counterparty_name, d.counterparty_iban, d.counterparty_bic)
            b.end_to_end_id, b.structured_reference, b.remittance_text = (
                d.end_to_end_id, d.structured_reference, d.remittance_text)
            m.tx.batch.append(b)
        if m.details:
            total = sum((d.tx.amount for d in m.details), Decimal(0))
            if total != m.tx.amount:
                self.discrepancy(m.tx.position or "", f"the details of movement {m.seq} add up to {total}, "
                                                      f"the movement is {m.tx.amount}", statement)

    def _amount(self, sign: str, digits: str, position: str, what: str, exponent: int) -> Decimal:
        if sign not in "01" or not _DIGITS.fullmatch(digits):
            raise self.error(position, f"{what} {sign + digits!r} is not a sign (0 credit, 1 debit) and "
                                       f"{len(digits)} digits")
        value = Decimal(int(digits)).scaleb(-3)
        rounded = value.quantize(Decimal(1).scaleb(-exponent))
        if rounded == value:
            value = rounded
        return -value if sign == "1" and value else value


def parse(path: Path, *, strict: bool = False) -> Iterator[Record]:
    """Statements (one per 0..9 block) and their transactions from a CODA file.

    ``strict=True`` raises on a statement that does not reconcile instead of recording it."""
    return _Parser(Path(path), strict).run()


def _int(value: str, p: _Parser, position: str, what: str) -> int:
    if not _DIGITS.fullmatch(value):
        raise p.error(position, f"{what} {value!r} is not a number")
    return int(value)


def _date(value: str, p: _Parser, position: str, what: str) -> date | None:
    if value in ("000000", "      "):
        return None
    if not _DIGITS.fullmatch(value) or len(value) != 6:
        raise p.error(position, f"{what} {value!r} is not DDMMYY")
    try:
        yy = int(value[4:])
        return date((1900 if yy >= 69 else 2000) + yy, int(value[2:4]), int(value[:2]))
    except ValueError:
        raise p.error(position, f"{what} {value!r} is not a valid date") from None


def _exponent(currency: str, p: _Parser, position: str) -> int:
    try:
        return currency_exponent(currency)
    except MoneyError as exc:
        raise p.error(position, str(exc)) from None


def _transaction_code(code: str, p: _Parser, position: str) -> str:
    """Family, operation and category of a Febelfin transaction code: ``01-50-000``."""
    if not _DIGITS.fullmatch(code):
        raise p.error(position, f"transaction code {code!r} is not numeric")
    return f"{code[:2]}-{code[2:4]}-{code[4:]}"
