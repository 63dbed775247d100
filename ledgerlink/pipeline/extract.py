"""The extract step's connectors: what a feed reads from, configured from feeds.yaml and its connection.

    with file_source(feed) as source: ...     # folder or SFTP: complete files, downloaded with sha256
    source = record_source(feed)              # an ERP: records changed since a cursor

Connection settings come from ledgerlink.connections (Airflow's connections when running under
Airflow, else the environment or the secrets file), so these work the same in a task and the CLI.
"""

from __future__ import annotations

from pathlib import Path

from connectors.erp.base import ErpError, RecordSource
from connectors.erp.definitions import credentials_from_connection, definition_path, load_definition
from connectors.erp.rest import RestConnector
from connectors.erp.tryton import TrytonConfig, TrytonSource
from connectors.transport import FileSource, LocalFolderConfig, LocalFolderSource, SFTPConfig, SFTPSource
from ledgerlink.connections import get_connection
from ledgerlink.errors import ConfigError
from ledgerlink.pipeline.feeds import Feed

_SELECTION_KEYS = ("pattern", "done_suffix", "stable_seconds", "processed_dir", "failed_dir")


def sftp_config(conn_id: str, **overrides: object) -> SFTPConfig:
    """An SFTP configuration from a connection (host key always pinned), with feed options on top."""
    settings = get_connection(conn_id)
    extra = dict(settings.extra)
    extra.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return SFTPConfig.from_connection(host=settings.host, port=settings.port, login=settings.login,
                                          password=settings.password, extra=extra)
    except ConfigError as exc:
        raise ConfigError(f"connection {conn_id!r} ({settings.origin}): {exc}") from None


def file_source(feed: Feed) -> FileSource:
    """The file source a feed reads from."""
    src = feed.source
    options = {k: src[k] for k in _SELECTION_KEYS if k in src}
    if src["connector"] == "folder":
        path = Path(feed.source_path())
        path.mkdir(parents=True, exist_ok=True)
        return LocalFolderSource(LocalFolderConfig(path=path, **options))
    if src["connector"] == "sftp":
        return SFTPSource(sftp_config(src["conn_id"], remote_dir=src.get("path"), **options))
    raise ConfigError(f"feed {feed.name}: connector {src['connector']!r} does not read files")


def tryton_config(conn_id: str) -> TrytonConfig:
    """A Tryton client configuration from a connection: host, port, schema = database, login, password;
    extra: protocol, page_size, timeout, retries, overlap_seconds, vendor_category."""
    settings = get_connection(conn_id)
    try:
        return TrytonConfig.from_connection(**settings.fields())
    except ErpError as exc:
        raise ConfigError(f"connection {conn_id!r} ({settings.origin}): {exc}") from None


def rest_connector(conn_id: str, definition_name: str) -> RestConnector:
    """A REST/OData ERP connector: the shipped definition ``definition_name`` (connectors/erp/definitions/)
    with the connection's host, credentials and extras (see schemas/rest_connector.schema.json)."""
    definition = load_definition(definition_path(definition_name))
    settings = get_connection(conn_id)
    return RestConnector(definition, credentials_from_connection(definition, **settings.fields()))


def record_source(feed: Feed) -> RecordSource:
    """The ERP record source a feed reads."""
    connector = feed.source.get("connector")
    if connector == "tryton":
        return TrytonSource(tryton_config(feed.source["conn_id"]))
    if connector == "rest":
        return rest_connector(feed.source["conn_id"], feed.source["definition"])
    raise ConfigError(f"feed {feed.name}: connector {connector!r} is not an ERP record source")
