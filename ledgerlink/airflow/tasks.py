"""Task callables of the feed DAGs. Each is plain Python given a feed name, so tests and the
CLI can call it directly; dags/ only wires them together.

extract          list complete files on the source, download new ones to staging (sha256)
map_and_validate map + validate one file, write the prepared batch to staging
load             load one prepared batch in one store transaction (idempotent on retry)
publish          move picked-up files to processed/failed folders, return the run's summary
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ledgerlink.config import ledgerlink_home
from ledgerlink.pipeline.feeds import get_feed
from ledgerlink.redact import error_text

log = logging.getLogger("ledgerlink")


def staging_dir(feed_name: str) -> Path:
    path = ledgerlink_home() / "staging" / feed_name
    path.mkdir(parents=True, exist_ok=True)
    return path


def extract(feed_name: str) -> list[dict[str, Any]]:
    from ledgerlink.pipeline.extract import file_source
    from ledgerlink.store import Store

    feed, store = get_feed(feed_name), Store()
    for run_id in store.fail_abandoned_runs(feed_name):  # the DAG allows one active run: these died
        log.warning("%s: run %s was still 'running' from an earlier DAG run that died; marked failed",
                    feed_name, run_id)
    picked: list[dict[str, Any]] = []
    with file_source(feed) as source:
        ready = source.list_ready()
        limit = feed.max_files_per_run or len(ready)
        log.info("%s: %d complete file(s) on the source, taking up to %d", feed_name, len(ready), limit)
        for remote in ready[:limit]:
            fetched = source.fetch(remote, staging_dir(feed_name) / "incoming")
            earlier = store.find_processed_file(feed_name, fetched.sha256)
            if earlier:
                log.info("%s: %s has the same content (sha256 %s) as %s, processed by run %s at %s: skipped",
                         feed_name, remote.name, fetched.sha256[:12], earlier.get("name"), earlier.get("run_id"),
                         earlier.get("processed_at"))
                fetched.path.unlink(missing_ok=True)
                source.mark_done(remote, True)
                continue
            picked.append({"path": str(fetched.path), "name": fetched.name, "sha256": fetched.sha256,
                           "size": fetched.size, "uri": fetched.source_uri, "remote_path": remote.path,
                           "remote_size": remote.size, "remote_mtime": remote.mtime})
    log.info("%s: %d new file(s) to process", feed_name, len(picked))
    return picked


def map_and_validate(feed_name: str, file: dict[str, Any]) -> dict[str, Any]:
    from ledgerlink.pipeline.staging import write_batch
    from ledgerlink.pipeline.steps import SourceFile, preparer, release_freed_memory
    from ledgerlink.store import Store

    feed, store = get_feed(feed_name), Store()
    label, prepare_fn = preparer(store, feed)
    source = SourceFile(Path(file["path"]), file["name"], file["sha256"], file["size"], file["uri"])
    run_id = store.start_run(feed_name, feed.entity, source=source.as_dict(), mapping=label)
    try:
        batch = prepare_fn(source, run_id)
        path = write_batch(batch, staging_dir(feed_name) / f"{run_id}.batch.arrow")
    except Exception as exc:
        store.finish_run(run_id, "failed", error=error_text(exc))
        raise
    log.info("%s: %s mapped: %d record(s) ready, %d row(s) to quarantine, %d drift finding(s)",
             feed_name, source.name, len(batch.records), len(batch.quarantine), len(batch.drift))
    for d in batch.drift:
        log.warning("%s: schema drift in %s: %s", feed_name, source.name, d)
    for f in batch.findings:
        log.warning("%s: %s: %s", feed_name, source.name, f["message"])
    handed_over = {"run_id": run_id, "batch": str(path), "file": file,
                   "records": len(batch.records), "quarantined": len(batch.quarantine), "drift": batch.drift}
    del batch   # the mapped frame: the load task reads the batch back from its file
    release_freed_memory()
    return handed_over


def load(feed_name: str, prepared: dict[str, Any]) -> dict[str, Any]:
    from ledgerlink.pipeline.staging import read_batch
    from ledgerlink.pipeline.steps import SourceFile, load_batch, skipped_summary
    from ledgerlink.store import Store

    store, file = Store(), prepared["file"]
    earlier = store.find_processed_file(feed_name, file["sha256"])
    if earlier:  # a retry after a load that committed: report it, do not load twice
        source = SourceFile(Path(file["path"]), file["name"], file["sha256"], file["size"], file["uri"])
        return {**skipped_summary(feed_name, source, earlier).as_dict(), "remote": _remote(file)}
    try:
        summary = load_batch(store, prepared["run_id"], read_batch(Path(prepared["batch"])))
    except Exception as exc:
        store.finish_run(prepared["run_id"], "failed", error=error_text(exc))
        raise
    log.info("%s", summary.describe())
    Path(prepared["batch"]).unlink(missing_ok=True)
    Path(file["path"]).unlink(missing_ok=True)
    return {**summary.as_dict(), "remote": _remote(file)}


def _remote(file: dict[str, Any]) -> dict[str, Any]:
    return {"path": file["remote_path"], "size": file["remote_size"], "mtime": file["remote_mtime"]}


def publish(feed_name: str, summaries: list[dict[str, Any]]) -> dict[str, Any]:
    from connectors.transport import RemoteFile
    from ledgerlink.pipeline.extract import file_source

    feed = get_feed(feed_name)
    summaries = [s for s in summaries if s]
    with file_source(feed) as source:
        for s in summaries:
            src = s.get("source") or {}
            remote = s.get("remote") or {}
            if remote:
                source.mark_done(RemoteFile(remote["path"], src.get("name", ""), remote["size"], remote["mtime"]),
                                 s["status"] in ("succeeded", "skipped"))
    total = {k: sum(int(s.get(k, 0)) for s in summaries)
             for k in ("read", "inserted", "updated", "unchanged", "quarantined", "filtered")}
    result = {"feed": feed_name, "entity": feed.entity, "files": len(summaries), **total,
              "runs": [s["run_id"] for s in summaries],
              "findings": [f for s in summaries for f in s.get("findings", [])]}
    log.info("%s: published %s", feed_name, result)
    return result
