"""BAI2 (BAI Cash Management Balance Reporting Specifications, version 2).

Layout: 01 file header, 02 group header (originator, as-of date, currency), 03 account
identifier with summary/status amounts, 16 transaction details, 49 account trailer, 98 group
trailer, 99 file trailer; 88 continues the preceding record. Fields are comma separated and a
record ends with ``/``, except the free text of a 16 record, which runs to the end of the record.
Records are normally one per line; some banks pack several on a line (``.../ 16,...``) or wrap a
long 16 text onto a line without an 88 code: both are accepted.

One ``Statement`` per 03 account record: balances from status codes 010 (opening ledger) and
015 (closing ledger); the other summary amounts (040/045 available, 100/400 totals, ...) are
kept in ``extra["summary"]``. Amounts carry no decimal point: they are in minor units of the
currency (2 decimals for USD, 0 for JPY, ...). A blank currency defaults to the group's, then to
USD. Detail signs come from the type code: 100-399, 720-759 (loan payments applied: interest,
principal, escrow, fees) and 920-959 credit; 400-699, 760-799 (loan disbursements) and 960-999
debit. Loan status codes (700-719) are summary amounts, not details. Type code 890 (non-monetary
information) is kept as a transaction with status ``info``: its amount, usually blank (0), does not
move the balance. The sender and receiver of the 01 header (digits, or bank identifiers such as a
BIC) are kept in the statement's ``extra``.

Malformed input (a record out of order, a field that is not a number or a date, an unknown
record or funds type, a missing trailer) raises ``BankParseError``. The trailers are reconciled
where they give a value (a blank control total is not checked): the 49 control total (the sum of
every amount written in the account's 03 and 16 records) and record count, the 98 and 99 totals,
account/group counts and record counts. A difference is a discrepancy: with ``strict=True`` it
raises ``BankParseError``; by default it is recorded in the statement's ``extra["discrepancies"]``
(49) or logged as a warning (98/99, which come after their statements were yielded).
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

from .model import Balance, Record, Statement, Transaction
from .text import ControlledFileParser, numbered_lines

FORMAT = "bai2"

RECORD_CODES = frozenset({"01", "02", "03", "16", "49", "88", "98", "99"})
# A record ends at "/"; another record may follow on the same line.
_RECORD_SPLIT = re.compile(r"/\s*(?=(?:01|02|03|16|49|88|98|99),)")
_RECORD_START = re.compile(r"(\d\d),(.*)\Z", re.S)
_HEADER = re.compile(rb"\s*01,[^,\r\n]*,[^,\r\n]*,\d{6},\d{0,4},")
_AMOUNT = re.compile(r"[+-]?\d{1,30}")
_TYPE_CODE = re.compile(r"[0-9A-Za-z]{3}")
# Tagged continuation lines some banks use ("88,EREF: 1234"): references and parties.
_TAG = re.compile(r"(EREF|CREF|REMI|DBNM|CRNM|DACT|CACT|DABA|CABA|DBIC|CBIC|CHKN|IDNM): ?(.*)\Z")
OPENING_LEDGER, CLOSING_LEDGER = "010", "015"
INFORMATIONAL = "890"  # a detail that carries non-monetary information only


def detect(head: bytes) -> bool:
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8):]
    return _HEADER.match(head) is not None


@dataclass
class _Rec:
    code: str
    line: int
    parts: list[str]  # the record's body, then each 88 continuation's body; terminators removed
    count: int = 1  # physical records: the record itself and its 88s

    @property
    def position(self) -> str:
        return f"record {self.code} at line {self.line}"

    def fields(self) -> list[str]:
        # A continuation starts a new field, so the parts join with a field separator.
        return ",".join(self.parts).split(",")


@dataclass
class _Account:
    rec: _Rec
    number: str
    currency: str
    exponent: int
    statement: Statement
    total: int = 0  # control total in minor units: every amount of the 03 and 16 records
    records: int = 0
    transactions: list[Transaction] = field(default_factory=list)


@dataclass
class _Group:
    rec: _Rec
    originator: str
    as_of: date | None
    currency: str | None
    total: int = 0
    records: int = 0
    accounts: int = 0
    account_ids: dict[str, int] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)


class _Parser(ControlledFileParser):
    def __init__(self, path: Path, strict: bool) -> None:
        super().__init__(path, strict)
        self.file: dict[str, str] | None = None
        self.file_closed = False
        self.file_total = 0
        self.file_records = 0
        self.groups = 0
        self.group: _Group | None = None
        self.account: _Account | None = None



    # -- reading ---------------------------------------------------------------------------
    def records(self) -> Iterator[_Rec]:
        """Logical records (a record with its 88 continuations), in file order."""
        current: _Rec | None = None
        for lineno, line in numbered_lines(self.path):
            text = line.strip()
            if not text:
                continue
            for i, piece in enumerate(_RECORD_SPLIT.split(text)):
                m = _RECORD_START.match(piece)
                if m is None:
                    # A wrapped 16 text (the line does not start with a record code).
                    if i == 0 and current is not None and current.code == "16":
                        current.parts[-1] = f"{current.parts[-1].rstrip()} {_unterminated(piece)}"
                        continue
                    raise self.error(f"line {lineno}", f"expected a BAI2 record code (01, 02, 03, 16, 49, 88, "
                                                       f"98, 99) followed by a comma, found {piece[:20]!r}")
                code, body = m.group(1), _unterminated(m.group(2))
                if code not in RECORD_CODES:
                    raise self.error(f"line {lineno}", f"unknown BAI2 record code {code!r}")
                if code == "88":
                    if current is None:
                        raise self.error(f"line {lineno}", "88 continuation record without a record to continue")
                    current.parts.append(body)
                    current.count += 1
                    continue
                if current is not None:
                    yield current
                current = _Rec(code, lineno, [body])
        if current is not None:
            yield current

    # -- records ---------------------------------------------------------------------------
    def run(self) -> Iterator[Record]:
        seen_any = False
        for rec in self.records():
            if not seen_any and rec.code != "01":
                raise self.error(rec.position, "a BAI2 file must start with an 01 file header record")
            seen_any = True
            if self.file_closed:
                raise self.error(rec.position, "record after the 99 file trailer")
            self.file_records += rec.count
            if self.group is not None:
                self.group.records += rec.count
            if self.account is not None:
                self.account.records += rec.count
            handler = getattr(self, f"_rec_{rec.code}")
            yield from handler(rec)
        if not seen_any:
            raise self.error(None, "no BAI2 records in the file")
        if self.account is not None:
            raise self.error(self.account.rec.position, f"file ends inside account {self.account.number} "
                                                        "(no 49 account trailer)")
        if self.group is not None:
            raise self.error(self.group.rec.position, "file ends inside a group (no 98 group trailer)")
        if not self.file_closed:
            raise self.error(None, "file ends without the 99 file trailer (truncated?)")

    def _rec_01(self, rec: _Rec) -> Iterator[Record]:
        if self.file is not None:
            raise self.error(rec.position, "second 01 file header")
        f = _pad(rec.fields(), 8)
        version = f[7].strip()
        if version and version != "2":
            raise self.error(rec.position, f"BAI version {version!r} is not supported (only version 2)")
        created = _date(f[2], self, rec, "file creation date")
        self.file = {"sender": f[0].strip(), "receiver": f[1].strip(), "file_id": f[4].strip(),
                     "created_at": _timestamp(created, f[3], self, rec) if created else ""}
        return iter(())

    def _rec_02(self, rec: _Rec) -> Iterator[Record]:
        if self.group is not None:
            raise self.error(rec.position, "02 group header inside a group (missing 98 group trailer)")
        f = _pad(rec.fields(), 7)
        self.groups += 1
        currency = f[5].strip().upper() or None
        if currency is not None:
            _exponent(currency, self, rec)
        extra = {"group_status": f[2].strip(), "as_of_time": f[4].strip(), "as_of_date_modifier": f[6].strip()}
        self.group = _Group(rec, originator=f[1].strip(), as_of=_date(f[3], self, rec, "as-of date"),
                            currency=currency, records=rec.count, extra={k: v for k, v in extra.items() if v})
        return iter(())

    def _rec_03(self, rec: _Rec) -> Iterator[Record]:
        group = self._in_group(rec)
        if self.account is not None:
            raise self.error(rec.position, f"03 account record inside account {self.account.number} "
                                           "(missing 49 account trailer)")
        f = rec.fields()
        number = f[0].strip()
        if not number:
            raise self.error(rec.position, "03 account record without an account number")
        currency = (f[1].strip().upper() if len(f) > 1 else "") or group.currency or "USD"
        exponent = _exponent(currency, self, rec)
        group.accounts += 1
        seen = group.account_ids.get(number, 0)
        group.account_ids[number] = seen + 1
        assert self.file is not None
        statement_id = "/".join(filter(None, (self.file["file_id"], group.originator,
                                              group.as_of.isoformat() if group.as_of else "", number)))
        if seen:
            statement_id += f"#{seen + 1}"
        statement = Statement(format=FORMAT, statement_id=statement_id, currency=currency,
                              account_iban=number.upper() if is_iban(number) else None, account_number=number,
                              created_at=self.file["created_at"] or None, from_date=group.as_of,
                              to_date=group.as_of, position=rec.position)
        account = _Account(rec, number, currency, exponent, statement, records=rec.count)
        summary: dict[str, Decimal | None] = {}
        counts: dict[str, int] = {}
        for code, raw, count in _summary_items(f[2:], self, rec):
            amount = None
            if raw is not None:
                account.total += int(raw)
                amount = _scale(int(raw), exponent)
            if count is not None:
                counts[code] = count
            summary[code] = amount
            if amount is not None and code in (OPENING_LEDGER, CLOSING_LEDGER):
                balance = Balance(amount, currency, group.as_of, kind=code)
                if code == OPENING_LEDGER:
                    statement.opening_balance = balance
                else:
                    statement.closing_balance = balance
        parties = {k: v for k, v in (("sender", self.file["sender"]), ("receiver", self.file["receiver"])) if v}
        statement.extra = {"summary": summary, **({"item_counts": counts} if counts else {}), **group.extra,
                           **parties}
        self.account = account
        return iter(())

    def _rec_16(self, rec: _Rec) -> Iterator[Record]:
        account = self.account
        if account is None:
            raise self.error(rec.position, "16 transaction detail outside an account (no 03 record before it)")
        account.transactions.append(self._detail(rec, account))
        return iter(())

    def _rec_49(self, rec: _Rec) -> Iterator[Record]:
        account = self.account
        group = self._in_group(rec)
        if account is None:
            raise self.error(rec.position, "49 account trailer without an 03 account record")
        f = _pad(rec.fields(), 2)
        total = _int(f[0], self, rec, "account control total", signed=True)
        st = account.statement
        if total is not None and total != account.total:
            self.discrepancy(rec.position, f"account {account.number}: control total {total} does not match "
                                           f"the sum of the account's amounts {account.total}", st)
        count = _int(f[1], self, rec, "number of records")
        if count is not None and count != account.records:
            self.discrepancy(rec.position, f"account {account.number}: trailer counts {count} records, "
                                           f"the account has {account.records} (03 to 49, 88s included)", st)
        group.total += total if total is not None else account.total
        self.account = None
        yield account.statement
        yield from account.transactions

    def _rec_98(self, rec: _Rec) -> Iterator[Record]:
        group = self._in_group(rec)
        if self.account is not None:
            raise self.error(rec.position, f"98 group trailer inside account {self.account.number} "
                                           "(missing 49 account trailer)")
        f = _pad(rec.fields(), 3)
        total = _int(f[0], self, rec, "group control total", signed=True)
        if total is not None and total != group.total:
            self.discrepancy(rec.position, f"group control total {total} does not match the sum of the "
                                           f"account control totals {group.total}")
        accounts = _int(f[1], self, rec, "number of accounts")
        if accounts is not None and accounts != group.accounts:
            self.discrepancy(rec.position, f"group trailer counts {accounts} accounts, the group has "
                                           f"{group.accounts}")
        count = _int(f[2], self, rec, "number of records")
        if count is not None and count != group.records:
            self.discrepancy(rec.position, f"group trailer counts {count} records, the group has "
                                           f"{group.records} (02 to 98)")
        self.file_total += total if total is not None else group.total
        self.group = None
        return iter(())

    def _rec_99(self, rec: _Rec) -> Iterator[Record]:
        if self.group is not None:
            raise self.error(rec.position, "99 file trailer inside a group (missing 98 group trailer)")
        f = _pad(rec.fields(), 3)
        total = _int(f[0], self, rec, "file control total", signed=True)
        if total is not None and total != self.file_total:
            self.discrepancy(rec.position, f"file control total {total} does not match the sum of the "
                                           f"group control totals {self.file_total}")
        groups = _int(f[1], self, rec, "number of groups")
        if groups is not None and groups != self.groups:
            self.discrepancy(rec.position, f"file trailer counts {groups} groups, the file has {self.groups}")
        count = _int(f[2], self, rec, "number of records")
        if count is not None and count != self.file_records:
            self.discrepancy(rec.position, f"file trailer counts {count} records, the file has "
                                           f"{self.file_records} (01 to 99)")
        self.file_closed = True
        return iter(())

    def _in_group(self, rec: _Rec) -> _Group:
        if self.group is None:
            raise self.error(rec.position, f"{rec.code} record outside a group (no 02 group header before it)")
        return self.group

    def _detail(self, rec: _Rec, account: _Account) -> Transaction:
        body = rec.parts[0]
        text_lines: list[str] = []
        tags: dict[str, str] = {}
        in_text = _detail_fields(body)[1] is not None
        for part in rec.parts[1:]:
            if not in_text:
                body = f"{body},{part}"  # still inside the fixed fields
                in_text = _detail_fields(body)[1] is not None
                continue
            tag = _TAG.match(part.strip())
            if tag:
                tags[tag.group(1)] = tag.group(2).strip()
            else:
                text_lines.append(part)
        fixed, text = _detail_fields(body)
        if len(fixed) < 3:
            raise self.error(rec.position, "16 transaction detail needs at least a type code, an amount "
                                           "and a funds type")
        code = fixed[0].strip()
        info = code == INFORMATIONAL
        credit = True if info else _direction(code)
        if credit is None:
            raise self.error(rec.position, f"type code {code!r} is not a BAI2 detail code: credit (100-399, "
                                           "720-759, 920-959), debit (400-699, 760-799, 960-999) or 890 "
                                           "(information)")
        raw = _int(fixed[1], self, rec, "amount")
        if raw is None and info:
            raw = 0  # information only: the amount is usually left blank
        if raw is None:
            raise self.error(rec.position, "16 transaction detail without an amount")
        if raw < 0:
            raise self.error(rec.position, "a detail amount is unsigned (the type code gives the direction)")
        account.total += raw
        funds = fixed[2].strip().upper()
        value_date = None
        if funds == "V":
            value_date = _date(fixed[3], self, rec, "value date") if len(fixed) > 3 else None
        refs = fixed[3 + _funds_extra(funds, fixed[3:], self, rec):]
        bank_ref = refs[0].strip() if refs else ""
        customer_ref = refs[1].strip() if len(refs) > 1 else ""
        lines = [s for s in (x.strip() for x in [text or "", *text_lines]) if s]
        amount = _scale(raw, account.exponent)
        party = ("DBNM", "DACT", "DBIC") if credit else ("CRNM", "CACT", "CBIC")
        return Transaction(
            amount=amount if credit or not amount else -amount,
            currency=account.currency,
            booking_date=self.group.as_of if self.group else None,
            value_date=value_date,
            statement_id=account.statement.statement_id,
            bank_reference=bank_ref or None,
            customer_reference=customer_ref or None,
            end_to_end_id=tags.get("EREF") or None,
            counterparty_name=tags.get(party[0]) or None,
            counterparty_account=tags.get(party[1]) or None,
            counterparty_bic=tags.get(party[2]) or None,
            remittance_text=" ".join(lines) or None,
            bank_transaction_code=code,
            status="info" if info else "booked",
            position=rec.position,
        )


def parse(path: Path, *, strict: bool = False) -> Iterator[Record]:
    """Statements (one per 03 account record) and their transactions from a BAI2 file.

    ``strict=True`` raises on a trailer that does not reconcile instead of recording it."""
    return _Parser(Path(path), strict).run()


# -- field helpers ---------------------------------------------------------------------------

def _unterminated(body: str) -> str:
    body = body.rstrip()
    return body[:-1] if body.endswith("/") else body


def _pad(values: list[str], n: int) -> list[str]:
    return values + [""] * (n - len(values))


def _int(value: str, p: _Parser, rec: _Rec, what: str, signed: bool = False) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not _AMOUNT.fullmatch(value) or (not signed and value.startswith("-")):
        raise p.error(rec.position, f"{what} {value!r} is not a whole number")
    return int(value)


def _scale(minor: int, exponent: int) -> Decimal:
    return Decimal(minor).scaleb(-exponent) if exponent else Decimal(minor)


def _exponent(currency: str, p: _Parser, rec: _Rec) -> int:
    try:
        return currency_exponent(currency)
    except MoneyError as exc:
        raise p.error(rec.position, str(exc)) from None


def _date(value: str, p: _Parser, rec: _Rec, what: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    if not re.fullmatch(r"\d{6}", value):
        raise p.error(rec.position, f"{what} {value!r} is not YYMMDD")
    try:
        yy = int(value[:2])
        return date((1900 if yy >= 69 else 2000) + yy, int(value[2:4]), int(value[4:]))
    except ValueError:
        raise p.error(rec.position, f"{what} {value!r} is not a valid date") from None


def _timestamp(day: date, hhmm: str, p: _Parser, rec: _Rec) -> str:
    hhmm = hhmm.strip()
    if not hhmm:
        return day.isoformat()
    if not re.fullmatch(r"\d{4}", hhmm):
        raise p.error(rec.position, f"file creation time {hhmm!r} is not HHMM")
    if hhmm in ("2400", "9999"):  # both mean end of day in BAI2
        return f"{day.isoformat()}T23:59:59"
    hours, minutes = int(hhmm[:2]), int(hhmm[2:])
    if hours > 23 or minutes > 59:
        raise p.error(rec.position, f"file creation time {hhmm!r} is not a valid time")
    return f"{day.isoformat()}T{hours:02d}:{minutes:02d}:00"


def _direction(code: str) -> bool | None:
    """True for a credit type code, False for a debit, None when the code is not a detail code."""
    if not code.isdigit() or len(code) != 3:
        return None
    n = int(code)
    if 100 <= n <= 399 or 720 <= n <= 759 or 920 <= n <= 959:
        return True
    if 400 <= n <= 699 or 760 <= n <= 799 or 960 <= n <= 999:
        return False
    return None


def _funds_extra(funds: str, rest: list[str], p: _Parser, rec: _Rec) -> int:
    """How many fields follow the funds type for its availability detail."""
    if funds in ("", "0", "1", "2", "Z"):
        return 0
    if funds == "S":  # immediate, one-day, two-or-more-day amounts
        for value in rest[:3]:
            _int(value, p, rec, "availability amount", signed=True)
        return 3
    if funds == "V":  # value date, value time
        return 2
    if funds == "D":  # number of distributions, then (days, amount) pairs
        n = _int(rest[0], p, rec, "number of availability distributions") if rest else None
        if n is None:
            raise p.error(rec.position, "funds type D without the number of distributions")
        if len(rest) < 1 + 2 * n:
            raise p.error(rec.position, f"funds type D announces {n} distributions, the record has fewer")
        for value in rest[1:1 + 2 * n]:
            _int(value, p, rec, "availability distribution", signed=True)
        return 1 + 2 * n
    raise p.error(rec.position, f"unknown funds type {funds!r} (0, 1, 2, S, V, D or Z)")


def _summary_items(values: list[str], p: _Parser, rec: _Rec) -> Iterator[tuple[str, str | None, int | None]]:
    """(type code, amount as written or None, item count) for each summary/status entry of an 03."""
    i = 0
    while i < len(values):
        code = values[i].strip()
        if not code:  # empty entries and trailing separators
            i += 1
            continue
        if not _TYPE_CODE.fullmatch(code):
            raise p.error(rec.position, f"summary type code {code!r} is not three characters")
        entry = _pad(values[i + 1:i + 4], 3)
        amount = entry[0].strip()
        if amount and not _AMOUNT.fullmatch(amount):
            raise p.error(rec.position, f"amount {amount!r} for type code {code} is not a whole number")
        count = _int(entry[1], p, rec, f"item count for type code {code}")
        funds = entry[2].strip().upper()
        i += 4 + _funds_extra(funds, values[i + 4:], p, rec)
        yield code, amount or None, count


def _detail_fields(body: str) -> tuple[list[str], str | None]:
    """The fixed fields of a 16 record (type, amount, funds type, availability, bank reference,
    customer reference) and its text, or None for the text when the body stops before it."""
    fields: list[str] = []
    rest: str | None = body
    needed = 5  # type code, amount, funds type, bank reference, customer reference
    while rest is not None and len(fields) < needed:
        head, sep, tail = rest.partition(",")
        fields.append(head)
        rest = tail if sep else None
        if len(fields) == 3:
            funds = fields[2].strip().upper()
            if funds == "S":
                needed += 3
            elif funds == "V":
                needed += 2
            elif funds == "D":
                count, _, after = (rest or "").partition(",")
                n = int(count) if count.strip().isdigit() and len(count.strip()) < 4 else 0
                needed += 1 + 2 * n
    return fields, rest
