"""Benchmark: the finance-ops console's pages on a big store.

Seeds a new SQLite store through ``store.console.bulk_insert`` (not timed): RECORDS records
(one version each) over 40 feeds and 2,000 runs, QUARANTINE quarantine rows, 20,000 chained audit entries,
10,000 financing submissions (some dead) with their platform statuses, 100,000 financing decisions,
and 10,000 cash matches.
Then asks each page through the console's ASGI app (FastAPI's TestClient, the signed-in user
overridden as an admin; the role checks run as they are) and prints milliseconds per page: the first
request after the app's start (its lifespan warms the pages up, as at API-server start; the warm-up is
timed apart, and so is the first check of the whole audit chain, which runs beside the start), then the
median and the slowest of REPEAT more. Airflow's metadata database is not set
up here: the feeds page's next runs and the financing page's pending approvals are answered as
unavailable, which the pages handle.

    .venv/bin/python bench/bench_console.py [--records 1000000] [--quarantine 100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FEEDS = [f"feed_{i:02d}" for i in range(40)]
RULES = ["type.money", "type.iban", "required", "type.date", "enum", "check.sum"]
IBAN = "NL91ABNA0417164300"


def stamp(i: int) -> str:
    """A fixed, sortable timestamp i seconds after 2026-01-01 (no calendar dependence)."""
    day, rest = divmod(i, 86400)
    return f"2026-{1 + day // 28 % 12:02d}-{1 + day % 28:02d}T{rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}+00:00"


def seed(store, records: int, quarantined: int) -> dict:
    from ledgerlink.store.audit import AuditEntry

    console = store.console
    runs = 2000
    run_ids = [f"00000000-0000-0000-0000-{i:012d}" for i in range(runs)]
    per_run = records // runs
    totals = json.dumps({"read": {"count": per_run + 50, "amounts": {"EUR": "1000.00"}},
                         "loaded": {"count": per_run, "amounts": {"EUR": "900.00"}},
                         "quarantined": {"count": 50, "amounts": {"EUR": "100.00", "USD": "12.50"}}})
    console.bulk_insert("runs", ({
        "id": rid, "feed": FEEDS[i % len(FEEDS)], "entity": "invoice", "mapping": "m.yaml",
        "source": json.dumps({"name": f"export_{i}.csv"}), "status": "failed" if i % 17 == 0 else "succeeded",
        "started_at": stamp(i * 60), "finished_at": stamp(i * 60 + 30), "totals": totals, "drift": None,
        "error": "boom" if i % 17 == 0 else None} for i, rid in enumerate(run_ids)))
    statuses = ["uploaded", "approved", "offered", "accepted", "funded", "paid"]
    financing = 10_000

    def record_rows():
        for i in range(records):
            entity = "financing_request" if i < financing else "invoice"
            status = statuses[i % len(statuses)] if i < financing else "open"
            payload = json.dumps({"invoice_number": f"INV-{i}", "amount_incl_tax": "123.45", "currency": "EUR",
                                  "status": status, "vendor_id": f"V{i % 997}"})
            yield {"entity": entity, "natural_key": f"K{i}", "version": 1, "content_hash": f"{i:064x}",
                   "payload": payload, "lineage": '{"row":1}', "run_id": run_ids[i % runs], "created_at": stamp(i)}

    console.bulk_insert("records", record_rows())
    console.bulk_insert("quarantine", ({
        "run_id": run_ids[i % runs], "feed": FEEDS[i % len(FEEDS)], "entity": "invoice", "mapping": "m.yaml",
        "source_name": f"export_{i % runs}.csv", "source_sha256": None, "row": i % 5000 + 2, "location": None,
        "raw": json.dumps({"Factuurnummer": f"F{i}", "IBAN": IBAN, "Naam": "Jansen BV", "Bedrag": "12,50"}),
        "errors": json.dumps([{"field": "amount", "rule": RULES[i % len(RULES)], "message": "not a number",
                               "mapping_line": 12}]),
        "reason_code": RULES[i % len(RULES)], "status": "open" if i % 4 else "discarded",
        "created_at": stamp(i * 30), "resolved_at": None, "resolved_by": None, "resolution_run_id": None}
        for i in range(quarantined)))
    console.bulk_insert("outbox", ({
        "kind": "financing.submit", "idempotency_key": f"sub-{i}",
        "payload": json.dumps({"amount": "1500.00", "currency": "EUR" if i % 3 else "USD"}),
        "status": ("dead" if i % 50 == 0 else "pending" if i % 5 == 0 else "sent"), "attempts": 1,
        "next_attempt_at": stamp(i), "last_error": "HTTP 422" if i % 50 == 0 else None, "claimed_by": None,
        "claimed_until": None, "created_at": stamp(i), "sent_at": None, "response": None} for i in range(financing)))
    console.bulk_insert("cash_matches", ({
        "entry_key": f"B-{i}", "account": IBAN, "bank_reference": f"B-{i}", "value_date": "2026-03-09",
        "amount": "99.95", "currency": "EUR",
        "counterparty": json.dumps({"name": "Jansen Installatietechniek", "iban": IBAN, "remittance_text": "betaling"}),
        "party_id": "C2", "decision": "suggest", "confidence": "0.60", "status": "open" if i % 2 else "applied",
        "allocations": json.dumps([{"invoice_number": f"INV-{i}", "amount": "99.95"}]),
        "evidence": json.dumps({"reason": "name"}), "unapplied": "0", "unapplied_status": None, "run_id": "r",
        "created_at": stamp(i), "updated_at": stamp(i), "resolved_by": None, "note": None} for i in range(10_000)))
    console.bulk_insert("financing_decisions", ({
        "invoice_key": f"K{i % 200_000}", "invoice_hash": f"{i:064x}", "decision": "eligible" if i % 3 else "ineligible",
        "rule": "eligible" if i % 3 else "amount_range", "reason": "ok", "details": "[]", "rules_version": "1",
        "rules_hash": "h", "run_id": run_ids[i % runs], "outbox_id": None, "decided_at": stamp(i)}
        for i in range(100_000)))
    for start in range(0, 20_000, 5_000):
        console.bulk_audit([AuditEntry("load", f"run:{run_ids[i % runs]}", {"i": i}, f"airflow:user{i % 7}")
                            for i in range(start, start + 5_000)])
    return {"run": run_ids[1234], "feed": FEEDS[7]}


def measure(client, picks: dict, repeat: int) -> None:
    """Request each page; print first, median and slowest milliseconds."""
    from ledgerlink.airflow.console.pages import store

    qid = store().console.quarantine_page(__import__("ledgerlink.store.console", fromlist=["x"]).QuarantineFilter(),
                                          size=1).rows[0]["id"]
    pages = [
        ("feeds", "/", {}),
        ("quarantine", "/quarantine", {}),
        ("quarantine, feed+rule", "/quarantine", {"feed": picks["feed"], "rule": "type.iban"}),
        ("quarantine, file", "/quarantine", {"file": "export_7.csv", "status": "all"}),
        ("quarantine, dates", "/quarantine", {"status": "all", "date_from": "2026-02-01", "date_to": "2026-02-03"}),
        ("quarantine, page 1000", "/quarantine", {"page_no": 1000}),
        ("quarantine entry", f"/quarantine/{qid}", {}),
        ("financing", "/financing", {}),
        ("settings", "/settings", {}),
        ("cash application", "/cashapp", {}),
        ("cash application, page 90", "/cashapp", {"page_no": 90}),
        ("audit", "/audit", {}),
        ("audit, record", "/audit", {"subject": f"run:{picks['run']}"}),
        ("audit, user", "/audit", {"actor": "airflow:user3"}),
        ("audit, dates", "/audit", {"date_from": "2026-01-02", "date_to": "2026-01-02"}),
    ]
    print(f"{'page':<28}{'first ms':>10}{'median ms':>10}{'max ms':>10}")
    for label, path, params in pages:
        times = []
        for _ in range(1 + repeat):
            t = time.perf_counter()
            answer = client.get(path, params=params)
            times.append((time.perf_counter() - t) * 1000)
            if answer.status_code != 200:
                raise SystemExit(f"{label}: HTTP {answer.status_code}: {answer.text[:300]}")
        rest = times[1:] or times
        print(f"{label:<28}{times[0]:>10.1f}{statistics.median(rest):>10.1f}{max(rest):>10.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--quarantine", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ledgerlink-bench-console-"))
    os.environ["LEDGERLINK_STORE_URL"] = f"sqlite:///{work / 'store.db'}"
    os.environ.setdefault("AIRFLOW_HOME", str(work / "airflow"))
    os.environ.setdefault("AIRFLOW_CONFIG", str(ROOT / "airflow.cfg"))
    os.environ.setdefault("LEDGERLINK_ROOT", str(ROOT))
    os.environ.setdefault("LEDGERLINK_HOME", str(work / "home"))
    import logging

    logging.getLogger("ledgerlink.console").setLevel(logging.ERROR)

    from airflow.api_fastapi.app import create_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.testclient import TestClient

    from ledgerlink.airflow.console.pages import store
    from ledgerlink.airflow.plugin import app

    t0 = time.perf_counter()
    picks = seed(store(), args.records, args.quarantine)
    print(f"seeded {args.records:,} records, {args.quarantine:,} quarantine rows, 20,000 audit entries, "
          f"10,000 submissions and cash matches in {time.perf_counter() - t0:.1f} s ({work / 'store.db'})")

    create_auth_manager()
    app.dependency_overrides[get_user] = lambda: SimpleAuthManagerUser(username="bench", role="admin")
    # Entering the client runs the app's lifespan, as the API server's start does: the warm-up.
    t0 = time.perf_counter()
    with TestClient(app) as client:
        print(f"warm-up at start {(time.perf_counter() - t0) * 1000:.0f} ms")
        app.state.audit_check.join()
        print(f"audit chain verified beside the start, done after {(time.perf_counter() - t0) * 1000:.0f} ms")
        measure(client, picks, args.repeat)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
