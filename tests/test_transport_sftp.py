"""SFTPSource against a real OpenSSH sshd on loopback."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
import traceback
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization

from connectors.transport import (
    AuthenticationError,
    HostKeyMismatchError,
    SFTPConfig,
    SFTPSource,
    UnknownHostKeyError,
    UnreachableError,
)
from ledgerlink.errors import ConfigError, TransportError
from sandbox.sftp_server import SftpServer, free_port, generate_ed25519

pytestmark = [pytest.mark.sftp, pytest.mark.integration]


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def full_text(exc: BaseException) -> str:
    """Everything a log would show for this error, chained causes included."""
    return str(exc) + repr(exc) + "".join(traceback.format_exception(exc))


@pytest.fixture
def inbox(sftp_root: Path) -> Path:
    return sftp_root / "inbox"


@pytest.fixture
def source(sftp_server: SftpServer, sftp_root: Path) -> Iterator[SFTPSource]:
    with SFTPSource(sftp_server.sftp_config(stable_seconds=0.2)) as src:
        yield src


class CountConnects:
    """Counts paramiko connect attempts while still really connecting."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = paramiko.SSHClient.connect

        def counting(client: paramiko.SSHClient, *args: object, **kwargs: object) -> object:
            self.calls += 1
            return real(client, *args, **kwargs)

        monkeypatch.setattr(paramiko.SSHClient, "connect", counting)


# ------------------------------------------------------------------------------------ listing


def test_list_and_fetch_with_sha256(
    source: SFTPSource, sftp_server: SftpServer, inbox: Path, tmp_path: Path
) -> None:
    payloads = {
        "b.csv": b"id,amount\n2,20.00\n",
        "a.csv": b"id,amount\n1,10.00\n",
        "c.xml": b"<x/>",
        "big.csv": os.urandom(300_000),  # several read windows
    }
    for name, data in payloads.items():
        write(inbox / name, data)
    source.pattern = "*.csv"
    ready = source.list_ready()
    assert [f.name for f in ready] == ["a.csv", "b.csv", "big.csv"]
    assert ready[0].path == "inbox/a.csv"
    assert ready[2].size == 300_000

    dest = tmp_path / "downloads"
    for f in ready:
        got = source.fetch(f, dest)
        assert got.path == dest / f.name
        assert got.path.read_bytes() == payloads[f.name]
        assert got.sha256 == hashlib.sha256(payloads[f.name]).hexdigest()
        assert got.size == len(payloads[f.name])
        port = sftp_server.port
        assert got.source_uri == f"sftp://{sftp_server.username}@127.0.0.1:{port}/inbox/{f.name}"
    assert sorted(p.name for p in dest.iterdir()) == ["a.csv", "b.csv", "big.csv"]  # no .part files
    assert sorted(p.name for p in inbox.iterdir()) == sorted(payloads)  # fetch leaves the source alone


def test_fetch_never_overwrites_a_local_file(source: SFTPSource, inbox: Path, tmp_path: Path) -> None:
    write(inbox / "a.csv", "fresh")
    write(tmp_path / "a.csv", "already here")
    f = source.list_ready()[0]
    got = source.fetch(f, tmp_path)
    assert got.path == tmp_path / "a-1.csv"
    assert (tmp_path / "a.csv").read_text() == "already here"
    assert got.path.read_text() == "fresh"


def test_fetch_detects_a_file_changed_after_listing(source: SFTPSource, inbox: Path, tmp_path: Path) -> None:
    write(inbox / "a.csv", "id\n1\n")
    f = source.list_ready()[0]
    write(inbox / "a.csv", "id\n1\n2\n")
    with pytest.raises(TransportError, match="changed while it was downloaded"):
        source.fetch(f, tmp_path / "dl")
    assert list((tmp_path / "dl").iterdir()) == []  # the partial copy is removed


def test_done_marker_mode(sftp_server: SftpServer, inbox: Path) -> None:
    write(inbox / "a.csv", "1")
    write(inbox / "a.csv.done", "")
    write(inbox / "b.csv", "2")
    with SFTPSource(sftp_server.sftp_config(done_suffix=".done")) as src:
        assert [f.name for f in src.list_ready()] == ["a.csv"]
        write(inbox / "b.csv.done", "")
        assert [f.name for f in src.list_ready()] == ["a.csv", "b.csv"]


def test_growing_file_is_not_ready(source: SFTPSource, inbox: Path) -> None:
    path = write(inbox / "upload.csv", "id,amount\n")
    write(inbox / "steady.csv", "id,amount\n")
    stop, wrote = threading.Event(), threading.Event()

    def writer() -> None:
        with open(path, "a") as fh:
            while not stop.is_set():
                fh.write("1,1.00\n")
                fh.flush()
                wrote.set()
                time.sleep(0.01)

    def wait_and_see_a_write(seconds: float) -> None:
        # however busy the machine, the writer has written between the two listings
        wrote.clear()
        time.sleep(seconds)
        assert wrote.wait(60), "the writer did not write"

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        source._sleep = wait_and_see_a_write
        assert [f.name for f in source.list_ready()] == ["steady.csv"]
        source._sleep = time.sleep
    finally:
        stop.set()
        thread.join()
    assert [f.name for f in source.list_ready()] == ["steady.csv", "upload.csv"]


def test_size_change_between_listings(source: SFTPSource, inbox: Path) -> None:
    write(inbox / "a.csv", "1\n")

    def append(seconds: float) -> None:
        with open(inbox / "a.csv", "a") as fh:
            fh.write("2\n")

    source._sleep = append
    assert source.list_ready() == []
    source._sleep = time.sleep
    assert [f.size for f in source.list_ready()] == [4]


def test_in_progress_names_and_folders_ignored(source: SFTPSource, inbox: Path) -> None:
    for name in [".a.csv", "b.csv.tmp", "c.csv.part", "d.csv.inprogress", "ok.csv"]:
        write(inbox / name, "x")
    (inbox / "sub").mkdir()
    assert [f.name for f in source.list_ready()] == ["ok.csv"]


def test_missing_remote_dir(sftp_server: SftpServer, sftp_root: Path) -> None:
    with (
        SFTPSource(sftp_server.sftp_config(remote_dir="nope")) as src,
        pytest.raises(TransportError, match="'nope': no such file or folder"),
    ):
        src.list_ready()


# ----------------------------------------------------------------------------------- mark_done


def test_mark_done_moves_files(sftp_server: SftpServer, sftp_root: Path, inbox: Path) -> None:
    for name in ("good.csv", "bad.csv", "later.csv"):
        write(inbox / name, name)
        write(inbox / f"{name}.done", "")
    write(inbox / "processed" / "good.csv", "earlier")  # name already taken
    cfg = sftp_server.sftp_config(done_suffix=".done", processed_dir="processed", failed_dir="../failed/2024")
    with SFTPSource(cfg) as src:
        files = {f.name: f for f in src.list_ready()}
        src.mark_done(files["good.csv"], ok=True)
        src.mark_done(files["bad.csv"], ok=False)
        assert [f.name for f in src.list_ready()] == ["later.csv"]

    processed = inbox / "processed"
    assert (processed / "good.csv").read_text() == "earlier"  # never overwritten
    assert (processed / "good-1.csv").read_text() == "good.csv"
    assert (processed / "good.csv.done").exists()
    failed = sftp_root / "failed" / "2024"
    assert sorted(p.name for p in failed.iterdir()) == ["bad.csv", "bad.csv.done"]


def test_mark_done_without_folders_is_a_no_op(source: SFTPSource, inbox: Path) -> None:
    write(inbox / "a.csv", "1")
    f = source.list_ready()[0]
    source.mark_done(f, ok=True)
    source.mark_done(f, ok=False)
    assert sorted(p.name for p in inbox.iterdir()) == ["a.csv"]


# ---------------------------------------------------------------------------------- host keys


def test_known_hosts_file(sftp_server: SftpServer, inbox: Path) -> None:
    write(inbox / "a.csv", "1")
    cfg = sftp_server.sftp_config(
        host_key=None, known_hosts_file=str(sftp_server.known_hosts_path), stable_seconds=0
    )
    with SFTPSource(cfg) as src:
        assert [f.name for f in src.list_ready()] == ["a.csv"]


def test_unknown_host_key_is_refused(sftp_server: SftpServer, sftp_root: Path, tmp_path: Path) -> None:
    # a known_hosts file that knows the key, but for another port only
    known = write(tmp_path / "known_hosts", f"[127.0.0.1]:1 {sftp_server.host_key_line}\n")
    cfg = sftp_server.sftp_config(host_key=None, known_hosts_file=str(known))
    with SFTPSource(cfg) as src, pytest.raises(UnknownHostKeyError) as err:
        src.list_ready()
    msg = str(err.value)
    port = sftp_server.port
    assert f"127.0.0.1:{port}" in msg
    assert f"ssh-keyscan -p {port} 127.0.0.1" in msg
    server_key = paramiko.PKey.from_type_string(*_decode(sftp_server.host_key_line))
    assert server_key.fingerprint in msg


def test_changed_host_key_is_refused(
    sftp_server: SftpServer, sftp_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, other_public = generate_ed25519()
    counter = CountConnects(monkeypatch)
    cfg = sftp_server.sftp_config(host_key=other_public)
    with SFTPSource(cfg) as src, pytest.raises(HostKeyMismatchError) as err:
        src.list_ready()
    msg = str(err.value)
    expected = paramiko.PKey.from_type_string(*_decode(other_public)).fingerprint
    presented = paramiko.PKey.from_type_string(*_decode(sftp_server.host_key_line)).fingerprint
    assert expected.startswith("SHA256:")
    assert expected in msg
    assert presented in msg
    assert "man-in-the-middle" in msg
    assert f"127.0.0.1:{sftp_server.port}" in msg
    assert (err.value.expected_fingerprint, err.value.presented_fingerprint) == (expected, presented)
    assert counter.calls == 1  # never retried


def _decode(line: str) -> tuple[str, bytes]:
    import base64

    key_type, b64 = line.split()[:2]
    return key_type, base64.b64decode(b64)


# ------------------------------------------------------------------------------ authentication


def test_wrong_client_key(sftp_server: SftpServer, sftp_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other_private, _ = generate_ed25519()
    counter = CountConnects(monkeypatch)
    with (
        SFTPSource(sftp_server.sftp_config(private_key=other_private)) as src,
        pytest.raises(AuthenticationError) as err,
    ):
        src.list_ready()
    assert f"127.0.0.1:{sftp_server.port}" in str(err.value)
    assert sftp_server.username in str(err.value)
    text = full_text(err.value)
    for line in other_private.splitlines()[1:-1]:
        assert line not in text
    assert counter.calls == 1  # authentication failures are not retried


def test_encrypted_key_file_with_passphrase(sftp_server: SftpServer, inbox: Path, tmp_path: Path) -> None:
    passphrase = "Key-phrase-" + secrets.token_hex(4)
    key = serialization.load_ssh_private_key(sftp_server.client_key_text.encode(), None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.BestAvailableEncryption(passphrase.encode()),
    )
    key_file = write(tmp_path / "id_ed25519", encrypted)
    write(inbox / "a.csv", "1")
    cfg = sftp_server.sftp_config(
        private_key=None, private_key_file=str(key_file), private_key_passphrase=passphrase, stable_seconds=0
    )
    assert passphrase not in repr(cfg)
    with SFTPSource(cfg) as src:
        assert [f.name for f in src.list_ready()] == ["a.csv"]

    wrong = sftp_server.sftp_config(
        private_key=None, private_key_file=str(key_file), private_key_passphrase=passphrase + "x"
    )
    with SFTPSource(wrong) as src, pytest.raises(ConfigError, match="passphrase is wrong") as err:
        src.list_ready()
    assert passphrase not in full_text(err.value)


@pytest.fixture
def password_user(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """A throwaway system user with a password and an SFTP root it can use (root only)."""
    if os.geteuid() != 0:
        pytest.skip("password login needs a throwaway system user: run as root (useradd/chpasswd)")
    if not (shutil.which("useradd") and shutil.which("chpasswd") and shutil.which("userdel")):
        pytest.skip("useradd/chpasswd/userdel not available")
    name = "llsftp" + secrets.token_hex(3)
    password = "Pw-" + secrets.token_urlsafe(12)
    subprocess.run(["useradd", "-M", "-N", "-d", "/nonexistent", "-s", "/bin/sh", name], check=True)
    root = Path(tempfile.mkdtemp(prefix="ledgerlink-pwroot-"))
    try:
        subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True)
        os.chmod(root, 0o755)  # noqa: S103 - the throwaway user must be able to enter it
        (root / "inbox").mkdir()
        shutil.chown(root / "inbox", user=name)
        yield name, password, root
    finally:
        shutil.rmtree(root, ignore_errors=True)
        subprocess.run(["userdel", "-f", name], check=False, capture_output=True)


def test_password_login(password_user: tuple[str, str, Path], tmp_path: Path) -> None:
    name, password, root = password_user
    write(root / "inbox" / "a.csv", "1")
    with SftpServer(root, workdir=tmp_path / "sshd", username=name, password_auth=True) as server:
        cfg = server.sftp_config(private_key=None, password=password, stable_seconds=0)
        assert password not in repr(cfg)
        with SFTPSource(cfg) as src:
            [f] = src.list_ready()
            assert src.fetch(f, tmp_path / "dl").sha256 == hashlib.sha256(b"1").hexdigest()

        wrong = "Wrong-" + secrets.token_urlsafe(8)
        bad = server.sftp_config(private_key=None, password=wrong)
        with SFTPSource(bad) as src, pytest.raises(AuthenticationError) as err:
            src.list_ready()
        assert f"127.0.0.1:{server.port}" in str(err.value)
        assert "password" in str(err.value)
        assert wrong not in full_text(err.value)
        assert password not in full_text(err.value)
        assert wrong not in repr(bad)


# ------------------------------------------------------------------------------ reachability


def test_unreachable_port(monkeypatch: pytest.MonkeyPatch, sftp_server: SftpServer) -> None:
    port = free_port()  # nothing listens there
    counter = CountConnects(monkeypatch)
    cfg = sftp_server.sftp_config(port=port, connect_attempts=2)
    with SFTPSource(cfg) as src, pytest.raises(UnreachableError) as err:
        src.list_ready()
    assert f"127.0.0.1:{port}" in str(err.value)
    assert "refused" in str(err.value)
    assert counter.calls == 2  # retried once


def test_not_an_ssh_server(sftp_server: SftpServer) -> None:
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        cfg = sftp_server.sftp_config(port=port, connect_attempts=1, timeout=0.5)
        with SFTPSource(cfg) as src, pytest.raises(UnreachableError) as err:
            src.list_ready()
    assert f"127.0.0.1:{port}" in str(err.value)


def test_reconnects_after_close(source: SFTPSource, inbox: Path) -> None:
    write(inbox / "a.csv", "1")
    assert len(source.list_ready()) == 1
    source.close()
    assert len(source.list_ready()) == 1


# ------------------------------------------------------------------------- Airflow connection URI


def test_connection_uri_round_trip(sftp_server: SftpServer, inbox: Path, tmp_path: Path) -> None:
    write(inbox / "a.csv", "1")
    uri = sftp_server.connection_uri()
    assert "\n" not in uri and " " not in uri  # the key text is url-encoded
    parts = urlsplit(uri)
    assert parts.scheme == "sftp"
    extra = dict(parse_qsl(parts.query, keep_blank_values=True))  # what Airflow does with the query
    cfg = SFTPConfig.from_connection(
        host=parts.hostname,
        port=parts.port,
        login=unquote(parts.username or ""),
        password=None,
        extra={**extra, "stable_seconds": "0"},
    )
    assert cfg.remote_dir == "inbox"
    with SFTPSource(cfg) as src:
        [f] = src.list_ready()
        assert src.fetch(f, tmp_path).path.read_text() == "1"


# ------------------------------------------------------------------------------------- memory


@pytest.mark.slow
def test_large_download_keeps_memory_flat(source: SFTPSource, inbox: Path, tmp_path: Path) -> None:
    size = 50 * 1024 * 1024
    digest = hashlib.sha256()
    with open(inbox / "big.bin", "wb") as fh:
        block = os.urandom(1024 * 1024)
        for i in range(size // len(block)):
            chunk = block[:-1] + bytes([i % 256])
            digest.update(chunk)
            fh.write(chunk)
    source.stable_seconds = 0
    [f] = source.list_ready()
    tracemalloc.start()
    try:
        got = source.fetch(f, tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got.size == size
    assert got.sha256 == digest.hexdigest()
    assert peak < 16 * 1024 * 1024, f"peak Python memory {peak / 1e6:.1f} MB for a 50 MB download"
