"""Replay quarantined rows through the feed's current mapping, after the mapping was fixed.

Only the quarantined rows are processed again. Rows that now map cleanly are loaded; rows that
still fail are quarantined again with their current errors. Either way the replayed entries are
closed (status ``replayed``, pointing at the replay run), in the same transaction as the load.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from ledgerlink.errors import LedgerlinkError
from ledgerlink.mapping import load_mapping
from ledgerlink.pipeline.feeds import get_feed
from ledgerlink.pipeline.steps import RunSummary, SourceFile, load_batch, prepare
from ledgerlink.store import Store


def replay(store: Store, *, ids: list[int] | None = None, feed: str | None = None,
           actor: str = "ledgerlink") -> list[RunSummary]:
    if ids:
        entries = [store.get_quarantine(i) for i in ids]
        missing = [i for i, e in zip(ids, entries, strict=True) if e is None]
        if missing:
            raise LedgerlinkError(f"no quarantine entry with id {', '.join(map(str, missing))}")
        closed = [e for e in entries if e and e["status"] != "open"]
        if closed:
            raise LedgerlinkError("quarantine entries already resolved: "
                                  + ", ".join(f"{e['id']} ({e['status']})" for e in closed))
    else:
        entries = store.list_quarantine(feed=feed, status="open", limit=1_000_000)
    groups: dict[tuple[str, str | None], list[dict[str, Any]]] = defaultdict(list)
    for e in entries:
        if e is not None:
            groups[(e["feed"], e.get("source_sha256"))].append(e)
    return [_replay_group(store, feed_name, group, actor) for (feed_name, _), group in sorted(groups.items(),
                                                                                             key=lambda kv: str(kv[0]))]


def _replay_group(store: Store, feed_name: str, entries: list[dict[str, Any]], actor: str) -> RunSummary:
    mapping = load_mapping(get_feed(feed_name).mapping_path)
    first = entries[0]
    source = SourceFile(Path(first.get("source_name") or "replay"), first.get("source_name") or "replay",
                        first.get("source_sha256") or "", 0, "")
    ids = [e["id"] for e in entries]
    run_id = store.start_run(feed_name, mapping.entity, mapping=mapping.display_path, actor=actor,
                             source={"name": source.name, "sha256": source.sha256, "replay_of": ids})
    try:
        result = mapping.map_rows([(e["row"], e.get("location"), e["raw"]) for e in entries], source_name=source.name)
        batch = prepare(mapping, result, feed=feed_name, run_id=run_id, source=None,
                        lineage_extra={"name": source.name, "sha256": source.sha256, "replay_of": ids})
        return load_batch(store, run_id, batch, resolve_quarantine=ids, actor=actor)
    except Exception as exc:
        store.finish_run(run_id, "failed", error=str(exc))
        raise
