"""Write a synthetic but realistic camt.053.001.08 statement with N entries, streamed.

One statement for one Dutch EUR account: credits from customers (structured RF reference or free
text), debits to suppliers, card and fee debits, and now and then a salary batch (one entry with
several TxDtls). Amounts are drawn from a seeded generator, so a given (entries, seed) always writes
the same file, and the closing balance is the opening balance plus the signed sum of the entries.

    .venv/bin/python bench/generate_camt053.py OUT.xml --entries 200000
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import escape

NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
ACCOUNT_IBAN = "NL91ABNA0417164300"
ACCOUNT_BIC = "ABNANL2A"
OPENING = Decimal("125000.00")
START = date(2024, 1, 1)
ENTRIES_PER_DAY = 500

NAMES = ("Bakkerij de Vries B.V.", "Jansen Installatietechniek", "Van Dijk Logistiek", "Müller GmbH",
         "Groothandel Peeters NV", "Stichting Het Anker", "De Boer & Zn.", "Schmidt Elektro AG",
         "Visser Kantoorartikelen", "Bos Transport B.V.", "Meijer Catering", "Smit Bouw")
BANKS = (("ABNA", "ABNANL2A"), ("INGB", "INGBNL2A"), ("RABO", "RABONL2U"), ("TRIO", "TRIONL2U"),
         ("SNSB", "SNSBNL2A"), ("BUNQ", "BUNQNL2A"))
BATCH_EVERY = 25
# ISO domain / family / sub-family and the bank's own code: transfer out, direct debit, card payment
DEBIT_CODES = (("PMNT", "ICDT", "ESCT", "N658"), ("PMNT", "RDDT", "ESDD", "N064"),
               ("PMNT", "CCRD", "POSD", "N426"))


@dataclass
class Summary:
    entries: int
    opening: Decimal
    closing: Decimal
    total: Decimal  # signed sum of the entries
    path: Path


def _iban_nl(bank: str, number: int) -> str:
    bban = f"{bank}{number:010d}"
    digits = "".join(str(int(c, 36)) for c in bban + "NL00")
    return f"NL{98 - int(digits) % 97:02d}{bban}"


def _rf_reference(number: int) -> str:
    body = f"{number:012d}"
    digits = "".join(str(int(c, 36)) for c in body + "RF00")
    return f"RF{98 - int(digits) % 97:02d}{body}"


def _amounts(entries: int, seed: int):
    """(cents, is_credit, batch sizes) per entry; drawn from their own generator so that the sum can be
    computed before the file is written (the closing balance comes before the entries)."""
    rng = random.Random(seed)
    for i in range(entries):
        if i % BATCH_EVERY == BATCH_EVERY - 1:
            parts = [rng.randint(150_000, 450_000) for _ in range(rng.randint(3, 6))]
            yield sum(parts), False, parts
        else:
            credit = rng.random() < 0.5
            yield rng.randint(100, 2_000_000), credit, None


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def generate(path: Path | str, entries: int, seed: int = 20240101) -> Summary:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    total_cents = sum(c if credit else -c for c, credit, _ in _amounts(entries, seed))
    opening_cents = int(OPENING * 100)
    closing_cents = opening_cents + total_cents
    days = max(1, (entries + ENTRIES_PER_DAY - 1) // ENTRIES_PER_DAY)
    end = START + timedelta(days=days - 1)
    rng = random.Random(seed + 1)
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        w = out.write
        created = f"{end.isoformat()}T23:30:00+01:00"
        w(f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{NAMESPACE}">\n<BkToCstmrStmt>\n'
          f"<GrpHdr>\n<MsgId>LL-BENCH-{entries}-{seed}</MsgId>\n<CreDtTm>{created}</CreDtTm>\n"
          "<MsgPgntn>\n<PgNb>1</PgNb>\n<LastPgInd>true</LastPgInd>\n</MsgPgntn>\n</GrpHdr>\n"
          f"<Stmt>\n<Id>STMT-{entries}-{seed}</Id>\n"
          f"<ElctrncSeqNb>{days}</ElctrncSeqNb>\n<LglSeqNb>{days}</LglSeqNb>\n"
          f"<CreDtTm>{created}</CreDtTm>\n<FrToDt>\n"
          f"<FrDtTm>{START.isoformat()}T00:00:00+01:00</FrDtTm>\n"
          f"<ToDtTm>{end.isoformat()}T23:59:59+01:00</ToDtTm>\n"
          f"</FrToDt>\n<Acct>\n<Id>\n<IBAN>{ACCOUNT_IBAN}</IBAN>\n</Id>\n<Ccy>EUR</Ccy>\n<Ownr>\n"
          "<Nm>Ledgerlink Demo B.V.</Nm>\n</Ownr>\n<Svcr>\n<FinInstnId>\n"
          f"<BICFI>{ACCOUNT_BIC}</BICFI>\n</FinInstnId>\n</Svcr>\n</Acct>\n")
        for code, cents, when in (("OPBD", opening_cents, START - timedelta(days=1)),
                                  ("CLBD", closing_cents, end)):
            w(f"<Bal>\n<Tp>\n<CdOrPrtry>\n<Cd>{code}</Cd>\n</CdOrPrtry>\n</Tp>\n"
              f'<Amt Ccy="EUR">{_money(abs(cents))}</Amt>\n'
              f"<CdtDbtInd>{'CRDT' if cents >= 0 else 'DBIT'}</CdtDbtInd>\n"
              f"<Dt>\n<Dt>{when.isoformat()}</Dt>\n</Dt>\n</Bal>\n")
        w(f"<TxsSummry>\n<TtlNtries>\n<NbOfNtries>{entries}</NbOfNtries>\n</TtlNtries>\n</TxsSummry>\n")
        for i, (cents, credit, batch) in enumerate(_amounts(entries, seed)):
            w(_entry(i, cents, credit, batch, rng))
        w("<AddtlStmtInf>Synthetic statement written by bench/generate_camt053.py</AddtlStmtInf>\n"
          "</Stmt>\n</BkToCstmrStmt>\n</Document>\n")
    return Summary(entries, OPENING, Decimal(closing_cents).scaleb(-2), Decimal(total_cents).scaleb(-2),
                   path)


def _party(rng: random.Random) -> tuple[str, str, str]:
    bank, bic = rng.choice(BANKS)
    return rng.choice(NAMES), _iban_nl(bank, rng.randrange(10**9)), bic


def _entry(i: int, cents: int, credit: bool, batch: list[int] | None, rng: random.Random) -> str:
    day = (START + timedelta(days=i // ENTRIES_PER_DAY)).isoformat()
    ind = "CRDT" if credit else "DBIT"
    head = (f'<Ntry>\n<NtryRef>{i + 1}</NtryRef>\n<Amt Ccy="EUR">{_money(cents)}</Amt>\n'
            f"<CdtDbtInd>{ind}</CdtDbtInd>\n<Sts>\n<Cd>BOOK</Cd>\n</Sts>\n"
            f"<BookgDt>\n<Dt>{day}</Dt>\n</BookgDt>\n<ValDt>\n<Dt>{day}</Dt>\n</ValDt>\n"
            f"<AcctSvcrRef>ABNA{i + 7_000_000:012d}</AcctSvcrRef>\n")
    if batch is not None:
        details = "".join(_tx_details(f"SAL-{i}-{n}", part, False, rng, salary=True)
                          for n, part in enumerate(batch))
        return (head + _bktxcd("PMNT", "ICDT", "SALA", "N658")
                + f"<NtryDtls>\n<Btch>\n<PmtInfId>SAL-{i}</PmtInfId>\n<NbOfTxs>{len(batch)}</NbOfTxs>\n"
                f'<TtlAmt Ccy="EUR">{_money(cents)}</TtlAmt>\n<CdtDbtInd>DBIT</CdtDbtInd>\n</Btch>\n'
                f"{details}</NtryDtls>\n"
                f"<AddtlNtryInf>SEPA BATCH SALARIES {len(batch)} TX</AddtlNtryInf>\n</Ntry>\n")
    codes = ("PMNT", "RCDT", "ESCT", "N654") if credit else rng.choice(DEBIT_CODES)
    info = "SEPA OVERBOEKING" if credit else "SEPA BETALING"
    return (head + _bktxcd(*codes) + "<NtryDtls>\n" + _tx_details(f"E2E-{i:09d}", cents, credit, rng)
            + f"</NtryDtls>\n<AddtlNtryInf>{info}</AddtlNtryInf>\n</Ntry>\n")


def _bktxcd(domain: str, family: str, sub: str, proprietary: str) -> str:
    return (f"<BkTxCd>\n<Domn>\n<Cd>{domain}</Cd>\n<Fmly>\n<Cd>{family}</Cd>\n<SubFmlyCd>{sub}</SubFmlyCd>\n"
            f"</Fmly>\n</Domn>\n<Prtry>\n<Cd>{proprietary}</Cd>\n<Issr>ABNAMRO</Issr>\n</Prtry>\n</BkTxCd>\n")


def _tx_details(e2e: str, cents: int, credit: bool, rng: random.Random, salary: bool = False) -> str:
    name, iban, bic = _party(rng)
    if salary:
        name = f"{rng.choice(('J.', 'A.', 'M.', 'S.'))} {rng.choice(('de Jong', 'Bakker', 'Mulder', 'Vos'))}"
    cp = "Dbtr" if credit else "Cdtr"
    own = "Cdtr" if credit else "Dbtr"
    if credit and rng.random() < 0.6:
        rmt = ("<Strd>\n<CdtrRefInf>\n<Tp>\n<CdOrPrtry>\n<Cd>SCOR</Cd>\n</CdOrPrtry>\n"
               f"<Issr>ISO</Issr>\n</Tp>\n<Ref>{_rf_reference(rng.randrange(10**12))}</Ref>\n</CdtrRefInf>\n</Strd>\n")
    else:
        text = ("Salaris " if salary else "Factuur ") + str(rng.randrange(2024000, 2024999))
        rmt = f"<Ustrd>{escape(text)}</Ustrd>\n"
    return (f"<TxDtls>\n<Refs>\n<EndToEndId>{e2e}</EndToEndId>\n"
            f"<TxId>TX{rng.randrange(10**12):012d}</TxId>\n</Refs>\n"
            f'<Amt Ccy="EUR">{_money(cents)}</Amt>\n<CdtDbtInd>{"CRDT" if credit else "DBIT"}</CdtDbtInd>\n'
            f"<RltdPties>\n<{cp}>\n<Pty>\n<Nm>{escape(name)}</Nm>\n"
            f"<PstlAdr>\n<Ctry>NL</Ctry>\n</PstlAdr>\n</Pty>\n</{cp}>\n"
            f"<{cp}Acct>\n<Id>\n<IBAN>{iban}</IBAN>\n</Id>\n</{cp}Acct>\n"
            f"<{own}>\n<Pty>\n<Nm>Ledgerlink Demo B.V.</Nm>\n</Pty>\n</{own}>\n"
            f"<{own}Acct>\n<Id>\n<IBAN>{ACCOUNT_IBAN}</IBAN>\n</Id>\n</{own}Acct>\n</RltdPties>\n"
            f"<RltdAgts>\n<{cp}Agt>\n<FinInstnId>\n<BICFI>{bic}</BICFI>\n</FinInstnId>\n</{cp}Agt>\n</RltdAgts>\n"
            f"<RmtInf>\n{rmt}</RmtInf>\n</TxDtls>\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--entries", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=20240101)
    args = ap.parse_args()
    s = generate(args.out, args.entries, args.seed)
    print(f"{s.path}: {s.entries} entries, opening {s.opening}, closing {s.closing}, "
          f"{s.path.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
