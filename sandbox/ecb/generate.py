"""Writes eurofxref-hist-sample.csv: generated sample rates in the ECB layout, NOT real ECB data.

    .venv/bin/python sandbox/ecb/generate.py [--out PATH]

One row per TARGET business day from 2024-01-02 to 2028-12-29, newest first. Each day, in column
order, every currency moves from its last rate by k units, k = random.Random(20240101).randint(-4, 4);
a unit is 0.05 % of the currency's level cut to its decimals; a move that would take a rate more
than 10 % from its level goes the other way. Regenerating gives the same file byte for byte; a
longer period only adds rows after the last one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

from dateutil.easter import easter

SAMPLE = Path(__file__).resolve().parent / "eurofxref-hist-sample.csv"
FIRST, LAST = dt.date(2024, 1, 1), dt.date(2028, 12, 31)
SEED = 20240101
# currency: (level, decimals), in the file's column order
LEVELS = {"USD": ("1.09", 4), "JPY": ("160", 2), "CZK": ("24.5", 3), "DKK": ("7.455", 4),
          "GBP": ("0.86", 4), "SEK": ("11.3", 3), "CHF": ("0.95", 4), "NOK": ("11.5", 3)}
NOT_PUBLISHED = {("JPY", dt.date(2024, 6, 14)), ("JPY", dt.date(2025, 3, 3))}  # N/A: the fallback


def target_holiday(day: dt.date) -> bool:
    """1 January, Good Friday, Easter Monday, 1 May, 25 and 26 December."""
    e = easter(day.year)
    return (day.month, day.day) in {(1, 1), (5, 1), (12, 25), (12, 26)} or day in (
        e - dt.timedelta(days=2), e + dt.timedelta(days=1))


def business_days(first: dt.date = FIRST, last: dt.date = LAST) -> list[dt.date]:
    days = (first + dt.timedelta(days=n) for n in range((last - first).days + 1))
    return [d for d in days if d.weekday() < 5 and not target_holiday(d)]


def rows() -> list[str]:
    """The file's lines, header first, then newest day first."""
    rng = random.Random(SEED)  # noqa: S311 - sample data
    level = {c: Decimal(v) for c, (v, _) in LEVELS.items()}
    step = {c: Decimal(1).scaleb(-places) for c, (_, places) in LEVELS.items()}
    unit = {c: (level[c] * Decimal("0.0005")).quantize(step[c], rounding=ROUND_FLOOR) for c in LEVELS}
    rate = dict(level)
    days = []
    for day in business_days():
        cells = []
        for c in LEVELS:
            k = rng.randint(-4, 4)
            moved = rate[c] + k * unit[c]
            rate[c] = moved if abs(moved - level[c]) <= level[c] / 10 else rate[c] - k * unit[c]
            cells.append("N/A" if (c, day) in NOT_PUBLISHED else format(rate[c].quantize(step[c]), "f"))
        days.append(f"{day.isoformat()},{','.join(cells)},")
    return [f"Date,{','.join(LEVELS)},", *reversed(days)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=SAMPLE)
    args = parser.parse_args()
    args.out.write_text("\n".join(rows()) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
