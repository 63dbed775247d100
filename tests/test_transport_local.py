"""LocalFolderSource: listing rules, fetch with sha256, processed/failed moves."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

from connectors.transport import (
    FetchedFile,
    FileSource,
    LocalFolderConfig,
    LocalFolderSource,
    RemoteFile,
)
from ledgerlink.errors import ConfigError, TransportError


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return path


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


def names(files: list[RemoteFile]) -> list[str]:
    return [f.name for f in files]


def test_is_a_file_source(inbox: Path) -> None:
    with LocalFolderSource(LocalFolderConfig(inbox)) as src:
        assert isinstance(src, FileSource)


def test_lists_sorted_and_fetches_with_sha256(inbox: Path, tmp_path: Path) -> None:
    payloads = {"b.csv": b"id,amount\n2,20.00\n", "a.csv": b"id,amount\n1,10.00\n", "notes.txt": b"x"}
    for name, data in payloads.items():
        write(inbox / name, data)
    src = LocalFolderSource(LocalFolderConfig(inbox, pattern="*.csv", stable_seconds=0.05))
    ready = src.list_ready()
    assert names(ready) == ["a.csv", "b.csv"]
    assert ready[0].size == len(payloads["a.csv"])
    assert ready[0].path == str(inbox / "a.csv")

    dest = tmp_path / "downloads"
    for f in ready:
        got = src.fetch(f, dest)
        assert isinstance(got, FetchedFile)
        assert got.path == dest / f.name
        assert got.path.read_bytes() == payloads[f.name]
        assert got.sha256 == hashlib.sha256(payloads[f.name]).hexdigest()
        assert got.size == len(payloads[f.name])
        assert got.source_uri == (inbox / f.name).as_uri()
    assert sorted(p.name for p in dest.iterdir()) == ["a.csv", "b.csv"]  # no .part left behind
    assert (inbox / "a.csv").exists()  # fetch copies, never moves


def test_fetch_never_overwrites_an_existing_local_file(inbox: Path, tmp_path: Path) -> None:
    write(inbox / "a.csv", "new")
    dest = tmp_path / "downloads"
    write(dest / "a.csv", "old")
    src = LocalFolderSource(LocalFolderConfig(inbox, stable_seconds=0))
    got = src.fetch(src.list_ready()[0], dest)
    assert got.path == dest / "a-1.csv"
    assert got.name == "a.csv"
    assert (dest / "a.csv").read_text() == "old"
    assert got.path.read_text() == "new"


def test_done_marker_mode(inbox: Path) -> None:
    write(inbox / "a.csv", "1")
    write(inbox / "a.csv.done", "")
    write(inbox / "b.csv", "2")  # no marker yet
    write(inbox / "orphan.csv.done", "")  # marker without data
    src = LocalFolderSource(LocalFolderConfig(inbox, done_suffix=".done"))
    assert names(src.list_ready()) == ["a.csv"]
    write(inbox / "b.csv.done", "")
    assert names(src.list_ready()) == ["a.csv", "b.csv"]


def test_stable_size_skips_a_file_that_changes_between_listings(inbox: Path) -> None:
    write(inbox / "growing.csv", "id\n1\n")
    write(inbox / "steady.csv", "id\n1\n")
    src = LocalFolderSource(LocalFolderConfig(inbox, stable_seconds=0.01))
    slept: list[float] = []

    def append_while_waiting(seconds: float) -> None:
        slept.append(seconds)
        with open(inbox / "growing.csv", "a") as fh:
            fh.write("2\n")

    src._sleep = append_while_waiting
    assert names(src.list_ready()) == ["steady.csv"]
    assert slept == [0.01]
    src._sleep = time.sleep
    assert names(src.list_ready()) == ["growing.csv", "steady.csv"]


def test_stable_size_with_a_real_writer(inbox: Path) -> None:
    path = write(inbox / "upload.csv", "id\n")
    stop, wrote = threading.Event(), threading.Event()

    def writer() -> None:
        with open(path, "a") as fh:
            while not stop.is_set():
                fh.write("1\n")
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
        src = LocalFolderSource(LocalFolderConfig(inbox, stable_seconds=0.2))
        src._sleep = wait_and_see_a_write
        assert src.list_ready() == []
        src._sleep = time.sleep
    finally:
        stop.set()
        thread.join()
    assert names(src.list_ready()) == ["upload.csv"]


def test_no_sleep_when_nothing_to_check(inbox: Path) -> None:
    src = LocalFolderSource(LocalFolderConfig(inbox, stable_seconds=30))
    slept: list[float] = []
    src._sleep = slept.append
    assert src.list_ready() == []
    assert slept == []


def test_files_unchanged_for_longer_than_the_wait_are_ready_without_it(inbox: Path) -> None:
    src = LocalFolderSource(LocalFolderConfig(inbox, stable_seconds=30))
    slept: list[float] = []
    src._sleep = slept.append
    write(inbox / "old.csv", "x")
    an_hour_ago = time.time() - 3600
    os.utime(inbox / "old.csv", (an_hour_ago, an_hour_ago))
    assert names(src.list_ready()) == ["old.csv"] and slept == []
    write(inbox / "new.csv", "x")   # written just now: the listing waits and looks again
    assert names(src.list_ready()) == ["new.csv", "old.csv"] and slept == [30]


def test_in_progress_names_and_folders_are_ignored(inbox: Path) -> None:
    for name in [".hidden.csv", "a.csv.tmp", "b.csv.part", "c.csv.inprogress", "D.CSV.PART", "ok.csv"]:
        write(inbox / name, "x")
    (inbox / "sub.csv").mkdir()
    (inbox / "link.csv").symlink_to(inbox / "ok.csv")
    src = LocalFolderSource(LocalFolderConfig(inbox, stable_seconds=0))
    assert names(src.list_ready()) == ["ok.csv"]


def test_mark_done_moves_to_processed_and_failed(inbox: Path, tmp_path: Path) -> None:
    write(inbox / "good.csv", "1")
    write(inbox / "good.csv.done", "")
    write(inbox / "bad.csv", "2")
    write(inbox / "bad.csv.done", "")
    failed = tmp_path / "failed"
    cfg = LocalFolderConfig(inbox, done_suffix=".done", processed_dir="processed", failed_dir=failed)
    src = LocalFolderSource(cfg)
    good, bad = sorted(src.list_ready(), key=lambda f: f.name != "good.csv")
    write(inbox / "processed" / "good.csv", "earlier copy")  # name already taken there

    src.mark_done(good, ok=True)
    src.mark_done(bad, ok=False)

    assert sorted(p.name for p in inbox.iterdir()) == ["processed"]
    processed = inbox / "processed"
    assert (processed / "good.csv").read_text() == "earlier copy"  # never overwritten
    assert (processed / "good-1.csv").read_text() == "1"
    assert (processed / "good.csv.done").exists()  # marker follows its file
    assert sorted(p.name for p in failed.iterdir()) == ["bad.csv", "bad.csv.done"]
    assert src.list_ready() == []


def test_mark_done_without_folders_is_a_no_op(inbox: Path) -> None:
    write(inbox / "a.csv", "1")
    src = LocalFolderSource(LocalFolderConfig(inbox, stable_seconds=0))
    f = src.list_ready()[0]
    src.mark_done(f, ok=True)
    src.mark_done(f, ok=False)
    assert (inbox / "a.csv").read_text() == "1"


def test_missing_folder_is_a_transport_error(tmp_path: Path) -> None:
    src = LocalFolderSource(LocalFolderConfig(tmp_path / "nope"))
    with pytest.raises(TransportError, match="does not exist"):
        src.list_ready()


def test_file_removed_before_fetch(inbox: Path, tmp_path: Path) -> None:
    write(inbox / "a.csv", "1")
    src = LocalFolderSource(LocalFolderConfig(inbox, stable_seconds=0))
    f = src.list_ready()[0]
    (inbox / "a.csv").unlink()
    with pytest.raises(TransportError, match="disappeared"):
        src.fetch(f, tmp_path / "dl")
    assert not (tmp_path / "dl").exists() or list((tmp_path / "dl").iterdir()) == []


@pytest.mark.parametrize(
    "kwargs",
    [{"pattern": ""}, {"pattern": "in/*.csv"}, {"done_suffix": ""}, {"stable_seconds": -1}],
)
def test_invalid_config(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        LocalFolderConfig(tmp_path, **kwargs)
