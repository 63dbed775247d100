"""Benchmark: reading and mapping an invoices_nl export, phase by phase, against a bare pandas.read_csv.

Each measurement runs in a fresh process so its peak RSS is its own. The mapping run prints
the time of the read and of the mapping, and the inclusive time of the main helper
functions of the reader and the columnar engine (wrapped with timers for this run only).

    .venv/bin/python bench/bench_mapping.py [--rows 1000000] [--encoding utf-8-sig|cp1252]
        [--path FILE] [--repeat 1] [--save FILE.pkl | --compare FILE.pkl]

--save / --compare store or compare the full result (frame, errors, drift, counts), to check
that a change to the engine leaves the output exactly as it was.
"""

from __future__ import annotations

import argparse
import functools
import json
import pickle
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
MAPPING = ROOT / "mappings" / "csv" / "invoices_nl.yaml"
TIMED = {
    "ledgerlink.mapping.sources": ["read_csv_bytes", "_parse_csv_fast", "_parse_csv_exact", "drop_blank"],
    "ledgerlink.mapping.executor": [
        "column_drift", "_map_columnar", "type_drift", "_record_errors", "_strip_column", "_strip_columns", "_apply",
        "_string_column", "_money_column", "_money_fast", "_check_column", "_checks_columnar",
    ],
}


def _timed(module: object, name: str, spent: dict[str, float]) -> None:
    fn = getattr(module, name, None)
    if fn is None:
        return

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - t0

    setattr(module, name, wrapper)


def result_state(res) -> dict:
    return {"frame": res.frame, "errors": [(e.key(), e.raw) for e in res.errors], "drift": res.drift,
            "read": res.read, "filtered": res.filtered}


def measure(kind: str, path: str, save: str | None, compare: str | None) -> dict:
    """Runs in a child process: one measurement, printed as JSON."""
    sys.path.insert(0, str(ROOT))
    if kind == "baseline":
        import pandas as pd

        t0 = time.perf_counter()
        try:
            rows = len(pd.read_csv(path, sep=";", dtype=str))
        except UnicodeDecodeError:  # a cp1252 export: time the read in its own encoding
            t0 = time.perf_counter()
            rows = len(pd.read_csv(path, sep=";", dtype=str, encoding="cp1252"))
        out = {"read_csv_s": round(time.perf_counter() - t0, 3), "rows": rows}
    else:
        import importlib

        from ledgerlink.mapping import executor, load_mapping, sources

        spent: dict[str, float] = {}
        for mod_name, names in TIMED.items():
            mod = importlib.import_module(mod_name)
            for name in names:
                _timed(mod, name, spent)
        mapping = load_mapping(MAPPING)
        t0 = time.perf_counter()
        table = sources.read_source(Path(path), mapping.source, mapping.used_columns)
        t1 = time.perf_counter()
        res = executor.run(mapping, table, source_name=path, engine=kind)
        t2 = time.perf_counter()
        out = {"read_s": round(t1 - t0, 3), "map_s": round(t2 - t1, 3), "total_s": round(t2 - t0, 3),
               "rows": res.read, "records": len(res.frame), "errors": len(res.errors),
               "phases": {k: round(v, 3) for k, v in spent.items()}}
        if save:
            with open(save, "wb") as fh:
                pickle.dump(result_state(res), fh)
        if compare:
            import pandas as pd

            with open(compare, "rb") as fh:
                ref = pickle.load(fh)  # noqa: S301  # a file this script wrote with --save
            now = result_state(res)
            pd.testing.assert_frame_equal(now["frame"], ref["frame"])
            for key in ("errors", "drift", "read", "filtered"):
                assert now[key] == ref[key], f"{key} differs"
            out["same_as_saved"] = True
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out


def run_child(kind: str, path: Path, save: str | None = None, compare: str | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, str(path), save or "", compare or ""]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"{kind} measurement failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--encoding", default="utf-8-sig")
    parser.add_argument("--path", type=Path, help="an existing export (default: generated under bench/out)")
    parser.add_argument("--engine", default="columnar", choices=["columnar", "rows"])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--save", help="pickle the mapping result here")
    parser.add_argument("--compare", help="compare the mapping result with this pickle")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, path, save, compare = args.child
        print(json.dumps(measure(kind, path, save or None, compare or None)))
        return
    sys.path.insert(0, str(ROOT))
    path = args.path
    if path is None:
        from sandbox.generate_invoices_nl import write_export

        path = OUT / f"invoices_nl_{args.rows}_{args.encoding}.csv"
        if not path.exists():
            OUT.mkdir(parents=True, exist_ok=True)
            write_export(path, args.rows, bad_share=0.02, encoding=args.encoding)
    for i in range(args.repeat):
        base = run_child("baseline", path)
        res = run_child(args.engine, path, args.save if i == 0 else None, args.compare)
        phases = ", ".join(f"{k} {v:.2f}s" for k, v in sorted(res["phases"].items(), key=lambda kv: -kv[1]))
        print(f"{path.name}: read_csv {base['read_csv_s']:.2f}s (peak {base['peak_rss_mb']} MB) | "
              f"read {res['read_s']:.2f}s ({res['read_s'] / base['read_csv_s']:.2f}x), map {res['map_s']:.2f}s, "
              f"total {res['total_s']:.2f}s, peak {res['peak_rss_mb']} MB; {res['rows']} rows, "
              f"{res['records']} records, {res['errors']} errors"
              + ("; same as saved" if res.get("same_as_saved") else ""), flush=True)
        print(f"    {phases}", flush=True)


if __name__ == "__main__":
    main()
