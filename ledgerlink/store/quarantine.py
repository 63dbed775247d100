"""Quarantine ("dead letter queue"): source rows that failed mapping or validation.

Each entry keeps the original source values and every error found, so that an
operator can fix the data or the mapping and replay the entry, or discard it. An
entry is resolved once; resolving it again is refused.

A row is recognised by its fingerprint (its source values and the rules it broke): when a feed
sends a row again that is still open in its quarantine (a file re-sent with another row fixed),
the open entry counts the sighting (``seen_count``, ``last_run_id``) instead of a second entry.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, exists, select, update

from ledgerlink.errors import StoreError
from ledgerlink.store.db import ID_CHUNK, dumps, insert_sharing, statuses_by_id, utcnow
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


@dataclass(frozen=True)
class Quarantined:
    """What a load did with its bad rows: ``new`` entries, and rows ``repeated`` from open entries."""

    new: int
    repeated: int

    @property
    def total(self) -> int:
        return self.new + self.repeated


def fingerprint(raw: dict, errors: Sequence[dict], raw_json: str | None = None) -> str:
    """The identity of a bad row within its feed: its source values and the (field, rule) pairs it broke.
    (``raw_json``: ``dumps(raw)`` when the caller has it: the same text, not encoded twice.)"""
    rules = tuple(sorted({(str(e.get("field")), str(e.get("rule"))) for e in errors if isinstance(e, dict)}))
    # dumps({"raw": raw, "rules": rules}), put together from its parts (compact, keys sorted)
    text = f'{{"raw":{dumps(raw) if raw_json is None else raw_json},"rules":{_rules_json(rules)}}}'
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@functools.lru_cache(maxsize=4096)
def _rules_json(rules: tuple[tuple[str, str], ...]) -> str:
    """(A batch's bad rows break a handful of rule sets: each is encoded once.)"""
    return dumps([list(rule) for rule in rules])


# An entry's own values (the rest a load's entries share).
_ENTRY_COLUMNS = ("mapping", "source_name", "source_sha256", "row", "location", "raw", "errors", "reason_code",
                  "fingerprint")
_SOURCE_COLUMNS = ("mapping", "source_name", "source_sha256")  # an entry's own only where it says so


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
) -> Quarantined:
    """Insert the entries of one load; a row already open in the feed's quarantine (same fingerprint) is
    counted on its open entry, linked to this run, instead. Rows repeated within the batch stay apart."""
    if not entries:
        return Quarantined(0, 0)
    now = utcnow()
    raws = [dumps(e.raw) for e in entries]
    prints = [fingerprint(e.raw, e.errors, raw_json) for e, raw_json in zip(entries, raws, strict=True)]
    open_ids = _open_by_fingerprint(conn, feed, set(prints))
    repeated: list[int] = []
    fresh: list[tuple[QuarantineEntry, str, str]] = []
    for e, fp, raw_json in zip(entries, prints, raws, strict=True):
        if open_ids.get(fp):
            repeated.append(open_ids[fp].pop(0))
        else:
            fresh.append((e, fp, raw_json))
    if repeated:
        seen = (
            update(quarantine)
            .where(quarantine.c.id.in_(bindparam("ids", expanding=True)))
            .values(seen_count=quarantine.c.seen_count + 1, last_run_id=run_id, last_seen_at=now)
        )
        for start in range(0, len(repeated), ID_CHUNK):
            conn.execute(seen, {"ids": repeated[start : start + ID_CHUNK]})
    shared = {"run_id": run_id, "feed": feed, "entity": entity, "status": "open", "created_at": now, "seen_count": 1,
              "last_run_id": run_id, "last_seen_at": now}
    rows = [
        (
            e.mapping if e.mapping is not None else mapping,
            e.source_name if e.source_name is not None else source_name,
            e.source_sha256 if e.source_sha256 is not None else source_sha256,
            e.row,
            e.location,
            raw_json,
            dumps(list(e.errors)),
            reason_code(e.errors),
            fp,
        )
        for e, fp, raw_json in fresh
    ]
    if rows:
        own = dict(zip(_ENTRY_COLUMNS, zip(*rows, strict=True), strict=True))
        for name in _SOURCE_COLUMNS:  # the same for every entry (the batch's own): shared as well
            if own[name].count(own[name][0]) == len(rows):
                shared[name] = own.pop(name)[0]
        insert_sharing(conn, quarantine, shared, own)
    return Quarantined(len(rows), len(repeated))


def _open_by_fingerprint(conn: Connection, feed: str, prints: set[str]) -> dict[str, list[int]]:
    """Open entries of ``feed`` with those fingerprints: fingerprint -> ids, oldest first."""
    found: dict[str, list[int]] = defaultdict(list)
    # A feed with no open entry (its first bad rows, or all of them dealt with) needs no lookups.
    if not conn.execute(select(exists().where(quarantine.c.feed == feed, quarantine.c.status == "open"))).scalar():
        return found
    query = (
        select(quarantine.c.fingerprint, quarantine.c.id)
        .where(quarantine.c.feed == feed, quarantine.c.status == "open",
               quarantine.c.fingerprint.in_(bindparam("prints", expanding=True)))
        .order_by(quarantine.c.id)
    )
    ordered = sorted(prints)
    for start in range(0, len(ordered), ID_CHUNK):
        for fp, qid in conn.execute(query, {"prints": ordered[start : start + ID_CHUNK]}):
            found[fp].append(qid)
    return found


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
