"""The audit log's head checkpointed outside the store: `ledgerlink audit verify` reports entries deleted
from the end, a chain re-hashed after an edit, and an edited checkpoint file (bad signature), each in one
line with exit 2, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from ledgerlink.errors import ConfigError
from ledgerlink.store import Store
from ledgerlink.store.audit import GENESIS, entry_hash
from ledgerlink.store.checkpoint import AuditCheckpoint
from tests.fixtures.cli import run_cli

KEY = "checkpoint-signing-key-0123456789"


@pytest.fixture
def checkpointed(store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Store, Path]:
    """A store whose audit head is checkpointed to a signed file, with ten entries in seven commits."""
    path = tmp_path / "audit.checkpoint"
    monkeypatch.setenv("LEDGERLINK_STORE_URL", store_url)
    monkeypatch.setenv("LEDGERLINK_AUDIT_CHECKPOINT", str(path))
    monkeypatch.setenv("LEDGERLINK_AUDIT_CHECKPOINT_KEY", "audit_key")
    monkeypatch.setenv("LEDGERLINK_CONN_AUDIT_KEY", json.dumps({"conn_type": "generic", "password": KEY}))
    store = Store()
    for n in range(5):
        store.audit("test.one", f"item:{n}", {"n": n})
    with store.unit_of_work() as work:  # a batch of several entries: one checkpoint
        for n in range(5, 9):
            work.audit("test.batch", f"item:{n}", {"n": n})
    store.audit("test.one", "item:9", {"n": 9})
    yield store, path
    store.close()


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def tamper(store: Store, *statements: tuple[str, dict]) -> None:
    """What someone with the database's admin rights could do: lift the append-only triggers, then write."""
    with store.engine.begin() as conn:
        if store.engine.dialect.name == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER audit_log_no_update")
            conn.exec_driver_sql("DROP TRIGGER audit_log_no_delete")
        else:
            conn.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete")
        for sql, params in statements:
            conn.execute(sa.text(sql), params)


def test_each_commit_appends_a_signed_checkpoint_and_verify_passes(capsys, checkpointed):
    store, path = checkpointed
    written = lines(path)
    assert [c["seq"] for c in written] == [e["id"] for e in store.audit_entries(oldest_first=True)
                                           if e["subject"] in {f"item:{n}" for n in (0, 1, 2, 3, 4, 8, 9)}]
    last = store.audit_entries(limit=1)[0]
    assert (written[-1]["seq"], written[-1]["hash"]) == (last["id"], last["hash"])
    assert all(len(c["hmac"]) == 64 for c in written)
    ran = run_cli(capsys, "audit", "verify")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == (f"audit chain intact: 10 entries; entry {last['id']} matches its signed "
                                  f"checkpoint ({path}:7)")


def test_entries_deleted_from_the_end_are_reported(capsys, checkpointed):
    store, _ = checkpointed
    last_id = store.audit_entries(limit=1)[0]["id"]
    tamper(store, ("DELETE FROM audit_log WHERE id > :keep", {"keep": last_id - 2}))
    assert store.verify_audit_chain().ok  # the chain alone cannot tell
    ran = run_cli(capsys, "audit", "verify")
    assert ran.returncode == 2
    assert ran.stderr.splitlines() == [
        f"ledgerlink: audit log truncated: the checkpoint records entry {last_id}, the store's log ends at entry "
        f"{last_id - 2}: 2 entries deleted from the end (checkpoint {store.checkpoint.path}:7)"]


def test_a_chain_re_hashed_after_an_edit_is_reported(capsys, checkpointed):
    store, _ = checkpointed
    rows = store.audit_entries(oldest_first=True, limit=None)
    statements = []
    prev = GENESIS
    for row in rows:  # change entry 4's details, then recompute every hash from there on
        details = {"n": "forged"} if row["subject"] == "item:3" else row["details"]
        details_json = json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = entry_hash(prev, row["at"], row["actor"], row["action"], row["subject"], details_json)
        statements.append(("UPDATE audit_log SET details = :d, prev_hash = :p, hash = :h WHERE id = :id",
                           {"d": details_json, "p": prev, "h": digest, "id": row["id"]}))
        prev = digest
    tamper(store, *statements)
    assert store.verify_audit_chain().ok  # re-hashed: the chain is consistent again
    ran = run_cli(capsys, "audit", "verify")
    assert ran.returncode == 2
    [line] = ran.stderr.splitlines()
    assert line.startswith(f"ledgerlink: audit chain re-hashed: entry {rows[-1]['id']} has hash {prev[:16]}... "
                           f"in the store but {rows[-1]['hash'][:16]}... in the checkpoint")


def test_an_edited_checkpoint_file_has_a_bad_signature(capsys, checkpointed):
    store, path = checkpointed
    last_id = store.audit_entries(limit=1)[0]["id"]
    tamper(store, ("DELETE FROM audit_log WHERE id = :last", {"last": last_id}))
    kept = path.read_text(encoding="utf-8").splitlines()
    forged = {**json.loads(kept[-2]), "at": "2026-01-01T00:00:00.000000+00:00"}  # hide the deletion
    path.write_text("\n".join([*kept[:-2], json.dumps(forged)]) + "\n", encoding="utf-8")
    ran = run_cli(capsys, "audit", "verify")
    assert ran.returncode == 2
    assert ran.stderr.splitlines() == [
        f"ledgerlink: {path}:6: bad signature on the checkpoint of entry {forged['seq']} (the file was edited, "
        "or signed with another key)"]
    assert KEY not in ran.stderr + ran.stdout


def test_checkpoints_signed_with_another_key_do_not_verify(capsys, checkpointed, monkeypatch):
    monkeypatch.setenv("LEDGERLINK_CONN_AUDIT_KEY", json.dumps({"conn_type": "generic", "password": "other"}))
    ran = run_cli(capsys, "audit", "verify")
    assert ran.returncode == 2
    assert ":1: bad signature on the checkpoint of entry" in ran.stderr


def test_without_a_checkpoint_verify_says_what_it_cannot_see(capsys, store_url, monkeypatch):
    monkeypatch.setenv("LEDGERLINK_STORE_URL", store_url)
    monkeypatch.delenv("LEDGERLINK_AUDIT_CHECKPOINT", raising=False)
    Store().audit("test.one", "item:0", {})
    ran = run_cli(capsys, "audit", "verify")
    assert ran.returncode == 0
    assert "no checkpoint configured" in ran.stdout


def test_a_signing_key_without_a_file_or_a_key_is_a_config_error(monkeypatch, tmp_path):
    monkeypatch.delenv("LEDGERLINK_AUDIT_CHECKPOINT", raising=False)
    monkeypatch.setenv("LEDGERLINK_AUDIT_CHECKPOINT_KEY", "audit_key")
    with pytest.raises(ConfigError, match="LEDGERLINK_AUDIT_CHECKPOINT is not"):
        AuditCheckpoint.from_settings()
    monkeypatch.setenv("LEDGERLINK_AUDIT_CHECKPOINT", str(tmp_path / "cp"))
    monkeypatch.setenv("LEDGERLINK_CONN_AUDIT_KEY", json.dumps({"conn_type": "generic", "host": "x"}))
    with pytest.raises(ConfigError, match="has no password or extra 'key'"):
        AuditCheckpoint.from_settings()
