"""ERP writebacks with an audit trail.

Tryton: one call of a writeback primitive, one audit entry.

    result = apply_writeback(store, TrytonWriteback(client), "record_payment", key,
                             invoice_id=12, amount=Decimal("100.00"), date=today, journal="CASH")

The primitive itself ensures a key is applied at most once (it finds its earlier result in the
ERP); a repeated call returns that result and is audited as ``replayed``. A failure is audited
as ``failed`` with the error and raised again.

REST/OData ERPs: a status change (release, validate, approve, post, a note such as "financed") is a
request in the outbox, enqueued in the transaction of whatever decided it, and sent later by
:func:`send_writebacks` through the definition's write call.

    with store.unit_of_work() as work:                # the decision and its request commit together
        enqueue_writeback(work, "xero_supplier_invoices", invoice_id, "set_invoice_status",
                          {"status": "AUTHORISED"})
    send_writebacks(store, "ledgerlink_xero", "xero")  # or run_writebacks(feed), the DAG's send task

The request's idempotency key is derived from (system, call, record id, values): asking twice is one
request. Entries of one ERP connection share the outbox kind ``erp.writeback:<conn_id>``. Sending:
an answer marks the entry sent; a rate limit, a 5xx or no connection sends it again later (outbox
backoff); a refusal (4xx, a value missing) makes it a dead letter at once. A call that cannot be
repeated safely and got no answer (it may have been applied) is never sent again by itself: it
becomes a dead letter whose error says to check the ERP, and the audit log records it, so a person
decides whether to replay it (``ledgerlink financing replay ID``) or leave it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import socket
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from connectors.erp.base import ErpError
from connectors.erp.definitions import definition_path, load_definition, record_id_values, writeback_needs
from connectors.erp.rest import RestConnector
from ledgerlink.errors import ConfigError, LedgerlinkError
from ledgerlink.pipeline.extract import rest_connector
from ledgerlink.pipeline.feeds import Feed, get_feed
from ledgerlink.store import UnitOfWork
from ledgerlink.store.outbox import MAX_KEY_LENGTH, Outbox, OutboxEntry, OutboxRequest
from ledgerlink.store.store import DEFAULT_ACTOR, Store

log = logging.getLogger("ledgerlink.erp")

KINDS = ("add_note", "mark_financed", "record_payment", "undo_payment", "post_journal_entry")
_MAX_TEXT = 200


class Writeback(Protocol):
    def add_note(self, key: str, invoice_id: int, text: str) -> dict[str, Any]: ...

    def mark_financed(self, key: str, invoice_id: int, funder_party_id: int, *, journal: Any = None,
                      description: str | None = None) -> dict[str, Any]: ...

    def record_payment(self, key: str, invoice_id: int, amount: Any, date: dt.date,
                       journal: Any) -> dict[str, Any]: ...

    def undo_payment(self, key: str, invoice_id: int, payment_key: str, date: dt.date,
                     description: str | None = None) -> dict[str, Any]: ...

    def post_journal_entry(self, key: str, journal: Any, date: dt.date, lines: Any,
                           description: str = "") -> dict[str, Any]: ...


def apply_writeback(store: Store, writeback: Writeback, kind: str, key: str, *, actor: str = DEFAULT_ACTOR,
                    system: str = "tryton", **params: Any) -> dict[str, Any]:
    """Call ``writeback.<kind>(key, **params)`` and append ``erp.writeback.<kind>`` to the audit log
    (outcome ``applied``, ``replayed`` or ``failed``). Returns the primitive's result."""
    if kind not in KINDS:
        raise ErpError(f"{system} writeback: unknown kind {kind!r} (known: {', '.join(KINDS)})")
    action = f"erp.writeback.{kind}"
    summary = summarize(params)
    try:
        result = getattr(writeback, kind)(key, **params)
    except ErpError as exc:
        store.audit(action, _subject(system, kind, params, None),
                    {"key": key, "params": summary, "outcome": "failed", "error": str(exc)[:1000]}, actor=actor)
        raise
    outcome = "replayed" if result.get("replayed") else "applied"
    store.audit(action, _subject(system, kind, params, result),
                {"key": key, "params": summary, "outcome": outcome, "result": result}, actor=actor)
    return result


def _subject(system: str, kind: str, params: dict[str, Any], result: dict[str, Any] | None) -> str:
    if "invoice_id" in params:
        return f"{system}:account.invoice,{params['invoice_id']}"
    move = (result or {}).get("move") or {}
    if move.get("move_id") is not None:
        return f"{system}:account.move,{move['move_id']}"
    return f"{system}:account.move"


def summarize(value: Any) -> Any:
    """Parameters as they go into the audit log: exact amounts as text, dates ISO, long text cut,
    journal lines in full (they are the entry) but with their descriptions cut."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return value if len(value) <= _MAX_TEXT else value[:_MAX_TEXT] + "..."
    if isinstance(value, dict):
        return {str(k): summarize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [summarize(v) for v in value]
    if value is None or isinstance(value, bool | int):
        return value
    return str(value)[:_MAX_TEXT]


# -- REST/OData writebacks through the outbox ------------------------------------------------------------

KIND_PREFIX = "erp.writeback:"
LEASE_SECONDS = 900.0  # one call, rate-limit waits included, fits in it


def outbox_kind(conn_id: str) -> str:
    """The outbox kind of one ERP connection's writeback requests."""
    return f"{KIND_PREFIX}{conn_id}"


def writeback_key(system: str, call: str, record_id: str, values: dict[str, Any]) -> str:
    """The request's idempotency key: ``<system>:<call>:<record id>:<hash of all four>``, readable where it
    fits in the outbox's key length, else ``erp:<sha256>``."""
    canonical = json.dumps([system, call, record_id, _plain(values)], sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    key = f"{system}:{call}:{record_id}:{digest[:16]}"
    return key if len(key) <= MAX_KEY_LENGTH else f"erp:{digest}"


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """Call values as the outbox keeps them: text, whole numbers and booleans as they are, exact amounts
    as text, dates ISO; a float is refused (it would not be the amount that was meant)."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, float):
            raise ConfigError(f"writeback value {name} is a float ({value!r}); give amounts as Decimal or text")
        if isinstance(value, Decimal):
            value = format(value, "f")
        elif isinstance(value, dt.date):
            value = value.isoformat()
        elif value is not None and not isinstance(value, str | int | bool):
            raise ConfigError(f"writeback value {name} must be text, a number or a date (got {type(value).__name__})")
        out[str(name)] = value
    return out


def _rest_feed(feed: Feed) -> tuple[str, str, str]:
    """(connection id, definition, entity) of a REST feed."""
    if feed.source.get("connector") != "rest":
        raise ConfigError(f"feed {feed.name!r}: writebacks through the outbox are for REST/OData feeds "
                          f"(connector rest), not {feed.source.get('connector')!r}")
    return feed.source["conn_id"], feed.source["definition"], feed.source["entity"]


def enqueue_writeback(work: UnitOfWork, feed_name: str, record_id: str, call: str,
                      values: dict[str, Any], *, actor: str = DEFAULT_ACTOR) -> OutboxEntry:
    """Enqueue write call `call` of the feed's ERP for record `record_id` (its id as synced, e.g. SAP's
    `5100000012/2024`) in the unit of work ``work`` (from ``store.unit_of_work()``). The record's id fields fill the
    call's values; `values` give the rest. Asking again for the same returns the entry already there."""
    feed = get_feed(feed_name)
    conn_id, definition_name, entity = _rest_feed(feed)
    definition = load_definition(definition_path(definition_name))
    ids = record_id_values(definition, entity, record_id)
    clash = sorted(k for k, v in values.items() if k in ids and str(v) != ids[k])
    if clash:
        raise ConfigError(f"{definition_name} writeback {call}: {', '.join(clash)} given, but record "
                          f"{record_id!r} says otherwise")
    values = _plain({**values, **ids})
    missing = sorted(n for n in writeback_needs(definition, call) if n not in values)
    if missing:
        raise ConfigError(f"{definition_name} writeback {call}: missing values: {', '.join(missing)}")
    key = writeback_key(conn_id, call, str(record_id), values)
    payload = {"feed": feed.name, "conn_id": conn_id, "definition": definition_name, "entity": entity,
               "record_id": str(record_id), "call": call, "values": values}
    ((entry, is_new),) = work.outbox.enqueue_many([OutboxRequest(outbox_kind(conn_id), key, payload)], actor=actor)
    if is_new:  # asking again finds the first request
        work.audit(f"erp.writeback.{call}", f"{definition_name}:{entity}/{record_id}",
                   {"key": key, "outbox_id": entry.id, "values": values, "outcome": "requested"}, actor=actor)
    return entry


def request_writeback(store: Store, feed_name: str, record_id: str, call: str, values: dict[str, Any], *,
                      actor: str = DEFAULT_ACTOR) -> OutboxEntry:
    """:func:`enqueue_writeback` in a transaction of its own (the command line)."""
    with store.unit_of_work() as work:
        return enqueue_writeback(work, feed_name, record_id, call, values, actor=actor)


@dataclass
class WritebackResult:
    claimed: int = 0
    sent: int = 0
    retry: int = 0
    dead: int = 0      # refused by the ERP, or outcome unknown: a person looks at them
    unknown: int = 0   # of the dead, those that may have been applied
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _worker() -> str:
    return f"erp-writeback:{socket.gethostname()}:{os.getpid()}"


def send_writebacks(store: Store, conn_id: str, definition: str, *, connector: RestConnector | None = None,
                    box: Outbox | None = None, worker: str | None = None, limit: int = 100,
                    actor: str = DEFAULT_ACTOR) -> WritebackResult:
    """Send up to `limit` due writeback requests of connection `conn_id`, one claim and one call at a time."""
    box = box or Outbox(store)
    worker = worker or _worker()
    result = WritebackResult()
    erp = connector or rest_connector(conn_id, definition)
    try:
        for _ in range(limit):
            claimed = box.claim(worker, 1, LEASE_SECONDS, kinds=[outbox_kind(conn_id)], actor=actor)
            if not claimed:
                break
            result.claimed += 1
            _send_one(store, box, erp, claimed[0], worker, actor, result)
    finally:
        if connector is None:
            erp.close()
    if result.claimed:
        log.info("%s writebacks by %s: %s", conn_id, worker, result.as_dict())
    return result


def _send_one(store: Store, box: Outbox, erp: RestConnector, entry: OutboxEntry, worker: str, actor: str,
              result: WritebackResult) -> None:
    p = entry.payload
    subject = f"{p['definition']}:{p['entity']}/{p['record_id']}"
    audit = {"key": entry.idempotency_key, "outbox_id": entry.id, "values": p["values"]}
    try:
        answer = erp.writeback(p["call"], idempotency_key=entry.idempotency_key, **p["values"])
    except (ErpError, ConfigError) as exc:
        message = str(exc)
        result.errors.append(message)
        status = getattr(exc, "status", None)
        unknown = getattr(exc, "outcome_unknown", False)
        if unknown:
            message = (f"{message} -- the outcome is unknown: check in {p['definition']} whether {p['call']} was "
                       f"applied to {p['record_id']}, then replay this entry or leave it")
        if isinstance(exc, ErpError) and not unknown and (status is None or status == 429 or status >= 500):
            try:
                after = box.mark_failed(entry.id, message, getattr(exc, "retry_after", None),
                                        connection_error=status is None, worker=worker, actor=actor)
            except LedgerlinkError as mark_exc:  # another worker holds the entry now: its outcome counts
                log.warning("outbox entry %s: failure not recorded: %s", entry.id, mark_exc)
                return
            result.retry += after.status != "dead"
            result.dead += after.status == "dead"
            return
        _mark_dead(box, entry, message, worker, actor)
        result.dead += 1
        result.unknown += unknown
        store.audit(f"erp.writeback.{p['call']}", subject,
                    {**audit, "outcome": "unknown" if unknown else "refused", "error": message[:1000]}, actor=actor)
        return
    box.mark_sent(entry.id, {"answer": summarize(answer)}, worker=worker, actor=actor)
    result.sent += 1
    store.audit(f"erp.writeback.{p['call']}", subject, {**audit, "outcome": "applied"}, actor=actor)


def _mark_dead(box: Outbox, entry: OutboxEntry, message: str, worker: str, actor: str) -> None:
    """A dead letter at once: the request can never succeed as it is, or a person must check first."""
    box.mark_dead_many([(entry.id, message)], worker=worker, actor=actor)


def run_writebacks(feed_name: str, *, store: Store | None = None, actor: str = DEFAULT_ACTOR,
                   limit: int = 100) -> WritebackResult:
    """Send the pending writebacks of a REST feed's ERP connection (the DAG's send task, `ledgerlink erp send`)."""
    conn_id, definition, _ = _rest_feed(get_feed(feed_name))
    return send_writebacks(store or Store(), conn_id, definition, actor=actor, limit=limit)
