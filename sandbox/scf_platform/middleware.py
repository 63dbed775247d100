"""The platform's gateway, as plain ASGI middleware around the FastAPI routes.

For every ``/v1/`` request, in this order: API-key auth (401), the per-key rate limit (429),
injected faults, then for POSTs the ``Idempotency-Key`` handling of Stripe-like APIs:

* no key -> 400; the same key with the same method, path and JSON body -> the first response
  replayed (status and body) with ``Idempotent-Replayed: true``; the same key with anything else ->
  409 ``idempotency_key_reused``; the same key while the first request still runs -> 409
  ``idempotency_key_in_use``;
* a response is remembered unless the request never started executing (422 validation errors,
  5xx), in which case the key is released and a retry runs afresh;
* keys are scoped to the API key's owner and forgotten after 24 h of simulated time.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from .faults import Fault
from .state import Party

if TYPE_CHECKING:
    from .server import ScfPlatform

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DROP_MARKER = "scf-sandbox: response dropped on purpose"


class ResponseDropped(Exception):
    """Raised after the response headers went out: the server then closes the connection mid-response."""

    def __init__(self) -> None:
        super().__init__(DROP_MARKER)


class DropNoise(logging.Filter):
    """Keep the deliberate connection drops out of the server log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ResponseDropped)


def error_body(status: int, code: str, message: str) -> bytes:
    kind = {
        401: "authentication_error",
        403: "permission_error",
        409: "idempotency_error",
        429: "rate_limit_error",
    }.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return json.dumps({"error": {"type": kind, "code": code, "message": message}}).encode()


async def send_json(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body})


def _fingerprint(method: str, path: str, query: bytes, body: bytes) -> str:
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query, canonical):
        digest.update(part + b"\0")
    return digest.hexdigest()


class GatewayMiddleware:
    def __init__(self, app: ASGIApp, platform: ScfPlatform) -> None:
        self.app = app
        self.platform = platform

    def _party(self, headers: dict[bytes, bytes]) -> tuple[str, Party] | None:
        auth = headers.get(b"authorization", b"").decode("latin-1")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        found = None
        for key, party in self.platform.config.api_keys.items():
            if hmac.compare_digest(key.encode(), token.strip().encode()):
                found = (key, party)
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        headers = {k.lower(): v for k, v in scope["headers"]}
        found = self._party(headers)
        if found is None:
            body = error_body(
                401, "invalid_api_key", "missing or unknown API key (Authorization: Bearer <key>)"
            )
            await send_json(send, 401, body, [(b"www-authenticate", b"Bearer")])
            return
        api_key, party = found
        scope.setdefault("state", {})["party"] = party
        faults = self.platform.faults
        if faults.over_rate(api_key):
            await send_json(
                send,
                429,
                error_body(429, "rate_limited", "too many requests for this API key"),
                [(b"retry-after", b"1")],
            )
            return
        fault = faults.take(("error", "throttle", "delay"), method, path)
        processing: Fault | None = None
        if fault is not None:
            if fault.kind == "error":
                status = fault.status or 500
                await send_json(send, status, error_body(status, "simulated_error", "simulated server error"))
                return
            if fault.kind == "throttle":
                status = fault.status or 429
                await send_json(
                    send,
                    status,
                    error_body(status, "rate_limited", "simulated throttling"),
                    [(b"retry-after", (fault.retry_after or "1").encode())],
                )
                return
            if fault.phase == "before":
                await _hold(fault)
            else:
                processing = fault
        lose = faults.take(("lose_response",), method, path)
        out = send if lose is None else _Lossy(send, lose.mode)
        try:
            if method == "POST":
                await self._idempotent(scope, receive, out, party, headers, processing)
            else:
                await self.app(scope, receive, out)
            if isinstance(out, _Lossy):
                await out.finish()
        finally:
            self.platform.note_request(method, path)

    async def _idempotent(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        party: Party,
        headers: dict[bytes, bytes],
        processing: Fault | None,
    ) -> None:
        key = headers.get(b"idempotency-key", b"").decode("latin-1").strip()
        if not key or len(key) > 255:
            await send_json(
                send,
                400,
                error_body(
                    400,
                    "idempotency_key_required",
                    "every POST needs an Idempotency-Key header (1 to 255 characters)",
                ),
            )
            return
        body = await _read_body(receive)
        fingerprint = _fingerprint(scope["method"], scope["path"], scope.get("query_string", b""), body)
        state = self.platform.state
        outcome, entry = state.idempotency_begin(party.id, key, fingerprint)
        if outcome == "mismatch":
            await send_json(
                send,
                409,
                error_body(
                    409,
                    "idempotency_key_reused",
                    "this Idempotency-Key was used with a different request; use a new key for a new request",
                ),
            )
            return
        if outcome == "in_progress":
            await send_json(
                send,
                409,
                error_body(
                    409,
                    "idempotency_key_in_use",
                    "a request with this Idempotency-Key is still being processed; retry later",
                ),
            )
            return
        if outcome == "replay":
            assert entry is not None
            await send(
                {
                    "type": "http.response.start",
                    "status": entry.status,
                    "headers": [*entry.headers, (b"idempotent-replayed", b"true")],
                }
            )
            await send({"type": "http.response.body", "body": entry.body})
            return
        if processing is not None:
            await _hold(processing)
        capture = _Capture()
        try:
            await self.app(scope, _replay_body(body, receive), capture)
        except BaseException:
            state.idempotency_release(party.id, key)
            raise
        if capture.status == 422 or capture.status >= 500:
            state.idempotency_release(party.id, key)
        else:
            state.idempotency_finish(party.id, key, capture.status, capture.headers, capture.body)
        await send({"type": "http.response.start", "status": capture.status, "headers": capture.headers})
        await send({"type": "http.response.body", "body": capture.body})


async def _hold(fault: Fault) -> None:
    """A delay fault: ``seconds``, or until its ``release`` event is set (``seconds`` at most)."""
    fault.reached.set()
    if fault.release is None:
        await asyncio.sleep(fault.seconds)
    else:
        await asyncio.to_thread(fault.release.wait, fault.seconds)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay_body(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class _Capture:
    def __init__(self) -> None:
        self.status = 500
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
        elif message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


class _Lossy(_Capture):
    """Swallows the real response; ``finish`` then breaks the connection or answers 502."""

    def __init__(self, send: Send, mode: str) -> None:
        super().__init__()
        self._send = send
        self._mode = mode

    async def finish(self) -> None:
        if self._mode == "502":
            await send_json(
                self._send, 502, error_body(502, "bad_gateway", "simulated: upstream connection lost")
            )
            return
        # Headers promise the full body, none follows: the client sees the connection break mid-response.
        await self._send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        raise ResponseDropped()
