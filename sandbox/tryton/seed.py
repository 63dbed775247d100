"""Seeds the Tryton sandbox through Tryton's own API (proteus, in-process). Runs with the
sandbox's python (sandbox/tryton/.venv), called by setup.py:

    seed.py --config trytond.conf --database ledgerlink --today 2026-11-30    # the demo company (idempotent)
    seed.py ... --bulk-supplier-invoices 10000
    seed.py ... --touch-invoice NUMBER

The demo company (EUR) gets the minimal chart of accounts, the fiscal years 2024 to 2028 with
monthly periods and invoice sequences, EUR/USD/GBP with rates from 2024-01-01, vendors and
customers with addresses, IBANs and payment terms, and a few hundred supplier and customer
invoices dated from 1 January of ``--today``'s year to that day, in draft, validated, posted, paid
and cancelled states, plus a few payments of supplier invoices. ``--today`` is the sandbox's fixed
date (sandbox.ini), which Tryton takes for today too: everything is derived from it and a fixed
random seed, never from the calendar. A second run finds the company and changes nothing.
Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from proteus import Model, Wizard
from proteus import config as proteus_config

SUPPLIER_INVOICES = 130
CUSTOMER_INVOICES = 100
VENDORS = 12
CUSTOMERS = 8
RATES = {"EUR": Decimal("1"), "USD": Decimal("1.0850"), "GBP": Decimal("0.8550")}
NAMES = {"EUR": ("Euro", "€"), "USD": ("US Dollar", "$"), "GBP": ("Pound Sterling", "£")}
FISCAL_YEARS = range(2024, 2029)
RATES_FROM = dt.date(FISCAL_YEARS[0], 1, 1)
PROGRESS_EVERY = 25


def progress(message: str) -> None:
    print(f"tryton sandbox:   {message}", file=sys.stderr, flush=True)


def invoice_dates(today: dt.date) -> tuple[dt.date, int]:
    """The first invoice date and the number of days invoices are spread over (1 January to today)."""
    start = dt.date(today.year, 1, 1)
    return start, (today - start).days + 1


def iban(country: str, bban: str) -> str:
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


def rf_reference(base: str) -> str:
    """An ISO 11649 creditor reference: RF, two check digits (mod 97 over base + "RF00"), the base."""
    digits = "".join(str(int(c, 36)) for c in base + "RF00")
    return f"RF{98 - int(digits) % 97:02d}{base}"


def dutch_iban(rng: random.Random) -> str:
    return iban("NL", rng.choice(["ABNA", "INGB", "RABO", "TRIO"]) + f"{rng.randrange(10**9, 10**10)}")


def setup_company() -> None:
    from trytond.modules.account.tests.tools import create_chart, create_fiscalyear, get_accounts
    from trytond.modules.account_invoice.tests.tools import set_fiscalyear_invoice_sequences
    from trytond.modules.company.tests.tools import create_company, get_company

    Currency = Model.get("currency.currency")
    Rate = Model.get("currency.currency.rate")
    currencies = {}
    for code, rate in RATES.items():
        name, symbol = NAMES[code]
        cur = Currency(name=name, symbol=symbol, code=code, rounding=Decimal("0.01"), digits=2)
        cur.save()
        Rate(currency=cur, date=RATES_FROM, rate=rate).save()
        currencies[code] = cur

    Party = Model.get("party.party")
    company_party = Party(name="Ledgerlink Demo B.V.")
    company_party.save()
    create_company(party=company_party, currency=currencies["EUR"])
    company = get_company()
    create_chart(company)
    for year in FISCAL_YEARS:
        fiscalyear = set_fiscalyear_invoice_sequences(
            create_fiscalyear(company, (dt.date(year, 1, 1), dt.date(year, 12, 31))))
        fiscalyear.click("create_period")

    accounts = get_accounts(company)
    Configuration = Model.get("account.configuration")
    configuration = Configuration(1)
    configuration.currency_exchange_credit_account = accounts["revenue"]
    configuration.currency_exchange_debit_account = accounts["expense"]
    configuration.save()
    Journal = Model.get("account.journal")
    PaymentMethod = Model.get("account.invoice.payment.method")
    cash_journal, = Journal.find([("type", "=", "cash")])
    PaymentMethod(name="Bank transfer", journal=cash_journal, credit_account=accounts["cash"],
                  debit_account=accounts["cash"]).save()

    Term = Model.get("account.invoice.payment_term")
    Delta = Model.get("account.invoice.payment_term.line.delta")
    for name, days in (("Net 14", 14), ("Net 30", 30), ("Net 60", 60)):
        term = Term(name=name)
        line = term.lines.new(type="remainder")
        line.relativedeltas.append(Delta(days=days))
        term.save()
    term = Term(name="50% now, rest in 30 days")
    term.lines.new(type="percent", ratio=Decimal("0.5"))
    line = term.lines.new(type="remainder")
    line.relativedeltas.append(Delta(days=30))
    term.save()

    PaymentJournal = Model.get("account.payment.journal")
    PaymentJournal(name="Manual EUR", currency=currencies["EUR"], process_method="manual").save()


def create_parties(rng: random.Random) -> tuple[list, list]:
    Party = Model.get("party.party")
    Bank = Model.get("bank")
    Account = Model.get("bank.account")
    Term = Model.get("account.invoice.payment_term")
    terms = Term.find([], order=[("id", "ASC")])
    bank_party = Party(name="Demo Bank N.V.")
    bank_party.save()
    bank = Bank(party=bank_party, bic="ABNANL2A")
    bank.save()
    Country = Model.get("country.country")
    countries = {}
    for code, name in (("NL", "Netherlands"), ("GB", "United Kingdom"), ("US", "United States"), ("BE", "Belgium")):
        countries[code] = Country(name=name, code=code)
        countries[code].save()
    cities = [("Amsterdam", "1011 AB", "NL"), ("Rotterdam", "3011 AA", "NL"), ("Utrecht", "3511 AA", "NL"),
              ("London", "EC1A 1BB", "GB"), ("New York", "10001", "US"), ("Antwerpen", "2000", "BE")]
    Category = Model.get("party.category")
    vendors, customers = [], []
    for kind, count, out in (("Supplier", VENDORS, vendors), ("Customer", CUSTOMERS, customers)):
        category = Category(name=kind)
        category.save()
        for i in range(1, count + 1):
            party = Party(name=f"{kind} {i:02d} {rng.choice(['Holding', 'Trading', 'Services', 'Logistics'])}")
            party.categories.append(Category(category.id))
            city, postal, country = rng.choice(cities)
            address = party.addresses[0] if party.addresses else party.addresses.new()
            address.street = f"{rng.choice(['Kerkstraat', 'Main Street', 'Dorpsweg'])} {rng.randrange(1, 200)}"
            address.postal_code, address.city = postal, city
            address.country = countries[country]
            term = terms[(i - 1) % len(terms)]
            if kind == "Supplier":
                party.supplier_payment_term = term
            else:
                party.customer_payment_term = term
            party.save()
            account = Account(bank=bank, currency=None)
            account.numbers.new(type="iban", number=dutch_iban(rng))
            account.owners.append(Party(party.id))
            account.save()
            out.append(party)
    return vendors, customers


def create_invoices(rng: random.Random, today: dt.date, vendors: list, customers: list) -> None:
    from trytond.modules.account.tests.tools import get_accounts
    from trytond.modules.company.tests.tools import get_company

    Invoice = Model.get("account.invoice")
    Currency = Model.get("currency.currency")
    PaymentMethod = Model.get("account.invoice.payment.method")
    accounts = get_accounts(get_company())
    method, = PaymentMethod.find([])
    currencies = {c.code: c for c in Currency.find([])}
    start, span = invoice_dates(today)
    # Customer invoice numbers must follow their dates: create every invoice in date order.
    specs = [(start + dt.timedelta(days=rng.randrange(span)), kind, i, rng.choice(parties))
             for kind, count, parties in (("in", SUPPLIER_INVOICES, vendors), ("out", CUSTOMER_INVOICES, customers))
             for i in range(1, count + 1)]
    specs.sort(key=lambda s: (s[0], s[1], s[2]))
    for n, (invoice_date, kind, i, party) in enumerate(specs, 1):
        code = rng.choices(["EUR", "USD", "GBP"], weights=[6, 2, 2])[0]
        invoice = Invoice(type=kind, party=party, currency=currencies[code])
        invoice.invoice_date = invoice_date
        if kind == "in":
            invoice.reference = f"{party.name.split()[1]}-{invoice.invoice_date.year}-{i:05d}"
        else:  # the structured reference the customer is asked to quote when paying
            invoice.reference = rf_reference(f"LL{invoice_date.year}{i:05d}")
        invoice.description = f"{'Purchase' if kind == 'in' else 'Sale'} {i}"
        for _ in range(rng.randint(1, 3)):
            line = invoice.lines.new()
            line.account = accounts["expense" if kind == "in" else "revenue"]
            line.description = rng.choice(["Consulting", "Licences", "Freight", "Office supplies", "Hardware"])
            line.quantity = float(rng.randint(1, 20))
            line.unit_price = Decimal(rng.randrange(500, 250000)) / 100
        invoice.save()
        state = rng.choices(["draft", "validated", "posted", "paid", "cancelled"], weights=[15, 8, 45, 27, 5])[0]
        if state == "validated":
            invoice.click("validate_invoice")
        elif state in ("posted", "paid"):
            invoice.click("post")
        elif state == "cancelled":
            invoice.click("cancel")
        if state == "paid":
            pay = Wizard("account.invoice.pay", [invoice])
            pay.form.payment_method = method
            pay.form.date = min(invoice.invoice_date + relativedelta(days=rng.randrange(1, 20)), today)
            pay.execute("choice")
            if pay.state != "end":  # an exchange difference: write it off
                pay.form.type = "writeoff"
                pay.execute("pay")
        if n % PROGRESS_EVERY == 0 or n == len(specs):
            progress(f"invoices {n}/{len(specs)}")


def create_payments(rng: random.Random) -> None:
    """account.payment records for some posted EUR supplier invoices (approved or draft)."""
    Payment = Model.get("account.payment")
    Journal = Model.get("account.payment.journal")
    Line = Model.get("account.move.line")
    journal, = Journal.find([])
    lines = Line.find([("move_origin", "like", "account.invoice,%"), ("account.type.payable", "=", True),
                       ("reconciliation", "=", None), ("second_currency", "=", None),
                       ("credit", ">", 0), ("move_state", "=", "posted"), ("maturity_date", "!=", None)], order=[("id", "ASC")], limit=15)
    for line in lines:
        payment = Payment(journal=journal, kind="payable", party=line.party, line=line)
        payment.amount = line.credit
        payment.date = line.maturity_date
        payment.save()
        if rng.random() < 0.6:
            payment.click("submit")
            payment.click("approve")


def bulk_supplier_invoices(count: int, today: dt.date, database: str, config_file: str) -> None:
    """``count`` draft EUR supplier invoices, created server-side in batches (the benchmark's data set).

    Goes through the model API (``Invoice.create``) in a few transactions: proteus's per-record
    round trips would take twenty minutes for 10,000 invoices."""
    from trytond.config import config as trytond_config

    trytond_config.update_etc(config_file)
    fix_today(today)
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    Pool.start()
    pool = Pool(database)
    pool.init()
    with Transaction().start(database, 0, readonly=True):
        admin, = pool.get("res.user").search([("login", "=", "admin")])
        admin_id, company_id = admin.id, admin.company.id
    rng = random.Random(7)  # noqa: S311 - demo data
    start, span = invoice_dates(today)
    with Transaction().start(database, admin_id, context={"company": company_id}) as transaction:
        Invoice = pool.get("account.invoice")
        template, = Invoice.search([("type", "=", "in"), ("state", "=", "draft")], limit=1, order=[("id", "ASC")])
        vendors = pool.get("party.party").search([("categories.name", "=", "Supplier")])
        line = template.lines[0]
        base = {"type": "in", "company": template.company.id, "currency": template.company.currency.id,
                "account": template.account.id, "journal": template.journal.id,
                "payment_term": template.payment_term.id if template.payment_term else None}
        addresses = {p.id: p.addresses[0].id for p in vendors}
        created = 0
        while created < count:
            values = []
            for i in range(created + 1, min(created + 1000, count) + 1):
                party = vendors[i % len(vendors)]
                values.append({**base, "party": party.id, "invoice_address": addresses[party.id],
                               "invoice_date": start + dt.timedelta(days=i % span), "reference": f"BENCH-{i:06d}",
                               "description": f"Bench invoice {i}",
                               "lines": [("create", [{"type": "line", "account": line.account.id,
                                                      "description": "Bench line", "quantity": 1.0,
                                                      "unit_price": Decimal(rng.randrange(100, 1000000)) / 100}])]})
            Invoice.create(values)
            transaction.commit()
            created += len(values)
            progress(f"bench invoices {created}/{count}")
    print(f"{count} supplier invoices created")


def touch_invoice(number: str) -> None:
    """Change one invoice's description (a new write_date), as a user editing it would."""
    Invoice = Model.get("account.invoice")
    invoice, = Invoice.find(["OR", ("number", "=", number), ("reference", "=", number)])
    invoice.description = f"{invoice.description or ''} (edited)"
    invoice.save()


def fix_today(today: dt.date) -> None:
    """Tryton's today (``ir.date.today``) is the sandbox's date, whatever the calendar says.
    Called once trytond is configured (its modules read the configuration when imported)."""
    from trytond.ir.date import Date

    Date.today = staticmethod(lambda timezone=None: today)


def _confirm_warnings() -> None:
    """Answer Tryton's confirmations (e.g. "payment date in the past") with yes, as the user
    entering back-dated invoices would."""
    from trytond.res.user import Warning_

    Warning_.check = classmethod(lambda cls, name: False)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--bulk-supplier-invoices", type=int, default=0)
    parser.add_argument("--touch-invoice")
    parser.add_argument("--today", type=dt.date.fromisoformat, required=True,
                        help="the sandbox's date (sandbox.ini): the last invoice date, and Tryton's today")
    args = parser.parse_args()
    today = args.today
    if today.year not in FISCAL_YEARS:
        parser.error(f"--today {today} is outside the seeded fiscal years {FISCAL_YEARS[0]}-{FISCAL_YEARS[-1]}")
    if args.bulk_supplier_invoices:
        bulk_supplier_invoices(args.bulk_supplier_invoices, today, args.database, args.config)
        return 0
    proteus_config.set_trytond(args.database, config_file=args.config)
    fix_today(today)
    _confirm_warnings()
    if args.touch_invoice:
        touch_invoice(args.touch_invoice)
        return 0
    Company = Model.get("company.company")
    if Company.find([]):
        print("demo company already seeded: nothing to do")
        return 0
    rng = random.Random(20240101)  # noqa: S311 - demo data
    progress(f"company, chart of accounts, fiscal years {FISCAL_YEARS[0]}-{FISCAL_YEARS[-1]}")
    setup_company()
    User = Model.get("res.user")
    proteus_config.get_config()._context = User.get_preferences(True, {})
    progress(f"{VENDORS} vendors and {CUSTOMERS} customers")
    vendors, customers = create_parties(rng)
    create_invoices(rng, today, vendors, customers)
    progress("payments")
    create_payments(rng)
    print(f"seeded {SUPPLIER_INVOICES} supplier and {CUSTOMER_INVOICES} customer invoices")
    return 0


if __name__ == "__main__":
    sys.exit(main())
