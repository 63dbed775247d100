"""Airflow connections -> connector configs. Host keys are always checked for SFTP."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from connectors.transport import FileSource, LocalFolderConfig, LocalFolderSource, SFTPConfig, SFTPSource
from ledgerlink.errors import ConfigError
from ledgerlink.pipeline.feeds import Feed

if TYPE_CHECKING:
    from connectors.erp.tryton import TrytonConfig

_SOURCE_KEYS = ("pattern", "done_suffix", "stable_seconds", "processed_dir", "failed_dir")


def sftp_config(conn_id: str, **overrides: object) -> SFTPConfig:
    from airflow.sdk import Connection

    try:
        conn = Connection.get(conn_id)
    except Exception as exc:  # Airflow raises its own not-found type
        raise ConfigError(f"Airflow connection {conn_id!r} is not defined ({type(exc).__name__}); "
                          f"create it in the UI or set AIRFLOW_CONN_{conn_id.upper()}") from None
    extra = dict(conn.extra_dejson or {})
    extra.update({k: v for k, v in overrides.items() if v is not None})
    return SFTPConfig.from_connection(host=conn.host, port=conn.port, login=conn.login,
                                      password=conn.password, extra=extra)


def file_source(feed: Feed) -> FileSource:
    """The file source a feed reads from, configured from feeds.yaml and its Airflow connection."""
    src = feed.source
    options = {k: src[k] for k in _SOURCE_KEYS if k in src}
    if src["connector"] == "folder":
        path = Path(feed.source_path())
        path.mkdir(parents=True, exist_ok=True)
        return LocalFolderSource(LocalFolderConfig(path=path, **options))
    if src["connector"] == "sftp":
        return SFTPSource(sftp_config(src["conn_id"], remote_dir=src.get("path"), **options))
    raise ConfigError(f"feed {feed.name}: unknown connector {src['connector']!r}")


def _connection_fields(conn_id: str) -> dict[str, Any]:
    """host, port, schema, login, password, extra of an Airflow connection. An ``AIRFLOW_CONN_<ID>``
    URI is read directly (the CLI runs outside Airflow's task runtime); otherwise Airflow is asked."""
    uri = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}", "").strip()
    if uri and not uri.startswith("{"):
        parts = urlsplit(uri)
        return {"host": parts.hostname, "port": parts.port, "schema": unquote(parts.path.lstrip("/")) or None,
                "login": unquote(parts.username) if parts.username else None,
                "password": unquote(parts.password) if parts.password else None,
                "extra": dict(parse_qsl(parts.query))}
    from airflow.sdk import Connection

    try:
        conn = Connection.get(conn_id)
    except Exception as exc:  # Airflow raises its own not-found type
        raise ConfigError(f"Airflow connection {conn_id!r} is not defined ({type(exc).__name__}); "
                          f"create it in the UI or set AIRFLOW_CONN_{conn_id.upper()}") from None
    return {"host": conn.host, "port": conn.port, "schema": conn.schema, "login": conn.login,
            "password": conn.password, "extra": dict(conn.extra_dejson or {})}


def tryton_config(conn_id: str) -> TrytonConfig:
    """A TrytonConfig from an Airflow connection: host, port, schema = database, login, password;
    extra: protocol, page_size, timeout, retries, overlap_seconds, vendor_category."""
    from connectors.erp.base import ErpError
    from connectors.erp.tryton import TrytonConfig

    fields = _connection_fields(conn_id)
    try:
        return TrytonConfig.from_connection(**fields)
    except ErpError as exc:
        raise ConfigError(f"Airflow connection {conn_id!r}: {exc}") from None
