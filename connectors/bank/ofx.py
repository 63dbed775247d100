"""OFX statements: 1.x (SGML: ``OFXHEADER:100`` header, leaf elements without end tags, empty
elements) and 2.x (XML: ``<?OFX OFXHEADER="200" ...?>``).

A 2.x file that is well-formed XML is read with lxml, hardened: a DOCTYPE (and with it any DTD or
entity declaration) is refused, entities are not resolved, nothing is loaded from the network.
Anything else, including 2.x headers over an SGML body (which some banks send), is read by a small
SGML reader that closes leaf elements implicitly and never expands entities other than the
predefined ones; it refuses ``<!DOCTYPE`` and ``<!ENTITY`` too. Both readers build one
transaction-response aggregate (``STMTTRNRS`` ...) at a time, so a file is never held whole.

One ``Statement`` per bank (``STMTRS``) or credit-card (``CCSTMTRS``) statement:

* account: ``BANKACCTFROM/ACCTID`` (or ``CCACCTFROM``), in ``account_iban`` too when it is an IBAN;
  ``BANKID``, ``BRANCHID`` and ``ACCTTYPE`` in ``extra``. An empty (or absent) ``ACCTID`` is read as no
  account (``account_number`` None, ``extra["account_missing"]``); a statement without the
  ``BANKACCTFROM`` aggregate itself is refused;
* currency ``CURDEF``; period ``BANKTRANLIST/DTSTART``..``DTEND``;
* closing balance ``LEDGERBAL`` (``BALAMT`` as of ``DTASOF``); ``AVAILBAL`` in ``extra``. OFX has no
  opening balance: ``opening_balance`` is always None. A ``LEDGERBAL`` whose amount and date are
  both empty carries nothing and counts as absent; an empty amount with a date is an error.

Each ``STMTTRN`` becomes a ``Transaction``: ``TRNAMT`` (a comma as the only separator is read as the
decimal point), ``DTPOSTED`` as booking date, ``DTAVAIL`` (else ``DTUSER``, the date the
transaction was made) as value date, ``FITID`` as bank reference, ``NAME`` (or ``PAYEE/NAME``) as
counterparty, ``MEMO`` as remittance text, ``CHECKNUM`` as customer reference, ``TRNTYPE`` as
bank transaction code, ``BANKACCTTO``/``CCACCTTO`` as counterparty account and ``CURRENCY/CURSYM``
as currency when the amount is not in ``CURDEF``. Dates such as ``20230101``,
``20230101120000.000[-5:EST]`` are read as the calendar date written (the time zone is not
applied to it).

Investment statements (``INVSTMTRS``) are not bank statements: their header is yielded (account
``INVACCTFROM``, currency, period; ``extra["statement_type"] == "investment"`` and the number of
investment transactions left out) with no transactions and no balances.

A server error is not an empty statement: a failed sign-on (``SONRS/STATUS`` with severity ERROR)
or a statement response that carries an error status instead of a statement raises
``BankParseError`` quoting the server's code and message. A file with no statement response at all
(a sign-on or account-list reply) yields nothing. Malformed input, including a missing or invalid
``DTPOSTED``, ``TRNAMT`` or account aggregate, raises ``BankParseError`` naming the field.
"""

from __future__ import annotations

import codecs
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from lxml import etree

from ledgerlink.model.identifiers import is_iban
from ledgerlink.model.money import MoneyError, currency_exponent

from .model import Balance, BankParseError, Record, Statement, Transaction
from .text import detect_encoding, read_head

FORMAT = "ofx"

_SNIFF = re.compile(rb"OFXHEADER\s*[:=]|<\?OFX\b|<OFX>", re.I)
_OFX_PI = re.compile(rb"<\?OFX\b", re.I)
_ROOT = re.compile(rb"<OFX[\s>]", re.I)
_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.I)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9._:-]*")
_DATETIME = re.compile(
    r"(\d{4})(\d{2})(\d{2})"
    r"(?:(\d{2})(\d{2})(?:(\d{2})(?:[.:](\d{1,6}))?)?)?"
    r"\s*(?:\[\s*([+-]?\d{0,2}(?:\.\d{1,2})?)\s*(?::\s*[A-Za-z]{1,8}\s*)?\])?")
_AMOUNT = re.compile(r"[+-]?(?:\d{1,20}(?:\.\d{0,10})?|\.\d{1,10})")
_CHUNK = 64 * 1024
_MAX_TOKEN = 1024 * 1024
_MAX_DEPTH = 100  # OFX aggregates nest about ten deep

TRNRS_NAMES = frozenset({"STMTTRNRS", "CCSTMTTRNRS", "INVSTMTTRNRS"})
STATEMENT_NAMES = {"STMTRS": "bank", "CCSTMTRS": "creditcard", "INVSTMTRS": "investment"}


def detect(head: bytes) -> bool:
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8):]
    return _SNIFF.search(head[:4096]) is not None


@dataclass(eq=False)  # nodes are compared by identity
class _Node:
    name: str
    line: int | None
    text: str | None = None  # None for an aggregate
    children: list[_Node] = field(default_factory=list)

    @property
    def position(self) -> str:
        return f"<{self.name}> at line {self.line}" if self.line else f"<{self.name}>"

    def find(self, name: str) -> _Node | None:
        return next((c for c in self.children if c.name == name), None)

    def findall(self, name: str) -> list[_Node]:
        return [c for c in self.children if c.name == name]

    def value(self, name: str) -> str | None:
        """The text of the leaf child ``name``: None when absent, "" when empty."""
        child = self.find(name)
        if child is None:
            return None
        return (child.text or "").strip()


# -- SGML (and XML-looking SGML) reading --------------------------------------------------------

class _Chars:
    """Buffered reading of a text file: the next markup or text token, at most ``_MAX_TOKEN`` long."""

    def __init__(self, fh, error) -> None:
        self.fh, self.error = fh, error
        self.buf, self.pos, self.eof = "", 0, False

    def _more(self) -> bool:
        if self.eof:
            return False
        try:
            chunk = self.fh.read(_CHUNK)
        except UnicodeDecodeError as exc:
            raise self.error(f"not valid {self.fh.encoding}: {exc.reason}") from None
        if not chunk:
            self.eof = True
            return False
        self.buf, self.pos = self.buf[self.pos:] + chunk, 0
        return True

    def at_end(self) -> bool:
        return self.pos >= len(self.buf) and not self._more()

    def startswith(self, prefix: str) -> bool:
        while len(self.buf) - self.pos < len(prefix) and self._more():
            pass
        return self.buf.startswith(prefix, self.pos)

    def until(self, delimiter: str, what: str) -> str:
        """Everything up to and including ``delimiter``."""
        start = self.pos
        while True:
            found = self.buf.find(delimiter, start)
            if found >= 0:
                token = self.buf[self.pos:found + len(delimiter)]
                self.pos = found + len(delimiter)
                return token
            if len(self.buf) - self.pos > _MAX_TOKEN:
                raise self.error(f"{what} longer than 1 MiB")
            start = max(self.pos, len(self.buf) - len(delimiter) + 1)
            offset = self.pos
            if not self._more():
                raise self.error(f"unterminated {what} {self.buf[self.pos:self.pos + 30]!r}")
            start -= offset

    def text(self) -> str:
        """Everything up to the next ``<`` (or the end of the file)."""
        parts: list[str] = []
        size = 0
        while True:
            found = self.buf.find("<", self.pos)
            if found >= 0:
                parts.append(self.buf[self.pos:found])
                self.pos = found
                return "".join(parts)
            parts.append(self.buf[self.pos:])
            size += len(self.buf) - self.pos
            self.pos = len(self.buf)
            if size > _MAX_TOKEN:
                raise self.error("text longer than 1 MiB")
            if not self._more():
                return "".join(parts)


class _SgmlReader:
    """Nodes of the emitted aggregates, in file order, from an OFX file read as SGML."""

    def __init__(self, path: Path, emit: frozenset[str]) -> None:
        self.path = path
        self.emit = emit
        self.line = 1

    def error(self, reason: str, line: int | None = None) -> BankParseError:
        return BankParseError(str(self.path), f"line {line or self.line}", reason)

    def tokens(self) -> Iterator[tuple[str, str, int]]:
        """(kind, value, line): kind is 'start', 'end' or 'text'."""
        encoding = _sgml_encoding(read_head(self.path))
        try:
            fh = open(self.path, encoding=encoding, newline=None)  # noqa: SIM115 - closed by the with below
        except LookupError:
            raise self.error(f"unknown character set {encoding!r}") from None
        with fh:
            chars = _Chars(fh, self.error)
            while not chars.at_end():
                line = self.line
                if not chars.startswith("<"):
                    token = chars.text()
                    self.line += token.count("\n")
                    yield "text", token, line
                    continue
                if chars.startswith("<!--"):
                    token = chars.until("-->", "comment")
                elif chars.startswith("<![CDATA["):
                    token = chars.until("]]>", "CDATA section")
                    yield "text", html.escape(token[9:-3], quote=False), line
                elif chars.startswith("<?"):
                    token = chars.until("?>", "processing instruction")
                elif chars.startswith("<!"):
                    raise self.error("DOCTYPE, ENTITY and other declarations are refused in OFX files")
                else:
                    token = chars.until(">", "tag")
                    yield from self._tag(token, line)
                self.line += token.count("\n")

    def _tag(self, token: str, line: int) -> Iterator[tuple[str, str, int]]:
        inner = token[1:-1].strip()
        closing = inner.startswith("/")
        if closing:
            inner = inner[1:].strip()
        self_closing = inner.endswith("/")
        if self_closing:
            inner = inner[:-1].strip()
        name = inner.split(None, 1)[0] if inner else ""
        if not _NAME.fullmatch(name):
            raise self.error(f"malformed tag {token[:40]!r}", line)
        name = name.upper()
        if closing:
            yield "end", name, line
        else:
            yield "start", name, line
            if self_closing:
                yield "end", name, line

    def nodes(self) -> Iterator[_Node]:
        stack: list[_Node] = [_Node("#document", None)]
        saw_root_end = False
        for kind, value, line in self.tokens():
            top = stack[-1]
            if kind == "text":
                text = value.strip()
                if text and len(stack) > 1 and not top.children:  # else: header lines, stray text
                    top.text = (top.text or "") + html.unescape(text)
            elif kind == "start":
                if top.text is not None and len(stack) > 1:
                    stack.pop()  # a leaf ends where the next element starts
                    yield from self._closed(top, stack)
                if len(stack) > _MAX_DEPTH:
                    raise self.error(f"elements nested deeper than {_MAX_DEPTH}", line)
                node = _Node(value, line)
                stack[-1].children.append(node)
                stack.append(node)
            else:
                index = next((i for i in range(len(stack) - 1, 0, -1) if stack[i].name == value), None)
                if index is None:
                    raise self.error(f"end tag </{value}> without a matching start tag", line)
                while len(stack) - 1 > index:
                    node = stack.pop()  # never closed: a leaf, or an empty element
                    if node.text is None and node.children and not self._wanted(node):
                        # An empty element without end tag swallowed what followed: give it back.
                        stack[-1].children.extend(node.children)
                        node.children = []
                    yield from self._closed(node, stack)
                node = stack.pop()
                saw_root_end = saw_root_end or value == "OFX"
                yield from self._closed(node, stack)
        if not saw_root_end:
            raise self.error("the file ends before </OFX> (truncated?)")

    def _wanted(self, node: _Node) -> bool:
        return node.name in self.emit or node.name in STATEMENT_NAMES

    def _closed(self, node: _Node, ancestors: list[_Node]) -> Iterator[_Node]:
        """Hand out ``node`` when it is an aggregate to emit; drop it when nothing needs it."""
        emit = node.name in self.emit or (
            node.name in STATEMENT_NAMES and not any(a.name in TRNRS_NAMES for a in ancestors))
        if not emit and any(self._wanted(a) for a in ancestors):
            return  # part of an aggregate still being read
        siblings = ancestors[-1].children
        if siblings and siblings[-1] is node:  # always the case: nothing is added after a closed node
            siblings.pop()
        elif node in siblings:
            siblings.remove(node)
        if emit:
            yield node


def _sgml_encoding(head: bytes) -> str:
    """The encoding named by an OFX 1.x header, else the one detected from the bytes."""
    header = head.split(b"<", 1)[0].decode("latin-1")
    fields = dict(re.findall(r"(?m)^\s*([A-Z]+)\s*:\s*(\S*)\s*$", header.upper()))
    if fields.get("ENCODING") in ("UTF-8", "UTF8"):
        return "utf-8-sig"
    charset = fields.get("CHARSET", "")
    if charset in ("1252", "WINDOWS-1252", "CP1252"):
        return "cp1252"
    if charset in ("ISO-8859-1", "8859-1", "LATIN-1", "ISO8859-1"):
        return "latin-1"
    return detect_encoding(head)


# -- XML reading ---------------------------------------------------------------------------------

def _xml_parser_args() -> dict:
    return {"resolve_entities": False, "load_dtd": False, "no_network": True, "huge_tree": False,
            "remove_comments": True, "remove_pis": True}


def _is_wellformed_xml(path: Path) -> bool:
    try:
        for _, element in etree.iterparse(str(path), events=("end",), **_xml_parser_args()):
            element.clear()
            parent = element.getparent()
            if parent is not None:
                parent.remove(element)
    except (etree.XMLSyntaxError, LookupError, ValueError):  # LookupError: an unknown encoding
        return False
    return True


def _xml_nodes(path: Path, emit: frozenset[str]) -> Iterator[_Node]:
    collecting = 0  # open elements that are, or are inside, an aggregate to emit
    open_trnrs = 0
    try:
        for event, element in etree.iterparse(str(path), events=("start", "end"), **_xml_parser_args()):
            name = etree.QName(element).localname.upper()
            wanted = name in emit or name in STATEMENT_NAMES
            if event == "start":
                open_trnrs += name in TRNRS_NAMES
                collecting += wanted
                continue
            open_trnrs -= name in TRNRS_NAMES
            collecting -= wanted
            parent = element.getparent()
            if name in emit or (name in STATEMENT_NAMES and not open_trnrs):
                node = _from_element(element)
                if parent is not None:
                    parent.remove(element)
                yield node
            elif not collecting and parent is not None:
                parent.remove(element)  # outside any statement: not needed any more
    except etree.XMLSyntaxError as exc:
        raise BankParseError(str(path), f"line {exc.lineno}", f"not well-formed XML: {exc.msg}") from None
    except (LookupError, ValueError) as exc:
        raise BankParseError(str(path), None, f"cannot read the XML: {exc}") from None


def _from_element(element) -> _Node:
    node = _Node(etree.QName(element).localname.upper(), element.sourceline)
    children = [c for c in element if isinstance(c.tag, str)]
    if children:
        node.children = [_from_element(c) for c in children]
    else:
        node.text = (element.text or "").strip()
    return node


# -- statements ----------------------------------------------------------------------------------

class _Builder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.created_at: str | None = None

    def error(self, node: _Node | None, reason: str) -> BankParseError:
        return BankParseError(str(self.path), node.position if node else None, reason)

    def signon(self, node: _Node) -> None:
        status = _status(node)
        if status and status["severity"] == "ERROR":
            raise self.error(node.find("STATUS"), f"the OFX server refused the sign-on: {_quote(status)}")
        server = node.value("DTSERVER")
        if server:
            self.created_at = _timestamp(server, self, node, "SONRS/DTSERVER")

    def response(self, node: _Node) -> Iterator[Record]:
        status = _status(node)
        statements = [c for c in node.children if c.name in STATEMENT_NAMES]
        if node.name in STATEMENT_NAMES:
            statements, status = [node], None
        if not statements:
            if status and status["severity"] == "ERROR":
                raise self.error(node.find("STATUS"), f"the OFX server answered with an error instead of a "
                                                      f"statement: {_quote(status)}")
            return
        for stmt in statements:
            yield from self.statement(stmt, node, status)

    def statement(self, stmt: _Node, wrapper: _Node, status: dict | None) -> Iterator[Record]:
        kind = STATEMENT_NAMES[stmt.name]
        currency = stmt.value("CURDEF") or None
        if currency is not None:
            currency = currency.upper()
            if not re.fullmatch(r"[A-Z]{3}", currency):
                raise self.error(stmt.find("CURDEF"), f"CURDEF {currency!r} is not a currency code")
        acct_name = {"bank": "BANKACCTFROM", "creditcard": "CCACCTFROM", "investment": "INVACCTFROM"}[kind]
        acct = stmt.find(acct_name)
        if acct is None or acct.text is not None:
            raise self.error(stmt, f"{stmt.name} has no {acct_name} (the account the statement is for)")
        # Some banks blank the account number: the statement is read without one (account_number None),
        # and a load quarantines its entries as it does for any statement naming no account.
        account = (acct.value("ACCTID") or "").strip() or None
        extra: dict = {"statement_type": kind}
        if account is None:
            extra["account_missing"] = f"{acct_name}/ACCTID is missing or empty"
        for key, tag in (("bank_id", "BANKID"), ("branch_id", "BRANCHID"), ("account_type", "ACCTTYPE"),
                         ("broker_id", "BROKERID")):
            if acct.value(tag):
                extra[key] = acct.value(tag)
        trnuid = wrapper.value("TRNUID") if wrapper is not stmt else None
        if trnuid:
            extra["trnuid"] = trnuid
        if status and (status["code"] != "0" or status["severity"] != "INFO"):
            extra["server_status"] = _quote(status)
        compact = (account or "").replace(" ", "").upper()
        statement = Statement(format=FORMAT, account_number=account,
                              account_iban=compact if is_iban(compact) else None, currency=currency,
                              created_at=self.created_at, position=stmt.position, extra=extra)
        transactions: list[Transaction] = []
        starts: list[date] = []
        ends: list[date] = []
        list_name = "INVTRANLIST" if kind == "investment" else "BANKTRANLIST"
        on_line: dict[str, int] = {}
        for tranlist in stmt.findall(list_name):
            for tag, bucket in (("DTSTART", starts), ("DTEND", ends)):
                value = tranlist.value(tag)
                if value:
                    bucket.append(_date(value, self, tranlist, f"{list_name}/{tag}"))
            if kind == "investment":
                extra["investment_transactions_not_imported"] = (
                    extra.get("investment_transactions_not_imported", 0)
                    + sum(1 for c in tranlist.children if c.name not in ("DTSTART", "DTEND")))
                continue
            for trn in tranlist.findall("STMTTRN"):
                tx = self.transaction(trn, currency)
                # files written on one line: the entries' positions must still tell them apart
                on_line[trn.position] = on_line.get(trn.position, 0) + 1
                if on_line[trn.position] > 1:
                    tx.position = f"{trn.position}, entry {on_line[trn.position]} on the line"
                transactions.append(tx)
        statement.from_date = min(starts) if starts else None
        statement.to_date = max(ends) if ends else None
        if kind == "investment":
            as_of = stmt.value("DTASOF")
            if as_of and statement.to_date is None:
                statement.to_date = _date(as_of, self, stmt, "INVSTMTRS/DTASOF")
        else:
            statement.closing_balance = self.balance(stmt, "LEDGERBAL", currency)
            available = self.balance(stmt, "AVAILBAL", currency)
            if available is not None:
                extra["available_balance"] = {"amount": available.amount, "date": available.date}
        end = statement.to_date or (statement.closing_balance.date if statement.closing_balance else None)
        statement.statement_id = f"{account}/{end.isoformat()}" if end else account
        yield statement
        for tx in transactions:
            tx.statement_id = statement.statement_id
            yield tx

    def balance(self, stmt: _Node, tag: str, currency: str | None) -> Balance | None:
        node = stmt.find(tag)
        if node is None:
            return None
        amount, as_of = node.value("BALAMT"), node.value("DTASOF")
        if not amount and not as_of:
            return None  # an empty aggregate (all its elements empty) says nothing
        if not amount:
            raise self.error(node, f"{tag}/BALAMT is missing or empty (the balance as of {as_of})")
        if currency is None:
            raise self.error(stmt, f"{tag} is given but the statement has no currency (CURDEF)")
        return Balance(_with_decimals(_amount(amount, self, node, f"{tag}/BALAMT"), currency), currency,
                       _date(as_of, self, node, f"{tag}/DTASOF") if as_of else None, kind=tag)

    def transaction(self, trn: _Node, currency: str | None) -> Transaction:
        raw_amount = trn.value("TRNAMT")
        if not raw_amount:
            raise self.error(trn, "STMTTRN/TRNAMT (the amount) is missing or empty")
        amount = _amount(raw_amount, self, trn, "STMTTRN/TRNAMT")
        posted = trn.value("DTPOSTED")
        if not posted:
            raise self.error(trn, "STMTTRN/DTPOSTED (the booking date) is missing or empty")
        booking = _date(posted, self, trn, "STMTTRN/DTPOSTED")
        value_date = None
        for tag in ("DTAVAIL", "DTUSER"):
            text = trn.value(tag)
            if text:
                value_date = _date(text, self, trn, f"STMTTRN/{tag}")
                break
        tx_currency = currency
        foreign = trn.find("CURRENCY")
        if foreign is not None and foreign.value("CURSYM"):
            tx_currency = (foreign.value("CURSYM") or "").upper()
            if not re.fullmatch(r"[A-Z]{3}", tx_currency):
                raise self.error(foreign, f"CURRENCY/CURSYM {tx_currency!r} is not a currency code")
        if not tx_currency:
            raise self.error(trn, "no currency for the amount: CURDEF is missing or empty and the transaction "
                                  "has no CURRENCY/CURSYM")
        amount = _with_decimals(amount, tx_currency)
        name = trn.value("NAME")
        payee = trn.find("PAYEE")
        if not name and payee is not None:
            name = payee.value("NAME")
        checknum = trn.value("CHECKNUM")
        tx = Transaction(
            amount=amount, currency=tx_currency, booking_date=booking, value_date=value_date,
            bank_reference=trn.value("FITID") or None,
            counterparty_name=name or None,
            remittance_text=trn.value("MEMO") or None,
            customer_reference=checknum if checknum and checknum.strip("0") else None,
            bank_transaction_code=(trn.value("TRNTYPE") or "").upper() or None,
            position=trn.position)
        to = trn.find("BANKACCTTO") or trn.find("CCACCTTO")
        if to is not None and to.value("ACCTID"):
            number = (to.value("ACCTID") or "").replace(" ", "").upper()
            if is_iban(number):
                tx.counterparty_iban = number
            else:
                tx.counterparty_account = to.value("ACCTID")
        return tx


def _status(node: _Node) -> dict | None:
    status = node.find("STATUS")
    if status is None:
        return None
    return {"code": status.value("CODE") or "", "severity": (status.value("SEVERITY") or "").upper(),
            "message": status.value("MESSAGE") or ""}


def _quote(status: dict) -> str:
    message = f"{status['message']!r} " if status["message"] else ""
    return f"{message}(code {status['code'] or '?'}, severity {status['severity'] or '?'})"


def _match_datetime(value: str, b: _Builder, node: _Node, what: str) -> re.Match:
    m = _DATETIME.fullmatch(value.strip())
    if m is None:
        raise b.error(node, f"{what} {value!r} is not an OFX date (YYYYMMDD[HHMMSS[.XXX]][[offset:TZ]])")
    return m


def _date(value: str, b: _Builder, node: _Node, what: str) -> date:
    m = _match_datetime(value, b, node, what)
    try:
        day = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        raise b.error(node, f"{what} {value!r} is not a valid date") from None
    if m.group(4) is not None and (int(m.group(4)) > 23 or int(m.group(5)) > 59 or int(m.group(6) or 0) > 59):
        raise b.error(node, f"{what} {value!r} is not a valid time")
    return day


def _timestamp(value: str, b: _Builder, node: _Node, what: str) -> str:
    day = _date(value, b, node, what)
    m = _match_datetime(value, b, node, what)
    if m.group(4) is None:
        return day.isoformat()
    stamp = f"{day.isoformat()}T{m.group(4)}:{m.group(5)}:{m.group(6) or '00'}"
    offset = m.group(8)
    if offset and offset not in ("+", "-"):
        hours = Decimal(offset)
        sign = "-" if hours < 0 else "+"
        minutes = int(abs(hours) * 60)
        if minutes <= 14 * 60:
            stamp += f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    return stamp


def _amount(value: str, b: _Builder, node: _Node, what: str) -> Decimal:
    text = value.strip().replace(" ", "")
    if "," in text and "." not in text and text.count(",") == 1:
        text = text.replace(",", ".")  # a decimal comma
    if not _AMOUNT.fullmatch(text):
        raise b.error(node, f"{what} {value!r} is not an amount")
    try:
        return Decimal(text)
    except InvalidOperation:
        raise b.error(node, f"{what} {value!r} is not an amount") from None


def _with_decimals(amount: Decimal, currency: str) -> Decimal:
    """``amount`` with at least the currency's decimals (-80 USD -> -80.00); never rounded."""
    try:
        exponent = currency_exponent(currency)
    except MoneyError:
        return amount
    if -int(amount.as_tuple().exponent) >= exponent:
        return amount
    return amount.quantize(Decimal(1).scaleb(-exponent))


def parse(path: Path, *, strict: bool = False) -> Iterator[Record]:
    """Statements and their transactions from an OFX 1.x or 2.x file.

    ``strict`` is accepted as by the other parsers; OFX carries no totals to reconcile, so it
    changes nothing."""
    del strict
    path = Path(path)
    builder = _Builder(path)
    for node in _nodes(path):
        if node.name == "SONRS":
            builder.signon(node)
        else:
            yield from builder.response(node)


def _nodes(path: Path) -> Iterator[_Node]:
    head = read_head(path)
    emit = TRNRS_NAMES | {"SONRS"}
    if not _OFX_PI.search(head[:4096]):
        return _SgmlReader(path, emit).nodes()
    root = _ROOT.search(head)
    if root is None:
        raise BankParseError(str(path), None, "no <OFX> element in the first 64 KiB")
    declaration = _DECLARATION.search(head, 0, root.start())
    if declaration:
        line = head[:declaration.start()].count(b"\n") + 1
        raise BankParseError(str(path), f"line {line}", "DOCTYPE and ENTITY declarations are refused in OFX files")
    # Some banks put a 2.x header on an SGML body: read those as SGML.
    return _xml_nodes(path, emit) if _is_wellformed_xml(path) else _SgmlReader(path, emit).nodes()
