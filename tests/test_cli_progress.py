"""Long commands show their progress on a terminal (stderr) and nothing when piped; `records list` pages."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from ledgerlink import progress
from ledgerlink.cli import main
from sandbox.generate_invoices_nl import write_export
from tests.fixtures.cli import run_cli

FEED = "invoices_nl_folder"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LEDGERLINK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LEDGERLINK_STORE_URL", raising=False)
    return tmp_path / "home"


def test_a_terminal_sees_the_steps_and_counts_then_a_clean_line() -> None:
    term = Terminal()
    with progress.shown("run feed_x", stream=term):
        progress.note("mapping a.csv")
        assert list(progress.counted(iter(range(3)), "fetched")) == [0, 1, 2]
    text = term.getvalue()
    assert "\rrun feed_x: mapping a.csv (" in text.replace("\x1b[K", "")
    assert "run feed_x: fetched 3 (" in text  # the final count is always drawn
    assert text.endswith("\r\x1b[K")  # erased before the command prints its result


def test_nothing_is_written_when_piped_or_outside_a_command() -> None:
    piped = io.StringIO()
    with progress.shown("run feed_x", stream=piped):
        progress.note("mapping a.csv")
        assert list(progress.counted(["a", "b"], "fetched", total=2)) == ["a", "b"]
    assert piped.getvalue() == ""
    progress.note("no command open")  # a library caller (the scheduler): no line, no error
    assert list(progress.counted([1], "sent")) == [1]


def test_run_shows_its_steps_on_a_terminal_only(capsys, home, tmp_path, monkeypatch) -> None:
    export = write_export(tmp_path / "export.csv", 30, bad_share=0.0)
    piped = run_cli(capsys, "run", FEED, str(export))
    assert piped.returncode == 0, piped.stderr
    assert "\r" not in piped.stderr and "loading" not in piped.stderr

    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    export2 = write_export(tmp_path / "export2.csv", 31, bad_share=0.0)
    assert main(["run", FEED, str(export2)]) == 0
    shown = term.getvalue()
    assert f"run {FEED}: mapping export2.csv" in shown
    assert f"run {FEED}: loading " in shown and " to quarantine" in shown
    assert shown.endswith("\r\x1b[K")
    assert "export2.csv: read 31, new 1" in capsys.readouterr().out  # the summary goes to stdout as before


def _keys(out: str) -> list[str]:
    return [json.loads(line)["key"] for line in out.splitlines()]


def test_records_list_pages_by_limit_offset_and_cursor(capsys, home, tmp_path, monkeypatch) -> None:
    export = write_export(tmp_path / "export.csv", 25, bad_share=0.0)
    assert run_cli(capsys, "run", FEED, str(export)).returncode == 0
    everything = _keys(run_cli(capsys, "records", "list", "invoice", "--limit", "1000").stdout)
    assert len(everything) == 25 and everything == sorted(everything)

    default = run_cli(capsys, "records", "list", "invoice")
    assert _keys(default.stdout) == everything  # 25 is within the default page of 50
    assert "showing" not in default.stderr  # piped: the records alone

    first = _keys(run_cli(capsys, "records", "list", "invoice", "--limit", "10").stdout)
    assert first == everything[:10]
    assert _keys(run_cli(capsys, "records", "list", "invoice", "--limit", "10", "--offset", "10").stdout) \
        == everything[10:20]
    after = _keys(run_cli(capsys, "records", "list", "invoice", "--limit", "10", "--after", first[-1]).stdout)
    assert after == everything[10:20]

    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    assert main(["records", "list", "invoice", "--limit", "10", "--after", everything[19]]) == 0
    assert _keys(capsys.readouterr().out) == everything[20:]
    assert term.getvalue() == "showing 5 of 25 invoice records\n"
    term.truncate(0), term.seek(0)
    assert main(["records", "list", "invoice", "--limit", "10"]) == 0
    assert term.getvalue().startswith("showing 10 of 25 invoice records; next page: --after ")


def test_records_list_rejects_an_empty_page(capsys, home) -> None:
    ran = run_cli(capsys, "records", "list", "invoice", "--limit", "0")
    assert ran.returncode == 2 and ran.stderr.count("\n") == 1 and "--limit" in ran.stderr
