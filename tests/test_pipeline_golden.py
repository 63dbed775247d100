"""Two deliveries of a Dutch AP export give exactly the recorded results: run summaries and control
totals, every version of every record (payload, content hash, lineage), and the quarantine.

The reference, tests/fixtures/golden/invoices_nl.json, was recorded from these same files; the
store, staging or mapping code may change how it works, never what a run produces. The first
delivery goes through the staged hand-over (how the feed DAG's map task passes a batch to its
load task), the second through ``run_file`` in one process. To record it again after an intended
change of results: ``python -m tests.test_pipeline_golden``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ledgerlink.config import BUNDLED_MAPPINGS_DIR
from ledgerlink.mapping import load_mapping
from ledgerlink.pipeline.staging import read_batch, write_batch
from ledgerlink.pipeline.steps import RunSummary, SourceFile, load_batch, prepare_file, run_file
from ledgerlink.store import Store

HERE = Path(__file__).resolve().parent / "fixtures" / "golden"
REFERENCE = HERE / "invoices_nl.json"
MAPPING = BUNDLED_MAPPINGS_DIR / "csv" / "invoices_nl.yaml"
FEED = "invoices_nl_folder"


def _summary(summary: RunSummary) -> dict[str, Any]:
    data = summary.as_dict()
    data.pop("run_id")
    data["source"] = {k: v for k, v in (data["source"] or {}).items() if k != "uri"}  # the uri names a temp dir
    return data


def _lineage(lineage: dict[str, Any], run_ids: dict[str, int]) -> dict[str, Any]:
    out = {k: v for k, v in lineage.items() if k != "uri"}
    out["run_id"] = run_ids[lineage["run_id"]]
    return out


def snapshot(store: Store, workdir: Path) -> dict[str, Any]:
    """What the two deliveries produce in ``store``, with run ids numbered 1, 2 and no timestamps."""
    mapping = load_mapping(MAPPING)
    source = SourceFile.from_path(HERE / "invoices_nl_1.csv")
    first_id = store.start_run(FEED, mapping.entity, source=source.as_dict(), mapping=mapping.display_path)
    staged = write_batch(prepare_file(mapping, source, feed=FEED, run_id=first_id), workdir / "batch")
    first = load_batch(store, first_id, read_batch(staged))
    second = run_file(store, FEED, MAPPING, HERE / "invoices_nl_2.csv")
    run_ids = {first.run_id: 1, second.run_id: 2}
    records = []
    for head in store.current_records("invoice"):
        for v in store.record_versions("invoice", head["natural_key"]):
            records.append({"natural_key": v["natural_key"], "version": v["version"],
                            "content_hash": v["content_hash"], "payload": v["payload"],
                            "lineage": _lineage(v["lineage"], run_ids), "run_id": run_ids[v["run_id"]]})
    quarantine = []
    for entry in store.list_quarantine(feed=FEED, status=None, limit=1000):
        quarantine.append({"run_id": run_ids[entry["run_id"]], "last_run_id": run_ids[entry["last_run_id"]],
                           **{k: entry[k] for k in ("row", "location", "raw", "errors", "source_name",
                                                    "source_sha256", "mapping", "status", "seen_count")}})
    runs = [{k: run[k] for k in ("feed", "entity", "mapping", "status", "totals", "drift")}
            for run in (store.get_run(first.run_id), store.get_run(second.run_id)) if run]
    return {"summaries": [_summary(first), _summary(second)], "runs": runs, "records": records,
            "quarantine": quarantine}


def test_two_deliveries_give_the_recorded_versions_totals_quarantine_and_lineage(store, tmp_path):
    expected = json.loads(REFERENCE.read_text(encoding="utf-8"))
    got = json.loads(json.dumps(snapshot(store, tmp_path)))  # tuples and lists compare alike
    assert got["summaries"] == expected["summaries"]
    assert got["runs"] == expected["runs"]
    assert got["quarantine"] == expected["quarantine"]
    assert len(got["records"]) == len(expected["records"])
    for mine, theirs in zip(got["records"], expected["records"], strict=True):
        assert mine == theirs


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, Store(f"sqlite:///{tmp}/store.db") as recorded:
        REFERENCE.write_text(json.dumps(snapshot(recorded, Path(tmp)), indent=1, ensure_ascii=False) + "\n",
                             encoding="utf-8")
