"""Benchmark: ledgerlink's camt parser against a bare lxml iterparse walk of the same file.

For each size a synthetic camt.053.001.08 (bench/generate_camt053.py) is written to bench/out/ (kept
and reused), then two measurements run, each in a fresh child process so that its peak RSS is its own:

* baseline   - ``lxml.etree.iterparse(tag=Ntry)``, touching each entry and clearing it (and its
               preceding siblings): the least any streaming reader has to do;
* ledgerlink - ``connectors.bank.parse()`` to canonical Statement / Transaction objects (hardened
               parsing and limit checks included).

Wall and CPU seconds are both printed: on a shared machine the CPU time is the steadier figure.

    .venv/bin/python bench/bench_camt.py [--entries 10000 200000 1000000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.generate_camt053 import NAMESPACE, generate  # noqa: E402


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child_baseline(path: Path) -> dict:
    from lxml import etree

    ntry = f"{{{NAMESPACE}}}Ntry"
    t0, c0 = time.perf_counter(), time.process_time()
    n = 0
    for _event, el in etree.iterparse(str(path), events=("end",), tag=ntry):
        n += 1
        el.clear()
        parent = el.getparent()
        while el.getprevious() is not None:
            del parent[0]
    return {"entries": n, "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
            "peak_rss_mb": _peak_rss_mb()}


def _child_ledgerlink(path: Path) -> dict:
    from connectors.bank import Transaction, parse

    t0, c0 = time.perf_counter(), time.process_time()
    n = 0
    for rec in parse(path):
        if isinstance(rec, Transaction):
            n += 1
    return {"entries": n, "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
            "peak_rss_mb": _peak_rss_mb()}


def _run_child(kind: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(path)], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _file_for(entries: int) -> Path:
    path = OUT / f"camt053-{entries}.xml"
    if not path.exists():
        t0 = time.perf_counter()
        summary = generate(path, entries)
        print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size / 1e6:.0f} MB, "
              f"closing {summary.closing}) in {time.perf_counter() - t0:.1f} s", flush=True)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, nargs="+", default=[10_000, 200_000, 1_000_000])
    ap.add_argument("--repeat", type=int, default=1, help="runs per measurement; the fastest (CPU) is kept")
    ap.add_argument("--child", nargs=2, metavar=("KIND", "FILE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, file = args.child
        result = (_child_baseline if kind == "baseline" else _child_ledgerlink)(Path(file))
        print(json.dumps(result))
        return
    for entries in args.entries:
        path = _file_for(entries)
        res = {}
        for kind in ("baseline", "ledgerlink"):
            runs = [_run_child(kind, path) for _ in range(max(1, args.repeat))]
            res[kind] = min(runs, key=lambda r: r["cpu_seconds"])
            if res[kind]["entries"] != entries:
                raise SystemExit(f"{kind} read {res[kind]['entries']} entries, expected {entries}")
        base, ll = res["baseline"], res["ledgerlink"]
        size = path.stat().st_size / 1e6
        for kind, r in res.items():
            print(f"{entries:>9} entries {size:6.0f} MB  {kind:<10} {r['seconds']:7.2f} s "
                  f"({r['cpu_seconds']:7.2f} s CPU) {entries / r['seconds']:>9,.0f} entries/s  "
                  f"peak RSS {r['peak_rss_mb']:5.0f} MB", flush=True)
        print(f"{entries:>9} entries  ratio ledgerlink/baseline {ll['seconds'] / base['seconds']:.2f}x wall, "
              f"{ll['cpu_seconds'] / base['cpu_seconds']:.2f}x CPU", flush=True)

if __name__ == "__main__":
    main()
