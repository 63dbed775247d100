"""Transactional outbox: requests to other systems, sent at least once, recorded exactly once.

A request is enqueued inside the caller's transaction (:func:`enqueue`), so it exists if and
only if the decision that caused it committed. Workers :meth:`Outbox.claim` due entries with a
lease: PostgreSQL hands each row to one worker (``SELECT ... FOR UPDATE SKIP LOCKED``), SQLite
admits one writer at a time (the store's writes run in ``BEGIN IMMEDIATE``). A worker that dies
between sending and :meth:`Outbox.mark_sent` loses nothing: its lease expires, the entry is
claimed again and re-sent with the same idempotency key, which the receiver deduplicates.

States: ``pending`` -> ``in_flight`` -> ``sent``; a failure returns the entry to ``pending`` with
an exponential backoff, or moves it to ``dead`` after ``max_attempts``; :meth:`Outbox.replay`
brings dead entries back. Every state change is written to the audit log in its transaction.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, bindparam, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ledgerlink.errors import ConfigError, StoreError
from ledgerlink.redact import mask_accounts_in_text
from ledgerlink.store import audit as audit_mod
from ledgerlink.store.db import ID_CHUNK, dumps, statuses_by_id
from ledgerlink.store.tables import OUTBOX_STATUSES, outbox

if TYPE_CHECKING:
    from ledgerlink.store.store import Store

DEFAULT_ACTOR = "ledgerlink"
MAX_KEY_LENGTH = 128
MAX_ERROR_LENGTH = 2000


@dataclass(frozen=True)
class OutboxPolicy:
    """Retry policy. Delays are in seconds.

    The n-th failure waits ``min(max_delay, base_delay * 2**(n-1))``, shortened at random by
    up to ``jitter`` of itself so that entries failing together do not retry together. The
    ``max_attempts``-th failure makes the entry dead. Connection errors (the platform is
    unreachable, nothing was received) count only up to ``connection_attempt_cap`` attempts, so
    an outage delays entries but never kills them.
    """

    max_attempts: int = 8
    base_delay: float = 30.0
    max_delay: float = 6 * 3600.0
    jitter: float = 0.25
    connection_attempt_cap: int = 3

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError(f"outbox max_attempts must be at least 1 (got {self.max_attempts})")
        if not 0 <= self.jitter < 1:
            raise ConfigError(f"outbox jitter must be in [0, 1) (got {self.jitter})")
        if self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ConfigError("outbox delays must satisfy 0 <= base_delay <= max_delay")
        if not 0 <= self.connection_attempt_cap < self.max_attempts:
            raise ConfigError("outbox connection_attempt_cap must be below max_attempts")

    @classmethod
    def from_env(cls) -> OutboxPolicy:
        """Defaults, with ``LEDGERLINK_OUTBOX_MAX_ATTEMPTS`` when set."""
        raw = os.environ.get("LEDGERLINK_OUTBOX_MAX_ATTEMPTS")
        if not raw:
            return cls()
        try:
            attempts = int(raw)
        except ValueError:
            raise ConfigError(f"LEDGERLINK_OUTBOX_MAX_ATTEMPTS must be an integer (got {raw!r})") from None
        return cls(max_attempts=attempts, connection_attempt_cap=min(cls.connection_attempt_cap, attempts - 1))

    def delay(self, attempts: int, rand: float = 0.0) -> float:
        """Seconds to wait after the ``attempts``-th failure; ``rand`` in [0, 1) picks the jitter."""
        full = min(self.max_delay, self.base_delay * 2 ** max(attempts - 1, 0))
        return full * (1 - self.jitter * rand)


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    kind: str
    idempotency_key: str
    payload: Any
    status: str
    attempts: int
    next_attempt_at: str
    last_error: str | None
    claimed_by: str | None
    claimed_until: str | None
    created_at: str
    sent_at: str | None
    response: Any


def _entry(row: Any) -> OutboxEntry:
    data = dict(row._mapping)
    data["payload"] = json.loads(data["payload"])
    data["response"] = None if data["response"] is None else json.loads(data["response"])
    return OutboxEntry(**data)


def iso(moment: datetime) -> str:
    """The store's timestamp text for ``moment`` (ISO-8601 UTC, microseconds)."""
    if moment.tzinfo is None:
        raise ValueError("outbox timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


# -- secrets ------------------------------------------------------------------------------

_CREDENTIAL_WORDS = (
    r"password|passwd|pwd|secret|client[_-]?secret|token|access[_-]?token|refresh[_-]?token|api[_-]?key|apikey"
)
_SECRET_TEXT = (
    (re.compile(r"(?i)\b((?:proxy-)?authorization\s*[:=]\s*)(?:(?:bearer|basic|token)\s+)?\S+"), r"\1***"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 ***"),
    (re.compile(rf"(?i)(\b(?:{_CREDENTIAL_WORDS})[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,;}}]+"), r"\1***"),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+):[^/\s@]+@"), r"\1:***@"),
)
_SECRET_KEY = re.compile(rf"(?i)^(?:{_CREDENTIAL_WORDS}|authorization|cookie|set-cookie)$")


def scrub_text(message: str) -> str:
    """``message`` without credentials (tokens, passwords, URL passwords) or account numbers."""
    for pattern, replacement in _SECRET_TEXT:
        message = pattern.sub(replacement, message)
    return mask_accounts_in_text(message)


def scrub_value(value: Any) -> Any:
    """A JSON value with the values of secret-named keys replaced by ``***``."""
    if isinstance(value, dict):
        return {k: "***" if _SECRET_KEY.match(str(k)) else scrub_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_value(v) for v in value]
    return value


def _check_no_floats(value: Any, path: str = "payload") -> None:
    # Amounts travel as Decimal or text: a float would change the payload's hash and its cents.
    if isinstance(value, float):
        raise StoreError(f"{path} is a float ({value!r}); pass amounts as Decimal or text")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_no_floats(v, f"{path}.{k}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_no_floats(v, f"{path}[{i}]")


# -- inside a transaction -------------------------------------------------------------------


def get_entry(conn: Connection, entry_id: int) -> OutboxEntry | None:
    row = conn.execute(select(outbox).where(outbox.c.id == entry_id)).first()
    return None if row is None else _entry(row)


def get_by_key(conn: Connection, key: str) -> OutboxEntry | None:
    row = conn.execute(select(outbox).where(outbox.c.idempotency_key == key)).first()
    return None if row is None else _entry(row)


def enqueue(
    conn: Connection,
    kind: str,
    key: str,
    payload: Any,
    *,
    actor: str = DEFAULT_ACTOR,
    now: datetime | None = None,
) -> OutboxEntry:
    """Add a pending entry in ``conn``'s transaction; a key already enqueued returns that entry unchanged."""
    if not kind or not key:
        raise StoreError("an outbox entry needs a kind and an idempotency key")
    if len(key) > MAX_KEY_LENGTH:
        raise StoreError(f"idempotency key is {len(key)} characters; at most {MAX_KEY_LENGTH}")
    _check_no_floats(payload)
    stamp = iso(now or datetime.now(UTC))
    values = {
        "kind": kind,
        "idempotency_key": key,
        "payload": dumps(payload),
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": stamp,
        "created_at": stamp,
    }
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    result = conn.execute(
        insert(outbox).values(**values).on_conflict_do_nothing(index_elements=["idempotency_key"])
    )
    entry = get_by_key(conn, key)
    if entry is None:  # pragma: no cover - the insert or the conflicting row is always there
        raise StoreError(f"outbox entry with key {key} vanished while enqueueing")
    if result.rowcount:
        audit_mod.append(
            conn, "outbox.enqueue", f"outbox:{entry.id}", {"kind": kind, "key": key}, actor=actor
        )
    elif entry.kind != kind:
        raise StoreError(f"idempotency key {key} is already used by a {entry.kind!r} entry (id {entry.id})")
    return entry


def claim_in(
    conn: Connection,
    worker: str,
    limit: int,
    now: datetime,
    lease_until: datetime,
    *,
    kinds: Sequence[str] | None = None,
    actor: str = DEFAULT_ACTOR,
) -> list[OutboxEntry]:
    """Claim up to ``limit`` due entries for ``worker`` in ``conn``'s transaction (see :meth:`Outbox.claim`)."""
    now_s = iso(now)
    due = or_(
        and_(outbox.c.status == "pending", outbox.c.next_attempt_at <= now_s),
        and_(outbox.c.status == "in_flight", outbox.c.claimed_until <= now_s),
    )
    query = select(outbox.c.id, outbox.c.status, outbox.c.claimed_by).where(due)
    if kinds:
        query = query.where(outbox.c.kind.in_(list(kinds)))
    # Rows another transaction is claiming right now are skipped, not waited for (PostgreSQL;
    # SQLite has no row locks and needs none: its write transaction already excludes others).
    query = query.order_by(outbox.c.next_attempt_at, outbox.c.id).limit(limit).with_for_update(skip_locked=True)
    rows = conn.execute(query).all()
    if not rows:
        return []
    ids = [row.id for row in rows]
    conn.execute(
        update(outbox)
        .where(outbox.c.id.in_(bindparam("ids", expanding=True)))
        .values(status="in_flight", claimed_by=worker[:200], claimed_until=iso(lease_until)),
        {"ids": ids},
    )
    expired = [{"id": row.id, "worker": row.claimed_by} for row in rows if row.status == "in_flight"]
    audit_mod.append(
        conn,
        "outbox.claim",
        "outbox",
        {"worker": worker, "ids": ids, "lease_until": iso(lease_until), "lease_expired": expired},
        actor=actor,
    )
    claimed = conn.execute(
        select(outbox).where(outbox.c.id.in_(bindparam("ids", expanding=True))), {"ids": ids}
    )
    by_id = {row.id: _entry(row) for row in claimed}
    return [by_id[i] for i in ids]


def _locked(conn: Connection, entry_id: int) -> OutboxEntry:
    row = conn.execute(select(outbox).where(outbox.c.id == entry_id).with_for_update()).first()
    if row is None:
        raise StoreError(f"no outbox entry with id {entry_id}")
    return _entry(row)


# -- the outbox of a store --------------------------------------------------------------------


class Outbox:
    """The outbox of ``store``. ``clock`` and ``rng`` (a ``random.Random``-like object) are for tests."""

    def __init__(
        self,
        store: Store,
        policy: OutboxPolicy | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        rng: Any = None,
    ) -> None:
        self.store = store
        self.policy = policy or OutboxPolicy.from_env()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._rng = rng or secrets.SystemRandom()

    def now(self) -> datetime:
        return self._clock()

    def _scrub(self, message: str) -> str:
        return scrub_text(self.store._scrub(message))[:MAX_ERROR_LENGTH]

    def enqueue(
        self, conn: Connection, kind: str, key: str, payload: Any, *, actor: str = DEFAULT_ACTOR
    ) -> OutboxEntry:
        """See :func:`enqueue`: joins ``conn``'s transaction (from :meth:`Store.begin`)."""
        return enqueue(conn, kind, key, payload, actor=actor, now=self.now())

    def claim(
        self,
        worker: str,
        limit: int = 10,
        lease_seconds: float = 300.0,
        *,
        kinds: Sequence[str] | None = None,
        actor: str = DEFAULT_ACTOR,
    ) -> list[OutboxEntry]:
        """Mark up to ``limit`` due entries ``in_flight`` for ``worker``, leased for ``lease_seconds``.

        Due: pending with ``next_attempt_at`` reached, or in flight with an expired lease.
        Oldest due first. Each entry goes to one worker at a time.
        """
        if limit < 1 or lease_seconds <= 0:
            raise StoreError("claim needs limit >= 1 and lease_seconds > 0")
        now = self.now()
        with self.store.begin() as conn:
            return claim_in(
                conn, worker, limit, now, now + timedelta(seconds=lease_seconds), kinds=kinds, actor=actor
            )

    def mark_sent(
        self, entry_id: int, response: Any = None, *, worker: str | None = None, actor: str = DEFAULT_ACTOR
    ) -> OutboxEntry:
        """Record a successful send (idempotent: an entry already sent is returned unchanged).

        Accepted from a worker whose lease expired meanwhile: the send happened.
        """
        return self.mark_sent_many([(entry_id, response)], worker=worker, actor=actor)[0]

    def mark_sent_many(
        self, sent: list[tuple[int, Any]], *, worker: str | None = None, actor: str = DEFAULT_ACTOR
    ) -> list[OutboxEntry]:
        """``mark_sent`` for the entries of one platform batch, ``(entry id, response)`` each, in one
        transaction: all are recorded or none."""
        for _, response in sent:
            _check_no_floats(response, "response")
        with self.store.begin() as conn:
            return [self._mark_sent(conn, entry_id, response, worker, actor) for entry_id, response in sent]

    def _mark_sent(self, conn: Connection, entry_id: int, response: Any, worker: str | None,
                   actor: str) -> OutboxEntry:
        entry = _locked(conn, entry_id)
        if entry.status == "sent":
            return entry
        if entry.status == "dead":
            raise StoreError(f"outbox entry {entry_id} is dead; replay it before recording a send")
        stamp = iso(self.now())
        conn.execute(
            update(outbox)
            .where(outbox.c.id == entry_id)
            .values(
                status="sent",
                sent_at=stamp,
                response=None if response is None else dumps(scrub_value(response)),
                claimed_until=None,
            )
        )
        audit_mod.append(
            conn,
            "outbox.sent",
            f"outbox:{entry_id}",
            {"kind": entry.kind, "key": entry.idempotency_key, "worker": worker, "attempts": entry.attempts},
            actor=actor,
        )
        return get_entry(conn, entry_id)  # type: ignore[return-value]

    def mark_failed(
        self,
        entry_id: int,
        error: str,
        retry_after: float | timedelta | None = None,
        *,
        connection_error: bool = False,
        worker: str | None = None,
        actor: str = DEFAULT_ACTOR,
    ) -> OutboxEntry:
        """Record a failed send: back to ``pending`` after a backoff, or ``dead`` at ``max_attempts``.

        ``retry_after`` (seconds, e.g. a Retry-After header) replaces the computed backoff.
        ``connection_error``: nothing reached the platform. It burns attempts only up to the
        policy's cap, never kills the entry, and holds back every pending entry of the same kind
        until the retry time (the platform is unreachable for all of them).
        """
        policy = self.policy
        now = self.now()
        message = self._scrub(str(error))
        with self.store.begin() as conn:
            entry = _locked(conn, entry_id)
            if entry.status not in ("pending", "in_flight"):
                raise StoreError(f"outbox entry {entry_id} is {entry.status}; a failure cannot be recorded")
            if worker is not None and entry.status == "in_flight" and entry.claimed_by != worker:
                # The lease expired and another worker holds the entry now: its outcome counts.
                raise StoreError(
                    f"outbox entry {entry_id} is claimed by {entry.claimed_by}, not {worker}; failure not recorded"
                )
            attempts = entry.attempts
            if not connection_error or attempts < policy.connection_attempt_cap:
                attempts += 1
            dead = not connection_error and attempts >= policy.max_attempts
            if retry_after is not None:
                seconds = retry_after.total_seconds() if isinstance(retry_after, timedelta) else float(retry_after)
                delay = max(seconds, 0.0)
            else:
                delay = policy.delay(attempts, self._rng.random())
            next_at = iso(now + timedelta(seconds=delay))
            conn.execute(
                update(outbox)
                .where(outbox.c.id == entry_id)
                .values(
                    status="dead" if dead else "pending",
                    attempts=attempts,
                    next_attempt_at=entry.next_attempt_at if dead else next_at,
                    last_error=message,
                    claimed_by=None,
                    claimed_until=None,
                )
            )
            paused = 0
            if connection_error:
                paused = _push_back(conn, next_at, kind=entry.kind)
            audit_mod.append(
                conn,
                "outbox.dead" if dead else "outbox.retry",
                f"outbox:{entry_id}",
                {
                    "kind": entry.kind,
                    "key": entry.idempotency_key,
                    "worker": worker,
                    "attempts": attempts,
                    "next_attempt_at": None if dead else next_at,
                    "error": message,
                    "connection_error": connection_error,
                    **({"held_back": paused} if connection_error else {}),
                },
                actor=actor,
            )
            return get_entry(conn, entry_id)  # type: ignore[return-value]

    def pause_until(
        self, until: datetime, *, kind: str | None = None, reason: str = "", actor: str = DEFAULT_ACTOR
    ) -> int:
        """Hold back pending entries (of ``kind``, or all) until ``until``; returns how many moved.

        For a platform known to be unreachable: nothing is claimed before ``until`` and no
        attempt is burnt. Entries already due later keep their time.
        """
        stamp = iso(until)
        with self.store.begin() as conn:
            moved = _push_back(conn, stamp, kind=kind)
            audit_mod.append(
                conn,
                "outbox.pause",
                "outbox",
                {"until": stamp, "kind": kind, "entries": moved, "reason": self._scrub(reason)},
                actor=actor,
            )
        return moved

    def replay(self, ids: Iterable[int], *, actor: str = DEFAULT_ACTOR) -> list[int]:
        """Dead entries back to ``pending``, due now, attempts reset (audited). Refuses anything not dead."""
        wanted = sorted({int(i) for i in ids})
        if not wanted:
            return []
        stamp = iso(self.now())
        with self.store.begin() as conn:
            found = statuses_by_id(conn, outbox, wanted, what="outbox entry", lock=True)
            not_dead = [f"{i} ({found[i]})" for i in wanted if found[i] != "dead"]
            if not_dead:
                raise StoreError(f"only dead entries can be replayed; not changed: {', '.join(not_dead[:20])}")
            change = (
                update(outbox)
                .where(outbox.c.id.in_(bindparam("ids", expanding=True)), outbox.c.status == "dead")
                .values(status="pending", attempts=0, next_attempt_at=stamp, claimed_by=None, claimed_until=None)
            )
            for start in range(0, len(wanted), ID_CHUNK):
                conn.execute(change, {"ids": wanted[start : start + ID_CHUNK]})
            audit_mod.append(conn, "outbox.replay", "outbox", {"ids": wanted}, actor=actor)
        return wanted

    # -- reading ------------------------------------------------------------------------------

    def get(self, entry_id: int) -> OutboxEntry | None:
        with self.store._read() as conn:
            return get_entry(conn, entry_id)

    def entries(self, status: str | None = None, *, kind: str | None = None, limit: int = 100) -> list[OutboxEntry]:
        """Entries oldest first, of one status or all."""
        if status is not None and status not in OUTBOX_STATUSES:
            raise StoreError(f"unknown outbox status {status!r}; expected one of {', '.join(OUTBOX_STATUSES)}")
        query = select(outbox).order_by(outbox.c.id).limit(limit)
        if status is not None:
            query = query.where(outbox.c.status == status)
        if kind is not None:
            query = query.where(outbox.c.kind == kind)
        with self.store._read() as conn:
            return [_entry(row) for row in conn.execute(query)]

    def dead_letters(self, *, kind: str | None = None, limit: int = 100) -> list[OutboxEntry]:
        return self.entries("dead", kind=kind, limit=limit)


def _push_back(conn: Connection, stamp: str, *, kind: str | None) -> int:
    change = update(outbox).where(outbox.c.status == "pending", outbox.c.next_attempt_at < stamp)
    if kind is not None:
        change = change.where(outbox.c.kind == kind)
    return int(conn.execute(change.values(next_attempt_at=stamp)).rowcount or 0)
