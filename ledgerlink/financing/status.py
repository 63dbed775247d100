"""Status sync: the platform's status changes since the stored cursor -> ``financing_request`` records.

Every status an invoice passes through becomes one version of its record (natural key: the
request id, which is the outbox entry's idempotency key and the buyer reference sent to the
platform). All versions of one sync and the new cursor commit in ONE store transaction: a sync
that fails half-way moves nothing, and the next one reads the same changes again.

A status only moves forward in the platform's lifecycle (:data:`LIFECYCLE`, see :func:`moves_forward`),
whatever the timestamps say: a change that would move it back (a late ``uploaded`` after ``funded``)
is ignored and counted in the run's audit entry, here and in the webhook receiver.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from connectors.financing.rest import ScfClient
from ledgerlink.errors import LedgerlinkError
from ledgerlink.financing.decide import SUBMIT_KIND
from ledgerlink.model.entities import validator
from ledgerlink.store import FeedState, OutboxEntry, StagedRecord, Store

log = logging.getLogger("ledgerlink.financing")

ENTITY = "financing_request"
DEFAULT_FEED = "financing_status"
OFFER_STATUSES = frozenset({"offered", "accepted", "funded", "paid"})
FUNDED_STATUSES = frozenset({"funded", "paid"})
# The platform's lifecycle in order; ``rejected`` and ``expired`` end it before funding.
LIFECYCLE = ("pending", "uploaded", "approved", "offered", "accepted", "funded", "paid")
ENDINGS = frozenset({"rejected", "expired"})
FINAL_STATUSES = ENDINGS | {"paid"}


def moves_forward(current: str, new: str) -> bool:
    """Whether ``new`` follows ``current`` in the lifecycle. Nothing leaves a final status (paid,
    rejected, expired); rejected and expired may follow any status before funded; a repeated status
    is no move."""
    if new == current or current in FINAL_STATUSES or current not in LIFECYCLE:
        return False
    if new in ENDINGS:
        return LIFECYCLE.index(current) < LIFECYCLE.index("funded")
    return new in LIFECYCLE and LIFECYCLE.index(new) > LIFECYCLE.index(current)


@dataclass
class SyncResult:
    feed: str
    run_id: str
    changes: int = 0
    invoices: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    unknown: int = 0  # changes of invoices ledgerlink did not submit
    ignored: int = 0  # changes that would have moved a status back in the lifecycle
    cursor: str | None = None
    by_status: dict[str, int] = field(default_factory=dict)  # current records per status

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def submissions(store: Store) -> list[OutboxEntry]:
    """Every ``financing.submit`` outbox entry, oldest first."""
    return store.outbox.entries(kind=SUBMIT_KIND, limit=None)


def request_record(
    entry: OutboxEntry, change: dict[str, Any], invoice: dict[str, Any] | None, platform: str | None = None
) -> dict[str, Any]:
    """The financing_request as it stood at ``change``; ``invoice`` is the platform's invoice, if read."""
    payload = entry.payload
    status = change["status"]
    record: dict[str, Any] = {
        "request_id": entry.idempotency_key,
        "invoice_number": payload["invoice_number"],
        "vendor_id": payload["vendor_id"],
        "platform": platform or payload["platform"],
        "platform_reference": change["invoice_id"],
        "amount": (invoice or {}).get("amount") or payload["amount"],
        "currency": (invoice or {}).get("currency") or payload["currency"],
        "status": status,
        "status_changed_at": change["changed_at"],
    }
    maturity = (invoice or {}).get("due_date") or payload.get("maturity_date")
    if maturity:
        record["maturity_date"] = maturity
    offer = (invoice or {}).get("offer")
    if offer and status in OFFER_STATUSES:
        record["discount_amount"] = offer["discount_amount"]
    if invoice and status in FUNDED_STATUSES and invoice.get("funded_amount") is not None:
        record["funded_amount"] = invoice["funded_amount"]
        if invoice.get("funded_at"):
            record["funded_date"] = invoice["funded_at"][:10]
    errors = sorted(e.message for e in validator(ENTITY).iter_errors(record))
    if errors:
        raise LedgerlinkError(f"financing request {entry.idempotency_key[:16]} ({status}) is invalid: {errors[0]}")
    return record


def status_summary(store: Store) -> dict[str, int]:
    return dict(sorted(Counter(r["payload"]["status"] for r in store.current_records(ENTITY)).items()))


def sync_statuses(
    store: Store, client: ScfClient, feed: str = DEFAULT_FEED, *, actor: str = "ledgerlink", page_size: int = 100
) -> SyncResult:
    """Read the status changes after the stored cursor and store them with the new cursor."""
    state = store.get_feed_state(feed)
    run_id = store.start_run(feed, ENTITY, source={"platform": client.platform, "cursor": state.cursor})
    result = SyncResult(feed=feed, run_id=run_id)
    try:
        listing = client.list_statuses(cursor=state.cursor, limit=page_size)
        changes = list(listing)
        result.changes, result.cursor = len(changes), listing.next_cursor
        entries = submissions(store)
        by_platform_id = {
            e.response["platform_id"]: e for e in entries if isinstance(e.response, dict) and e.response.get("platform_id")
        }
        by_key = {e.idempotency_key: e for e in entries}
        per_invoice: dict[str, list[dict[str, Any]]] = {}
        owners: dict[str, OutboxEntry] = {}
        for change in changes:
            entry = by_platform_id.get(change["invoice_id"]) or by_key.get(change["buyer_reference"])
            if entry is None:
                result.unknown += 1
                continue
            owners[change["invoice_id"]] = entry
            per_invoice.setdefault(change["invoice_id"], []).append(change)
        invoices = {invoice_id: client.get_invoice(invoice_id) for invoice_id in per_invoice}
        result.invoices = len(per_invoice)
        new_state = FeedState(cursor=listing.next_cursor)
        with store.unit_of_work() as work:
            stored = work.find_records(ENTITY, {e.idempotency_key for e in owners.values()})
            # Round n holds each invoice's n-th kept change, so each status becomes its own version, in order.
            rounds: list[list[StagedRecord]] = []
            for invoice_id, its_changes in per_invoice.items():
                entry = owners[invoice_id]
                head = stored.get(entry.idempotency_key)
                status = head["payload"]["status"] if head else None
                n = 0
                for change in its_changes:
                    if status is not None and change["status"] != status and not moves_forward(status, change["status"]):
                        log.info("financing status %s: %s after %s ignored (would move back in the lifecycle)",
                                 entry.idempotency_key[:16], change["status"], status)
                        result.ignored += 1
                        continue
                    status = change["status"]
                    record = request_record(entry, change, invoices.get(invoice_id))
                    lineage = {"platform": client.platform, "change_id": change["change_id"], "invoice_id": invoice_id}
                    while len(rounds) <= n:
                        rounds.append([])
                    rounds[n].append(StagedRecord.build(entry.idempotency_key, record, lineage))
                    n += 1
            for batch in rounds:
                inserted, updated, unchanged = work.write_versions(run_id, ENTITY, batch)
                result.inserted += inserted
                result.updated += updated
                result.unchanged += unchanged
            work.put_feed_state(feed, new_state, run_id)
            work.audit(
                "load", f"run:{run_id}",
                {"feed": feed, "entity": ENTITY, "changes": result.changes, "invoices": result.invoices,
                 "inserted": result.inserted, "updated": result.updated, "unchanged": result.unchanged,
                 "unknown": result.unknown, "ignored": result.ignored, "cursor": new_state.cursor},
                actor=actor,
            )
    except Exception as exc:
        store.finish_run(run_id, "failed", error=f"{type(exc).__name__}: {exc}", actor=actor)
        raise
    result.by_status = status_summary(store)
    store.finish_run(run_id, "succeeded", actor=actor, totals={
        "read": {"count": result.changes}, "loaded": {"count": result.inserted + result.updated},
        "unchanged": {"count": result.unchanged}, "unknown": {"count": result.unknown},
        "ignored": {"count": result.ignored},
    })
    log.info("financing status sync %s: %d change(s) of %d invoice(s), %d new version(s), %d unknown; now %s",
             feed, result.changes, result.invoices, result.inserted + result.updated, result.unknown, result.by_status)
    return result
