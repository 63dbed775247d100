"""A real OpenSSH sshd serving SFTP on 127.0.0.1, for tests and the demo.

    python -m sandbox.sftp_server --root DIR [--port N]

runs it in the foreground and prints an Airflow connection URI (put it in AIRFLOW_CONN_<ID>).
Works as root and as an ordinary user: the server only lets the current user in, with a freshly
generated ed25519 key, and every session is SFTP-only, starting in ``root``.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlencode

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from connectors.transport.sftp import SFTPConfig

HOST = "127.0.0.1"
START_TIMEOUT = 10.0


class SftpServerError(RuntimeError):
    """sshd could not be started."""


def sshd_available() -> str | None:
    """Path of the sshd binary, or None."""
    for candidate in (shutil.which("sshd"), "/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd"):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return os.path.abspath(candidate)  # sshd insists on being started by absolute path
    return None


def generate_ed25519(comment: str = "") -> tuple[str, str]:
    """(private key in OpenSSH format, public key line ``ssh-ed25519 AAAA... comment``)."""
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    line = public.decode()
    return private, f"{line} {comment}".strip()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


class SftpServer:
    """OpenSSH sshd on loopback. Use as a context manager, or call start()/stop().

    ``username`` defaults to the current user; another user requires running as root.
    ``password_auth=True`` additionally allows password logins (system passwords; root only).
    """

    def __init__(
        self,
        root: Path,
        workdir: Path | None = None,
        port: int | None = None,
        *,
        username: str | None = None,
        password_auth: bool = False,
    ) -> None:
        self.host = HOST
        self.root = Path(root).absolute()
        self._own_workdir = workdir is None
        self.workdir = (
            Path(workdir).absolute() if workdir else Path(tempfile.mkdtemp(prefix="ledgerlink-sshd-"))
        )
        self._requested_port = port
        self.port = port or 0
        self.username = username or pwd.getpwuid(os.getuid()).pw_name
        self.password_auth = password_auth
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_path = self.workdir / "sshd.log"
        self.config_path = self.workdir / "sshd_config"
        self.host_key_path = self.workdir / "ssh_host_ed25519_key"
        self.client_key_path = self.workdir / "client_ed25519_key"
        self.authorized_keys_path = self.workdir / "authorized_keys"
        self.known_hosts_path = self.workdir / "known_hosts"
        self.client_key_text = ""
        self.host_key_line = ""

    # ------------------------------------------------------------------------------ life cycle
    def start(self) -> SftpServer:
        sshd = sshd_available()
        if sshd is None:
            raise SftpServerError("sshd not found: install OpenSSH server (apt install openssh-server)")
        if self._proc is not None:
            return self
        if any(ch.isspace() for ch in str(self.root)):
            raise SftpServerError(
                f"the SFTP root {self.root} must not contain spaces (sshd cannot start there)"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._make_keys()
        if os.geteuid() == 0:
            # privilege separation directory; must be root-owned and not group/world writable
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        attempts = 1 if self._requested_port else 5
        last_error: SftpServerError | None = None
        for _ in range(attempts):
            self.port = self._requested_port or free_port()
            self._write_config()
            try:
                self._spawn(sshd)
                self.known_hosts_path.write_text(f"[{self.host}]:{self.port} {self.host_key_line}\n")
                return self
            except SftpServerError as exc:
                last_error = exc
                if "Address already in use" not in str(exc):
                    break
        assert last_error is not None
        raise last_error

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> SftpServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_text(self) -> str:
        try:
            return self._log_path.read_text(errors="replace")
        except OSError:
            return ""

    # ------------------------------------------------------------------------------ internals
    def _make_keys(self) -> None:
        if not self.host_key_path.exists():
            private, public = generate_ed25519("ledgerlink-sandbox-host")
            _write_private(self.host_key_path, private)
            (self.workdir / "ssh_host_ed25519_key.pub").write_text(public + "\n")
        host_pub = (self.workdir / "ssh_host_ed25519_key.pub").read_text().split()
        self.host_key_line = f"{host_pub[0]} {host_pub[1]}"
        if not self.client_key_path.exists():
            private, public = generate_ed25519(f"{self.username}@ledgerlink-sandbox")
            _write_private(self.client_key_path, private)
            Path(str(self.client_key_path) + ".pub").write_text(public + "\n")
            self.authorized_keys_path.write_text(public + "\n")
        self.client_key_text = self.client_key_path.read_text()

    def _write_config(self) -> None:
        lines = [
            f"ListenAddress {self.host}",
            f"Port {self.port}",
            f"HostKey {self.host_key_path}",
            f"PidFile {self.workdir / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.authorized_keys_path}",
            f"AllowUsers {self.username}",
            "PubkeyAuthentication yes",
            f"PasswordAuthentication {'yes' if self.password_auth else 'no'}",
            "KbdInteractiveAuthentication no",
            "PermitEmptyPasswords no",
            "UsePAM no",
            "StrictModes no",
            "PermitRootLogin prohibit-password" if os.geteuid() == 0 else "",
            "AllowTcpForwarding no",
            "AllowAgentForwarding no",
            "X11Forwarding no",
            "PermitTTY no",
            "PrintMotd no",
            "LoginGraceTime 30",
            "LogLevel VERBOSE",
            "Subsystem sftp internal-sftp",
            # sshd splits this command on spaces without honouring quotes; '%' must be doubled
            f"ForceCommand internal-sftp -d {str(self.root).replace('%', '%%')}",
        ]
        self.config_path.write_text("\n".join(line for line in lines if line) + "\n")

    def _spawn(self, sshd: str) -> None:
        log = open(self._log_path, "wb")  # noqa: SIM115 - handed to the child process
        try:
            proc = subprocess.Popen(
                [sshd, "-D", "-e", "-f", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal is handled by us, not sent to sshd
            )
        finally:
            log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SftpServerError(
                    f"sshd exited with status {proc.returncode} while starting on {self.host}:{self.port}. "
                    f"Its output:\n{self.log_text().strip()}"
                )
            if self._banner_ok():
                self._proc = proc
                return
            time.sleep(0.05)
        proc.kill()
        proc.wait(timeout=5)
        raise SftpServerError(
            f"sshd did not answer on {self.host}:{self.port} within {START_TIMEOUT:g}s. "
            f"Its output:\n{self.log_text().strip()}"
        )

    def _banner_ok(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1.0) as s:
                return s.recv(64).startswith(b"SSH-")
        except OSError:
            return False

    # ---------------------------------------------------------------------------------- clients
    def connection_uri(self, remote_dir: str = "inbox", **extra: Any) -> str:
        """Airflow connection URI with the client key, pinned host key and remote_dir as extras."""
        params = {
            "private_key": self.client_key_text,
            "host_key": self.host_key_line,
            "remote_dir": remote_dir,
            **{k: str(v) for k, v in extra.items()},
        }
        return f"sftp://{quote(self.username, safe='')}@{self.host}:{self.port}?{urlencode(params, quote_via=quote)}"

    def sftp_config(self, **overrides: Any) -> SFTPConfig:
        """An SFTPConfig that logs in with the generated key and pins the server's host key."""
        values: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "private_key": self.client_key_text,
            "host_key": self.host_key_line,
            "remote_dir": "inbox",
        }
        values.update(overrides)
        return SFTPConfig(**values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.sftp_server",
        description="Run an OpenSSH SFTP server on 127.0.0.1 and print its Airflow connection URI.",
    )
    parser.add_argument("--root", required=True, type=Path, help="folder that SFTP sessions start in")
    parser.add_argument("--port", type=int, default=None, help="port to listen on (default: a free one)")
    parser.add_argument("--workdir", type=Path, default=None, help="folder for keys and sshd_config")
    parser.add_argument("--remote-dir", default="inbox", help="remote_dir extra in the URI (default: inbox)")
    args = parser.parse_args(argv)

    root = args.root.expanduser().absolute()
    (root / args.remote_dir).mkdir(parents=True, exist_ok=True)
    server = SftpServer(root, workdir=args.workdir, port=args.port)
    try:
        server.start()
    except SftpServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    stop = False

    def _stop(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(server.connection_uri(args.remote_dir), flush=True)
    print(
        f"SFTP server for {server.username} on {server.host}:{server.port}, root {root}, "
        f"client key {server.client_key_path}. Ctrl-C to stop.",
        file=sys.stderr,
        flush=True,
    )
    try:
        while not stop:
            if not server.running:
                print(f"error: sshd stopped unexpectedly:\n{server.log_text()}", file=sys.stderr)
                return 1
            time.sleep(0.5)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
