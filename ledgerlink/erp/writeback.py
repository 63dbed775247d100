"""ERP writebacks with an audit trail: one call of a writeback primitive, one audit entry.

    result = apply_writeback(store, TrytonWriteback(client), "record_payment", key,
                             invoice_id=12, amount=Decimal("100.00"), date=today, journal="CASH")

The primitive itself ensures a key is applied at most once (it finds its earlier result in the
ERP); a repeated call returns that result and is audited as ``replayed``. A failure is audited
as ``failed`` with the error and raised again.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Protocol

from connectors.erp.base import ErpError
from ledgerlink.store.store import DEFAULT_ACTOR, Store

KINDS = ("add_note", "mark_financed", "record_payment", "post_journal_entry")
_MAX_TEXT = 200


class Writeback(Protocol):
    def add_note(self, key: str, invoice_id: int, text: str) -> dict[str, Any]: ...

    def mark_financed(self, key: str, invoice_id: int, funder_party_id: int, **options: Any) -> dict[str, Any]: ...

    def record_payment(self, key: str, invoice_id: int, amount: Any, date: dt.date,
                       journal: Any) -> dict[str, Any]: ...

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
