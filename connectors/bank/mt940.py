"""SWIFT MT940 (customer statement) and MT942 (interim transaction report), as banks write them.

The file is read line by line and one statement is held at a time. Accepted around the SWIFT
text: block wrappers ``{1:..}{2:..}{3:..}{4:`` ... ``-}{5:..}`` (also several messages on one
line, with SOH/ETX bytes), Rabobank ``:940:``/``:9401:`` headers, ABN AMRO and ING header lines
(``ABNANL2A``/``940``, ``0000 01INGBNL2AXXXX00001``), prose before the first tag, ``-`` or ``-XXX``
message ends, blank lines and any line ending. A line that is only ``-`` is a message end when
a new statement (or nothing) follows; inside a field it is text (ING splits ``MND-EV01`` there).

Strict where a mistake would change the books: an unknown tag, tags out of order, an impossible
date, an amount with more decimals than its currency, a message not closed before the next one
starts, a :61: followed by two :86: fields (whose text belongs to which entry is a guess), and a
:61: that stops right after its transaction type (reference missing) in a statement whose balances
do not add up: that line looks truncated. Banks that leave the reference out (Volksbank exports)
still balance.

A field longer than SWIFT allows (:86: over 6 x 65 characters, :20: over 16, a :61: reference over
16, ...) is read as written and recorded on the statement (``extra["discrepancies"]``, as the
parsers of formats with control totals do); ``strict=True`` refuses the file instead.

Some German online-banking exports separate lines with ``@@`` instead of line breaks; such a file
is read the same way, its lines numbered as the ``@@``-separated pieces.

Statement lines may come without a statement header (a file of bare :61:/:86: pairs, as some
German export tools write); they are yielded under a Statement with no account or balances.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from ledgerlink.model.identifiers import is_iban, normalize_iban
from ledgerlink.model.money import MoneyError, currency_exponent, quantize_money

from .model import Balance, BankParseError, Record, Statement, Transaction
from .mt940_details import Details, compact, join_text, known_bic, parse_details, starts_structured
from .text import detect_encoding, numbered_lines, read_head

FORMAT = "mt940"

DETAILS_LIMIT = 6 * 65  # :86: is 6*65x
_MAX_FIELD_LINES = 40
_MAX_FIELD_CHARS = 4000

_CLEAN_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufeff]")  # SOH/ETX/SUB, BOM
_SOFT_HYPHEN = "\u00ad"  # stands for '-' in some converted exports ('10\u00ad06\u00ad2010', '\u00adXXX')
_TAG_RE = re.compile(r":(\d{2}[A-Z]?|NS):")
_HEADER_RE = re.compile(r":94[02]\d?:")  # Rabobank ':940:' / ':9401:'
_MESSAGE_END_RE = re.compile(r"-X*")  # '-', ING '-XXX'
_BLOCK_RE = re.compile(r"\{([0-9A-Za-z]+):")
# '@@' as the line separator (German online-banking exports): a tag right after one
_AT_SEPARATED_RE = re.compile(rb"@@\s*:(?:20|25|28C?|60[FM]|61|86|62[FM]):")

# SWIFT field lengths (characters) beyond which a field is recorded as a discrepancy; what the
# parser relies on (dates, marks, amount format) is checked as it is read.
FIELD_LIMITS = {"20": 16, "21": 16, "25": 35, "25P": 35, "28": 5 + 1 + 5, "28C": 5 + 1 + 5}
_REFERENCE_LIMIT = 16  # :61: reference for the account owner, and the bank's reference
_SUPPLEMENTARY_LIMIT = 34  # :61: supplementary details

KNOWN_TAGS = {"20", "21", "25", "25P", "28", "28C", "60F", "60M", "61", "86", "62F", "62M", "64",
              "13D", "34F", "90D", "90C", "NS"}
_AMOUNT = r"\d{1,17}(?:[,.]\d*)?"
_BALANCE_RE = re.compile(rf"(?P<mark>[CD])(?P<date>\d{{6}})(?P<currency>[A-Z]{{3}})(?P<amount>{_AMOUNT})")
_LINE61_RE = re.compile(
    rf"(?P<value>\d{{6}})(?P<entry>\d{{4}}| {{4}})?(?P<mark>RC|RD|EC|ED|C|D)(?P<funds>[A-Z])?"
    rf" ?(?P<amount>{_AMOUNT}) *(?P<rest>.*)")
_TYPE_RE = re.compile(r"[A-Z][A-Z0-9 ]{3}")
_SIGN = {"C": 1, "D": -1, "RC": -1, "RD": 1, "EC": 1, "ED": -1}

# Statement phases: the order SWIFT prescribes for the tags.
_HEAD, _RELATED, _ACCOUNT, _NUMBER, _BODY, _CLOSED, _AFTER = range(7)


def detect(head: bytes) -> bool:
    """MT940/MT942 judged from content: a :20: with other statement tags, a SWIFT block 2 of
    type 940/942, or statement lines (:61: value date and debit/credit mark)."""
    text = head.decode("latin-1")
    if _AT_SEPARATED_RE.search(head):
        text = text.replace("@@", "\n")
    if re.search(r"\{2:[IO]94[02]", text):
        return True
    tags = re.findall(r"(?m)^[\s\x01\x1a]*(?:\{4:\s*)?:(20|25|28C?|60[FM]|61|62[FM]|34F|13D):", text)
    if "20" in tags and len(set(tags)) >= 2:
        return True
    return re.search(r"(?m)^\s*:61:\d{6}(?:\d{4})?R?[CD]", text) is not None


def parse(path: Path, *, strict: bool = False) -> Iterator[Record]:
    """Statements and their transactions, one statement buffered at a time. ``strict=True`` refuses
    a field longer than SWIFT allows instead of recording it on the statement."""
    path = Path(path)
    return _Parser(str(path), strict).run(_Events(path))


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """The file's numbered lines; in a file whose lines are separated by '@@', those pieces."""
    head = read_head(path)
    lines = numbered_lines(path, detect_encoding(head))
    if not _AT_SEPARATED_RE.search(head):
        yield from lines
        return
    n = 0
    for _, line in lines:
        pieces = line.split("@@")
        if len(pieces) > 1 and not pieces[-1].strip():  # '@@' closing a physical line
            pieces.pop()
        for piece in pieces:
            n += 1
            yield n, piece


# --------------------------------------------------------------------------- line events

class _Events:
    """The file as ('tag', n, tag, text) / ('text', n, line) / ('end', n) / ('header', n) /
    ('block', n, id, content) / ('block4', n) / ('block_end', n) events."""

    def __init__(self, path: Path) -> None:
        self.file = str(path)
        self._lines = ((n, _CLEAN_RE.sub("", line).replace(_SOFT_HYPHEN, "-"))
                       for n, line in _lines(path))
        self._pending: deque[tuple[int, str]] = deque()
        self.last_line = 0

    def _next(self) -> tuple[int, str] | None:
        item = self._pending.popleft() if self._pending else next(self._lines, None)
        if item is not None:
            self.last_line = max(self.last_line, item[0])
        return item

    def __iter__(self) -> Iterator[tuple]:
        while (item := self._next()) is not None:
            yield from self._line(*item)

    def _line(self, n: int, line: str) -> Iterator[tuple]:
        stripped = line.strip()
        if not stripped:
            return
        if stripped == ":":  # a tag marker broken over two lines (":" / "86:...")
            nxt = self._next()
            if nxt is not None and re.match(r"\s*(\d{2}[A-Z]?|NS):", nxt[1]):
                line = ":" + nxt[1].lstrip()
                stripped = line.strip()
            elif nxt is not None:
                self._pending.appendleft(nxt)
        if stripped.startswith(("{", "-}")):
            yield from self._blocks(n, stripped)
            return
        m = _TAG_RE.match(stripped)
        if m:
            yield ("tag", n, m.group(1), line.lstrip()[m.end():])
        elif _HEADER_RE.fullmatch(stripped):
            yield ("header", n)
        elif _MESSAGE_END_RE.fullmatch(stripped) and self._message_ends():
            yield ("end", n)
        else:
            yield ("text", n, line)

    def _message_ends(self) -> bool:
        """Is the '-' just read a message end? Yes when the next tag starts a statement (or a
        block, or the file ends); no when it is another tag of the same statement."""
        seen: list[tuple[int, str]] = []
        ends = True
        while (item := self._next()) is not None:
            seen.append(item)
            text = item[1].strip()
            if not text:
                continue
            m = _TAG_RE.match(text)
            if m:
                ends = m.group(1) == "20"
                break
            if text.startswith(("{", "-}")) or _HEADER_RE.fullmatch(text):
                break
            # :86: has at most 6 lines; blank lines are bounded too
            if sum(1 for _, s in seen if s.strip()) >= 6 or len(seen) >= 200:
                break
        self._pending.extendleft(reversed(seen))
        return ends

    def _blocks(self, n: int, text: str) -> Iterator[tuple]:
        while text:
            if text.startswith("-}"):
                yield ("block_end", n)
                text = text[2:].lstrip()
                continue
            m = _BLOCK_RE.match(text)
            if not m:
                if text.startswith("{"):
                    raise BankParseError(self.file, f"line {n}", f"malformed SWIFT block {text[:20]!r}")
                yield from self._line(n, text)
                return
            if m.group(1) == "4":
                yield ("block4", n)
                rest = text[m.end():].strip()
                if rest:
                    yield from self._line(n, rest)
                return
            depth, end = 0, None
            for i, ch in enumerate(text):
                depth += {"{": 1, "}": -1}.get(ch, 0)
                if depth == 0:
                    end = i
                    break
            if end is None:
                raise BankParseError(self.file, f"line {n}", f"SWIFT block {{{m.group(1)}: is not closed "
                                     "with '}' on its line")
            yield ("block", n, m.group(1), text[m.end():end])
            text = text[end + 1:].lstrip()


# --------------------------------------------------------------------------- statement assembly

@dataclass
class _Field:
    tag: str
    lineno: int
    lines: list[str]


@dataclass
class _Entry:
    lineno: int
    value_date: date
    booking_date: date
    sign: int
    raw_amount: Decimal
    is_reversal: bool
    type_code: str | None
    customer_ref: str | None
    bank_ref: str | None
    supplementary: str | None
    overflow: str | None  # text after a padded 16-character reference (old Rabobank: the name)
    bare: bool  # ends right after the transaction type
    details: list[str] = field(default_factory=list)
    details_line: int | None = None  # where its :86: starts
    amount: Decimal | None = None


@dataclass
class _Open:
    statement: Statement
    phase: int
    fragment: bool = False
    mt942: bool = False
    entries: list[_Entry] = field(default_factory=list)
    current: _Entry | None = None  # the entry a following :86: belongs to
    discrepancies: list[str] = field(default_factory=list)


class _Parser:
    def __init__(self, file: str, strict: bool = False) -> None:
        self.file = file
        self.strict = strict
        self.field: _Field | None = None
        self.open: _Open | None = None
        self.in_block4 = False
        self.message_type: str | None = None
        self.count = 0

    def error(self, lineno: int | None, reason: str) -> BankParseError:
        return BankParseError(self.file, f"line {lineno}" if lineno else None, reason)

    def discrepancy(self, st: _Open, lineno: int, reason: str) -> None:
        """A field that breaks SWIFT's rules without making the entry unreadable: recorded on the
        statement, or refused in strict mode."""
        if self.strict:
            raise self.error(lineno, reason)
        st.discrepancies.append(f"line {lineno}: {reason}")

    def _check_length(self, st: _Open, lineno: int, what: str, value: str | None, limit: int) -> None:
        if value and len(value) > limit:
            self.discrepancy(st, lineno, f"{what} {value[:40]!r} has {len(value)} characters, more than the "
                                         f"{limit} SWIFT allows")

    def run(self, events: _Events) -> Iterator[Record]:
        for event in events:
            kind, n = event[0], event[1]
            if kind == "tag":
                self._finish_field()
                tag, text = event[2], event[3]
                if tag == "20":
                    yield from self._finish_statement(at_eof=False)
                    self._start(n, fragment=False)
                elif self.open is None:
                    if tag not in ("61", "86"):
                        raise self.error(n, f":{tag}: comes before any :20: transaction reference; "
                                            "a statement starts with :20:")
                    self._start(n, fragment=True)
                self.field = _Field(tag, n, [text])
            elif kind == "text":
                if self.field is not None:
                    self._append(event[2], n)
            elif kind in ("end", "header", "block_end"):
                self._finish_field()
                yield from self._finish_statement(at_eof=False)
                if kind == "block_end":
                    self.in_block4 = False
                    self.message_type = None
            elif kind == "block4":
                self._finish_field()
                yield from self._finish_statement(at_eof=False)
                self.in_block4 = True
            elif kind == "block":
                block_id, content = event[2], event[3]
                if block_id == "1" and self.in_block4:
                    raise self.error(n, "a new SWIFT message starts ({1: block) before the previous one "
                                        "ended with '-}': the previous message is incomplete")
                if block_id == "2" and re.match(r"[IO]94[02]", content):
                    self.message_type = content[1:4]
        self._finish_field()
        yield from self._finish_statement(at_eof=True)
        if self.in_block4:
            raise self.error(events.last_line, "the file ends inside a SWIFT message (block 4 is not "
                                               "closed with '-}'): the file looks truncated")
        if self.count == 0:
            raise self.error(1, "no MT940/MT942 statement found: the file has no :20: transaction "
                                "reference and no statement lines")

    def _start(self, n: int, fragment: bool) -> None:
        statement = Statement(format="mt940", position=f"line {n}")
        self.open = _Open(statement, _BODY if fragment else _HEAD, fragment=fragment)
        if fragment:
            statement.extra["headerless"] = "statement lines without :20:/:25:/balances"
        if self.message_type == "942":
            self.open.mt942 = True

    def _append(self, line: str, n: int) -> None:
        if self.field is None:
            return
        self.field.lines.append(line)
        if len(self.field.lines) > _MAX_FIELD_LINES or sum(map(len, self.field.lines)) > _MAX_FIELD_CHARS:
            raise self.error(self.field.lineno, f":{self.field.tag}: runs on for more than "
                                                f"{_MAX_FIELD_LINES} lines; a tag is missing or the file "
                                                "is not MT940")

    # ------------------------------------------------------------------ fields

    def _finish_field(self) -> None:
        f, self.field = self.field, None
        if f is None or self.open is None:
            return
        st = self.open
        tag, n = f.tag, f.lineno
        if tag not in KNOWN_TAGS and not re.fullmatch(r"6[45][A-Z]?", tag):
            raise self.error(n, f"unknown tag :{tag}: in an MT940/MT942 statement")
        value = "".join(line.strip() for line in f.lines)
        s = st.statement
        if tag in FIELD_LIMITS:
            self._check_length(st, n, f":{tag}:", value, FIELD_LIMITS[tag])

        def expect(*phases: int, what: str) -> None:
            if st.phase not in phases:
                raise self.error(n, f":{tag}: is out of order: {what}")

        if tag == "20":
            s.statement_id = value or None
        elif tag == "21":
            expect(_HEAD, what="the related reference :21: must follow :20:")
            s.extra["related_reference"] = value
            st.phase = _RELATED
        elif tag in ("25", "25P"):
            expect(_HEAD, _RELATED, what="the account :25: must follow :20: (and :21:)")
            self._account(s, f.lines[:1] if tag == "25P" else f.lines)
            if tag == "25P" and len(f.lines) > 1:  # account, then the BIC of its owner
                s.extra["account_owner_bic"] = f.lines[1].strip()
            st.phase = _ACCOUNT
        elif tag in ("28", "28C"):
            expect(_ACCOUNT, what="the statement number must follow the :25: account identification")
            s.sequence = value or None
            st.phase = _NUMBER
        elif tag in ("60F", "60M"):
            expect(_NUMBER, what="the opening balance must follow :28C:")
            s.opening_balance = self._balance(tag, value, n)
            s.from_date = s.opening_balance.date
            st.phase = _BODY
        elif tag == "34F":
            expect(_NUMBER, _BODY, what=":34F: floor limit must follow :28C:")
            st.mt942 = True
            s.extra.setdefault("floor_limits", []).append(self._floor_limit(value, n))
            st.phase = _BODY
        elif tag == "13D":
            expect(_NUMBER, _BODY, what=":13D: must follow :28C:/:34F:")
            st.mt942 = True
            s.created_at = self._datetime(value, n)
            st.phase = _BODY
        elif tag == "61":
            expect(_BODY, what="a statement line :61: must come after the opening balance and before "
                               "the closing balance")
            st.current = self._line61(f)
            st.entries.append(st.current)
            if not _IBAN_SHAPE.fullmatch(st.current.customer_ref or ""):  # ASN, SNS: the counterparty's IBAN
                self._check_length(st, n, ":61: reference for the account owner", st.current.customer_ref,
                                   _REFERENCE_LIMIT)
            self._check_length(st, n, ":61: bank reference", st.current.bank_ref, _REFERENCE_LIMIT)
            self._check_length(st, n, ":61: supplementary details", st.current.supplementary,
                               _SUPPLEMENTARY_LIMIT)
        elif tag == "86":
            self._details(st, f)
        elif tag in ("62F", "62M"):
            expect(_BODY, what="the closing balance must follow the opening balance and statement lines")
            s.closing_balance = self._balance(tag, value, n)
            s.to_date = s.closing_balance.date
            st.phase, st.current = _CLOSED, None
        elif tag.startswith(("64", "65")):
            expect(_BODY, _CLOSED, _AFTER, what="available balances come after the closing balance")
            key = "closing_available_balance" if tag.startswith("64") else "forward_available_balances"
            try:
                bal = self._balance(tag, value, n)
                entry: object = {"amount": format(bal.amount, "f"), "currency": bal.currency,
                                 "date": bal.date.isoformat() if bal.date else None}
            except BankParseError:
                entry = {"unparsed": value}  # informative only; seen malformed in real exports
            if key == "closing_available_balance":
                s.extra[key] = entry
            else:
                s.extra.setdefault(key, []).append(entry)
            st.phase, st.current = _AFTER, None
        elif tag in ("90D", "90C"):
            expect(_BODY, _CLOSED, _AFTER, what=":90D:/:90C: totals come after the statement lines")
            st.mt942 = True
            s.extra["debit_totals" if tag == "90D" else "credit_totals"] = self._totals(value, n)
            st.phase, st.current = _CLOSED, None
        elif tag == "NS":
            target = f"line {st.current.lineno}" if st.current else "statement"
            s.extra.setdefault("non_swift", {}).setdefault(target, []).extend(
                line.strip() for line in f.lines if line.strip())

    def _details(self, st: _Open, f: _Field) -> None:
        lines = f.lines
        length = sum(len(line.rstrip()) for line in lines if line.strip())
        if st.phase < _BODY:
            raise self.error(f.lineno, ":86: is out of order: information to the account owner comes after "
                                       "the opening balance")
        if length > DETAILS_LIMIT:
            self.discrepancy(st, f.lineno, f":86: holds {length} characters, more than the {DETAILS_LIMIT} "
                                           "allowed (6 lines of 65)")
        if st.current is not None:
            # Old Rabobank and Danske files repeat the tag on every line of free text; a second :86:
            # that opens a structure of its own is another entry's details, not more text.
            if st.current.details_line is not None and starts_structured(lines):
                raise self.error(f.lineno, f"a second :86: for the statement line :61: of line {st.current.lineno} "
                                           f"(its first :86: is on line {st.current.details_line}): a statement "
                                           "line has one :86:, joining them would mix up name and references")
            if st.current.details_line is None:
                st.current.details_line = f.lineno
            st.current.details.extend(lines)
        else:
            text = compact(join_text([line for line in lines if line.strip()]))
            if text:
                st.statement.extra.setdefault("information", []).append(text)

    # ------------------------------------------------------------------ values

    def _date(self, yymmdd: str, n: int, what: str) -> date:
        yy, mm, dd = int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:6])
        year = 2000 + yy if yy < 80 else 1900 + yy
        try:
            return date(year, mm, dd)
        except ValueError:
            raise self.error(n, f"impossible {what} {yymmdd!r} ({dd:02d}.{mm:02d}.{year})") from None

    def _amount(self, text: str, n: int) -> Decimal:
        try:
            return Decimal(text.replace(",", "."))
        except InvalidOperation:
            raise self.error(n, f"{text!r} is not an amount") from None

    def _money(self, amount: Decimal, currency: str, n: int) -> Decimal:
        try:
            currency_exponent(currency)
        except MoneyError:
            return amount  # withdrawn currency (DEM in old files): kept as written
        try:
            return quantize_money(amount, currency)
        except MoneyError as exc:
            raise self.error(n, str(exc)) from None

    def _balance(self, tag: str, value: str, n: int) -> Balance:
        m = _BALANCE_RE.fullmatch(value)
        if not m:
            raise self.error(n, f":{tag}: {value!r} is not a balance (D/C mark, YYMMDD date, currency, amount)")
        amount = self._money(self._amount(m["amount"], n), m["currency"], n)
        return Balance(amount=-amount if m["mark"] == "D" and amount else amount, currency=m["currency"],
                       date=self._date(m["date"], n, f":{tag}: date"), kind=tag)

    def _floor_limit(self, value: str, n: int) -> dict:
        m = re.fullmatch(rf"([A-Z]{{3}})([CD]?)({_AMOUNT})", value)
        if not m:
            raise self.error(n, f":34F: {value!r} is not a floor limit (currency, optional D/C, amount)")
        amount = self._money(self._amount(m[3], n), m[1], n)
        return {"currency": m[1], "mark": m[2] or None, "amount": format(amount, "f")}

    def _totals(self, value: str, n: int) -> dict:
        m = re.fullmatch(rf"(\d{{1,5}})([A-Z]{{3}})({_AMOUNT})", value)
        if not m:
            raise self.error(n, f"{value!r} is not an entry count with currency and amount")
        amount = self._money(self._amount(m[3], n), m[2], n)
        return {"count": int(m[1]), "currency": m[2], "amount": format(amount, "f")}

    def _datetime(self, value: str, n: int) -> str:
        m = re.fullmatch(r"(\d{6})(\d{2})(\d{2})([+-])(\d{2})(\d{2})", value)
        if not m or int(m[2]) > 23 or int(m[3]) > 59 or int(m[5]) > 14 or int(m[6]) > 59:
            raise self.error(n, f":13D: {value!r} is not a date-time (YYMMDDhhmm+hhmm)")
        day = self._date(m[1], n, ":13D: date")
        return f"{day.isoformat()}T{m[2]}:{m[3]}:00{m[4]}{m[5]}:{m[6]}"

    def _account(self, s: Statement, lines: list[str]) -> None:
        value = " ".join(line.strip() for line in lines if line.strip())
        # a currency after the account (Rabobank 'NL34RABO0142623393 EUR', ING '...8765EUR',
        # Raiffeisen '.../HUF') is not part of it
        m = re.fullmatch(r"(.*?)(?: |/)?([A-Z]{3})", value)
        if m and m[1] and _is_currency(m[2]) and (m[1][-1].isdigit() or is_iban(m[1].replace(" ", ""))):
            value = m[1].strip()
            s.extra["account_currency"] = m[2]
        squeezed = value.replace(" ", "")
        if is_iban(squeezed):
            s.account_iban = normalize_iban(squeezed)
            return
        s.account_number = value
        prefix, sep, rest = value.partition("/")
        if sep:
            bic = known_bic(prefix)
            if bic:
                s.account_bic = bic
            elif re.fullmatch(r"\d{8}", prefix):
                s.extra["bank_code"] = prefix  # German BLZ
            if is_iban(rest.replace(" ", "")):
                s.account_iban = normalize_iban(rest.replace(" ", ""))

    def _line61(self, f: _Field) -> _Entry:
        n = f.lineno
        lines = [line.strip() for line in f.lines]
        m, used = None, 0
        # the first line should hold everything up to the bank reference; a file that wrapped it
        # earlier is read by joining the next lines
        for used in range(1, len(lines) + 1):
            m = _LINE61_RE.fullmatch("".join(lines[:used]))
            if m and m["rest"]:
                break
        if m is None:
            raise self.error(n, f":61: {lines[0]!r} is not a statement line (YYMMDD[MMDD], D/C mark, amount, "
                                "transaction type, reference)")
        value_date = self._date(m["value"], n, ":61: value date")
        booking_date = self._entry_date(m["entry"], value_date, n)
        rest = m["rest"].rstrip()
        if not rest:
            raise self.error(n, ":61: ends after the amount: the transaction type and reference are "
                                "missing (truncated line)")
        if rest.startswith("//") or re.fullmatch(r"NONREF(//.*)?", rest):  # no type code (Zetb, Penta)
            type_code, ref = None, rest
        elif _TYPE_RE.match(rest):
            type_code, ref = rest[:4].strip(), rest[4:]
        else:
            raise self.error(n, f":61: {rest!r} after the amount is not a transaction type "
                                "(N/F/S and a 3-character code)")
        customer, sep, bank = ref.partition("//")
        customer = customer.strip()
        overflow = None
        if len(customer) > 16:
            split = re.fullmatch(r"(\S.{0,15}?)\s{2,}(\S.*)", customer)
            if split:
                customer, overflow = split[1], split[2].strip()
        bank = bank.strip()
        more = [line for line in lines[used:] if line]
        # ING wraps a long bank reference onto the next line: '...//00000000001' / '005' / '/TRCD/...'
        if bank and len(more) >= 2 and re.fullmatch(r"[A-Za-z0-9]+", more[0]) \
                and len(bank) + len(more[0]) <= 16 and more[1].startswith("/"):
            bank += more.pop(0)
        supplementary = "".join(more) or None
        mark = m["mark"]
        return _Entry(
            lineno=n, value_date=value_date, booking_date=booking_date or value_date, sign=_SIGN[mark],
            raw_amount=self._amount(m["amount"], n), is_reversal=mark in ("RC", "RD"),
            type_code=type_code, customer_ref=customer or None, bank_ref=bank or None,
            supplementary=supplementary, overflow=overflow,
            bare=type_code is not None and not customer and not sep and not supplementary)

    def _entry_date(self, mmdd: str | None, value_date: date, n: int) -> date | None:
        """MMDD entry date: the year that puts it nearest the value date (Dec/Jan wrap)."""
        if not mmdd or not mmdd.strip():
            return None
        mm, dd = int(mmdd[:2]), int(mmdd[2:])
        candidates = []
        for year in (value_date.year - 1, value_date.year, value_date.year + 1):
            try:
                candidates.append(date(year, mm, dd))
            except ValueError:
                continue
        if not candidates:
            raise self.error(n, f"impossible :61: entry date {mmdd!r} ({dd:02d}.{mm:02d})")
        return min(candidates, key=lambda d: abs((d - value_date).days))

    # ------------------------------------------------------------------ statements

    def _finish_statement(self, at_eof: bool) -> Iterator[Record]:
        st, self.open = self.open, None
        if st is None:
            return
        s = st.statement
        s.format = "mt942" if st.mt942 else "mt940"
        where = st.statement.position
        if not st.fragment:
            if st.phase < _ACCOUNT:
                if not at_eof:
                    raise BankParseError(self.file, where, f"statement {s.statement_id!r} has no :25: account "
                                                           "identification")
                s.extra["incomplete"] = "the file ends after the :20: transaction reference"
            elif st.phase < _NUMBER:
                raise BankParseError(self.file, where, "statement has no :28C: statement number")
            elif st.phase < _BODY:
                raise BankParseError(self.file, where, "statement has no opening balance (:60F:/:60M:)")
        s.currency = self._currency(st)
        for entry in st.entries:
            amount = self._money(entry.raw_amount, s.currency or "", entry.lineno)
            entry.amount = -amount if entry.sign < 0 and amount else amount
        self._check(st)
        if st.discrepancies:
            s.extra.setdefault("discrepancies", []).extend(st.discrepancies)
        self._statement_information(s)
        self.count += 1
        yield s
        for entry in st.entries:
            yield self._transaction(s, entry)

    def _currency(self, st: _Open) -> str | None:
        s = st.statement
        opening, closing = s.opening_balance, s.closing_balance
        if opening and closing and opening.currency != closing.currency:
            raise BankParseError(self.file, s.position, f"opening balance in {opening.currency} but closing "
                                                        f"balance in {closing.currency}")
        for source in (opening, closing):
            if source is not None:
                return source.currency
        for key in ("floor_limits", "debit_totals", "credit_totals"):
            value = s.extra.get(key)
            if value:
                return (value[0] if isinstance(value, list) else value)["currency"]
        return None

    def _check(self, st: _Open) -> None:
        """Record a balance difference; refuse a bare :61: the numbers cannot vouch for."""
        s = st.statement
        total = sum((e.amount for e in st.entries if e.amount is not None), Decimal(0))
        verified: bool | None = None
        detail = ""
        if s.opening_balance and s.closing_balance:
            expected = s.opening_balance.amount + total
            difference = s.closing_balance.amount - expected
            verified = difference == 0
            if not verified:
                s.extra["unbalanced_by"] = format(difference, "f")
                detail = (f"opening {s.opening_balance.amount} + entries {total} = {expected}, but the closing "
                          f"balance is {s.closing_balance.amount}")
        elif "debit_totals" in s.extra or "credit_totals" in s.extra:
            mismatches = [m for key, sign in (("debit_totals", -1), ("credit_totals", 1))
                          if key in s.extra and (m := self._totals_mismatch(st, key, sign))]
            verified = not mismatches
            if mismatches:
                s.extra["totals_mismatch"] = mismatches
                detail = "; ".join(mismatches)
        bare = next((e for e in st.entries if e.bare), None)
        if bare is not None and not verified:
            why = detail or "the statement has no balances to confirm the amounts"
            raise self.error(bare.lineno, f":61: stops after the transaction type {bare.type_code!r} (no "
                                          f"reference for the account owner) and {why}: the line looks truncated")

    @staticmethod
    def _totals_mismatch(st: _Open, key: str, sign: int) -> str | None:
        totals = st.statement.extra[key]
        picked = [e for e in st.entries if e.sign == sign]
        amount = sum((abs(e.amount) for e in picked if e.amount is not None), Decimal(0))
        if amount == Decimal(totals["amount"]) and len(picked) == totals["count"]:
            return None
        return (f":{'90D' if sign < 0 else '90C'}: states {totals['count']} entries of {totals['amount']}, "
                f"the statement lines give {len(picked)} of {format(amount, 'f')}")

    @staticmethod
    def _statement_information(s: Statement) -> None:
        # Danske Bank states the IBAN of a BIC/account :25: in the statement information
        if s.account_iban:
            return
        for text in s.extra.get("information", []):
            m = re.search(r"IBAN(?: no\.?)?\s*:?\s*([A-Z]{2}\d{2}[A-Z0-9]{8,30})", text)
            if m and is_iban(m[1]):
                s.account_iban = normalize_iban(m[1])
                return

    def _transaction(self, s: Statement, e: _Entry) -> Transaction:
        d = parse_details(e.details) if e.details else Details(layout="none")
        t = Transaction(
            amount=e.amount if e.amount is not None else Decimal(0), currency=s.currency or "",
            booking_date=e.booking_date, value_date=e.value_date, statement_id=s.statement_id,
            counterparty_name=d.counterparty_name, counterparty_iban=d.counterparty_iban,
            counterparty_account=d.counterparty_account, counterparty_bic=d.counterparty_bic,
            end_to_end_id=d.end_to_end_id, bank_reference=_ref(e.bank_ref),
            customer_reference=_ref(e.customer_ref) or d.customer_reference,
            structured_reference=d.structured_reference, remittance_text=d.remittance_text,
            bank_transaction_code=e.type_code or d.gvc, is_reversal=e.is_reversal,
            is_return=d.is_return or bool(e.type_code and e.type_code[1:] == "RTI"),
            return_reason=d.return_reason, position=f"line {e.lineno}", extra=d.extra)
        # old Rabobank layouts put the counterparty account in the reference and the name after
        # it on the :61: line; the newer ones put the account (or IBAN) on the supplementary line
        if e.overflow:
            if t.counterparty_name is None:
                t.counterparty_name = compact(e.overflow)
            if t.counterparty_account is None and e.customer_ref and \
                    re.fullmatch(r"P?\d{6,10}", e.customer_ref) and e.customer_ref.strip("P0"):
                t.counterparty_account = e.customer_ref
        if _IBAN_SHAPE.fullmatch(e.customer_ref or ""):
            _counterparty_in_reference(t, e)
        sup = (e.supplementary or "").strip()
        if t.counterparty_iban is None and t.counterparty_account is None and sup:
            squeezed = sup.replace(" ", "")
            if re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{8,30}", squeezed):
                if is_iban(squeezed):
                    t.counterparty_iban = normalize_iban(squeezed)
                else:
                    t.counterparty_account = squeezed
            elif re.fullmatch(r"P?\d{6,18}", squeezed) and squeezed.strip("P0"):
                t.counterparty_account = squeezed
            elif t.remittance_text is None and not sup.startswith("/"):
                t.remittance_text = compact(sup)  # free text for the account owner (mBank, Danske)
        return t


_IBAN_SHAPE = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}")


def _counterparty_in_reference(t: Transaction, e: _Entry) -> None:
    """ASN Bank and SNS: the counterparty's IBAN is the :61: reference, its name the supplementary
    line, and :86: starts with both again ("NL12ASNB0123456789 J. JANSEN" then the text). Taken as
    the bank wrote it even when the IBAN's check digits fail (anonymised exports): it is an
    account number either way. With no supplementary line, a first :86: line that holds only
    the IBAN and a name gives the name."""
    ref = e.customer_ref or ""
    lines = [line.strip() for line in e.details if line.strip()]
    if not lines or not lines[0].upper().startswith(ref) or t.counterparty_name:
        return
    if t.counterparty_iban is None and t.counterparty_account is None:
        if is_iban(ref):
            t.counterparty_iban = normalize_iban(ref)
        else:
            t.counterparty_account = ref
    head = lines[0][len(ref):].strip()
    name = compact(e.supplementary)
    if name and head.lower().startswith(name.lower()):
        name, rest = head[:len(name)], head[len(name):]
    elif name is None and len(lines) > 1:
        name, rest = compact(head), ""
    else:
        rest = head
    if name:
        t.counterparty_name = name
        t.remittance_text = compact(join_text([rest, *lines[1:]]))


# what banks write in the reference field when the reference is elsewhere (in :86:) or absent
_PLACEHOLDERS = {"", "NONREF", "NOTPROVIDED", "EREF", "PREF", "MARF", "KREF", "EREF+", "KREF+", "MREF+"}


def _ref(value: str | None) -> str | None:
    if value is None or value.strip().upper() in _PLACEHOLDERS:
        return None
    return value.strip()


def _is_currency(code: str) -> bool:
    try:
        currency_exponent(code)
    except MoneyError:
        return False
    return True
