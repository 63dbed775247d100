"""The morning cash application DAG: payments back to the ledger.

cash_application   match_incoming ----\\
                                        >-- apply_in_ledger -- reconcile_banks -- publish (Asset)
                   payment_statuses ---/

Runs every morning and whenever bank statements arrive (the ``bank_transaction`` Asset): incoming
payments are matched to open receivables (the sure ones posted in the ledger, the rest to the
worklist: ``ledgerlink cashapp worklist``), the debit entries and returns mark our supplier invoices
paid or returned, both go to the ledger through the outbox, and every bank account of the ledger
connection's ``bank_accounts`` is reconciled against the ledger. Without a ledger connection the
matching and the statuses still run and their postings wait in the outbox.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from airflow.sdk import DAG, Asset, AssetOrTimeSchedule, CronTriggerTimetable, dag, task

log = logging.getLogger("ledgerlink.cashapp")

START_DATE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
BANK_ASSET = Asset(name="ledgerlink_bank_transaction", uri="ledgerlink://store/bank_transaction", group="ledgerlink")
MATCH_ASSET = Asset(name="ledgerlink_cash_match", uri="ledgerlink://store/cash_match", group="ledgerlink")
DEFAULT_ARGS = {"owner": "finance-ops", "retries": 2, "retry_delay": dt.timedelta(minutes=5)}
ACTOR = "airflow:cash_application"


def match_incoming() -> dict[str, Any]:
    from ledgerlink.cashapp.flow import configured_rates
    from ledgerlink.cashapp.flow import match_incoming as run
    from ledgerlink.cashapp.rules import load_rules
    from ledgerlink.store import Store

    return run(Store(), rules=load_rules(), rates=configured_rates(), actor=ACTOR).as_dict()


def payment_statuses() -> dict[str, Any]:
    from ledgerlink.payments.flow import update_payment_statuses
    from ledgerlink.store import Store

    return update_payment_statuses(Store(), actor=ACTOR).as_dict()


def apply_in_ledger() -> dict[str, Any]:
    """Post what the outbox holds for the ledger, then mark the matches whose postings all arrived."""
    from ledgerlink.cashapp.flow import settle_applied
    from ledgerlink.connections import find_connection
    from ledgerlink.errors import LedgerlinkError
    from ledgerlink.payments.flow import send_payment_writebacks
    from ledgerlink.payments.settings import ledger_writeback, payment_settings
    from ledgerlink.store import Store

    settings = payment_settings()
    if find_connection(settings.conn_id) is None:
        log.warning("no ledger connection %r: the postings wait in the outbox", settings.conn_id)
        return {"configured": False}
    store = Store()
    with ledger_writeback(settings) as writeback:
        sent = send_payment_writebacks(store, writeback, journal=settings.require_journal(), limit=10_000,
                                       actor=ACTOR)
    applied = settle_applied(store, actor=ACTOR)
    result = {"configured": True, **sent.as_dict(), "matches_applied": applied}
    if sent.dead:
        raise LedgerlinkError(f"{sent.dead} ledger posting(s) became dead letters (ledgerlink payments outbox "
                              f"--dead); first: {sent.errors[0] if sent.errors else '?'}")
    return result


def reconcile_banks(as_of: dt.date | None = None) -> dict[str, Any]:
    """One reconciliation report per bank account, written to $LEDGERLINK_HOME/reports/."""
    from ledgerlink.cashapp.reconcile import reconcile_banks as run
    from ledgerlink.config import ledgerlink_home
    from ledgerlink.store import Store

    day = as_of or dt.date.today()
    reports = run(Store(), day)
    folder = ledgerlink_home() / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"bank_reconciliation_{day.isoformat()}.json"
    path.write_text(json.dumps(reports, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    differences = [r.get("account") for r in reports if not r.get("zero_differences")]
    if differences:
        log.warning("bank reconciliation as of %s: differences on %s (see %s)", day, differences, path)
    return {"path": str(path), "accounts": len(reports), "with_differences": len(differences)}


DOC = __doc__


def build_cash_application_dag() -> DAG:
    schedule = AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 6 * * *", timezone="UTC"), assets=[BANK_ASSET])

    @dag(dag_id="cash_application", doc_md=DOC, schedule=schedule, start_date=START_DATE, catchup=False,
         max_active_runs=1, tags=["ledgerlink", "cashapp"], default_args=DEFAULT_ARGS,
         description="Match incoming payments, mark paid supplier invoices, post to the ledger, reconcile the banks")
    def cash_application() -> None:
        @task(task_id="match_incoming")
        def match_task() -> dict[str, Any]:
            return match_incoming()

        @task(task_id="payment_statuses")
        def statuses_task() -> dict[str, Any]:
            return payment_statuses()

        @task(task_id="apply_in_ledger")
        def apply_task() -> dict[str, Any]:
            return apply_in_ledger()

        @task(task_id="reconcile_banks")
        def reconcile_task() -> dict[str, Any]:
            return reconcile_banks()

        @task(task_id="publish", outlets=[MATCH_ASSET])
        def publish(matched: Any, reconciled: Any, *, outlet_events: Any = None) -> dict[str, Any]:
            result = {"matched": matched, "reconciled": reconciled}
            if outlet_events is not None:
                outlet_events[MATCH_ASSET].extra = {"payments": matched.get("payments", 0),
                                                    "accounts": reconciled.get("accounts", 0)}
            return result

        matched, statuses = match_task(), statuses_task()
        applied = apply_task()
        [matched, statuses] >> applied
        reconciled = reconcile_task()
        applied >> reconciled
        publish(matched, reconciled)

    return cash_application()
