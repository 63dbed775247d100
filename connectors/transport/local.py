"""Pull files from a local (or mounted) folder."""

from __future__ import annotations

import errno
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from ledgerlink.errors import ConfigError, TransportError

from .base import (
    BaseFileSource,
    FetchedFile,
    RemoteFile,
    copy_stream,
    unique_name,
    validate_selection,
)


@dataclass(frozen=True)
class LocalFolderConfig:
    """A folder to pull files from.

    ``processed_dir`` / ``failed_dir``: where ``mark_done`` moves a file; relative paths are resolved
    against ``path``. When unset, ``mark_done`` leaves the file where it is.
    """

    path: str | Path
    pattern: str = "*"
    done_suffix: str | None = None
    stable_seconds: float = 2.0
    processed_dir: str | Path | None = None
    failed_dir: str | Path | None = None

    def __post_init__(self) -> None:
        if not str(self.path):
            raise ConfigError("local folder source: path must not be empty")
        validate_selection(self.pattern, self.done_suffix, self.stable_seconds, f"local folder {self.path}")


class LocalFolderSource(BaseFileSource):
    same_clock = True

    def __init__(self, config: LocalFolderConfig) -> None:
        super().__init__()
        self.config = config
        self.folder = Path(config.path).expanduser()
        self.pattern = config.pattern
        self.done_suffix = config.done_suffix
        self.stable_seconds = config.stable_seconds

    def __repr__(self) -> str:
        return f"LocalFolderSource({str(self.folder)!r}, pattern={self.pattern!r})"

    def _scan(self) -> dict[str, RemoteFile]:
        try:
            entries = list(os.scandir(self.folder))
        except FileNotFoundError:
            raise TransportError(f"source folder {self.folder} does not exist") from None
        except NotADirectoryError:
            raise TransportError(f"source folder {self.folder} is not a folder") from None
        except PermissionError:
            raise TransportError(f"source folder {self.folder} is not readable (permission denied)") from None
        out: dict[str, RemoteFile] = {}
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:  # removed while listing
                continue
            if stat.S_ISREG(st.st_mode):
                out[entry.name] = RemoteFile(
                    path=str(Path(entry.path)), name=entry.name, size=st.st_size, mtime=st.st_mtime
                )
        return out

    def fetch(self, f: RemoteFile, dest_dir: Path) -> FetchedFile:
        src = Path(f.path)
        try:
            with open(src, "rb") as fh:
                local, size, sha = copy_stream(fh, Path(dest_dir), f.name)
        except FileNotFoundError:
            raise TransportError(f"{src} disappeared before it could be copied") from None
        except PermissionError:
            raise TransportError(f"{src} is not readable (permission denied)") from None
        if size != f.size:
            local.unlink(missing_ok=True)
            raise TransportError(
                f"{src} changed while it was copied (listed {f.size} bytes, read {size}); "
                "it will be picked up again on the next run"
            )
        return FetchedFile(path=local, name=f.name, size=size, sha256=sha, source_uri=src.absolute().as_uri())

    def _move_dir(self, ok: bool) -> Path | None:
        target = self.config.processed_dir if ok else self.config.failed_dir
        if target is None:
            return None
        target = Path(target).expanduser()
        return target if target.is_absolute() else self.folder / target

    def mark_done(self, f: RemoteFile, ok: bool) -> None:
        target_dir = self._move_dir(ok)
        if target_dir is None:
            return
        try:
            target_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TransportError(f"cannot create folder {target_dir}: {exc.strerror}") from None
        src = Path(f.path)
        _move_no_clobber(src, target_dir, f.name)
        if self.done_suffix:
            marker = src.with_name(f.name + self.done_suffix)
            if marker.exists():
                _move_no_clobber(marker, target_dir, marker.name)


def _move_no_clobber(src: Path, target_dir: Path, name: str) -> Path:
    """Move ``src`` into ``target_dir``; if the name is taken there, use a unique one."""
    while True:
        dest = target_dir / unique_name(name, lambda n: (target_dir / n).exists())
        try:
            os.link(src, dest)
        except FileExistsError:
            continue
        except FileNotFoundError:
            raise TransportError(f"{src} disappeared before it could be moved to {target_dir}") from None
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise TransportError(f"cannot move {src} to {target_dir}: {exc.strerror}") from None
            if dest.exists():
                continue
            shutil.move(str(src), str(dest))  # other device or no hard links
            return dest
        src.unlink()
        return dest
