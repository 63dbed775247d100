"""trytond with the sandbox's fixed date as Tryton's today (``ir.date.today``), so that what Tryton
dates itself (a delegation move, a posting date) falls in the seeded fiscal years in any calendar
year. Runs with the sandbox's python; the arguments after the date are trytond's:

    sandbox/tryton/.venv/bin/python sandbox/tryton/trytond_at.py 2026-11-30 -c trytond.conf
"""

import datetime as dt
import runpy
import sys
from pathlib import Path


def main(argv: list[str]) -> None:
    today, args = dt.date.fromisoformat(argv[0]), argv[1:]
    from trytond.config import config

    config.update_etc(args[args.index("-c") + 1])  # before any other trytond import reads it
    from trytond.ir.date import Date

    Date.today = staticmethod(lambda timezone=None: today)
    trytond = Path(sys.executable).with_name("trytond")
    sys.argv = [str(trytond), *args]
    runpy.run_path(str(trytond), run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
