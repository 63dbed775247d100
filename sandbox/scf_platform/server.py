"""``ScfPlatform``: the simulator served by uvicorn in a background thread on 127.0.0.1.

with ScfPlatform() as platform:
    client = ScfClient(platform.url, platform.buyer_key, ...)
    platform.faults.fail(2)           # the next two /v1/ requests answer 500
    platform.clock.advance(hours=3)   # lifecycle, file-drop polling and webhook retries run now
    platform.state.invoices           # everything the platform holds
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

from .app import create_app
from .clock import SimClock
from .faults import Faults
from .filedrop import FileDropChannel
from .middleware import DropNoise
from .state import PlatformState, ScfConfig
from .webhooks import WebhookDispatcher

HOST = "127.0.0.1"
OPENAPI_PATH = Path(__file__).with_name("openapi.json")


class ScfPlatformError(RuntimeError):
    """The simulator could not be started."""


class ScfPlatform:
    def __init__(
        self,
        config: ScfConfig | None = None,
        *,
        clock: SimClock | None = None,
        webhook_timeout: float = 2.0,
        background_webhooks: bool = True,
    ) -> None:
        self.config = config or ScfConfig()
        self.clock = clock or SimClock()
        self.state = PlatformState(self.config, self.clock)
        self.faults = Faults()
        self.webhooks = WebhookDispatcher(self.clock, timeout=webhook_timeout)
        self.file_drops: list[FileDropChannel] = []
        self.requests: list[tuple[str, str]] = []  # (method, path) of every /v1/ request, for tests
        self._requests_lock = threading.Lock()
        self._background_webhooks = background_webhooks
        self.state.change_listeners.append(self.webhooks.on_change)
        self.clock.on_advance(self._on_advance)
        self.app = create_app(self)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ------------------------------------------------------------------------------ keys
    def key_for(self, kind: str, party_id: str | None = None) -> str:
        for key, party in self.config.api_keys.items():
            if party.kind == kind and (party_id is None or party.id == party_id):
                return key
        raise KeyError(f"no API key configured for {kind} {party_id or ''}".strip())

    @property
    def buyer_key(self) -> str:
        return self.key_for("buyer")

    # ------------------------------------------------------------------------------ life cycle
    @property
    def url(self) -> str:
        if self._server is None:
            raise ScfPlatformError("the platform is not running; call start() first")
        return f"http://{HOST}:{self.port}"

    def start(self) -> ScfPlatform:
        if self._server is not None:
            return self
        logging.getLogger("uvicorn.error").addFilter(DropNoise())
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, 0))
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self.app,
            host=HOST,
            port=self.port,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="scf-platform", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                sock.close()
                raise ScfPlatformError(f"the SCF platform did not start on {HOST}:{self.port}")
            time.sleep(0.01)
        self._server, self._thread, self._sock = server, thread, sock
        if self._background_webhooks:
            self.webhooks.start()
        return self

    def stop(self) -> None:
        self.webhooks.stop()
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout=10)
        sock = getattr(self, "_sock", None)
        if sock is not None:
            sock.close()

    def __enter__(self) -> ScfPlatform:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------------------ simulation
    def _on_advance(self, now: object) -> None:
        self.poll_files()
        self.state.catch_up()
        self.webhooks.deliver_due()

    def add_file_drop(
        self, inbox: Path | str, outbox: Path | str, *, party_id: str | None = None
    ) -> FileDropChannel:
        """Poll ``inbox`` for CSV/XML batch files (on every clock advance and ``poll_files()``) and
        write acknowledgement files to ``outbox``, uploading as the buyer ``party_id``."""
        party = next(
            p
            for p in self.config.api_keys.values()
            if p.kind == "buyer" and (party_id is None or p.id == party_id)
        )
        channel = FileDropChannel(self.state, party, Path(inbox), Path(outbox))
        self.file_drops.append(channel)
        return channel

    def poll_files(self) -> list[str]:
        done: list[str] = []
        for channel in self.file_drops:
            done.extend(channel.poll())
        return done

    def note_request(self, method: str, path: str) -> None:
        with self._requests_lock:
            self.requests.append((method, path))

    def openapi(self) -> dict[str, Any]:
        return self.app.openapi()

    def openapi_text(self) -> str:
        return json.dumps(self.openapi(), indent=2, sort_keys=True) + "\n"
