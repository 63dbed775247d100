"""Tryton ERP over JSON-RPC, the protocol Tryton's own clients speak.

    POST {url}{database}/  {"id": n, "method": "common.db.login", "params": [login, {"password": ...}, "en"]}
        -> {"id": n, "result": [user_id, session]}
    POST {url}{database}/  {"id": n, "method": "model.account.invoice.search_read",
                            "params": [domain, offset, limit, order, fields, context]}
        with the header  Authorization: Session base64("login:user_id:session")

Dates, datetimes and Decimals travel as ``{"__class__": "datetime", ...}`` objects (trytond's
``protocols/jsonrpc.py``); amounts stay Decimal here and become exact strings in the records.

Incremental reads: a Tryton record's last change is ``write_date``, NULL until the record is first
modified, so its cursor is ``COALESCE(write_date, create_date)``. Tryton cannot order by that
expression, so :class:`TrytonSource` reads two keyset-paged streams, never-modified records by
``(create_date, id)`` and modified ones by ``(write_date, id)``, and merges them: records come in
``(updated_at, id)`` order, and a record changed while pages are read moves to the end of the
modified stream and is read again there (the caller keeps its latest version). Reads start
``overlap_seconds`` before the cursor, for transactions that committed late with an earlier
timestamp. Timestamps are the server's (naive, as Tryton stores them), written
``YYYY-MM-DDTHH:MM:SS.ffffff`` so they sort as text.

``ledger_lines`` are the lines of posted moves on the ledger accounts named in
``TrytonConfig.ledger_accounts`` (the bank accounts' ledger accounts): posting a move does not touch
its lines, so they are read by their move's last change, one record per line.

Secrets: the password and the session never appear in ``repr()``, logs or error messages.
"""

from __future__ import annotations

import base64
import datetime as dt
import heapq
import itertools
import json
import logging
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import requests
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from connectors.erp.base import ApiRecord, ErpError

log = logging.getLogger(__name__)

CURSOR_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"


# -- JSON with Tryton's typed objects ------------------------------------------------------

def _decode_object(obj: dict[str, Any]) -> Any:
    kind = obj.get("__class__")
    if kind == "datetime":
        return dt.datetime(obj["year"], obj["month"], obj["day"], obj["hour"], obj["minute"], obj["second"],
                           obj["microsecond"])
    if kind == "date":
        return dt.date(obj["year"], obj["month"], obj["day"])
    if kind == "time":
        return dt.time(obj["hour"], obj["minute"], obj["second"], obj["microsecond"])
    if kind == "timedelta":
        return dt.timedelta(seconds=obj["seconds"])
    if kind == "Decimal":
        return Decimal(obj["decimal"])
    if kind == "bytes":
        return base64.b64decode(obj["base64"])
    return obj


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"__class__": "datetime", "year": value.year, "month": value.month, "day": value.day,
                "hour": value.hour, "minute": value.minute, "second": value.second,
                "microsecond": value.microsecond}
    if isinstance(value, dt.date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": str(value)}
    raise TypeError(f"cannot send {type(value).__name__} to Tryton")


class TrytonUnreachable(ErpError):
    """No usable answer after every attempt (connection refused or reset, timeout, 5xx): the server is
    down or unreachable, not refusing the request."""


def parse_account_map(value: Any) -> dict[str, str]:
    """Bank account (IBAN or number) -> ledger account code, from a mapping, its JSON text, or text
    ``NL91ABNA0417164300=1000,BE68539007547034=1010``. Bank accounts are compacted (no spaces, upper case)."""
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except ValueError:
                raise ErpError("bank_accounts is not valid JSON") from None
        else:
            pairs = [part.split("=", 1) for part in text.split(",") if part.strip()]
            if any(len(pair) != 2 for pair in pairs):
                raise ErpError("bank_accounts must be IBAN=LEDGER_ACCOUNT pairs separated by commas")
            value = dict(pairs)
    if not isinstance(value, Mapping):
        raise ErpError("bank_accounts must map bank accounts to ledger account codes")
    out = {}
    for bank, ledger in value.items():
        bank_key, code = re.sub(r"\s+", "", str(bank)).upper(), str(ledger).strip()
        if not bank_key or not code:
            raise ErpError("bank_accounts has an empty bank account or ledger account")
        out[bank_key] = code
    return out


def format_cursor(value: dt.datetime) -> str:
    return value.strftime(CURSOR_FORMAT)


def parse_cursor(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.rstrip("Z"))


def plain(value: Any) -> Any:
    """A value as it goes into a record's JSON: Decimal -> exact string, dates -> ISO text."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return format_cursor(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


# -- configuration -------------------------------------------------------------------------

@dataclass(frozen=True)
class TrytonConfig:
    url: str                     # http(s)://host:port/ of trytond
    database: str
    login: str
    password: str = field(repr=False)
    page_size: int = 500
    timeout: float = 30.0        # seconds per HTTP request
    retries: int = 4             # attempts per call on connection errors and 5xx answers
    retry_wait: float = 0.5      # first wait between attempts (doubles, at most 8 s)
    overlap_seconds: float = 5.0  # re-read this far before the cursor
    language: str = "en"
    vendor_category: str | None = "Supplier"    # party category marking vendors; None: every party
    customer_category: str | None = "Customer"
    ledger_accounts: tuple[str, ...] = ()       # account codes whose lines ``ledger_lines`` reads

    def __post_init__(self) -> None:
        if not re.match(r"^https?://", self.url or ""):
            raise ErpError(f"tryton: url {self.url!r} must start with http:// or https://")
        if not self.database:
            raise ErpError(f"tryton {self.url}: no database given")
        if self.page_size < 1:
            raise ErpError(f"tryton {self.url}: page_size must be at least 1")

    @property
    def endpoint(self) -> str:
        return self.url.rstrip("/") + "/" + quote(self.database, safe="") + "/"

    @classmethod
    def from_connection(cls, *, host: str | None, port: int | None, schema: str | None, login: str | None,
                        password: str | None, extra: Mapping[str, Any] | None = None) -> TrytonConfig:
        """From an Airflow connection: host, port, schema = database, login, password; extra may set
        ``protocol`` (http/https), ``page_size``, ``timeout``, ``retries``, ``overlap_seconds``, and
        ``bank_accounts`` (bank account -> ledger account code, see :func:`parse_account_map`), whose
        ledger accounts ``ledger_lines`` reads."""
        extra = dict(extra or {})
        if not host:
            raise ErpError("tryton connection has no host")
        if not schema:
            raise ErpError(f"tryton connection to {host} has no schema (the Tryton database name)")
        protocol = str(extra.get("protocol", "http"))
        url = f"{protocol}://{host}:{port or (443 if protocol == 'https' else 8000)}/"
        options: dict[str, Any] = {}
        for key, kind in (("page_size", int), ("timeout", float), ("retries", int), ("retry_wait", float),
                          ("overlap_seconds", float), ("language", str), ("vendor_category", str),
                          ("customer_category", str)):
            if extra.get(key) not in (None, ""):
                options[key] = kind(extra[key])
        ledger = sorted(set(parse_account_map(extra.get("bank_accounts")).values()))
        if ledger:
            options["ledger_accounts"] = tuple(ledger)
        return cls(url=url, database=schema, login=login or "", password=password or "", **options)


# -- the client ----------------------------------------------------------------------------

class _Retryable(Exception):
    """A failure worth another attempt (connection refused or reset, timeout, 5xx)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _SessionExpired(Exception):
    pass


class TrytonClient:
    """JSON-RPC calls to one Tryton database, logged in lazily and renewed once when the session
    has expired. Connection errors, timeouts and 5xx answers are retried (``config.retries``)."""

    def __init__(self, config: TrytonConfig, session: requests.Session | None = None) -> None:
        self.config = config
        self._http = session or requests.Session()
        self._ids = itertools.count(1)
        self._auth: str | None = None   # the Authorization header value
        self.user_id: int | None = None
        self.calls = 0
        self.wait_seconds = 0.0         # time spent waiting on the server (benchmark)
        self.logins = 0

    def __repr__(self) -> str:
        return f"TrytonClient({self.config.endpoint!r}, login={self.config.login!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TrytonClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _where(self, method: str) -> str:
        return f"tryton {self.config.endpoint} {method}"

    # one HTTP exchange -----------------------------------------------------------------------
    def _post(self, method: str, params: list[Any], auth: str | None, root: bool = False) -> Any:
        body = json.dumps({"id": next(self._ids), "method": method, "params": params}, default=_encode)
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = auth
        started = time.perf_counter()
        try:
            url = self.config.url.rstrip("/") + "/" if root else self.config.endpoint
            resp = self._http.post(url, data=body, headers=headers, timeout=self.config.timeout)
        except requests.Timeout:
            raise _Retryable(f"no answer within {self.config.timeout:g} s") from None
        except requests.ConnectionError as exc:
            raise _Retryable(f"cannot connect ({_short(exc)})") from None
        except requests.RequestException as exc:
            raise ErpError(f"{self._where(method)}: request failed ({type(exc).__name__})") from None
        finally:
            self.wait_seconds += time.perf_counter() - started
            self.calls += 1
        if resp.status_code == 401:
            raise _SessionExpired()
        if resp.status_code >= 500:
            raise _Retryable(f"HTTP {resp.status_code}")
        if resp.status_code == 403:
            raise ErpError(f"{self._where(method)}: HTTP 403: access denied (is the method allowed for the user?)")
        if resp.status_code == 429:
            raise ErpError(f"{self._where(method)}: HTTP 429: too many requests (login rate limit)")
        if resp.status_code != 200:
            raise ErpError(f"{self._where(method)}: HTTP {resp.status_code}: {resp.text[:200]}")
        try:
            answer = json.loads(resp.content, object_hook=_decode_object)
        except ValueError:
            raise ErpError(f"{self._where(method)}: the answer is not JSON: {resp.text[:200]!r}") from None
        if not isinstance(answer, dict):
            raise ErpError(f"{self._where(method)}: unexpected answer {str(answer)[:200]}")
        if answer.get("error"):
            raise ErpError(f"{self._where(method)}: {_describe_error(answer['error'])}")
        return answer.get("result")

    def _with_retries(self, method: str, params: list[Any], auth_fn: Any, root: bool = False) -> Any:
        retrying = Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, _Retryable)),
            stop=stop_after_attempt(max(1, self.config.retries)),
            wait=wait_exponential(multiplier=self.config.retry_wait, max=8),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._post(method, params, auth_fn(), root)
        except _Retryable as exc:
            raise TrytonUnreachable(f"{self._where(method)}: {exc.reason}, gave up after "
                                    f"{max(1, self.config.retries)} attempt(s)") from None
        raise AssertionError("unreachable")  # pragma: no cover

    # session ---------------------------------------------------------------------------------
    def login(self) -> int:
        """``common.db.login``: a new session for ``config.login``."""
        self._auth = None
        try:
            result = self._with_retries(
                "common.db.login", [self.config.login, {"password": self.config.password}, self.config.language],
                lambda: None)
        except _SessionExpired:
            raise ErpError(f"{self._where('common.db.login')}: login refused for user "
                           f"{self.config.login!r}") from None
        except ErpError as exc:
            if "LoginException" in str(exc) or "RateLimit" in str(exc):
                raise ErpError(f"{self._where('common.db.login')}: login refused for user {self.config.login!r} "
                               "(wrong password, unknown user or too many attempts)") from None
            raise
        if not (isinstance(result, list | tuple) and len(result) >= 2):
            raise ErpError(f"{self._where('common.db.login')}: login refused for user {self.config.login!r}")
        user_id, session = int(result[0]), str(result[1])
        token = base64.b64encode(f"{self.config.login}:{user_id}:{session}".encode()).decode()
        self._auth, self.user_id = f"Session {token}", user_id
        self.logins += 1
        return user_id

    def call(self, method: str, *params: Any) -> Any:
        """Call ``method`` (e.g. ``model.party.party.search_read``) with ``params``; logs in when needed
        and once more when the server says the session is no longer valid."""
        if self._auth is None:
            self.login()
        try:
            return self._with_retries(method, list(params), lambda: self._auth)
        except _SessionExpired:
            log.info("tryton %s: session expired, logging in again", self.config.endpoint)
            self.login()
            try:
                return self._with_retries(method, list(params), lambda: self._auth)
            except _SessionExpired:
                raise ErpError(f"{self._where(method)}: HTTP 401: the new session was refused too") from None

    def search_read(self, model: str, domain: list[Any], offset: int = 0, limit: int | None = None,
                    order: list[tuple[str, str]] | None = None, fields: list[str] | None = None,
                    context: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        result = self.call(f"model.{model}.search_read", domain, offset, limit, order, fields, context or {})
        if not isinstance(result, list):
            raise ErpError(f"{self._where(f'model.{model}.search_read')}: expected a list, got {type(result).__name__}")
        return result

    def read(self, model: str, ids: list[int], fields: list[str],
             context: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return self.call(f"model.{model}.read", ids, fields, context or {}) if ids else []

    def write(self, model: str, ids: list[int], values: dict[str, Any], context: dict[str, Any] | None = None) -> None:
        self.call(f"model.{model}.write", ids, values, context or {})

    def server_version(self) -> str:
        """``common.server.version``, asked of the server (no database, no session)."""
        return str(self._with_retries("common.server.version", [], lambda: None, root=True))

    def forget_session(self, replace_with: str | None = None) -> None:
        """Drop (or replace) the session, e.g. to test renewal."""
        self._auth = replace_with


def _short(exc: BaseException) -> str:
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\] [^'\")\]]+", text)
    if match:
        return match.group(0)
    return type(exc).__name__


def _describe_error(error: Any) -> str:
    if isinstance(error, list | tuple) and error:
        head = error[0]
        rest = error[1] if len(error) > 1 else ""
        if isinstance(rest, list | tuple):
            rest = " ".join(str(x) for x in rest if isinstance(x, str))
        text = f"{head}: {rest}" if rest else str(head)
        return text.splitlines()[0][:300] if "Traceback" in text else text[:300]
    return str(error)[:300]


# -- the record source ---------------------------------------------------------------------

@dataclass(frozen=True)
class _Entity:
    model: str
    fields: tuple[str, ...]
    domain: tuple[Any, ...] = ()
    context: tuple[tuple[str, Any], ...] = ()
    records: str = ""  # the model of the records yielded, when not ``model`` (lines read through their move)


_INVOICE_FIELDS = (
    "number", "reference", "type", "state", "invoice_date", "accounting_date", "description", "party",
    "party.name", "party.code", "currency.code", "untaxed_amount", "tax_amount", "total_amount", "amount_to_pay",
    "payment_term.name", "lines_to_pay.maturity_date", "lines_to_pay.debit", "lines_to_pay.credit",
    "lines_to_pay.amount_second_currency", "lines_to_pay.reconciliation", "company.party.name",
    "create_date", "write_date",
)
_PARTY_FIELDS = (
    "code", "name", "active", "tax_identifier.code", "email", "lang.code",
    "addresses.street", "addresses.postal_code", "addresses.city", "addresses.country.code",
    "bank_accounts.numbers.type", "bank_accounts.numbers.number_compact", "bank_accounts.bank.bic",
    "bank_accounts.currency.code", "supplier_payment_term.name", "customer_payment_term.name",
    "create_date", "write_date",
)
_PAYMENT_FIELDS = (
    "kind", "state", "date", "amount", "currency.code", "party", "party.name", "party.code",
    "description", "line", "line.move_origin", "line.maturity_date", "create_date", "write_date",
    # the invoice a payment pays (its lines' origin): both its numbers, Tryton's and the vendor's
    "line.move_origin.number", "line.move_origin.reference",
)
_MOVE_FIELDS = (
    "number", "post_number", "date", "state", "description", "origin", "journal.code", "company.currency.code",
    "lines.account.code", "lines.debit", "lines.credit", "lines.amount_second_currency",
    "lines.second_currency.code", "lines.description", "lines.party.code", "lines.party.name",
    "create_date", "write_date",
)
_MOVE_LINE_FIELDS = (
    "party", "party.name", "party.code", "debit", "credit", "amount_second_currency", "second_currency.code",
    "maturity_date", "date", "move_origin", "reconciliation", "reconciliation.date", "account.code",
    "create_date", "write_date",
)

ENTITIES: dict[str, _Entity] = {
    # Tryton has no supplier flag on parties: vendors and customers are told apart by party category
    # (TrytonConfig.vendor_category / customer_category); inactive parties are read too.
    "vendors": _Entity("party.party", _PARTY_FIELDS, (), (("active_test", False),)),
    "customers": _Entity("party.party", _PARTY_FIELDS, (), (("active_test", False),)),
    "supplier_invoices": _Entity("account.invoice", _INVOICE_FIELDS, (("type", "=", "in"),)),
    "customer_invoices": _Entity("account.invoice", _INVOICE_FIELDS, (("type", "=", "out"),)),
    "payments": _Entity("account.payment", _PAYMENT_FIELDS),
    "reconciled_lines": _Entity("account.move.line", _MOVE_LINE_FIELDS, (
        ("reconciliation", "!=", None),
        ["OR", ("account.type.payable", "=", True), ("account.type.receivable", "=", True)],
    )),
    # posted moves with lines on the bank accounts' ledger accounts (the domain adds those accounts)
    "ledger_lines": _Entity("account.move", _MOVE_FIELDS, (("state", "=", "posted"),), records="account.move.line"),
}


class TrytonSource:
    """Incremental reads of Tryton objects as ``ApiRecord``s (see the module docstring)."""

    name = "tryton"

    def __init__(self, config: TrytonConfig, client: TrytonClient | None = None) -> None:
        self.config = config
        self.client = client or TrytonClient(config)
        self._has_payments: bool | None = None

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> TrytonSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def entities(self) -> list[str]:
        return sorted(ENTITIES)

    def fetch(self, entity: str, since: str | None) -> Iterator[ApiRecord]:
        if entity not in ENTITIES:
            raise ErpError(f"tryton {self.config.endpoint}: unknown entity {entity!r} "
                           f"(known: {', '.join(self.entities)})")
        spec = ENTITIES[entity]
        if entity == "payments" and not self._payments_available():
            log.info("tryton %s: account.payment is not activated; reading reconciled move lines",
                     self.config.endpoint)
            spec = ENTITIES["reconciled_lines"]
        start = None
        if since:
            start = parse_cursor(since) - dt.timedelta(seconds=self.config.overlap_seconds)
        context = dict(spec.context)
        domain = list(spec.domain)
        category = {"vendors": self.config.vendor_category, "customers": self.config.customer_category}.get(entity)
        if category:
            domain.append(("categories.name", "=", category))
        accounts = set(self.config.ledger_accounts)
        if entity == "ledger_lines":
            if not accounts:
                raise ErpError(f"tryton {self.config.endpoint}: ledger_lines needs the ledger accounts to read: "
                               "set the connection's extra bank_accounts (bank account -> ledger account code)")
            domain.append(("lines.account.code", "in", sorted(accounts)))
        never_modified = self._stream(spec, [*domain, ("write_date", "=", None)], "create_date", start, context)
        modified = self._stream(spec, [*domain, ("write_date", "!=", None)], "write_date", start, context)
        source = f"tryton:{spec.records or spec.model}"
        for updated, record in heapq.merge(never_modified, modified, key=lambda pair: (pair[0], pair[1]["id"])):
            rows = _move_lines(record, accounts) if spec.model == "account.move" else [_SHAPERS[spec.model](record)]
            for data in rows:
                yield ApiRecord(id=str(data["id"]), updated_at=format_cursor(updated), data=data, source=source)

    def _payments_available(self) -> bool:
        if self._has_payments is None:
            found = self.client.search_read("ir.model", [("model", "=", "account.payment")], 0, 1, None, ["model"])
            self._has_payments = bool(found)
        return self._has_payments

    def _stream(self, spec: _Entity, domain: list[Any], ts_field: str, start: dt.datetime | None,
                context: dict[str, Any]) -> Iterator[tuple[dt.datetime, dict[str, Any]]]:
        """Records matching ``domain`` with ``ts_field >= start``, keyset-paged by (ts_field, id)."""
        last: tuple[dt.datetime, int] | None = None
        order = [(ts_field, "ASC"), ("id", "ASC")]
        while True:
            page_domain = list(domain)
            if last is not None:
                after, rid = last
                page_domain.append(["OR", (ts_field, ">", after), [(ts_field, "=", after), ("id", ">", rid)]])
            elif start is not None:
                page_domain.append((ts_field, ">=", start))
            rows = self.client.search_read(spec.model, page_domain, 0, self.config.page_size, order,
                                           list(spec.fields), context)
            for row in rows:
                stamp = row.get(ts_field)
                if not isinstance(stamp, dt.datetime):
                    raise ErpError(f"tryton {self.config.endpoint}: {spec.model} {row.get('id')} has no {ts_field}")
                yield stamp, row
            if len(rows) < self.config.page_size:
                return
            last = (rows[-1][ts_field], int(rows[-1]["id"]))


# -- raw Tryton rows -> the records' JSON ---------------------------------------------------

def _nested(row: dict[str, Any], name: str) -> Any:
    """Tryton returns related fields read as ``party.name`` under the key ``party.``."""
    return row.get(f"{name}.")


def _code(row: dict[str, Any] | None, key: str = "code") -> Any:
    return row.get(key) if isinstance(row, dict) else None


def _shape_invoice(row: dict[str, Any]) -> dict[str, Any]:
    party = _nested(row, "party") or {}
    to_pay = sorted(_nested(row, "lines_to_pay") or [], key=lambda ln: (ln.get("maturity_date") or dt.date.max))
    due = []
    for ln in to_pay:
        company_amount = (ln.get("debit") or Decimal(0)) - (ln.get("credit") or Decimal(0))
        second = ln.get("amount_second_currency")
        due.append({"date": ln.get("maturity_date"),
                    "amount": abs(second if second is not None else company_amount),   # invoice currency
                    "amount_company_currency": abs(company_amount),
                    "reconciled": ln.get("reconciliation") is not None})
    company = _nested(row, "company") or {}
    return plain({
        "id": row["id"],
        "number": row.get("number"),
        "reference": row.get("reference"),
        "type": row.get("type"),
        "state": row.get("state"),
        "invoice_date": row.get("invoice_date"),
        "accounting_date": row.get("accounting_date"),
        "description": row.get("description"),
        "party": {"id": row.get("party"), "code": party.get("code"), "name": party.get("name")},
        "company": _code(_nested(company, "party"), "name"),
        "currency": _code(_nested(row, "currency")),
        "untaxed_amount": row.get("untaxed_amount"),
        "tax_amount": row.get("tax_amount"),
        "total_amount": row.get("total_amount"),
        "amount_to_pay": row.get("amount_to_pay"),
        "payment_term": _code(_nested(row, "payment_term"), "name"),
        "due_date": next((d["date"] for d in due if d["date"]), None),
        "due_dates": due,
        "create_date": row.get("create_date"),
        "write_date": row.get("write_date"),
    })


def _shape_party(row: dict[str, Any]) -> dict[str, Any]:
    addresses = _nested(row, "addresses") or []
    address = addresses[0] if addresses else {}
    accounts = []
    for acc in _nested(row, "bank_accounts") or []:
        numbers = _nested(acc, "numbers") or []
        iban = next((n.get("number_compact") for n in numbers if n.get("type") == "iban"), None)
        accounts.append({"iban": iban, "bic": _code(_nested(acc, "bank"), "bic"),
                         "currency": _code(_nested(acc, "currency"))})
    first = accounts[0] if accounts else {}
    return plain({
        "id": row["id"],
        "code": row.get("code"),
        "name": row.get("name"),
        "active": bool(row.get("active")),
        "tax_identifier": _code(_nested(row, "tax_identifier")),
        "email": row.get("email") or None,
        "language": _code(_nested(row, "lang")),
        "address": {"street": address.get("street"), "postal_code": address.get("postal_code"),
                    "city": address.get("city"), "country": _code(_nested(address, "country"))},
        "bank_accounts": accounts,
        "iban": first.get("iban"),
        "bic": first.get("bic"),
        "supplier_payment_term": _code(_nested(row, "supplier_payment_term"), "name"),
        "customer_payment_term": _code(_nested(row, "customer_payment_term"), "name"),
        "create_date": row.get("create_date"),
        "write_date": row.get("write_date"),
    })


def _shape_payment(row: dict[str, Any]) -> dict[str, Any]:
    party = _nested(row, "party") or {}
    line = _nested(row, "line") or {}
    return plain({
        "id": row["id"], "kind": row.get("kind"), "state": row.get("state"),
        "date": row.get("date"), "amount": row.get("amount"), "currency": _code(_nested(row, "currency")),
        "party": {"id": row.get("party"), "code": party.get("code"), "name": party.get("name")},
        "description": row.get("description"), "line": row.get("line"),
        "origin": line.get("move_origin"), "maturity_date": line.get("maturity_date"),
        "invoice": _invoice_of(line),
        "create_date": row.get("create_date"), "write_date": row.get("write_date"),
    })


def _invoice_of(line: dict[str, Any]) -> dict[str, Any] | None:
    """The invoice a payment's line comes from: its id, Tryton's number and the vendor's reference."""
    origin = str(line.get("move_origin") or "")
    if not origin.startswith("account.invoice,"):
        return None
    invoice = _nested(line, "move_origin") or {}
    return {"id": int(origin.rpartition(",")[2]), "number": invoice.get("number"),
            "reference": invoice.get("reference")}


def _shape_move_line(row: dict[str, Any]) -> dict[str, Any]:
    party = _nested(row, "party") or {}
    return plain({
        "id": row["id"], "kind": "payable" if (row.get("credit") or 0) > 0 else "receivable",
        "state": "reconciled", "date": _code(_nested(row, "reconciliation"), "date"),
        "amount": (row.get("debit") or Decimal(0)) - (row.get("credit") or Decimal(0)),
        "amount_second_currency": row.get("amount_second_currency"),
        "currency": _code(_nested(row, "second_currency")),
        "party": {"id": row.get("party"), "code": party.get("code"), "name": party.get("name")},
        "origin": row.get("move_origin"), "maturity_date": row.get("maturity_date"),
        "account": _code(_nested(row, "account")),
        "create_date": row.get("create_date"), "write_date": row.get("write_date"),
    })


def _move_lines(move: dict[str, Any], accounts: set[str]) -> list[dict[str, Any]]:
    """The lines of a posted move on ``accounts``, each with what it needs of its move."""
    company = _nested(move, "company") or {}
    head = {"id": move["id"], "number": move.get("number"), "post_number": move.get("post_number"),
            "description": move.get("description"), "origin": move.get("origin"),
            "journal": _code(_nested(move, "journal"))}
    out = []
    for line in sorted(_nested(move, "lines") or [], key=lambda ln: ln["id"]):
        account = _code(_nested(line, "account"))
        if account not in accounts:
            continue
        party = _nested(line, "party") or {}
        debit, credit = line.get("debit") or Decimal(0), line.get("credit") or Decimal(0)
        out.append(plain({
            "id": line["id"], "account": account, "date": move.get("date"), "debit": debit, "credit": credit,
            "amount": debit - credit, "currency": _code(_nested(company, "currency")),
            "amount_second_currency": line.get("amount_second_currency"),
            "second_currency": _code(_nested(line, "second_currency")),
            "description": line.get("description"), "party": {"code": party.get("code"), "name": party.get("name")},
            "move": head, "create_date": move.get("create_date"), "write_date": move.get("write_date"),
        }))
    return out


_SHAPERS = {
    "account.invoice": _shape_invoice,
    "party.party": _shape_party,
    "account.payment": _shape_payment,
    "account.move.line": _shape_move_line,
}
