"""The finance-ops console: ledgerlink's pages in the Airflow UI (see ``pages`` and ``access``)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from airflow.api_fastapi.core_api.security import requires_authenticated
from fastapi import Depends, FastAPI
from fastapi.concurrency import run_in_threadpool

from ledgerlink.airflow.console.pages import router, warm_up
from ledgerlink.airflow.console.web import install_handlers

log = logging.getLogger("ledgerlink.console")


@asynccontextmanager
async def _warmed_up(app: FastAPI) -> AsyncIterator[None]:
    """At API-server start (Airflow enters the lifespan of the apps it mounts): warm the pages up.
    A failure is logged, not raised: the pages then pay for it on their first request instead."""
    started = time.perf_counter()
    try:
        app.state.audit_check = await run_in_threadpool(warm_up)
        log.info("console: warmed up in %.0f ms", (time.perf_counter() - started) * 1000)
    except Exception:
        log.warning("console: warm-up failed; the first requests will be slower", exc_info=True)
    yield


def build_app() -> FastAPI:
    """The console's app: every route needs a signed-in Airflow user (and its own capability);
    no /docs, /redoc or /openapi.json. Warmed up when the API server starts (see ``warm_up``)."""
    app = FastAPI(title="ledgerlink", dependencies=[Depends(requires_authenticated())],
                  docs_url=None, redoc_url=None, openapi_url=None, lifespan=_warmed_up)
    app.include_router(router)
    install_handlers(app)
    return app
