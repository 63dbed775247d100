"""Bank-statement corpus check: per format, how many sample files read as SOURCES.md expects, and how
many entries come without a counterparty (no name and no account).

    python bench/bank_corpus.py [FOLDER ...] [--files]     (default: every bank format folder)

Files are read the way a bank feed reads them (``connectors.bank.parse``, money checks included). A
file marked ok/edge is read as expected when it parses; a FAIL file when it is refused (with the
feed setting ``strict: true``: findings such as length overruns are recorded by default). Files that
carry no currency or no account of their own (QIF, Oberbank and Raiffeisen exports) get the feed
settings ``currency: EUR`` and ``account: AT611904300234573201``, as a feed for them must give.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.bank import BankParseError, FeedSettings, Transaction, parse  # noqa: E402
from tests.fixtures.corpus import CORPUS_DIR, expectations  # noqa: E402

FOLDERS = ["camt052", "camt053", "camt054", "mt940", "mt942", "bai2", "coda", "norma43", "ofx", "qif", "bank-csv"]
SETTINGS = {"currency": "EUR", "account": "AT611904300234573201"}


def _read(path: Path, strict: bool) -> list:
    return list(parse(path, FeedSettings.of({**SETTINGS, "strict": strict})))


def _no_counterparty(tx: Transaction) -> bool:
    return not (tx.counterparty_name or tx.counterparty_iban or tx.counterparty_account)


def main(argv: list[str]) -> int:
    folders = [a for a in argv if not a.startswith("-")] or FOLDERS
    show_files = "--files" in argv
    expect = expectations()
    for folder in folders:
        counts: Counter[str] = Counter()
        for path in sorted((CORPUS_DIR / folder).rglob("*")):
            if not path.is_file() or path.name.startswith("LICENSE"):
                continue
            rel = path.relative_to(CORPUS_DIR).as_posix()
            wanted = expect.get(rel, "ok")
            counts["files"] += 1
            try:
                records = _read(path, strict=wanted == "FAIL")
                error = None
            except BankParseError as exc:
                records, error = [], exc
            txs = [r for r in records if isinstance(r, Transaction)]
            bare = sum(1 for t in txs if _no_counterparty(t))
            findings = sum(len(r.extra.get("discrepancies", [])) for r in records if not isinstance(r, Transaction))
            as_expected = (error is not None) == (wanted == "FAIL")
            counts["as_expected"] += as_expected
            counts["entries"] += len(txs)
            counts["no_counterparty"] += bare
            counts["findings"] += findings
            if show_files:
                state = "refused" if error else "read"
                print(f"{rel}\t{wanted}\t{state}\t{'' if as_expected else 'UNEXPECTED'}\t"
                      f"entries={len(txs)}\tno_counterparty={bare}\tfindings={findings}"
                      + (f"\t{error}" if error and not as_expected else ""))
        print(f"{folder}: {counts['as_expected']}/{counts['files']} files as expected, {counts['entries']} entries, "
              f"{counts['no_counterparty']} without counterparty, {counts['findings']} findings")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
