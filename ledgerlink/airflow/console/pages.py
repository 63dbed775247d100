"""The finance-ops console's pages: feeds, quarantine, financing, cash application, audit log.

Server-rendered HTML under /ledgerlink in Airflow's API server. Reading needs the capability the
page shows (see ``access``); every change is a POST with a CSRF token, done as the signed-in user
and audited with their name. The queries are the store's (``store.console``); the changes reuse the
domain functions the CLI uses.
"""

from __future__ import annotations

import datetime as dt
import html
import importlib
import json
import logging
import re
import threading
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse

from ledgerlink.airflow.console import approvals
from ledgerlink.airflow.console.access import (
    Admin,
    Approve,
    Capability,
    ConsoleUser,
    Details,
    Health,
    Operate,
)
from ledgerlink.airflow.console.web import (
    BadRequest,
    choice,
    day,
    e,
    form,
    link,
    page,
    personal,
    posted,
    table,
)
from ledgerlink.redact import mask_personal

log = logging.getLogger("ledgerlink.console")
router = APIRouter()

QUARANTINE_STATUS_CHOICES = ("open", "replayed", "discarded", "all")
MATCH_STATUS_CHOICES = ("open", "applying", "applied", "rejected")
FINANCING_PREFIX = "financing."
MAX_REASON = 500


@lru_cache(maxsize=4)
def _store_at(url: str) -> Any:
    from ledgerlink.store import Store

    return Store(url)


def store() -> Any:
    """The store of the environment, opened (and migrated) once per process."""
    from ledgerlink.config import store_url

    return _store_at(store_url())


# What the pages import on first use. They are imported lazily because every Airflow process loads
# the plugin, not only the API server; warm_up() imports them when the API server starts.
PAGE_MODULES = ("ledgerlink.store.console", "ledgerlink.financing.decide", "ledgerlink.financing.status",
                "ledgerlink.airflow.financing", "ledgerlink.pipeline.replay", "ledgerlink.cashapp.flow",
                "airflow.models.hitl", "airflow.models.taskinstance", "airflow.models.dag",
                "airflow.api_fastapi.core_api.datamodels.hitl", "airflow.api_fastapi.core_api.routes.public.hitl")


def warm_up() -> threading.Thread:
    """Import what the pages use, open (and migrate) the store and read feeds.yaml, so that the
    first request to each page is as fast as the next ones. The audit chain is verified up to now
    beside that, in a thread returned to the caller: the first check of a long log takes seconds
    (later ones read only what was appended), and it must not hold the API server's start up."""
    for name in PAGE_MODULES:
        importlib.import_module(name)
    store()
    _configured_feeds()
    checker = threading.Thread(target=_check_audit_chain, name="ledgerlink-console-audit-check", daemon=True)
    checker.start()
    return checker


def _check_audit_chain() -> None:
    try:
        chain = store().console.verify_audit_chain_incrementally()
    except Exception:
        log.warning("console: the audit chain could not be checked at start", exc_info=True)
        return
    if not chain.ok:  # the audit page shows it too; the log makes it visible before anyone looks
        log.error("console: audit chain BROKEN at entry %s: %s", chain.first_bad_id, chain.reason)


def _json(value: Any, user: ConsoleUser, names: tuple[str, ...] = ()) -> str:
    """Structured details as JSON text; for users without personal-data access, personal fields are
    masked and so are the words of ``names`` (a payer's name quoted in the matcher's evidence)."""
    if user.sees_personal_data:
        return _plain(json.dumps(value, ensure_ascii=False, sort_keys=True, default=str))
    if isinstance(value, dict):
        value = mask_personal(value)
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    words = {w for name in names if name for w in re.findall(r"\w{3,}", name)}
    if words:
        text = re.sub("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)),
                      lambda m: m.group(0)[0] + "***", text, flags=re.IGNORECASE)
    return e(text)


def _plain(text: str) -> str:
    return html.escape(text)


def _since(stamp: str | None, now: dt.datetime) -> str:
    if not stamp:
        return "-"
    seconds = int((now - dt.datetime.fromisoformat(stamp)).total_seconds())
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60}m"
    return f"{seconds // 86400}d {seconds % 86400 // 3600}h"


def _totals(run: dict[str, Any] | None, key: str) -> str:
    from ledgerlink.store.console import amounts_text

    part = ((run or {}).get("totals") or {}).get(key) or {}
    if not part:
        return "-"
    amounts = amounts_text(part.get("amounts"))
    return e(f"{part.get('count', '')}" + (f" ({amounts})" if amounts else ""))


def _reason(data: dict[str, str]) -> str:
    reason = (data.get("reason") or "").strip()
    if not reason:
        raise BadRequest("reason: give a reason (it goes into the audit log)")
    return reason[:MAX_REASON]


# -- feeds ----------------------------------------------------------------------------------------------

def _configured_feeds() -> tuple[dict[str, Any], str]:
    from ledgerlink.config import feeds_file
    from ledgerlink.redact import error_text

    try:
        path = feeds_file()
        return _feeds_at(str(path), path.stat().st_mtime_ns), ""
    except Exception as exc:  # a broken feeds.yaml must not take the health page down
        return {}, f"feeds.yaml could not be read: {error_text(exc, 300)}"


@lru_cache(maxsize=2)
def _feeds_at(path: str, mtime_ns: int) -> dict[str, Any]:
    """The feeds file read once per version of it (checking it takes longer than the page's queries)."""
    from pathlib import Path

    from ledgerlink.pipeline.feeds import load_feeds

    return {f.name: f for f in load_feeds(Path(path))}


def _next_runs(dag_ids: list[str]) -> dict[str, str]:
    try:
        return approvals.next_runs(dag_ids)
    except Exception:  # Airflow's metadata database is unreachable: the page still shows the store's view
        log.warning("console: next runs unavailable", exc_info=True)
        return {}


def feeds_body(now: dt.datetime) -> str:
    configured, problem = _configured_feeds()
    health = {h["feed"]: h for h in store().console.feed_health()}
    names = sorted(set(configured) | set(health))
    nexts = _next_runs([f"ledgerlink_{n}" for n in names])
    rows, classes = [], []
    for name in names:
        h = health.get(name) or {}
        last, success = h.get("last_run"), h.get("last_success")
        feed = configured.get(name)
        rows.append([
            e(name), e(feed.schedule if feed is not None and feed.schedule else "-"),
            e(f"{last['status']} {last['started_at'][:19]}") if last else "never",
            _totals(last, "read"), _totals(last, "loaded"), _totals(last, "quarantined"),
            e(_since((success or {}).get("finished_at"), now)), e(nexts.get(f"ledgerlink_{name}", "unknown")),
            e(h.get("failures_since_success", 0)),
            link("quarantine", {"feed": name}, str(h.get("open_quarantine", 0))),
            e(((last or {}).get("error") or "")[:200]),
        ])
        classes.append((last or {}).get("status", ""))
    note = f"<p class='failed'>{e(problem)}</p>" if problem else ""
    return (note + "<p class='note'>Lag: time since the last successful run finished. Failures: failed runs since "
            "then. Amounts are the control totals of the last run, per currency.</p>"
            + table(["feed", "schedule", "last run (UTC)", "rows in", "loaded", "quarantined", "lag", "next run (UTC)",
                     "failures", "open quarantine", "last error"], rows, classes))


@router.get("/", response_class=HTMLResponse)
async def feeds(request: Request, user: Health) -> HTMLResponse:
    body = await run_in_threadpool(feeds_body, dt.datetime.now(dt.UTC))
    return page("Feeds", body, user, request)


@router.get("/api/runs")
def api_runs(user: Health, limit: int = 50) -> list[dict[str, Any]]:
    if not 1 <= limit <= 1000:
        raise BadRequest(f"limit: {limit} is not between 1 and 1000")
    out = []
    for run in store().list_runs(limit=limit):
        totals = run.get("totals") or {}
        out.append({"id": run["id"], "feed": run["feed"], "status": run["status"],
                    "started_at": str(run.get("started_at", ""))[:19],
                    "source": (run.get("source") or {}).get("name", ""),
                    **{k: totals.get(k, {}).get("count", "") for k in ("read", "loaded", "quarantined")},
                    "error": run.get("error") or ""})
    return out


# -- quarantine -----------------------------------------------------------------------------------------

@router.get("/quarantine", response_class=HTMLResponse)
def quarantine_list(request: Request, user: Details, feed: str | None = None, file: str | None = None,
                    rule: str | None = None, status: str | None = None, date_from: str | None = None,
                    date_to: str | None = None, page_no: int = 1, size: int = 50) -> HTMLResponse:
    from ledgerlink.store.console import QuarantineFilter

    status = choice("status", status, QUARANTINE_STATUS_CHOICES, "open")
    where = QuarantineFilter(feed=feed or None, source_name=file or None, rule=rule or None,
                             status=None if status == "all" else status,
                             created_from=day("date_from", date_from), created_to=day("date_to", date_to))
    if not 1 <= size <= 200:
        raise BadRequest(f"size: {size} is not between 1 and 200")
    if page_no < 1:
        raise BadRequest(f"page_no: {page_no} is not a page number (1, 2, ...)")
    result = store().console.quarantine_page(where, page=page_no, size=size)
    params = {"feed": feed, "file": file, "rule": rule, "status": status, "date_from": date_from,
              "date_to": date_to, "size": size}
    rows = []
    for q in result.rows:
        errors = q["errors"] or [{}]
        first = errors[0]
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        rows.append([link(f"quarantine/{q['id']}", {}, str(q["id"])), e(q["created_at"][:19]), e(q["feed"]),
                     e(q.get("source_name") or "-"), e(q.get("row") or q.get("location") or "-"),
                     e(q["reason_code"]), e(f"{first.get('field')}: {first.get('message')}{more}"), e(q["status"])])
    options = "".join(f"<option{' selected' if s == status else ''}>{s}</option>" for s in QUARANTINE_STATUS_CHOICES)
    filters = (
        "<form method='get' action='quarantine'>"
        f"feed <input name='feed' value='{e(feed or '')}' size='16'> file <input name='file' value='{e(file or '')}'"
        f" size='16'> rule <input name='rule' value='{e(rule or '')}' size='14'> status <select name='status'>"
        f"{options}</select> from <input name='date_from' type='date' value='{e(date_from or '')}'> to "
        f"<input name='date_to' type='date' value='{e(date_to or '')}'> <button>Filter</button></form>")
    nav = [f"page {result.page} of {result.pages} ({result.total} rows)"]
    if result.page > 1:
        nav.insert(0, link("quarantine", {**params, "page_no": result.page - 1}, "« previous"))
    if result.page < result.pages:
        nav.append(link("quarantine", {**params, "page_no": result.page + 1}, "next »"))
    paging = "<p>" + " · ".join(n if n.startswith("<a") else e(n) for n in nav) + "</p>"
    body = (filters + paging + table(["id", "quarantined (UTC)", "feed", "file", "row", "rule", "first error",
                                      "status"], rows) + paging)
    return page("Quarantine", body, user, request)


@router.get("/quarantine/{qid}", response_class=HTMLResponse)
def quarantine_entry(request: Request, qid: int, user: Details) -> HTMLResponse:
    q = store().get_quarantine(qid)
    if q is None:
        raise BadRequest(f"no quarantine entry {qid}")
    lineage = [["feed", e(q["feed"])], ["entity", e(q["entity"])], ["mapping", e(q.get("mapping") or "-")],
               ["file", e(q.get("source_name") or "-")], ["file sha256", e(q.get("source_sha256") or "-")],
               ["row", e(q.get("row") or "-")], ["location", e(q.get("location") or "-")],
               ["run", link("../audit", {"subject": f"run:{q['run_id']}"}, q["run_id"])],
               ["quarantined at (UTC)", e(q["created_at"][:19])], ["status", e(q["status"])]]
    if q["status"] != "open":
        lineage += [["resolved by", e(q.get("resolved_by") or "-")], ["resolved at", e(q.get("resolved_at") or "-")],
                    ["resolution run", e(q.get("resolution_run_id") or "-")]]
    errors = [[e(x.get("field")), e(x.get("rule")), e(x.get("message")), e(x.get("mapping_line") or "-")]
              for x in q["errors"]]
    raw = q["raw"] if user.sees_personal_data else mask_personal(q["raw"])
    raw_rows = [[e(k), _plain(str(v)) if user.sees_personal_data else e(v)] for k, v in raw.items()]
    actions = ""
    if q["status"] == "open" and Capability.OPERATE in user.can:
        actions = ("<h2>Resolve</h2><p>" + form(f"{qid}/replay", request, "", "Replay with the current mapping")
                   + " " + form(f"{qid}/discard", request,
                                "<input name='reason' placeholder='reason (audited)' size='40' required> ", "Discard")
                   + "</p>")
    masked = "" if user.sees_personal_data else "<p class='note'>Names and account numbers are masked.</p>"
    body = ("<p><a href='../quarantine'>« quarantine</a></p><h2>Errors</h2>"
            + table(["field", "rule", "message", "mapping line"], errors) + "<h2>Raw row</h2>" + masked
            + table(["source field", "value"], raw_rows) + "<h2>Lineage</h2>" + table(["", ""], lineage) + actions)
    return page(f"Quarantine entry {qid}", body, user, request)


@router.post("/quarantine/{qid}/replay")
async def quarantine_replay(request: Request, qid: int, user: Operate) -> RedirectResponse:
    from ledgerlink.pipeline.replay import replay

    await posted(request)
    await run_in_threadpool(replay, store(), ids=[qid], actor=user.actor)
    return RedirectResponse(f"../{qid}", 303)


@router.post("/quarantine/{qid}/discard")
async def quarantine_discard(request: Request, qid: int, user: Operate) -> RedirectResponse:
    reason = _reason(await posted(request))
    await run_in_threadpool(lambda: store().resolve_quarantine([qid], "discarded", actor=user.actor, reason=reason))
    return RedirectResponse(f"../{qid}", 303)


# -- financing ------------------------------------------------------------------------------------------

@router.get("/financing", response_class=HTMLResponse)
def financing(request: Request, user: Details) -> HTMLResponse:
    from ledgerlink.financing.decide import SUBMIT_KIND
    from ledgerlink.financing.status import ENTITY
    from ledgerlink.store.console import amounts_text

    s = store()
    o = s.console.financing_overview(submit_kind=SUBMIT_KIND, request_entity=ENTITY, kind_prefix=FINANCING_PREFIX)
    try:
        waiting = approvals.waiting()
        approvals_note = ""
    except Exception:
        log.warning("console: pending approvals unavailable", exc_info=True)
        waiting, approvals_note = [], "<p class='failed'>Airflow's metadata database is unreachable.</p>"
    approve_rows = []
    for w in waiting:
        action = (form("financing/approve", request, f"<input type='hidden' name='run_id' value='{e(w['run_id'])}'>",
                       "Approve") if Capability.APPROVE in user.can else "needs an approver")
        approve_rows.append([e(w["run_id"]), e(w["since"]), e(w["body"] or w["subject"]), action])
    dead = s.console.dead_letters(kind_prefix=FINANCING_PREFIX, limit=100)
    dead_rows = []
    for d in dead:
        action = (form(f"financing/dead/{d['id']}/replay", request, "", "Replay")
                  if Capability.OPERATE in user.can else "")
        dead_rows.append([e(d["id"]), e(d["kind"]), e(d["idempotency_key"][:16]), e(d["attempts"]),
                          e((d.get("last_error") or "")[:200]), e(d["created_at"][:19]), action])
    body = (
        f"<h2>Eligible</h2><p>Decisions: {e(o['decisions'].get('eligible', 0))} eligible, "
        f"{e(o['decisions'].get('ineligible', 0))} ineligible. Waiting to be sent: <b>{e(o['waiting_count'])}</b> "
        f"({e(amounts_text(o['waiting_amounts']) or '-')}).</p>"
        "<h2>Awaiting approval</h2>" + approvals_note
        + (table(["run", "since (UTC)", "batch", ""], approve_rows) if approve_rows else "<p>No batch waits.</p>")
        + "<h2>In flight</h2>"
        + table(["outbox status", "entries"], [[e(k), e(v)] for k, v in sorted(o["outbox"].items())])
        + table(["platform status", "invoices"], [[e(k), e(v)] for k, v in o["requests_by_status"].items()])
        + "<h2>Dead letters</h2>"
        + (table(["id", "kind", "key", "attempts", "last error", "created (UTC)", ""], dead_rows)
           if dead_rows else "<p>None.</p>"))
    return page("Financing", body, user, request)


@router.post("/financing/approve")
async def financing_approve(request: Request, user: Approve) -> RedirectResponse:
    data = await posted(request)
    run_id = (data.get("run_id") or "").strip()
    if run_id not in {w["run_id"] for w in await run_in_threadpool(approvals.waiting)}:
        raise BadRequest(f"run_id: no financing batch awaits approval in run {run_id[:100]!r}")
    await run_in_threadpool(approvals.approve, run_id, user.airflow_user)
    await run_in_threadpool(lambda: store().audit("financing.approval_given", f"dag_run:{run_id}",
                                                  {"via": "console", "dag_id": approvals.DAG_ID}, actor=user.actor))
    return RedirectResponse("../financing", 303)


@router.post("/financing/dead/{entry_id}/replay")
async def financing_replay(request: Request, entry_id: int, user: Operate) -> RedirectResponse:
    await posted(request)
    entry = store().outbox.get(entry_id)
    if entry is None or not entry.kind.startswith(FINANCING_PREFIX):
        raise BadRequest(f"no financing outbox entry {entry_id}")
    await run_in_threadpool(lambda: store().outbox.replay([entry_id], actor=user.actor))
    return RedirectResponse("../../../financing", 303)


# -- cash application -----------------------------------------------------------------------------------

def _allocations_text(allocations: list[dict[str, Any]]) -> str:
    return ", ".join(f"{a.get('invoice_number')}={a.get('amount')}" for a in allocations)


def _parse_allocations(text: str) -> list[tuple[str, Decimal]]:
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        number, sep, amount = part.rpartition("=")
        try:
            value = Decimal(amount.strip())
        except InvalidOperation:
            sep = ""
        if not sep or not number.strip():
            raise BadRequest(f"allocations: {part[:60]!r} is not INVOICE=AMOUNT, e.g. INV-7=120.50")
        out.append((number.strip(), value))
    return out


@router.get("/cashapp", response_class=HTMLResponse)
def cashapp(request: Request, user: Details, status: str | None = None, page_no: int = 1,
            size: int = 50) -> HTMLResponse:
    status = choice("status", status, MATCH_STATUS_CHOICES, "open")
    if not 1 <= size <= 200:
        raise BadRequest(f"size: {size} is not between 1 and 200")
    if page_no < 1:
        raise BadRequest(f"page_no: {page_no} is not a page number (1, 2, ...)")
    result = store().console.worklist_page(status=status, page=page_no, size=size)
    operate = Capability.OPERATE in user.can and status == "open"
    rows = []
    for m in result.rows:
        cp = m["counterparty"]
        actions = ""
        if operate:
            if m["party_id"] and m["allocations"]:
                actions += form(f"cashapp/{m['id']}/apply", request, "", "Apply suggestion") + "<br>"
            actions += (form(f"cashapp/{m['id']}/resolve", request,
                             f"<input name='party_id' value='{e(m['party_id'] or '')}' placeholder='customer' size='8'>"
                             f"<input name='allocations' value='{e(_allocations_text(m['allocations']))}' "
                             "placeholder='INV-1=10.00, INV-2=5.00' size='24'>"
                             "<label><input type='checkbox' name='teach' value='1' checked>teach</label>"
                             "<input name='alias' placeholder='alias to learn' size='10'>", "Resolve")
                        + "<br>" + form(f"cashapp/{m['id']}/reject", request,
                                        "<input name='reason' placeholder='reason' size='16' required>", "Reject"))
        rows.append([e(m["id"]), e(m["value_date"] or "-"), e(f"{m['amount']} {m['currency']}"),
                     personal(cp.get("name"), user, name=True), personal(cp.get("iban"), user),
                     personal(cp.get("remittance_text"), user, name=not user.sees_personal_data),
                     e(f"{m['decision']} {m['confidence']}"), e(m["party_id"] or "-"),
                     e(_allocations_text(m["allocations"]) or "-"), _json(m["evidence"], user, (cp.get("name") or "",)), actions])
    options = "".join(f"<option{' selected' if s == status else ''}>{s}</option>" for s in MATCH_STATUS_CHOICES)
    nav = [e(f"page {result.page} of {result.pages} ({result.total} matches)")]
    if result.page > 1:
        nav.insert(0, link("cashapp", {"status": status, "size": size, "page_no": result.page - 1}, "« previous"))
    if result.page < result.pages:
        nav.append(link("cashapp", {"status": status, "size": size, "page_no": result.page + 1}, "next »"))
    body = (f"<form method='get' action='cashapp'>status <select name='status'>{options}</select> "
            "<button>Show</button></form><p>" + " · ".join(nav) + "</p>"
            + table(["id", "value date", "amount", "payer", "IBAN", "remittance", "decision", "customer",
                     "suggested allocations", "evidence", ""], rows))
    return page("Cash application", body, user, request)


@router.post("/cashapp/{match_id}/apply")
async def cashapp_apply(request: Request, match_id: int, user: Operate) -> RedirectResponse:
    from ledgerlink.cashapp.flow import resolve

    await posted(request)
    match = store().cashapp.get(match_id)
    if not match.party_id or not match.allocations:
        raise BadRequest(f"cash match {match_id} has no suggestion to apply; resolve it instead")
    allocations = [(a["invoice_number"], Decimal(str(a["amount"]))) for a in match.allocations]
    await run_in_threadpool(lambda: resolve(store(), match_id, party_id=match.party_id, allocations=allocations,
                                            teach=False, actor=user.actor, note="suggestion applied in the console"))
    return RedirectResponse("../../cashapp", 303)


@router.post("/cashapp/{match_id}/resolve")
async def cashapp_resolve(request: Request, match_id: int, user: Operate) -> RedirectResponse:
    from ledgerlink.cashapp.flow import resolve

    data = await posted(request)
    party = (data.get("party_id") or "").strip()
    if not party:
        raise BadRequest("party_id: name the customer the payment comes from")
    allocations = _parse_allocations(data.get("allocations") or "")
    await run_in_threadpool(lambda: resolve(
        store(), match_id, party_id=party, allocations=allocations, teach=data.get("teach") == "1",
        alias=(data.get("alias") or "").strip() or None, actor=user.actor, note=(data.get("note") or None)))
    return RedirectResponse("../../cashapp", 303)


@router.post("/cashapp/{match_id}/reject")
async def cashapp_reject(request: Request, match_id: int, user: Operate) -> RedirectResponse:
    reason = _reason(await posted(request))
    await run_in_threadpool(lambda: store().cashapp.reject(match_id, actor=user.actor, reason=reason))
    return RedirectResponse("../../cashapp", 303)


# -- audit log ------------------------------------------------------------------------------------------

@router.get("/audit", response_class=HTMLResponse)
def audit(request: Request, user: Details, subject: str | None = None, actor: str | None = None,
          action: str | None = None, date_from: str | None = None, date_to: str | None = None,
          before_id: int | None = None, size: int = 50) -> HTMLResponse:
    from ledgerlink.store.console import AuditFilter

    if not 1 <= size <= 200:
        raise BadRequest(f"size: {size} is not between 1 and 200")
    where = AuditFilter(subject=subject or None, actor=actor or None, action_prefix=action or None,
                        at_from=day("date_from", date_from), at_to=day("date_to", date_to), before_id=before_id)
    s = store()
    chain = s.console.verify_audit_chain_incrementally()
    entries = s.console.audit_search(where, size=size)
    state = (f"<b class='succeeded'>intact</b> ({chain.checked} entries verified)" if chain.ok
             else f"<b class='failed'>BROKEN at entry {chain.first_bad_id}</b>: {e(chain.reason)}")
    rows = [[e(x["id"]), e(x["at"][:19]), e(x["actor"]), e(x["action"]),
             link("audit", {"subject": x["subject"]}, x["subject"][:80]), _json(x["details"], user)[:2000]]
            for x in entries]
    params = {"subject": subject, "actor": actor, "action": action, "date_from": date_from, "date_to": date_to,
              "size": size}
    older = (link("audit", {**params, "before_id": entries[-1]["id"]}, "older »") if len(entries) == size else "")
    filters = (
        "<form method='get' action='audit'>"
        f"record <input name='subject' value='{e(subject or '')}' placeholder='run:… or bank_transaction:…' size='24'>"
        f" user <input name='actor' value='{e(actor or '')}' placeholder='airflow:name' size='14'> action "
        f"<input name='action' value='{e(action or '')}' placeholder='quarantine.' size='12'> from "
        f"<input name='date_from' type='date' value='{e(date_from or '')}'> to "
        f"<input name='date_to' type='date' value='{e(date_to or '')}'> <button>Search</button></form>")
    body = (f"<p>Chain: {state}</p>" + filters
            + table(["id", "at (UTC)", "user", "action", "record", "details"], rows) + f"<p>{older}</p>")
    return page("Audit log", body, user, request)


# -- settings -------------------------------------------------------------------------------------------

def _amount_setting(value: str) -> str:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        amount = Decimal(-1)
    if not amount.is_finite() or amount < 0:
        raise BadRequest(f"value: {value[:40]!r} is not an amount of 0 or more, such as 100000.00")
    return str(amount)


def _settings() -> dict[str, tuple[str, Any, str]]:
    """What an admin may change: key -> (what it does, how a value is checked, the value without a setting)."""
    import os

    from ledgerlink.airflow.financing import APPROVAL_ENV, APPROVAL_SETTING, DEFAULT_APPROVAL_ABOVE

    return {APPROVAL_SETTING: ("A financing batch above this amount (in any one currency) waits for an approver.",
                               _amount_setting, os.environ.get(APPROVAL_ENV) or DEFAULT_APPROVAL_ABOVE)}


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, user: Admin) -> HTMLResponse:
    stored = store().console.settings()
    rows = []
    for key, (what, _check, default) in _settings().items():
        current = stored.get(key)
        changed = f"{current['updated_by']} at {current['updated_at'][:19]}" if current else "not set: default"
        rows.append([e(key), e(what), e(current["value"] if current else default), e(changed),
                     form("settings", request, f"<input type='hidden' name='key' value='{e(key)}'>"
                                               "<input name='value' size='12' required> ", "Change")])
    body = ("<p class='note'>Every change is audited with the value before it.</p>"
            + table(["setting", "what it does", "value", "changed", ""], rows))
    return page("Settings", body, user, request)


@router.post("/settings")
async def settings_change(request: Request, user: Admin) -> RedirectResponse:
    data = await posted(request)
    key, value = (data.get("key") or "").strip(), (data.get("value") or "").strip()
    known = _settings()
    if key not in known:
        raise BadRequest(f"key: {key[:60]!r} is not a setting ({', '.join(known)})")
    checked = known[key][1](value)
    await run_in_threadpool(lambda: store().console.change_setting(key, checked, actor=user.actor))
    return RedirectResponse("settings", 303)
