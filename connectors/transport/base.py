"""File source interface: pull complete files from a folder or an SFTP drop.

A source lists the files that are *ready* (completely written), copies one at a time into a local
folder while computing its SHA-256, and afterwards moves the original to a processed or failed
folder when those are configured.

Completeness is decided per source:

* ``done_suffix`` (for example ``".done"``): ``invoice.csv`` is ready only once ``invoice.csv.done``
  exists. The marker itself is never returned.
* stable size (the default): a file is ready when its size and modification time are the same in
  two listings taken ``stable_seconds`` apart.

Names that look like work in progress are never returned: dotfiles and ``*.tmp``, ``*.part``,
``*.inprogress``. Only regular files are considered (no directories, no symbolic links).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Protocol, Self, runtime_checkable

from ledgerlink.errors import ConfigError, TransportError

IN_PROGRESS_SUFFIXES = (".tmp", ".part", ".inprogress")
CHUNK_SIZE = 256 * 1024


# --------------------------------------------------------------------------------------------- errors


class UnreachableError(TransportError):
    """The server could not be reached: connection refused, timed out, or the name did not resolve."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class AuthenticationError(TransportError):
    """The server refused our credentials (wrong password, key not authorised, wrong user)."""


class UnknownHostKeyError(TransportError):
    """The server's host key is not pinned and not in the known_hosts file."""


class HostKeyMismatchError(TransportError):
    """The server presented a different host key than the pinned one (possible man-in-the-middle)."""

    def __init__(self, message: str, *, expected_fingerprint: str, presented_fingerprint: str) -> None:
        super().__init__(message)
        self.expected_fingerprint = expected_fingerprint
        self.presented_fingerprint = presented_fingerprint


# ------------------------------------------------------------------------------------------ records


@dataclass(frozen=True)
class RemoteFile:
    """A file as listed on the source."""

    path: str  # full path on the source
    name: str  # base name
    size: int
    mtime: float


@dataclass(frozen=True)
class FetchedFile:
    """A local copy of a source file."""

    path: Path  # local copy (its name may differ from ``name`` if that name was already taken)
    name: str  # base name on the source
    size: int
    sha256: str  # hex digest, computed while copying
    source_uri: str  # where it came from, e.g. sftp://user@host:22/inbox/x.csv or file:///data/x.csv


@runtime_checkable
class FileSource(Protocol):
    def list_ready(self) -> list[RemoteFile]:
        """Complete files matching the pattern, sorted by name."""
        ...

    def fetch(self, f: RemoteFile, dest_dir: Path) -> FetchedFile:
        """Copy ``f`` into ``dest_dir`` (temporary name first, then renamed), hashing while streaming."""
        ...

    def mark_done(self, f: RemoteFile, ok: bool) -> None:
        """Move ``f`` to the processed (ok) or failed folder when configured, else do nothing."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


# ---------------------------------------------------------------------------------------- helpers


def is_in_progress_name(name: str) -> bool:
    """Names that are still being written by convention and must never be picked up."""
    return name.startswith(".") or name.lower().endswith(IN_PROGRESS_SUFFIXES)


def validate_selection(pattern: str, done_suffix: str | None, stable_seconds: float, where: str) -> None:
    if not pattern:
        raise ConfigError(f"{where}: pattern must not be empty (use '*' for every file)")
    if "/" in pattern:
        raise ConfigError(f"{where}: pattern {pattern!r} must match base names only, without '/'")
    if done_suffix is not None and (not done_suffix or "/" in done_suffix):
        raise ConfigError(f"{where}: done_suffix {done_suffix!r} must be a non-empty suffix such as '.done'")
    if isinstance(stable_seconds, bool) or not isinstance(stable_seconds, int | float) or stable_seconds < 0:
        raise ConfigError(f"{where}: stable_seconds must be a number >= 0, got {stable_seconds!r}")


def unique_name(name: str, taken: Callable[[str], bool]) -> str:
    """``name`` if free, else ``stem-1.ext``, ``stem-2.ext``, ..."""
    if not taken(name):
        return name
    stem, dot, ext = name.rpartition(".")
    if not stem:  # no dot, or a dotfile
        stem, dot, ext = name, "", ""
    for i in range(1, 100_000):
        candidate = f"{stem}-{i}{dot}{ext}"
        if not taken(candidate):
            return candidate
    raise TransportError(f"no free name for {name!r}: 100000 copies already exist")


def copy_stream(src: BinaryIO | Iterable[bytes], dest_dir: Path, name: str) -> tuple[Path, int, str]:
    """Write chunks to ``dest_dir/.name.part`` while hashing, then move to a free final name.

    ``src`` is a binary file object or an iterable of byte chunks. Returns (final path, size, sha256).
    An existing file in ``dest_dir`` is never overwritten: a unique name is chosen instead.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    part = dest_dir / f".{name}.part"
    digest = hashlib.sha256()
    size = 0
    chunks: Iterable[bytes]
    if hasattr(src, "read"):
        reader = src.read  # type: ignore[union-attr]
        chunks = iter(lambda: reader(CHUNK_SIZE), b"")
    else:
        chunks = src  # type: ignore[assignment]
    try:
        with open(part, "wb") as out:
            for chunk in chunks:
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        final = _publish(part, dest_dir, name)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return final, size, digest.hexdigest()


def _publish(part: Path, dest_dir: Path, name: str) -> Path:
    """Rename ``part`` to ``dest_dir/name`` (or a unique variant) without ever replacing a file."""
    while True:
        final = dest_dir / unique_name(name, lambda n: (dest_dir / n).exists())
        try:
            os.link(part, final)  # fails if ``final`` appeared meanwhile: never clobbers
        except FileExistsError:
            continue
        except OSError:
            # File systems without hard links: check-then-replace is the best we can do.
            if final.exists():
                continue
            os.replace(part, final)
            return final
        part.unlink()
        return final


def resolve_move_dir(base: str, target: str, join: Callable[[str, str], str]) -> str:
    """Relative processed/failed folders are resolved against the source folder."""
    return target if target.startswith("/") else join(base, target)


# ------------------------------------------------------------------------------------ base class


class BaseFileSource:
    """Shared listing logic. Subclasses implement ``_scan`` (all regular files in the folder)."""

    pattern: str = "*"
    done_suffix: str | None = None
    stable_seconds: float = 2.0
    # The listing's mtimes come from this machine's own clock (a local folder): a file unchanged for
    # longer than ``stable_seconds`` already is settled, with no wait to see it again.
    same_clock: bool = False

    def __init__(self) -> None:
        # Indirection so tests can change files "between the two listings" deterministically.
        self._sleep: Callable[[float], None] = time.sleep

    # subclasses -------------------------------------------------------------
    def _scan(self) -> dict[str, RemoteFile]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    # shared -----------------------------------------------------------------
    def _candidates(self, entries: dict[str, RemoteFile]) -> dict[str, RemoteFile]:
        out = {}
        for name, f in entries.items():
            if is_in_progress_name(name):
                continue
            if self.done_suffix and name.endswith(self.done_suffix):
                continue  # a marker, never a data file
            if not fnmatch.fnmatchcase(name, self.pattern):
                continue
            out[name] = f
        return out

    def list_ready(self) -> list[RemoteFile]:
        entries = self._scan()
        candidates = self._candidates(entries)
        if self.done_suffix:
            suffix = self.done_suffix
            ready = [f for name, f in candidates.items() if name + suffix in entries]
        elif not candidates or self.stable_seconds <= 0 or (self.same_clock and all(
                time.time() - f.mtime >= self.stable_seconds for f in candidates.values())):
            ready = list(candidates.values())
        else:
            self._sleep(self.stable_seconds)
            again = self._scan()
            ready = []
            for name, first in candidates.items():
                second = again.get(name)
                if second is not None and (second.size, second.mtime) == (first.size, first.mtime):
                    ready.append(second)
        return sorted(ready, key=lambda f: f.name)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
