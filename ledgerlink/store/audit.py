"""Hash-chained, append-only audit log.

Each entry stores ``hash = sha256(prev_hash + canonical JSON of {at, actor, action,
subject, details})``; the first entry's ``prev_hash`` is :data:`GENESIS`. Changing,
removing or reordering any entry breaks the chain from that entry on, which
:func:`verify_chain` reports. The database refuses UPDATE and DELETE on the table
(triggers created by the migration), and appends are serialised so that the chain
never forks: PostgreSQL takes an advisory transaction lock, SQLite's write lock
(``BEGIN IMMEDIATE``) already admits a single writer, and a unique constraint on
``prev_hash`` refuses a second successor on any backend.

What the chain cannot show (entries deleted from the end, a chain rewritten with recomputed hashes) the
checkpoints outside the store show (:mod:`ledgerlink.store.checkpoint`): :func:`append_many` leaves the
new head in the connection's ``info`` for the store to checkpoint once the transaction commits, and
:func:`check_head` compares a checkpoint with the table.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any, NamedTuple

from sqlalchemy import Connection, insert, select

from ledgerlink.store.db import PG_LOCK_AUDIT, dumps, execute_many, pg_lock, utcnow
from ledgerlink.store.tables import audit_log

GENESIS = "0" * 64
HEAD_KEY = "ledgerlink.audit_head"  # conn.info: (prev_hash, hash) of the last entry this transaction appended


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


class AuditEntry(NamedTuple):
    """An entry to append: what happened (``action``) to what (``subject``), by whom, with details."""

    action: str
    subject: str
    details: dict[str, Any]
    actor: str


def _str_keys_only(value: Any) -> bool:
    """Whether every mapping in ``value`` has only text keys: then ``dumps(value)`` is already the canonical
    JSON :func:`entry_hash` rebuilds (other keys become text and may sort differently once parsed)."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _str_keys_only(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_str_keys_only(v) for v in value)
    return True


def _new_entry_hash(prev_hash: str, at: str, entry: AuditEntry, details_json: str) -> str:
    """:func:`entry_hash` of an entry being appended, without parsing and re-encoding its details when
    ``details_json`` is canonical already (the same text, so the same hash)."""
    action, actor, subject = entry.action, entry.actor, entry.subject
    if not (type(action) is str and type(actor) is str and type(subject) is str and _str_keys_only(entry.details)):
        return entry_hash(prev_hash, at, actor, action, subject, details_json)
    # The body's keys in sorted order: action, actor, at, details, subject.
    canonical = (f'{{"action":{encode_basestring(action)},"actor":{encode_basestring(actor)},'
                 f'"at":{encode_basestring(at)},"details":{details_json},"subject":{encode_basestring(subject)}}}')
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


def append(conn: Connection, action: str, subject: str, details: dict[str, Any], *, actor: str) -> None:
    """Append one entry inside ``conn``'s transaction."""
    append_many(conn, [AuditEntry(action, subject, details, actor)])


def append_many(conn: Connection, entries: Sequence[AuditEntry]) -> None:
    """Append ``entries`` in their order inside ``conn``'s transaction, each hashed on the one before
    exactly as :func:`append` would chain them one by one: one lock, one read of the last hash and
    one bulk insert for the whole batch."""
    if not entries:
        return
    pg_lock(conn, PG_LOCK_AUDIT)
    prev_hash = conn.execute(select(audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1)).scalar() or GENESIS
    at = utcnow()
    rows = []
    for entry in entries:
        details_json = dumps(entry.details)
        digest = _new_entry_hash(prev_hash, at, entry, details_json)
        rows.append({"at": at, "actor": entry.actor, "action": entry.action, "subject": entry.subject,
                     "details": details_json, "prev_hash": prev_hash, "hash": digest})
        prev_hash = digest
    # Rows get their ids in list order (SQLite and PostgreSQL insert a VALUES list in order), which is
    # the chain's order.
    execute_many(conn, insert(audit_log), rows)
    conn.info[HEAD_KEY] = (rows[-1]["prev_hash"], prev_hash)


def successor_id(conn: Connection, prev_hash: str) -> int | None:
    """The id of the entry chained on ``prev_hash`` (unique, so indexed: one cheap lookup)."""
    found = conn.execute(select(audit_log.c.id).where(audit_log.c.prev_hash == prev_hash)).scalar()
    return None if found is None else int(found)


def check_head(conn: Connection, seq: int, digest: str) -> str | None:
    """What is wrong with the table against a checkpoint of entry ``seq`` with hash ``digest``; None if nothing."""
    last = conn.execute(select(audit_log.c.id).order_by(audit_log.c.id.desc()).limit(1)).scalar()
    if last is None or last < seq:
        gone = seq - (last or 0)
        return (f"audit log truncated: the checkpoint records entry {seq}, the store's log ends at "
                f"{'no entry' if last is None else f'entry {last}'}: {gone} entr{'y' if gone == 1 else 'ies'} "
                "deleted from the end")
    stored = conn.execute(select(audit_log.c.hash).where(audit_log.c.id == seq)).scalar()
    if stored is None:
        return f"audit log altered: entry {seq}, recorded in the checkpoint, is missing from the store"
    if stored != digest:
        return (f"audit chain re-hashed: entry {seq} has hash {stored[:16]}... in the store but "
                f"{digest[:16]}... in the checkpoint")
    return None


def entries(
    conn: Connection,
    limit: int | None = 100,
    *,
    actions: Collection[str] | None = None,
    action_prefix: str | None = None,
    subject: str | None = None,
    oldest_first: bool = False,
) -> list[dict[str, Any]]:
    """Entries newest first (or ``oldest_first``), with ``details`` parsed; only those of ``actions``,
    of actions starting with ``action_prefix`` or about ``subject`` when given; all with ``limit=None``."""
    query = select(audit_log).order_by(audit_log.c.id if oldest_first else audit_log.c.id.desc()).limit(limit)
    if actions is not None:
        query = query.where(audit_log.c.action.in_(list(actions)))
    if action_prefix is not None:
        query = query.where(audit_log.c.action.startswith(action_prefix, autoescape=True))
    if subject is not None:
        query = query.where(audit_log.c.subject == subject)
    return [{**row, "details": json.loads(row["details"])} for row in conn.execute(query).mappings()]


def verify_chain(
    conn: Connection,
    batch: int = 10_000,
    *,
    after_id: int | None = None,
    prev_hash: str = GENESIS,
    checked: int = 0,
) -> AuditCheck:
    """Recompute every hash in id order and check each entry links to its predecessor; from the
    entry after ``after_id`` on when given (``prev_hash``: that entry's hash, ``checked``: how many
    entries up to it were verified before)."""
    expected_prev = prev_hash
    last_id = after_id
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
