"""ISO 20022 bank-to-customer cash management: camt.052 (account report), camt.053 (statement) and
camt.054 (debit/credit notification), versions .001.01 to .001.13, streamed.

A later version (.001.14 and up) is read with the element paths of .001.13, as long as the
document still has them: each statement records that it was read so (``extra["discrepancies"]``)
and a warning is logged; a document that does not read so is refused with the version named.

The file is read with a hardened incremental parser (``connectors.xmlsafe``): only ``Stmt`` / ``Rpt`` /
``Ntfctn`` and ``Ntry`` elements produce events, each entry is cleared (with its preceding siblings)
once turned into a Transaction, so memory stays flat however long the statement is. The statement
header (account, balances, ...) precedes the entries in every version of the schema, so a Statement
is complete, and yielded, when its first entry has been read (or at its end when it has none).

Sign conventions: CdtDbtInd DBIT makes an amount negative, for entries and balances alike. For a
credit the counterparty is the debtor (Dbtr / DbtrAcct / DbtrAgt), for a debit the creditor (see
``_counterparty`` for reversals and returns).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from connectors.xmlsafe import XmlError, XmlLimits, iterparse, sniff_root

from .model import Balance, BankParseError, BatchDetail, Record, Statement, Transaction
from .text import read_head

FORMAT = "camt"

log = logging.getLogger(__name__)

NAMESPACE_PREFIX = "urn:iso:std:iso:20022:tech:xsd:camt"
_NAMESPACE = re.compile(r"urn:iso:std:iso:20022:tech:xsd:camt\.(05[234])\.001\.(\d\d)")
VERSIONS = range(1, 14)  # .001.01 to .001.13; later ones are read as .001.13 when they fit
# message -> (message element, statement element); version 01 names end in "V01".
MESSAGES = {"052": ("BkToCstmrAcctRpt", "Rpt"), "053": ("BkToCstmrStmt", "Stmt"),
            "054": ("BkToCstmrDbtCdtNtfctn", "Ntfctn")}
# Every camt text is at most a few hundred characters, nesting about 15 levels deep.
LIMITS = XmlLimits(max_depth=64, max_text=100_000)

# xs:decimal without sign (amounts are never negative in camt) and without exponent
_AMOUNT = re.compile(r"\+?(?:\d{1,20}(?:\.\d{0,20})?|\.\d{1,20})")
_AMOUNT_MATCH = _AMOUNT.fullmatch
_CURRENCY = re.compile(r"[A-Z]{3}")
_DATE = re.compile(r"(\d{4})-(\d\d)-(\d\d)(?:T\d\d:\d\d(?::\d\d(?:\.\d+)?)?)?(?:Z|[+-]\d\d:\d\d)?")
_STATUS = {"BOOK": "booked", "PDNG": "pending", "FUTR": "pending", "INFO": "info"}
_NO_VALUE = {"NOTPROVIDED", "NONREF"}
_OPENING = ("OPBD", "PRCD")
_CLOSING = {"052": ("CLBD", "ITBD"), "053": ("CLBD",), "054": ("CLBD", "ITBD")}

# Local names of every element read below. Lookups go from lxml's Clark tag ("{ns}Amt") to these
# constants (interned by the compiler), so that comparisons in the hot loop are identity checks.
_NAMES = (
    "Id", "ElctrncSeqNb", "LglSeqNb", "CreDtTm", "FrToDt", "FrDtTm", "ToDtTm", "FrDt", "ToDt",
    "CpyDplctInd", "Acct", "Ccy", "Nm", "Ownr", "Svcr", "FinInstnId", "BIC", "BICFI", "IBAN", "Othr",
    "PrtryAcct", "BBAN", "UPIC", "Bal", "Tp", "CdOrPrtry", "Cd", "Prtry", "Amt", "CdtDbtInd", "Dt", "DtTm",
    "Ntry", "RvslInd", "Sts", "BookgDt", "ValDt", "AcctSvcrRef", "BkTxCd", "Domn", "Fmly",
    "SubFmlyCd", "NtryDtls", "TxDtls", "AddtlNtryInf", "Refs", "EndToEndId", "AmtDtls", "TxAmt",
    "InstdAmt", "RltdPties", "Dbtr", "DbtrAcct", "Cdtr", "CdtrAcct", "Pty", "Agt", "RltdAgts", "DbtrAgt",
    "CdtrAgt", "RmtInf", "Ustrd", "Strd", "CdtrRefInf", "Ref", "RtrInf", "Rsn", "GrpHdr", "MsgId",
    "MndtId", "Purp", "UltmtDbtr", "UltmtCdtr", "PrvtId", "OrgId", "SchmeNm", "CdtrSchmeId",
)


class _Tags:
    def __init__(self, ns: str) -> None:
        self.local: dict[str, str] = {f"{{{ns}}}{n}": n for n in _NAMES}
        self.ntry = f"{{{ns}}}Ntry"


def detect(head: bytes) -> bool:
    """A document whose root element is in an ISO 20022 camt namespace. Unknown camt namespaces are
    claimed too, so that parse() can refuse them with a reason instead of 'unknown format'."""
    try:
        root = sniff_root(head)
    except XmlError:  # a DOCTYPE: claim camt-looking files so that parse() refuses them clearly
        return NAMESPACE_PREFIX.encode() in head
    return root is not None and (root.namespace or "").startswith(NAMESPACE_PREFIX)


def parse(path: Path | str) -> Iterator[Record]:
    """Statements (Stmt / Rpt / Ntfctn) and their entries from one camt file, streamed."""
    path = Path(path)
    name = str(path)
    message, version, ns = _message_of(path, name)
    return _Parser(path, name, message, version, ns).records()


def _message_of(path: Path, name: str) -> tuple[str, str, str]:
    try:
        root = sniff_root(read_head(path))
    except XmlError as exc:
        raise BankParseError(name, f"line {exc.line}" if exc.line else None, exc.reason) from None
    except OSError as exc:
        raise BankParseError(name, None, f"cannot read the file: {exc.strerror or exc}") from None
    if root is None:
        raise BankParseError(name, "line 1", "not a camt document: no XML root element in the first 64 KiB")
    ns = root.namespace or ""
    m = _NAMESPACE.fullmatch(ns)
    if not m:
        raise BankParseError(name, f"/{root.local_name}", f"unknown namespace {ns!r}: not a camt.052/053/054 "
                             "message (expected urn:iso:std:iso:20022:tech:xsd:camt.05[234].001.NN)")
    if int(m.group(2)) < VERSIONS[0]:
        raise BankParseError(name, f"/{root.local_name}", f"unsupported version in namespace {ns!r}: "
                             f"ledgerlink reads camt.05x.001.01 to .001.{VERSIONS[-1]:02d}")
    if root.local_name != "Document":
        raise BankParseError(name, f"/{root.local_name}",
                             f"root element is {root.local_name}, expected Document")
    return m.group(1), m.group(2), ns


class _Parser:
    def __init__(self, path: Path, name: str, message: str, version: str, ns: str) -> None:
        self.path, self.name = path, name
        self.message = message
        self.format = f"camt.{message}.001.{version}"
        # a version newer than the newest known: read with the latest known paths, and said so
        self.newer = int(version) > VERSIONS[-1]
        self.newer_note = (f"{self.format} is newer than the versions ledgerlink knows (up to "
                           f".001.{VERSIONS[-1]:02d}): read with the element paths of .001.{VERSIONS[-1]:02d}")
        self.msg_name, self.stmt_name = MESSAGES[message]
        self.tags = _Tags(ns)
        self.local = self.tags.local
        self.stmt_tag = f"{{{ns}}}{self.stmt_name}"
        self.msg_tags = (f"{{{ns}}}{self.msg_name}", f"{{{ns}}}{self.msg_name}V01")
        self.message_id: str | None = None
        self.where = ""  # XPath of the statement being read
        self._currencies: set[str] = set()  # codes already checked
        self._dates: dict[str, date] = {}  # text -> date, for the dates already read

    # ----------------------------------------------------------------------------------- driving

    def records(self) -> Iterator[Record]:
        if self.newer:
            log.warning("%s: %s", self.name, self.newer_note)
        try:
            yield from self._read()
        except BankParseError as exc:
            if not self.newer:
                raise
            raise BankParseError(self.name, exc.position, f"{self.format} is newer than the versions ledgerlink "
                                 f"knows (up to .001.{VERSIONS[-1]:02d}) and does not read as "
                                 f".001.{VERSIONS[-1]:02d}: {exc.reason}") from None

    def _read(self) -> Iterator[Record]:
        try:
            yield from self._records()
        except XmlError as exc:
            raise BankParseError(self.name, f"line {exc.line}" if exc.line else None, exc.reason) from None
        except OSError as exc:
            raise BankParseError(self.name, None, f"cannot read the file: {exc.strerror or exc}") from None

    def _records(self) -> Iterator[Record]:
        ntry_tag, stmt_tag = self.tags.ntry, self.stmt_tag
        stmt_el: Any = None
        statement_id: str | None = None
        own: frozenset[str] = frozenset()
        n_stmt = n_ntry = 0
        msg_local: str | None = None
        events = iterparse(self.path, events=("end",), tag=(ntry_tag, stmt_tag, *self.msg_tags),
                           limits=LIMITS, name=self.name, remove_blank_text=True)
        for _event, el in events:
            tag = el.tag
            if tag == ntry_tag:
                parent = el.getparent()
                if parent is not stmt_el:
                    if parent.tag != stmt_tag:
                        raise self._fail(el, _path_of(el), f"Ntry outside a {self.stmt_name} element")
                    stmt_el = parent
                    n_stmt += 1
                    n_ntry = 0
                    msg_local = self._enter(parent, n_stmt)
                    statement = self._statement(parent)
                    statement_id = statement.statement_id
                    own = frozenset(a for a in (statement.account_iban, statement.account_number) if a)
                    yield statement
                n_ntry += 1
                yield self._transaction(el, f"{self.where}/Ntry[{n_ntry}]", statement_id, own)
                el.clear(keep_tail=True)
                while el.getprevious() is not None:
                    del parent[0]
            elif tag == stmt_tag:
                if el is not stmt_el:  # a statement without entries
                    n_stmt += 1
                    msg_local = self._enter(el, n_stmt)
                    yield self._statement(el)
                stmt_el = None
                parent = el.getparent()
                el.clear(keep_tail=True)
                while el.getprevious() is not None:
                    del parent[0]
            else:  # the message element ends
                msg_local = el.tag.rpartition("}")[2]
                if n_stmt == 0:
                    raise BankParseError(self.name, f"/Document/{msg_local}",
                                         f"no {self.stmt_name} in {msg_local}: a camt.{self.message} message "
                                         f"holds at least one")
        if msg_local is None:
            raise BankParseError(self.name, "/Document", f"no {self.msg_name} element: the document is not a "
                                 f"camt.{self.message} message although its namespace says so")

    def _enter(self, stmt_el: Any, n_stmt: int) -> str:
        msg = stmt_el.getparent()
        msg_local = msg.tag.rpartition("}")[2]
        if msg.tag not in self.msg_tags or msg.getparent() is None or msg.getparent().getparent() is not None:
            raise self._fail(stmt_el, _path_of(stmt_el),
                             f"{self.stmt_name} inside {msg_local}, expected in /Document/{self.msg_name}")
        self.where = f"/Document/{msg_local}/{self.stmt_name}[{n_stmt}]"
        if n_stmt == 1:
            grp = msg[0] if len(msg) else None
            if grp is not None and self.local.get(grp.tag) == "GrpHdr":
                for c in grp:
                    if self.local.get(c.tag) == "MsgId":
                        self.message_id = _text(c)
        return msg_local

    def _fail(self, el: Any, where: str, reason: str) -> BankParseError:
        line = getattr(el, "sourceline", None)
        return BankParseError(self.name, where, f"{reason} (line {line})" if line else reason)

    def _amount(self, el: Any, where: str, suffix: str) -> tuple[Decimal, str]:
        text = el.text
        if text is None or not _AMOUNT.fullmatch(text):
            text = (text or "").strip()
            if not _AMOUNT.fullmatch(text):
                raise self._fail(el, f"{where}/{suffix}",
                                 f"bad amount {text!r}: expected a decimal number such as 1234.56")
        ccy = el.get("Ccy")
        if ccy not in self._currencies:
            if ccy is None or not _CURRENCY.fullmatch(ccy):
                raise self._fail(el, f"{where}/{suffix}", f"bad or missing currency (Ccy attribute) {ccy!r}")
            self._currencies.add(ccy)
        return Decimal(text), ccy

    def _indicator(self, el: Any, where: str, suffix: str) -> bool:
        """True for a credit."""
        text = _text(el)
        if text == "CRDT":
            return True
        if text == "DBIT":
            return False
        raise self._fail(el, f"{where}/{suffix}",
                         f"bad credit/debit indicator {text!r}: expected CRDT or DBIT")

    def _date(self, el: Any, where: str, suffix: str) -> date | None:
        """Dt or DtTm inside ``el`` (BookgDt, ValDt, Bal/Dt); a date-time keeps its date as written."""
        for c in el:
            kind = self.local.get(c.tag)
            if kind == "Dt" or kind == "DtTm":
                found = self._dates.get(c.text)
                return found if found is not None else self._date_text(c, where, f"{suffix}/{kind}")
        return None

    def _date_text(self, el: Any, where: str, suffix: str) -> date:
        raw = text = el.text
        m = _DATE.fullmatch(text) if text is not None else None
        if m is None:
            text = (text or "").strip()
            m = _DATE.fullmatch(text)
            if m is None:
                raise self._fail(el, f"{where}/{suffix}",
                                 f"bad date {text!r}: expected YYYY-MM-DD or an ISO date-time")
        try:
            found = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError as exc:
            raise self._fail(el, f"{where}/{suffix}", f"impossible date {text!r}: {exc}") from None
        if len(self._dates) > 4096:  # statements repeat a few dates many times
            self._dates.clear()
        self._dates[raw] = found
        return found

    # ----------------------------------------------------------------------------------- statement

    def _statement(self, stmt: Any) -> Statement:
        local = self.local
        where = self.where
        st = Statement(format=self.format, position=where)
        extra: dict[str, Any] = {}
        if self.message_id:
            extra["message_id"] = self.message_id
        balances: list[Balance] = []
        for c in stmt:
            kind = local.get(c.tag)
            if kind is None:
                continue
            if kind == "Ntry":
                break
            if kind == "Id":
                st.statement_id = _text(c)
            elif kind == "ElctrncSeqNb":
                st.sequence = _text(c)
            elif kind == "LglSeqNb":
                extra["legal_sequence"] = _text(c)
            elif kind == "CreDtTm":
                st.created_at = _text(c)
            elif kind == "FrToDt":
                for d in c:
                    dk = local.get(d.tag)
                    if dk == "FrDtTm" or dk == "FrDt":
                        st.from_date = self._date_text(d, where, f"FrToDt/{dk}")
                    elif dk == "ToDtTm" or dk == "ToDt":
                        st.to_date = self._date_text(d, where, f"FrToDt/{dk}")
            elif kind == "CpyDplctInd":
                extra["copy_duplicate"] = _text(c)
            elif kind == "Acct":
                self._statement_account(c, st, extra)
            elif kind == "Bal":
                balances.append(self._balance(c, f"{where}/Bal[{len(balances) + 1}]"))
        by_kind: dict[str, list[Balance]] = {}
        for b in balances:
            by_kind.setdefault(b.kind, []).append(b)
        st.opening_balance = next((by_kind[k][0] for k in _OPENING if k in by_kind), None)
        closing = next((by_kind[k] for k in _CLOSING[self.message] if k in by_kind), None)
        if closing:
            # an intraday report may carry several interim balances: the latest one closes it
            st.closing_balance = max(closing, key=lambda b: b.date or date.min)
        if st.currency is None:
            st.currency = next((b.currency for b in (st.opening_balance, st.closing_balance) if b), None)
        if balances:
            extra["balances"] = balances
        if self.newer:
            self._check_known_paths(stmt, st)
            extra["discrepancies"] = [f"{where}: {self.newer_note}"]
        st.extra = extra
        return st

    def _check_known_paths(self, stmt: Any, st: Statement) -> None:
        """A later version must still have what every version so far requires, where the parser
        reads it: the statement's Id, its account (Acct/Id) and, in a camt.053, its balances."""
        missing = [path for path, found in (
            ("Id", st.statement_id is not None), ("Acct/Id", st.account is not None),
            ("Bal", self.message != "053" or st.opening_balance is not None or st.closing_balance is not None),
        ) if not found]
        if missing:
            raise self._fail(stmt, self.where, f"no {' and no '.join(missing)} where .001.{VERSIONS[-1]:02d} "
                                               "has them")

    def _statement_account(self, acct: Any, st: Statement, extra: dict[str, Any]) -> None:
        local = self.local
        for c in acct:
            kind = local.get(c.tag)
            if kind == "Id":
                st.account_iban, st.account_number = self._account_id(c)
            elif kind == "Ccy":
                st.currency = _text(c)
            elif kind == "Nm":
                extra["account_name"] = _text(c)
            elif kind == "Ownr":
                owner = self._party_name(c)[0]
                if owner:
                    extra["account_owner"] = owner
            elif kind == "Svcr":
                st.account_bic = self._agent_bic(c)

    def _balance(self, bal: Any, where: str) -> Balance:
        local = self.local
        code = amount = ccy = when = None
        credit = True  # a few banks leave CdtDbtInd out of balances (schema-invalid): read as credit
        for c in bal:
            kind = local.get(c.tag)
            if kind == "Tp":
                for cp in c:
                    tk = local.get(cp.tag)
                    if tk == "CdOrPrtry":
                        for v in cp:
                            code = _text(v)
                    elif tk == "Cd" or tk == "Prtry":  # .001.01: no CdOrPrtry level
                        code = _text(cp)
            elif kind == "Amt":
                amount, ccy = self._amount(c, where, "Amt")
            elif kind == "CdtDbtInd":
                credit = self._indicator(c, where, "CdtDbtInd")
            elif kind == "Dt":
                when = self._date(c, where, "Dt")
        if amount is None or ccy is None:
            raise self._fail(bal, where, "balance without an amount (Amt)")
        return Balance(amount if credit or not amount else -amount, ccy, when, code or "")

    # ----------------------------------------------------------------------------------- parties

    def _account_id(self, id_el: Any) -> tuple[str | None, str | None]:
        """(IBAN, other account number) of an account Id element."""
        local = self.local
        for c in id_el[:]:
            kind = local.get(c.tag)
            if kind == "IBAN":
                iban = _text(c)
                return (iban.replace(" ", "").upper() if iban else None), None
            if kind == "Othr" or kind == "PrtryAcct":
                for o in c[:]:
                    if local.get(o.tag) == "Id":
                        return None, _text(o)
            elif kind == "BBAN" or kind == "UPIC":
                return None, _text(c)
        return None, None

    def _account(self, acct: Any) -> tuple[str | None, str | None]:
        for c in acct[:]:
            if self.local.get(c.tag) == "Id":
                return self._account_id(c)
        return None, None

    def _party_name(self, party: Any) -> tuple[str | None, str | None]:
        """(name, BIC) of a party: Nm directly (up to .001.07), inside Pty (.001.08+), or a financial
        institution given as Agt/FinInstnId."""
        local = self.local
        for c in party[:]:
            kind = local.get(c.tag)
            if kind == "Nm":
                return _text(c), None
            if kind == "Pty":
                return self._party_name(c)
            if kind == "Agt" or kind == "FinInstnId":
                fin = c if kind == "FinInstnId" else next(
                    (f for f in c if local.get(f.tag) == "FinInstnId"), None)
                if fin is None:
                    return None, None
                name = bic = None
                for f in fin[:]:
                    fk = local.get(f.tag)
                    if fk == "Nm":
                        name = _text(f)
                    elif fk == "BICFI" or fk == "BIC":
                        bic = _text(f)
                return name, bic
        return None, None

    def _agent_bic(self, agent: Any) -> str | None:
        local = self.local
        for c in agent[:]:
            if local.get(c.tag) == "FinInstnId":
                for f in c[:]:
                    fk = local.get(f.tag)
                    if fk == "BICFI" or fk == "BIC":
                        return _text(f)
        return None

    # ----------------------------------------------------------------------------------- entries
    # The hot path: one call per entry. Paths for error messages are only built on failure, and the
    # party elements of a TxDtls are only read for the side that turns out to be the counterparty.
    # Children are taken as a list (el[:], one call into lxml) rather than iterated: `for c in el`
    # makes an iterator object per element, which costs more than the list for a few children.

    def _bank_code(self, bk: Any) -> tuple[str | None, str | None, str | None, str | None]:
        """(ISO domain, family, sub-family, proprietary code) of a BkTxCd element."""
        local_get = self.local.get
        domain = family = subfamily = proprietary = None
        for c in bk[:]:
            kind = local_get(c.tag)
            if kind == "Domn":
                for d in c[:]:
                    dk = local_get(d.tag)
                    if dk == "Cd":
                        domain = (d.text or "").strip() or None  # _text, inline in the hot path
                    elif dk == "Fmly":
                        for f in d[:]:
                            fk = local_get(f.tag)
                            if fk == "Cd":
                                family = (f.text or "").strip() or None
                            elif fk == "SubFmlyCd":
                                subfamily = (f.text or "").strip() or None
            elif kind == "Prtry":
                for p in c[:]:
                    if local_get(p.tag) == "Cd":
                        proprietary = (p.text or "").strip() or None
        return domain, family, subfamily, proprietary

    def _transaction(self, ntry: Any, where: str, statement_id: str | None,
                     own: frozenset[str]) -> Transaction:
        # The common shapes of an element are read inline (exact text, known currency, a date read
        # before); anything else goes to the helpers, which check it and name the error.
        local_get = self.local.get
        dates = self._dates
        amount = currency = credit = codes = booking = value = bank_ref = addtl = None
        reversal = False
        status = "booked"
        details: list[_Tx] = []
        for c in ntry[:]:
            kind = local_get(c.tag)
            if kind is None:
                continue
            if kind == "Amt":
                text = c.text
                currency = c.get("Ccy")
                if text is not None and currency in self._currencies and _AMOUNT_MATCH(text):
                    amount = Decimal(text)
                else:
                    amount, currency = self._amount(c, where, "Amt")
            elif kind == "CdtDbtInd":
                text = c.text
                credit = True if text == "CRDT" else False if text == "DBIT" else \
                    self._indicator(c, where, "CdtDbtInd")
            elif kind == "Sts":
                text = (c.text or "").strip() or None  # as _status, which names a bad one
                if text is None:
                    for v in c[:]:
                        text = (v.text or "").strip() or None
                found_status = _STATUS.get(text or "")
                status = found_status if found_status is not None else self._status(c, where)
            elif kind == "BookgDt" or kind == "ValDt":
                found = None
                for d in c[:]:  # as _date: the first Dt or DtTm
                    dk = local_get(d.tag)
                    if dk == "Dt" or dk == "DtTm":
                        found = dates.get(d.text)
                        if found is None:
                            found = self._date_text(d, where, f"{kind}/{dk}")
                        break
                if kind == "BookgDt":
                    booking = found
                else:
                    value = found
            elif kind == "AcctSvcrRef":
                bank_ref = (c.text or "").strip() or None
            elif kind == "BkTxCd":
                codes = self._bank_code(c)
            elif kind == "NtryDtls":
                for d in c[:]:
                    if local_get(d.tag) == "TxDtls":
                        details.append(self._tx_details(d, where, len(details) + 1))
            elif kind == "AddtlNtryInf":
                addtl = (c.text or "").strip() or None
            elif kind == "RvslInd":
                reversal = _text(c) in ("true", "1")
        if amount is None or currency is None:
            raise self._fail(ntry, where, "entry without an amount (Amt)")
        if credit is None:
            raise self._fail(ntry, where, "entry without a credit/debit indicator (CdtDbtInd)")
        t = Transaction(amount if credit or not amount else -amount, currency, booking, value, statement_id,
                        bank_reference=None if bank_ref in _NO_VALUE else bank_ref, is_reversal=reversal,
                        status=status, position=where)
        if len(details) == 1:
            d = details[0]
            if codes is None or codes == _NO_CODES:
                codes = d.codes
            elif d.codes is not None:  # fill what the entry leaves out from the transaction's own code
                domain, family, subfamily, proprietary = codes
                codes = (domain if domain is not None else d.codes[0],
                         family if family is not None else d.codes[1],
                         subfamily if subfamily is not None else d.codes[2],
                         proprietary if proprietary is not None else d.codes[3])
            t.is_return, t.return_reason = d.is_return, d.return_reason
            t.end_to_end_id = d.e2e
            t.structured_reference = d.sref
            t.counterparty_name, t.counterparty_iban, t.counterparty_account, t.counterparty_bic = \
                self._counterparty(d, credit, own)
            t.remittance_text = " ".join(d.ustrd) if d.ustrd else addtl
            if (d.mandate_id or d.purpose_code or d.cdtr_scheme is not None or d.ultmt_dbtr is not None
                    or d.ultmt_cdtr is not None):  # else _extra finds nothing
                t.extra = self._extra(d)
        else:
            t.remittance_text = addtl
            if details:
                t.is_return = any(d.is_return for d in details)
                t.return_reason = next((d.return_reason for d in details if d.return_reason), None)
                t.batch = [self._batch_detail(d, credit, own) for d in details]
        if codes is not None:
            t.iso_domain, t.iso_family, t.iso_subfamily, t.bank_transaction_code = codes
        return t

    def _status(self, sts: Any, where: str) -> str:
        text = _text(sts)
        if text is None:  # .001.08+: Sts/Cd or Sts/Prtry
            for c in sts:
                text = _text(c)
        status = _STATUS.get(text or "")
        if status is None:
            raise self._fail(sts, f"{where}/Sts",
                             f"unknown entry status {text!r}: expected BOOK, PDNG, INFO or FUTR")
        return status

    def _extra(self, d: _Tx) -> dict[str, str]:
        out = {"mandate_id": d.mandate_id, "purpose_code": d.purpose_code,
               # the creditor's own id is its SEPA creditor identifier only on a direct debit
               "creditor_id": self._creditor_id(d.cdtr_scheme if d.cdtr_scheme is not None else
                                                d.cdtr if d.mandate_id else None),
               "ultimate_debtor": self._party_name(d.ultmt_dbtr)[0] if d.ultmt_dbtr is not None else None,
               "ultimate_creditor": self._party_name(d.ultmt_cdtr)[0] if d.ultmt_cdtr is not None else None}
        return {k: v for k, v in out.items() if v}

    def _creditor_id(self, party: Any) -> str | None:
        """The SEPA creditor identifier of a creditor (Cdtr[/Pty]/Id/PrvtId/Othr/Id, as German banks
        give it) or of a CdtrSchmeId: an Othr Id under scheme name SEPA, or shaped like one."""
        if party is None:
            return None
        local = self.local
        for el in party.iter():
            if local.get(el.tag) != "Othr":
                continue
            ident = scheme = None
            for o in el:
                ok = local.get(o.tag)
                if ok == "Id":
                    ident = _text(o)
                elif ok == "SchmeNm":
                    scheme = next((_text(c) for c in o), None)
            if ident and (scheme == "SEPA" or _CREDITOR_ID.fullmatch(ident)):
                return ident
        return None

    def _batch_detail(self, d: _Tx, credit: bool, own: frozenset[str]) -> BatchDetail:
        if d.credit is not None:
            credit = d.credit
        amount = d.amount
        if amount is not None and not credit and amount:
            amount = -amount
        name, iban, account, bic = self._counterparty(d, credit, own)
        return BatchDetail(amount, d.currency, name, iban or account, bic, d.e2e, d.sref,
                           " ".join(d.ustrd) if d.ustrd else None, d.return_reason)

    def _tx_details(self, txd: Any, where: str, index: int) -> _Tx:
        local_get = self.local.get
        tx = _Tx()
        tx_amount: tuple[Decimal, str] | None = None
        instructed: tuple[Decimal, str] | None = None
        where = f"{where}/NtryDtls/TxDtls[{index}]"
        for c in txd[:]:
            kind = local_get(c.tag)
            if kind is None:
                continue
            if kind == "RltdPties":
                for p in c[:]:
                    pk = local_get(p.tag)
                    if pk == "Dbtr":
                        tx.dbtr = p
                    elif pk == "DbtrAcct":
                        tx.dbtr_acct = p
                    elif pk == "Cdtr":
                        tx.cdtr = p
                    elif pk == "CdtrAcct":
                        tx.cdtr_acct = p
                    elif pk == "UltmtDbtr":
                        tx.ultmt_dbtr = p
                    elif pk == "UltmtCdtr":
                        tx.ultmt_cdtr = p
                    elif pk == "CdtrSchmeId":
                        tx.cdtr_scheme = p
            elif kind == "Refs":
                for r in c[:]:
                    rk = local_get(r.tag)
                    if rk == "EndToEndId":
                        e2e = (r.text or "").strip() or None
                        tx.e2e = None if e2e is None or e2e.upper() in _NO_VALUE else e2e
                    elif rk == "MndtId":
                        mandate = _text(r)
                        tx.mandate_id = None if mandate is None or mandate.upper() in _NO_VALUE else mandate
            elif kind == "Purp":
                tx.purpose_code = next((_text(p) for p in c if local_get(p.tag) in ("Cd", "Prtry")), None)
            elif kind == "CdtrSchmeId":
                tx.cdtr_scheme = c
            elif kind == "Amt":
                text = c.text
                ccy = c.get("Ccy")
                if text is not None and ccy in self._currencies and _AMOUNT_MATCH(text):
                    tx.amount, tx.currency = Decimal(text), ccy
                else:
                    tx.amount, tx.currency = self._amount(c, where, "Amt")
            elif kind == "CdtDbtInd":
                text = c.text
                tx.credit = True if text == "CRDT" else False if text == "DBIT" else \
                    self._indicator(c, where, "CdtDbtInd")
            elif kind == "RltdAgts":
                for a in c[:]:
                    ak = local_get(a.tag)
                    if ak == "DbtrAgt":
                        tx.dbtr_agt = a
                    elif ak == "CdtrAgt":
                        tx.cdtr_agt = a
            elif kind == "RmtInf":
                for r in c[:]:
                    rk = local_get(r.tag)
                    if rk == "Ustrd":
                        text = (r.text or "").strip() or None
                        if text and text.upper() not in _NO_VALUE:
                            if tx.ustrd is None:
                                tx.ustrd = []
                            tx.ustrd.append(text)
                    elif rk == "Strd" and tx.sref is None:
                        tx.sref = self._creditor_reference(r)
            elif kind == "BkTxCd":
                tx.codes = self._bank_code(c)
            elif kind == "RtrInf":
                tx.is_return = True
                tx.return_reason = self._return_reason(c)
            elif kind == "AmtDtls":  # up to .001.03 the detail amount lives here only
                for a in c[:]:
                    ak = local_get(a.tag)
                    if ak == "TxAmt" or ak == "InstdAmt":
                        for v in a[:]:
                            if local_get(v.tag) == "Amt":
                                found = self._amount(v, where, f"AmtDtls/{ak}/Amt")
                                if ak == "TxAmt":
                                    tx_amount = found
                                else:
                                    instructed = found
        fallback = tx_amount or instructed
        if tx.amount is None and fallback is not None:
            tx.amount, tx.currency = fallback
        return tx

    def _return_reason(self, rtr: Any) -> str | None:
        """RtrInf/Rsn/Cd (an ISO external return reason code), else Rsn/Prtry."""
        for rsn in rtr[:]:
            if self.local.get(rsn.tag) == "Rsn":
                for code in rsn[:]:
                    if self.local.get(code.tag) in ("Cd", "Prtry") and _text(code):
                        return _text(code)
        return None

    def _creditor_reference(self, strd: Any) -> str | None:
        local = self.local
        for c in strd[:]:
            if local.get(c.tag) == "CdtrRefInf":
                for r in c[:]:
                    if local.get(r.tag) == "Ref":
                        return _text(r)
        return None

    def _side(self, party: Any, account: Any, agent: Any) -> tuple[str | None, ...]:
        name, bic = self._party_name(party) if party is not None else (None, None)
        iban, other = self._account(account) if account is not None else (None, None)
        if agent is not None:
            bic = self._agent_bic(agent) or bic
        return name, iban, other, bic

    def _counterparty(self, d: _Tx, credit: bool, own: frozenset[str]) -> tuple[str | None, ...]:
        """(name, IBAN, other account, BIC) of the other party: the debtor of a credit, the creditor of
        a debit. Banks differ on reversals and returns (some keep the original transaction's roles,
        some swap them), so when that side is empty or is the statement's own account, the other side
        is taken instead, unless it is the own account too."""
        if credit:
            first = self._side(d.dbtr, d.dbtr_acct, d.dbtr_agt)
        else:
            first = self._side(d.cdtr, d.cdtr_acct, d.cdtr_agt)
        if (first[0] or first[1] or first[2]) and not (own and (first[1] in own or first[2] in own)):
            return first
        if credit:
            second = self._side(d.cdtr, d.cdtr_acct, d.cdtr_agt)
        else:
            second = self._side(d.dbtr, d.dbtr_acct, d.dbtr_agt)
        if (second[0] or second[1] or second[2]) and not (own and (second[1] in own or second[2] in own)):
            return second
        return first


class _Tx:
    """One TxDtls as read; party elements are kept, to be read once the counterparty side is known."""

    amount: Decimal | None = None
    currency: str | None = None
    credit: bool | None = None
    e2e: str | None = None
    ustrd: list[str] | None = None
    sref: str | None = None
    is_return = False
    return_reason: str | None = None
    codes: tuple[str | None, str | None, str | None, str | None] | None = None
    dbtr: Any = None
    dbtr_acct: Any = None
    dbtr_agt: Any = None
    cdtr: Any = None
    cdtr_acct: Any = None
    cdtr_agt: Any = None
    mandate_id: str | None = None
    purpose_code: str | None = None
    cdtr_scheme: Any = None
    ultmt_dbtr: Any = None
    ultmt_cdtr: Any = None


# A SEPA creditor identifier: country, check digits, business code ('ZZZ' unless the creditor
# chose one), national identifier.
_CREDITOR_ID = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{3}[A-Z0-9]{1,28}")

_NO_CODES = (None, None, None, None)


def _path_of(el: Any) -> str:
    """An element's location by local names, for error messages."""
    names = []
    while el is not None:
        names.append(el.tag.rpartition("}")[2])
        el = el.getparent()
    return "/" + "/".join(reversed(names))


def _text(el: Any) -> str | None:
    text = el.text
    if text is None:
        return None
    text = text.strip()
    return text or None
