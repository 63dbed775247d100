"""Quarantine ("dead letter queue"): source rows that failed mapping or validation.

Each entry keeps the original source values and every error found, so that an
operator can fix the data or the mapping and replay the entry, or discard it. An
entry is resolved once; resolving it again is refused.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from ledgerlink.errors import StoreError
from ledgerlink.store.db import ID_CHUNK, dumps, statuses_by_id, utcnow
from ledgerlink.store.tables import QUARANTINE_STATUSES, quarantine

RESOLVED_STATUSES = ("replayed", "discarded")
UNKNOWN_REASON = "unknown"


@dataclass(frozen=True)
class QuarantineEntry:
    row: int | None
    location: str | None
    raw: dict  # original source values
    errors: list[dict]  # [{field, rule, message, mapping_line}, ...]
    source_name: str | None = None
    source_sha256: str | None = None
    mapping: str | None = None  # the mapping that read the row, when not the batch's (a bank CSV layout)


def reason_code(errors: Sequence[dict]) -> str:
    """The rule of the first error: the short reason shown in lists and used for grouping."""
    if errors and isinstance(errors[0], dict) and errors[0].get("rule"):
        return str(errors[0]["rule"])[:100]
    return UNKNOWN_REASON


def insert_entries(
    conn: Connection,
    entries: Sequence[QuarantineEntry],
    *,
    run_id: str,
    feed: str,
    entity: str,
    mapping: str | None,
    source_name: str | None = None,
    source_sha256: str | None = None,
) -> int:
    if not entries:
        return 0
    now = utcnow()
    rows = [
        {
            "run_id": run_id,
            "feed": feed,
            "entity": entity,
            "mapping": e.mapping if e.mapping is not None else mapping,
            "source_name": e.source_name if e.source_name is not None else source_name,
            "source_sha256": e.source_sha256 if e.source_sha256 is not None else source_sha256,
            "row": e.row,
            "location": e.location,
            "raw": dumps(e.raw),
            "errors": dumps(list(e.errors)),
            "reason_code": reason_code(e.errors),
            "status": "open",
            "created_at": now,
        }
        for e in entries
    ]
    conn.execute(quarantine.insert(), rows)
    return len(rows)


def _entry_dict(row) -> dict[str, Any]:
    data = dict(row._mapping)
    data["raw"] = json.loads(data["raw"])
    data["errors"] = json.loads(data["errors"])
    return data


def list_entries(
    conn: Connection, *, feed: str | None = None, status: str | None = "open", limit: int = 100
) -> list[dict[str, Any]]:
    if status is not None and status not in QUARANTINE_STATUSES:
        raise StoreError(
            f"unknown quarantine status {status!r}; expected one of {', '.join(QUARANTINE_STATUSES)}"
        )
    query = select(quarantine).order_by(quarantine.c.id).limit(limit)
    if feed is not None:
        query = query.where(quarantine.c.feed == feed)
    if status is not None:
        query = query.where(quarantine.c.status == status)
    return [_entry_dict(row) for row in conn.execute(query)]


def get_entry(conn: Connection, qid: int) -> dict[str, Any] | None:
    row = conn.execute(select(quarantine).where(quarantine.c.id == qid)).first()
    return None if row is None else _entry_dict(row)


def resolve(
    conn: Connection, ids: Sequence[int], status: str, *, actor: str, run_id: str | None = None
) -> list[int]:
    """Mark open entries replayed or discarded; returns the ids, sorted. Refuses anything not open."""
    if status not in RESOLVED_STATUSES:
        raise StoreError(f"cannot resolve quarantine entries as {status!r}; use 'replayed' or 'discarded'")
    wanted = sorted({int(i) for i in ids})
    if not wanted:
        return []
    found = statuses_by_id(conn, quarantine, wanted, what="quarantine entry")
    not_open = [f"{i} ({found[i]})" for i in wanted if found[i] != "open"]
    if not_open:
        raise StoreError(f"quarantine entries already resolved, not changed: {', '.join(not_open[:20])}")
    change = (
        update(quarantine)
        .where(quarantine.c.id.in_(bindparam("ids", expanding=True)), quarantine.c.status == "open")
        .values(status=status, resolved_at=utcnow(), resolved_by=actor, resolution_run_id=run_id)
    )
    changed = 0
    for start in range(0, len(wanted), ID_CHUNK):
        changed += conn.execute(change, {"ids": wanted[start : start + ID_CHUNK]}).rowcount
    if changed != len(wanted):
        # Another transaction resolved some of them in between.
        raise StoreError(
            f"resolved {changed} of {len(wanted)} quarantine entries; the others changed meanwhile"
        )
    return wanted
