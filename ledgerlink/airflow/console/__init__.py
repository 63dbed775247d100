"""The finance-ops console: ledgerlink's pages in the Airflow UI (see ``pages`` and ``access``)."""

from __future__ import annotations

from airflow.api_fastapi.core_api.security import requires_authenticated
from fastapi import Depends, FastAPI

from ledgerlink.airflow.console.pages import router
from ledgerlink.airflow.console.web import install_handlers


def build_app() -> FastAPI:
    """The console's app: every route needs a signed-in Airflow user (and its own capability);
    no /docs, /redoc or /openapi.json."""
    app = FastAPI(title="ledgerlink", dependencies=[Depends(requires_authenticated())],
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(router)
    install_handlers(app)
    return app
