"""The web endpoints hold: the financing webhook caps bodies and checks signatures before reading them,
FastAPI's own docs are off, and bad query parameters get 400.

The webhook cases run against the plugin's webhook app served by a real uvicorn in a subprocess on
loopback, spoken to over raw sockets so the tests control exactly what is sent and when.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

# Imported here, not in a test: importing Airflow sets up its logging, which would drop caplog's handler.
from ledgerlink.airflow.plugin import webhooks
from ledgerlink.financing.decide import SUBMIT_KIND
from ledgerlink.financing.webhooks import DEFAULT_MAX_BODY, read_delivery
from ledgerlink.store import Store
from sandbox.scf_platform import sign

pytestmark = pytest.mark.airflow

SECRET = "whsec_guard_test_only_91ab"
CAP = 64 * 1024  # the server under test runs with this cap
MB = 1024 * 1024


def event_body(event_id: str, key: str, status: str = "uploaded") -> bytes:
    invoice = {
        "id": "inv_000001", "buyer_reference": key, "supplier_id": "S1", "invoice_number": "INV-G1",
        "currency": "EUR", "amount": "1000.00", "due_date": "2026-03-06", "status": status,
        "updated_at": "2026-01-05T09:00:00Z", "offer": None, "funded_amount": None, "funded_at": None,
    }
    return json.dumps({"id": event_id, "type": "invoice.status_changed", "created": "2026-01-05T09:00:00Z",
                       "data": {"previous_status": None, "invoice": invoice}}).encode()


class Server:
    """``uvicorn ledgerlink.airflow.plugin:webhooks`` in its own process, on a loopback socket made here."""

    def __init__(self, tmp: Path) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.store_url = f"sqlite:///{tmp / 'store.db'}"
        env = {**os.environ, "LEDGERLINK_SCF_WEBHOOK_SECRET": SECRET, "LEDGERLINK_SCF_WEBHOOK_MAX_BYTES": str(CAP),
               "LEDGERLINK_STORE_URL": self.store_url, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        self.log = open(tmp / "uvicorn.log", "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "ledgerlink.airflow.plugin:webhooks", "--fd", str(self.sock.fileno()),
             "--log-level", "warning", "--no-access-log"],
            pass_fds=[self.sock.fileno()], env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120  # a safety net for a loaded machine, not a speed requirement
        while True:
            assert self.proc.poll() is None, (tmp / "uvicorn.log").read_text()
            try:
                status, _ = self.exchange(b"GET /nothing HTTP/1.1\r\nHost: t\r\n\r\n")
                if status:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the webhook server did not start"
            time.sleep(0.2)

    def connect(self) -> socket.socket:
        conn = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        return conn

    def exchange(self, request: bytes) -> tuple[int, bytes]:
        with self.connect() as conn:
            conn.sendall(request)
            return read_response(conn)

    def rss_kb(self, field: str = "VmRSS") -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise AssertionError(f"no {field} for the server process")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.sock.close()
        self.log.close()


def read_response(conn: socket.socket) -> tuple[int, bytes]:
    """(status, whole response) of one HTTP/1.1 answer; the server closes or sends a Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 "):
        return 0, data
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        rest += chunk
    return int(head.split()[1]), head + b"\r\n\r\n" + rest


def post_head(headers: dict[str, str]) -> bytes:
    lines = ["POST /scf HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
             *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    s = Server(tmp_path_factory.mktemp("webhook-server"))
    yield s
    s.close()


def fresh_signature(body: bytes = b"") -> str:
    return sign(SECRET, int(time.time()), body)


# ------------------------------------------------------------------------------------ the cap
def test_a_declared_length_over_the_cap_is_refused_before_any_body_byte(server) -> None:
    # Only the head is sent: the answer comes without the server waiting for a single body byte.
    status, answer = server.exchange(post_head({"Content-Length": str(100 * MB),
                                                "Scf-Signature": fresh_signature()}))
    assert status == 413 and b"over the limit of 65536 bytes" in answer
    assert b"connection: close" in answer.lower()


def test_a_chunked_body_is_cut_off_at_the_cap(server) -> None:
    with server.connect() as conn:
        conn.sendall(post_head({"Transfer-Encoding": "chunked", "Scf-Signature": fresh_signature()}))
        conn.sendall(chunk(b"x" * (CAP + 1)))
        status, answer = read_response(conn)
    assert status == 413 and b"over the limit" in answer


def test_a_body_at_the_cap_is_read_and_checked(server) -> None:
    body = b"x" * CAP  # exactly the cap: read whole, then refused for its signature, not its size
    status, answer = server.exchange(post_head({"Content-Length": str(CAP), "Scf-Signature": fresh_signature()})
                                     + body)
    assert status == 401 and b"signature does not match" in answer


# ------------------------------------------------------------------------------------ signatures
def test_an_unsigned_request_is_refused_before_its_body_is_read(server) -> None:
    # A body is announced but never sent: the 401 arrives anyway, so the body was not waited for.
    status, answer = server.exchange(post_head({"Content-Length": "1000"}))
    assert status == 401 and b"no Scf-Signature header" in answer
    status, answer = server.exchange(post_head({"Content-Length": "1000", "Scf-Signature": "v1=abc"}))
    assert status == 401 and b"malformed" in answer


def test_a_bad_signature_is_refused_before_the_body_is_parsed(server) -> None:
    body = b"{not json at all"
    forged = sign("whsec_someone_else", int(time.time()), body)
    status, answer = server.exchange(post_head({"Content-Length": str(len(body)), "Scf-Signature": forged}) + body)
    assert status == 401 and b"signature does not match" in answer and b"not JSON" not in answer
    # Signed with the right secret, the same body is parsed, and only then found wanting.
    status, answer = server.exchange(post_head({"Content-Length": str(len(body)),
                                                "Scf-Signature": fresh_signature(body)}) + body)
    assert status == 400 and b"not JSON" in answer


def test_a_signed_event_within_the_cap_is_stored(server) -> None:
    store = Store(server.store_url)
    try:
        store.outbox.enqueue(SUBMIT_KIND, "req-G1", {"request_id": "req-G1", "platform": "scf-pilot"})
        body = event_body("evt_g1", "req-G1")
        with server.connect() as conn:  # chunked too: the signature covers the bytes however they arrive
            conn.sendall(post_head({"Transfer-Encoding": "chunked", "Scf-Signature": fresh_signature(body)}))
            conn.sendall(chunk(body[:100]) + chunk(body[100:]) + b"0\r\n\r\n")
            status, answer = read_response(conn)
        assert status == 200 and b'"outcome":"accepted"' in answer and b'"stored":true' in answer
        assert [v["payload"]["status"] for v in store.record_versions("financing_request", "req-G1")] == ["uploaded"]
    finally:
        store.close()


# ------------------------------------------------------------------------------------ memory
def stream_100_mb(port: int) -> tuple[int, int]:
    """One client streaming 100 MB chunked with a plausible signature header: (bytes sent, status)."""
    sent, piece = 0, chunk(b"y" * (256 * 1024))
    with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
        conn.sendall(post_head({"Transfer-Encoding": "chunked", "Scf-Signature": fresh_signature()}))
        try:
            while sent < 100 * MB:
                conn.sendall(piece)
                sent += len(piece)
            conn.sendall(b"0\r\n\r\n")
        except OSError:  # the server answered and closed: the rest is never read
            pass
        try:
            status, _ = read_response(conn)
        except OSError:
            status = 0  # reset before the answer could be read
    return sent, status


@pytest.mark.slow
def test_memory_stays_flat_under_eight_concurrent_100_mb_bodies(server) -> None:
    server.exchange(post_head({"Content-Length": "2", "Scf-Signature": fresh_signature(b"{}")}) + b"{}")  # warm up
    before = server.rss_kb()
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(stream_100_mb, [server.port] * 8))
    peak = server.rss_kb("VmHWM")
    growth_mb = (peak - before) / 1024
    print(f"server RSS {before / 1024:.1f} MB before, peak {peak / 1024:.1f} MB: growth {growth_mb:.1f} MB; "
          f"sent per client (MB): {[round(s / MB, 1) for s, _ in outcomes]}")
    # Every client was stopped long before its 100 MB (the cap is 64 KiB; kernel buffers take some MB).
    assert all(sent < 50 * MB for sent, _ in outcomes), outcomes
    assert all(status in (413, 0) for _, status in outcomes) and any(s == 413 for _, s in outcomes), outcomes
    assert growth_mb < 50
    assert server.proc.poll() is None


# ------------------------------------------------------------------------------------ read_delivery alone
async def _chunks(parts: list[bytes]):  # type: ignore[no-untyped-def]
    for part in parts:
        yield part


def test_read_delivery_streams_within_the_cap() -> None:
    import asyncio

    body = event_body("evt_r1", "req-R1")
    headers = {"Scf-Signature": fresh_signature(body)}
    got = asyncio.run(read_delivery(SECRET, headers, _chunks([body[:7], body[7:]]), limit=len(body)))
    assert got == body
    refused = asyncio.run(read_delivery(SECRET, headers, _chunks([body, b" "]), limit=len(body)))
    assert not isinstance(refused, bytes) and refused.http_status == 413
    assert DEFAULT_MAX_BODY == 256 * 1024


def test_the_cap_setting_must_be_a_positive_number(monkeypatch, caplog) -> None:
    from ledgerlink.errors import ConfigError
    from ledgerlink.financing.webhooks import max_body_bytes

    monkeypatch.setenv("LEDGERLINK_SCF_WEBHOOK_MAX_BYTES", "1000")
    assert max_body_bytes() == 1000
    monkeypatch.setenv("LEDGERLINK_SCF_WEBHOOK_MAX_BYTES", "lots")
    with pytest.raises(ConfigError, match="LEDGERLINK_SCF_WEBHOOK_MAX_BYTES='lots'"):
        max_body_bytes()
    # The receiver refuses (the platform retries later) and says which setting is wrong.
    monkeypatch.setenv("LEDGERLINK_SCF_WEBHOOK_SECRET", SECRET)
    caplog.set_level(logging.ERROR, logger="ledgerlink.financing")
    body = event_body("evt_c1", "req-C1")
    answer = TestClient(webhooks).post("/scf", content=body, headers={"Scf-Signature": fresh_signature(body)})
    assert answer.status_code == 503 and answer.json()["reason"] == "webhook receiver not configured"
    assert "LEDGERLINK_SCF_WEBHOOK_MAX_BYTES='lots'" in caplog.text and SECRET not in caplog.text


# ------------------------------------------------------------------------------------ docs and queries
@pytest.fixture
def console(tmp_path, monkeypatch) -> TestClient:
    monkeypatch.setenv("LEDGERLINK_STORE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    from ledgerlink.airflow.plugin import app

    return TestClient(app)


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json", "/webhooks/docs", "/webhooks/redoc",
                                  "/webhooks/openapi.json", "/docs/oauth2-redirect"])
def test_fastapi_docs_are_not_served(console, path) -> None:
    assert console.get(path).status_code in (401, 403, 404)
    assert "swagger" not in console.get(path).text.lower()


def test_fastapi_docs_are_off_on_both_apps() -> None:
    from ledgerlink.airflow.plugin import app, webhooks

    for each in (app, webhooks):
        assert (each.docs_url, each.redoc_url, each.openapi_url) == (None, None, None)
