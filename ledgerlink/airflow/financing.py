"""The financing DAGs: submitting eligible invoices to the platform, and following their status.

financing_push    decide -> (approve, when the batch is large | no_approval_needed) -> send -> publish
financing_status  sync (status changes since the cursor) -> report (reconciliation and figures)
                                                            -> book_ledger (Tryton, when configured)

Task bodies are plain functions (``decide``, ``send``, ``sync``, ``report``, ``book_ledger``) so they can be run and
tested without Airflow; heavy imports stay inside them to keep DAG parsing fast.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from typing import Any

from airflow.sdk import (
    DAG,
    Asset,
    AssetOrTimeSchedule,
    CronTriggerTimetable,
    Param,
    dag,
    get_current_context,
    task,
)

log = logging.getLogger("ledgerlink")

CONN_ID = "ledgerlink_scf"
TRYTON_CONN_ID = "ledgerlink_tryton"
FUNDER_ENV = "LEDGERLINK_FINANCING_FUNDER"
RATES_ENV = "LEDGERLINK_ECB_RATES"
OWNER = "finance-ops"
TAGS = ["ledgerlink", "financing"]
START_DATE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
APPROVAL_ENV = "LEDGERLINK_FINANCING_APPROVAL_ABOVE"
DEFAULT_APPROVAL_ABOVE = "100000.00"
ASSET = Asset(name="ledgerlink_financing_request", uri="ledgerlink://store/financing_request", group="ledgerlink")
DEFAULT_ARGS = {"owner": OWNER, "retries": 2, "retry_delay": dt.timedelta(minutes=5)}


APPROVAL_SETTING = "financing.approval_above"


def approval_threshold(store: Any = None) -> Any:
    """A batch above this amount (in any one currency) waits for an approver: the value an admin set
    in the console, else LEDGERLINK_FINANCING_APPROVAL_ABOVE, else 100000.00."""
    from decimal import Decimal, InvalidOperation

    from ledgerlink.errors import ConfigError

    stored = store.console.setting(APPROVAL_SETTING) if store is not None else None
    raw = stored or os.environ.get(APPROVAL_ENV) or DEFAULT_APPROVAL_ABOVE
    try:
        return Decimal(raw)
    except InvalidOperation:
        where = f"setting {APPROVAL_SETTING}" if stored else APPROVAL_ENV
        raise ConfigError(f"{where} must be an amount such as 100000.00 (got {raw!r})") from None


def scf_client(conn_id: str = CONN_ID, **options: Any) -> Any:
    """The platform client of the connection (host/port or extra base_url; password = API key)."""
    from ledgerlink.financing.push import platform_client

    return platform_client(conn_id, **options)


# -- task bodies -----------------------------------------------------------------------------------


def decide(run_id: str, today: dt.date | None = None) -> dict[str, Any]:
    """Decide every current payable invoice; totals of what waits to be sent, per currency."""
    from decimal import Decimal

    from ledgerlink.financing.decide import SUBMIT_KIND, decide_and_enqueue
    from ledgerlink.store import Store
    from ledgerlink.store.outbox import Outbox

    store = Store()
    result = decide_and_enqueue(store, None, today or dt.date.today(), run_id, actor="airflow:financing_push")
    totals: dict[str, Decimal] = {}
    waiting = 0
    box = Outbox(store)
    for status in ("pending", "in_flight"):
        for entry in box.entries(status, kind=SUBMIT_KIND, limit=100_000):
            totals[entry.payload["currency"]] = totals.get(entry.payload["currency"], Decimal(0)) + Decimal(
                entry.payload["amount"])
            waiting += 1
    threshold = approval_threshold(store)
    summary = {
        "run_id": run_id, "decided": result.decided, "eligible": result.eligible, "enqueued": result.enqueued,
        "by_rule": dict(result.by_rule), "waiting": waiting,
        "totals": {c: str(v) for c, v in sorted(totals.items())},
        "approval_above": str(threshold),
        "needs_approval": any(v > threshold for v in totals.values()),
    }
    log.info("financing decide: %s", summary)
    return summary


def approvers() -> list[dict[str, str]] | None:
    """Who may approve a batch: the Airflow users named in LEDGERLINK_FINANCING_APPROVERS
    (comma-separated), or anyone allowed to answer required actions when it is unset."""
    names = [n.strip() for n in os.environ.get("LEDGERLINK_FINANCING_APPROVERS", "").split(",") if n.strip()]
    return [{"id": n, "name": n} for n in names] or None


def record_approval(approval: dict[str, Any] | None, run_id: str, preparer: str | None = None) -> str | None:
    """Write who approved the batch to the audit log; returns the approver's name.

    Four eyes: the person who prepared the batch (triggered the run) may not approve it; such an
    approval is refused (audited) and nothing is sent."""
    if not approval:
        return None
    from ledgerlink.errors import LedgerlinkError
    from ledgerlink.store import Store

    user = approval.get("responded_by_user") or {}
    name = str(user.get("name") or user.get("id") or "unknown")
    details = {"chosen": approval.get("chosen_options"), "responded_at": str(approval.get("responded_at")),
               "user_id": user.get("id"), "prepared_by": preparer}
    if preparer and preparer in (user.get("name"), user.get("id")):
        Store().audit("financing.approval_refused", f"dag_run:{run_id}", details, actor=f"airflow:{name}")
        raise LedgerlinkError(f"run {run_id}: {name} prepared this batch and may not also approve it "
                              "(four-eyes rule); nothing was sent")
    Store().audit("financing.approve", f"dag_run:{run_id}", details, actor=f"airflow:{name}")
    return name


def send(worker: str, limit: int = 100, client: Any = None) -> dict[str, Any]:
    """Send every due submission, batch by batch, until none is due."""
    from ledgerlink.financing.push import send_all
    from ledgerlink.store import Store

    own = client is None
    client = client or scf_client()
    try:
        totals = send_all(Store(), client, worker, limit)
    finally:
        if own:
            client.close()
    log.info("financing send: %s", totals)
    return totals


def sync(client: Any = None) -> dict[str, Any]:
    from ledgerlink.financing.status import sync_statuses
    from ledgerlink.store import Store

    own = client is None
    client = client or scf_client()
    try:
        return sync_statuses(Store(), client).as_dict()
    finally:
        if own:
            client.close()


def report(tag: str, client: Any = None) -> dict[str, Any]:
    """Reconciliation and figures as JSON under $LEDGERLINK_HOME/reports/ and in the task log."""
    from ledgerlink.config import ledgerlink_home
    from ledgerlink.financing.report import figures, reconciliation, to_json
    from ledgerlink.store import Store

    store, own = Store(), client is None
    client = client or scf_client()
    try:
        data: dict[str, Any] = {"generated_at": dt.datetime.now(dt.UTC).isoformat(), "reconciliation": reconciliation(store, client),
                "figures": figures(store)}
    finally:
        if own:
            client.close()
    folder = ledgerlink_home() / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in tag)
    path = folder / f"financing_{safe}.json"
    text = to_json(data)
    path.write_text(text + "\n", encoding="utf-8")
    log.info("financing report written to %s:\n%s", path, text)
    rec = data["reconciliation"]
    return {"path": str(path), "zero_differences": rec["zero_differences"],
            "error_rate": data["figures"]["error_rate"], "dead_letters": data["figures"]["dead_letters"]}


def tryton_connection(conn_id: str = TRYTON_CONN_ID) -> dict[str, Any] | None:
    """The ledger connection's fields, or None when it is not defined."""
    from ledgerlink.connections import find_connection

    found = find_connection(conn_id)
    return None if found is None else found.fields()


def book_ledger(scf: Any = None, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    """Book funded and paid requests to Tryton (connection ``ledgerlink_tryton``; extra ``funder_party``
    and ``ecb_rates`` or $LEDGERLINK_FINANCING_FUNDER and $LEDGERLINK_ECB_RATES), then reconcile
    ledgerlink, the platform and the ledger. Without the connection it only says so."""
    fields = fields if fields is not None else tryton_connection()
    if fields is None:
        log.info("ledger writeback is not configured (no Airflow connection %r): nothing booked", TRYTON_CONN_ID)
        return {"configured": False}
    from connectors.erp.base import ErpError
    from connectors.erp.tryton import TrytonClient, TrytonConfig
    from connectors.erp.tryton_writeback import TrytonWriteback
    from connectors.fx.ecb import EcbRates
    from ledgerlink.errors import ConfigError, LedgerlinkError
    from ledgerlink.financing.writeback import book_new_statuses, ledger_reconciliation
    from ledgerlink.store import Store

    extra = fields.get("extra") or {}
    funder = extra.get("funder_party") or os.environ.get(FUNDER_ENV)
    rates_path = extra.get("ecb_rates") or os.environ.get(RATES_ENV)
    if not funder or not rates_path:
        raise ConfigError(f"Airflow connection {TRYTON_CONN_ID!r}: set extra funder_party (or ${FUNDER_ENV}) and "
                          f"extra ecb_rates (or ${RATES_ENV}, an ECB reference rate file) to book to the ledger")
    try:
        config = TrytonConfig.from_connection(**fields)
    except ErpError as exc:
        raise ConfigError(f"Airflow connection {TRYTON_CONN_ID!r}: {exc}") from None
    funder_party: int | str = int(funder) if str(funder).isdigit() else str(funder)
    store, own = Store(), scf is None
    scf = scf or scf_client()
    try:
        with TrytonClient(config) as tryton:
            result = book_new_statuses(store, TrytonWriteback(tryton), EcbRates.load(rates_path),
                                       funder_party=funder_party, actor="airflow:financing_status")
            if result.failed:
                raise LedgerlinkError(f"ledger booking: {len(result.failed)} step(s) failed, "
                                      f"{result.not_attempted} left for the next run; first: "
                                      f"{result.failed[0]['key']} {result.failed[0]['step']}: "
                                      f"{result.failed[0]['error']}")
            rec = ledger_reconciliation(store, scf, tryton, funder_party=funder_party)
    finally:
        if own:
            scf.close()
    if not rec["zero_differences"]:
        log.warning("ledger reconciliation: %d difference(s): %s", len(rec["differences"]), rec["differences"])
    return {"configured": True, **result.as_dict(), "ledger_zero_differences": rec["zero_differences"],
            "ledger_differences": len(rec["differences"])}


# -- DAGs ------------------------------------------------------------------------------------------

PUSH_DOC = """### Financing: submit eligible invoices

Decides every current approved payable invoice against the eligibility rules and enqueues the
eligible ones (`ledgerlink financing explain INV` says why). When the invoices waiting to be sent
total more than `LEDGERLINK_FINANCING_APPROVAL_ABOVE` (default 100000.00) in a currency, a person
approves the batch in **Required actions** first; the approver goes into the audit log. The outbox
is then sent to the platform of connection `ledgerlink_scf`; failures wait for their retry time
(`ledgerlink financing outbox`, dead letters: `--dead`). Invoices are decided as of the day the
run starts, or as of the date in the run's `today` parameter (YYYY-MM-DD)."""

STATUS_DOC = """### Financing: platform status and reconciliation

Reads the platform's status changes since the stored cursor into `financing_request` records (one
version per status), then writes a reconciliation with the platform (missing, unknown, duplicate,
status mismatch) and the figures (processing time, error rate, dead letters, financed volume) to
`$LEDGERLINK_HOME/reports/` and the task log. Without Airflow: `ledgerlink financing sync`,
`ledgerlink financing reconcile`.

**book_ledger** books funded and paid invoices to the Tryton ledger of connection `ledgerlink_tryton`
(extra `funder_party`, `ecb_rates`): the payable delegated to the funder and the discount at funding,
the funder paid and the FX result at maturity, each step once. It then compares ledgerlink, the
platform and the ledger and logs any difference. Without that connection it only logs that ledger
writeback is not configured."""


def build_push_dag() -> DAG:
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    @dag(dag_id="financing_push", doc_md=PUSH_DOC, schedule="@hourly", start_date=START_DATE, catchup=False,
         max_active_runs=1, tags=TAGS, default_args=DEFAULT_ARGS,
         description="Decide eligible invoices and submit them to the financing platform",
         params={"today": Param(None, type=["null", "string"], format="date",
                                description="decide as of this date (YYYY-MM-DD); empty: the day the run starts")})
    def financing_push() -> None:
        @task(task_id="decide")
        def decide_task(*, run_id: str | None = None, params: dict[str, Any] | None = None) -> dict[str, Any]:
            today = (params or {}).get("today")
            return decide(f"financing-{run_id}", dt.date.fromisoformat(today) if today else None)

        @task.branch(task_id="route")
        def route(summary: Any) -> str:  # summary: decide's XCom
            return "approve" if summary["needs_approval"] else "no_approval_needed"

        @task(task_id="no_approval_needed")
        def no_approval_needed() -> None:
            log.info("the batch is within the approval threshold")

        approve = ApprovalOperator(
            task_id="approve",
            subject="Submit invoices for financing?",
            body=("{{ ti.xcom_pull(task_ids='decide')['waiting'] }} invoice(s) totalling "
                  "{{ ti.xcom_pull(task_ids='decide')['totals'] }} wait to be sent to the financing "
                  "platform (approval needed above {{ ti.xcom_pull(task_ids='decide')['approval_above'] }})."),
            response_timeout=dt.timedelta(hours=24),
            assigned_users=approvers(),
        )

        @task(task_id="send", trigger_rule="none_failed_min_one_success")
        def send_task() -> dict[str, Any]:
            context = get_current_context()
            approval = context["ti"].xcom_pull(task_ids="approve")
            preparer = getattr(context["dag_run"], "triggering_user_name", None)
            approver = record_approval(approval, context["run_id"], preparer)
            result = send(worker=f"airflow:{context['run_id']}")
            return {**result, "approved_by": approver}

        @task(task_id="publish", outlets=[ASSET])
        def publish(result: Any, *, outlet_events: Any = None) -> dict[str, Any]:  # result: send's XCom
            if outlet_events is not None:
                outlet_events[ASSET].extra = {k: v for k, v in result.items() if isinstance(v, int | str)}
            return result

        summary = decide_task()
        gate = route(summary)
        skip = no_approval_needed()
        sent = send_task()
        gate >> [approve, skip]
        [approve, skip] >> sent
        publish(sent)

    return financing_push()


def build_status_dag() -> DAG:
    schedule = AssetOrTimeSchedule(timetable=CronTriggerTimetable("*/15 * * * *", timezone="UTC"), assets=[ASSET])

    @dag(dag_id="financing_status", doc_md=STATUS_DOC, schedule=schedule, start_date=START_DATE, catchup=False,
         max_active_runs=1, tags=TAGS, default_args=DEFAULT_ARGS,
         description="Sync financing statuses and reconcile with the platform")
    def financing_status() -> None:
        @task(task_id="sync")
        def sync_task() -> dict[str, Any]:
            return sync()

        @task(task_id="report")
        def report_task(summary: Any, *, run_id: str | None = None) -> dict[str, Any]:  # summary: sync's XCom
            return {**report(str(run_id)), "sync": {k: summary[k] for k in ("changes", "inserted", "updated", "unknown")}}

        @task(task_id="book_ledger")
        def book_ledger_task() -> dict[str, Any]:
            return book_ledger()

        synced = sync_task()
        report_task(synced)
        synced >> book_ledger_task()

    return financing_status()
