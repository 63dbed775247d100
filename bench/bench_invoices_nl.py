"""Benchmark: the invoices_nl feed pipeline against bare reads of the same file.

Generates Dutch AP exports (about 2% bad rows), or takes the exports given with --files (any file
of the invoices_nl layout: quoted or not, other vendors, more bad rows), then for each runs, each in
a fresh process so peak RSS is its own:
  pandas     pandas.read_csv(path, sep=";", dtype=str)
  polars     polars.read_csv(path, separator=";", infer_schema=False)
  to_sql     pandas.read_csv + DataFrame.to_sql into a new SQLite table with a unique key
  pipeline   what `ledgerlink run` does with the file (steps.run_prepared): checksum, map
             (column-wise), validate, then load into a new store: on SQLite, and on PostgreSQL when
             LEDGERLINK_TEST_PG holds a server URL (each run in a schema of its own, dropped after)
  handover   the same on SQLite with the hand-over between the DAG's map and load tasks: the batch
             written to the staged Arrow IPC file, dropped, and read back before the load, through
             the functions the DAG tasks call
  dag        the same file through the feed's real Airflow DAG (invoices_nl_folder: extract, map,
             load, publish) run with dag.test() into a SQLite store, with its own AIRFLOW_HOME and
             LEDGERLINK_HOME (`airflow db migrate` runs before the clock starts)
and prints seconds, rows/s, peak RSS and the pipeline's time over the bare pandas and polars reads.
With --repeat N every measurement runs N times, in rounds (each round measures every kind once, so
a slow spell of a shared machine falls on all of them), and each kind's fastest run is compared:
the spread of the runs is printed beside it.

    .venv/bin/python bench/bench_invoices_nl.py [--rows 100000 1000000 | --files EXPORT.csv ...]
                                                [--backends sqlite handover postgresql dag] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PG_ENV = "LEDGERLINK_TEST_PG"


def _pipeline(path: str, url: str, tmp: str, *, handover: bool = False) -> dict:
    from ledgerlink.mapping import load_mapping
    from ledgerlink.pipeline.staging import read_batch, write_batch
    from ledgerlink.pipeline.steps import SourceFile, load_batch, prepare_file, release_freed_memory
    from ledgerlink.store import Store

    store = Store(url)
    try:
        mapping = load_mapping(ROOT / "mappings" / "csv" / "invoices_nl.yaml")
        t0 = time.perf_counter()
        source = SourceFile.from_path(Path(path))
        run_id = store.start_run("bench", mapping.entity, source=source.as_dict(), mapping=mapping.display_path)
        t1 = time.perf_counter()
        batch = prepare_file(mapping, source, feed="bench", run_id=run_id, store=store)
        t2 = time.perf_counter()
        if handover:
            staged = write_batch(batch, Path(tmp) / "batch.arrow")
            del batch  # as the DAG's map task does: the load holds only what it reads back
            release_freed_memory()
            batch = read_batch(staged)
        t3 = time.perf_counter()
        summary = load_batch(store, run_id, batch)
        t4 = time.perf_counter()
    finally:
        store.close()
    return {"rows": summary.read, "seconds": t4 - t0, "checksum_s": round(t1 - t0, 2),
            "map_validate_s": round(t2 - t1, 2), "stage_s": round(t3 - t2, 2) if handover else "-",
            "load_s": round(t4 - t3, 2), "loaded": summary.inserted, "quarantined": summary.quarantined}


def _dag_run(path: str) -> dict:
    """Runs in the child that run_child gave its own LEDGERLINK_HOME, AIRFLOW_HOME and store."""
    import shutil

    home = Path(os.environ["LEDGERLINK_HOME"])
    inbox = home / "dropbox" / "invoices_nl"
    inbox.mkdir(parents=True)
    shutil.copy(path, inbox / Path(path).name)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    from ledgerlink.airflow.factory import build_feed_dag
    from ledgerlink.pipeline.feeds import get_feed
    from ledgerlink.store import Store

    dag = build_feed_dag(get_feed("invoices_nl_folder"))
    t0 = time.perf_counter()
    dag_run = dag.test()
    seconds = time.perf_counter() - t0
    state = str(getattr(dag_run, "state", ""))
    if not state.endswith("success"):
        raise SystemExit(f"the DAG run ended {state!r}")
    store = Store()
    try:
        [run] = store.list_runs(limit=1)
    finally:
        store.close()
    totals = json.loads(run["totals"]) if isinstance(run["totals"], str) else run["totals"]
    return {"rows": totals["read"]["count"], "seconds": seconds, "checksum_s": "-", "map_validate_s": "-",
            "stage_s": "-", "load_s": "-", "loaded": totals["loaded"]["count"],
            "quarantined": totals["quarantined"]["count"]}


def _pg_schema_url(admin_url: str, schema: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(admin_url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False)


def measure(kind: str, path: str) -> dict:
    """Runs in a child process: one measurement, printed as JSON."""
    sys.path.insert(0, str(ROOT))
    extra: dict = {}
    if kind == "pandas":
        import pandas as pd

        t0 = time.perf_counter()
        rows = len(pd.read_csv(path, sep=";", dtype=str, encoding="utf-8-sig"))
        seconds = time.perf_counter() - t0
    elif kind == "polars":
        import polars as pl

        t0 = time.perf_counter()
        rows = len(pl.read_csv(path, separator=";", infer_schema=False, encoding="utf8"))
        seconds = time.perf_counter() - t0
    elif kind == "to_sql":
        import sqlite3

        import pandas as pd

        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            frame = pd.read_csv(path, sep=";", dtype=str, encoding="utf-8-sig")
            con = sqlite3.connect(f"{tmp}/plain.db")
            columns = ", ".join(f'"{c}" TEXT' for c in frame.columns)
            con.execute(f'CREATE TABLE invoices ({columns}, UNIQUE ("Crediteurnummer", "Factuurnummer"))')
            frame.to_sql("invoices", con, index=False, if_exists="append", chunksize=100_000)
            con.commit()
            con.close()
            seconds = time.perf_counter() - t0
            rows = len(frame)
    elif kind in ("sqlite", "handover"):
        with tempfile.TemporaryDirectory() as tmp:
            extra = _pipeline(path, f"sqlite:///{tmp}/bench.db", tmp, handover=kind == "handover")
        rows, seconds = extra.pop("rows"), extra.pop("seconds")
    elif kind == "dag":
        extra = _dag_run(path)
        rows, seconds = extra.pop("rows"), extra.pop("seconds")
    elif kind == "postgresql":
        import sqlalchemy as sa

        from ledgerlink.store.db import resolve_url

        admin_url = resolve_url(os.environ[PG_ENV])
        schema = f"ll_bench_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(admin_url)
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        try:
            with tempfile.TemporaryDirectory() as tmp:
                extra = _pipeline(path, _pg_schema_url(admin_url, schema), tmp)
        finally:
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            admin.dispose()
        rows, seconds = extra.pop("rows"), extra.pop("seconds")
    else:
        raise SystemExit(f"unknown measurement {kind!r}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"kind": kind, "rows": rows, "seconds": round(seconds, 3), "peak_rss_mb": round(peak_mb), **extra}


def run_child(kind: str, path: Path) -> dict:
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        if kind == "dag":  # Airflow reads its settings at import: the child's own homes, set before it starts
            env.update(LEDGERLINK_ROOT=str(ROOT), AIRFLOW_CONFIG=str(ROOT / "airflow.cfg"),
                       AIRFLOW_HOME=f"{tmp}/airflow", LEDGERLINK_HOME=f"{tmp}/ledgerlink",
                       LEDGERLINK_STORE_URL=f"sqlite:///{tmp}/store.db")
        out = subprocess.run([sys.executable, __file__, "--child", kind, str(path)], capture_output=True,
                             text=True, cwd=ROOT, env=env)
    if out.returncode != 0:
        raise SystemExit(f"{kind} measurement failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--files", type=Path, nargs="+", metavar="CSV",
                        help="measure these exports of the invoices_nl layout instead of generated ones "
                             "(--rows is then ignored)")
    parser.add_argument("--backends", nargs="+", choices=["sqlite", "handover", "postgresql", "dag"],
                        default=None, help=f"where the pipeline loads (default: sqlite and handover, and postgresql "
                                           f"when ${PG_ENV} is set; handover: SQLite with the DAG tasks' staged "
                                           "file between map and load; dag: through the feed's Airflow DAG run "
                                           "with dag.test(), into SQLite)")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="run every measurement N times in rounds and compare the fastest runs (default 1)")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child)))
        return
    backends = args.backends or ["sqlite", "handover", *(["postgresql"] if os.environ.get(PG_ENV) else [])]
    if "postgresql" in backends and not os.environ.get(PG_ENV):
        raise SystemExit(f"--backends postgresql needs ${PG_ENV} set to a PostgreSQL server URL")
    sys.path.insert(0, str(ROOT))
    from sandbox.generate_invoices_nl import write_export

    OUT.mkdir(parents=True, exist_ok=True)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'rows':>9} {'store':>10} {'pandas s':>8} {'polars s':>8} {'to_sql s':>8} {'pipeline s':>10} "
          f"{'/pandas':>7} {'/polars':>7} {'rows/s':>8} {'peak MB':>7}  breakdown")
    paths = args.files or [OUT / f"invoices_nl_{n}.csv" for n in args.rows]
    for n, path in zip(args.rows if not args.files else [None] * len(paths), paths, strict=True):
        if n is not None and not path.exists():
            write_export(path, n, bad_share=0.02)
        elif not path.is_file():
            raise SystemExit(f"{path}: no such file")
        if args.files:
            print(f"file {path}")
        runs: dict[str, list[dict]] = {}
        for _ in range(max(1, args.repeat)):
            for kind in ("pandas", "polars", "to_sql", *backends):
                runs.setdefault(kind, []).append(run_child(kind, path))
        best = {kind: min(results, key=lambda r: r["seconds"]) for kind, results in runs.items()}
        pandas_read, polars_read, to_sql = best["pandas"], best["polars"], best["to_sql"]
        n = pandas_read["rows"]
        for backend in backends:
            pipe = best[backend]
            print(f"{n:>9} {backend:>10} {pandas_read['seconds']:>8.2f} {polars_read['seconds']:>8.2f} "
                  f"{to_sql['seconds']:>8.2f} {pipe['seconds']:>10.2f} "
                  f"{pipe['seconds'] / pandas_read['seconds']:>6.1f}x {pipe['seconds'] / polars_read['seconds']:>6.1f}x "
                  f"{n / pipe['seconds']:>8.0f} {max(r['peak_rss_mb'] for r in runs[backend]):>7}  checksum "
                  f"{pipe['checksum_s']}s, map+validate {pipe['map_validate_s']}s, stage {pipe['stage_s']}s, "
                  f"load {pipe['load_s']}s; loaded {pipe['loaded']}, quarantined {pipe['quarantined']}; peak MB "
                  f"pandas {pandas_read['peak_rss_mb']}, polars {polars_read['peak_rss_mb']}, to_sql "
                  f"{to_sql['peak_rss_mb']}", flush=True)
        if args.repeat > 1:
            print(f"{'':>9} runs (s): " + "; ".join(
                kind + " " + "/".join(f"{r['seconds']:.2f}" for r in results) for kind, results in runs.items()))
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
