"""File transports: pull complete files from a local folder or an SFTP drop."""

from __future__ import annotations

from .base import (
    AuthenticationError,
    FetchedFile,
    FileSource,
    HostKeyMismatchError,
    RemoteFile,
    UnknownHostKeyError,
    UnreachableError,
    is_in_progress_name,
)
from .local import LocalFolderConfig, LocalFolderSource
from .sftp import SFTPConfig, SFTPSource


def open_source(config: LocalFolderConfig | SFTPConfig) -> FileSource:
    """The source for a config (not connected yet: SFTP connects on first use)."""
    if isinstance(config, SFTPConfig):
        return SFTPSource(config)
    if isinstance(config, LocalFolderConfig):
        return LocalFolderSource(config)
    raise TypeError(f"not a file source config: {type(config).__name__}")


__all__ = [
    "AuthenticationError",
    "FetchedFile",
    "FileSource",
    "HostKeyMismatchError",
    "LocalFolderConfig",
    "LocalFolderSource",
    "RemoteFile",
    "SFTPConfig",
    "SFTPSource",
    "UnknownHostKeyError",
    "UnreachableError",
    "is_in_progress_name",
    "open_source",
]
