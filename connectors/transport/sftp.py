"""Pull files from an SFTP drop (paramiko).

The server's host key is always verified: pin it with ``host_key`` (one line of
``ssh-keyscan -p PORT HOST`` output, or the bare base64 key) or point ``known_hosts_file`` at a
known_hosts file. There is deliberately no way to switch verification off.

Secrets (password, private key, passphrase) never appear in ``repr()`` or in error messages.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import logging
import posixpath
import socket
import stat
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import quote

import paramiko
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from ledgerlink.errors import ConfigError, TransportError

from .base import (
    AuthenticationError,
    BaseFileSource,
    FetchedFile,
    HostKeyMismatchError,
    RemoteFile,
    UnknownHostKeyError,
    UnreachableError,
    copy_stream,
    resolve_move_dir,
    unique_name,
    validate_selection,
)

log = logging.getLogger(__name__)

SECRET_FIELDS = frozenset({"password", "private_key", "private_key_passphrase"})
READ_REQUEST = 32768  # paramiko's SFTP read size
READ_WINDOW = 64 * READ_REQUEST  # bytes in flight per window: bounds memory use during a download


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    return str(value).strip().lower() in {"1", "true", "yes", "on", "y", "t"}


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def keyscan_hint(host: str, port: int) -> str:
    return (
        f"Pin the server's key: run `ssh-keyscan -p {port} {host}`, confirm its fingerprint with the "
        "server's administrator (`ssh-keygen -lf <file with that output>`), and put one of its lines "
        'in host_key (connection extra "host_key"), or set known_hosts_file (extra "known_hosts") '
        "to a known_hosts file that contains it"
    )


# ---------------------------------------------------------------------------------- host keys


def _ssh_string_prefix(blob: bytes) -> str | None:
    """The key type embedded at the start of an SSH public key blob, if it looks like one."""
    if len(blob) < 4:
        return None
    (n,) = struct.unpack(">I", blob[:4])
    if n == 0 or n > 64 or len(blob) < 4 + n:
        return None
    try:
        return blob[4 : 4 + n].decode("ascii")
    except UnicodeDecodeError:
        return None


def parse_host_keys(text: str) -> list[paramiko.PKey]:
    """Public keys from pinned text.

    Each non-empty line may be ``TYPE BASE64 [comment]`` (``ssh-keyscan`` output without the host),
    a known_hosts line ``HOSTS TYPE BASE64 [comment]``, or a bare ``BASE64`` key. The host names of a
    known_hosts line are ignored: a pinned key applies to the configured connection.
    """
    keys: list[paramiko.PKey] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields_ = line.split()
        if fields_[0].startswith("@"):
            raise ConfigError(
                f"host_key line {lineno}: markers such as {fields_[0]} are not supported; "
                "give the server's own public key"
            )
        key = None
        for i, field in enumerate(fields_):
            try:
                blob = base64.b64decode(field, validate=True)
            except (binascii.Error, ValueError):
                continue
            key_type = _ssh_string_prefix(blob)
            if not key_type:
                continue
            if i > 0 and fields_[i - 1] != key_type and fields_[i - 1].startswith(("ssh-", "ecdsa-", "sk-")):
                raise ConfigError(
                    f"host_key line {lineno}: says {fields_[i - 1]} but the key data is {key_type}"
                )
            try:
                key = paramiko.PKey.from_type_string(key_type, blob)
            except Exception as exc:  # UnknownKeyType, SSHException for malformed data
                raise ConfigError(f"host_key line {lineno}: unsupported or malformed {key_type} key") from exc
            break
        if key is None:
            raise ConfigError(
                f"host_key line {lineno} is not an SSH public key; expected e.g. 'ssh-ed25519 AAAA...' "
                "as printed by ssh-keyscan"
            )
        keys.append(key)
    if not keys:
        raise ConfigError("host_key is empty; expected e.g. 'ssh-ed25519 AAAA...' as printed by ssh-keyscan")
    return keys


def fingerprint(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.fingerprint}"


# -------------------------------------------------------------------------------- private keys


def load_private_key(text: str, passphrase: str | None, where: str) -> paramiko.PKey:
    """A paramiko key from OpenSSH, PEM (PKCS#1/SEC1) or PKCS#8 text; never echoes the text."""
    data = text.strip().encode() + b"\n"
    pw = passphrase.encode() if passphrase else None
    loader = (
        serialization.load_ssh_private_key
        if b"BEGIN OPENSSH PRIVATE KEY" in data
        else serialization.load_pem_private_key
    )
    loaded: Any
    try:
        try:
            loaded = loader(data, pw)
        except TypeError:
            if pw is None:
                raise
            loaded = loader(data, None)  # a passphrase was given for an unencrypted key: fine
    except TypeError:
        raise ConfigError(f"{where}: the private key is encrypted: set private_key_passphrase") from None
    except ValueError:
        problem = (
            "could not be decrypted: the passphrase is wrong or the key is damaged"
            if pw is not None
            else "is not a supported private key (OpenSSH or PEM; RSA, ECDSA or Ed25519)"
        )
        raise ConfigError(f"{where}: the private key {problem}") from None
    except UnsupportedAlgorithm:
        raise ConfigError(f"{where}: the private key uses an unsupported algorithm") from None
    if isinstance(loaded, rsa.RSAPrivateKey):
        cls: type[paramiko.PKey] = paramiko.RSAKey
    elif isinstance(loaded, ed25519.Ed25519PrivateKey):
        cls = paramiko.Ed25519Key
    elif isinstance(loaded, ec.EllipticCurvePrivateKey):
        cls = paramiko.ECDSAKey
    else:
        raise ConfigError(f"{where}: the private key type is not supported (use RSA, ECDSA or Ed25519)")
    plain = loaded.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    return cls.from_private_key(io.StringIO(plain))


# -------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class SFTPConfig:
    """Where and how to pull files over SFTP.

    ``remote_dir`` is relative to the login directory unless absolute. Relative ``processed_dir`` /
    ``failed_dir`` are resolved against ``remote_dir``; when unset, ``mark_done`` leaves files alone.
    """

    host: str
    port: int = 22
    username: str = ""
    password: str | None = None  # secret
    private_key: str | None = None  # PEM/OpenSSH text, secret
    private_key_file: str | None = None
    private_key_passphrase: str | None = None  # secret
    host_key: str | None = None  # pinned public key(s), one per line
    known_hosts_file: str | None = None
    remote_dir: str = "."
    pattern: str = "*"
    done_suffix: str | None = None
    stable_seconds: float = 2.0
    processed_dir: str | None = None
    failed_dir: str | None = None
    timeout: float = 15.0
    connect_attempts: int = 3  # transient connection failures are retried with backoff

    def __post_init__(self) -> None:
        where = f"SFTP {_hostport(self.host, self.port) if self.host else '(no host)'}"
        if not self.host or not str(self.host).strip():
            raise ConfigError("SFTP source: host must be set")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 < self.port < 65536:
            raise ConfigError(f"{where}: port must be a number between 1 and 65535, got {self.port!r}")
        if not self.username:
            raise ConfigError(f"{where}: username (connection login) must be set")
        if not (self.password or self.private_key or self.private_key_file):
            raise ConfigError(
                f"{where}: no credentials; set a password, private_key (key text) or private_key_file"
            )
        if self.private_key and self.private_key_file:
            raise ConfigError(f"{where}: set either private_key or private_key_file, not both")
        if not self.host_key and not self.known_hosts_file:
            raise ConfigError(
                f"{where}: no host key to verify the server with; ledgerlink always verifies host keys. "
                + keyscan_hint(self.host, self.port)
            )
        if self.host_key:
            parse_host_keys(self.host_key)  # fail early on a malformed pin
        if not self.remote_dir:
            raise ConfigError(f"{where}: remote_dir must not be empty (use '.' for the login folder)")
        if not isinstance(self.timeout, int | float) or self.timeout <= 0:
            raise ConfigError(f"{where}: timeout must be a positive number of seconds, got {self.timeout!r}")
        if not isinstance(self.connect_attempts, int) or self.connect_attempts < 1:
            raise ConfigError(f"{where}: connect_attempts must be at least 1, got {self.connect_attempts!r}")
        validate_selection(self.pattern, self.done_suffix, self.stable_seconds, where)

    def __repr__(self) -> str:
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in SECRET_FIELDS and value is not None:
                parts.append(f"{f.name}='***'")
            else:
                parts.append(f"{f.name}={value!r}")
        return f"SFTPConfig({', '.join(parts)})"

    __str__ = __repr__

    @property
    def address(self) -> str:
        return _hostport(self.host, self.port)

    @classmethod
    def from_connection(
        cls,
        *,
        host: str | None,
        port: int | str | None,
        login: str | None,
        password: str | None,
        extra: Mapping[str, Any] | None,
    ) -> SFTPConfig:
        """Build from the fields of an Airflow SFTP/SSH connection (without importing Airflow).

        Understood extras: ``private_key`` (key text), ``key_file``, ``private_key_passphrase``,
        ``host_key``, ``known_hosts`` (path of a known_hosts file), ``conn_timeout``/``timeout``, and
        ``remote_dir``, ``pattern``, ``done_suffix``, ``stable_seconds``, ``processed_dir``,
        ``failed_dir``, ``connect_attempts``. ``no_host_key_check`` / ``allow_host_key_change`` set to
        true are refused. Other extras are ignored.
        """
        extra = dict(extra or {})
        where = f"SFTP connection {host or '(no host)'}"
        for flag in ("no_host_key_check", "allow_host_key_change"):
            if _truthy(extra.get(flag)):
                raise ConfigError(
                    f"{where}: extra {flag}=true is not supported: ledgerlink always verifies host keys. "
                    "Remove it. " + keyscan_hint(host or "HOST", _int(port, 22, "port", where))
                )

        private_key = extra.get("private_key") or None
        if private_key and "\\n" in private_key and "\n" not in private_key:
            private_key = private_key.replace("\\n", "\n")  # key pasted with escaped newlines

        def opt_str(*names: str) -> str | None:
            for name in names:
                value = extra.get(name)
                if value not in (None, ""):
                    return str(value)
            return None

        kwargs: dict[str, Any] = {
            "host": (host or "").strip(),
            "port": _int(port, 22, "port", where),
            "username": login or "",
            "password": password or None,
            "private_key": private_key,
            "private_key_file": opt_str("key_file", "private_key_file"),
            "private_key_passphrase": opt_str("private_key_passphrase"),
            "host_key": opt_str("host_key"),
            "known_hosts_file": opt_str("known_hosts", "known_hosts_file"),
            "remote_dir": opt_str("remote_dir") or ".",
            "pattern": opt_str("pattern") or "*",
            "done_suffix": opt_str("done_suffix"),
            "processed_dir": opt_str("processed_dir"),
            "failed_dir": opt_str("failed_dir"),
        }
        if opt_str("stable_seconds") is not None:
            kwargs["stable_seconds"] = _float(extra["stable_seconds"], "stable_seconds", where)
        timeout = opt_str("conn_timeout", "timeout")
        if timeout is not None:
            kwargs["timeout"] = _float(timeout, "conn_timeout", where)
        if opt_str("connect_attempts") is not None:
            kwargs["connect_attempts"] = _int(extra["connect_attempts"], 3, "connect_attempts", where)
        return cls(**kwargs)


def _int(value: Any, default: int, name: str, where: str) -> int:
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {name} must be a whole number, got {value!r}") from None


def _float(value: Any, name: str, where: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {name} must be a number, got {value!r}") from None


# -------------------------------------------------------------------------------------- source


class _UnknownHostKey(paramiko.SSHException):
    def __init__(self, key: paramiko.PKey) -> None:
        super().__init__("host key not known")
        self.key = key


class _RejectUnknownHostKey(paramiko.RejectPolicy):
    """Paramiko's RejectPolicy, keeping the presented key so the error can show its fingerprint."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise _UnknownHostKey(key)


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, UnreachableError) and exc.retryable


class SFTPSource(BaseFileSource):
    """A :class:`FileSource` on an SFTP server. Connects on first use; reconnects if the link dropped."""

    def __init__(self, config: SFTPConfig) -> None:
        super().__init__()
        self.config = config
        self.pattern = config.pattern
        self.done_suffix = config.done_suffix
        self.stable_seconds = config.stable_seconds
        self.remote_dir = posixpath.normpath(config.remote_dir)
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None

    def __repr__(self) -> str:
        c = self.config
        return f"SFTPSource({c.username}@{c.address}, remote_dir={c.remote_dir!r}, pattern={c.pattern!r})"

    # connection ------------------------------------------------------------------------------
    def _pkey(self) -> paramiko.PKey | None:
        c = self.config
        where = f"SFTP {c.address}"
        if c.private_key:
            return load_private_key(c.private_key, c.private_key_passphrase, where)
        if c.private_key_file:
            path = Path(c.private_key_file).expanduser()
            try:
                text = path.read_text()
            except OSError as exc:
                raise ConfigError(f"{where}: cannot read private_key_file {path}: {exc.strerror}") from None
            return load_private_key(text, c.private_key_passphrase, f"{where} ({path})")
        return None

    def _host_keys_client(self) -> paramiko.SSHClient:
        c = self.config
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(_RejectUnknownHostKey())
        host_keys = client.get_host_keys()
        if c.known_hosts_file:
            path = Path(c.known_hosts_file).expanduser()
            if not path.is_file():
                raise ConfigError(f"SFTP {c.address}: known_hosts_file {path} does not exist")
            try:
                host_keys.load(str(path))
            except (OSError, paramiko.SSHException) as exc:
                raise ConfigError(f"SFTP {c.address}: cannot read known_hosts_file {path}: {exc}") from None
        if c.host_key:
            name = c.host if c.port == 22 else f"[{c.host}]:{c.port}"
            for key in parse_host_keys(c.host_key):
                host_keys.add(name, key.get_name(), key)
        return client

    def connect(self) -> None:
        """Open the SSH connection and SFTP session (called automatically on first use)."""
        if self._sftp is not None:
            transport = self._client.get_transport() if self._client else None
            if transport is not None and transport.is_active():
                return
            self.close()
        pkey = self._pkey()  # config problems are not retried
        retrying = Retrying(
            stop=stop_after_attempt(self.config.connect_attempts),
            wait=wait_exponential(multiplier=0.5, max=5),
            retry=retry_if_exception(_is_retryable),
            reraise=True,
            before_sleep=lambda rs: log.warning(
                "SFTP %s: %s; retrying (attempt %d of %d)",
                self.config.address,
                rs.outcome.exception() if rs.outcome else "",
                rs.attempt_number + 1,
                self.config.connect_attempts,
            ),
        )
        for attempt in retrying:
            with attempt:
                self._connect_once(pkey)

    def _connect_once(self, pkey: paramiko.PKey | None) -> None:
        c = self.config
        addr = c.address
        client = self._host_keys_client()
        try:
            client.connect(
                hostname=c.host,
                port=c.port,
                username=c.username,
                password=c.password,
                pkey=pkey,
                timeout=c.timeout,
                banner_timeout=c.timeout,
                auth_timeout=c.timeout,
                channel_timeout=c.timeout,
                allow_agent=False,
                look_for_keys=False,
            )
            sftp = client.open_sftp()
        except Exception as exc:
            client.close()
            translated = self._translate_connect_error(exc)
            if translated is exc:
                raise
            raise translated from _safe_cause(exc)
        self._client, self._sftp = client, sftp
        log.info("SFTP %s: connected as %s", addr, c.username)

    def _translate_connect_error(self, exc: BaseException) -> BaseException:
        c = self.config
        addr = c.address
        if isinstance(exc, _UnknownHostKey):
            source = "the pinned host_key" if c.host_key else f"known_hosts file {c.known_hosts_file}"
            return UnknownHostKeyError(
                f"SFTP {addr}: the server's host key ({fingerprint(exc.key)}) is not in {source}, so "
                "the connection was refused. " + keyscan_hint(c.host, c.port)
            )
        if isinstance(exc, paramiko.BadHostKeyException):
            expected, presented = fingerprint(exc.expected_key), fingerprint(exc.key)
            return HostKeyMismatchError(
                f"SFTP {addr}: HOST KEY MISMATCH - the server presented {presented} but "
                f"{expected} is pinned. This is a possible man-in-the-middle attack, or the server's "
                "key was changed. Connection refused. Confirm the new fingerprint with the server's "
                "administrator before updating host_key / known_hosts",
                expected_fingerprint=exc.expected_key.fingerprint,
                presented_fingerprint=exc.key.fingerprint,
            )
        if isinstance(exc, paramiko.BadAuthenticationType):
            return AuthenticationError(
                f"SFTP {addr}: user {c.username!r} cannot log in with the configured method; the server "
                f"only accepts: {', '.join(exc.allowed_types) or 'nothing'}. Configure one of those"
            )
        if isinstance(exc, paramiko.AuthenticationException):
            methods = " and ".join(
                m
                for m, on in (("private key", c.private_key or c.private_key_file), ("password", c.password))
                if on
            )
            return AuthenticationError(
                f"SFTP {addr}: authentication failed for user {c.username!r} with the configured "
                f"{methods}. Check the login and credentials, and that the public key is in the "
                "user's authorized_keys on the server"
            )
        if isinstance(exc, socket.gaierror):
            return UnreachableError(
                f"SFTP {addr}: host name {c.host!r} could not be resolved ({exc.strerror}). "
                "Check the connection host and DNS",
                retryable=exc.errno == socket.EAI_AGAIN,
            )
        if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
            return UnreachableError(
                f"SFTP {addr}: connection refused. Check host and port, that the SFTP server is running, "
                "and that no firewall blocks it"
            )
        if isinstance(exc, TimeoutError | socket.timeout):
            return UnreachableError(
                f"SFTP {addr}: no answer within {c.timeout:g}s (timeout). Check host, port and firewall"
            )
        if isinstance(exc, ConnectionError | OSError):
            return UnreachableError(
                f"SFTP {addr}: cannot connect ({exc.strerror or exc}). Check host, port and network"
            )
        if isinstance(exc, paramiko.SSHException | EOFError):
            return UnreachableError(
                f"SFTP {addr}: could not open an SSH/SFTP session ({exc}). Check that the port belongs to "
                "an SSH server with the SFTP subsystem enabled"
            )
        return exc

    @property
    def sftp(self) -> paramiko.SFTPClient:
        self.connect()
        assert self._sftp is not None
        return self._sftp

    def close(self) -> None:
        sftp, client = self._sftp, self._client
        self._sftp = self._client = None
        if sftp is not None:
            with contextlib.suppress(Exception):  # closing a dead session must not mask the real error
                sftp.close()
        if client is not None:
            client.close()

    # operations ------------------------------------------------------------------------------
    def _io_error(self, action: str, path: str, exc: BaseException) -> TransportError:
        addr = self.config.address
        if isinstance(exc, FileNotFoundError) or getattr(exc, "errno", None) == 2:
            return TransportError(f"SFTP {addr}: cannot {action} {path!r}: no such file or folder")
        if isinstance(exc, PermissionError) or getattr(exc, "errno", None) == 13:
            return TransportError(f"SFTP {addr}: cannot {action} {path!r}: permission denied")
        if isinstance(exc, OSError | EOFError | paramiko.SSHException):
            self.close()  # the session may be unusable; the next call reconnects
            return TransportError(f"SFTP {addr}: cannot {action} {path!r}: {exc or type(exc).__name__}")
        return TransportError(f"SFTP {addr}: cannot {action} {path!r}: {type(exc).__name__}")

    def _scan(self) -> dict[str, RemoteFile]:
        sftp = self.sftp
        try:
            attrs = sftp.listdir_attr(self.remote_dir)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise self._io_error("list folder", self.remote_dir, exc) from None
        out: dict[str, RemoteFile] = {}
        for a in attrs:
            if a.st_mode is None or not stat.S_ISREG(a.st_mode):
                continue
            out[a.filename] = RemoteFile(
                path=self._join(self.remote_dir, a.filename),
                name=a.filename,
                size=int(a.st_size or 0),
                mtime=float(a.st_mtime or 0),
            )
        return out

    @staticmethod
    def _join(folder: str, name: str) -> str:
        return posixpath.normpath(posixpath.join(folder, name))

    def source_uri(self, path: str) -> str:
        c = self.config
        host = f"[{c.host}]" if ":" in c.host else c.host
        sep = "" if path.startswith("/") else "/"
        return f"sftp://{quote(c.username, safe='')}@{host}:{c.port}{sep}{quote(path)}"

    def _chunks(self, fh: paramiko.SFTPFile, f: RemoteFile) -> Iterator[bytes]:
        """The file's bytes in windows of pipelined requests: fast, with bounded memory."""
        offset, total = 0, f.size
        while offset < total:
            end = min(offset + READ_WINDOW, total)
            requests = [(o, min(READ_REQUEST, end - o)) for o in range(offset, end, READ_REQUEST)]
            for (_, length), data in zip(requests, fh.readv(requests), strict=True):
                yield data
                if len(data) != length:
                    raise TransportError(
                        f"SFTP {self.config.address}: {f.path!r} shrank while it was downloaded; "
                        "it will be picked up again on the next run"
                    )
            offset = end
        now = fh.stat().st_size
        if now != total:
            raise TransportError(
                f"SFTP {self.config.address}: {f.path!r} changed while it was downloaded (listed "
                f"{total} bytes, now {now}); it will be picked up again on the next run"
            )

    def fetch(self, f: RemoteFile, dest_dir: Path) -> FetchedFile:
        sftp = self.sftp
        try:
            with sftp.open(f.path, "rb") as fh:
                local, size, sha = copy_stream(self._chunks(fh, f), Path(dest_dir), f.name)
        except TransportError:
            raise
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise self._io_error("download", f.path, exc) from None
        return FetchedFile(path=local, name=f.name, size=size, sha256=sha, source_uri=self.source_uri(f.path))

    def _exists(self, path: str) -> bool:
        try:
            self.sftp.stat(path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            if getattr(exc, "errno", None) == 2:
                return False
            raise self._io_error("check", path, exc) from None
        return True

    def _makedirs(self, path: str) -> None:
        sftp = self.sftp
        current = "/" if path.startswith("/") else ""
        for part in [p for p in path.split("/") if p]:
            current = posixpath.join(current, part) if current else part
            if part in (".", "..") or self._exists(current):
                continue
            try:
                sftp.mkdir(current)
            except OSError as exc:
                if not self._exists(current):
                    raise self._io_error("create folder", current, exc) from None

    def _move(self, src: str, target_dir: str, name: str) -> str:
        sftp = self.sftp
        for _ in range(1000):
            dest = self._join(
                target_dir, unique_name(name, lambda n: self._exists(self._join(target_dir, n)))
            )
            try:
                sftp.rename(src, dest)  # SFTPv3 rename refuses to replace an existing file
                return dest
            except OSError as exc:
                if self._exists(dest):
                    continue  # taken meanwhile: pick another name
                raise self._io_error(f"move to {target_dir!r}", src, exc) from None
        raise TransportError(f"SFTP {self.config.address}: no free name for {name!r} in {target_dir!r}")

    def mark_done(self, f: RemoteFile, ok: bool) -> None:
        target = self.config.processed_dir if ok else self.config.failed_dir
        if target is None:
            return
        target_dir = posixpath.normpath(resolve_move_dir(self.remote_dir, target, posixpath.join))
        self._makedirs(target_dir)
        self._move(f.path, target_dir, f.name)
        if self.done_suffix:
            marker = f.path + self.done_suffix
            if self._exists(marker):
                self._move(marker, target_dir, posixpath.basename(marker))
        log.info("SFTP %s: moved %s to %s", self.config.address, f.path, target_dir)


def _safe_cause(exc: BaseException) -> BaseException | None:
    """Keep the underlying exception for debugging unless it could carry key material."""
    return exc if isinstance(exc, OSError | paramiko.SSHException | EOFError) else None
