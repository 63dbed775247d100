"""Regenerate the console's screenshots (docs/console/*.png, shown in the README).

Runs the browser tests (tests/test_console_browser.py): they start the UI demo, sign in through
Airflow's login form in headless Chromium (/usr/bin/chromium) and save a full-page PNG of each page
as they go. Takes a few minutes (the demo starts a real Airflow).

    .venv/bin/python scripts/console_screenshots.py [--out docs/console]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "console", help="folder for the PNGs")
    args = parser.parse_args(argv)
    env = {**os.environ, "LEDGERLINK_CONSOLE_SCREENSHOTS": str(args.out.resolve()),
           "LEDGERLINK_REQUIRE_BROWSER": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "pytest", "tests/test_console_browser.py", "-q", "-p",
                           "no:cacheprovider"], cwd=ROOT, env=env)
    if done.returncode == 0:
        print(f"screenshots in {args.out}: " + ", ".join(sorted(p.name for p in args.out.glob("*.png"))))
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
