"""Transactional outbox: requests to other systems, sent at least once, recorded exactly once.

A request is enqueued in the unit of work of the decision that caused it (``work.outbox``, see
:meth:`Store.unit_of_work`), so it exists if and only if that decision committed. Workers
:meth:`Outbox.claim` due entries with a lease: PostgreSQL hands each row to one worker
(``SELECT ... FOR UPDATE SKIP LOCKED``), SQLite admits one writer at a time (the store's writes run
in ``BEGIN IMMEDIATE``). A worker that dies between sending and :meth:`Outbox.mark_sent` loses
nothing: its lease expires, the entry is claimed again and re-sent with the same idempotency key,
which the receiver deduplicates.

States: ``pending`` -> ``in_flight`` -> ``sent``; a failure returns the entry to ``pending`` with
an exponential backoff, or moves it to ``dead`` after ``max_attempts``; :meth:`Outbox.replay`
brings dead entries back. Every state change is written to the audit log in its transaction, one
entry per outbox entry; the ``*_many`` methods record a batch's entries in one transaction, with
their audit entries appended together.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ledgerlink.errors import ConfigError, StoreError
from ledgerlink.redact import mask_accounts_in_text
from ledgerlink.store.db import ID_CHUNK, dumps, execute_many, statuses_by_id
from ledgerlink.store.repository import Repository, StoreAccess, WorkAccess
from ledgerlink.store.tables import OUTBOX_STATUSES, outbox

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


class OutboxRequest(NamedTuple):
    """A request to enqueue: its kind, its idempotency key and the payload to send."""

    kind: str
    key: str
    payload: Any


def _entry(row: Any) -> OutboxEntry:
    """An entry from a row of ``select(outbox)`` (the table's columns are the entry's fields, in order)."""
    (entry_id, kind, key, payload, status, attempts, next_attempt_at, last_error, claimed_by, claimed_until,
     created_at, sent_at, response) = row
    return OutboxEntry(entry_id, kind, key, json.loads(payload), status, attempts, next_attempt_at, last_error,
                       claimed_by, claimed_until, created_at, sent_at, _json_or_none(response))


def _json_or_none(text: str | None) -> Any:
    return None if text is None else json.loads(text)


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


@lru_cache(maxsize=4096)
def _secret_key(key: str) -> bool:
    return _SECRET_KEY.match(key) is not None


def scrub_value(value: Any) -> Any:
    """A JSON value with the values of secret-named keys replaced by ``***``."""
    if isinstance(value, dict):
        return {k: "***" if _secret_key(str(k)) else scrub_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_value(v) for v in value]
    return value


def _check_no_floats(value: Any, path: str = "payload") -> None:
    # Amounts travel as Decimal or text: a float would change the payload's hash and its cents.
    if isinstance(value, float):
        raise StoreError(f"{path} is a float ({value!r}); pass amounts as Decimal or text")
    if isinstance(value, dict):
        for k, v in value.items():
            if type(v) is not str:  # most values are text: no call for them
                _check_no_floats(v, f"{path}.{k}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            if type(v) is not str:
                _check_no_floats(v, f"{path}[{i}]")


# -- queries inside a transaction -------------------------------------------------------------

def _check_request(request: OutboxRequest) -> None:
    if not request.kind or not request.key:
        raise StoreError("an outbox entry needs a kind and an idempotency key")
    if len(request.key) > MAX_KEY_LENGTH:
        raise StoreError(f"idempotency key is {len(request.key)} characters; at most {MAX_KEY_LENGTH}")
    _check_no_floats(request.payload)


def _entries_by_id(conn: Connection, ids: Sequence[int], *, lock: bool = False) -> dict[int, OutboxEntry]:
    """The entries with these ids that exist (row-locked with ``lock``)."""
    query = select(outbox).where(outbox.c.id.in_(bindparam("ids", expanding=True)))
    if lock:
        query = query.with_for_update()
    wanted = sorted(set(ids))
    found: dict[int, OutboxEntry] = {}
    for start in range(0, len(wanted), ID_CHUNK):
        found.update((row.id, _entry(row)) for row in conn.execute(query, {"ids": wanted[start : start + ID_CHUNK]}))
    return found


def _locked_entries(conn: Connection, ids: Sequence[int]) -> dict[int, OutboxEntry]:
    found = _entries_by_id(conn, ids, lock=True)
    missing = [i for i in ids if i not in found]
    if missing:
        raise StoreError(f"no outbox entry with id {', '.join(map(str, missing[:20]))}")
    return found


def _entries_by_key(conn: Connection, keys: Sequence[str]) -> dict[str, OutboxEntry]:
    query = select(outbox).where(outbox.c.idempotency_key.in_(bindparam("keys", expanding=True)))
    found: dict[str, OutboxEntry] = {}
    for start in range(0, len(keys), ID_CHUNK):
        for row in conn.execute(query, {"keys": list(keys[start : start + ID_CHUNK])}):
            found[row.idempotency_key] = _entry(row)
    return found


def _push_back(conn: Connection, stamp: str, *, kind: str | None) -> int:
    change = update(outbox).where(outbox.c.status == "pending", outbox.c.next_attempt_at < stamp)
    if kind is not None:
        change = change.where(outbox.c.kind == kind)
    return int(conn.execute(change.values(next_attempt_at=stamp)).rowcount or 0)


# -- the outbox of a store --------------------------------------------------------------------


class Outbox(Repository):
    """The outbox of ``store``. ``clock`` and ``rng`` (a ``random.Random``-like object) are for tests.

    Each method runs in a transaction of its own; ``work.outbox`` (or :meth:`within`) runs them in
    that unit of work's transaction.
    """

    def __init__(
        self,
        store: StoreAccess,
        policy: OutboxPolicy | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        rng: Any = None,
        work: WorkAccess | None = None,
    ) -> None:
        super().__init__(store, work=work)
        self.policy = policy or OutboxPolicy.from_env()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._rng = rng or secrets.SystemRandom()

    def within(self, work: WorkAccess) -> Outbox:
        """This outbox (same policy and clock) in ``work``'s transaction."""
        return Outbox(self.store, self.policy, clock=self._clock, rng=self._rng, work=work)

    def now(self) -> datetime:
        return self._clock()

    def _scrub(self, message: str) -> str:
        return scrub_text(self.store._scrub(message))[:MAX_ERROR_LENGTH]

    # -- enqueueing -----------------------------------------------------------------------------

    def enqueue(self, kind: str, key: str, payload: Any, *, actor: str = DEFAULT_ACTOR) -> OutboxEntry:
        """Add a pending entry; a key already enqueued returns that entry unchanged."""
        return self.enqueue_many([OutboxRequest(kind, key, payload)], actor=actor)[0][0]

    def enqueue_many(
        self, requests: Sequence[OutboxRequest], *, actor: str = DEFAULT_ACTOR
    ) -> list[tuple[OutboxEntry, bool]]:
        """:meth:`enqueue` for each request, in one transaction: each request's entry, and whether it
        is new (False for a key enqueued before, or earlier in ``requests``)."""
        with self._writing() as work:
            enqueued = self._enqueue(work, requests, actor)
            found = _entries_by_id(work._conn, [entry_id for entry_id, _ in enqueued])
        return [(found[entry_id], is_new) for entry_id, is_new in enqueued]

    def enqueue_ids(
        self, requests: Sequence[OutboxRequest], *, actor: str = DEFAULT_ACTOR
    ) -> list[tuple[int, bool]]:
        """:meth:`enqueue_many` for a caller that needs only the entries' ids (a decide run of thousands):
        each request's entry id, and whether it is new; nothing is read back but the keys enqueued before."""
        with self._writing() as work:
            return self._enqueue(work, requests, actor)

    def _enqueue(self, work: WorkAccess, requests: Sequence[OutboxRequest], actor: str) -> list[tuple[int, bool]]:
        for request in requests:
            _check_request(request)
        first: dict[str, int] = {}
        for position, request in enumerate(requests):
            first.setdefault(request.key, position)
        keys = list(first)
        stamp = iso(self.now())
        rows = [
            {"kind": r.kind, "idempotency_key": r.key, "payload": dumps(r.payload), "status": "pending",
             "attempts": 0, "next_attempt_at": stamp, "created_at": stamp}
            for r in (requests[first[k]] for k in keys)
        ]
        conn = work._conn
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        found: dict[str, tuple[int, str]] = {}  # key -> (id, kind)
        if rows:
            # RETURNING gives the rows inserted, not those whose key was enqueued before: only those
            # are looked up.
            inserted = conn.execute(
                insert(outbox)
                .on_conflict_do_nothing(index_elements=["idempotency_key"])
                .returning(outbox.c.id, outbox.c.idempotency_key, outbox.c.kind),
                rows,
            )
            found = {key: (entry_id, kind) for entry_id, key, kind in inserted}
        new = set(found)
        found.update((key, (e.id, e.kind)) for key, e in _entries_by_key(conn, [k for k in keys if k not in new]).items())
        result = []
        for position, request in enumerate(requests):
            if request.key not in found:  # pragma: no cover - the insert or the conflicting row is always there
                raise StoreError(f"outbox entry with key {request.key} vanished while enqueueing")
            entry_id, kind = found[request.key]
            if kind != request.kind:
                raise StoreError(f"idempotency key {request.key} is already used by a {kind!r} entry (id {entry_id})")
            is_new = request.key in new and first[request.key] == position
            if is_new:
                work.audit("outbox.enqueue", f"outbox:{entry_id}", {"kind": kind, "key": request.key}, actor=actor)
            result.append((entry_id, is_new))
        return result

    # -- claiming and recording sends -------------------------------------------------------------

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
        now_s, lease_until = iso(now), iso(now + timedelta(seconds=lease_seconds))
        pending_due = and_(outbox.c.status == "pending", outbox.c.next_attempt_at <= now_s)
        lease_over = and_(outbox.c.status == "in_flight", outbox.c.claimed_until <= now_s)

        def oldest_due(condition: Any) -> Any:
            query = select(outbox).where(condition)
            if kinds:
                query = query.where(outbox.c.kind.in_(list(kinds)))
            return query.order_by(outbox.c.next_attempt_at, outbox.c.id).limit(limit)

        with self._writing() as work:
            conn = work._conn
            if conn.dialect.name == "postgresql":
                # Rows another transaction is claiming right now are skipped, not waited for.
                rows = list(conn.execute(oldest_due(or_(pending_due, lease_over)).with_for_update(skip_locked=True)))
            else:
                # SQLite has no row locks and needs none: its write transaction already excludes others.
                # The oldest pending entries come in their index's order, up to the limit (one query for
                # both states would read and sort every due entry), merged with the expired leases.
                rows = sorted([*conn.execute(oldest_due(pending_due)), *conn.execute(oldest_due(lease_over))],
                              key=lambda row: (row.next_attempt_at, row.id))[:limit]
            due_entries = [_entry(row) for row in rows]
            if not due_entries:
                return []
            ids = [e.id for e in due_entries]
            conn.execute(
                update(outbox)
                .where(outbox.c.id.in_(bindparam("ids", expanding=True)))
                .values(status="in_flight", claimed_by=worker[:200], claimed_until=lease_until),
                {"ids": ids},
            )
            expired = [{"id": e.id, "worker": e.claimed_by} for e in due_entries if e.status == "in_flight"]
            work.audit(
                "outbox.claim",
                "outbox",
                {"worker": worker, "ids": ids, "lease_until": lease_until, "lease_expired": expired},
                actor=actor,
            )
        # The entries as the update left them (no second read).
        return [replace(e, status="in_flight", claimed_by=worker[:200], claimed_until=lease_until) for e in due_entries]

    def mark_sent(
        self, entry_id: int, response: Any = None, *, worker: str | None = None, actor: str = DEFAULT_ACTOR
    ) -> OutboxEntry:
        """Record a successful send (idempotent: an entry already sent is returned unchanged).

        Accepted from a worker whose lease expired meanwhile: the send happened.
        """
        return self.mark_sent_many([(entry_id, response)], worker=worker, actor=actor)[0]

    def mark_sent_many(
        self, sent: Sequence[tuple[int, Any]], *, worker: str | None = None, actor: str = DEFAULT_ACTOR
    ) -> list[OutboxEntry]:
        """``mark_sent`` for the entries of one platform batch, ``(entry id, response)`` each, in one
        transaction: all are recorded or none."""
        for _, response in sent:
            _check_no_floats(response, "response")
        responses = dict(reversed(sent))  # an id given twice: its first response counts
        ids = list(dict.fromkeys(entry_id for entry_id, _ in sent))
        stamp = iso(self.now())
        with self._writing() as work:
            conn = work._conn
            before = _locked_entries(conn, ids)
            dead = [i for i in ids if before[i].status == "dead"]
            if dead:
                raise StoreError(f"outbox entry {dead[0]} is dead; replay it before recording a send")
            todo = [before[i] for i in ids if before[i].status != "sent"]
            stored = {e.id: None if responses[e.id] is None else dumps(scrub_value(responses[e.id])) for e in todo}
            execute_many(
                conn,
                update(outbox)
                .where(outbox.c.id == bindparam("entry_id"))
                .values(status="sent", sent_at=stamp, response=bindparam("sent_response"), claimed_until=None),
                [{"entry_id": entry_id, "sent_response": text} for entry_id, text in stored.items()],
            )
            for entry in todo:
                work.audit(
                    "outbox.sent",
                    f"outbox:{entry.id}",
                    {"kind": entry.kind, "key": entry.idempotency_key, "worker": worker, "attempts": entry.attempts},
                    actor=actor,
                )
        # The entries as the update left them (no second read); those sent before are unchanged.
        after = {**before, **{e.id: replace(e, status="sent", sent_at=stamp, claimed_until=None,
                                            response=_json_or_none(stored[e.id]))
                              for e in todo}}
        return [after[entry_id] for entry_id, _ in sent]

    # -- failures ---------------------------------------------------------------------------------

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
        with self._writing() as work:
            entry = _locked_entries(work._conn, [entry_id])[entry_id]
            refusal = _failure_refusal(entry, worker)
            if refusal:
                raise StoreError(refusal)
            return self._record_failures(work, [entry], error, retry_after, connection_error, worker, actor)[0]

    def mark_failed_many(
        self,
        entry_ids: Sequence[int],
        error: str,
        retry_after: float | timedelta | None = None,
        *,
        connection_error: bool = False,
        worker: str | None = None,
        actor: str = DEFAULT_ACTOR,
    ) -> list[OutboxEntry]:
        """:meth:`mark_failed` for the entries of one batch, in one transaction and with one delay, so
        that they come due (and are re-sent) together. An entry whose failure cannot be recorded (sent,
        dead, or claimed by another worker since its lease expired: that worker's outcome counts) is
        left as it is; returns the entries recorded."""
        with self._writing() as work:
            found = _locked_entries(work._conn, entry_ids)
            entries = [found[i] for i in dict.fromkeys(entry_ids) if _failure_refusal(found[i], worker) is None]
            return self._record_failures(work, entries, error, retry_after, connection_error, worker, actor)

    def _record_failures(
        self,
        work: WorkAccess,
        entries: list[OutboxEntry],
        error: str,
        retry_after: float | timedelta | None,
        connection_error: bool,
        worker: str | None,
        actor: str,
    ) -> list[OutboxEntry]:
        if not entries:
            return []
        policy = self.policy
        message = self._scrub(str(error))
        attempts = {
            e.id: e.attempts + int(not connection_error or e.attempts < policy.connection_attempt_cap)
            for e in entries
        }
        if retry_after is not None:
            seconds = retry_after.total_seconds() if isinstance(retry_after, timedelta) else float(retry_after)
            delay = max(seconds, 0.0)
        else:
            delay = policy.delay(max(attempts.values()), self._rng.random())
        next_at = iso(self.now() + timedelta(seconds=delay))
        dead = {e.id for e in entries if not connection_error and attempts[e.id] >= policy.max_attempts}
        conn = work._conn
        conn.execute(
            update(outbox)
            .where(outbox.c.id == bindparam("entry_id"))
            .values(status=bindparam("new_status"), attempts=bindparam("new_attempts"),
                    next_attempt_at=bindparam("next_at"), last_error=message, claimed_by=None, claimed_until=None),
            [{"entry_id": e.id, "new_status": "dead" if e.id in dead else "pending", "new_attempts": attempts[e.id],
              "next_at": e.next_attempt_at if e.id in dead else next_at} for e in entries],
        )
        held_back = 0
        if connection_error:
            for kind in sorted({e.kind for e in entries}):
                held_back += _push_back(conn, next_at, kind=kind)
        for e in entries:
            work.audit(
                "outbox.dead" if e.id in dead else "outbox.retry",
                f"outbox:{e.id}",
                {
                    "kind": e.kind,
                    "key": e.idempotency_key,
                    "worker": worker,
                    "attempts": attempts[e.id],
                    "next_attempt_at": None if e.id in dead else next_at,
                    "error": message,
                    "connection_error": connection_error,
                    **({"held_back": held_back} if connection_error else {}),
                },
                actor=actor,
            )
        after = _entries_by_id(conn, [e.id for e in entries])
        return [after[e.id] for e in entries]

    def mark_dead_many(
        self, refusals: Sequence[tuple[int, str]], *, worker: str | None = None, actor: str = DEFAULT_ACTOR
    ) -> list[OutboxEntry]:
        """Permanent refusals, ``(entry id, error)`` each (the request can never succeed): those of the
        entries still pending or in flight become dead at once, without burning their remaining
        attempts, in one transaction (audited). Returns them."""
        errors = {entry_id: self._scrub(str(error)) for entry_id, error in reversed(refusals)}
        with self._writing() as work:
            conn = work._conn
            found = _entries_by_id(conn, list(errors), lock=True)
            live = [found[i] for i in dict.fromkeys(i for i, _ in refusals)
                    if i in found and found[i].status in ("pending", "in_flight")]
            if not live:
                return []
            conn.execute(
                update(outbox)
                .where(outbox.c.id == bindparam("entry_id"))
                .values(status="dead", attempts=bindparam("new_attempts"), last_error=bindparam("error"),
                        claimed_by=None, claimed_until=None),
                [{"entry_id": e.id, "new_attempts": e.attempts + 1, "error": errors[e.id]} for e in live],
            )
            for e in live:
                work.audit(
                    "outbox.dead", f"outbox:{e.id}",
                    {"kind": e.kind, "key": e.idempotency_key, "worker": worker, "attempts": e.attempts + 1,
                     "next_attempt_at": None, "error": errors[e.id], "connection_error": False, "permanent": True},
                    actor=actor,
                )
            after = _entries_by_id(conn, [e.id for e in live])
        return [after[e.id] for e in live]

    def pause_until(
        self, until: datetime, *, kind: str | None = None, reason: str = "", actor: str = DEFAULT_ACTOR
    ) -> int:
        """Hold back pending entries (of ``kind``, or all) until ``until``; returns how many moved.

        For a platform known to be unreachable: nothing is claimed before ``until`` and no
        attempt is burnt. Entries already due later keep their time.
        """
        stamp = iso(until)
        with self._writing() as work:
            moved = _push_back(work._conn, stamp, kind=kind)
            work.audit(
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
        with self._writing() as work:
            conn = work._conn
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
            work.audit("outbox.replay", "outbox", {"ids": wanted}, actor=actor)
        return wanted

    # -- reading ------------------------------------------------------------------------------

    def get(self, entry_id: int) -> OutboxEntry | None:
        with self._reading() as conn:
            return _entries_by_id(conn, [entry_id]).get(entry_id)

    def get_many(self, entry_ids: Sequence[int]) -> list[OutboxEntry]:
        """The entries with these ids that exist, in the order of ``entry_ids``."""
        with self._reading() as conn:
            found = _entries_by_id(conn, entry_ids)
        return [found[i] for i in entry_ids if i in found]

    def get_by_key(self, key: str) -> OutboxEntry | None:
        """The entry with this idempotency key."""
        with self._reading() as conn:
            return _entries_by_key(conn, [key]).get(key)

    def entries(
        self, status: str | None = None, *, kind: str | None = None, limit: int | None = 100
    ) -> list[OutboxEntry]:
        """Entries oldest first, of one status or all; ``limit=None``: every one."""
        if status is not None and status not in OUTBOX_STATUSES:
            raise StoreError(f"unknown outbox status {status!r}; expected one of {', '.join(OUTBOX_STATUSES)}")
        query = select(outbox).order_by(outbox.c.id).limit(limit)
        if status is not None:
            query = query.where(outbox.c.status == status)
        if kind is not None:
            query = query.where(outbox.c.kind == kind)
        with self._reading() as conn:
            return [_entry(row) for row in conn.execute(query)]

    def dead_letters(self, *, kind: str | None = None, limit: int | None = 100) -> list[OutboxEntry]:
        return self.entries("dead", kind=kind, limit=limit)

    def count_by_status(self, *, kind: str | None = None) -> dict[str, int]:
        """Number of entries (of ``kind``, or all) per status that has any."""
        query = select(outbox.c.status, func.count()).group_by(outbox.c.status)
        if kind is not None:
            query = query.where(outbox.c.kind == kind)
        with self._reading() as conn:
            return {status: int(n) for status, n in sorted(conn.execute(query).all())}


def _failure_refusal(entry: OutboxEntry, worker: str | None) -> str | None:
    """Why a failure of ``entry`` reported by ``worker`` cannot be recorded, or None."""
    if entry.status not in ("pending", "in_flight"):
        return f"outbox entry {entry.id} is {entry.status}; a failure cannot be recorded"
    if worker is not None and entry.status == "in_flight" and entry.claimed_by != worker:
        # The lease expired and another worker holds the entry now: its outcome counts.
        return f"outbox entry {entry.id} is claimed by {entry.claimed_by}, not {worker}; failure not recorded"
    return None
