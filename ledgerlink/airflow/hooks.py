"""ledgerlink's connectors as Airflow hooks, each with its connection type (see ledgerlink.airflow.provider).

A hook owns a connection and hands out the connector configured from it; the connector does the I/O.
The settings are read through ledgerlink.connections, so a hook, a task and the CLI see the same
connection. ``test_connection`` backs the connection form's Test button (when Airflow enables it).
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.sdk import BaseHook

from ledgerlink.airflow.provider import ERPS, SCF, SFTP, TRYTON, erp_conn_type
from ledgerlink.redact import error_text


class LedgerlinkHook(BaseHook):
    conn_name_attr = "conn_id"
    default_conn_name: str

    def __init__(self, conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id or self.default_conn_name

    def probe(self) -> str:
        """Talk to the system once; returns what was seen (raises on failure)."""
        raise NotImplementedError

    def test_connection(self) -> tuple[bool, str]:
        try:
            return True, self.probe()
        except Exception as exc:  # the form shows the reason; ledgerlink's messages carry no secrets
            return False, error_text(exc, limit=500)


class SftpSourceHook(LedgerlinkHook):
    """An SFTP server files are picked up from (or dropped on), its host key always pinned."""

    _, conn_type, hook_name = SFTP
    default_conn_name = conn_type

    def get_conn(self, **options: Any) -> Any:
        from connectors.transport import SFTPSource
        from ledgerlink.pipeline.extract import sftp_config

        return SFTPSource(sftp_config(self.conn_id, **options))

    def probe(self) -> str:
        with self.get_conn() as source:
            ready = source.list_ready()
        return f"connected, host key verified; {len(ready)} complete file(s) waiting"


class TrytonHook(LedgerlinkHook):
    """A Tryton ERP over JSON-RPC: records to sync, and writebacks."""

    _, conn_type, hook_name = TRYTON
    default_conn_name = conn_type

    def get_conn(self) -> Any:
        from connectors.erp.tryton import TrytonClient
        from ledgerlink.pipeline.extract import tryton_config

        return TrytonClient(tryton_config(self.conn_id))

    def probe(self) -> str:
        with self.get_conn() as client:
            version = client.server_version()
            client.login()
        return f"logged in to Tryton {version}"


class ScfPlatformHook(LedgerlinkHook):
    """A supply-chain-finance platform's REST API: submissions, statuses, webhooks."""

    _, conn_type, hook_name = SCF
    default_conn_name = conn_type

    def get_conn(self) -> Any:
        from ledgerlink.financing.push import platform_client

        return platform_client(self.conn_id)

    def probe(self) -> str:
        client = self.get_conn()
        try:
            listing = client.list_statuses(limit=1)
            next(iter(listing), None)
        finally:
            client.close()
        return "the platform answered the status listing"


class RestErpHook(LedgerlinkHook):
    """A REST/OData ERP described by a definition in connectors/erp/definitions/."""

    definition: ClassVar[str]

    def get_conn(self) -> Any:
        from ledgerlink.pipeline.extract import rest_connector

        return rest_connector(self.conn_id, self.definition)

    def probe(self) -> str:
        with self.get_conn() as connector:
            entity = connector.entities[0]
            first = next(iter(connector.fetch(entity)), None)
        return f"read {entity}: {'a record' if first else 'no records'} on the first page"


def _erp_hook(class_name: str, definition: str, label: str) -> type[RestErpHook]:
    return type(class_name, (RestErpHook,), {
        "__doc__": f"{label}: a REST/OData ERP connection (definition {definition}).",
        "__module__": __name__,
        "definition": definition,
        "conn_type": erp_conn_type(definition),
        "hook_name": label,
        "default_conn_name": erp_conn_type(definition),
    })


# One class per shipped definition, as named in the provider info.
ERP_HOOKS: tuple[type[RestErpHook], ...] = tuple(_erp_hook(*erp) for erp in ERPS)
globals().update({hook.__name__: hook for hook in ERP_HOOKS})
HOOKS: tuple[type[LedgerlinkHook], ...] = (SftpSourceHook, TrytonHook, ScfPlatformHook, *ERP_HOOKS)
