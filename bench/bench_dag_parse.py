"""Benchmark: the parse time of each DAG file in dags/, against a one-task DAG file parsed the same way.

Each file is parsed the way the DAG processor sees it: a fresh interpreter with Airflow already
imported, then the file run on its own. The baseline is a DAG file with one task and nothing else,
measured in the same run, so the ratio says what a file costs beyond any DAG, whatever the machine.
Best of --repeat fresh processes; wall and CPU seconds (on a busy machine CPU is the steadier one).

    .venv/bin/python bench/bench_dag_parse.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DAGS = ROOT / "dags"
BASELINE_DAG = '''from airflow.sdk import DAG, task

with DAG("bench_baseline", schedule=None):
    @task
    def noop() -> None:
        pass

    noop()
'''
PARSE = """import json, runpy, sys, time
import airflow.sdk
t, c = time.perf_counter(), time.process_time()
runpy.run_path(sys.argv[1])
print(json.dumps({"seconds": time.perf_counter() - t, "cpu_seconds": time.process_time() - c}))
"""


def parse_once(path: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", PARSE, str(path)], capture_output=True, text=True, check=True,
                         cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def best_of(path: Path, repeat: int) -> dict[str, float]:
    runs = [parse_once(path) for _ in range(repeat)]
    return {key: min(r[key] for r in runs) for key in ("seconds", "cpu_seconds")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    files = sorted(p for p in DAGS.glob("*.py") if not p.name.startswith("_"))
    with tempfile.TemporaryDirectory(prefix="ledgerlink-bench-dag-") as tmp:
        trivial = Path(tmp) / "baseline_dag.py"
        trivial.write_text(BASELINE_DAG, encoding="utf-8")
        base = best_of(trivial, args.repeat)
    print(f"best of {args.repeat} fresh processes, Airflow imported first; ratios to the one-task DAG file")
    print(f"{'file':<24} {'seconds':>8} {'ratio':>6} {'cpu s':>7} {'ratio':>6}")
    for name, t in [("(one-task DAG)", base), *((p.name, best_of(p, args.repeat)) for p in files)]:
        print(f"{name:<24} {t['seconds']:>8.3f} {t['seconds'] / base['seconds']:>6.1f} "
              f"{t['cpu_seconds']:>7.3f} {t['cpu_seconds'] / base['cpu_seconds']:>6.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
