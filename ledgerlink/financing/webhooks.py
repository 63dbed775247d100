"""Receiving the financing platform's signed webhooks: status changes -> ``financing_request`` versions.

``receive`` checks the ``Scf-Signature`` (HMAC-SHA256 over ``"<t>.<body>"``, timestamp within five
minutes), refuses an event id it has already accepted, and stores the invoice's new status as a
version of its ``financing_request`` record (natural key: the request id, which is the buyer
reference sent to the platform and the outbox entry's idempotency key). The event itself is kept as
a ``financing_event`` record keyed by its id, so de-duplication survives restarts and needs no table
of its own. Event, record version, run and audit entry commit in ONE transaction.

Outcomes: ``accepted`` (stored, or deliberately not: an unknown request, a status that would move
back in the lifecycle, an event older than the stored one with the same status, another event type),
``duplicate`` (seen before: nothing written) and ``refused`` (not authentic, too old, too large, or
unusable: nothing written). The platform retries anything but a 2xx, so only a refusal answers 4xx.

An HTTP receiver reads a delivery with :func:`read_delivery` before handing it to ``receive``: a
declared ``Content-Length`` over the cap is refused (413) before any byte of the body is read, an
absent, malformed or stale signature header (401/400) too, and the body is streamed into the HMAC
and refused as soon as it passes the cap (``LEDGERLINK_SCF_WEBHOOK_MAX_BYTES``, default 256 KiB), so
memory stays bounded whatever is sent. JSON is parsed only once the signature matched.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

from connectors.financing.rest import (
    DEFAULT_TOLERANCE,
    WebhookVerificationError,
    read_signature,
    to_financing_request,
    verify_webhook,
)
from ledgerlink.errors import ConfigError
from ledgerlink.financing.status import moves_forward
from ledgerlink.model.entities import validator
from ledgerlink.store import StagedRecord, Store

log = logging.getLogger("ledgerlink.financing")

ENTITY = "financing_request"
EVENT_ENTITY = "financing_event"
FEED = "financing_webhooks"
STATUS_EVENT = "invoice.status_changed"
DEFAULT_PLATFORM = "scf"
DEFAULT_ACTOR = "ledgerlink"
MAX_BODY_ENV = "LEDGERLINK_SCF_WEBHOOK_MAX_BYTES"
DEFAULT_MAX_BODY = 256 * 1024  # a status event is a few KB

Outcome = Literal["accepted", "duplicate", "refused"]


@dataclass(frozen=True)
class WebhookResult:
    outcome: Outcome
    reason: str
    http_status: int
    event_id: str | None = None
    request_id: str | None = None
    status: str | None = None  # the invoice status the event carries
    stored: bool = False  # a new financing_request version was written
    run_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _refused(reason: str, http_status: int, event_id: str | None = None) -> WebhookResult:
    log.warning("financing webhook refused%s: %s", f" ({event_id})" if event_id else "", reason)
    return WebhookResult("refused", reason, http_status, event_id=event_id)


def _verification_status(message: str) -> int:
    # No header, a malformed one or a signature that does not match: not authenticated. A stale
    # timestamp or an unusable signed body: a bad request.
    unsigned = ("signature does not match", "no Scf-Signature", "malformed Scf-Signature")
    return 401 if any(text in message for text in unsigned) else 400


def max_body_bytes() -> int:
    """The cap on a delivery's body: ``LEDGERLINK_SCF_WEBHOOK_MAX_BYTES``, else 256 KiB."""
    raw = os.environ.get(MAX_BODY_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_BODY
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{MAX_BODY_ENV}={raw!r}: expected a positive whole number of bytes")
    return int(raw)


async def read_delivery(
    secret: str,
    headers: Mapping[str, str],
    chunks: AsyncIterable[bytes],
    *,
    limit: int,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bytes | WebhookResult:
    """The body of a delivery whose signature matches, read no further than needed; else the refusal.

    Checks, in order: the declared Content-Length against ``limit`` (413), the signature header
    (present, well-formed, timestamp within ``tolerance``: 401/400), then the body as it streams in
    (413 as soon as it passes ``limit``; 401 when the HMAC does not match). Nothing is parsed here.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    declared = lowered.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            return _refused(f"webhook: Content-Length {declared[:20]!r} is not a number", 400)
        if int(declared) > limit:
            return _refused(f"webhook: body of {int(declared)} bytes is over the limit of {limit} bytes", 413)
    try:
        signature = read_signature(lowered, tolerance, now=now)
    except WebhookVerificationError as exc:
        return _refused(str(exc), _verification_status(str(exc)))
    digest = signature.digest(secret)
    body = bytearray()
    async for chunk in chunks:
        if len(body) + len(chunk) > limit:
            return _refused(f"webhook: body is over the limit of {limit} bytes", 413)
        digest.update(chunk)
        body += chunk
    try:
        signature.check(digest)
    except WebhookVerificationError as exc:
        return _refused(str(exc), 401)
    return bytes(body)


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _newer_stored(current: Mapping[str, Any] | None, record: Mapping[str, Any]) -> bool:
    """The stored version reflects a later change than this event (a late retry arrived out of order)."""
    if current is None:
        return False
    stored_at = _parse_time(current["payload"].get("status_changed_at"))
    event_at = _parse_time(record.get("status_changed_at"))
    return stored_at is not None and event_at is not None and stored_at > event_at


def receive(
    store: Store,
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | datetime | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    platform: str | None = None,
    actor: str = DEFAULT_ACTOR,
) -> WebhookResult:
    """Verify one delivery (``body``: the raw bytes as received) and store what it says.

    ``platform`` names the platform in new records when the outbox entry does not (it usually does).
    """
    if not secret:
        raise ConfigError("no webhook secret configured for the financing platform")
    moment = now.timestamp() if isinstance(now, datetime) else now
    try:
        event = verify_webhook(secret, headers, body, tolerance, now=moment)
    except WebhookVerificationError as exc:
        return _refused(str(exc), _verification_status(str(exc)))
    event_id: str = event["id"]
    event_type = event.get("type")
    data: dict[str, Any] = event["data"] if isinstance(event.get("data"), dict) else {}
    invoice: dict[str, Any] | None = data["invoice"] if isinstance(data.get("invoice"), dict) else None

    record: dict[str, Any] | None = None
    request_id: str | None = None
    if event_type == STATUS_EVENT:
        if invoice is None or not invoice.get("buyer_reference"):
            return _refused("webhook: status event without an invoice or its buyer reference", 422, event_id)
        request_id = str(invoice["buyer_reference"])
        try:
            record = to_financing_request(invoice, request_id, platform or DEFAULT_PLATFORM)
        except (KeyError, TypeError) as exc:
            return _refused(f"webhook: status event lacks invoice field {exc}", 422, event_id)
    status = record["status"] if record else None

    with store.unit_of_work() as work:
        # Serialises receipts on PostgreSQL (SQLite's BEGIN IMMEDIATE already does), so two
        # deliveries of one event cannot both pass the check below.
        work.lock_entity(EVENT_ENTITY)
        if work.record_exists(EVENT_ENTITY, event_id):
            log.info("financing webhook %s: duplicate delivery, nothing stored", event_id)
            return WebhookResult("duplicate", "event already received", 200, event_id, request_id, status)

        reason, store_record = "stored", False
        if record is None:
            reason = f"event type {event_type!r} is not handled; recorded only"
        else:
            entry = work.outbox.get_by_key(request_id or "")
            current = work.find_records(ENTITY, [request_id or ""]).get(request_id or "")
            if entry is None and current is None:
                reason = "no financing request with this buyer reference; recorded only"
            else:
                if platform is None:
                    known = entry.payload if entry is not None and isinstance(entry.payload, dict) else None
                    known = known or (current or {}).get("payload") or {}
                    record["platform"] = known.get("platform") or record["platform"]
                errors = sorted(e.message for e in validator(ENTITY).iter_errors(record))
                if errors:
                    return _refused(f"webhook: the financing request it describes is invalid: {errors[0]}",
                                    422, event_id)
                was = (current or {}).get("payload", {}).get("status")
                if was is not None and status != was and not moves_forward(was, str(status)):
                    # The lifecycle decides, not the timestamps: a late 'uploaded' never undoes 'funded'.
                    reason = f"ignored: {status} after {was} would move the status back in the lifecycle"
                elif status == was and _newer_stored(current, record):
                    reason = "older than the stored status; recorded only"
                else:
                    store_record = True

        run_id = work.start_run(FEED, ENTITY, source={"event_id": event_id, "type": event_type})
        lineage = {"event_id": event_id, "invoice_id": (invoice or {}).get("id")}
        work.write_versions(run_id, EVENT_ENTITY, [StagedRecord.build(event_id, {
            "event_id": event_id,
            "type": event_type,
            "created": event.get("created"),
            "request_id": request_id,
            "invoice_id": (invoice or {}).get("id"),
            "status": status,
            "previous_status": data.get("previous_status"),
            "outcome": reason,
        }, lineage)])
        inserted = updated = 0
        if store_record and record is not None and request_id:
            inserted, updated, _ = work.write_versions(
                run_id, ENTITY, [StagedRecord.build(request_id, record, lineage)]
            )
        stored = bool(inserted or updated)
        work.audit("financing.webhook", f"run:{run_id}", {
            "event_id": event_id, "type": event_type, "request_id": request_id, "status": status,
            "stored": stored, "reason": reason, "ignored": reason.startswith("ignored"),
        }, actor=actor)
        work.finish_run(run_id, "succeeded", totals={
            "read": {"count": 1}, "loaded": {"count": int(stored)}, "unchanged": {"count": int(not stored)},
        })
    log.info("financing webhook %s: %s %s -> %s", event_id, (request_id or "")[:16], status, reason)
    return WebhookResult("accepted", reason, 200, event_id, request_id, status, stored, run_id)


__all__ = ["DEFAULT_MAX_BODY", "ENTITY", "EVENT_ENTITY", "FEED", "MAX_BODY_ENV", "WebhookResult", "max_body_bytes",
           "read_delivery", "receive"]
