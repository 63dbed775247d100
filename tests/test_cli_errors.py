"""Every command fails on bad input with one line on stderr and exit 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledgerlink.cli import failure_line
from tests.fixtures.cli import run_cli

NOT_A_BANK_FILE = b"garbage\x00\xff not a statement\n"
BAD_YAML = "version: 1\nentity: invoice\n  fields: [\n"

# (id, arguments): {bin} a file no parser knows, {yaml} broken YAML, {jsonl} lines that are not JSON,
# {missing} a path that does not exist.
CASES = [
    ("mapping-validate-missing", ["mapping", "validate", "{missing}"]),
    ("mapping-preview-bad-yaml", ["mapping", "preview", "{yaml}", "{bin}"]),
    ("mapping-test-missing", ["mapping", "test", "{missing}"]),
    ("run-unknown-feed", ["run", "no_such_feed", "{bin}"]),
    ("run-missing-file", ["run", "invoices_nl_folder", "{missing}"]),
    ("runs-show-unknown", ["runs", "show", "no-such-run"]),
    ("runs-list-bad-limit", ["runs", "list", "--limit", "many"]),
    ("quarantine-show-unknown", ["quarantine", "show", "999999"]),
    ("quarantine-replay-unknown", ["quarantine", "replay", "999999"]),
    ("quarantine-discard-unknown", ["quarantine", "discard", "999999", "--reason", "test"]),
    ("records-list-unknown-entity", ["records", "list", "no_such_entity"]),
    ("bank-parse-not-a-statement", ["bank", "parse", "{bin}"]),
    ("bank-load-not-a-statement", ["bank", "load", "bank_statements_folder", "{bin}"]),
    ("bank-load-wrong-feed", ["bank", "load", "invoices_nl_folder", "{bin}"]),
    ("financing-explain-unknown", ["financing", "explain", "NO-SUCH-INVOICE"]),
    ("financing-decide-bad-rules", ["financing", "decide", "--rules", "{yaml}"]),
    ("financing-decide-bad-date", ["financing", "decide", "--today", "yesterday"]),
    ("financing-replay-unknown", ["financing", "replay", "999999"]),
    ("financing-push-unknown-conn", ["financing", "push", "--conn", "no_such_conn"]),
    ("financing-sync-unknown-conn", ["financing", "sync", "--conn", "no_such_conn"]),
    ("financing-reconcile-unknown-conn", ["financing", "reconcile", "--conn", "no_such_conn"]),
    ("einvoice-parse-not-xml", ["einvoice", "parse", "{bin}"]),
    ("einvoice-validate-not-xml", ["einvoice", "validate", "{bin}"]),
    ("erp-sync-unknown-feed", ["erp", "sync", "no_such_feed"]),
    ("erp-writeback-bad-value", ["erp", "writeback", "tryton_supplier_invoices", "1", "write", "{{}}"]),
    ("erp-send-unknown-feed", ["erp", "send", "no_such_feed"]),
    ("cashapp-match-bad-jsonl", ["cashapp", "match", "--open-items", "{jsonl}", "--parties", "{jsonl}",
                                 "--statement", "{bin}"]),
    ("cashapp-run-bad-rules", ["cashapp", "run", "--rules", "{yaml}"]),
    ("cashapp-resolve-unknown", ["cashapp", "resolve", "999999", "--party", "C1"]),
    ("cashapp-reject-unknown", ["cashapp", "reject", "999999", "--reason", "test"]),
    ("cashapp-settle-no-note", ["cashapp", "settle", "999999"]),
    ("cashapp-apply-no-ledger", ["cashapp", "apply"]),
    ("payments-status-bad-jsonl", ["payments", "status", "--payables", "{jsonl}", "--statement", "{bin}"]),
    ("payments-replay-unknown", ["payments", "replay", "999999"]),
    ("payments-send-no-journal", ["payments", "send", "--conn", "no_such_conn"]),
    ("reconcile-bank-bad-date", ["reconcile", "bank", "NL91ABNA0417164300", "--as-of", "soon"]),
    ("unknown-command", ["no-such-command"]),
]


@pytest.fixture
def bad_inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("LEDGERLINK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LEDGERLINK_DEBUG", raising=False)
    (tmp_path / "bad.bin").write_bytes(NOT_A_BANK_FILE)
    (tmp_path / "bad.yaml").write_text(BAD_YAML, encoding="utf-8")
    (tmp_path / "bad.jsonl").write_text("not json\n", encoding="utf-8")
    return {"bin": str(tmp_path / "bad.bin"), "yaml": str(tmp_path / "bad.yaml"),
            "jsonl": str(tmp_path / "bad.jsonl"), "missing": str(tmp_path / "missing.yaml")}


@pytest.mark.parametrize("args", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_ends_in_one_line_and_exit_2(capsys, bad_inputs, args):
    ran = run_cli(capsys, *[a.format(**bad_inputs) for a in args])
    lines = ran.stderr.splitlines()
    assert ran.returncode == 2, ran
    assert len(lines) == 1, ran.stderr
    assert "Traceback" not in ran.stderr + ran.stdout
    assert lines[0].startswith("ledgerlink"), lines


def test_bank_load_names_the_file_and_position(capsys, bad_inputs):
    ran = run_cli(capsys, "bank", "load", "bank_statements_folder", bad_inputs["bin"])
    [line] = ran.stderr.splitlines()
    assert line.startswith(f"ledgerlink: {bad_inputs['bin']}: line 1: not a bank statement format ledgerlink knows (")


def test_yaml_error_names_the_line(capsys, bad_inputs):
    ran = run_cli(capsys, "financing", "decide", "--rules", bad_inputs["yaml"])
    assert ran.stderr.startswith(f"ledgerlink: {bad_inputs['yaml']}:3: not valid YAML: ")


def test_debug_shows_the_traceback(capsys, bad_inputs, monkeypatch):
    ran = run_cli(capsys, "--debug", "bank", "load", "bank_statements_folder", bad_inputs["bin"])
    assert ran.returncode == 2
    assert "Traceback (most recent call last)" in ran.stderr
    assert ran.stderr.splitlines()[-1].startswith("ledgerlink: ")
    monkeypatch.setenv("LEDGERLINK_DEBUG", "1")
    assert "Traceback" in run_cli(capsys, "bank", "load", "bank_statements_folder", bad_inputs["bin"]).stderr


def test_failure_lines():
    assert failure_line(FileNotFoundError(2, "No such file or directory", "/x/y.csv")) == \
        "ledgerlink: /x/y.csv: No such file or directory"
    assert failure_line(ValueError("first\n  second")) == "ledgerlink: first; second"
    assert failure_line(RuntimeError("boom")) == "ledgerlink: RuntimeError: boom"
