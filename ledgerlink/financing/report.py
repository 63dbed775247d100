"""Reconciliation of ledgerlink's submissions with the platform, and the financing figures.

``reconciliation`` compares what ledgerlink recorded as sent (outbox entries with the platform's
ids, and the synced ``financing_request`` records) with what the platform holds, read through
its status listing from the beginning. ``figures`` reads the store only.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter, defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from connectors.financing.rest import ScfClient
from ledgerlink.financing.decide import SUBMIT_KIND
from ledgerlink.financing.status import ENTITY, FUNDED_STATUSES, submissions
from ledgerlink.model.money import exact_sum
from ledgerlink.store import Store

ATTEMPT_ACTIONS = ("outbox.sent", "outbox.retry", "outbox.dead")


def platform_invoices(client: ScfClient) -> dict[str, dict[str, Any]]:
    """Every invoice the platform shows this buyer, as of its latest status change."""
    latest: dict[str, dict[str, Any]] = {}
    for change in client.list_statuses(limit=100):
        latest[change["invoice_id"]] = change
    return latest


def reconciliation(store: Store, client: ScfClient) -> dict[str, Any]:
    """Differences between ledgerlink and the platform; ``zero_differences`` when there are none.

    missing_on_platform: sent, but the platform does not show it; unknown_to_ledgerlink: on the
    platform under a reference ledgerlink never used; duplicates: one supplier invoice number more
    than once on the platform; status_mismatches: the synced status differs from the platform's;
    unrecorded_on_platform: the platform holds it, the outbox has not recorded the send yet.
    """
    entries = submissions(store)
    keys = {e.idempotency_key for e in entries}
    sent = [e for e in entries if e.status == "sent" and isinstance(e.response, dict) and e.response.get("platform_id")]
    stored = store.find_records(ENTITY, [e.idempotency_key for e in sent])
    platform = platform_invoices(client)

    missing, mismatches = [], []
    for entry in sent:
        pid = entry.response["platform_id"]
        ref = {"request_id": entry.idempotency_key, "outbox_id": entry.id, "platform_id": pid,
               "invoice_number": entry.payload["invoice_number"], "vendor_id": entry.payload["vendor_id"]}
        if pid not in platform:
            missing.append(ref)
            continue
        ours = (stored.get(entry.idempotency_key) or {}).get("payload", {}).get("status")
        theirs = platform[pid]["status"]
        if ours != theirs:
            mismatches.append({**ref, "ledgerlink_status": ours, "platform_status": theirs})

    unknown = [
        {"platform_id": pid, "invoice_number": inv["invoice_number"], "supplier_id": inv["supplier_id"],
         "status": inv["status"]}
        for pid, inv in sorted(platform.items()) if inv["buyer_reference"] not in keys
    ]
    # Taken by the platform but not recorded as sent (the answer was lost, or the worker died): the
    # next push re-sends with the same key and records the platform's first answer.
    sent_ids = {e.response["platform_id"] for e in sent}
    unsent_keys = {e.idempotency_key: e for e in entries if e.status != "sent"}
    unrecorded = [
        {"platform_id": pid, "invoice_number": inv["invoice_number"], "request_id": inv["buyer_reference"],
         "outbox_id": unsent_keys[inv["buyer_reference"]].id, "outbox_status": unsent_keys[inv["buyer_reference"]].status}
        for pid, inv in sorted(platform.items()) if pid not in sent_ids and inv["buyer_reference"] in unsent_keys
    ]
    copies: dict[tuple[str, str], list[str]] = defaultdict(list)
    for pid, inv in sorted(platform.items()):
        copies[(inv["supplier_id"], inv["invoice_number"])].append(pid)
    duplicates = [
        {"supplier_id": s, "invoice_number": n, "platform_ids": ids}
        for (s, n), ids in sorted(copies.items()) if len(ids) > 1
    ]
    not_sent = _count(e.status for e in entries if e.status != "sent")
    return {
        "zero_differences": not (missing or unknown or duplicates or mismatches or unrecorded),
        "ledgerlink_sent": len(sent),
        "platform_invoices": len(platform),
        "missing_on_platform": missing,
        "unknown_to_ledgerlink": unknown,
        "duplicates": duplicates,
        "status_mismatches": mismatches,
        "unrecorded_on_platform": unrecorded,
        "not_sent": not_sent,
    }


def _count(values: Any) -> dict[str, int]:
    return dict(sorted(Counter(values).items()))


def _seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)]  # nearest rank


def figures(store: Store) -> dict[str, Any]:
    """Processing time decision -> acknowledgement, error rate, dead letters, financed volume (Decimal)."""
    times = [_seconds(d, s) for d, s in store.financing.decided_and_sent_times(SUBMIT_KIND) if d and s]
    attempts_audited = store.audit_entries(None, actions=ATTEMPT_ACTIONS)
    outcome = _count(e["action"] for e in attempts_audited if e["details"].get("kind") == SUBMIT_KIND)
    dead = store.outbox.count_by_status(kind=SUBMIT_KIND).get("dead", 0)
    failed = outcome.get("outbox.retry", 0) + outcome.get("outbox.dead", 0)
    attempts = failed + outcome.get("outbox.sent", 0)

    volume: dict[tuple[str, str], dict[str, Any]] = {}
    for record in store.current_records(ENTITY):
        p = record["payload"]
        if p["status"] not in FUNDED_STATUSES:
            continue
        slot = volume.setdefault((p["vendor_id"], p["currency"]),
                                 {"invoices": 0, "amount": Decimal(0), "funded_amount": Decimal(0)})
        slot["invoices"] += 1
        slot["amount"] = exact_sum((slot["amount"], Decimal(p["amount"])))
        slot["funded_amount"] = exact_sum((slot["funded_amount"], Decimal(p.get("funded_amount") or "0")))
    return {
        "processing_seconds": {
            "invoices": len(times),
            "median": statistics.median(times) if times else None,
            "p95": _p95(times) if times else None,
        },
        "attempts": attempts,
        "failed_attempts": failed,
        "error_rate": (failed / attempts) if attempts else 0.0,
        "dead_letters": int(dead),
        "financed": [
            {"vendor_id": v, "currency": c, **slot} for (v, c), slot in sorted(volume.items())
        ],
    }


def to_json(report: Any) -> str:
    """A report as JSON text; Decimals as exact strings."""
    return json.dumps(report, ensure_ascii=False, indent=2, sort_keys=True,
                      default=lambda o: str(o) if isinstance(o, Decimal) else repr(o))
