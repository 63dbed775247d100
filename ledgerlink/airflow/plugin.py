"""ledgerlink pages in the Airflow UI: the finance-ops console (``ledgerlink.airflow.console``).

Served by Airflow's API server as a FastAPI app under /ledgerlink and linked from the nav bar.
Every page requires an authenticated Airflow user with the page's permission (the quarantine holds
personal data); names and IBANs are masked for roles that do not need them. The one exception is
the financing platform's webhook, ``POST /ledgerlink/webhooks/scf``: the platform cannot sign in, so it is a separate app
mounted next to the pages, and its HMAC signature is checked instead (``webhook_secret`` in the
extra of the Airflow connection ``ledgerlink_scf``, or ``LEDGERLINK_SCF_WEBHOOK_SECRET``).
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache

from airflow.plugins_manager import AirflowPlugin
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from ledgerlink.airflow.console import build_app

app = build_app()


# ------------------------------------------------------------------------------------ webhooks
WEBHOOK_CONN_ID = "ledgerlink_scf"
WEBHOOK_ENV = "LEDGERLINK_SCF_WEBHOOK_SECRET"

log = logging.getLogger("ledgerlink.financing")
webhooks = FastAPI(title="ledgerlink webhooks")


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


@webhooks.post("/scf")
async def scf_webhook(request: Request) -> JSONResponse:
    from ledgerlink.config import store_url
    from ledgerlink.financing.webhooks import receive

    body = await request.body()  # the raw bytes: the signature covers them exactly
    secret = webhook_secret()
    if not secret:
        log.error("financing webhook refused: no secret (set %s or the extra webhook_secret of %s)",
                  WEBHOOK_ENV, WEBHOOK_CONN_ID)
        return JSONResponse({"outcome": "refused", "reason": "webhook receiver not configured"}, 503)
    store = _webhook_store(store_url())
    result = await run_in_threadpool(receive, store, secret, dict(request.headers), body)
    return JSONResponse(
        {"outcome": result.outcome, "reason": result.reason, "event_id": result.event_id,
         "stored": result.stored},
        result.http_status,
    )


# Mounted, not included: the pages' authentication dependency does not apply to the webhook.
app.mount("/webhooks", webhooks)


class LedgerlinkPlugin(AirflowPlugin):
    name = "ledgerlink"
    fastapi_apps = [{"app": app, "url_prefix": "/ledgerlink", "name": "ledgerlink"}]
    external_views = [{"name": "ledgerlink", "href": "ledgerlink/", "destination": "nav",
                       "url_route": "ledgerlink", "category": "browse"}]
