"""Airflow connections -> connector configs. Host keys are always checked for SFTP."""

from __future__ import annotations

from pathlib import Path

from connectors.transport import FileSource, LocalFolderConfig, LocalFolderSource, SFTPConfig, SFTPSource
from ledgerlink.errors import ConfigError
from ledgerlink.pipeline.feeds import Feed

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
