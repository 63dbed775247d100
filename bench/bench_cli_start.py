"""Benchmark: how fast the command line starts, against a bare ``python -c pass`` in the same run.

Measured, each in a fresh process, ``--repeat`` times after one warm-up (the median is printed):

* baseline - ``python -c pass``: the interpreter alone (site, the installed packages' .pth files);
* help     - ``ledgerlink --help``: builds every command group's parser;
* preview  - ``ledgerlink mapping preview`` of a 10-row invoice export (mappings/csv/invoices_nl.yaml):
             a small real command, pandas and the mapping engine included.

Wall and CPU seconds (user + sys of the child) are both printed: on a shared machine the CPU time is the
steadier figure. Bytecode caching is on for the children (PYTHONDONTWRITEBYTECODE is dropped), as for an
installed package.

    .venv/bin/python bench/bench_cli_start.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sandbox.generate_invoices_nl import write_export  # noqa: E402

MAPPING = ROOT / "ledgerlink" / "mappings" / "csv" / "invoices_nl.yaml"


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sample = write_export(Path(tmp) / "export.csv", 10, bad_share=0.0)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
                   LEDGERLINK_HOME=str(Path(tmp) / "home"), AIRFLOW_HOME=str(Path(tmp) / "airflow"))
        cli = [sys.executable, "-m", "ledgerlink.cli"]
        cases = {
            "baseline (python -c pass)": [sys.executable, "-c", "pass"],
            "ledgerlink --help": [*cli, "--help"],
            "ledgerlink mapping preview (10 rows)": [*cli, "mapping", "preview", str(MAPPING), str(sample)],
        }
        figures: dict[str, tuple[float, float]] = {}
        for name, argv in cases.items():
            _timed(argv, env)  # warm-up: bytecode written, files in the page cache
            runs = [_timed(argv, env) for _ in range(args.repeat)]
            figures[name] = (statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs))
    base_wall, base_cpu = figures["baseline (python -c pass)"]
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}; "
          f"median of {args.repeat} runs")
    print(f"{'command':40} {'wall s':>8} {'cpu s':>8} {'wall - baseline':>16}")
    for name, (wall, cpu) in figures.items():
        print(f"{name:40} {wall:8.3f} {cpu:8.3f} {wall - base_wall:16.3f}")


if __name__ == "__main__":
    main()
