"""Generate a Dutch accounts-payable export in the `invoices_nl` layout, with some bad rows.

Used by the demo, the end-to-end tests and the benchmark. Deterministic for a given seed.

    python -m sandbox.generate_invoices_nl OUT.csv --rows 1000 --bad-share 0.02 [--encoding cp1252]

Bad rows carry one defect each, cycling through: an unparseable amount, an unknown status,
an invalid IBAN, totals that do not add up, a missing invoice number and an impossible date.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

HEADER = [
    "Factuurnummer", "Crediteurnummer", "Crediteurnaam", "IBAN", "Factuurdatum", "Vervaldatum", "Valuta",
    "Bedrag excl. BTW", "BTW", "Bedrag incl. BTW", "Betalingsconditie", "Omschrijving", "Status",
]
VENDORS = [
    ("CR1001", "Bakkerij Van Dijk B.V.", "NL91ABNA0417164300"),
    ("CR1002", "Groothandel Jansen & Zn.", "NL20INGB0001234567"),
    ("CR1003", "Café IJsselmonde", "NL39RABO0300065264"),
    ("CR1004", "Müller Logistik GmbH", "DE89370400440532013000"),
    ("CR1005", "Techniek Noord B.V.", "NL02ABNA0123456789"),
    ("CR1006", "Société Générale Fournitures", "FR1420041010050500013M02606"),
]
STATUSES = ["Open", "Open", "Open", "Goedgekeurd", "Goedgekeurd", "Geblokkeerd", "Betwist", "Betaald"]
DEFECTS = ("bad_amount", "unknown_status", "invalid_iban", "totals", "missing_number", "bad_date")


def nl_amount(value: Decimal) -> str:
    """1234.5 -> '1.234,50' (Dutch thousands dot, decimal comma)."""
    sign = "-" if value < 0 else ""
    whole, frac = f"{abs(value):.2f}".split(".")
    groups = []
    while whole:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    return f"{sign}{'.'.join(groups)},{frac}"


def rows(count: int, *, bad_share: float = 0.02, seed: int = 7, prefix: str = "F") -> Iterator[list[str]]:
    rnd = random.Random(seed)
    bad_every = round(1 / bad_share) if bad_share > 0 else 0
    for i in range(1, count + 1):
        vendor_id, name, iban = VENDORS[i % len(VENDORS)]
        day, month = 1 + i % 28, 1 + (i // 28) % 12
        excl = Decimal(rnd.randint(-2_000, 500_000)) / 100
        tax = (excl * Decimal("0.21")).quantize(Decimal("0.01"))
        row = [
            f"{prefix}{2024_000000 + i}", vendor_id, name, iban if i % 5 else _spaced(iban),
            f"{day:02d}-{month:02d}-2024", f"{day:02d}-{month:02d}-2025", "EUR",
            nl_amount(excl), nl_amount(tax), nl_amount(excl + tax), "30 dagen netto",
            f"Levering {i}", STATUSES[i % len(STATUSES)],
        ]
        if bad_every and i % bad_every == 0:
            _spoil(row, DEFECTS[(i // bad_every) % len(DEFECTS)])
        yield row


def _spaced(iban: str) -> str:
    return " ".join(iban[k:k + 4] for k in range(0, len(iban), 4)).lower()


def _spoil(row: list[str], defect: str) -> None:
    if defect == "bad_amount":
        row[9] = "12,3x"
    elif defect == "unknown_status":
        row[12] = "Onbekend"
    elif defect == "invalid_iban":
        row[3] = "NL00BANK0123456789"
    elif defect == "totals":
        row[9] = "1,00" if row[9] != "1,00" else "2,00"
    elif defect == "missing_number":
        row[0] = ""
    elif defect == "bad_date":
        row[4] = "31-02-2024"


def write_export(path: Path, count: int, *, bad_share: float = 0.02, seed: int = 7, encoding: str = "utf-8-sig",
                 newline: str = "\r\n", prefix: str = "F") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    with open(tmp, "w", encoding=encoding, newline="") as out:
        out.write(";".join(HEADER) + newline)
        for row in rows(count, bad_share=bad_share, seed=seed, prefix=prefix):
            out.write(";".join(row) + newline)
    tmp.replace(path)  # readers never see a half-written export
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--bad-share", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--encoding", default="utf-8-sig", help="utf-8-sig (with BOM) or cp1252")
    args = parser.parse_args()
    write_export(args.out, args.rows, bad_share=args.bad_share, seed=args.seed, encoding=args.encoding)
    print(f"wrote {args.rows} rows to {args.out}")


if __name__ == "__main__":
    main()
