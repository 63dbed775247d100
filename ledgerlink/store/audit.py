"""Hash-chained, append-only audit log.

Each entry stores ``hash = sha256(prev_hash + canonical JSON of {at, actor, action,
subject, details})``; the first entry's ``prev_hash`` is :data:`GENESIS`. Changing,
removing or reordering any entry breaks the chain from that entry on, which
:func:`verify_chain` reports. The database refuses UPDATE and DELETE on the table
(triggers created by the migration), and appends are serialised so that the chain
never forks: PostgreSQL takes an advisory transaction lock, SQLite's write lock
(``BEGIN IMMEDIATE``) already admits a single writer, and a unique constraint on
``prev_hash`` refuses a second successor on any backend.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select

from ledgerlink.store.db import PG_LOCK_AUDIT, dumps, pg_lock, utcnow
from ledgerlink.store.tables import audit_log

GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditCheck:
    ok: bool
    checked: int
    first_bad_id: int | None = None
    reason: str | None = None


def entry_hash(prev_hash: str, at: str, actor: str, action: str, subject: str, details_json: str) -> str:
    """The hash of one entry, computed from the values exactly as stored."""
    body = {
        "action": action,
        "actor": actor,
        "at": at,
        "details": json.loads(details_json),
        "subject": subject,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


def append(conn: Connection, action: str, subject: str, details: dict[str, Any], *, actor: str) -> int:
    """Append one entry inside ``conn``'s transaction; returns its id."""
    pg_lock(conn, PG_LOCK_AUDIT)
    last = conn.execute(select(audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1)).scalar()
    prev_hash = last or GENESIS
    at = utcnow()
    details_json = dumps(details)
    digest = entry_hash(prev_hash, at, actor, action, subject, details_json)
    result = conn.execute(
        insert(audit_log).values(
            at=at,
            actor=actor,
            action=action,
            subject=subject,
            details=details_json,
            prev_hash=prev_hash,
            hash=digest,
        )
    )
    return int(result.inserted_primary_key[0])


def entries(conn: Connection, limit: int = 100) -> list[dict[str, Any]]:
    """The latest ``limit`` entries, newest first, with ``details`` parsed."""
    rows = conn.execute(select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)).mappings()
    return [{**row, "details": json.loads(row["details"])} for row in rows]


def verify_chain(conn: Connection, batch: int = 10_000) -> AuditCheck:
    """Recompute every hash in id order and check each entry links to its predecessor."""
    expected_prev = GENESIS
    checked = 0
    last_id: int | None = None
    while True:
        query = select(audit_log).order_by(audit_log.c.id).limit(batch)
        if last_id is not None:
            query = query.where(audit_log.c.id > last_id)
        rows = conn.execute(query).mappings().all()
        if not rows:
            return AuditCheck(ok=True, checked=checked)
        for row in rows:
            if row["prev_hash"] != expected_prev:
                return AuditCheck(
                    ok=False,
                    checked=checked,
                    first_bad_id=row["id"],
                    reason=f"entry {row['id']} does not link to the entry before it "
                    "(an entry was removed, inserted or altered)",
                )
            try:
                recomputed = entry_hash(
                    row["prev_hash"], row["at"], row["actor"], row["action"], row["subject"], row["details"]
                )
            except ValueError:
                recomputed = None
            if recomputed != row["hash"]:
                return AuditCheck(
                    ok=False,
                    checked=checked,
                    first_bad_id=row["id"],
                    reason=f"entry {row['id']} was altered: its content does not match its hash",
                )
            expected_prev = row["hash"]
            checked += 1
            last_id = row["id"]
