"""The queries behind the finance-ops console: feed health, the quarantine with filters and pages,
the audit log search and its incrementally verified chain, financing and cash-application figures.

Each query is bounded (a page, a count over an index, one row per feed) so that a page answers
quickly on a store with millions of records; the indexes they use come with migration 0004.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Connection, Table, bindparam, cast, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ledgerlink.errors import StoreError
from ledgerlink.model.money import format_amount
from ledgerlink.store import audit as audit_mod
from ledgerlink.store.audit import GENESIS, AuditCheck, AuditEntry
from ledgerlink.store.db import utcnow
from ledgerlink.store.records import is_head
from ledgerlink.store.repository import Repository
from ledgerlink.store.tables import (
    QUARANTINE_STATUSES,
    audit_checkpoint,
    audit_log,
    cash_matches,
    financing_decisions,
    outbox,
    quarantine,
    records,
    runs,
    settings,
)

MAX_PAGE_SIZE = 500
RECENT_RUNS = 50  # a feed's latest runs read at once for its health
CHAIN = "audit_log"  # the checkpoint's name


@dataclass(frozen=True)
class QuarantineFilter:
    """What the quarantine page filters on; ``None`` leaves a field open."""

    feed: str | None = None
    source_name: str | None = None
    rule: str | None = None  # the reason code: the rule of the entry's first error
    status: str | None = "open"
    created_from: dt.date | None = None
    created_to: dt.date | None = None  # inclusive

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in QUARANTINE_STATUSES:
            raise StoreError(f"unknown quarantine status {self.status!r}; "
                             f"expected one of {', '.join(QUARANTINE_STATUSES)}")


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    total: int
    page: int  # 1-based
    size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))


@dataclass(frozen=True)
class AuditFilter:
    subject: str | None = None  # exact, e.g. ``run:<id>`` or ``bank_transaction:<key>``
    actor: str | None = None
    action_prefix: str | None = None
    at_from: dt.date | None = None
    at_to: dt.date | None = None  # inclusive
    before_id: int | None = None  # paging: entries older than this one


def _day_after(day: dt.date) -> str:
    return (day + dt.timedelta(days=1)).isoformat()


def _check_size(size: int) -> None:
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise StoreError(f"page size {size} is not between 1 and {MAX_PAGE_SIZE}")


def amounts_text(amounts: Mapping[str, Any] | None) -> str:
    """``{"EUR": "10.00", "USD": "2.50"}`` as ``10.00 EUR, 2.50 USD``."""
    return ", ".join(f"{amount} {currency}" for currency, amount in sorted((amounts or {}).items()))


class ConsoleQueries(Repository):
    """``store.console``: read-mostly queries for the console's pages."""

    # -- feeds ----------------------------------------------------------------------------------------

    def feed_health(self) -> list[dict[str, Any]]:
        """One row per feed that has run: its latest run (with control totals), its latest
        succeeded run, the failed runs since then, and its open quarantine rows."""
        recent = (select(runs.c.id, runs.c.status, runs.c.started_at).where(runs.c.feed == bindparam("feed"))
                  .order_by(runs.c.started_at.desc()).limit(RECENT_RUNS))
        with self._reading() as conn:
            feeds = [f for (f,) in conn.execute(select(runs.c.feed).distinct().order_by(runs.c.feed))]
            open_q: dict[str, int] = dict(conn.execute(
                select(quarantine.c.feed, func.count()).where(quarantine.c.status == "open")
                .group_by(quarantine.c.feed)).all())
            picks: dict[str, tuple[str, str | None, int]] = {}
            for feed in feeds:
                # One read of the feed's latest runs answers all three, unless its last success is older.
                rows = conn.execute(recent, {"feed": feed}).all()
                success = next((r for r in rows if r.status == "succeeded"), None)
                if success is not None or len(rows) < RECENT_RUNS:
                    failures = sum(1 for r in rows if r.status == "failed"
                                   and (success is None or r.started_at > success.started_at))
                    picks[feed] = (rows[0].id, success.id if success else None, failures)
                    continue
                older = self._latest_run(conn, feed, "succeeded")
                since = select(func.count()).select_from(runs).where(runs.c.feed == feed, runs.c.status == "failed")
                if older is not None:
                    since = since.where(runs.c.started_at > older["started_at"])
                picks[feed] = (rows[0].id, older["id"] if older else None, int(conn.execute(since).scalar() or 0))
            wanted = {i for latest, success_id, _ in picks.values() for i in (latest, success_id) if i}
            full = {r["id"]: r for r in (self._run_dict(row) for row in conn.execute(
                select(runs).where(runs.c.id.in_(sorted(wanted)))).mappings())} if wanted else {}
        return [{"feed": feed, "last_run": full.get(latest), "last_success": full.get(success_id or ""),
                 "failures_since_success": failures, "open_quarantine": int(open_q.get(feed, 0))}
                for feed, (latest, success_id, failures) in picks.items()]

    @staticmethod
    def _run_dict(row: Any) -> dict[str, Any]:
        data = dict(row)
        for name in ("source", "totals", "drift"):
            data[name] = None if data[name] is None else json.loads(data[name])
        return data

    @classmethod
    def _latest_run(cls, conn: Connection, feed: str, status: str | None = None) -> dict[str, Any] | None:
        query = select(runs).where(runs.c.feed == feed).order_by(runs.c.started_at.desc()).limit(1)
        if status is not None:
            query = query.where(runs.c.status == status)
        row = conn.execute(query).mappings().first()
        return None if row is None else cls._run_dict(row)

    # -- quarantine -----------------------------------------------------------------------------------

    def quarantine_page(self, where: QuarantineFilter, *, page: int = 1, size: int = 50) -> Page:
        """Entries matching ``where``, newest first, one page of them, and how many match in all.
        Rows carry their errors but not the raw source values (see ``Store.get_quarantine``)."""
        _check_size(size)
        if page < 1:
            raise StoreError(f"page {page} is not a page number (1, 2, ...)")
        conditions = []
        if where.feed is not None:
            conditions.append(quarantine.c.feed == where.feed)
        if where.source_name is not None:
            conditions.append(quarantine.c.source_name == where.source_name)
        if where.rule is not None:
            conditions.append(quarantine.c.reason_code == where.rule)
        if where.status is not None:
            conditions.append(quarantine.c.status == where.status)
        if where.created_from is not None:
            conditions.append(quarantine.c.created_at >= where.created_from.isoformat())
        if where.created_to is not None:
            conditions.append(quarantine.c.created_at < _day_after(where.created_to))
        # The page's ids first, from an index alone (a deep page skips index entries, not rows), then its rows.
        ids = (select(quarantine.c.id).where(*conditions).order_by(quarantine.c.id.desc())
               .limit(size).offset((page - 1) * size))
        columns = [c for c in quarantine.c if c.name != "raw"]
        with self._reading() as conn:
            total = int(conn.execute(select(func.count()).select_from(quarantine).where(*conditions)).scalar() or 0)
            wanted = list(conn.execute(ids).scalars())
            query = select(*columns).where(quarantine.c.id.in_(wanted)).order_by(quarantine.c.id.desc())
            rows = [{**row, "errors": json.loads(row["errors"])} for row in conn.execute(query).mappings()]
        return Page(rows, total, page, size)

    def quarantine_choices(self) -> dict[str, list[str]]:
        """The feeds and rules the quarantine holds (for the filter form's lists)."""
        with self._reading() as conn:
            feeds = [f for (f,) in conn.execute(select(quarantine.c.feed).distinct().order_by(quarantine.c.feed))]
            rules = [r for (r,) in conn.execute(
                select(quarantine.c.reason_code).distinct().order_by(quarantine.c.reason_code))]
        return {"feed": feeds, "rule": rules}

    # -- audit ----------------------------------------------------------------------------------------

    def audit_search(self, where: AuditFilter, *, size: int = 50) -> list[dict[str, Any]]:
        """Entries matching ``where``, newest first (``before_id`` pages back)."""
        _check_size(size)
        query = select(audit_log).order_by(audit_log.c.id.desc()).limit(size)
        if where.subject is not None:
            query = query.where(audit_log.c.subject == where.subject)
        if where.actor is not None:
            query = query.where(audit_log.c.actor == where.actor)
        if where.action_prefix is not None:
            query = query.where(audit_log.c.action.startswith(where.action_prefix, autoescape=True))
        if where.at_from is not None:
            query = query.where(audit_log.c.at >= where.at_from.isoformat())
        if where.at_to is not None:
            query = query.where(audit_log.c.at < _day_after(where.at_to))
        if where.before_id is not None:
            query = query.where(audit_log.c.id < where.before_id)
        with self._reading() as conn:
            return [{**row, "details": json.loads(row["details"])} for row in conn.execute(query).mappings()]

    def verify_audit_chain_incrementally(self) -> AuditCheck:
        """Check the entries appended since the last check, from the stored checkpoint (the last
        entry verified and its hash), and move the checkpoint on. The checkpointed entry itself is
        re-read, so changing it shows too; a full check (``ledgerlink audit verify``) reads every entry."""
        with self._writing() as work:
            conn = work._conn
            mark = conn.execute(select(audit_checkpoint).where(audit_checkpoint.c.name == CHAIN)).mappings().first()
            after_id, prev_hash, checked = (None, GENESIS, 0) if mark is None else (
                mark["verified_id"], mark["verified_hash"], mark["checked"])
            if after_id is not None:
                row = conn.execute(select(audit_log).where(audit_log.c.id == after_id)).mappings().first()
                if row is None or row["hash"] != prev_hash or audit_mod.entry_hash(
                        row["prev_hash"], row["at"], row["actor"], row["action"], row["subject"],
                        row["details"]) != prev_hash:
                    return AuditCheck(ok=False, checked=checked, first_bad_id=after_id,
                                      reason=f"entry {after_id}, verified before, was removed or altered")
            result = audit_mod.verify_chain(conn, after_id=after_id, prev_hash=prev_hash, checked=checked)
            if result.ok and result.checked > checked:
                last = conn.execute(select(audit_log.c.id, audit_log.c.hash).order_by(audit_log.c.id.desc())
                                    .limit(1)).one()
                values = {"verified_id": last.id, "verified_hash": last.hash, "checked": result.checked,
                          "verified_at": utcnow()}
                if mark is None:  # two first checks at once: the first to write wins, both verified the same
                    first = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(audit_checkpoint)
                    conn.execute(first.values(name=CHAIN, **values).on_conflict_do_nothing())
                else:
                    conn.execute(update(audit_checkpoint).where(audit_checkpoint.c.name == CHAIN,
                                                                audit_checkpoint.c.verified_id < last.id)
                                 .values(**values))
            return result

    # -- financing ------------------------------------------------------------------------------------

    def financing_overview(self, *, submit_kind: str, request_entity: str, kind_prefix: str) -> dict[str, Any]:
        """Decisions by outcome, the submissions waiting to be sent (count and amounts per currency),
        outbox entries of ``kind_prefix`` by status, and current ``request_entity`` records by status."""
        with self._reading() as conn:
            decisions: dict[str, int] = dict(conn.execute(select(financing_decisions.c.decision, func.count())
                                          .group_by(financing_decisions.c.decision)).all())
            outbox_status: dict[str, int] = dict(conn.execute(
                select(outbox.c.status, func.count())
                .where(outbox.c.kind.startswith(kind_prefix, autoescape=True)).group_by(outbox.c.status)).all())
            waiting: dict[str, Decimal] = {}
            count = 0
            for (payload,) in conn.execute(select(outbox.c.payload).where(
                    outbox.c.kind == submit_kind, outbox.c.status.in_(["pending", "in_flight"]))):
                data = json.loads(payload)
                waiting[data["currency"]] = waiting.get(data["currency"], Decimal(0)) + Decimal(str(data["amount"]))
                count += 1
            by_status = self._current_by_status(conn, request_entity)
        return {"decisions": decisions, "outbox": outbox_status, "waiting_count": count,
                "waiting_amounts": {c: format_amount(a) for c, a in sorted(waiting.items())},
                "requests_by_status": by_status}

    def _current_by_status(self, conn: Connection, entity: str) -> dict[str, int]:
        """Current records of ``entity`` per payload status. Counting reads every one of them, so the
        counts are kept until a record of any entity is written (the newest record id changes)."""
        newest = conn.execute(select(func.max(records.c.id))).scalar()
        key = (self.store.display_url, entity, newest)  # type: ignore[attr-defined]
        if key not in _BY_STATUS:
            status = (func.json_extract(records.c.payload, "$.status") if conn.dialect.name == "sqlite"
                      else cast(records.c.payload, JSON)["status"].as_string())
            rows = conn.execute(
                select(status, func.count()).select_from(records)
                .where(records.c.entity == entity, is_head()).group_by(status)).all()
            _BY_STATUS.clear()  # one entry per store and entity is all a process needs
            _BY_STATUS[key] = {str(k): int(v) for k, v in sorted(rows, key=lambda kv: str(kv[0]))}
        return dict(_BY_STATUS[key])

    def dead_letters(self, *, kind_prefix: str, limit: int = 100) -> list[dict[str, Any]]:
        """Dead outbox entries of kinds starting with ``kind_prefix``, newest first (payload parsed)."""
        query = (select(outbox).where(outbox.c.status == "dead", outbox.c.kind.startswith(kind_prefix, autoescape=True))
                 .order_by(outbox.c.id.desc()).limit(limit))
        with self._reading() as conn:
            return [{**row, "payload": json.loads(row["payload"])} for row in conn.execute(query).mappings()]

    # -- cash application -----------------------------------------------------------------------------

    def worklist_page(self, *, status: str = "open", page: int = 1, size: int = 50) -> Page:
        """Cash matches of one status, oldest first, one page, with the total."""
        _check_size(size)
        if page < 1:
            raise StoreError(f"page {page} is not a page number (1, 2, ...)")
        where = cash_matches.c.status == status
        with self._reading() as conn:
            total = int(conn.execute(select(func.count()).select_from(cash_matches).where(where)).scalar() or 0)
            rows = [{**row, **{k: json.loads(row[k]) for k in ("counterparty", "allocations", "evidence")}}
                    for row in conn.execute(select(cash_matches).where(where).order_by(cash_matches.c.id)
                                            .limit(size).offset((page - 1) * size)).mappings()]
        return Page(rows, total, page, size)

    # -- settings -------------------------------------------------------------------------------------

    def settings(self) -> dict[str, dict[str, Any]]:
        """Every stored setting: value, updated_by, updated_at, by key."""
        with self._reading() as conn:
            return {row["key"]: {k: row[k] for k in ("value", "updated_by", "updated_at")}
                    for row in conn.execute(select(settings)).mappings()}

    def setting(self, key: str) -> str | None:
        with self._reading() as conn:
            return conn.execute(select(settings.c.value).where(settings.c.key == key)).scalar()

    def change_setting(self, key: str, value: str, *, actor: str) -> None:
        """Store ``value`` for ``key`` (audited with the value before)."""
        with self._writing() as work:
            conn = work._conn
            before = conn.execute(select(settings.c.value).where(settings.c.key == key)).scalar()
            values = {"value": value, "updated_by": actor, "updated_at": utcnow()}
            if before is None:
                conn.execute(insert(settings).values(key=key, **values))
            else:
                conn.execute(update(settings).where(settings.c.key == key).values(**values))
            work.audit("settings.change", f"setting:{key}", {"before": before, "after": value}, actor=actor)

    # -- bulk loading (benchmarks, demos) -------------------------------------------------------------

    def bulk_insert(self, table: str, rows: Iterable[Mapping[str, Any]], *, chunk: int = 20_000) -> int:
        """Insert rows as they are into one of the store's tables, in chunks, without audit: for
        seeding a store to measure it. Audit entries go through :meth:`bulk_audit` (they are chained)."""
        target = BULK_TABLES.get(table)
        if target is None:
            raise StoreError(f"bulk_insert: unknown table {table!r}; expected one of {', '.join(sorted(BULK_TABLES))}")
        total = 0
        batch: list[Mapping[str, Any]] = []
        with self._writing() as work:
            conn = work._conn
            for row in rows:
                batch.append(row)
                if len(batch) >= chunk:
                    conn.execute(insert(target), batch)
                    total += len(batch)
                    batch = []
            if batch:
                conn.execute(insert(target), batch)
                total += len(batch)
        return total

    def bulk_audit(self, entries: Sequence[AuditEntry]) -> None:
        """Append many audit entries, chained, in one transaction."""
        with self._writing() as work:
            audit_mod.append_many(work._conn, entries)


_BY_STATUS: dict[tuple[str, str, Any], dict[str, int]] = {}

BULK_TABLES: dict[str, Table] = {t.name: t for t in (runs, records, quarantine, outbox,
                                                      financing_decisions, cash_matches)}
