"""Benchmark: N eligible invoices decided, enqueued and pushed through the outbox to the SCF simulator.

On a new SQLite store with N eligible payable invoices (loaded beforehand, not timed):
  decide   ``decide_and_enqueue``: every decision and its outbox entry in ONE transaction
  push     until the outbox is empty: claim a batch, build the platform's invoices, send them with
           ``ScfClient.submit_batch`` (the batch's key derived from its entries' idempotency keys,
           as ``financing.push`` does), then ``Outbox.mark_sent_many`` the batch's entries with the platform's ids
and prints invoices/s end to end and where the time went: ledgerlink (decide, enqueue, claim,
build, mark) versus waiting on the simulator (the HTTP calls, measured around the client's
session). The simulator runs in this process (uvicorn in a thread), so its CPU time competes
with ledgerlink's for the GIL and is counted as waiting.

    .venv/bin/python bench/bench_financing_outbox.py [--invoices 10000] [--batch 500]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BUYER_KEY = "sk_bench_buyer"
IBAN = "NL91ABNA0417164300"
TODAY = dt.date.today()
RULES_YAML = """
version: 1
revision: "bench"
platform: scf-bench
pilot_vendors: [C1001, C1002]
currencies:
  EUR: {min: "500.00", max: "250000.00"}
days_to_due: {min: 10, max: 120}
payment_terms: [NET60]
"""


class TimedSession(requests.Session):
    """A requests session that adds up the time spent in HTTP calls (connect, send, wait, read)."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds = 0.0
        self.calls = 0

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        t0 = time.perf_counter()
        try:
            return super().request(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t0
            self.calls += 1


def invoice(n: int) -> dict[str, str]:
    cents = 50_000 + (n * 7919) % 5_000_000  # 500.00 .. 50,499.99, deterministic
    amount = f"{cents // 100}.{cents % 100:02d}"
    return {
        "invoice_number": f"B-{n:06d}", "direction": "payable", "vendor_id": ("C1001", "C1002")[n % 2],
        "vendor_name": "Bench vendor", "vendor_iban": IBAN,
        "issue_date": (TODAY - dt.timedelta(days=5)).isoformat(),
        "due_date": (TODAY + dt.timedelta(days=20 + n % 90)).isoformat(), "currency": "EUR",
        "amount_excl_tax": amount, "tax_amount": "0.00", "amount_incl_tax": amount,
        "payment_terms": "NET60", "status": "approved",
    }


def seed(store: Any, count: int) -> None:
    from ledgerlink.store import StagedRecord

    def load(entity: str, rows: list[tuple[str, dict]]) -> None:
        run = store.start_run(f"bench-{entity}", entity)
        store.load(run, f"bench-{entity}", entity, [StagedRecord.build(k, p) for k, p in rows])
        store.finish_run(run, "succeeded")

    load("vendor", [(json.dumps({"vendor_id": v}), {"vendor_id": v, "name": v, "approval_status": "approved",
                                                    "payment_terms": "NET60"}) for v in ("C1001", "C1002")])
    rows = []
    for n in range(count):
        p = invoice(n)
        rows.append((json.dumps({"vendor_id": p["vendor_id"], "invoice_number": p["invoice_number"]},
                                separators=(",", ":")), p))
    load("invoice", rows)


def batch_key(entry_keys: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(entry_keys)).encode()).hexdigest()


def run(count: int, batch: int) -> dict[str, Any]:
    from connectors.financing import PayableInvoice, ScfClient
    from ledgerlink.financing.decide import SUBMIT_KIND, decide_and_enqueue
    from ledgerlink.financing.rules import parse_rules
    from ledgerlink.model.entities import validator
    from ledgerlink.store import Store
    from ledgerlink.store.outbox import Outbox
    from sandbox.scf_platform import Party, ScfConfig, ScfPlatform, SimClock

    rules = parse_rules(RULES_YAML, "bench-rules.yaml")
    config = ScfConfig(api_keys={BUYER_KEY: Party("buyer", "BUYER-1")}, max_batch_size=max(batch, 500))
    start = dt.datetime.combine(TODAY, dt.time(9, 0), tzinfo=dt.UTC)
    with tempfile.TemporaryDirectory(prefix="ledgerlink-bench-financing-") as tmp, \
            ScfPlatform(config, clock=SimClock(start), background_webhooks=False) as platform:
        store = Store(f"sqlite:///{Path(tmp) / 'store.db'}")
        t0 = time.perf_counter()
        seed(store, count)
        validator("financing_request")  # one-time: the schema library's import and the schema's compilation
        seed_s = time.perf_counter() - t0

        session = TimedSession()
        client = ScfClient(platform.url, BUYER_KEY, timeout=30, max_attempts=3, backoff=0.05,
                           platform="scf-bench", session=session)
        box = Outbox(store)
        steps = dict.fromkeys(("decide_enqueue", "claim", "build", "submit_http", "mark_sent"), 0.0)

        begin = time.perf_counter()
        decided = decide_and_enqueue(store, None, TODAY, "bench-decide", rules=rules)
        steps["decide_enqueue"] = time.perf_counter() - begin
        invoices = {r["natural_key"]: r["payload"] for r in store.current_records("invoice")}
        by_entry = {row["outbox_id"]: invoices[row["invoice_key"]] for row in decided.decisions if row["outbox_id"]}

        sent = rejected = batches = 0
        while True:
            t = time.perf_counter()
            claimed = box.claim("bench", limit=batch, kinds=[SUBMIT_KIND])
            steps["claim"] += time.perf_counter() - t
            if not claimed:
                break
            t = time.perf_counter()
            claimed.sort(key=lambda e: e.idempotency_key)
            body = [PayableInvoice.from_canonical(by_entry[e.id], e.idempotency_key) for e in claimed]
            key = batch_key([e.idempotency_key for e in claimed])
            steps["build"] += time.perf_counter() - t
            t = time.perf_counter()
            http_before = session.seconds
            answer = client.submit_batch(body, idempotency_key=key)
            # the client's own decoding counts as ledgerlink, the HTTP round trip as waiting
            steps["submit_http"] += session.seconds - http_before
            steps["build"] += (time.perf_counter() - t) - (session.seconds - http_before)
            t = time.perf_counter()
            by_ref = {item.buyer_reference: item for item in answer.items}
            outcomes = []
            for entry in claimed:
                item = by_ref[entry.idempotency_key]
                outcomes.append((entry.id, {"batch": {"key": key}, "platform_batch_id": answer.id,
                                            "platform_id": item.id, "platform_status": item.status}))
                rejected += item.status == "rejected"
            box.mark_sent_many(outcomes, worker="bench")  # the batch's entries in one transaction
            steps["mark_sent"] += time.perf_counter() - t
            sent += len(claimed)
            batches += 1
        total = time.perf_counter() - begin
        client.close()
        on_platform = len(platform.state.invoices)
        store.close()

    waiting = steps["submit_http"]
    return {
        "invoices": count, "batch": batch, "eligible": decided.eligible, "enqueued": decided.enqueued,
        "sent": sent, "rejected": rejected, "batches": batches, "http_calls": session.calls,
        "on_platform": on_platform, "seed_seconds": round(seed_s, 3), "total_seconds": round(total, 3),
        "invoices_per_s": round(sent / total, 1) if total else None,
        "ledgerlink_seconds": round(total - waiting, 3), "simulator_seconds": round(waiting, 3),
        "ledgerlink_share": round((total - waiting) / total, 3) if total else None,
        "steps": {k: round(v, 3) for k, v in steps.items()},
        "other_seconds": round(total - sum(steps.values()), 3),
    }


def print_table(r: dict[str, Any]) -> None:
    total = r["total_seconds"]
    print(f"\n{r['invoices']} invoices, batches of {r['batch']}: {r['eligible']} eligible, {r['enqueued']} enqueued, "
          f"{r['sent']} sent in {r['batches']} batch(es), {r['rejected']} rejected by the platform, "
          f"{r['on_platform']} on the platform")
    print(f"(seeding the store and compiling the request schema, not timed: {r['seed_seconds']:.2f} s)\n")
    print(f"{'step':<38}{'seconds':>10}{'share':>9}")
    print("-" * 57)
    labels = {
        "decide_enqueue": "ledgerlink: decide + enqueue (1 tx)",
        "claim": "ledgerlink: claim batches",
        "build": "ledgerlink: build batch bodies",
        "mark_sent": "ledgerlink: mark sent (1 tx per batch)",
        "submit_http": "simulator: HTTP submit_batch",
    }
    for key, label in labels.items():
        seconds = r["steps"][key]
        print(f"{label:<38}{seconds:>10.3f}{seconds / total:>9.1%}")
    print(f"{'ledgerlink: other (read invoices)':<38}{r['other_seconds']:>10.3f}{r['other_seconds'] / total:>9.1%}")
    print("-" * 57)
    print(f"{'ledgerlink total':<38}{r['ledgerlink_seconds']:>10.3f}{r['ledgerlink_share']:>9.1%}")
    print(f"{'waiting on the simulator':<38}{r['simulator_seconds']:>10.3f}{1 - r['ledgerlink_share']:>9.1%}")
    print(f"{'end to end':<38}{total:>10.3f}{1:>9.1%}")
    print(f"\nthroughput: {r['invoices_per_s']:.1f} invoices/s end to end")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500, help="entries claimed and sent per batch")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    result = run(args.invoices, args.batch)
    print_table(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["sent"] == result["eligible"] == args.invoices else 1


if __name__ == "__main__":
    raise SystemExit(main())
