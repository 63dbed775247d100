"""ledgerlink pages in the Airflow UI: runs with control totals, the quarantine, the audit chain.

Served by Airflow's API server as a FastAPI app under /ledgerlink and linked from the nav bar.
Every page requires an authenticated Airflow user (the quarantine holds personal data);
IBANs and account numbers are masked on the pages. The one exception is the financing platform's
webhook, ``POST /ledgerlink/webhooks/scf``: the platform cannot sign in, so it is a separate app
mounted next to the pages, and its HMAC signature is checked instead (``webhook_secret`` in the
extra of the Airflow connection ``ledgerlink_scf``, or ``LEDGERLINK_SCF_WEBHOOK_SECRET``), before
the body is read, and the body is capped (``LEDGERLINK_SCF_WEBHOOK_MAX_BYTES``; see
:func:`ledgerlink.financing.webhooks.read_delivery`).

Neither app serves FastAPI's own /docs, /redoc or /openapi.json, and a bad query parameter is
answered 400 with what is wrong, never 500.
"""

from __future__ import annotations

import html
import json
import logging
import os
from collections import Counter
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from airflow.api_fastapi.core_api.security import requires_authenticated
from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse

from ledgerlink.redact import mask_accounts_in_text

if TYPE_CHECKING:
    from ledgerlink.financing.webhooks import WebhookResult

# No /docs, /redoc or /openapi.json: they would describe the pages to anyone who asks.
NO_DOCS: dict[str, Any] = {"docs_url": None, "redoc_url": None, "openapi_url": None}
MAX_LIMIT = 500  # the most rows a page or API call returns at once


async def _bad_request(request: Request, exc: Exception) -> JSONResponse:
    """A query parameter that does not validate: 400 naming the parameter and the rule, not 500."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    problems = ["{}: {}".format(".".join(str(p) for p in e.get("loc", ()) if p != "query"), e.get("msg"))
                for e in errors]
    return JSONResponse({"detail": "; ".join(problems) or "bad request"}, 400)


def _guarded(app: FastAPI) -> FastAPI:
    app.add_exception_handler(RequestValidationError, _bad_request)
    return app


app = _guarded(FastAPI(title="ledgerlink", dependencies=[Depends(requires_authenticated())], **NO_DOCS))

_STYLE = ("body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}table{border-collapse:collapse;"
          "margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;font-size:.9rem}"
          "th{background:#f3f3f3}.failed{color:#b00}.succeeded{color:#070}")


def _store():  # type: ignore[no-untyped-def]
    from ledgerlink.store import Store

    return Store()


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) and value[:1] in "[{" else value


def _e(value: Any) -> str:
    return html.escape(mask_accounts_in_text(str(value if value is not None else "")))


def _table(headers: list[str], rows: list[list[Any]], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        f"<tr class='{(classes or [''] * len(rows))[i]}'>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>"
        for i, row in enumerate(rows)
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def runs_rows(limit: int = 50) -> list[dict[str, Any]]:
    out = []
    for run in _store().list_runs(limit=limit):
        totals = _loads(run.get("totals")) or {}
        out.append({"id": run["id"], "feed": run["feed"], "status": run["status"],
                    "started_at": str(run.get("started_at", ""))[:19],
                    "source": (_loads(run.get("source")) or {}).get("name", ""),
                    **{k: totals.get(k, {}).get("count", "") for k in ("read", "loaded", "quarantined")},
                    "error": run.get("error") or ""})
    return out


@app.get("/", response_class=HTMLResponse)
def overview() -> str:
    store = _store()
    runs = runs_rows()
    open_q = store.list_quarantine(status="open", limit=100_000)
    by_reason = Counter((q["feed"], q["reason_code"]) for q in open_q)
    chain = store.verify_audit_chain()
    parts = [
        f"<html><head><title>ledgerlink</title><style>{_STYLE}</style></head><body><h1>ledgerlink</h1>",
        f"<p>Audit chain: <b>{'intact' if chain.ok else 'BROKEN at entry ' + str(chain.first_bad_id)}</b> "
        f"({chain.checked} entries). Open quarantine: <b>{len(open_q)}</b> rows. "
        "<a href='quarantine'>Quarantine</a> · <a href='api/runs'>runs as JSON</a></p>",
        "<h2>Open quarantine by reason</h2>",
        _table(["feed", "reason", "rows"], [[f, r, n] for (f, r), n in by_reason.most_common()]),
        "<h2>Recent runs</h2>",
        _table(["run", "feed", "status", "started (UTC)", "file", "read", "loaded", "quarantined", "error"],
               [[r["id"][:8], r["feed"], r["status"], r["started_at"], r["source"], r["read"], r["loaded"],
                 r["quarantined"], r["error"][:200]] for r in runs], [r["status"] for r in runs]),
        "</body></html>",
    ]
    return "".join(parts)


@app.get("/quarantine", response_class=HTMLResponse)
def quarantine(feed: str | None = None, status: str = "open",
               limit: int = Query(200, ge=1, le=MAX_LIMIT)) -> str:
    entries = _store().list_quarantine(feed=feed, status=None if status == "all" else status, limit=limit)
    rows = []
    for q in entries:
        for err in _loads(q["errors"]):
            rows.append([q["id"], q["feed"], q.get("source_name"), q.get("row") or q.get("location"), err["field"],
                         err["rule"], err["message"], err.get("mapping_line"), q["status"]])
    return (f"<html><head><title>ledgerlink quarantine</title><style>{_STYLE}</style></head><body>"
            f"<h1>Quarantine ({_e(status)})</h1><p><a href='./'>back</a> · replay after a mapping fix with "
            "<code>ledgerlink quarantine replay --feed FEED</code></p>"
            + _table(["id", "feed", "file", "row", "field", "rule", "message", "mapping line", "status"], rows)
            + "</body></html>")


@app.get("/api/runs")
def api_runs(limit: int = Query(50, ge=1, le=MAX_LIMIT)) -> list[dict[str, Any]]:
    return runs_rows(limit)


# ------------------------------------------------------------------------------------ webhooks
WEBHOOK_CONN_ID = "ledgerlink_scf"
WEBHOOK_ENV = "LEDGERLINK_SCF_WEBHOOK_SECRET"

log = logging.getLogger("ledgerlink.financing")
webhooks = _guarded(FastAPI(title="ledgerlink webhooks", **NO_DOCS))


def webhook_secret() -> str | None:
    """The environment variable when set, else the connection's extra ``webhook_secret``."""
    secret = os.environ.get(WEBHOOK_ENV, "").strip()
    if secret:
        return secret
    from ledgerlink.connections import find_connection

    try:
        conn = find_connection(WEBHOOK_CONN_ID)
    except Exception:  # the metadata database is unreachable: refuse below
        log.exception("financing webhook: cannot read connection %s", WEBHOOK_CONN_ID)
        return None
    return str((conn.extra if conn else {}).get("webhook_secret") or "").strip() or None


@lru_cache(maxsize=4)
def _webhook_store(url: str):  # type: ignore[no-untyped-def]
    from ledgerlink.store import Store

    return Store(url)


def _answer(result: WebhookResult, *, read_whole: bool = True) -> JSONResponse:
    answer = JSONResponse(
        {"outcome": result.outcome, "reason": result.reason, "event_id": result.event_id, "stored": result.stored},
        result.http_status,
    )
    if not read_whole:
        # The rest of the body is never read: close the connection instead of draining it.
        answer.headers["Connection"] = "close"
    return answer


@webhooks.post("/scf")
async def scf_webhook(request: Request) -> JSONResponse:
    from ledgerlink.config import store_url
    from ledgerlink.errors import ConfigError
    from ledgerlink.financing.webhooks import WebhookResult, max_body_bytes, read_delivery, receive

    unconfigured = WebhookResult("refused", "webhook receiver not configured", 503)
    try:
        limit = max_body_bytes()
    except ConfigError as exc:
        log.error("financing webhook refused: %s", exc)
        return _answer(unconfigured, read_whole=False)
    secret = webhook_secret()
    if not secret:
        log.error("financing webhook refused: no secret (set %s or the extra webhook_secret of %s)",
                  WEBHOOK_ENV, WEBHOOK_CONN_ID)
        return _answer(unconfigured, read_whole=False)
    # Headers first, then the body as it streams in, capped: the signature covers the raw bytes exactly.
    body = await read_delivery(secret, request.headers, request.stream(), limit=limit)
    if isinstance(body, WebhookResult):
        return _answer(body, read_whole=False)
    store = _webhook_store(store_url())
    result = await run_in_threadpool(receive, store, secret, dict(request.headers), body)
    return _answer(result)


# Mounted, not included: the pages' authentication dependency does not apply to the webhook.
app.mount("/webhooks", webhooks)


class LedgerlinkPlugin(AirflowPlugin):
    name = "ledgerlink"
    fastapi_apps = [{"app": app, "url_prefix": "/ledgerlink", "name": "ledgerlink"}]
    external_views = [{"name": "ledgerlink", "href": "ledgerlink/", "destination": "nav",
                       "url_route": "ledgerlink", "category": "browse"}]
