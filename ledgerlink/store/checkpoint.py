"""The audit log's head, checkpointed outside the store, so that entries deleted from the end show.

The hash chain shows an entry altered or removed in the middle, but not the last entries removed, nor a
chain rewritten from some entry on with hashes recomputed. So after each commit that appended audit
entries the store appends one line to a checkpoint file the operator chooses (on storage the database's
users cannot rewrite): the id of the last entry and its hash, optionally signed with HMAC-SHA256 under a
key from a connection. One ``write`` and one ``fsync`` per commit; lines of concurrent writers may land
out of order, so the newest checkpoint is the one with the highest id.

A line: ``{"at": "...", "hash": "<sha256 hex>", "hmac": "<hex or absent>", "seq": 1234}``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ledgerlink.config import audit_checkpoint_file, audit_checkpoint_key_conn
from ledgerlink.connections import get_connection
from ledgerlink.errors import ConfigError, StoreError
from ledgerlink.store.db import utcnow


@dataclass(frozen=True)
class Checkpoint:
    seq: int  # id of the audit entry
    hash: str  # its hash
    line: int  # line of the checkpoint file


class AuditCheckpoint:
    """Appends and reads the checkpoints in ``path``; signs and checks them when given a ``key``."""

    def __init__(self, path: Path, key: bytes | None = None) -> None:
        self.path = Path(path)
        self._key = key

    @classmethod
    def from_settings(cls) -> AuditCheckpoint | None:
        """From ``LEDGERLINK_AUDIT_CHECKPOINT`` and ``LEDGERLINK_AUDIT_CHECKPOINT_KEY``; None when not set."""
        path = audit_checkpoint_file()
        conn_id = audit_checkpoint_key_conn()
        if path is None:
            if conn_id:
                raise ConfigError("LEDGERLINK_AUDIT_CHECKPOINT_KEY is set but LEDGERLINK_AUDIT_CHECKPOINT is not: "
                                  "set the checkpoint file too")
            return None
        key = None
        if conn_id:
            settings = get_connection(conn_id)
            secret = settings.password or settings.extra.get("key")
            if not secret:
                raise ConfigError(f"connection {conn_id!r} ({settings.origin}) has no password or extra 'key' "
                                  "to sign the audit checkpoints with")
            key = str(secret).encode("utf-8")
        return cls(path, key)

    @property
    def signed(self) -> bool:
        return self._key is not None

    def _sign(self, seq: int, digest: str, at: str) -> str | None:
        if self._key is None:
            return None
        return hmac.new(self._key, f"{seq}:{digest}:{at}".encode(), hashlib.sha256).hexdigest()

    def write(self, seq: int, digest: str) -> None:
        """Append the checkpoint of entry ``seq`` and make it durable."""
        at = utcnow()
        line = {"at": at, "hash": digest, "seq": seq}
        signature = self._sign(seq, digest, at)
        if signature is not None:
            line["hmac"] = signature
        data = (json.dumps(line, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, data)  # one write of one short line: appends of several writers do not interleave
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise StoreError(f"audit entries up to {seq} are committed, but their checkpoint could not be "
                             f"written to {self.path}: {exc.strerror or exc}") from None

    def latest(self) -> Checkpoint | None:
        """The newest checkpoint (highest entry id); raises CheckpointError for an unreadable line or a
        signature that does not match (the file was edited, or signed with another key)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read the audit checkpoint file {self.path}: {exc.strerror or exc}") from None
        newest: Checkpoint | None = None
        for number, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                doc = json.loads(raw)
                seq, digest, at = int(doc["seq"]), str(doc["hash"]), str(doc["at"])
            except (ValueError, KeyError, TypeError):
                raise CheckpointError(f"{self.path}:{number}: not a checkpoint line (edited or damaged)") from None
            expected = self._sign(seq, digest, at)
            if expected is not None and not hmac.compare_digest(expected, str(doc.get("hmac", ""))):
                raise CheckpointError(f"{self.path}:{number}: bad signature on the checkpoint of entry {seq} "
                                      "(the file was edited, or signed with another key)")
            if newest is None or seq > newest.seq:
                newest = Checkpoint(seq, digest, number)
        return newest


class CheckpointError(StoreError):
    """The checkpoint file itself was tampered with: a damaged line or a bad signature."""
