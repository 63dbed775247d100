"""The canonical store: the one object the pipeline, the CLI, the scheduler and domain modules talk to.

Its own methods cover records, runs, feed state, quarantine and the audit log; ``store.outbox`` and
``store.financing`` are the repositories of the outbox and of financing decisions; a domain step
whose reads and writes must commit together runs in ``store.unit_of_work()``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import SQLAlchemyError

from ledgerlink.config import store_url
from ledgerlink.errors import LedgerlinkError, StoreError
from ledgerlink.store import audit as audit_mod
from ledgerlink.store import feedstate as feedstate_mod
from ledgerlink.store import quarantine as quarantine_mod
from ledgerlink.store import records as records_mod
from ledgerlink.store import runs as runs_mod
from ledgerlink.store.audit import AuditCheck
from ledgerlink.store.cashapp import CashappRepository
from ledgerlink.store.checkpoint import AuditCheckpoint, CheckpointError
from ledgerlink.store.console import ConsoleQueries
from ledgerlink.store.db import (
    WRITE_OPTION,
    Scrubber,
    describe_db_error,
    make_engine,
    mask_url,
)
from ledgerlink.store.db import migrate as run_migrations
from ledgerlink.store.feedstate import FeedState
from ledgerlink.store.financing import FinancingRepository
from ledgerlink.store.outbox import Outbox
from ledgerlink.store.quarantine import QuarantineEntry
from ledgerlink.store.records import LoadResult, Records
from ledgerlink.store.tables import records as records_table
from ledgerlink.store.tables import runs as runs_table
from ledgerlink.store.unit_of_work import UnitOfWork

DEFAULT_ACTOR = "ledgerlink"


class Store:
    """The canonical store at ``url`` (default: :func:`ledgerlink.config.store_url`).

    Opening it brings the schema up to date (``alembic upgrade head``) unless
    ``migrate=False``. Every public method runs in its own transaction, except those
    given ``conn=``, which join the caller's transaction (see :meth:`begin`).
    Database errors surface as :class:`StoreError` with the URL's password masked.
    """

    engine: Engine

    def __init__(
        self, url: str | None = None, *, migrate: bool = True, checkpoint: AuditCheckpoint | None = None
    ) -> None:
        self._url = url or store_url()
        # Where the audit log's head is checkpointed after each commit that appended to it (default: the
        # settings LEDGERLINK_AUDIT_CHECKPOINT and LEDGERLINK_AUDIT_CHECKPOINT_KEY; none when unset).
        self.checkpoint = checkpoint if checkpoint is not None else AuditCheckpoint.from_settings()
        self.display_url = mask_url(self._url)
        self._scrub = Scrubber(self._url)
        try:
            self.engine = make_engine(self._url)
            self._writer = self.engine.execution_options(**{WRITE_OPTION: True})
            if migrate:
                run_migrations(self._writer)
        except LedgerlinkError as exc:
            raise StoreError(
                f"cannot open the store at {self.display_url}: {self._scrub(str(exc))}"
            ) from None
        except Exception as exc:
            raise StoreError(
                f"cannot open the store at {self.display_url}: {self._scrub(describe_db_error(exc))}"
            ) from None

    def __repr__(self) -> str:
        return f"Store({self.display_url!r})"

    def close(self) -> None:
        engine = getattr(self, "engine", None)
        if engine is not None:
            engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- transactions -------------------------------------------------------------------

    def _fail(self, what: str, exc: BaseException) -> StoreError:
        return StoreError(f"{what} failed on {self.display_url}: {self._scrub(describe_db_error(exc))}")

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction: commits when the block ends, rolls back if it raises.

        Pass its connection as ``conn=`` to :meth:`audit` or :meth:`resolve_quarantine`
        to make them part of a larger unit of work.
        """
        head = None
        try:
            with self._writer.begin() as conn:
                try:
                    yield conn
                finally:  # the connection goes back to the pool: take what this transaction left
                    head = conn.info.pop(audit_mod.HEAD_KEY, None)
        except LedgerlinkError:
            raise
        except SQLAlchemyError as exc:
            raise self._fail("write", exc) from None
        if head is not None and self.checkpoint is not None:  # committed: checkpoint the new head
            prev_hash, digest = head
            with self._read() as conn:
                seq = audit_mod.successor_id(conn, prev_hash)
            if seq is None:
                raise StoreError(f"the audit entry with hash {digest[:16]}... just committed is not in the store")
            self.checkpoint.write(seq, digest)

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        """A write transaction for a domain step, with the store's repositories joined to it (see
        :class:`~ledgerlink.store.unit_of_work.UnitOfWork`): commits when the block ends, with the
        audit entries it collected appended as one batch; rolls back if it raises."""
        with self.begin() as conn:
            work = UnitOfWork(self, conn)
            yield work
            work._commit_audit()

    @property
    def outbox(self) -> Outbox:
        """The outbox, with the retry policy of the environment (``Outbox(store, policy)`` for another)."""
        return Outbox(self)

    @property
    def cashapp(self) -> CashappRepository:
        """Cash application's matches (the worklist), unapplied cash and learned rules."""
        return CashappRepository(self)

    @property
    def console(self) -> ConsoleQueries:
        """The finance-ops console's queries: feed health, quarantine and audit search, figures."""
        return ConsoleQueries(self)

    @property
    def financing(self) -> FinancingRepository:
        """Financing decisions and the submissions they enqueued."""
        return FinancingRepository(self)

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except LedgerlinkError:
            raise
        except SQLAlchemyError as exc:
            raise self._fail("read", exc) from None

    @contextmanager
    def _joined(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is None:
            with self.begin() as own:
                yield own
            return
        try:
            yield conn
        except LedgerlinkError:
            raise
        except SQLAlchemyError as exc:
            raise self._fail("write", exc) from None

    # -- runs ---------------------------------------------------------------------------

    def start_run(
        self,
        feed: str,
        entity: str,
        *,
        source: dict | None = None,
        mapping: str | None = None,
        actor: str = DEFAULT_ACTOR,
        this_process: bool = False,
    ) -> str:
        """A new run of ``feed``. ``this_process``: the run starts and ends in the calling process (the
        command line), which the run keeps (host, pid) so that :meth:`fail_abandoned_runs` can tell it died."""
        with self.begin() as conn:
            run_id = runs_mod.start(conn, feed, entity, source=source, mapping=mapping, this_process=this_process)
            audit_mod.append(
                conn,
                "run.start",
                f"run:{run_id}",
                {"feed": feed, "entity": entity, "mapping": mapping, "source": source},
                actor=actor,
            )
        return run_id

    def finish_run(
        self,
        run_id: str,
        status: str,
        *,
        totals: dict | None = None,
        drift: list | None = None,
        error: str | None = None,
        actor: str = DEFAULT_ACTOR,
    ) -> None:
        error = None if error is None else self._scrub(error)
        with self.begin() as conn:
            runs_mod.finish(conn, run_id, status, totals=totals, drift=drift, error=error)
            audit_mod.append(
                conn,
                "run.finish",
                f"run:{run_id}",
                {"status": status, "totals": totals, "drift": drift, "error": error},
                actor=actor,
            )

    def fail_abandoned_runs(self, feed: str, *, dead_only: bool = False, actor: str = DEFAULT_ACTOR) -> list[str]:
        """Mark the feed's runs still ``running`` as failed (abandoned): a run that keeps its process
        (started ``this_process``) once that process is gone from this host; a run without one (an Airflow
        DAG run's, whose steps run in several processes) unless ``dead_only``: call without it only where
        no other such run of the feed can be active (a new DAG run of a feed whose DAG allows one active
        run). A run the process died in has loaded nothing (its load is one transaction): nothing is undone."""
        running = [r for r in self.list_runs(feed=feed, limit=1000) if r["status"] == "running"]
        abandoned = [r["id"] for r in running if (runs_mod.process_gone(r) if r.get("pid") else not dead_only)]
        for run_id in abandoned:
            try:
                self.finish_run(run_id, "failed", actor=actor, error=runs_mod.ABANDONED)
            except StoreError:
                if (self.get_run(run_id) or {}).get("status") == "running":
                    raise  # else another run marked it meanwhile
        return abandoned

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        with self._read() as conn:
            return runs_mod.get(conn, run_id)

    def list_runs(self, feed: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """The latest runs, newest first."""
        with self._read() as conn:
            return runs_mod.list_recent(conn, feed, limit)

    def find_processed_file(self, feed: str, sha256: str) -> dict[str, Any] | None:
        """The earlier import of a file with this content: name, size, sha256, run_id, status, processed_at."""
        with self._read() as conn:
            return runs_mod.find_file(conn, feed, sha256)

    def get_feed_state(self, feed: str) -> FeedState:
        with self._read() as conn:
            return feedstate_mod.get(conn, feed)

    # -- loading ------------------------------------------------------------------------

    def load(
        self,
        run_id: str,
        feed: str,
        entity: str,
        records: Records,
        quarantine: Sequence[QuarantineEntry] = (),
        *,
        mapping: str | None = None,
        processed_file: dict | None = None,
        feed_state: FeedState | None = None,
        resolve_quarantine: Sequence[int] | None = None,
        related: Mapping[str, Records] | None = None,
        actor: str = DEFAULT_ACTOR,
    ) -> LoadResult:
        """Load one batch in ONE transaction: all of it commits or none of it.

        Writes a new record version for each new or changed natural key (unchanged
        content writes nothing), the quarantine entries, the processed-file row (refused
        if the feed already processed a file with that sha256), the feed state, and one
        audit entry summarising the load. ``resolve_quarantine`` closes those open
        quarantine entries as ``replayed`` by this run, in the same transaction (a replay
        either loads its rows and closes their entries, or does neither). A bad row already open in
        the feed's quarantine is counted on that entry, linked to this run, not entered twice. ``related`` loads
        records of other entities in the same transaction (a bank statement with its entries).
        """
        with self.begin() as conn:
            status = conn.execute(select(runs_table.c.status).where(runs_table.c.id == run_id)).scalar()
            if status is None:
                raise StoreError(f"no run with id {run_id}; start_run() first")
            if status != "running":
                raise StoreError(f"run {run_id} is {status!r}; only a running run can load")
            if processed_file is not None:
                runs_mod.record_file(conn, feed, run_id, processed_file)
            inserted, updated, unchanged = records_mod.upsert(conn, run_id, entity, records)
            related_counts = {
                other: records_mod.upsert(conn, run_id, other, recs) for other, recs in (related or {}).items()
            }
            if resolve_quarantine:  # first: a replayed row that fails again gets an open entry of its own
                self.resolve_quarantine(resolve_quarantine, "replayed", actor=actor, run_id=run_id, conn=conn)
            bad = quarantine_mod.insert_entries(
                conn,
                quarantine,
                run_id=run_id,
                feed=feed,
                entity=entity,
                mapping=mapping,
                source_name=(processed_file or {}).get("name"),
                source_sha256=(processed_file or {}).get("sha256"),
            )
            if feed_state is not None:
                feedstate_mod.put(conn, feed, feed_state, run_id)
            quarantined = bad.total
            result = LoadResult(
                inserted=inserted, updated=updated, unchanged=unchanged, quarantined=quarantined,
                related=related_counts, quarantine_repeated=bad.repeated,
            )
            file_summary = None
            if processed_file is not None:
                file_summary = {k: processed_file.get(k) for k in ("name", "sha256", "size")}
            audit_mod.append(
                conn,
                "load",
                f"run:{run_id}",
                {
                    "feed": feed,
                    "entity": entity,
                    "mapping": mapping,
                    "inserted": inserted,
                    "updated": updated,
                    "unchanged": unchanged,
                    "quarantined": quarantined,
                    **({"quarantine_repeated": bad.repeated} if bad.repeated else {}),
                    **({"related": related_counts} if related_counts else {}),
                    "file": file_summary,
                    "cursor": None if feed_state is None else feed_state.cursor,
                },
                actor=actor,
            )
        return result

    def current_records(self, entity: str) -> list[dict[str, Any]]:
        """Head versions, ordered by natural key: natural_key, version, content_hash, payload, lineage, run_id."""
        with self._read() as conn:
            return records_mod.current(conn, entity)

    def current_payloads(self, entity: str) -> list[dict[str, Any]]:
        """Head versions ordered by natural key, with natural_key, content_hash and payload only."""
        with self._read() as conn:
            return records_mod.current_payloads(conn, entity)

    def current_records_page(self, entity: str, *, limit: int, offset: int = 0,
                             after: str | None = None) -> tuple[list[dict[str, Any]], int]:
        """One page of head versions ordered by natural key (those after the natural key ``after``, then
        ``offset`` skipped, at most ``limit``) and the number of head versions of ``entity``."""
        query = records_mod._heads(entity).order_by(records_table.c.natural_key)
        if after is not None:
            query = query.where(records_table.c.natural_key > after)
        with self._read() as conn:
            page = [records_mod._record_dict(row) for row in conn.execute(query.offset(offset).limit(limit))]
            return page, records_mod.count(conn, entity)

    def find_records(self, entity: str, natural_keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Current versions of those keys that exist, by natural key."""
        with self._read() as conn:
            return records_mod.find(conn, entity, natural_keys)

    def record_versions(self, entity: str, natural_key: str) -> list[dict[str, Any]]:
        """Every version of one record, oldest first."""
        with self._read() as conn:
            return records_mod.versions(conn, entity, natural_key)

    def count_records(self, entity: str | None = None) -> int:
        """Number of current (head) records, of one entity or all."""
        with self._read() as conn:
            return records_mod.count(conn, entity)

    # -- quarantine ---------------------------------------------------------------------

    def list_quarantine(
        self, *, feed: str | None = None, status: str | None = "open", limit: int = 100
    ) -> list[dict[str, Any]]:
        """Quarantine entries, oldest first; ``status=None`` lists every status."""
        with self._read() as conn:
            return quarantine_mod.list_entries(conn, feed=feed, status=status, limit=limit)

    def get_quarantine(self, qid: int) -> dict[str, Any] | None:
        with self._read() as conn:
            return quarantine_mod.get_entry(conn, qid)

    def resolve_quarantine(
        self,
        ids: Sequence[int],
        status: str,
        *,
        actor: str,
        run_id: str | None = None,
        reason: str | None = None,
        conn: Connection | None = None,
    ) -> int:
        """Mark open entries ``replayed`` or ``discarded`` (audited, with ``reason`` when given);
        refuses entries not open."""
        with self._joined(conn) as c:
            resolved = quarantine_mod.resolve(c, ids, status, actor=actor, run_id=run_id)
            if resolved:
                audit_mod.append(
                    c,
                    f"quarantine.{status}",
                    "quarantine",
                    {"ids": resolved, "run_id": run_id, **({"reason": reason} if reason else {})},
                    actor=actor,
                )
        return len(resolved)

    # -- audit --------------------------------------------------------------------------

    def audit(
        self,
        action: str,
        subject: str,
        details: dict,
        *,
        actor: str = DEFAULT_ACTOR,
        conn: Connection | None = None,
    ) -> None:
        """Append one entry to the audit log (in ``conn``'s transaction when given)."""
        with self._joined(conn) as c:
            audit_mod.append(c, action, subject, details, actor=actor)

    def audit_entries(
        self,
        limit: int | None = 100,
        *,
        actions: Collection[str] | None = None,
        action_prefix: str | None = None,
        subject: str | None = None,
        oldest_first: bool = False,
    ) -> list[dict[str, Any]]:
        """The latest audit entries, newest first (or ``oldest_first``); only those of ``actions``, of
        actions starting with ``action_prefix``, or about ``subject`` when given; ``limit=None``: all."""
        with self._read() as conn:
            return audit_mod.entries(conn, limit, actions=actions, action_prefix=action_prefix, subject=subject,
                                     oldest_first=oldest_first)

    def verify_audit_chain(self) -> AuditCheck:
        with self._read() as conn:
            return audit_mod.verify_chain(conn)

    def verify_audit_checkpoint(self) -> str:
        """Compare the audit log with its newest checkpoint: returns what was checked, one line; raises
        :class:`~ledgerlink.store.checkpoint.CheckpointError` for entries deleted from the end, a re-hashed
        chain, or a checkpoint file that was edited (bad signature). Needs a checkpoint configured."""
        if self.checkpoint is None:
            raise StoreError("no audit checkpoint is configured (set LEDGERLINK_AUDIT_CHECKPOINT): "
                             "entries deleted from the end of the log cannot be detected")
        latest = self.checkpoint.latest()
        if latest is None:
            return f"no checkpoint in {self.checkpoint.path} yet"
        with self._read() as conn:
            problem = audit_mod.check_head(conn, latest.seq, latest.hash)
        where = f"{self.checkpoint.path}:{latest.line}"
        if problem is not None:
            raise CheckpointError(f"{problem} (checkpoint {where})")
        signed = "signed " if self.checkpoint.signed else ""
        return f"entry {latest.seq} matches its {signed}checkpoint ({where})"
