"""Deciding which invoices to finance, and enqueueing their submission in the same transaction."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ledgerlink.errors import LedgerlinkError, StoreError
from ledgerlink.financing.rules import Context, Decision, Rules, evaluate, load_rules
from ledgerlink.model.entities import schema_messages
from ledgerlink.model.money import format_amount
from ledgerlink.store import NewDecision, OutboxRequest, Store, Submission, encode_checks

SUBMIT_KIND = "financing.submit"
DEFAULT_ACTOR = "ledgerlink"


def idempotency_key(natural_key: str, content_hash: str) -> str:
    """The submission's key: the same invoice content always gives the same key (64 hex digits)."""
    return hashlib.sha256(f"{natural_key}\n{content_hash}".encode()).hexdigest()


def submission_payload(key: str, invoice: Mapping[str, Any], rules: Rules) -> dict[str, Any]:
    """The financing request sent to the platform (schemas/financing_request.schema.json)."""
    request = {
        "request_id": key,
        "invoice_number": invoice["invoice_number"],
        "vendor_id": invoice["vendor_id"],
        "platform": rules.platform,
        "amount": format_amount(Decimal(str(invoice["amount_incl_tax"]))),
        "currency": invoice["currency"],
        "status": "pending",
    }
    if invoice.get("due_date"):
        request["maturity_date"] = str(invoice["due_date"])
    errors = schema_messages("financing_request", request)
    if errors:
        raise LedgerlinkError(f"financing request for invoice {invoice['invoice_number']} is invalid: {errors[0]}")
    return request


@dataclass
class DecideResult:
    run_id: str
    decided: int = 0
    eligible: int = 0
    enqueued: int = 0  # new outbox entries (an entry already there is not counted)
    by_rule: Counter = field(default_factory=Counter)
    decisions: list[dict[str, Any]] = field(default_factory=list)


def _describe_submission(found: Submission) -> str:
    return (
        f"outbox entry {found.outbox_id} ({found.outbox_status}), "
        f"decided by run {found.run_id} at {found.decided_at}"
    )


def vendors_by_id(store: Store) -> dict[str, dict[str, Any]]:
    return {r["payload"].get("vendor_id"): r["payload"] for r in store.current_records("vendor")}


def decide_and_enqueue(
    store: Store,
    invoices: Iterable[Mapping[str, Any]] | None,
    today: dt.date,
    run_id: str,
    *,
    rules: Rules | None = None,
    actor: str = DEFAULT_ACTOR,
) -> DecideResult:
    """Decide every invoice record and enqueue a ``financing.submit`` for each eligible one.

    ``invoices`` are store records (``natural_key``, ``content_hash``, ``payload``), or None for
    every current payable invoice. All decisions, their outbox entries and one summary audit
    entry commit in ONE transaction: a submission exists only with the decision that caused it.
    """
    rules = rules or load_rules()
    if invoices is None:
        invoices = [r for r in store.current_payloads("invoice") if r["payload"].get("direction") == "payable"]
    batch: dict[str, Mapping[str, Any]] = {}
    for record in invoices:
        batch.setdefault(record["natural_key"], record)
    vendors = vendors_by_id(store)
    result = DecideResult(run_id=run_id)
    with store.unit_of_work() as work:
        work.financing.lock_decisions()
        submitted = work.financing.submissions(sorted(batch))
        decisions = []
        for key, record in batch.items():
            invoice = record["payload"]
            earlier = submitted.get(key)
            described = _describe_submission(earlier) if earlier else None
            context = Context(today=today, rules=rules, submitted=described)
            decision = evaluate(invoice, vendors.get(invoice.get("vendor_id")), context)
            submission = None
            if decision.eligible:
                ikey = idempotency_key(key, record["content_hash"])
                submission = OutboxRequest(SUBMIT_KIND, ikey, submission_payload(ikey, invoice, rules))
                result.eligible += 1
            result.by_rule[decision.rule] += 1
            decisions.append(_new_decision(key, record["content_hash"], decision, rules, run_id, submission))
        recorded = work.financing.record_decisions(decisions, actor=actor)
        result.decided = len(recorded.rows)
        result.decisions = recorded.rows
        result.enqueued = recorded.enqueued
        work.audit(
            "financing.decide",
            f"run:{run_id}",
            {
                "rules_revision": rules.revision,
                "rules_sha256": rules.sha256,
                "today": today.isoformat(),
                "decided": result.decided,
                "eligible": result.eligible,
                "enqueued": result.enqueued,
                "by_rule": dict(sorted(result.by_rule.items())),
            },
            actor=actor,
        )
    return result


def _new_decision(
    key: str, content_hash: str, decision: Decision, rules: Rules, run_id: str, submission: OutboxRequest | None
) -> NewDecision:
    return NewDecision(
        invoice_key=key,
        invoice_hash=content_hash,
        decision="eligible" if decision.eligible else "ineligible",
        rule=decision.rule,
        reason=decision.reason,
        checks=encode_checks(decision.to_json()["checks"]),  # as text: thousands of decisions are held at once
        rules_version=rules.revision,
        rules_hash=rules.sha256,
        run_id=run_id,
        submission=submission,
    )


def stored_decisions(store: Store, invoice_key: str, limit: int = 20) -> list[dict[str, Any]]:
    """Decisions of one invoice, newest first, with their checks parsed."""
    return store.financing.decisions_of(invoice_key, limit)


@dataclass(frozen=True)
class Explanation:
    invoice: dict[str, Any]  # the invoice record
    vendor: dict[str, Any] | None
    decision: Decision
    rules: Rules
    today: dt.date
    stored: list[dict[str, Any]]  # earlier decisions, newest first


def find_invoices(store: Store, invoice_number: str, vendor_id: str | None = None) -> list[dict[str, Any]]:
    return [
        r
        for r in store.current_records("invoice")
        if r["payload"].get("invoice_number") == invoice_number
        and (vendor_id is None or r["payload"].get("vendor_id") == vendor_id)
    ]


def explain(
    store: Store,
    invoice_number: str,
    *,
    vendor_id: str | None = None,
    today: dt.date,
    rules: Rules | None = None,
) -> Explanation:
    """Evaluate one stored invoice now, without storing anything, next to its stored decisions."""
    rules = rules or load_rules()
    found = find_invoices(store, invoice_number, vendor_id)
    if not found:
        where = f" of vendor {vendor_id}" if vendor_id else ""
        raise StoreError(f"no invoice {invoice_number}{where} in the store")
    if len(found) > 1:
        vendors = ", ".join(sorted(str(r["payload"].get("vendor_id")) for r in found))
        raise StoreError(f"invoice number {invoice_number} exists for several vendors ({vendors}); pass --vendor")
    record = found[0]
    invoice = record["payload"]
    vendor = vendors_by_id(store).get(invoice.get("vendor_id"))
    earlier = store.financing.submissions([record["natural_key"]]).get(record["natural_key"])
    context = Context(today=today, rules=rules, submitted=_describe_submission(earlier) if earlier else None)
    decision = evaluate(invoice, vendor, context)
    return Explanation(record, vendor, decision, rules, today, stored_decisions(store, record["natural_key"]))
