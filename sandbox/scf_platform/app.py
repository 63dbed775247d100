"""The platform's HTTP API (FastAPI). Routes are thin: the work is in ``state`` and ``webhooks``."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .faults import Fault
from .middleware import GatewayMiddleware, error_body
from .state import Party, PlatformError, _iso

if TYPE_CHECKING:
    from .server import ScfPlatform

API_VERSION = "1.0.0"
MONEY = r"^-?\d+(\.\d{1,3})?$"
DATE = r"^\d{4}-\d{2}-\d{2}$"

bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer <key>`")
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Client-chosen key; a retry of the same request must send the same key",
    ),
]


def _caller(request: Request) -> Party:
    return request.state.party  # set by the gateway middleware


Caller = Annotated[Party, Depends(_caller)]


# ------------------------------------------------------------------------------------ models
class InvoiceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    buyer_reference: str = Field(min_length=1, max_length=64, description="The buyer's own reference")
    supplier_id: str = Field(min_length=1, max_length=64)
    invoice_number: str = Field(min_length=1, max_length=64)
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")
    amount: str = Field(pattern=MONEY, description="Decimal string, e.g. '1234.50'")
    due_date: str = Field(pattern=DATE)
    iban: str = Field(min_length=5, max_length=42, description="The supplier's IBAN")


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    invoices: list[InvoiceIn] = Field(min_length=1, max_length=500)


class BatchItemOut(BaseModel):
    index: int
    id: str
    buyer_reference: str
    invoice_number: str
    status: Literal["uploaded", "rejected"]
    reason: str | None = None


class BatchOut(BaseModel):
    id: str
    created_at: str
    invoices: list[BatchItemOut]


class OfferOut(BaseModel):
    annual_rate: str
    days: int
    discount_rate: str
    discount_amount: str
    offered_amount: str
    offered_at: str
    expires_at: str


class HistoryOut(BaseModel):
    change_id: str
    status: str
    at: str
    reason: str | None = None


class InvoiceOut(BaseModel):
    id: str
    batch_id: str
    buyer_reference: str
    supplier_id: str
    invoice_number: str
    currency: str
    amount: str
    due_date: str
    iban: str
    status: Literal["uploaded", "approved", "offered", "accepted", "funded", "paid", "rejected", "expired"]
    status_reason: str | None = None
    created_at: str
    updated_at: str
    offer: OfferOut | None = None
    funded_amount: str | None = None
    funded_at: str | None = None
    paid_at: str | None = None
    history: list[HistoryOut]


class StatusChangeOut(BaseModel):
    change_id: str
    invoice_id: str
    buyer_reference: str
    supplier_id: str
    invoice_number: str
    status: str
    previous_status: str | None = None
    changed_at: str
    reason: str | None = None


class StatusListOut(BaseModel):
    data: list[StatusChangeOut]
    next_cursor: str = Field(description="Opaque; pass it back to continue after the last item")
    has_more: bool


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(pattern=r"^https?://", max_length=2000)


class WebhookOut(BaseModel):
    id: str
    url: str
    secret: str = Field(description="Signing secret for Scf-Signature; shown only here")
    created_at: str


class ErrorDetail(BaseModel):
    type: str
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorDetail


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 422, 429, 500)
}


# ------------------------------------------------------------------------------------ cursor
def encode_cursor(seq: int, since: datetime | None) -> str:
    raw = json.dumps({"s": seq, "u": _iso(since) if since else None}, separators=(",", ":")).encode()
    return "c1_" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, datetime | None]:
    try:
        if not cursor.startswith("c1_"):
            raise ValueError
        data = cursor[3:]
        raw = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
        seq = int(raw["s"])
        since = datetime.fromisoformat(raw["u"]) if raw["u"] else None
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise PlatformError(400, "invalid_cursor", "cursor is not one this API returned") from None
    return seq, since


def parse_since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise PlatformError(
            400, "invalid_parameter", f"updated_since {text!r} is not an ISO 8601 time"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class SimFaultIn(BaseModel):
    kind: Literal["error", "throttle", "delay", "lose_response", "rate_limit"]
    count: int = 1
    status: int | None = None
    retry_after: str | None = None
    seconds: float = 0.0
    phase: Literal["before", "processing"] = "before"
    mode: Literal["drop", "502"] = "drop"
    method: str | None = None
    path: str = "/v1/"
    per_second: int | None = None


class SimAdvanceIn(BaseModel):
    days: float = 0
    hours: float = 0
    minutes: float = 0


# ------------------------------------------------------------------------------------ app
def create_app(platform: ScfPlatform) -> FastAPI:
    app = FastAPI(
        title="SCF platform sandbox",
        version=API_VERSION,
        description="A supply-chain-finance platform simulator: invoice batches, offers, funding, webhooks.",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    state = platform.state

    auth = [Depends(bearer)]

    @app.exception_handler(PlatformError)
    async def _platform_error(request: Request, exc: PlatformError) -> JSONResponse:
        return JSONResponse(json.loads(error_body(exc.status, exc.code, exc.message)), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = f"{where}: {first.get('msg', 'invalid request')}"
        return JSONResponse(json.loads(error_body(422, "invalid_request", message)), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "not_found" if exc.status_code == 404 else "http_error"
        return JSONResponse(
            json.loads(error_body(exc.status_code, code, str(exc.detail))), status_code=exc.status_code
        )

    @app.post(
        "/v1/invoice-batches",
        status_code=201,
        response_model=BatchOut,
        responses=ERRORS,
        dependencies=auth,
        tags=["invoices"],
        summary="Upload a batch of payable invoices",
    )
    def submit_batch(batch: BatchIn, caller: Caller, idempotency_key: IdempotencyKey) -> dict[str, Any]:
        batch_id, results = state.submit_batch(caller, [i.model_dump() for i in batch.invoices])
        return {"id": batch_id, "created_at": _iso(platform.clock.now()), "invoices": results}

    @app.get(
        "/v1/invoices/{invoice_id}",
        response_model=InvoiceOut,
        responses=ERRORS,
        dependencies=auth,
        tags=["invoices"],
        summary="One invoice with its offer and status history",
    )
    def get_invoice(invoice_id: str, caller: Caller) -> dict[str, Any]:
        return state.get_invoice(caller, invoice_id).to_json()

    @app.get(
        "/v1/invoices",
        response_model=StatusListOut,
        responses=ERRORS,
        dependencies=auth,
        tags=["invoices"],
        summary="Status changes in order, paged with an opaque cursor",
    )
    def list_statuses(
        caller: Caller,
        updated_since: Annotated[str | None, Query(description="ISO 8601; changes at or after it")] = None,
        cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
    ) -> dict[str, Any]:
        if caller.kind != "buyer":
            raise PlatformError(403, "forbidden", "the status listing is for the buyer's API key")
        since = parse_since(updated_since)
        after = 0
        if cursor is not None:
            after, cursor_since = decode_cursor(cursor)
            if since is not None and cursor_since != since:
                raise PlatformError(400, "cursor_mismatch", "updated_since differs from the cursor's query")
            since = cursor_since
        items, last, has_more = state.list_changes(caller, since, after, limit)
        return {
            "data": [
                {
                    "change_id": c.change_id,
                    "invoice_id": inv.id,
                    "buyer_reference": inv.buyer_reference,
                    "supplier_id": inv.supplier_id,
                    "invoice_number": inv.invoice_number,
                    "status": c.status,
                    "previous_status": c.previous_status,
                    "changed_at": _iso(c.at),
                    "reason": c.reason,
                }
                for c, inv in items
            ],
            "next_cursor": encode_cursor(last, since),
            "has_more": has_more,
        }

    @app.post(
        "/v1/invoices/{invoice_id}/accept",
        response_model=InvoiceOut,
        responses=ERRORS,
        dependencies=auth,
        tags=["invoices"],
        summary="The supplier accepts the offer",
    )
    def accept_offer(invoice_id: str, caller: Caller, idempotency_key: IdempotencyKey) -> dict[str, Any]:
        return state.accept(caller, invoice_id).to_json()

    @app.post(
        "/v1/webhooks",
        status_code=201,
        response_model=WebhookOut,
        responses=ERRORS,
        dependencies=auth,
        tags=["webhooks"],
        summary="Register a URL for status-change events",
    )
    def register_webhook(body: WebhookIn, caller: Caller, idempotency_key: IdempotencyKey) -> dict[str, Any]:
        endpoint = platform.webhooks.register(caller.id, body.url)
        return {
            "id": endpoint.id,
            "url": endpoint.url,
            "secret": endpoint.secret,
            "created_at": _iso(endpoint.created_at),
        }

    # ------------------------------------------------ simulator control (not part of the API)
    @app.post("/_sim/faults", include_in_schema=False, status_code=204)
    def sim_fault(body: SimFaultIn) -> None:
        if body.kind == "rate_limit":
            platform.faults.rate_limit(body.per_second)
            return
        fields = body.model_dump(exclude={"kind", "per_second"})
        platform.faults.add(Fault(body.kind, **fields))

    @app.delete("/_sim/faults", include_in_schema=False, status_code=204)
    def sim_clear_faults() -> None:
        platform.faults.clear()

    @app.post("/_sim/clock/advance", include_in_schema=False)
    def sim_advance(body: SimAdvanceIn) -> dict[str, str]:
        now = platform.clock.advance(days=body.days, hours=body.hours, minutes=body.minutes)
        return {"now": _iso(now)}

    app.add_middleware(GatewayMiddleware, platform=platform)
    return app
