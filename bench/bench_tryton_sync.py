"""Benchmark: incremental sync of supplier invoices from a live Tryton server into a new store.

Copies the seeded sandbox database, adds N draft supplier invoices to the copy (server-side, in
batches; never to the tests' database), starts trytond on it and runs, through the same function
the DAG's sync task calls:
  full         the first sync: every supplier invoice (N plus the seeded ones)
  incremental  a second sync right after: nothing new, only the overlap window is re-read
  changed      a sync after 100 invoices were edited in Tryton
and prints records/s and where the time went: waiting on Tryton (HTTP round trips, including
the server's search and read work) versus ledgerlink (decoding, shaping, mapping, validation, the
store transaction).

    .venv/bin/python bench/bench_tryton_sync.py [--invoices 10000] [--page-size 500]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))


def run_sync(store, source, label: str) -> dict:
    from ledgerlink.erp.sync import sync

    mapping = ROOT / "mappings" / "tryton" / "tryton_supplier_invoice.yaml"
    waited, calls = source.client.wait_seconds, source.client.calls
    t0 = time.perf_counter()
    summary = sync(store, "bench_tryton", source, "supplier_invoices", mapping)
    seconds = time.perf_counter() - t0
    erp = source.client.wait_seconds - waited
    fetched = int((summary.source or {}).get("fetched", 0))
    return {"run": label, "fetched": fetched, "read": summary.read, "inserted": summary.inserted,
            "updated": summary.updated, "quarantined": summary.quarantined, "seconds": round(seconds, 3),
            "records_per_s": round(fetched / seconds, 1) if seconds else None,
            "rpc_calls": source.client.calls - calls, "erp_seconds": round(erp, 3),
            "erp_share": round(erp / seconds, 3) if seconds else None,
            "ledgerlink_seconds": round(seconds - erp, 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--page-size", type=int, default=500)
    args = parser.parse_args()

    from connectors.erp.tryton import TrytonClient, TrytonConfig, TrytonSource
    from ledgerlink.store import Store
    from sandbox.tryton import setup as tryton_setup
    from sandbox.tryton.server import TrytonServer

    with tempfile.TemporaryDirectory(prefix="ledgerlink-bench-tryton-") as tmp:
        db_dir = Path(tmp) / "db"
        t0 = time.perf_counter()
        tryton_setup.copy_database(db_dir)
        tryton_setup.seed(db_dir, "--bulk-supplier-invoices", str(args.invoices))
        seeding = time.perf_counter() - t0
        with TrytonServer(db_dir=db_dir, workdir=Path(tmp) / "server") as server:
            cfg = TrytonConfig(url=server.url, database=server.database, login=server.login,
                               password=server.password, page_size=args.page_size, timeout=120)
            store = Store(f"sqlite:///{tmp}/bench-store.db")
            results = []
            with TrytonSource(cfg) as source:
                results.append(run_sync(store, source, "full"))
                results.append(run_sync(store, source, "incremental"))
                with TrytonClient(cfg) as editor:
                    ids = [r["id"] for r in editor.search_read(
                        "account.invoice", [("reference", "like", "BENCH-%")], 0, 100, [("id", "ASC")], ["id"])]
                    editor.write("account.invoice", ids, {"description": "edited for the benchmark"})
                results.append(run_sync(store, source, "changed"))
            version = server.version()

    print(f"trytond {version}, {args.invoices} bench invoices seeded in {seeding:.1f} s, page size {args.page_size}")
    print(f"{'run':<12} {'fetched':>8} {'new':>7} {'changed':>8} {'seconds':>8} {'records/s':>10} "
          f"{'calls':>6} {'ERP wait':>9} {'ledgerlink':>11}")
    for r in results:
        print(f"{r['run']:<12} {r['fetched']:>8} {r['inserted']:>7} {r['updated']:>8} {r['seconds']:>8.2f} "
              f"{r['records_per_s'] or 0:>10.0f} {r['rpc_calls']:>6} {r['erp_share']:>8.0%} "
              f"{1 - (r['erp_share'] or 0):>10.0%}")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bench_tryton_sync.json").write_text(json.dumps(
        {"invoices": args.invoices, "page_size": args.page_size, "seeding_seconds": round(seeding, 1),
         "results": results}, indent=2) + "\n")
    full = results[0]
    expected = args.invoices
    if full["inserted"] < expected:
        print(f"bench: expected at least {expected} new records, got {full['inserted']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
