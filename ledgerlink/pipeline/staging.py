"""A prepared batch on disk, handed from the map-and-validate step to the load step.

An Arrow IPC file: the staged records are its columns (natural key, content hash, payload and
lineage, all text), written a slice at a time; the batch's metadata and its quarantine entries
(JSON) ride in the file's schema metadata. The load step reads the file a slice at a time and
copies the slices into the store as they are (COPY on PostgreSQL): no line to split and check per
record. Written to a temporary name and renamed, so a half-written batch is never read.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from ledgerlink.pipeline.control import ControlTotals, Totals
from ledgerlink.pipeline.steps import PreparedBatch, SourceFile
from ledgerlink.prefetch import ahead
from ledgerlink.store import QuarantineEntry, RecordBatch, StagedRecord
from ledgerlink.store.records import STAGED_SCHEMA

_HEADER, _QUARANTINE = b"ledgerlink.batch", b"ledgerlink.quarantine"
# Compressed (LZ4 frames, several hundred MB/s a core): a million JSON payloads shrink several times,
# so the hand-over writes and reads far fewer bytes than it compresses.
_WRITE_OPTIONS = pa.ipc.IpcWriteOptions(compression="lz4")


def write_batch(batch: PreparedBatch, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    header = {
        "feed": batch.feed, "entity": batch.entity, "mapping": batch.mapping, "drift": batch.drift,
        "source": None if batch.source is None else {**batch.source.as_dict(), "path": str(batch.source.path)},
        "totals": {k: _totals_state(getattr(batch.totals, k)) for k in ("read", "loaded", "quarantined", "filtered")},
        "records": len(batch.records), "quarantine": len(batch.quarantine),
        "key_ordered": isinstance(batch.records, RecordBatch) and batch.records.key_ordered,
        "related": {e: [list(r) for r in recs] for e, recs in batch.related.items()},
        "findings": batch.findings,
    }
    quarantine = [[q.row, q.location, q.raw, q.errors, q.source_name, q.source_sha256, q.mapping]
                  for q in batch.quarantine]
    schema = STAGED_SCHEMA.with_metadata({_HEADER: json.dumps(header, ensure_ascii=False),
                                          _QUARANTINE: json.dumps(quarantine, ensure_ascii=False)})
    records = batch.records
    tables = records.tables() if isinstance(records, RecordBatch) else RecordBatch(
        len(records), lambda: iter(records)).tables()
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, schema, options=_WRITE_OPTIONS) as writer:
        # The next slice is built (payloads, hashes) while this one is compressed and written.
        for table in ahead(iter(tables), lambda table: table.replace_schema_metadata(schema.metadata)):
            writer.write_table(table)
    os.replace(tmp, path)
    return path


def read_batch(path: Path) -> PreparedBatch:
    try:
        with pa.memory_map(str(path)) as source:
            reader = pa.ipc.open_file(source)
            metadata = reader.schema.metadata or {}
            header = json.loads(metadata[_HEADER])
            quarantine = [QuarantineEntry(*q) for q in json.loads(metadata[_QUARANTINE])]
    except (pa.ArrowInvalid, KeyError, ValueError) as exc:
        raise ValueError(f"{path}: not a staged batch or damaged ({exc})") from None
    count = header["records"]

    def tables():
        # Read back each time the batch is iterated, a slice at a time (read, not memory-mapped: the
        # pages of a mapped file would stay counted in the load task's memory until it ends).
        with pa.OSFile(str(path)) as source:
            reader = pa.ipc.open_file(source)
            seen = 0
            for i in range(reader.num_record_batches):
                part = pa.Table.from_batches([reader.get_batch(i)])
                seen += part.num_rows
                yield part
        if seen != count:
            raise ValueError(f"{path}: batch is truncated: {seen} of {count} records")

    records = RecordBatch(count, tables=tables, key_ordered=header.get("key_ordered", False))
    src = header["source"]
    source = None if src is None else SourceFile(Path(src["path"]), src["name"], src["sha256"], src["size"], src["uri"])
    totals = ControlTotals(**{k: _totals_from(v) for k, v in header["totals"].items()})
    return PreparedBatch(header["feed"], header["entity"], header["mapping"], source, records, quarantine, totals,
                         header["drift"], related={e: [StagedRecord(*r) for r in recs]
                                                   for e, recs in header.get("related", {}).items()},
                         findings=header.get("findings", []))


def _totals_state(t: Totals) -> dict:
    return {"count": t.count, "unparsed": t.unparsed, "amounts": {c: str(a) for c, a in t.amounts.items()}}


def _totals_from(state: dict) -> Totals:
    t = Totals(count=state["count"], unparsed=state["unparsed"])
    for cur, amt in state["amounts"].items():
        t.amounts[cur] = Decimal(amt)
    return t
