"""Benchmark: the EN 16931 business-rule check per e-invoice, against reading the same invoice
without it (the baseline, measured in the same run).

* compile    - each validation stylesheet compiled once (Saxon-HE), as the first invoice of a
               process pays it;
* baseline   - ``connectors.einvoice.parse_xml(rules=False)``: hardened parsing and the readers;
* ledgerlink - ``parse_xml()`` with the rules that apply (CEN, XRechnung, Peppol subset).

Invoices: the UBL and CII files of the sample corpus (../shared/corpus, or LEDGERLINK_CORPUS) that a
rule set applies to, else the CII fixture of the tests. Each is run ``--repeat`` times, the best
time kept. Wall and CPU seconds are both printed: on a shared machine CPU time is the steadier.

    .venv/bin/python bench/bench_einvoice_rules.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from connectors.einvoice import EInvoiceError, business_rules, parse_xml  # noqa: E402

CORPUS = Path(os.environ.get("LEDGERLINK_CORPUS", ROOT.parent / "shared" / "corpus"))
FIXTURE = ROOT / "tests" / "fixtures" / "einvoice" / "cii_en16931.xml"


def _documents() -> list[tuple[str, bytes]]:
    docs = []
    for folder in ("ubl", "cii"):
        for path in sorted((CORPUS / folder).rglob("*")):
            if path.is_file() and path.suffix.lower() == ".xml":
                docs.append((path.name, path.read_bytes()))
    if not docs:
        amounts = {"line1": "60.00", "line2": "40.00", "tax": "21.00", "net": "100.00", "gross": "121.00",
                   "category": "S"}
        docs.append((FIXTURE.name, FIXTURE.read_text(encoding="utf-8").format(**amounts).encode()))
    return docs


def _best(fn, repeat: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return min(walls), min(cpus)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    for rule_set in (business_rules.EN16931_UBL, business_rules.EN16931_CII, business_rules.XRECHNUNG_UBL,
                     business_rules.XRECHNUNG_CII):
        wall, cpu = _best(lambda s=rule_set: business_rules._executable(s), 1)
        print(f"compile {rule_set.name:<14} wall {wall:6.2f} s  cpu {cpu:6.2f} s")
    base_wall, base_cpu, rules_wall, rules_cpu = [], [], [], []
    for name, data in _documents():
        try:
            invoice = parse_xml(data, name, rules=False)
        except EInvoiceError:
            continue
        if not business_rules.rule_sets_for(invoice.syntax, invoice.customization_id):
            continue
        w, c = _best(lambda d=data, n=name: parse_xml(d, n, rules=False), args.repeat)
        base_wall.append(w)
        base_cpu.append(c)
        w, c = _best(lambda d=data, n=name: parse_xml(d, n), args.repeat)
        rules_wall.append(w)
        rules_cpu.append(c)
    n = len(rules_wall)
    print(f"invoices {n} (best of {args.repeat} each)")
    for label, walls, cpus in (("baseline (no rules)", base_wall, base_cpu), ("ledgerlink (rules)", rules_wall,
                                                                                  rules_cpu)):
        print(f"{label:<20} median wall {statistics.median(walls) * 1000:7.1f} ms  cpu "
              f"{statistics.median(cpus) * 1000:7.1f} ms  max wall {max(walls) * 1000:7.1f} ms")
    print(f"ratio (median cpu)   {statistics.median(rules_cpu) / statistics.median(base_cpu):7.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
