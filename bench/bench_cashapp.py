"""Benchmark: cash application, how well and how fast, against a bare dictionary lookup on the same data.

For each size (payments:open items) a ledger and statements with known ground truth are written by
bench/generate_receivables.py to bench/out/ (kept and reused), then one fresh child process per size:

1. reads the open items and parties (JSON lines) and the payments back from the camt.053 and MT940
   files through ``connectors.bank.parse``, in value-date order (not timed);
2. baseline: a bare ``dict`` from the open items' structured references, and for each payment a look-up
   of its structured reference as given, taking the amount off what it finds: the least any matcher
   does, and all a reference-only matcher does;
3. ledgerlink: ``Matcher(items, parties, rules, rates=ECB sample)`` (its indexes) and ``match(payments)``;
4. scores the results against the ground truth.

Rates printed (see also the category table):

* auto-match rate per payment: payments with a ground truth whose result is ``auto`` and applies exactly
  the invoices they pay, over all payments with a ground truth;
* auto-match rate per invoice line: invoices paid (one line per invoice a payment pays) that an ``auto``
  result applied to the right invoice, over all such lines;
* false-match rate: ``auto`` results that apply to an invoice or a party the payment does not pay (noise
  included), over all ``auto`` results (and over all payments);
* suggestion and exception rates: over all payments.

Throughput is payments per second for indexing plus matching; wall and CPU seconds are both printed (on
a shared machine the CPU time is the steadier figure), with the ratio to the baseline. Peak RSS is the
child's: the loaded data, the indexes and the results.

    .venv/bin/python bench/bench_cashapp.py [--size 10000:100000 --size 100000:1000000] [--seed 7]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_SIZES = ("10000:100000", "100000:1000000")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> dict[str, float]:
    wall, cpu = _clock()
    return {"seconds": wall - start[0], "cpu_seconds": cpu - start[1]}


def _child(folder: Path) -> dict:
    from connectors.fx import EcbRates
    from ledgerlink.cashapp import Matcher, load_rules, payments_from_statement
    from ledgerlink.cashapp.inputs import read_open_items, read_parties

    load = _clock()
    items = read_open_items(folder / "items.jsonl")
    parties = read_parties(folder / "parties.jsonl")
    payments = [*payments_from_statement(folder / "statement.camt053.xml"),
                *payments_from_statement(folder / "statement.mt940.sta")]
    payments.sort(key=lambda p: (p.value_date, p.bank_reference))
    truth = {}
    with (folder / "truth.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            truth[row["bank_reference"]] = row
    rules = load_rules()
    rates = EcbRates.load(ROOT / "sandbox" / "ecb" / "eurofxref-hist-sample.csv")
    loaded = _since(load)
    rss_loaded = _peak_rss_mb()
    gc.collect()
    gc.freeze()  # the loaded data is not garbage: neither side pays for the collector walking it

    start = _clock()
    index = {item.structured_reference: i for i, item in enumerate(items) if item.structured_reference}
    baseline_index = _since(start)
    remaining = [item.amount_open for item in items]
    found = 0
    for p in payments:
        i = index.get(p.structured_reference)
        if i is not None:
            remaining[i] -= p.amount
            found += 1
    baseline = _since(start)

    start = _clock()
    matcher = Matcher(items, parties, rules, rates=rates)
    indexed = _since(start)
    results = matcher.match(payments)
    matched = _since(start)
    return {"items": len(items), "parties": len(parties), "payments": len(payments), "load": loaded,
            "rss_loaded_mb": rss_loaded, "baseline_index": baseline_index, "baseline": baseline,
            "baseline_found": found, "index": indexed, "total": matched, "peak_rss_mb": _peak_rss_mb(),
            "load_average": os.getloadavg(), "scores": _score(results, truth)}


def _score(results: list, truth: dict[str, dict]) -> dict:
    counts: Counter[str] = Counter()
    by_category: dict[str, Counter[str]] = defaultdict(Counter)
    for r in results:
        t = truth[r.payment.bank_reference]
        expected = {(t["party_id"], number) for number in t["invoices"]}
        applied = {(a.party_id, a.invoice_number) for a in r.allocations}
        category = by_category[t["category"]]
        counts["payments"] += 1
        category["payments"] += 1
        counts[r.decision] += 1
        category[r.decision] += 1
        if expected:
            counts["matchable"] += 1
            counts["lines"] += len(expected)
        if r.decision != "auto":
            if r.decision == "suggest" and expected and applied == expected:
                category["suggest_right"] += 1
            continue
        if applied - expected:
            counts["false"] += 1
            category["false"] += 1
        elif applied == expected:
            counts["auto_right"] += 1
            category["auto_right"] += 1
        counts["auto_lines"] += len(applied & expected)
    return {"counts": dict(counts), "categories": {k: dict(v) for k, v in by_category.items()}}


def _run_child(folder: Path) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", str(folder)], check=True, capture_output=True,
                          text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _data(payments: int, items: int, seed: int) -> Path:
    folder = OUT / f"cashapp-{payments}-{items}-{seed}"
    if not (folder / "truth.jsonl").exists():
        t0 = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "bench" / "generate_receivables.py"), str(folder),
                        "--items", str(items), "--payments", str(payments), "--seed", str(seed)], check=True,
                       capture_output=True)
        print(f"wrote {folder.relative_to(ROOT)} in {time.perf_counter() - t0:.0f} s", flush=True)
    return folder


def _pct(part: int, whole: int, digits: int = 2) -> str:
    return f"{100 * part / whole:6.{digits}f}%" if whole else "     -"


def _report(size: str, r: dict) -> None:
    c = r["scores"]["counts"]
    n, matchable = c["payments"], c.get("matchable", 0)
    auto = c.get("auto", 0)
    base, ours = r["baseline"], r["total"]
    print(f"\n{r['payments']:,} payments x {r['items']:,} open items ({r['parties']:,} parties)  [{size}]")
    print(f"  load average during the run: {' '.join(f'{x:.2f}' for x in r['load_average'])}")
    print(f"  auto-match rate per payment:      {_pct(c.get('auto_right', 0), matchable)}  "
          f"({c.get('auto_right', 0):,} of {matchable:,} payments that pay invoices)")
    print(f"  auto-match rate per invoice line: {_pct(c.get('auto_lines', 0), c.get('lines', 0))}  "
          f"({c.get('auto_lines', 0):,} of {c.get('lines', 0):,} invoices paid)")
    print(f"  false-match rate:                 {_pct(c.get('false', 0), auto, 3)} of auto matches, "
          f"{_pct(c.get('false', 0), n, 3).strip()} of all payments ({c.get('false', 0)} payments)")
    print(f"  suggestion rate: {_pct(c.get('suggest', 0), n)}   exception rate: {_pct(c.get('exception', 0), n)}"
          f"   auto: {_pct(auto, n)}  (of all {n:,} payments)")
    print(f"  baseline (dict of exact references): {base['seconds']:.2f} s wall, {base['cpu_seconds']:.2f} s CPU "
          f"(index {r['baseline_index']['seconds']:.2f} s); finds {r['baseline_found']:,} payments "
          f"({_pct(r['baseline_found'], n).strip()})")
    print(f"  ledgerlink: {ours['seconds']:.2f} s wall, {ours['cpu_seconds']:.2f} s CPU "
          f"(indexes {r['index']['seconds']:.2f} s, matching {ours['seconds'] - r['index']['seconds']:.2f} s) "
          f"= {n / ours['seconds']:,.0f} payments/s")
    print(f"  ratio to the baseline: {ours['seconds'] / base['seconds']:.1f}x wall, "
          f"{ours['cpu_seconds'] / base['cpu_seconds']:.1f}x CPU")
    print(f"  peak RSS {r['peak_rss_mb']:,.0f} MB (after loading the data: {r['rss_loaded_mb']:,.0f} MB); "
          f"loading took {r['load']['seconds']:.1f} s (not timed above)")
    print(f"  {'category':<22}{'payments':>9}{'auto right':>12}{'suggest':>9}{'exception':>11}{'false auto':>12}")
    for name, k in sorted(r["scores"]["categories"].items(), key=lambda kv: -kv[1]["payments"]):
        print(f"  {name:<22}{k['payments']:>9}{_pct(k.get('auto_right', 0), k['payments']):>12}"
              f"{_pct(k.get('suggest', 0), k['payments']):>9}{_pct(k.get('exception', 0), k['payments']):>11}"
              f"{k.get('false', 0):>12}")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(_child(Path(sys.argv[2]))))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", action="append", metavar="PAYMENTS:ITEMS",
                    help=f"payments and open items, e.g. 100000:1000000 (repeatable; default {' '.join(DEFAULT_SIZES)})")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    print(f"cash application benchmark, seed {args.seed}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for size in args.size or DEFAULT_SIZES:
        payments, _, items = size.partition(":")
        folder = _data(int(payments), int(items), args.seed)
        _report(size, _run_child(folder))


if __name__ == "__main__":
    main()
