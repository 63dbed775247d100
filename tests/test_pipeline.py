"""The feed pipeline without Airflow: map, validate, quarantine, load, control totals, replay."""

from __future__ import annotations

import csv
import gc
import os
import shutil
import subprocess
import sys
from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ledgerlink.config import BUNDLED_MAPPINGS_DIR
from ledgerlink.errors import ControlTotalsError
from ledgerlink.pipeline import steps
from ledgerlink.pipeline.control import ControlTotals, Totals
from ledgerlink.pipeline.replay import replay
from ledgerlink.pipeline.steps import run_file
from sandbox.generate_invoices_nl import HEADER, rows, write_export

MAPPING = BUNDLED_MAPPINGS_DIR / "csv" / "invoices_nl.yaml"
FEED = "invoices_nl_folder"


def expected_good_totals(count: int, bad_share: float) -> tuple[int, Decimal]:
    """Rows the generator left good, and their amount incl. tax, computed from the generator itself."""
    bad_every = round(1 / bad_share)
    n, total = 0, Decimal(0)
    for i, row in enumerate(rows(count, bad_share=bad_share), start=1):
        if i % bad_every == 0:
            continue
        n += 1
        total += Decimal(row[9].replace(".", "").replace(",", "."))
    return n, total


def test_good_rows_load_and_bad_rows_are_quarantined_with_their_reasons(store, tmp_path):
    path = write_export(tmp_path / "export.csv", 120, bad_share=0.05)
    summary = run_file(store, FEED, MAPPING, path)
    good, amount = expected_good_totals(120, 0.05)
    assert (summary.read, summary.inserted, summary.quarantined) == (120, good, 120 - good)
    assert summary.totals["loaded"]["amounts"] == {"EUR": f"{amount:.2f}"}
    assert store.count_records("invoice") == good
    entries = store.list_quarantine(feed=FEED, limit=100)
    # The generator spoils rows 20, 40, ...; the header is row 1, so row i of data is source row i + 1.
    assert sorted(e["row"] for e in entries) == [i + 1 for i in range(20, 121, 20)]
    for e in entries:
        first = e["errors"][0]
        assert first["field"] and first["rule"] and first["message"] and first["mapping_line"] > 0
        assert e["raw"]["Factuurnummer"] is not None  # the original row is kept for replay
        assert e["source_sha256"] == summary.source["sha256"]


def test_run_keeps_control_totals_that_add_up(store, tmp_path):
    path = write_export(tmp_path / "export.csv", 60, bad_share=0.1)
    summary = run_file(store, FEED, MAPPING, path)
    run = store.get_run(summary.run_id)
    totals = run["totals"]
    assert run["status"] == "succeeded"
    assert totals["read"]["count"] == totals["loaded"]["count"] + totals["quarantined"]["count"] == 60
    read, loaded, quarantined = (Decimal(totals[k]["amounts"].get("EUR", "0")) for k in ("read", "loaded", "quarantined"))
    assert read == loaded + quarantined


def test_control_totals_that_do_not_add_up_fail_loudly():
    totals = ControlTotals(read=Totals(count=3), loaded=Totals(count=1), quarantined=Totals(count=1))
    with pytest.raises(ControlTotalsError, match="feed x: control totals do not add up"):
        totals.check("feed x")


def test_same_content_again_is_skipped_and_names_the_earlier_run(store, tmp_path):
    path = write_export(tmp_path / "export.csv", 30)
    first = run_file(store, FEED, MAPPING, path)
    copy = tmp_path / "export_resent.csv"
    shutil.copy(path, copy)
    second = run_file(store, FEED, MAPPING, copy)
    assert second.status == "skipped"
    assert first.run_id in second.message and "export.csv" in second.message
    assert store.count_records("invoice") == first.inserted


def test_changed_file_adds_versions_only_for_changed_rows(store, tmp_path):
    path = write_export(tmp_path / "export.csv", 40, bad_share=0)
    run_file(store, FEED, MAPPING, path)
    with open(path, encoding="utf-8-sig", newline="") as fh:
        data = list(csv.reader(fh, delimiter=";"))
    changed = {3, 7, 11}
    for i in changed:  # data[i] is data row i; keep excl + tax = incl
        data[i][7], data[i][8], data[i][9] = "100,00", "21,00", "121,00"
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh, delimiter=";", lineterminator="\r\n").writerows(data)
    summary = run_file(store, FEED, MAPPING, path)
    assert (summary.inserted, summary.updated, summary.unchanged) == (0, 3, 37)
    versions = {r["natural_key"]: r["version"] for r in store.current_records("invoice")}
    changed_numbers = {data[i][0] for i in changed}
    assert {k for k, v in versions.items() if v == 2} == {k for k in versions if any(n in k for n in changed_numbers)}


def test_duplicate_natural_keys_in_one_file_are_quarantined(store, tmp_path):
    path = tmp_path / "dup.csv"
    good = list(rows(3, bad_share=0))
    good[2][0], good[2][1] = good[0][0], good[0][1]
    path.write_text(";".join(HEADER) + "\n" + "\n".join(";".join(r) for r in good) + "\n", encoding="utf-8")
    summary = run_file(store, FEED, MAPPING, path)
    assert summary.inserted == 1
    rules = {e["row"]: e["errors"][0]["rule"] for e in store.list_quarantine(feed=FEED)}
    assert rules == {2: "key.duplicate", 4: "key.duplicate"}


def test_replay_after_a_mapping_fix_loads_only_the_quarantined_rows(store, tmp_path, monkeypatch):
    mapping = tmp_path / "invoices_nl.yaml"
    shutil.copy(MAPPING, mapping)
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"feeds:\n  - name: replay_test\n    entity: invoice\n    mapping: {mapping}\n"
                     f"    source: {{connector: folder, path: {tmp_path}}}\n")
    monkeypatch.setenv("LEDGERLINK_FEEDS", str(feeds))
    path = tmp_path / "export.csv"
    data = list(rows(5, bad_share=0))
    data[1][12] = "Onbekend"        # unknown status: fixable in the mapping
    data[3][9] = "12,3x"            # a broken amount: not fixable
    path.write_text(";".join(HEADER) + "\n" + "\n".join(";".join(r) for r in data) + "\n", encoding="utf-8")
    first = run_file(store, "replay_test", mapping, path)
    assert (first.inserted, first.quarantined) == (3, 2)

    text = mapping.read_text(encoding="utf-8")
    assert "Betaald: paid" in text
    mapping.write_text(text.replace("Betaald: paid", "Betaald: paid, Onbekend: open"), encoding="utf-8")
    summaries = replay(store, feed="replay_test", actor="test")
    assert [(s.inserted, s.quarantined) for s in summaries] == [(1, 1)]
    assert store.count_records("invoice") == 4
    still_open = store.list_quarantine(feed="replay_test", status="open")
    assert [(e["row"], e["errors"][0]["field"]) for e in still_open] == [(5, "amount_incl_tax")]
    assert len(store.list_quarantine(feed="replay_test", status="replayed")) == 2
    assert store.verify_audit_chain().ok


def test_drift_with_policy_fail_loads_nothing_and_leaves_the_file_unprocessed(store, tmp_path):
    mapping = tmp_path / "invoices_nl.yaml"
    mapping.write_text(MAPPING.read_text(encoding="utf-8").replace("on_drift: report", "on_drift: fail"),
                       encoding="utf-8")
    assert "on_drift: fail" in mapping.read_text(encoding="utf-8")
    path = tmp_path / "export.csv"
    data = list(rows(3, bad_share=0))
    path.write_text(";".join([*HEADER, "Extra"]) + "\n" + "\n".join(";".join([*r, "x"]) for r in data) + "\n",
                    encoding="utf-8")
    with pytest.raises(Exception, match="Extra"):
        run_file(store, FEED, mapping, path)
    assert store.count_records("invoice") == 0
    runs = store.list_runs(feed=FEED)
    assert runs[0]["status"] == "failed" and "Extra" in runs[0]["error"]
    from ledgerlink.pipeline.steps import SourceFile

    assert store.find_processed_file(FEED, SourceFile.from_path(path).sha256) is None


def test_a_run_maps_and_loads_with_the_cyclic_collector_paused_and_resumes_it(store, tmp_path, monkeypatch):
    """The collector is set off at every allocation here; it still runs around the run, never inside it."""
    path = write_export(tmp_path / "export.csv", 200, bad_share=0.05)
    inside: list[str] = []
    real_prepare, real_load = steps.prepare, store.load

    def prepare(*args, **kwargs):
        inside.append(f"prepare: collector {'on' if gc.isenabled() else 'off'}")
        return real_prepare(*args, **kwargs)

    def load(*args, **kwargs):
        inside.append(f"load: collector {'on' if gc.isenabled() else 'off'}")
        return real_load(*args, **kwargs)

    monkeypatch.setattr(steps, "prepare", prepare)
    monkeypatch.setattr(store, "load", load)
    threshold = gc.get_threshold()
    gc.set_threshold(1)
    try:
        summary = run_file(store, FEED, MAPPING, path)
    finally:
        gc.set_threshold(*threshold)
    assert inside == ["prepare: collector off", "load: collector off"]
    assert gc.isenabled()
    assert summary.inserted + summary.quarantined == 200


def test_the_collector_resumes_after_a_failure_and_stays_off_when_it_was_off():
    with pytest.raises(RuntimeError), steps.collector_paused():
        assert not gc.isenabled()
        raise RuntimeError("bad batch")
    assert gc.isenabled()
    gc.disable()
    try:
        with steps.collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


@given(st.lists(st.tuples(st.sampled_from(["EUR", "JPY", "USD", None]),
                          st.one_of(st.none(), st.from_regex(r"-?[0-9]{1,18}(\.[0-9]{1,10})?", fullmatch=True))),
                max_size=40))
def test_control_sums_column_wise_equal_the_decimal_sums(pairs):
    """The control totals' column-wise sums give what the per-value Decimal sums give, to the digit
    (each currency at the scale of its own amounts)."""
    import numpy as np

    from ledgerlink.pipeline.steps import _amount_sums, _decimal_sums

    currencies = np.array([c for c, _ in pairs], dtype=object)
    amounts = np.array([a for _, a in pairs], dtype=object)
    fast, exact = _amount_sums(currencies, amounts), _decimal_sums(currencies, amounts)
    assert fast is not None
    assert [(c, str(t), u) for c, t, u in fast if c] == [(c, str(t), u) for c, t, u in exact if c]
    assert [u for c, _, u in fast if c is None] == [u for c, _, u in exact if c is None]


def test_control_sums_leave_what_is_not_plain_text_to_the_decimal_sums():
    import numpy as np

    from ledgerlink.pipeline.steps import _amount_sums

    assert _amount_sums(np.array(["EUR"], dtype=object), np.array(["1e5"], dtype=object)) is None
    assert _amount_sums(np.array(["EUR"], dtype=object), np.array([12], dtype=object)) is None


@pytest.mark.parametrize("preset", [None, "dirty_decay_ms:10000"])
def test_the_allocator_settings_are_defaults_the_environment_overrides(preset):
    """polars' jemalloc gives freed memory back quickly unless the environment already says how it should
    behave; the setting is in place when polars loads (which puts its own defaults first, so the last
    setting of each option, ours or the environment's, counts)."""
    env = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    if preset is not None:
        env["_RJEM_MALLOC_CONF"] = preset
    probe = "import os, sys, ledgerlink.pipeline.steps; assert 'polars' in sys.modules; print(os.environ['_RJEM_MALLOC_CONF'])"
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("," + (preset or "dirty_decay_ms:250,muzzy_decay_ms:0"))


_ARROW_PROBE = """
import time, ledgerlink, numpy as np, pyarrow as pa, pyarrow.compute as pc
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 >> 20
base = pa.array(np.zeros(5_000_000))
before = rss()
held = [pc.add(base, i) for i in range(8)]  # 320 MB from Arrow's allocator, written
peak = rss()
del held
time.sleep(0.05)
print(before, peak, rss())
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads the process's memory from /proc")
@pytest.mark.parametrize("preset", [None, "100000"])
def test_arrow_gives_freed_memory_back_unless_the_environment_says_otherwise(preset):
    """Memory Arrow's allocator freed leaves the process at once (a dropped source table does not raise a
    big load's peak); a purge delay set in the environment wins."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMALLOC_")}
    if preset is not None:
        env["MIMALLOC_PURGE_DELAY"] = preset
    out = subprocess.run([sys.executable, "-c", _ARROW_PROBE], env=env, capture_output=True, text=True, check=True)
    before, peak, after = map(int, out.stdout.split())
    assert peak - before > 250
    if preset is None:
        assert after - before < 50
    else:
        assert after - before > 250


# Characters both JSON encoders write as they are, and those they escape.
_PLAIN_TEXT = st.text(alphabet=st.sampled_from(["a", "é", "/", " ", "\x7f", "\u2028", "😀", "{", ":"]), max_size=6)
_JSON_TEXT = _PLAIN_TEXT | st.text(alphabet=st.sampled_from(["a", "/", '"', "\\", "\n", "\x00", "\x1f"]), max_size=4)


@given(st.lists(st.tuples(_JSON_TEXT, _JSON_TEXT), max_size=12), st.booleans(), st.booleans())
@example([("x/y", "z")], True, False)
def test_json_text_built_column_wise_is_what_pandas_writes(rows, arrow, with_null):
    """Payloads and natural keys built by polars (joined pieces when nothing needs escaping, else its JSON
    encoder) are byte for byte the JSON pandas writes, so every stored content hash stays the same."""
    import pandas as pd
    import pyarrow as pa

    from ledgerlink.pipeline.steps import _json_column, _json_lines

    def column(values: list) -> pd.Series:
        if arrow and all(v is not None for v in values):
            return pd.Series(pd.arrays.ArrowExtensionArray(pa.array(values, pa.string())))
        return pd.Series(values, dtype=object)

    second = [None if with_null and i % 2 else c for i, (_, c) in enumerate(rows)]
    frame = pd.DataFrame({"a/b": column([a for a, _ in rows]), "c": column(second)})
    assert _json_column(frame, ["a/b", "c"]).to_list() == (_json_lines(frame) if rows else [])
