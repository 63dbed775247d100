"""A prepared batch on disk, handed from the map-and-validate step to the load step.

A header line with the batch's metadata (JSON), one JSON line per quarantine entry, then one
line per staged record: natural key, content hash, payload and lineage separated by tabs.
Those four are JSON texts or hex, which never hold a raw tab or newline, so records need no
second level of escaping. Written to a temporary name and renamed, so a half-written batch is
never read.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

from ledgerlink.pipeline.control import ControlTotals, Totals
from ledgerlink.pipeline.steps import PreparedBatch, SourceFile
from ledgerlink.store import QuarantineEntry, RecordBatch, StagedRecord


def write_batch(batch: PreparedBatch, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    header = {
        "feed": batch.feed, "entity": batch.entity, "mapping": batch.mapping, "drift": batch.drift,
        "source": None if batch.source is None else {**batch.source.as_dict(), "path": str(batch.source.path)},
        "totals": {k: _totals_state(getattr(batch.totals, k)) for k in ("read", "loaded", "quarantined", "filtered")},
        "records": len(batch.records), "quarantine": len(batch.quarantine),
        "related": {e: [list(r) for r in recs] for e, recs in batch.related.items()},
        "findings": batch.findings,
    }
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(json.dumps(header, ensure_ascii=False) + "\n")
        for q in batch.quarantine:
            out.write(json.dumps([q.row, q.location, q.raw, q.errors, q.source_name, q.source_sha256, q.mapping],
                                 ensure_ascii=False) + "\n")
        out.writelines(f"{r[0]}\t{r[1]}\t{r[2]}\t{r[3]}\n" for r in batch.records)
    os.replace(tmp, path)
    return path


def read_batch(path: Path) -> PreparedBatch:
    with open(path, encoding="utf-8") as fh:
        header = json.loads(fh.readline())
        quarantine = [QuarantineEntry(*json.loads(fh.readline())) for _ in range(header["quarantine"])]
        records_at = fh.tell()
    count = header["records"]

    def produce():
        # Read back each time the batch is iterated: a big batch is never all in memory.
        with open(path, encoding="utf-8") as fh:
            fh.seek(records_at)
            n = 0
            for n, line in enumerate(fh, start=1):  # noqa: B007 - n is checked after the loop
                parts = line.rstrip("\n").split("\t")
                if len(parts) != 4:
                    raise ValueError(f"{path}: staged record {n} is damaged ({len(parts)} fields, not 4)")
                yield StagedRecord(*parts)
            if n != count:
                raise ValueError(f"{path}: batch is truncated: {n} of {count} records")

    records = RecordBatch(count, produce)
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
