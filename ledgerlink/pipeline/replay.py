"""Replay quarantined rows through the feed's mapper as it is now, after the mapping (or the data) was fixed.

Only the quarantined rows are processed again, by the mapper that read them: a mapping feed's current
mapping file, a bank feed's parser mapper (a bank CSV export's rows through their layout's mapping),
an e-invoice feed's. Rows that now map cleanly are loaded; rows that still fail are quarantined again
with their current errors. Either way the replayed entries are closed (status ``replayed``, pointing at
the replay run), in the same transaction as the load.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ledgerlink import progress
from ledgerlink.errors import LedgerlinkError
from ledgerlink.pipeline.feeds import get_feed
from ledgerlink.pipeline.mappers import mapper_for
from ledgerlink.pipeline.steps import RunSummary, load_batch, prepare
from ledgerlink.redact import error_text
from ledgerlink.store import Store


def replay(store: Store, *, ids: list[int] | None = None, feed: str | None = None,
           actor: str = "ledgerlink") -> list[RunSummary]:
    if ids:
        found = [store.get_quarantine(i) for i in ids]
        missing = [i for i, e in zip(ids, found, strict=True) if e is None]
        if missing:
            raise LedgerlinkError(f"no quarantine entry with id {', '.join(map(str, missing))}")
        entries = [e for e in found if e is not None]
        closed = [e for e in entries if e["status"] != "open"]
        if closed:
            raise LedgerlinkError("quarantine entries already resolved: "
                                  + ", ".join(f"{e['id']} ({e['status']})" for e in closed))
    else:
        entries = store.list_quarantine(feed=feed, status="open", limit=1_000_000)
    groups: dict[tuple[str, str | None, str | None], list[dict[str, Any]]] = defaultdict(list)
    for e in entries:
        groups[(e["feed"], e.get("mapping"), e.get("source_sha256"))].append(e)
    return [_replay_group(store, feed_name, label, group, actor)
            for (feed_name, label, _), group in sorted(groups.items(), key=lambda kv: str(kv[0]))]


def _replay_group(store: Store, feed_name: str, label: str | None, entries: list[dict[str, Any]],
                  actor: str) -> RunSummary:
    mapper = mapper_for(get_feed(feed_name), label)
    first = entries[0]
    name, sha256 = first.get("source_name") or "replay", first.get("source_sha256") or ""
    ids = [e["id"] for e in entries]
    run_id = store.start_run(feed_name, mapper.entity, mapping=mapper.display_path, actor=actor, this_process=True,
                             source={"name": name, "sha256": sha256, "replay_of": ids})
    try:
        progress.note(f"mapping {len(entries)} entries of feed {feed_name} again")
        result = mapper.map_rows([(e["row"], e.get("location"), e["raw"]) for e in entries], source_name=name)
        batch = prepare(mapper, result, feed=feed_name, run_id=run_id, source=None,
                        lineage_extra={"name": name, "sha256": sha256, "replay_of": ids})
        return load_batch(store, run_id, batch, resolve_quarantine=ids, actor=actor)
    except Exception as exc:
        store.finish_run(run_id, "failed", error=error_text(exc))
        raise
