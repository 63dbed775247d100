"""One incremental sync of an ERP entity into the store, as one run and one transaction.

    state    = store.get_feed_state(feed)                  the cursor and the ids loaded at it
    records  = source.fetch(entity, since=state.cursor)    >= cursor (connectors re-read an overlap before it)
    selected = select_incremental(state, records)          drops the ids loaded at the boundary
    map + validate (ledgerlink.pipeline.steps.prepare), then load_batch(..., feed_state=new state)

The records, the quarantine entries and the new feed state commit together: a sync that fails
(ERP unreachable, a store error, control totals that do not add up) leaves the cursor where it was,
and the next sync reads the same records again. Records re-read in the connector's overlap window,
before the cursor, go through as well: a late-committed change is loaded, an unchanged record only
counts as unchanged (the store writes a version only when the content hash changes).

A record's lineage holds its id in the ERP (``record_id``, e.g. SAP's ``5100000012/2024``): the id
a writeback on it names (``ledgerlink.erp.writeback``). A record read twice in one sync (changed while
the pages were read) is taken once, in its latest version. An entity without a change field (SAP's suppliers) is read in full every time, without a
cursor: each record goes through and only the changed ones make new versions. Row numbers in lineage and quarantine are the source's record ids where they are whole
numbers (Tryton's are), else positions; the location is ``<system:object>/<id>``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from connectors.erp.base import ApiRecord, RecordSource
from ledgerlink import progress
from ledgerlink.mapping import Mapping, load_mapping
from ledgerlink.mapping.sources import json_get, json_has, json_text
from ledgerlink.pipeline.extract import record_source
from ledgerlink.pipeline.feeds import get_feed
from ledgerlink.pipeline.mappers import with_drift_policy
from ledgerlink.pipeline.steps import RunSummary, load_batch, prepare
from ledgerlink.redact import error_text
from ledgerlink.store import FeedState, Store, select_incremental

log = logging.getLogger("ledgerlink")


def latest_per_id(records: list[ApiRecord]) -> list[ApiRecord]:
    """One record per id, its latest version, in (updated_at, id) order."""
    by_id: dict[str, ApiRecord] = {}
    for rec in records:
        seen = by_id.get(rec.id)
        if seen is None or rec.updated_at >= seen.updated_at:
            by_id[rec.id] = rec
    return sorted(by_id.values(), key=lambda r: (r.updated_at, r.id))


def raw_row(data: dict[str, Any], paths: list[str]) -> dict[str, str]:
    """A record as the mapping reads it: used JSON path -> text (as for a JSON export file). A path the
    record has with no value is empty text; a path it does not have at all is left out, so a field
    the ERP stopped sending shows as schema drift (and the feed's on_drift decides what happens)."""
    out = {}
    for path in paths:
        if json_has(data, path):
            text = json_text(json_get(data, path))
            out[path] = "" if text is None else text
    return out


def sync(store: Store, feed_name: str, source: RecordSource, entity_name: str, mapping: Mapping | str | Path, *,
         actor: str = "ledgerlink") -> RunSummary:
    """Fetch what changed since the feed's cursor, map, validate and load it with the new cursor."""
    if not isinstance(mapping, Mapping):
        mapping = load_mapping(Path(mapping))
    state = store.get_feed_state(feed_name)
    run_source = {"name": f"{source.name}:{entity_name}", "system": source.name, "entity": entity_name,
                  "since": state.cursor}
    run_id = store.start_run(feed_name, mapping.entity, source=run_source, mapping=mapping.display_path, actor=actor)
    try:
        fetched = list(progress.counted(source.fetch(entity_name, state.cursor), f"{entity_name} records fetched"))
        records = latest_per_id(fetched)
        if records and not any(r.updated_at for r in records):
            # An entity without a change field is read in full: every record goes through (unchanged ones
            # make no new version) and there is no cursor to keep.
            selected, new_state = list(range(len(records))), FeedState()
        else:
            selected, new_state = select_incremental(state, [(r.updated_at, r.id) for r in records])
        overlap = [i for i, r in enumerate(records) if state.cursor is not None and r.updated_at < state.cursor]
        take = [records[i] for i in sorted(set(selected) | set(overlap))]
        log.info("%s: %s %s since %s: %d read, %d new or changed, %d re-read in the overlap window",
                 feed_name, source.name, entity_name, state.cursor or "the beginning", len(fetched),
                 len(selected), len(overlap))
        numeric = all(r.id.isdigit() for r in take)
        paths = mapping.used_columns
        rows: list[tuple[int | None, str | None, dict[str, Any]]] = [
            (int(r.id) if numeric else n, f"{r.source}/{r.id}", raw_row(r.data, paths))
            for n, r in enumerate(take, start=1)]
        progress.note(f"mapping {len(rows)} {entity_name} records")
        result = mapping.map_rows(rows, source_name=f"{source.name}:{entity_name}")
        # Each record keeps its id in the ERP, so what is decided on it later can name it (a writeback).
        result.frame["_lineage"] = [{"row": row, "record_id": str(location).split("/", 1)[1]}
                                    for row, location in zip(result.frame["_row"].tolist(),
                                                             result.frame["_location"].tolist(), strict=True)]
        batch = prepare(mapping, result, feed=feed_name, run_id=run_id, source=None,
                        lineage_extra={"system": source.name, "entity": entity_name})
        summary = load_batch(store, run_id, batch, feed_state=_keep_cursor(state, new_state), actor=actor)
    except Exception as exc:
        store.finish_run(run_id, "failed", error=error_text(exc), actor=actor)
        raise
    summary.source = {**run_source, "cursor": new_state.cursor, "fetched": len(fetched)}
    log.info("%s", summary.describe())
    return summary


def _keep_cursor(old: FeedState, new: FeedState) -> FeedState:
    """Never move the cursor back (an empty read keeps the old state)."""
    if new.cursor is None or (old.cursor is not None and new.cursor < old.cursor):
        return old
    return new


def run_feed(feed_name: str, *, store: Store | None = None, actor: str = "ledgerlink") -> RunSummary:
    """One sync of an ERP feed declared in dags/feeds.yaml (the DAG's sync task and `ledgerlink erp sync`)."""
    feed = get_feed(feed_name)
    mapping = with_drift_policy(load_mapping(feed.mapping_path), feed.on_drift)
    source = record_source(feed)
    try:
        return sync(store or Store(), feed.name, source, feed.source["entity"], mapping, actor=actor)
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()
