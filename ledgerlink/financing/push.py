"""Sending ``financing.submit`` outbox entries to the financing platform, one batch per call.

A batch's ``Idempotency-Key`` is derived from the sorted idempotency keys of its entries, and the
batch (its key and entry ids) is written into the entries before the first send. An entry claimed
again (after a failure, or a worker that died before recording the answer) is re-sent within
exactly that batch, with the same body and key, so the platform answers from its idempotency
record instead of taking the invoices a second time.

Outcomes: an answer marks each entry sent with the platform's ids; no answer (connection error,
timeout, lost response), 5xx, 429 and a key still in use are retried per the outbox's backoff;
any other 4xx, or an invoice that cannot be turned into a platform request, is a dead letter.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.financing.rest import FinancingError, PayableInvoice, ScfClient
from ledgerlink.connections import get_connection
from ledgerlink.errors import LedgerlinkError
from ledgerlink.financing.decide import SUBMIT_KIND
from ledgerlink.store import Outbox, OutboxEntry, Store

log = logging.getLogger("ledgerlink.financing")

DEFAULT_ACTOR = "ledgerlink"
PLATFORM_CONN_ID = "ledgerlink_scf"
MAX_BATCH = 500  # the platform's batch size limit


@dataclass
class PushResult:
    claimed: int = 0
    batches: int = 0
    sent: int = 0  # entries recorded as sent (the platform took them, uploaded or rejected)
    rejected: int = 0  # of those, refused by the platform's upload checks
    replayed: int = 0  # of those, answered from the platform's idempotency record
    retry: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def batch_key(entry_keys: list[str]) -> str:
    """The batch's idempotency key: the same entries always give the same key."""
    return hashlib.sha256("\n".join(sorted(entry_keys)).encode()).hexdigest()


def _batch_of(entry: OutboxEntry) -> dict[str, Any] | None:
    response = entry.response
    if isinstance(response, dict) and isinstance(response.get("batch"), dict):
        return response["batch"]
    return None


def vendor_ibans(store: Store) -> dict[str, str]:
    """vendor_id -> the IBAN of the vendor master's first bank account. ERPs often keep the payee's
    IBAN on the vendor only; the vendor's approval was checked when the invoice was decided."""
    ibans = {}
    for record in store.current_records("vendor"):
        vendor = record["payload"]
        iban = next((a["iban"] for a in vendor.get("bank_accounts") or [] if a.get("iban")), None)
        if vendor.get("vendor_id") and iban:
            ibans[vendor["vendor_id"]] = iban
    return ibans


def platform_invoice(entry: OutboxEntry, invoice: Mapping[str, Any] | None,
                     ibans: Mapping[str, str] | None = None) -> dict[str, str]:
    """The platform's form of one entry; the buyer reference is the request id (the entry's key).
    An invoice without a payee IBAN takes its vendor's from ``ibans`` (see ``vendor_ibans``)."""
    if invoice is None:
        raise FinancingError(f"outbox entry {entry.id}: the decided invoice is not in the store", call="prepare")
    vendor_iban = (ibans or {}).get(invoice.get("vendor_id", ""))
    if not invoice.get("vendor_iban") and vendor_iban:
        invoice = {**invoice, "vendor_iban": vendor_iban}
    try:
        return PayableInvoice.from_canonical(invoice, entry.idempotency_key).to_json()
    except FinancingError:
        raise
    except (LedgerlinkError, ValueError, KeyError, ArithmeticError) as exc:
        raise FinancingError(f"outbox entry {entry.id}: invoice {invoice.get('invoice_number')!r} cannot be "
                             f"sent: {exc}", call="prepare") from None


def _classify(exc: FinancingError) -> str:
    """'connection' (nothing came back), 'retry' (worth another attempt later) or 'dead'."""
    status = exc.status
    if status is None:
        return "connection"
    if status < 300 or status >= 500 or status == 429 or (status == 409 and exc.code == "idempotency_key_in_use"):
        return "retry"
    return "dead"


def send_pending(
    store: Store,
    client: ScfClient,
    worker: str,
    limit: int = 100,
    *,
    box: Outbox | None = None,
    lease_seconds: float = 300.0,
    actor: str = DEFAULT_ACTOR,
) -> PushResult:
    """Claim up to ``limit`` due ``financing.submit`` entries and send them; returns the counts."""
    box = box or Outbox(store)
    result = PushResult()
    claimed = box.claim(worker, min(limit, MAX_BATCH), lease_seconds, kinds=[SUBMIT_KIND], actor=actor)
    result.claimed = len(claimed)
    if not claimed:
        return result

    # Entries sent before belong to their recorded batch; the rest form one new batch.
    groups: dict[str, tuple[list[int], list[OutboxEntry]]] = {}
    fresh: list[OutboxEntry] = []
    for entry in claimed:
        batch = _batch_of(entry)
        if batch is None:
            fresh.append(entry)
        else:
            groups.setdefault(batch["key"], (list(batch["entries"]), []))[1].append(entry)

    bodies: dict[int, dict[str, str]] = {}
    if fresh:
        ibans, invoices = vendor_ibans(store), store.financing.decided_invoices([e.id for e in fresh])
        refused: list[tuple[int, str]] = []
        for entry in fresh:
            try:
                bodies[entry.id] = platform_invoice(entry, invoices.get(entry.id), ibans)
            except FinancingError as exc:
                refused.append((entry.id, str(exc)))
        if refused:
            box.mark_dead_many(refused, worker=worker, actor=actor)
            result.errors.extend(error for _, error in refused)
            result.dead += len(refused)
    fresh = [e for e in fresh if e.id in bodies]
    if fresh:
        key = batch_key([e.idempotency_key for e in fresh])
        ids = [e.id for e in sorted(fresh, key=lambda e: e.idempotency_key)]
        store.financing.record_batch(key, ids, worker=worker, actor=actor)
        groups[key] = (ids, fresh)

    for key, (member_ids, mine) in groups.items():
        result.batches += 1
        _send_batch(store, client, box, key, member_ids, mine, bodies, worker, actor, result)
    log.info("financing push by %s: %s", worker, result.as_dict())
    return result


def _send_batch(
    store: Store,
    client: ScfClient,
    box: Outbox,
    key: str,
    member_ids: list[int],
    mine: list[OutboxEntry],
    bodies: dict[int, dict[str, str]],
    worker: str,
    actor: str,
    result: PushResult,
) -> None:
    members = sorted(store.outbox.get_many(member_ids), key=lambda e: e.idempotency_key)
    missing = [m.id for m in members if m.id not in bodies]
    try:
        invoices = store.financing.decided_invoices(missing) if missing else {}
        ibans = vendor_ibans(store) if missing else {}
        body = [bodies.get(m.id) or platform_invoice(m, invoices.get(m.id), ibans) for m in members]
    except FinancingError as exc:
        box.mark_dead_many([(e.id, str(exc)) for e in mine], worker=worker, actor=actor)
        result.dead += len(mine)
        result.errors.append(str(exc))
        return
    try:
        answer = client.submit_batch(body, idempotency_key=key)
    except FinancingError as exc:
        how = _classify(exc)
        result.errors.append(str(exc))
        log.warning("financing batch %s (%d invoices): %s (%s)", key[:16], len(body), exc, how)
        if how == "dead":
            box.mark_dead_many([(e.id, str(exc)) for e in mine], worker=worker, actor=actor)
            result.dead += len(mine)
            return
        # One delay for the whole batch, so its entries come due (and are re-sent) together.
        recorded = box.mark_failed_many([e.id for e in mine], str(exc), connection_error=how == "connection",
                                        worker=worker, actor=actor)
        result.dead += sum(e.status == "dead" for e in recorded)
        result.retry += sum(e.status != "dead" for e in recorded)
        for entry_id in sorted({e.id for e in mine} - {e.id for e in recorded}):
            log.warning("outbox entry %s: failure not recorded: another worker holds it now", entry_id)
        return
    by_ref = {item.buyer_reference: item for item in answer.items}
    sent: list[tuple[int, dict[str, Any]]] = []
    lacking: list[int] = []
    for entry in mine:
        item = by_ref.get(entry.idempotency_key)
        if item is None:
            lacking.append(entry.id)
            continue
        sent.append((entry.id, {
            "batch": {"key": key, "entries": member_ids},
            "platform_batch_id": answer.id,
            "platform_id": item.id,
            "platform_status": item.status,
            "reason": item.reason,
            "acknowledged_at": answer.created_at,
            "replayed": answer.replayed,
        }))
        result.rejected += item.status == "rejected"
        result.replayed += answer.replayed
    if sent:
        box.mark_sent_many(sent, worker=worker, actor=actor)
        result.sent += len(sent)
    if lacking:
        box.mark_failed_many(lacking, f"platform answer to batch {answer.id} lacks this invoice",
                             worker=worker, actor=actor)
        result.retry += len(lacking)


def send_all(
    store: Store, client: ScfClient, worker: str, limit: int = 100, *, box: Outbox | None = None,
    max_rounds: int = 1000,
) -> dict[str, int]:
    """:func:`send_pending` batch after batch until nothing due is left or a batch fails."""
    totals: dict[str, int] = {}
    for _ in range(max_rounds):
        result = send_pending(store, client, worker, limit, box=box)
        for k, v in result.as_dict().items():
            if isinstance(v, int):
                totals[k] = totals.get(k, 0) + v
        if result.claimed < min(limit, MAX_BATCH) or result.retry or not result.sent:
            break
    return totals


def platform_client(conn_id: str = PLATFORM_CONN_ID, **options: Any) -> ScfClient:
    """The platform client of a connection (see :func:`client_from_fields`)."""
    return client_from_fields(get_connection(conn_id).fields(), **options)


def client_from_fields(fields: Mapping[str, Any], **options: Any) -> ScfClient:
    """A platform client from a connection's fields: extra ``base_url``, or host (with a scheme or
    not) and port; the password is the API key. Extra ``timeout``/``max_attempts`` tune retries."""
    extra = dict(fields.get("extra") or {})
    base_url = extra.get("base_url")
    if not base_url:
        host = str(fields.get("host") or "")
        if not host:
            raise FinancingError("the platform connection has neither a host nor an extra base_url",
                                 call="configure")
        if "://" not in host:
            host = f"{extra.get('scheme', 'http')}://{host}"
        base_url = host + (f":{fields['port']}" if fields.get("port") else "")
    settings: dict[str, Any] = {"timeout": float(extra.get("timeout", 10)),
                                "max_attempts": int(extra.get("max_attempts", 5))}
    if extra.get("platform"):
        settings["platform"] = str(extra["platform"])
    settings.update(options)
    return ScfClient(str(base_url), str(fields.get("password") or ""), **settings)
