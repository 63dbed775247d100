"""Local stand-ins for seven ERP APIs, for contract tests of connectors/erp/rest.py.

One ``http.server`` on 127.0.0.1 (a free port, in a thread) serves every vendor under its own
prefix, ``http://127.0.0.1:PORT/<vendor>/...``. The answers are shaped after each vendor's public
documentation and the open-source clients that run against the real APIs (envelope, field names,
paging style, incremental filter syntax, write calls); they are not the vendors' services and do not
prove that the real ones behave the same. Where a vendor refuses what it does not know (an OData
property that does not exist, an unknown $select field, a sparse update without VendorRef, a broad
Xero scope), the stand-in refuses it too, so a definition that would break a real connection fails here.

Per vendor: a few hundred supplier invoices and some suppliers with change times spread over 2024,
served page by page in that vendor's own style and filtered by its incremental filter; the auth
the shipped definition uses is checked (basic, bearer, API key, or an OAuth2 token endpoint that
issues expiring tokens). Write calls change the record and are listed in ``applied`` once per change
that took effect (Xero answers a repeated Idempotency-Key from its first answer without applying it
again). Faults can be injected: ``server.inject("xero", "500", count=2)`` (or "503", "504"), ``"429"`` (with
``retry_after``, ``""`` for none; Exact Online answers with its X-RateLimit headers instead), ``"slow"`` (``delay``
seconds before answering) and ``"slow_after"`` (applied, then the answer is late), ``"expire_tokens"``,
each after ``after`` requests and only on calls of ``method`` when given. Exact Online reports its
minutely and daily rate limits on every answer; ``exact_minutely_limit`` and the replaceable ``clock``
(epoch seconds) let tests run a window out without waiting for it.

    python -m sandbox.erp_contract_server [--port N]     # serve in the foreground, print the URLs
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import re
import secrets
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

HOST = "127.0.0.1"
VENDORS = ("sap_s4hana", "oracle_fusion", "exact_online", "business_central", "netsuite", "quickbooks_online", "xero")

# Credentials the stand-ins accept (tests pass the same to the connector).
USERNAME = "COMM_USER_LEDGERLINK"
PASSWORD = "pw-7f3a9c1e5b"  # noqa: S105  (fake, loopback only)
BEARER_TOKEN = "bearer-9d8c7b6a5f4e"  # noqa: S105
API_KEY = "apikey-1b2c3d4e5f6a"
CLIENT_ID = "ledgerlink-client"
CLIENT_SECRET = "cs-0a1b2c3d4e5f6789"  # noqa: S105

XERO_BROAD_SCOPES = {"accounting.transactions", "accounting.transactions.read", "accounting.reports.read"}

DEFAULT_AUTH = {
    "sap_s4hana": "basic", "oracle_fusion": "basic", "exact_online": "bearer", "business_central": "oauth2",
    "netsuite": "bearer", "quickbooks_online": "bearer", "xero": "oauth2",
}


class Reply(Exception):
    """Raised by handlers to answer with a status, a JSON body and headers."""

    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


@dataclass
class Row:
    updated: datetime
    key: str
    data: dict[str, Any]


@dataclass
class Fault:
    kind: str
    count: int
    after: int
    retry_after: str | None = None
    delay: float = 0.0
    method: str | None = None


@dataclass
class Applied:
    vendor: str
    call: str
    key: str          # the record written
    body: Any = None


@dataclass
class LoggedRequest:
    vendor: str
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class _Vendor:
    name: str
    auth: str
    invoices: list[Row] = field(default_factory=list)
    suppliers: list[Row] = field(default_factory=list)
    tokens: dict[str, float] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    seen: int = 0
    csrf: str = ""
    idempotent: dict[str, Reply] = field(default_factory=dict)   # Idempotency-Key -> first answer
    window: tuple[int, int] = (0, 0)                                 # Exact: (minute it counts, calls in it)
    day_calls: int = 0


# --- generated data -----------------------------------------------------------------------

@dataclass
class BaseInvoice:
    n: int
    guid: str
    number: str
    supplier: int
    issue: date
    due: date
    currency: str
    net: Decimal
    tax: Decimal
    status: str          # open | approved | paid | blocked
    updated: datetime


@dataclass
class BaseSupplier:
    n: int
    guid: str
    name: str
    updated: datetime

    # Master data beside the name, derived from n so the invoices' random sequence stays as it was.
    @property
    def blocked(self) -> bool:
        return self.n % 9 == 0

    @property
    def city(self) -> tuple[str, str, str]:  # (city, postal code, street)
        return [("Amsterdam", "1012 AB", "Damrak 1"), ("Utrecht", "3511 LX", "Oudegracht 20"),
                ("Rotterdam", "3011 AD", "Coolsingel 40"), ("Eindhoven", "5611 AZ", "Markt 5")][self.n % 4]

    @property
    def vat(self) -> str:
        return f"NL{(self.n * 7919) % 1000000000:09d}B01"

    @property
    def email(self) -> str:
        return f"ap{self.n}@supplier{self.n}.example"


NAMES = ["Kantoor Centrale", "Bakkerij Van Dijk", "Müller Logistik", "Techniek Noord", "Société Fournitures",
         "Groothandel Jansen", "Nordic Paper", "Atlas Cleaning", "Iberia Foods", "Delta Print"]


def generate(invoices: int, suppliers: int, seed: int) -> tuple[list[BaseInvoice], list[BaseSupplier]]:
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    sups = []
    for i in range(suppliers):
        updated = start + timedelta(seconds=rng.randrange(0, 366 * 86400))
        sups.append(BaseSupplier(i + 1, str(uuid.UUID(int=rng.getrandbits(128))),
                                 f"{NAMES[i % len(NAMES)]} {i // len(NAMES) + 1} B.V.", updated))
    invs: list[BaseInvoice] = []
    for i in range(invoices):
        updated = start + timedelta(seconds=rng.randrange(0, 366 * 86400))
        if i % 25 == 24:  # some records share their change time with the one before
            updated = invs[-1].updated
        issue = (updated - timedelta(days=rng.randrange(0, 20))).date()
        net = Decimal(rng.randrange(1000, 500000)) / 100
        tax = (net * Decimal("0.21")).quantize(Decimal("0.01"))
        invs.append(BaseInvoice(
            n=i + 1, guid=str(uuid.UUID(int=rng.getrandbits(128))), number=f"INV-2024-{i + 1:05d}",
            supplier=rng.randrange(suppliers), issue=issue, due=issue + timedelta(days=30),
            currency=rng.choice(["EUR", "EUR", "EUR", "USD"]), net=net, tax=tax,
            status=rng.choice(["open", "open", "approved", "paid", "blocked"]), updated=updated))
    return invs, sups


def _ms(dt: datetime | date) -> int:
    if not isinstance(dt, datetime):
        dt = datetime(dt.year, dt.month, dt.day, tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def _v2date(dt: datetime | date, offset: bool = False) -> str:
    return f"/Date({_ms(dt)}{'+0000' if offset else ''})/"


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_since(text: str) -> datetime:
    text = text.strip().strip("'\"")
    for fmt in ("%m/%d/%Y",):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            pass
    dt = datetime.fromisoformat(text)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


# --- the server ---------------------------------------------------------------------------

class ErpContractServer:
    """All seven stand-ins behind one loopback HTTP server. Use as a context manager or start()/stop()."""

    def __init__(self, *, invoices: int = 260, suppliers: int = 45, seed: int = 2024, token_ttl: float = 3600,
                 port: int = 0):
        self.token_ttl = token_ttl
        self.requests: list[LoggedRequest] = []
        self.applied: list[Applied] = []
        self.clock: Any = time.time               # epoch seconds; tests may set a fake clock
        self.exact_minutely_limit = 10_000         # Exact's real limit is about 60 a minute; tests lower it
        self.exact_daily_limit = 1_000_000
        self._lock = threading.Lock()
        self.base_invoices, self.base_suppliers = generate(invoices, suppliers, seed)
        self.vendors: dict[str, _Vendor] = {name: _Vendor(name, DEFAULT_AUTH[name]) for name in VENDORS}
        self._load_rows()
        self._httpd = ThreadingHTTPServer((HOST, port), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    def _load_rows(self) -> None:
        for name, v in self.vendors.items():
            shape_inv, shape_sup = SHAPES[name]
            v.invoices = sorted((Row(b.updated, k, d) for b in self.base_invoices
                                 for k, d in [shape_inv(b, self.base_suppliers)]), key=lambda r: (r.updated, r.key))
            v.suppliers = sorted((Row(s.updated, k, d) for s in self.base_suppliers for k, d in [shape_sup(s)]),
                                 key=lambda r: (r.updated, r.key))

    # lifecycle
    def start(self) -> ErpContractServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="erp-contract-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ErpContractServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def url(self, vendor: str) -> str:
        return f"http://{HOST}:{self.port}/{vendor}"

    # control
    def set_auth(self, vendor: str, kind: str) -> None:
        """Expected auth: basic | bearer | api_key_header | api_key_query | oauth2."""
        self.vendors[vendor].auth = kind

    def inject(self, vendor: str, kind: str, *, count: int = 1, after: int = 0, retry_after: str | None = None,
               delay: float = 0.0, method: str | None = None) -> None:
        """Fault on the vendor's next `count` API calls (of `method`, when given), after `after` more calls
        have been answered."""
        v = self.vendors[vendor]
        with self._lock:
            v.faults.append(Fault(kind, count, v.seen + after, retry_after, delay, method))

    def reset(self) -> None:
        """Back to the generated data, default auth, no faults, nothing logged."""
        with self._lock:
            self.requests.clear()
            self.applied.clear()
            self.clock = time.time
            self.exact_minutely_limit, self.exact_daily_limit = 10_000, 1_000_000
            for name, v in self.vendors.items():
                v.faults.clear()
                v.tokens.clear()
                v.idempotent.clear()
                v.auth = DEFAULT_AUTH[name]
                v.window, v.day_calls, v.csrf = (0, 0), 0, ""
            self._load_rows()

    def calls(self, vendor: str, method: str | None = None, path_contains: str = "") -> list[LoggedRequest]:
        return [r for r in self.requests if r.vendor == vendor and (method is None or r.method == method)
                and path_contains in r.path]

    def applied_to(self, vendor: str) -> list[Applied]:
        """The writes that changed a record of `vendor`, in order."""
        return [a for a in self.applied if a.vendor == vendor]

    def rows(self, vendor: str, entity: str) -> list[Row]:
        v = self.vendors[vendor]
        return v.invoices if entity.endswith("invoices") else v.suppliers

    def apply(self, v: _Vendor, call: str, key: str, body: Any = None) -> None:
        with self._lock:
            self.applied.append(Applied(v.name, call, key, body))

    # request handling
    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Reply:
        parts = urlsplit(raw_path)
        segments = parts.path.split("/", 2)
        vendor_name = segments[1] if len(segments) > 1 else ""
        if vendor_name not in self.vendors:
            return Reply(404, {"error": f"unknown vendor {vendor_name!r}"})
        v = self.vendors[vendor_name]
        path = "/" + (segments[2] if len(segments) > 2 else "")
        query = parse_qs(parts.query, keep_blank_values=True)
        with self._lock:
            self.requests.append(LoggedRequest(vendor_name, method, path, query, headers, body))
        if method == "POST" and path.endswith("/token"):
            return self._token(v, headers, body)
        fault = self._take_fault(v, method)
        late = 0.0
        if fault is not None:
            if fault.kind == "500":
                return Reply(500, {"error": "injected server error"})
            if fault.kind == "503":
                return Reply(503, {"error": "injected unavailable"})
            if fault.kind == "504":
                return Reply(504, {"error": "injected gateway timeout"})
            if fault.kind == "429":
                if v.name == "exact_online":  # Exact says when the window resets instead of Retry-After
                    reset_ms = int((self.clock() + float(fault.retry_after or "1")) * 1000)
                    return Reply(429, {"error": {"message": {"value": "API rate limit exceeded"}}},
                                 self._exact_limits(v, minutely_remaining=0, minutely_reset_ms=reset_ms))
                hint = {} if fault.retry_after == "" else {"Retry-After": fault.retry_after or "1"}  # "": none
                return Reply(429, {"error": "too many requests"}, hint)
            if fault.kind == "slow":
                time.sleep(fault.delay)
            if fault.kind == "slow_after":
                late = fault.delay
            if fault.kind == "expire_tokens":
                v.tokens.clear()
        denied = self._check_auth(v, headers, query)
        if denied:
            return denied
        if v.name == "exact_online":
            limited = self._exact_window(v)
            if limited is not None:
                return limited
        try:
            reply = HANDLERS[vendor_name](self, v, method, path, query, headers, body)
        except Reply as raised:
            reply = raised
        if v.name == "exact_online":
            reply.headers.update(self._exact_limits(v))
        if late:
            time.sleep(late)  # the write took effect; its answer comes too late for the client
        return reply

    def _take_fault(self, v: _Vendor, method: str) -> Fault | None:
        with self._lock:
            v.seen += 1
            for f in v.faults:
                if v.seen > f.after and f.count > 0 and f.method in (None, method):
                    f.count -= 1
                    return f
            v.faults = [f for f in v.faults if f.count > 0]
        return None

    def _exact_window(self, v: _Vendor) -> Reply | None:
        """Count the call in Exact's minutely and daily windows; 429 when one is spent."""
        now = self.clock()
        minute = int(now // 60)
        with self._lock:
            if v.window[0] != minute:
                v.window = (minute, 0)
            if v.window[1] >= self.exact_minutely_limit or v.day_calls >= self.exact_daily_limit:
                return Reply(429, {"error": {"message": {"value": "API rate limit exceeded"}}}, self._exact_limits(v))
            v.window = (minute, v.window[1] + 1)
            v.day_calls += 1
        return None

    def _exact_limits(self, v: _Vendor, *, minutely_remaining: int | None = None,
                      minutely_reset_ms: int | None = None) -> dict[str, str]:
        now = self.clock()
        minute_end = (int(now // 60) + 1) * 60
        day_end = (int(now // 86400) + 1) * 86400
        remaining = self.exact_minutely_limit - v.window[1] if minutely_remaining is None else minutely_remaining
        return {
            "X-RateLimit-Limit": str(self.exact_daily_limit),
            "X-RateLimit-Remaining": str(max(0, self.exact_daily_limit - v.day_calls)),
            "X-RateLimit-Reset": str(day_end * 1000),
            "X-RateLimit-Minutely-Limit": str(self.exact_minutely_limit),
            "X-RateLimit-Minutely-Remaining": str(max(0, remaining)),
            "X-RateLimit-Minutely-Reset": str(minutely_reset_ms or minute_end * 1000),
        }

    def _token(self, v: _Vendor, headers: dict[str, str], body: bytes) -> Reply:
        form = {k: vals[0] for k, vals in parse_qs(body.decode("utf-8")).items()}
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode("utf-8").partition(":")
        if form.get("grant_type") != "client_credentials":
            return Reply(400, {"error": "unsupported_grant_type"})
        if client_id != CLIENT_ID or secret != CLIENT_SECRET:
            return Reply(401, {"error": "invalid_client"})
        if v.name == "xero" and set(form.get("scope", "").split()) & XERO_BROAD_SCOPES:
            # apps created from March 2026 on have only the granular scopes
            return Reply(400, {"error": "invalid_scope"})
        token = "at-" + secrets.token_hex(12)
        v.tokens[token] = time.monotonic() + self.token_ttl
        return Reply(200, {"access_token": token, "token_type": "Bearer", "expires_in": self.token_ttl,
                           "scope": form.get("scope", "")})

    def _check_auth(self, v: _Vendor, headers: dict[str, str], query: dict[str, list[str]]) -> Reply | None:
        auth = headers.get("authorization", "")
        ok = False
        if v.auth == "basic":
            ok = auth == "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
        elif v.auth == "bearer":
            ok = auth == f"Bearer {BEARER_TOKEN}"
        elif v.auth == "api_key_header":
            ok = headers.get("x-api-key") == API_KEY
        elif v.auth == "api_key_query":
            ok = query.get("api_key", [""])[0] == API_KEY
        elif v.auth == "oauth2":
            token = auth[7:] if auth.startswith("Bearer ") else ""
            ok = v.tokens.get(token, 0) > time.monotonic()
        if ok:
            return None
        return Reply(401, {"error": "unauthorized", "message": "authentication failed"},
                     {"WWW-Authenticate": 'Bearer error="invalid_token"' if v.auth == "oauth2" else "Basic"})


def _make_handler(server: ErpContractServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # headers and body go out in separate writes: without this, Nagle + delayed ACK add 40 ms
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply = server.handle(self.command, self.path, headers, body)
            payload = b"" if reply.body is None else json.dumps(reply.body).encode("utf-8")
            try:
                self.send_response(reply.status)
                if payload:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                for k, val in reply.headers.items():
                    self.send_header(k, val)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout tests)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


# --- shapes: one record as each vendor documents it ---------------------------------------

def _sap_timestamp(dt: datetime) -> str:
    """SAP's UTC timestamp as text (SuplrInvcLstChgDteTmeTxt): YYYYMMDDhhmmss.fffffff."""
    return dt.strftime("%Y%m%d%H%M%S") + f".{dt.microsecond:06d}0"


def _sap_invoice(b: BaseInvoice, sups: list[BaseSupplier]) -> tuple[str, dict[str, Any]]:
    number = f"51{b.n:08d}"
    uri = f"A_SupplierInvoice(SupplierInvoice='{number}',FiscalYear='2024')"
    status = {"open": "A", "approved": "5", "paid": "5", "blocked": "D"}[b.status]
    return f"{number}/2024", {
        "__metadata": {"id": uri, "uri": uri, "type": "API_SUPPLIERINVOICE_PROCESS_SRV.A_SupplierInvoiceType"},
        "SupplierInvoice": number, "FiscalYear": "2024", "CompanyCode": "1010",
        "DocumentDate": _v2date(b.issue), "PostingDate": _v2date(b.issue), "CreationDate": _v2date(b.updated.date()),
        "SuplrInvcLstChgDteTmeTxt": _sap_timestamp(b.updated),
        "SupplierInvoiceIDByInvcgParty": b.number, "InvoicingParty": f"173{b.supplier + 1:05d}",
        "DocumentCurrency": b.currency, "InvoiceGrossAmount": f"{b.net + b.tax:.2f}",
        "DocumentHeaderText": f"Invoice {b.number}", "PaymentTerms": "0001",
        "DueCalculationBaseDate": _v2date(b.issue), "NetPaymentDays": "30",
        "PaymentBlockingReason": "", "SupplierInvoiceStatus": status,
    }


def _sap_supplier(s: BaseSupplier) -> tuple[str, dict[str, Any]]:
    sid = f"173{s.n:05d}"
    return sid, {"__metadata": {"type": "API_BUSINESS_PARTNER.A_SupplierType"}, "Supplier": sid,
                 "SupplierName": s.name, "SupplierFullName": s.name, "SupplierAccountGroup": "SUPL",
                 "CreationDate": _v2date(s.updated.date()), "VATRegistration": s.vat,
                 "PostingIsBlocked": s.blocked, "PaymentIsBlockedForSupplier": False, "PurchasingIsBlocked": False,
                 "DeletionIndicator": False}


def _oracle_time(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.000+00:00")


def _oracle_invoice(b: BaseInvoice, sups: list[BaseSupplier]) -> tuple[str, dict[str, Any]]:
    return str(300000 + b.n), {
        "InvoiceId": 300000 + b.n, "InvoiceNumber": b.number, "InvoiceCurrency": b.currency,
        "InvoiceAmount": float(b.net + b.tax), "InvoiceDate": b.issue.isoformat(), "BusinessUnit": "US1 Business Unit",
        "Supplier": sups[b.supplier].name, "SupplierNumber": str(1000 + b.supplier + 1), "SupplierSite": "MAIN",
        "Description": f"Invoice {b.number}", "InvoiceType": "Standard",
        "ValidationStatus": "Validated" if b.status != "open" else "Not validated",
        "ApprovalStatus": "Approved" if b.status in ("approved", "paid") else "Required",
        "PaidStatus": "Paid" if b.status == "paid" else "Unpaid", "CanceledFlag": False,
        "TermsDate": b.issue.isoformat(), "PaymentTerms": "Net 30",
        "CreationDate": _oracle_time(b.updated), "LastUpdateDate": _oracle_time(b.updated),
        "links": [{"rel": "self", "href": f"/invoices/{300000 + b.n}", "name": "invoices", "kind": "item"}],
    }


def _oracle_supplier(s: BaseSupplier) -> tuple[str, dict[str, Any]]:
    return str(4000 + s.n), {"SupplierId": 4000 + s.n, "Supplier": s.name, "SupplierNumber": str(1000 + s.n),
                             "TaxpayerId": s.vat, "InactiveDate": "2024-06-30" if s.blocked else None,
                             "CreationDate": _oracle_time(s.updated), "LastUpdateDate": _oracle_time(s.updated)}


def _exact_invoice(b: BaseInvoice, sups: list[BaseSupplier]) -> tuple[str, dict[str, Any]]:
    return b.guid, {
        "__metadata": {"uri": f"purchaseentry/PurchaseEntries(guid'{b.guid}')", "type": "Exact.Web.Api.Models.PurchaseEntry"},
        "EntryID": b.guid, "EntryNumber": 24000000 + b.n, "InvoiceNumber": 24100000 + b.n, "YourRef": b.number,
        "Type": 30, "Status": 50 if b.status in ("approved", "paid") else 20, "Journal": "60",
        "Supplier": sups[b.supplier].guid, "SupplierName": sups[b.supplier].name, "Currency": b.currency,
        "AmountFC": float(b.net + b.tax), "VATAmountFC": float(b.tax), "AmountDC": float(b.net + b.tax),
        "VATAmountDC": float(b.tax), "EntryDate": _v2date(b.issue), "DueDate": _v2date(b.due),
        "PaymentCondition": "30", "PaymentReference": f"{b.n:016d}", "Description": f"Invoice {b.number}",
        "Modified": _v2date(b.updated), "Created": _v2date(b.updated),
    }


def _exact_supplier(s: BaseSupplier) -> tuple[str, dict[str, Any]]:
    city, postcode, street = s.city
    return s.guid, {"__metadata": {"type": "Exact.Web.Api.Models.Account"}, "ID": s.guid, "Code": f"{s.n:>18}",
                    "Name": s.name, "IsSupplier": True, "Blocked": s.blocked, "VATNumber": s.vat,
                    "ChamberOfCommerce": f"{30000000 + s.n}", "Country": "NL", "City": city, "Postcode": postcode,
                    "AddressLine1": street, "Email": s.email, "PurchaseCurrency": "EUR",
                    "PaymentConditionPurchase": "30", "Modified": _v2date(s.updated)}


def _bc_invoice(b: BaseInvoice, sups: list[BaseSupplier]) -> tuple[str, dict[str, Any]]:
    status = {"open": "Draft", "approved": "Open", "paid": "Paid", "blocked": "In Review"}[b.status]
    return b.guid, {
        "@odata.etag": f'W/"JzQ0O{b.n}MTswMDsn"', "id": b.guid, "number": f"PI{108000 + b.n}",
        "invoiceDate": b.issue.isoformat(), "postingDate": b.issue.isoformat(), "dueDate": b.due.isoformat(),
        "vendorInvoiceNumber": b.number, "vendorId": sups[b.supplier].guid, "vendorNumber": f"V{b.supplier + 10000}",
        "vendorName": sups[b.supplier].name, "currencyCode": b.currency, "pricesIncludeTax": False,
        "discountAmount": 0, "totalAmountExcludingTax": float(b.net), "totalTaxAmount": float(b.tax),
        "totalAmountIncludingTax": float(b.net + b.tax), "status": status,
        "lastModifiedDateTime": b.updated.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
    }


def _bc_vendor(s: BaseSupplier) -> tuple[str, dict[str, Any]]:
    city, postcode, street = s.city
    return s.guid, {"@odata.etag": 'W/"JzE5OzEn"', "id": s.guid, "number": f"V{s.n + 9999}", "displayName": s.name,
                    "addressLine1": street, "addressLine2": "", "city": city, "state": "", "country": "NL",
                    "postalCode": postcode, "phoneNumber": "", "email": s.email, "website": "",
                    "taxRegistrationNumber": s.vat, "currencyCode": "EUR", "irs1099Code": "", "taxLiable": True,
                    "blocked": "Payment" if s.blocked else " ", "balance": 0,
                    "lastModifiedDateTime": s.updated.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"}


def _ns_invoice(b: BaseInvoice, sups: list[BaseSupplier]) -> tuple[str, dict[str, Any]]:
    approval = {"open": ("1", "Pending Approval"), "approved": ("2", "Approved"), "paid": ("2", "Approved"),
                "blocked": ("3", "Rejected")}[b.status]
    return str(1900 + b.n), {
        "id": str(1900 + b.n), "tranId": b.number, "tranDate": b.issue.isoformat(), "dueDate": b.due.isoformat(),
        "entity": {"id": str(b.supplier + 1), "refName": sups[b.supplier].name},
        "currency": {"id": "1" if b.currency == "USD" else "4", "refName": b.currency},
        "userTotal": float(b.net + b.tax), "taxTotal": float(b.tax),
        "approvalStatus": {"id": approval[0], "refName": approval[1]},
        "status": {"id": "Paid In Full" if b.status == "paid" else "Open",
                   "refName": "Paid In Full" if b.status == "paid" else "Open"},
        "memo": f"Invoice {b.number}", "lastModifiedDate": _iso(b.updated), "createdDate": _iso(b.updated),
    }


def _ns_vendor(s: BaseSupplier) -> tuple[str, dict[str, Any]]:
    city, postcode, street = s.city
    return str(s.n), {"id": str(s.n), "entityId": f"V{s.n:04d}", "companyName": s.name, "email": s.email,
                      "isInactive": s.blocked, "defaultAddress": f"{s.name}\n{street}\n{postcode} {city}\nNetherlands",
                      "currency": {"id": "4", "refName": "EUR"}, "terms": {"id": "2", "refName": "Net 30"},
                      "lastModifiedDate": _iso(s.updated)}


_PST = timezone(timedelta(hours=-8))


def _qbo_invoice(b: BaseInvoice, sups: list[BaseSupplier]) -> tuple[str, dict[str, Any]]:
    return str(b.n + 100), {
        "Id": str(b.n + 100), "SyncToken": "0", "domain": "QBO", "DocNumber": b.number,
        "TxnDate": b.issue.isoformat(), "DueDate": b.due.isoformat(),
        "VendorRef": {"value": str(b.supplier + 1), "name": sups[b.supplier].name},
        "CurrencyRef": {"value": b.currency, "name": b.currency}, "TotalAmt": float(b.net + b.tax),
        "Balance": 0 if b.status == "paid" else float(b.net + b.tax), "PrivateNote": "",
        "SalesTermRef": {"value": "3", "name": "Net 30"},
        "MetaData": {"CreateTime": b.updated.astimezone(_PST).isoformat(),
                     "LastUpdatedTime": b.updated.astimezone(_PST).isoformat()},
    }


def _qbo_vendor(s: BaseSupplier) -> tuple[str, dict[str, Any]]:
    city, postcode, street = s.city
    return str(s.n), {"Id": str(s.n), "SyncToken": "0", "DisplayName": s.name, "CompanyName": s.name,
                      "Active": not s.blocked, "PrimaryEmailAddr": {"Address": s.email},
                      "BillAddr": {"Id": str(100 + s.n), "Line1": street, "City": city, "PostalCode": postcode,
                                   "Country": "NL"},
                      "TaxIdentifier": "XXXXXX" + s.vat[-4:], "CurrencyRef": {"value": "EUR", "name": "Euro"},
                      "TermRef": {"value": "3", "name": "Net 30"},
                      "MetaData": {"CreateTime": s.updated.astimezone(_PST).isoformat(),
                                   "LastUpdatedTime": s.updated.astimezone(_PST).isoformat()}}


def _xero_invoice(b: BaseInvoice, sups: list[BaseSupplier]) -> tuple[str, dict[str, Any]]:
    status = {"open": "DRAFT", "approved": "AUTHORISED", "paid": "PAID", "blocked": "SUBMITTED"}[b.status]
    return b.guid, {
        "Type": "ACCPAY", "InvoiceID": b.guid, "InvoiceNumber": b.number, "Reference": "",
        "Contact": {"ContactID": sups[b.supplier].guid, "Name": sups[b.supplier].name},
        "Date": _v2date(b.issue, offset=True), "DateString": f"{b.issue.isoformat()}T00:00:00",
        "DueDate": _v2date(b.due, offset=True), "DueDateString": f"{b.due.isoformat()}T00:00:00",
        "Status": status, "LineAmountTypes": "Exclusive", "SubTotal": float(b.net), "TotalTax": float(b.tax),
        "Total": float(b.net + b.tax), "AmountDue": 0.0 if b.status == "paid" else float(b.net + b.tax),
        "CurrencyCode": b.currency, "UpdatedDateUTC": _v2date(b.updated, offset=True),
    }


def _xero_contact(s: BaseSupplier) -> tuple[str, dict[str, Any]]:
    city, postcode, street = s.city
    return s.guid, {"ContactID": s.guid, "ContactStatus": "ARCHIVED" if s.blocked else "ACTIVE", "Name": s.name,
                    "EmailAddress": s.email, "TaxNumber": s.vat, "IsSupplier": True, "IsCustomer": False,
                    "DefaultCurrency": "EUR",
                    "Addresses": [{"AddressType": "POBOX", "AddressLine1": street, "City": city,
                                   "PostalCode": postcode, "Country": "Netherlands"}],
                    "PaymentTerms": {"Bills": {"Day": 30, "Type": "DAYSAFTERBILLDATE"}},
                    "UpdatedDateUTC": _v2date(s.updated, offset=True)}


SHAPES = {
    "sap_s4hana": (_sap_invoice, _sap_supplier), "oracle_fusion": (_oracle_invoice, _oracle_supplier),
    "exact_online": (_exact_invoice, _exact_supplier), "business_central": (_bc_invoice, _bc_vendor),
    "netsuite": (_ns_invoice, _ns_vendor), "quickbooks_online": (_qbo_invoice, _qbo_vendor),
    "xero": (_xero_invoice, _xero_contact),
}


# --- vendor handlers ----------------------------------------------------------------------

def _q(query: dict[str, list[str]], name: str, default: str = "") -> str:
    return query.get(name, [default])[0]


def _since(rows: list[Row], since: datetime | None) -> list[Row]:
    return [r for r in rows if since is None or r.updated >= since]


def _match(pattern: str, text: str, what: str) -> datetime | None:
    if not text:
        return None
    m = re.search(pattern, text)
    if not m:
        raise Reply(400, {"error": f"cannot read {what} filter {text!r}"})
    return _parse_since(m.group(1))


def _next_url(srv: ErpContractServer, v: _Vendor, path: str, query: dict[str, list[str]], **changes: Any) -> str:
    q = {k: vals[0] for k, vals in query.items()}
    q.update({k: str(val) for k, val in changes.items()})
    return f"{srv.url(v.name)}{path}?{urlencode(q)}"


def _not_found(path: str) -> Reply:
    return Reply(404, {"error": f"no resource at {path}"})


_ODATA_WORDS = {"eq", "ne", "ge", "gt", "le", "lt", "and", "or", "not", "asc", "desc", "true", "false", "null",
                "datetime", "datetimeoffset", "guid"}


def _odata_properties(text: str) -> set[str]:
    """The property names an OData $filter/$orderby/$select mentions (literals and keywords left out)."""
    text = re.sub(r"'[^']*'", "", text)
    return {w for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text) if w not in _ODATA_WORDS}


def _check_odata(query: dict[str, list[str]], known: set[str], type_name: str) -> None:
    for option in ("$filter", "$orderby", "$select"):
        unknown = sorted(_odata_properties(_q(query, option)) - known)
        if unknown:
            raise Reply(400, {"error": {"code": "400", "message": {
                "lang": "en", "value": f"Property {unknown[0]} not found in type {type_name}"}}})


def _odata_sorted(rows: list[Row], orderby: str) -> list[Row]:
    """Rows ordered per $orderby (`A asc,B desc`); values compare as text, as the stand-ins hold them."""
    out = list(rows)
    for term in reversed([t.split() for t in orderby.split(",") if t.strip()]):  # stable sorts, last key first
        name = term[0]
        out.sort(key=lambda r: str(r.data.get(name, "")), reverse=len(term) > 1 and term[1].lower() == "desc")
    return out


def _page(srv: ErpContractServer, v: _Vendor, path: str, query: dict[str, list[str]], selected: list[Row],
          server_page: int) -> dict[str, Any]:
    """An OData v2 page: $top/$skip when given (client paging), else server-driven with d.__next."""
    if "$top" in query:
        skip, top = int(_q(query, "$skip", "0")), int(_q(query, "$top"))
        return {"results": [r.data for r in selected[skip:skip + top]]}
    skip = int(_q(query, "$skiptoken", "0"))
    d: dict[str, Any] = {"results": [r.data for r in selected[skip:skip + server_page]]}
    if skip + server_page < len(selected):
        d["__next"] = _next_url(srv, v, path, query, **{"$skiptoken": skip + server_page})
    return d


def _sap(srv: ErpContractServer, v: _Vendor, method: str, path: str, query: dict[str, list[str]],
         headers: dict[str, str], body: bytes) -> Reply:
    svc = "/sap/opu/odata/sap/API_SUPPLIERINVOICE_PROCESS_SRV"
    if method == "GET" and path in (svc, svc + "/"):
        if headers.get("x-csrf-token", "").lower() == "fetch":
            v.csrf = secrets.token_hex(8)
            return Reply(200, {"d": {"EntitySets": ["A_SupplierInvoice"]}},
                         {"X-CSRF-Token": v.csrf, "Set-Cookie": "SAP_SESSIONID=abc123; Path=/"})
        return Reply(200, {"d": {"EntitySets": ["A_SupplierInvoice"]}})
    if method == "POST" and path == svc + "/Release":
        if not v.csrf or headers.get("x-csrf-token") != v.csrf or "SAP_SESSIONID" not in headers.get("cookie", ""):
            return Reply(403, {"error": {"code": "/IWFND/CM_BEC/026", "message": {"value": "CSRF token validation failed"}}},
                         {"X-CSRF-Token": "Required"})
        inv, year = _q(query, "SupplierInvoice").strip("'"), _q(query, "FiscalYear").strip("'")
        row = next((r for r in v.invoices if r.key == f"{inv}/{year}"), None)
        if row is None:
            return Reply(404, {"error": {"code": "404", "message": {"value": f"Invoice {inv} {year} not found"}}})
        if row.data["SupplierInvoiceStatus"] == "5":
            return Reply(400, {"error": {"code": "400", "message": {"value": f"Invoice {inv} {year} is already posted"}}})
        row.data["SupplierInvoiceStatus"] = "5"
        srv.apply(v, "Release", row.key)
        return Reply(200, {"d": {"Release": {"SupplierInvoice": inv, "FiscalYear": year, "SupplierInvoiceStatus": "5"}}})
    if method != "GET":
        return _not_found(path)
    if path == svc + "/A_SupplierInvoice":
        rows, type_name = v.invoices, "A_SupplierInvoiceType"
        flt = _q(query, "$filter")
        m = re.search(r"SuplrInvcLstChgDteTmeTxt ge '(\d{14})'", flt)
        since = datetime.strptime(m.group(1), "%Y%m%d%H%M%S").replace(tzinfo=UTC) if m else None
        if flt and not m:
            raise Reply(400, {"error": {"code": "400", "message": {"value": f"Invalid filter {flt!r}"}}})
    elif path == "/sap/opu/odata/sap/API_BUSINESS_PARTNER/A_Supplier":
        rows, type_name, since = v.suppliers, "A_SupplierType", None
    else:
        return _not_found(path)
    _check_odata(query, set(rows[0].data) - {"__metadata"}, type_name)
    selected = _odata_sorted(_since(rows, since), _q(query, "$orderby"))
    return Reply(200, {"d": _page(srv, v, path, query, selected, 50)})


def _oracle(srv: ErpContractServer, v: _Vendor, method: str, path: str, query: dict[str, list[str]],
            headers: dict[str, str], body: bytes) -> Reply:
    root = "/fscmRestApi/resources/11.13.18.05"
    if method == "POST" and path == root + "/invoices/action/validateInvoice":
        if headers.get("content-type", "").split(";")[0] != "application/vnd.oracle.adf.action+json":
            return Reply(415, {"error": "unsupported media type"})
        doc = json.loads(body or b"{}")
        missing = [k for k in ("InvoiceNumber", "BusinessUnit", "Supplier", "ProcessAction") if not doc.get(k)]
        if missing or doc["ProcessAction"] != "Validate":
            return Reply(400, {"title": "Bad Request", "detail": f"missing or invalid: {', '.join(missing) or 'ProcessAction'}"})
        row = next((r for r in v.invoices if r.data["InvoiceNumber"] == doc["InvoiceNumber"]
                    and r.data["BusinessUnit"] == doc["BusinessUnit"] and r.data["Supplier"] == doc["Supplier"]), None)
        if row is None:
            return Reply(400, {"title": "Bad Request", "detail": "no such invoice for this supplier and business unit"})
        row.data["ValidationStatus"] = "Validated"
        srv.apply(v, "validateInvoice", row.key, doc)
        return Reply(200, {"result": "The current action Validate Invoice has completed successfully."})
    m = re.fullmatch(root + r"/(invoices|suppliers)(?:/(\d+))?", path)
    if method != "GET" or not m:
        return _not_found(path)
    rows = v.invoices if m.group(1) == "invoices" else v.suppliers
    if m.group(2):
        row = next((r for r in rows if r.key == m.group(2)), None)
        return Reply(200, row.data) if row else Reply(404, {"title": "Not Found"})
    since = _match(r"LastUpdateDate>='([^']+)'", _q(query, "q"), "q")
    selected = _since(rows, since)
    offset, limit = int(_q(query, "offset", "0")), min(int(_q(query, "limit", "25")), 500)
    page = selected[offset:offset + limit]
    return Reply(200, {"items": [r.data for r in page], "count": len(page),
                       "hasMore": offset + limit < len(selected), "limit": limit, "offset": offset,
                       "links": [{"rel": "self", "href": _next_url(srv, v, path, query), "name": m.group(1),
                                  "kind": "collection"}]})


# Fields of the two Exact resources beyond the ones the stand-in fills (the reference lists more).
_EXACT_MORE = {"AmountDC", "BatchNumber", "Created", "Creator", "Division", "Document", "ExternalLinkReference",
               "JournalDescription", "Modifier", "OrderNumber", "Rate", "ReportingPeriod", "ReportingYear",
               "StatusDescription", "TypeDescription", "VATAmountDC", "Website", "Phone", "Status", "SearchCode"}


def _exact(srv: ErpContractServer, v: _Vendor, method: str, path: str, query: dict[str, list[str]],
           headers: dict[str, str], body: bytes) -> Reply:
    m = re.fullmatch(r"/api/v1/(\d+)/(purchaseentry/PurchaseEntries|crm/Accounts)(?:\(guid'([0-9a-f-]+)'\))?", path)
    if not m:
        return _not_found(path)
    rows = v.invoices if m.group(2).startswith("purchaseentry") else v.suppliers
    if method == "PUT" and m.group(2) == "purchaseentry/PurchaseEntries" and m.group(3):
        row = next((r for r in rows if r.key == m.group(3)), None)
        if row is None:
            return Reply(404, {"error": {"message": {"value": "Record not found"}}})
        doc = json.loads(body or b"{}")
        row.data.update({k: val for k, val in doc.items() if k in row.data})
        srv.apply(v, "PUT PurchaseEntries", row.key, doc)
        return Reply(204)
    if method != "GET" or m.group(3):
        return _not_found(path)
    known = set(rows[0].data) - {"__metadata"} | _EXACT_MORE
    unknown = sorted(set(filter(None, _q(query, "$select").split(","))) - known)
    if unknown:
        raise Reply(400, {"error": {"code": "", "message": {"lang": "", "value": f"'{unknown[0]}' is not a property"}}})
    flt = _q(query, "$filter")
    since = _match(r"Modified ge datetime'([^']+)'", flt if "Modified" in flt else "", "$filter")
    if m.group(2) == "crm/Accounts" and "IsSupplier eq true" not in flt:
        raise Reply(400, {"error": {"message": {"value": "expected IsSupplier eq true"}}})
    fields = [f for f in _q(query, "$select").split(",") if f]
    selected = _since(rows, since)
    skip = int(_q(query, "$skiptoken", "0"))
    page = selected[skip:skip + 60]  # Exact pages at 60 records
    shown = [{"__metadata": r.data["__metadata"], **{f: r.data.get(f) for f in fields}} if fields else r.data
             for r in page]
    d: dict[str, Any] = {"results": shown}
    if skip + 60 < len(selected):
        d["__next"] = _next_url(srv, v, path, query, **{"$skiptoken": skip + 60})
    return Reply(200, {"d": d})


def _bc(srv: ErpContractServer, v: _Vendor, method: str, path: str, query: dict[str, list[str]],
        headers: dict[str, str], body: bytes) -> Reply:
    m = re.fullmatch(r"/v2\.0/[^/]+/[^/]+/api/v2\.0/companies\(([0-9a-f-]+)\)/(purchaseInvoices|vendors)"
                     r"(?:\(([0-9a-f-]+)\)(/Microsoft\.NAV\.post)?)?", path)
    if not m:
        return _not_found(path)
    if method == "POST" and m.group(4):
        row = next((r for r in v.invoices if r.key == m.group(3)), None)
        if row is None:
            return Reply(404, {"error": {"code": "BadRequest_NotFound", "message": "The purchaseInvoice does not exist."}})
        if row.data["status"] != "Draft":
            return Reply(400, {"error": {"code": "BadRequest", "message": "Only a draft purchase invoice can be posted."}})
        row.data["status"] = "Open"
        srv.apply(v, "Microsoft.NAV.post", row.key)
        return Reply(204)
    if method != "GET" or m.group(3):
        return _not_found(path)
    rows = v.invoices if m.group(2) == "purchaseInvoices" else v.suppliers
    since = _match(r"lastModifiedDateTime ge (\S+)", _q(query, "$filter"), "$filter")
    selected = _since(rows, since)
    pref = re.search(r"odata\.maxpagesize=(\d+)", headers.get("prefer", ""))
    size = int(pref.group(1)) if pref else 20000
    skip = int(_q(query, "$skiptoken", "0"))
    page = selected[skip:skip + size]
    out: dict[str, Any] = {"@odata.context": f"{srv.url(v.name)}/$metadata#{m.group(2)}",
                           "value": [r.data for r in page]}
    if skip + size < len(selected):
        out["@odata.nextLink"] = _next_url(srv, v, path, query, **{"$skiptoken": skip + size})
    headers_out = {"Preference-Applied": f"odata.maxpagesize={size}"} if pref else {}
    return Reply(200, out, headers_out)


def _netsuite(srv: ErpContractServer, v: _Vendor, method: str, path: str, query: dict[str, list[str]],
              headers: dict[str, str], body: bytes) -> Reply:
    m = re.fullmatch(r"/services/rest/record/v1/(vendorBill|vendor)(?:/(\d+))?", path)
    if not m:
        return _not_found(path)
    rows = v.invoices if m.group(1) == "vendorBill" else v.suppliers
    if m.group(2):
        row = next((r for r in rows if r.key == m.group(2)), None)
        if row is None:
            return Reply(404, {"title": "Not Found", "status": 404})
        if method == "PATCH" and m.group(1) == "vendorBill":
            doc = json.loads(body or b"{}")
            status = str((doc.get("approvalStatus") or {}).get("id", ""))
            names = {"1": "Pending Approval", "2": "Approved", "3": "Rejected"}
            if status not in names:
                return Reply(400, {"title": "Bad Request", "status": 400, "o:errorDetails": [
                    {"detail": f"Invalid approvalStatus {status!r}"}]})
            row.data["approvalStatus"] = {"id": status, "refName": names[status]}
            srv.apply(v, "PATCH vendorBill", row.key, doc)
            return Reply(204)
        if method != "GET":
            return _not_found(path)
        self_link = f"{srv.url(v.name)}{path}"
        return Reply(200, {"links": [{"rel": "self", "href": self_link}], **row.data})
    if method != "GET":
        return _not_found(path)
    since = _match(r'lastModifiedDate ON_OR_AFTER "([^"]+)"', _q(query, "q"), "q")
    selected = _since(rows, since)
    offset, limit = int(_q(query, "offset", "0")), min(int(_q(query, "limit", "1000")), 1000)
    page = selected[offset:offset + limit]
    links = [{"rel": "self", "href": _next_url(srv, v, path, query)}]
    if offset + limit < len(selected):
        links.insert(0, {"rel": "next", "href": _next_url(srv, v, path, query, offset=offset + limit, limit=limit)})
    items = [{"links": [{"rel": "self", "href": f"{srv.url(v.name)}{path}/{r.key}"}], "id": r.key} for r in page]
    return Reply(200, {"links": links, "count": len(items), "hasMore": offset + limit < len(selected),
                       "items": items, "offset": offset, "totalResults": len(selected)})


def _qbo_fault(message: str, detail: str, code: str) -> Reply:
    return Reply(400, {"Fault": {"Error": [{"Message": message, "Detail": detail, "code": code}],
                                 "type": "ValidationFault"}, "time": datetime.now(_PST).isoformat()})


def _qbo(srv: ErpContractServer, v: _Vendor, method: str, path: str, query: dict[str, list[str]],
         headers: dict[str, str], body: bytes) -> Reply:
    m = re.fullmatch(r"/v3/company/(\d+)/(query|bill)(?:/(\d+))?", path)
    if not m:
        return _not_found(path)
    if m.group(2) == "bill":
        if method == "GET" and m.group(3):
            row = next((r for r in v.invoices if r.key == m.group(3)), None)
            if row is None:
                return _qbo_fault("Object Not Found", f"Bill {m.group(3)} does not exist", "610")
            return Reply(200, {"Bill": row.data, "time": datetime.now(_PST).isoformat()})
        if method != "POST" or m.group(3):
            return _not_found(path)
        doc = json.loads(body or b"{}")
        row = next((r for r in v.invoices if r.key == str(doc.get("Id"))), None)
        if row is None:
            return _qbo_fault("Object Not Found", f"Bill {doc.get('Id')} does not exist", "610")
        if not (doc.get("VendorRef") or {}).get("value"):
            return _qbo_fault("Required param missing, need to supply the required value for the API",
                              "Required parameter VendorRef is missing in the request", "2020")
        if str(doc.get("SyncToken")) != row.data["SyncToken"]:
            return _qbo_fault("Stale Object Error", "You and someone else are editing the same thing", "5010")
        row.data.update({k: val for k, val in doc.items() if k not in ("sparse", "Id")},
                        SyncToken=str(int(row.data["SyncToken"]) + 1))
        srv.apply(v, "update Bill", row.key, doc)
        return Reply(200, {"Bill": row.data, "time": datetime.now(_PST).isoformat()})
    text = _q(query, "query")
    qm = re.fullmatch(r"select \* from (Bill|Vendor)(?: where Metadata\.LastUpdatedTime >= '([^']+)')?"
                      r" ORDERBY Metadata\.LastUpdatedTime STARTPOSITION (\d+) MAXRESULTS (\d+)", text.strip(),
                      flags=re.IGNORECASE)
    if not qm:
        return _qbo_fault(f"QueryParserError: {text}", "Invalid query", "4000")
    rows = v.invoices if qm.group(1).lower() == "bill" else v.suppliers
    since = _parse_since(qm.group(2)) if qm.group(2) else None
    start, size = int(qm.group(3)), min(int(qm.group(4)), 1000)
    selected = _since(rows, since)
    page = selected[start - 1:start - 1 + size]
    qr: dict[str, Any] = {}
    if page:
        qr = {qm.group(1).capitalize(): [r.data for r in page], "startPosition": start, "maxResults": len(page)}
    return Reply(200, {"QueryResponse": qr, "time": datetime.now(_PST).isoformat()})


def _xero(srv: ErpContractServer, v: _Vendor, method: str, path: str, query: dict[str, list[str]],
          headers: dict[str, str], body: bytes) -> Reply:
    # A custom connection's token reaches its one organisation: no xero-tenant-id header is needed.
    m = re.fullmatch(r"/api\.xro/2\.0/(Invoices|Contacts)(?:/([0-9a-f-]+))?", path)
    if not m:
        return _not_found(path)
    if m.group(2):
        if method != "POST" or m.group(1) != "Invoices":
            return _not_found(path)
        key = headers.get("idempotency-key")
        if key and key in v.idempotent:
            return v.idempotent[key]  # a repeat: the first answer again, nothing applied
        row = next((r for r in v.invoices if r.key == m.group(2)), None)
        if row is None:
            return Reply(404, {"Title": "Not Found"})
        doc = json.loads(body or b"{}")
        status = (doc.get("Invoices") or [{}])[0].get("Status")
        if status not in ("DRAFT", "SUBMITTED", "AUTHORISED", "DELETED", "VOIDED"):
            return Reply(400, {"ErrorNumber": 10, "Type": "ValidationException", "Message": "bad status"})
        row.data["Status"] = status
        srv.apply(v, "POST Invoices", row.key, doc)
        reply = Reply(200, {"Status": "OK", "Invoices": [dict(row.data)]})
        if key:
            v.idempotent[key] = reply
        return reply
    if method != "GET":
        return _not_found(path)
    where = _q(query, "where")
    expected = 'Type=="ACCPAY"' if m.group(1) == "Invoices" else "IsSupplier==true"
    if where.replace(" ", "") != expected:
        return Reply(400, {"ErrorNumber": 16, "Type": "QueryParseException", "Message": f"expected where={expected}"})
    rows = v.invoices if m.group(1) == "Invoices" else v.suppliers
    ims = headers.get("if-modified-since")
    since = _parse_since(ims) if ims else None
    selected = _since(rows, since)
    page_no = max(1, int(_q(query, "page", "1")))
    page = selected[(page_no - 1) * 100:page_no * 100]
    return Reply(200, {"Id": str(uuid.uuid4()), "Status": "OK", "ProviderName": "ledgerlink",
                       "DateTimeUTC": _v2date(datetime.now(UTC)), m.group(1): [r.data for r in page]})


HANDLERS = {
    "sap_s4hana": _sap, "oracle_fusion": _oracle, "exact_online": _exact, "business_central": _bc,
    "netsuite": _netsuite, "quickbooks_online": _qbo, "xero": _xero,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = ErpContractServer(port=args.port).start()
    for name in VENDORS:
        print(f"{name:18} {server.url(name)}  ({DEFAULT_AUTH[name]})")
    print(f"basic: {USERNAME}; bearer, api key, client_id {CLIENT_ID}: see sandbox/erp_contract_server.py")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
