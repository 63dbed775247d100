"""Benchmark: the invoices_nl feed pipeline against a bare pandas.read_csv of the same file.

Generates Dutch AP exports (about 2% bad rows), then for each size runs, each in a fresh
process so peak RSS is its own:
  baseline   pandas.read_csv(path, sep=";", dtype=str)
  pipeline   checksum, map (column-wise), validate, write and read the staged batch (how the
             DAG's map task hands over to its load task), load into a new SQLite store,
             through the same functions the DAG tasks call
and prints seconds, rows/s, peak RSS and the ratio pipeline / baseline.

    .venv/bin/python bench/bench_invoices_nl.py [--rows 100000 1000000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"


def measure(kind: str, path: str) -> dict:
    """Runs in a child process: one measurement, printed as JSON."""
    sys.path.insert(0, str(ROOT))
    t0 = time.perf_counter()
    if kind == "baseline":
        import pandas as pd

        t0 = time.perf_counter()
        rows = len(pd.read_csv(path, sep=";", dtype=str, encoding="utf-8-sig"))
        extra: dict = {}
    else:
        from ledgerlink.mapping import load_mapping
        from ledgerlink.pipeline.staging import read_batch, write_batch
        from ledgerlink.pipeline.steps import SourceFile, load_batch, prepare_file
        from ledgerlink.store import Store

        with tempfile.TemporaryDirectory() as tmp:
            store = Store(f"sqlite:///{tmp}/bench.db")
            mapping = load_mapping(ROOT / "mappings" / "csv" / "invoices_nl.yaml")
            t0 = time.perf_counter()
            source = SourceFile.from_path(Path(path))
            run_id = store.start_run("bench", mapping.entity, source=source.as_dict(), mapping=mapping.display_path)
            t1 = time.perf_counter()
            batch = prepare_file(mapping, source, feed="bench", run_id=run_id)
            t2 = time.perf_counter()
            staged = write_batch(batch, Path(tmp) / "batch.jsonl")
            del batch  # the DAG's load task is another process: it holds only what it reads back
            batch = read_batch(staged)
            t3 = time.perf_counter()
            summary = load_batch(store, run_id, batch)
            t4 = time.perf_counter()
            rows = summary.read
            extra = {"checksum_s": round(t1 - t0, 2), "map_validate_s": round(t2 - t1, 2),
                     "stage_s": round(t3 - t2, 2), "load_s": round(t4 - t3, 2), "loaded": summary.inserted,
                     "quarantined": summary.quarantined}
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"kind": kind, "rows": rows, "seconds": round(seconds, 3), "peak_rss_mb": round(peak_mb), **extra}


def run_child(kind: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(path)], capture_output=True, text=True,
                         cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"{kind} measurement failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child)))
        return
    sys.path.insert(0, str(ROOT))
    from sandbox.generate_invoices_nl import write_export

    OUT.mkdir(parents=True, exist_ok=True)
    print(f"{'rows':>9} {'baseline s':>10} {'pipeline s':>10} {'ratio':>6} {'rows/s':>9} {'peak MB':>8}  breakdown")
    for n in args.rows:
        path = OUT / f"invoices_nl_{n}.csv"
        if not path.exists():
            write_export(path, n, bad_share=0.02)
        base = run_child("baseline", path)
        pipe = run_child("pipeline", path)
        ratio = pipe["seconds"] / base["seconds"]
        print(f"{n:>9} {base['seconds']:>10.2f} {pipe['seconds']:>10.2f} {ratio:>5.1f}x {n / pipe['seconds']:>9.0f} "
              f"{pipe['peak_rss_mb']:>8}  checksum {pipe['checksum_s']}s, map+validate {pipe['map_validate_s']}s, "
              f"stage {pipe['stage_s']}s, load {pipe['load_s']}s; loaded {pipe['loaded']}, quarantined {pipe['quarantined']}; "
              f"baseline peak {base['peak_rss_mb']} MB", flush=True)


if __name__ == "__main__":
    main()
