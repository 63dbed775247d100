"""ledgerlink pages in the Airflow UI: the finance-ops console (``ledgerlink.airflow.console``).

Served by Airflow's API server as a FastAPI app under /ledgerlink and linked from the nav bar.
Every page requires an authenticated Airflow user with the page's permission (the quarantine holds
personal data); names and IBANs are masked for roles that do not need them. The one exception is
the financing platform's webhook, ``POST /ledgerlink/webhooks/scf``: the platform cannot sign in, so it is a separate app
mounted next to the pages, and its HMAC signature is checked instead (``webhook_secret`` in the
extra of the Airflow connection ``ledgerlink_scf``, or ``LEDGERLINK_SCF_WEBHOOK_SECRET``), before
the body is read, and the body is capped (``LEDGERLINK_SCF_WEBHOOK_MAX_BYTES``; see
:func:`ledgerlink.financing.webhooks.read_delivery`).

Neither app serves FastAPI's own /docs, /redoc or /openapi.json, and a bad query parameter is
answered 400 with what is wrong, never 500.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from airflow.plugins_manager import AirflowPlugin
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ledgerlink.airflow.console import build_app

if TYPE_CHECKING:
    from ledgerlink.financing.webhooks import WebhookResult

# No /docs, /redoc or /openapi.json: they would describe the pages to anyone who asks.
NO_DOCS: dict[str, Any] = {"docs_url": None, "redoc_url": None, "openapi_url": None}


async def _bad_request(request: Request, exc: Exception) -> JSONResponse:
    """A query parameter that does not validate: 400 naming the parameter and the rule, not 500."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    problems = ["{}: {}".format(".".join(str(p) for p in e.get("loc", ()) if p != "query"), e.get("msg"))
                for e in errors]
    return JSONResponse({"detail": "; ".join(problems) or "bad request"}, 400)


def _guarded(app: FastAPI) -> FastAPI:
    app.add_exception_handler(RequestValidationError, _bad_request)
    return app



app = build_app()


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
