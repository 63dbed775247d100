"""Write a synthetic receivables ledger and bank statements with known ground truth, for cash application.

Into OUT/ it writes:

* ``parties.jsonl``: customers with one or two Dutch IBANs and a company name;
* ``items.jsonl``: open items, most with a structured reference (RF, betalingskenmerk or OGM), invoice
  numbers in two formats (``INV-0001234``, ``F00012345``), issue and due dates;
* ``statement.camt053.xml`` (camt.053.001.08) and ``statement.mt940.sta`` (MT940, Dutch ``:86:``
  layout), one statement per day, balances that add up, a few debits besides the payments;
* ``truth.jsonl``: per payment its category and the invoices (and party) it pays, or none.

Payments by category (shares of all payments):

  exact_reference 44%     structured reference in the structured field, the open amount, payer's IBAN
  reference_in_text 5%    RF / OGM / betalingskenmerk written in the free text
  reference_typo 4%       that, one character off (a fifth without the payer's IBAN)
  invoice_in_text 15%     invoice number in the text, with spacing and punctuation noise
  invoice_typo 4%         invoice number one character off
  name_only 4%            no IBAN, the payer's name varied; three quarters with the invoice number
  partial 3%, over 2%, short_within 2% (some with a deduction reason), short_beyond 1%, discount 2%
  several_listed 2%       one payment for 2-4 invoices of the payer, listed in the text
  several_unlisted 2%     one payment for 2-3 invoices, no reference
  installments 1%         two payments for one invoice
  foreign 2%              USD or GBP for a EUR invoice, at the ECB sample rate of the value date
  noise 6%                unknown payers, amounts that match nothing, references to paid invoices
                          and to other customers' invoices: none of them may be applied

A given (items, payments, seed) always writes the same files.

    .venv/bin/python bench/generate_receivables.py OUT --items 1000000 --payments 100000 --seed 7
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
ECB_SAMPLE = ROOT / "sandbox" / "ecb" / "eurofxref-hist-sample.csv"
OWN_IBAN, OWN_BIC = "NL91ABNA0417164300", "ABNANL2A"
FIRST_DAY = dt.date(2026, 3, 2)
DAYS = 20
CAMT_NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"

SURNAMES = ("Jansen", "de Vries", "van den Berg", "Bakker", "Visser", "Smit", "Meijer", "de Boer", "Mulder",
            "de Groot", "Bos", "Vos", "Peters", "Hendriks", "van Leeuwen", "Dekker", "Brouwer", "de Wit",
            "Dijkstra", "Smits", "de Graaf", "van der Meer", "van der Linden", "Kok", "Jacobs", "de Haan",
            "Vermeulen", "van den Heuvel", "van der Veen", "van den Broek", "de Bruijn", "de Jong", "Schouten",
            "van Beek", "Willems", "van Vliet", "van de Ven", "Hoekstra", "Maas", "Verhoeven", "Koster",
            "van Dam", "van der Wal", "Prins", "Blom", "Huisman", "Peeters", "Maes", "Claes", "Goossens",
            "Wouters", "Janssens", "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Wagner", "Becker",
            "Hoffmann", "Schulz", "Koch", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Braun", "Zimmermann",
            "Krüger", "Hartmann", "Lange", "Werner", "Krause", "Lehmann", "Köhler", "Lefebvre", "Dubois",
            "Moreau", "Laurent", "Simon", "Michel", "Garcia", "Martinez", "Lopez", "Rossi", "Russo", "Ferrari",
            "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco", "Bruno", "Gallo", "Conti",
            "Costa", "Fontana")
TRADES = ("Bakkerij", "Installatietechniek", "Logistiek", "Transport", "Bouw", "Catering", "Kantoorartikelen",
          "Elektro", "Schilders", "Dakdekkers", "Hoveniers", "Metaalbewerking", "Drukkerij", "Autoservice",
          "Loodgieters", "Tegelzetters", "Timmerwerken", "Schoonmaak", "Beveiliging", "ICT Diensten",
          "Accountants", "Advocaten", "Tandartsen", "Fysiotherapie", "Apotheek", "Groothandel", "Slagerij",
          "Kaashandel", "Bloemisterij", "Opticiens", "Makelaardij", "Verhuur", "Glaszetters", "Koeltechniek",
          "Zonwering", "Keukens", "Badkamers", "Vloeren", "Interieur", "Verpakkingen", "Machinebouw",
          "Kunststoffen", "Houthandel", "Staalbouw", "Grondwerken", "Recycling", "Energie", "Laboratorium",
          "Uitgeverij", "Reisbureau")
PLACES = ("Amsterdam", "Rotterdam", "Utrecht", "Eindhoven", "Groningen", "Tilburg", "Almere", "Breda",
          "Nijmegen", "Apeldoorn", "Haarlem", "Arnhem", "Enschede", "Amersfoort", "Zaandam", "Zwolle",
          "Leiden", "Maastricht", "Dordrecht", "Ede", "Alkmaar", "Delft", "Venlo", "Deventer", "Antwerpen",
          "Gent", "Brugge", "Leuven", "Mechelen", "Hasselt", "Düsseldorf", "Köln", "Aachen", "Münster",
          "Essen", "Lille", "Luxembourg", "Bremen", "Hamburg", "Hannover")
FORMS = ("B.V.", "BV", "N.V.", "V.O.F.", "", "", "GmbH", "BVBA")
BANKS = (("ABNA", "ABNANL2A"), ("INGB", "INGBNL2A"), ("RABO", "RABONL2U"), ("TRIO", "TRIONL2U"),
         ("SNSB", "SNSBNL2A"), ("BUNQ", "BUNQNL2A"), ("KNAB", "KNABNL2H"), ("ASNB", "ASNBNL21"))
REASONS = ("minus bank charges", "bankkosten ingehouden", "damaged goods deducted", "prijsverschil")

SHARES = (("exact_reference", 44), ("reference_in_text", 5), ("reference_typo", 4), ("invoice_in_text", 15),
          ("invoice_typo", 4), ("name_only", 4), ("partial", 3), ("over", 2), ("short_within", 2),
          ("short_beyond", 1), ("discount", 2), ("several_listed", 2), ("several_unlisted", 2),
          ("installments", 1), ("foreign", 2), ("noise_unknown", 2), ("noise_amount", 1.5),
          ("noise_paid_reference", 1.5), ("noise_other_party", 1))


# ------------------------------------------------------------------------------ check digits

def iban_nl(bank: str, number: int) -> str:
    bban = f"{bank}{number:010d}"
    digits = "".join(str(int(c, 36)) for c in bban + "NL00")
    return f"NL{98 - int(digits) % 97:02d}{bban}"


def rf_reference(body: str) -> str:
    digits = "".join(str(int(c, 36)) for c in body + "RF00")
    return f"RF{98 - int(digits) % 97:02d}{body}"


_NL_WEIGHTS = (2, 4, 8, 5, 10, 9, 7, 3, 6, 1)


def betalingskenmerk(number: int) -> str:
    body = f"{number:015d}"
    total = sum(int(ch) * _NL_WEIGHTS[i % 10] for i, ch in enumerate(reversed(body)))
    check = {10: 1, 11: 0}.get(11 - total % 11, 11 - total % 11)
    return f"{check}{body}"


def ogm(number: int) -> str:
    body = f"{number:010d}"
    check = int(body) % 97 or 97
    digits = f"{body}{check:02d}"
    return f"+++{digits[:3]}/{digits[3:7]}/{digits[7:]}+++"


# ------------------------------------------------------------------------------ the ledger

@dataclass
class Item:
    invoice_number: str
    party: int
    amount: Decimal
    due: dt.date
    issued: dt.date
    reference: str | None


@dataclass
class Party:
    party_id: str
    name: str
    ibans: list[str]
    bic: str
    items: list[int] = field(default_factory=list)


@dataclass
class Entry:
    """One statement line: a payment with its truth, or a debit (not matched)."""

    day: dt.date
    amount: Decimal
    currency: str = "EUR"
    name: str | None = None
    iban: str | None = None
    bic: str | None = None
    structured: str | None = None
    text: str | None = None
    credit: bool = True
    truth: dict | None = None


def invoice_number(n: int) -> str:
    return f"INV-{n:07d}" if n % 5 else f"F{n:08d}"


def money(rng: random.Random) -> Decimal:
    return Decimal(int(rng.lognormvariate(6.5, 1.2) * 100) + 500).scaleb(-2)


def build_ledger(n_items: int, rng: random.Random) -> tuple[list[Party], list[Item], list[Item]]:
    """Parties, open items, and paid items (not open: their references turn up in noise)."""
    n_parties = max(10, n_items // 10)
    combos = [(s, t, p) for s in SURNAMES for t in TRADES for p in PLACES]
    names = rng.sample(combos, n_parties) if n_parties <= len(combos) else [rng.choice(combos) for _ in range(n_parties)]
    parties = []
    for i, (surname, trade, place) in enumerate(names):
        bank, bic = rng.choice(BANKS)
        ibans = [iban_nl(bank, 10_000_000 + i * 3)]
        if rng.random() < 0.2:
            ibans.append(iban_nl(rng.choice(BANKS)[0], 10_000_001 + i * 3))
        name = " ".join(w for w in (trade, surname, place, rng.choice(FORMS)) if w)
        parties.append(Party(f"C{i + 1:07d}", name, ibans, bic))
    items: list[Item] = []
    paid: list[Item] = []
    for n in range(1, n_items + n_items // 20 + 1):
        issued = FIRST_DAY - dt.timedelta(days=rng.randint(0, 90))
        kind = rng.random()
        reference = (rf_reference(f"{n:09d}") if kind < 0.40 else betalingskenmerk(n) if kind < 0.60
                     else ogm(n) if kind < 0.75 else None)
        item = Item(invoice_number(n), rng.randrange(n_parties), money(rng), issued + dt.timedelta(days=30),
                    issued, reference)
        (paid if n % 21 == 0 else items).append(item)  # one in 21 was paid before: not open
    for i, item in enumerate(items):
        parties[item.party].items.append(i)
    return parties, items, paid


# ------------------------------------------------------------------------------ payments

class Payments:
    def __init__(self, parties: list[Party], items: list[Item], paid: list[Item], rng: random.Random,
                 rates: dict[str, dict[dt.date, Decimal]]) -> None:
        self.parties, self.items, self.paid, self.rng, self.rates = parties, items, paid, rng, rates
        self.used: set[int] = set()  # items a payment of the ground truth already pays
        self.entries: list[Entry] = []

    # -- helpers
    def day(self) -> dt.date:
        return FIRST_DAY + dt.timedelta(days=self.rng.randrange(DAYS))

    def fresh_item(self, *, with_reference: bool = False) -> int:
        while True:
            i = self.rng.randrange(len(self.items))
            if i not in self.used and (not with_reference or self.items[i].reference):
                self.used.add(i)
                return i

    def payer(self, item: Item, *, iban: bool = True) -> dict:
        party = self.parties[item.party]
        return {"name": party.name, "iban": self.rng.choice(party.ibans) if iban else None, "bic": party.bic}

    def add(self, category: str, item_ids: list[int], amounts: list[Decimal] | None, amount: Decimal,
            **fields) -> None:
        truth = {"category": category, "party_id": self.parties[self.items[item_ids[0]].party].party_id if item_ids else None,
                 "invoices": [self.items[i].invoice_number for i in item_ids],
                 "amounts": [str(a) for a in amounts] if amounts else None}
        self.entries.append(Entry(fields.pop("day", None) or self.day(), amount, truth=truth, **fields))

    def structured_field(self, item: Item) -> dict:
        return {"structured": item.reference} if item.reference else {"text": self.noisy_invoice(item)}

    def noisy_invoice(self, item: Item, number: str | None = None) -> str:
        number = number or item.invoice_number
        shapes = (number, number.replace("-", " "), number.replace("-", ""), number.lower(),
                  " ".join([number[:4], number[4:7], number[7:]]), f"{number}.")
        lead = self.rng.choice(("Factuur", "factuurnr.", "Invoice", "Rechnung Nr", "betreft", "inv", ""))
        tail = self.rng.choice(("", "dank u", "thanks", "klantnr 48213", "zie specificatie", ""))
        return " ".join(w for w in (lead, self.rng.choice(shapes), tail) if w)

    def typo(self, text: str) -> str:
        """One character off: a digit replaced, two swapped, one dropped, or O written for 0."""
        positions = [i for i, ch in enumerate(text) if ch.isdigit()]
        i = self.rng.choice(positions[2:] or positions)
        kind = self.rng.random()
        if kind < 0.4:
            return text[:i] + str((int(text[i]) + self.rng.randint(1, 9)) % 10) + text[i + 1:]
        if kind < 0.65 and i + 1 < len(text) and text[i + 1].isdigit() and text[i + 1] != text[i]:
            return text[:i] + text[i + 1] + text[i] + text[i + 2:]
        if kind < 0.85:
            return text[:i] + text[i + 1:]
        return text[:i] + ("O" if text[i] == "0" else "0") + text[i + 1:]

    def reference_text(self, reference: str) -> str:
        if reference.startswith("RF"):
            return " ".join(reference[i:i + 4] for i in range(0, len(reference), 4))
        if reference.startswith("+++"):
            return reference
        return f"betalingskenmerk {' '.join(reference[i:i + 4] for i in range(0, 16, 4))}"

    # -- categories
    def make(self, category: str) -> None:
        getattr(self, category)(category)

    def exact_reference(self, category: str) -> None:
        i = self.fresh_item(with_reference=True)
        item = self.items[i]
        self.add(category, [i], [item.amount], item.amount, structured=item.reference, **self.payer(item))

    def reference_in_text(self, category: str) -> None:
        i = self.fresh_item(with_reference=True)
        item = self.items[i]
        assert item.reference
        self.add(category, [i], [item.amount], item.amount, text=f"Betaling {self.reference_text(item.reference)}",
                 **self.payer(item))

    def reference_typo(self, category: str) -> None:
        i = self.fresh_item(with_reference=True)
        item = self.items[i]
        assert item.reference
        self.add(category, [i], [item.amount], item.amount, text=self.typo(self.reference_text(item.reference)),
                 **self.payer(item, iban=self.rng.random() < 0.8))

    def invoice_in_text(self, category: str) -> None:
        i = self.fresh_item()
        item = self.items[i]
        self.add(category, [i], [item.amount], item.amount, text=self.noisy_invoice(item), **self.payer(item))

    def invoice_typo(self, category: str) -> None:
        i = self.fresh_item()
        item = self.items[i]
        self.add(category, [i], [item.amount], item.amount,
                 text=self.noisy_invoice(item, self.typo(item.invoice_number)), **self.payer(item))

    def name_only(self, category: str) -> None:
        i = self.fresh_item()
        item = self.items[i]
        name = self.parties[item.party].name
        words = name.split()
        variant = self.rng.choice((name.upper(), " ".join(w for w in words if w not in ("B.V.", "BV", "GmbH")),
                                   name.replace(" B.V.", " BV"), name[:-1] if len(name) > 12 else name))
        text = self.noisy_invoice(item) if self.rng.random() < 0.75 else "betaling"
        self.add(category, [i], [item.amount], item.amount, text=text, name=variant)

    def partial(self, category: str) -> None:
        i = self.fresh_item()
        item = self.items[i]
        amount = (item.amount * Decimal(self.rng.randint(30, 70)) / 100).quantize(Decimal("0.01"))
        self.add(category, [i], [amount], amount, **self.structured_field(item), **self.payer(item))

    def over(self, category: str) -> None:
        i = self.fresh_item()
        item = self.items[i]
        self.add(category, [i], [item.amount], item.amount + Decimal(self.rng.randint(1500, 20000)).scaleb(-2),
                 **self.structured_field(item), **self.payer(item))

    def short_within(self, category: str) -> None:
        i = self.fresh_item()
        item = self.items[i]
        limit = min(item.amount * Decimal("0.02"), Decimal("10.00"))
        short = (limit * Decimal(self.rng.randint(10, 95)) / 100).quantize(Decimal("0.01"))
        fields = self.structured_field(item)
        if self.rng.random() < 0.5:
            fields["text"] = " ".join(filter(None, (fields.get("text"), self.rng.choice(REASONS))))
        self.add(category, [i], [item.amount], item.amount - max(short, Decimal("0.01")), **fields,
                 **self.payer(item))

    def short_beyond(self, category: str) -> None:
        i = self.fresh_item()
        item = self.items[i]
        amount = item.amount - min(item.amount * Decimal("0.02"), Decimal("10.00")) - Decimal(self.rng.randint(500, 5000)).scaleb(-2)
        if amount <= 0:
            return self.exact_reference("exact_reference")
        self.add(category, [i], [amount], amount, **self.structured_field(item), **self.payer(item))

    def discount(self, category: str) -> None:
        i = self.fresh_item()
        item = self.items[i]
        day = item.issued + dt.timedelta(days=self.rng.randint(0, 10))
        if not FIRST_DAY <= day < FIRST_DAY + dt.timedelta(days=DAYS):
            day = FIRST_DAY  # the discount period still counts from the issue date: late unless issued late
            item.issued = FIRST_DAY - dt.timedelta(days=self.rng.randint(0, 8))
            item.due = item.issued + dt.timedelta(days=30)
        discount = (item.amount * Decimal("0.02")).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        self.add(category, [i], [item.amount], item.amount - discount, day=day, **self.structured_field(item),
                 **self.payer(item))

    def several_listed(self, category: str) -> None:
        first_id = self.fresh_item()
        first = self.items[first_id]
        party = self.parties[first.party]
        pool = [i for i in party.items if i not in self.used][: self.rng.randint(1, 3)]
        self.used.update(pool)
        ids = [first_id, *pool]
        numbers = [self.items[i].invoice_number for i in ids]
        amounts = [self.items[i].amount for i in ids]
        text = self.rng.choice(("Facturen ", "Invoices ", "")) + self.rng.choice((", ", " + ", " ")).join(numbers)
        self.add(category, ids, amounts, sum(amounts, Decimal(0)), text=text, **self.payer(first))

    def several_unlisted(self, category: str) -> None:
        first_id = self.fresh_item()
        party = self.parties[self.items[first_id].party]
        pool = [i for i in party.items if i not in self.used][: self.rng.randint(1, 2)]
        if not pool:
            self.used.discard(first_id)
            return self.exact_reference("exact_reference")
        self.used.update(pool)
        ids = [first_id, *pool]
        amounts = [self.items[i].amount for i in ids]
        self.add(category, ids, amounts, sum(amounts, Decimal(0)), text="Betaling openstaande facturen",
                 **self.payer(self.items[first_id]))

    def installments(self, category: str) -> None:
        i = self.fresh_item()
        item = self.items[i]
        first = (item.amount / 2).quantize(Decimal("0.01"))
        day = self.day()
        fields = {**self.structured_field(item), **self.payer(item)}
        self.add(category, [i], [first], first, day=day, **fields)
        later = min(day + dt.timedelta(days=self.rng.randint(1, 5)), FIRST_DAY + dt.timedelta(days=DAYS - 1))
        self.add(category, [i], [item.amount - first], item.amount - first, day=later, **fields)

    def foreign(self, category: str) -> None:
        i = self.fresh_item()
        item = self.items[i]
        currency = self.rng.choice(("USD", "GBP"))
        day = self.day()
        rate = self.rate(currency, day)
        amount = (item.amount * rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        if self.rng.random() < 0.3:  # the payer's bank used a slightly different rate
            amount = (amount * Decimal(self.rng.randint(9960, 10040)) / 10000).quantize(Decimal("0.01"))
        self.add(category, [i], [item.amount], amount, currency=currency, day=day,
                 **self.structured_field(item), name=self.parties[item.party].name,
                 iban="DE89370400440532013000" if self.rng.random() < 0.5 else None)

    def noise_unknown(self, category: str) -> None:
        self.add(category, [], None, money(self.rng), name=f"{self.rng.choice(SURNAMES)} Particulier",
                 iban=iban_nl("INGB", 900_000_000 + self.rng.randrange(10**6)), bic="INGBNL2A",
                 text=self.rng.choice(("gift", "terugbetaling", "huur maart", "bestelling 55123", "")))

    def noise_amount(self, category: str) -> None:
        party = self.parties[self.rng.randrange(len(self.parties))]
        self.add(category, [], None, Decimal(self.rng.randint(100, 99999)).scaleb(-2) + Decimal("0.01"),
                 name=party.name, iban=party.ibans[0], bic=party.bic, text="vooruitbetaling")

    def noise_paid_reference(self, category: str) -> None:
        item = self.rng.choice(self.paid)
        party = self.parties[item.party]
        fields = {"structured": item.reference} if item.reference else {"text": self.noisy_invoice(item)}
        self.add(category, [], None, item.amount, name=party.name, iban=party.ibans[0], bic=party.bic, **fields)

    def noise_other_party(self, category: str) -> None:
        item = self.items[self.rng.randrange(len(self.items))]
        other = self.parties[(item.party + 1 + self.rng.randrange(len(self.parties) - 1)) % len(self.parties)]
        self.add(category, [], None, item.amount, name=other.name, iban=other.ibans[0], bic=other.bic,
                 **self.structured_field(item))

    def rate(self, currency: str, day: dt.date) -> Decimal:
        series = self.rates[currency]
        while day not in series:
            day -= dt.timedelta(days=1)
        return series[day]

    def debit(self) -> Entry:
        return Entry(self.day(), money(self.rng), name="Leverancier BV", iban=iban_nl("RABO", 555_000_000),
                     bic="RABONL2U", text="betaling factuur leverancier", credit=False)


def load_rates() -> dict[str, dict[dt.date, Decimal]]:
    lines = ECB_SAMPLE.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    out: dict[str, dict[dt.date, Decimal]] = defaultdict(dict)
    for line in lines[1:]:
        cells = line.split(",")
        for currency, value in zip(header[1:], cells[1:], strict=False):
            if currency and value and value != "N/A":
                out[currency][dt.date.fromisoformat(cells[0])] = Decimal(value)
    return out


# ------------------------------------------------------------------------------ writers

def _amount(value: Decimal) -> str:
    return f"{value:.2f}"


def write_camt053(path: Path, entries: list[Entry]) -> None:
    by_day: dict[dt.date, list[Entry]] = defaultdict(list)
    for e in entries:
        by_day[e.day].append(e)
    balance = Decimal("250000.00")
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{CAMT_NS}">\n<BkToCstmrStmt>\n'
                  f"<GrpHdr><MsgId>LL-CASHAPP</MsgId><CreDtTm>{FIRST_DAY.isoformat()}T08:00:00</CreDtTm></GrpHdr>\n")
        for n, day in enumerate(sorted(by_day), 1):
            todays = by_day[day]
            closing = balance + sum((e.amount if e.credit else -e.amount for e in todays if e.currency == "EUR"),
                                    Decimal(0))
            out.write(f"<Stmt><Id>CAMT-{day.isoformat()}</Id><ElctrncSeqNb>{n}</ElctrncSeqNb>"
                      f"<CreDtTm>{day.isoformat()}T23:00:00</CreDtTm>"
                      f"<Acct><Id><IBAN>{OWN_IBAN}</IBAN></Id><Ccy>EUR</Ccy></Acct>\n")
            for code, amount in (("OPBD", balance), ("CLBD", closing)):
                out.write(f'<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{_amount(abs(amount))}'
                          f"</Amt><CdtDbtInd>{'CRDT' if amount >= 0 else 'DBIT'}</CdtDbtInd>"
                          f"<Dt><Dt>{day.isoformat()}</Dt></Dt></Bal>\n")
            for e in todays:
                out.write(_camt_entry(e))
            out.write("</Stmt>\n")
            balance = closing
        out.write("</BkToCstmrStmt>\n</Document>\n")


def _camt_entry(e: Entry) -> str:
    if e.structured:
        issuer = "ISO" if e.structured.startswith("RF") else "BBA" if e.structured.startswith("+") else "CUR"
        ref = e.structured.strip("+").replace("/", "") if issuer == "BBA" else e.structured
        rmt = (f"<Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry><Issr>{issuer}</Issr></Tp>"
               f"<Ref>{ref}</Ref></CdtrRefInf></Strd>")
    else:
        rmt = f"<Ustrd>{escape(e.text or '')}</Ustrd>"
    side, account = ("Dbtr", "DbtrAcct") if e.credit else ("Cdtr", "CdtrAcct")
    party = f"<{side}><Pty><Nm>{escape(e.name)}</Nm></Pty></{side}>" if e.name else ""
    iban = f"<{account}><Id><IBAN>{e.iban}</IBAN></Id></{account}>" if e.iban else ""
    reference = e.truth["bank_reference"] if e.truth else f"D{id(e) % 10**9:09d}"
    return (f'<Ntry><Amt Ccy="{e.currency}">{_amount(e.amount)}</Amt>'
            f"<CdtDbtInd>{'CRDT' if e.credit else 'DBIT'}</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>"
            f"<BookgDt><Dt>{e.day.isoformat()}</Dt></BookgDt><ValDt><Dt>{e.day.isoformat()}</Dt></ValDt>"
            f"<AcctSvcrRef>{reference}</AcctSvcrRef>"
            "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>"
            "<NtryDtls><TxDtls><Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>"
            f'<Amt Ccy="{e.currency}">{_amount(e.amount)}</Amt><RltdPties>{party}{iban}</RltdPties>'
            f"<RmtInf>{rmt}</RmtInf></TxDtls></NtryDtls></Ntry>\n")


def write_mt940(path: Path, entries: list[Entry]) -> None:
    by_day: dict[dt.date, list[Entry]] = defaultdict(list)
    for e in entries:
        by_day[e.day].append(e)
    balance = Decimal("90000.00")
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for n, day in enumerate(sorted(by_day), 1):
            todays = by_day[day]
            closing = balance + sum((e.amount if e.credit else -e.amount for e in todays), Decimal(0))
            ymd = day.strftime("%y%m%d")
            out.write(f":20:MT940-{n}\n:25:{OWN_IBAN}\n:28C:{n}/1\n:60F:{_mt_balance(balance, ymd)}\n")
            for e in todays:
                reference = e.truth["bank_reference"] if e.truth else f"D{id(e) % 10**9:09d}"
                out.write(f":61:{ymd}{day.strftime('%m%d')}{'C' if e.credit else 'D'}"
                          f"{_amount(e.amount).replace('.', ',')}NTRFNONREF//{reference}\n")
                out.write(":86:" + "\n".join(_mt_details(e)) + "\n")
            out.write(f":62F:{_mt_balance(closing, ymd)}\n-\n")
            balance = closing


def _mt_balance(amount: Decimal, ymd: str) -> str:
    return f"{'C' if amount >= 0 else 'D'}{ymd}EUR{_amount(abs(amount)).replace('.', ',')}"


def _mt_details(e: Entry) -> list[str]:
    text = "/TRTP/SEPA OVERBOEKING"
    if e.iban:
        text += f"/IBAN/{e.iban}/BIC/{e.bic or ''}"
    if e.name:
        text += f"/NAME/{e.name}"
    if e.structured:
        scheme = "ISO" if e.structured.startswith("RF") else "CUR"
        text += f"/REMI/STRD/{scheme}/{e.structured}/"
    else:
        text += f"/REMI/USTD//{(e.text or '').replace('/', ' ')}/"
    text += "/EREF/NOTPROVIDED"
    return [text[i:i + 65] for i in range(0, len(text), 65)][:6]


# ------------------------------------------------------------------------------ main

@dataclass
class Summary:
    out: Path
    items: int
    parties: int
    payments: int
    categories: dict[str, int]


def generate(out: Path | str, n_items: int, n_payments: int, seed: int = 7) -> Summary:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    parties, items, paid = build_ledger(n_items, rng)
    payments = Payments(parties, items, paid, rng, load_rates())
    names, weights = zip(*SHARES, strict=True)
    while len(payments.entries) < n_payments:
        payments.make(rng.choices(names, weights)[0])
    entries = payments.entries[:n_payments]
    for n, e in enumerate(entries, 1):
        assert e.truth is not None
        e.truth["bank_reference"] = f"P{n:08d}"
    debits = [payments.debit() for _ in range(max(1, n_payments // 50))]
    # foreign-currency payments arrive on camt (a multi-currency account); the rest is split between formats
    camt = [e for n, e in enumerate(entries) if e.currency != "EUR" or n % 2 == 0] + debits[::2]
    mt940 = [e for n, e in enumerate(entries) if e.currency == "EUR" and n % 2 == 1] + debits[1::2]
    write_camt053(out / "statement.camt053.xml", camt)
    write_mt940(out / "statement.mt940.sta", mt940)
    with (out / "parties.jsonl").open("w", encoding="utf-8") as fh:
        for p in parties:
            fh.write(json.dumps({"party_id": p.party_id, "name": p.name, "ibans": p.ibans}, ensure_ascii=False) + "\n")
    with (out / "items.jsonl").open("w", encoding="utf-8") as fh:
        for item in items:
            row = {"invoice_number": item.invoice_number, "party_id": parties[item.party].party_id,
                   "currency": "EUR", "amount_open": str(item.amount), "due_date": item.due.isoformat(),
                   "issue_date": item.issued.isoformat()}
            if item.reference:
                row["structured_reference"] = item.reference
            fh.write(json.dumps(row) + "\n")
    categories: dict[str, int] = defaultdict(int)
    with (out / "truth.jsonl").open("w", encoding="utf-8") as fh:
        for e in entries:
            assert e.truth is not None
            categories[e.truth["category"]] += 1
            fh.write(json.dumps(e.truth) + "\n")
    return Summary(out, len(items), len(parties), len(entries), dict(categories))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--payments", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    s = generate(args.out, args.items, args.payments, args.seed)
    print(f"{s.out}: {s.items} open items, {s.parties} parties, {s.payments} payments")
    for name, count in sorted(s.categories.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<22} {count:>8}")


if __name__ == "__main__":
    main()
