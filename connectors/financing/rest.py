"""REST client for supply-chain-finance (invoice financing) platforms.

    client = ScfClient(url, api_key, timeout=10, max_attempts=5, backoff=0.5)
    result = client.submit_batch(invoices, idempotency_key=request_id)
    for change in client.list_statuses(since=None): ...

Retries: connection errors, timeouts, broken responses, 5xx, 429 and 409 ``idempotency_key_in_use``
are retried up to ``max_attempts`` with exponential backoff and full jitter; a ``Retry-After`` on
429/503 (seconds or an HTTP date) is waited out instead, capped at ``max_retry_after``. POSTs are
only ever sent with the caller's ``Idempotency-Key``, the same one on every attempt, so a retry of
a request whose response was lost returns the platform's first answer instead of a second copy.

Errors are :class:`FinancingError` naming the platform, the call and the HTTP status; the API key
never appears in a message or ``repr``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from ledgerlink.errors import LedgerlinkError
from ledgerlink.model.money import Money, format_amount

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Scf-Signature"
DEFAULT_TOLERANCE = 300.0


class FinancingError(LedgerlinkError):
    """A financing platform could not be reached, refused a call, or answered something unusable."""

    def __init__(
        self, message: str, *, call: str = "", status: int | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.call = call
        self.status = status
        self.code = code


class WebhookVerificationError(FinancingError):
    """A webhook delivery is not authentic or too old: its signature or timestamp does not check out."""


class _Transient(Exception):
    """One attempt failed in a way worth retrying."""

    def __init__(
        self,
        reason: str,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.code = code
        self.retry_after = retry_after


# ------------------------------------------------------------------------------------ payloads
@dataclass(frozen=True)
class PayableInvoice:
    """One approved payable invoice as the platform takes it. ``amount`` is a Decimal, never a float."""

    buyer_reference: str
    supplier_id: str
    invoice_number: str
    currency: str
    amount: Decimal
    due_date: date
    iban: str

    def __post_init__(self) -> None:
        # Money refuses floats and digits the currency does not have
        object.__setattr__(self, "amount", Money(self.amount, self.currency).amount)

    def to_json(self) -> dict[str, str]:
        return {
            "buyer_reference": self.buyer_reference,
            "supplier_id": self.supplier_id,
            "invoice_number": self.invoice_number,
            "currency": self.currency,
            "amount": format_amount(self.amount),
            "due_date": self.due_date.isoformat(),
            "iban": self.iban,
        }

    @classmethod
    def from_canonical(cls, invoice: Mapping[str, Any], buyer_reference: str) -> PayableInvoice:
        """From a canonical ``invoice`` record (schemas/invoice.schema.json) of direction payable."""
        missing = [k for k in ("vendor_id", "vendor_iban", "due_date") if not invoice.get(k)]
        if invoice.get("direction") != "payable" or missing:
            raise FinancingError(
                f"invoice {invoice.get('invoice_number')!r} cannot be financed: "
                + (f"missing {', '.join(missing)}" if missing else "not a payable invoice"),
                call="prepare batch",
            )
        return cls(
            buyer_reference=buyer_reference,
            supplier_id=invoice["vendor_id"],
            invoice_number=invoice["invoice_number"],
            currency=invoice["currency"],
            amount=Decimal(invoice["amount_incl_tax"]),
            due_date=date.fromisoformat(invoice["due_date"]),
            iban=invoice["vendor_iban"],
        )


@dataclass(frozen=True)
class BatchItem:
    index: int
    id: str
    buyer_reference: str
    invoice_number: str
    status: str  # uploaded | rejected
    reason: str | None


@dataclass(frozen=True)
class BatchResult:
    id: str
    created_at: str
    items: tuple[BatchItem, ...]
    replayed: bool  # the platform answered from its idempotency record (an earlier attempt got through)


def to_financing_request(invoice: Mapping[str, Any], request_id: str, platform: str) -> dict[str, Any]:
    """A platform invoice (``get_invoice``) as a canonical financing_request record."""
    record: dict[str, Any] = {
        "request_id": request_id,
        "invoice_number": invoice["invoice_number"],
        "vendor_id": invoice["supplier_id"],
        "platform": platform,
        "platform_reference": invoice["id"],
        "amount": invoice["amount"],
        "currency": invoice["currency"],
        "status": invoice["status"],
        "maturity_date": invoice["due_date"],
        "status_changed_at": invoice["updated_at"],
    }
    offer = invoice.get("offer")
    if offer and invoice["status"] in ("offered", "accepted", "funded", "paid"):
        record["discount_amount"] = offer["discount_amount"]
    if invoice.get("funded_amount") is not None:
        record["funded_amount"] = invoice["funded_amount"]
    if invoice.get("funded_at"):
        record["funded_date"] = invoice["funded_at"][:10]
    return record


# ------------------------------------------------------------------------------------ helpers
def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None if unusable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now())


def _error_fields(response: requests.Response) -> tuple[str | None, str]:
    try:
        err = response.json().get("error") or {}
        return err.get("code"), str(err.get("message") or "")[:300]
    except (ValueError, AttributeError):
        return None, response.text[:200].strip()


class StatusListing:
    """Iterates every status change after ``cursor`` (or since ``since``), page by page.
    ``next_cursor`` holds where to resume once iteration has finished."""

    def __init__(
        self, client: ScfClient, since: datetime | str | None, cursor: str | None, limit: int
    ) -> None:
        self._client = client
        self._since = since.isoformat() if isinstance(since, datetime) else since
        self.next_cursor = cursor
        self._limit = limit
        self.pages = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while True:
            params: dict[str, Any] = {"limit": self._limit}
            if self.next_cursor:
                params["cursor"] = self.next_cursor
            elif self._since:
                params["updated_since"] = self._since
            page = self._client._request("list statuses", "GET", "/v1/invoices", params=params).data
            self.pages += 1
            yield from page["data"]
            self.next_cursor = page["next_cursor"]
            if not page.get("has_more"):
                return


@dataclass(frozen=True)
class _Answer:
    status: int
    data: Any
    replayed: bool


# ------------------------------------------------------------------------------------ client
class ScfClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        timeout: float = 10.0,
        max_attempts: int = 5,
        backoff: float = 0.5,
        *,
        backoff_max: float = 30.0,
        max_retry_after: float = 120.0,
        platform: str = "scf",
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not api_key:
            raise FinancingError(f"{platform}: no API key configured", call="configure")
        if max_attempts < 1:
            raise FinancingError(f"{platform}: max_attempts must be at least 1", call="configure")
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        self.platform = platform
        self.session = session or requests.Session()
        self._sleep = sleep
        self._jitter = wait_random_exponential(multiplier=backoff, max=backoff_max)
        self.attempts = 0  # HTTP attempts made, for logs and tests

    def __repr__(self) -> str:
        return f"ScfClient({self.base_url!r}, platform={self.platform!r}, api_key='***')"

    def close(self) -> None:
        self.session.close()

    # ------------------------------------------------------------------------ API calls
    def submit_batch(
        self, invoices: Sequence[PayableInvoice | Mapping[str, Any]], idempotency_key: str
    ) -> BatchResult:
        body = {"invoices": [i.to_json() if isinstance(i, PayableInvoice) else dict(i) for i in invoices]}
        answer = self._request(
            "submit batch", "POST", "/v1/invoice-batches", json_body=body, idempotency_key=idempotency_key
        )
        data = answer.data
        items = tuple(
            BatchItem(
                i["index"], i["id"], i["buyer_reference"], i["invoice_number"], i["status"], i.get("reason")
            )
            for i in data["invoices"]
        )
        return BatchResult(data["id"], data["created_at"], items, answer.replayed)

    def get_invoice(self, invoice_id: str) -> dict[str, Any]:
        return self._request(f"get invoice {invoice_id}", "GET", f"/v1/invoices/{invoice_id}").data

    def list_statuses(
        self, since: datetime | str | None = None, cursor: str | None = None, limit: int = 100
    ) -> StatusListing:
        return StatusListing(self, since, cursor, limit)

    def accept_offer(self, invoice_id: str, idempotency_key: str) -> dict[str, Any]:
        return self._request(
            f"accept offer {invoice_id}",
            "POST",
            f"/v1/invoices/{invoice_id}/accept",
            json_body={},
            idempotency_key=idempotency_key,
        ).data

    def register_webhook(self, url: str, idempotency_key: str) -> dict[str, Any]:
        return self._request(
            "register webhook",
            "POST",
            "/v1/webhooks",
            json_body={"url": url},
            idempotency_key=idempotency_key,
        ).data

    # ------------------------------------------------------------------------ transport
    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            return min(exc.retry_after, self.max_retry_after)
        return float(self._jitter(state))

    def _request(
        self,
        call: str,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> _Answer:
        if method != "GET" and not idempotency_key:
            raise FinancingError(f"{self.platform} {call}: an idempotency key is required", call=call)
        headers = {"Authorization": f"Bearer {self._api_key}", "Accept": "application/json"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key  # the same on every attempt
        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Transient),
            sleep=self._sleep,
            reraise=True,
            before_sleep=lambda rs: log.warning(
                "%s %s: %s; attempt %d of %d failed, retrying",
                self.platform,
                call,
                rs.outcome.exception() if rs.outcome else "",
                rs.attempt_number,
                self.max_attempts,
            ),
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._once(call, method, path, headers, json_body, params)
        except _Transient as exc:
            status = f"HTTP {exc.status}" if exc.status else "no response"
            raise FinancingError(
                f"{self.platform} {call}: gave up after {self.max_attempts} attempt(s), last: {status} "
                f"({exc.reason})",
                call=call,
                status=exc.status,
                code=exc.code,
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(
        self,
        call: str,
        method: str,
        path: str,
        headers: dict[str, str],
        json_body: Any,
        params: Mapping[str, Any] | None,
    ) -> _Answer:
        self.attempts += 1
        try:
            response = self.session.request(
                method,
                self.base_url + path,
                headers=headers,
                json=json_body,
                params=params,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.Timeout:
            raise _Transient(f"no answer within {self.timeout:g}s") from None
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            raise _Transient(f"connection failed or broke mid-response ({type(exc).__name__})") from None
        status = response.status_code
        if status < 300:
            try:
                data = response.json()
            except ValueError:
                raise FinancingError(
                    f"{self.platform} {call}: HTTP {status} with a body that is not JSON",
                    call=call,
                    status=status,
                ) from None
            return _Answer(status, data, response.headers.get("Idempotent-Replayed", "").lower() == "true")
        code, message = _error_fields(response)
        if status in (429, 503):
            raise _Transient(
                message or "throttled", status, code, parse_retry_after(response.headers.get("Retry-After"))
            )
        if status >= 500 or (status == 409 and code == "idempotency_key_in_use"):
            raise _Transient(message or "server error", status, code)
        hint = {
            401: " (check the API key)",
            409: ""
            if code != "idempotency_key_reused"
            else " (the idempotency key was already used for a different request)",
        }.get(status, "")
        raise FinancingError(
            f"{self.platform} {call}: HTTP {status} {code or ''}: {message}{hint}".replace("  ", " "),
            call=call,
            status=status,
            code=code,
        )


# ------------------------------------------------------------------------------------ webhooks
def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


@dataclass(frozen=True)
class WebhookSignature:
    """A parsed ``Scf-Signature`` header: ``t=<unix time>,v1=<hex>[,v1=<hex>...]`` (several v1 while
    the platform rotates its secret)."""

    timestamp: int
    candidates: tuple[str, ...]

    def digest(self, secret: str) -> hmac.HMAC:
        """An HMAC-SHA256 started on ``"<t>."``: feed it the body as it arrives (``update``)."""
        return hmac.new(secret.encode(), f"{self.timestamp}.".encode(), hashlib.sha256)

    def check(self, digest: hmac.HMAC) -> None:
        """Raise unless the finished ``digest`` equals one candidate (constant-time compare)."""
        expected = digest.hexdigest()
        if not any(hmac.compare_digest(expected, c) for c in self.candidates):
            raise WebhookVerificationError("webhook: signature does not match", call="verify webhook")


def read_signature(
    headers: Mapping[str, str], tolerance: float = DEFAULT_TOLERANCE, *, now: float | None = None
) -> WebhookSignature:
    """The delivery's ``Scf-Signature``, once present, well-formed and within ``tolerance`` seconds.
    Needs no body: a receiver calls it before reading one."""
    header = _header(headers, SIGNATURE_HEADER)
    if not header:
        raise WebhookVerificationError(f"webhook: no {SIGNATURE_HEADER} header", call="verify webhook")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        raise WebhookVerificationError(f"webhook: malformed {SIGNATURE_HEADER} header", call="verify webhook")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError(
            f"webhook: timestamp is {abs(current - timestamp):.0f}s away from now (tolerance {tolerance:g}s)",
            call="verify webhook",
        )
    return WebhookSignature(timestamp, tuple(candidates))


def verify_webhook(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    tolerance: float = DEFAULT_TOLERANCE,
    *,
    now: float | None = None,
) -> dict[str, Any]:
    """The delivered event, once its ``Scf-Signature`` (HMAC-SHA256 over ``"<t>.<body>"``) matches
    and its timestamp is within ``tolerance`` seconds. Pass the raw body bytes as received; the body
    is parsed only after the signature matched. Refusing an event id seen before is the caller's job
    (:class:`ReplayGuard`)."""
    signature = read_signature(headers, tolerance, now=now)
    digest = signature.digest(secret)
    digest.update(body)
    signature.check(digest)
    try:
        event = json.loads(body)
    except ValueError:
        raise WebhookVerificationError("webhook: signed body is not JSON", call="verify webhook") from None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        raise WebhookVerificationError("webhook: event has no id", call="verify webhook")
    return event


class ReplayGuard:
    """Remembers event ids (the newest ``max_ids``): ``first_time(id)`` is True once per id."""

    def __init__(self, max_ids: int = 100_000) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._max = max_ids
        self._lock = threading.Lock()

    def first_time(self, event_id: str) -> bool:
        with self._lock:
            if event_id in self._seen:
                self._seen.move_to_end(event_id)
                return False
            self._seen[event_id] = None
            if len(self._seen) > self._max:
                self._seen.popitem(last=False)
            return True
