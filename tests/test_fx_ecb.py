"""ECB reference rates (connectors/fx/ecb.py) from the offline sample in the ECB CSV layout and from
the XML layout."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.fx import EcbRates, FxError, FxRate
from ledgerlink.model.money import Money

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sandbox" / "ecb" / "eurofxref-hist-sample.csv"
D = dt.date

DAILY_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01"
    xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
  <gesmes:subject>Reference rates</gesmes:subject>
  <gesmes:Sender><gesmes:name>European Central Bank</gesmes:name></gesmes:Sender>
  <Cube>
    <Cube time="2026-11-27">
      <Cube currency="USD" rate="1.1115"/>
      <Cube currency="JPY" rate="159.60"/>
      <Cube currency="GBP" rate="0.8868"/>
    </Cube>
  </Cube>
</gesmes:Envelope>
"""


@pytest.fixture(scope="module")
def rates() -> EcbRates:
    return EcbRates.load(SAMPLE)


def write(tmp_path: Path, text: str, name: str = "rates.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- the sample file ----------------------------------------------------------------------------

def test_sample_covers_the_tryton_sandbox_fiscal_years_2024_to_2028(rates):
    for currency in ("USD", "GBP", "CHF", "JPY", "SEK"):
        days = [d for d, _ in rates.history(currency)]
        assert days[0] == D(2024, 1, 2) and days[-1] == D(2028, 12, 29)  # the last TARGET day of 2028
        assert all(isinstance(r, Decimal) and r > 0 for _, r in rates.history(currency))
    assert rates.source == "ECB eurofxref-hist-sample.csv"


def test_sample_is_the_generators_output():
    from sandbox.ecb.generate import business_days, rows

    lines = rows()
    assert SAMPLE.read_text(encoding="utf-8") == "\n".join(lines) + "\n"
    # newest first, one row per TARGET business day: no weekend, no Christmas, no Good Friday
    assert [line.split(",", 1)[0] for line in lines[1:]] == [d.isoformat() for d in reversed(business_days())]
    days = {D.fromisoformat(line.split(",", 1)[0]) for line in lines[1:]}
    assert not days & {D(2027, 12, 25), D(2028, 4, 14), D(2028, 12, 30)} and D(2028, 4, 13) in days


def test_rate_of_a_publication_day(rates):
    rate = rates.rate("USD", D(2026, 11, 27))
    assert rate == FxRate("EUR", "USD", Decimal("1.1115"), D(2026, 11, 27), "ECB eurofxref-hist-sample.csv")
    assert str(rate) == "1 EUR = 1.1115 USD (ECB eurofxref-hist-sample.csv 2026-11-27)"


def test_weekend_and_holidays_take_the_last_rate_before(rates):
    friday = rates.rate("GBP", D(2026, 11, 27))
    for day in (D(2026, 11, 28), D(2026, 11, 29)):
        assert rates.rate("GBP", day) == friday
    # Good Friday 2026-04-03 to Easter Monday 2026-04-06: the rate of Thursday 2026-04-02
    assert rates.rate("CHF", D(2026, 4, 6)).rate_date == D(2026, 4, 2)
    # JPY is N/A on 2024-06-14: the day before
    assert rates.rate("JPY", D(2024, 6, 14)).rate_date == D(2024, 6, 13)
    assert rates.rate("USD", D(2024, 6, 14)).rate_date == D(2024, 6, 14)


def test_a_gap_longer_than_allowed_is_refused(rates):
    with pytest.raises(FxError, match=r"no USD rate within 5 days before 2029-01-10 .*2028-12-29, 12 days before"):
        rates.rate("USD", D(2029, 1, 10))
    strict = EcbRates.load(SAMPLE, max_gap_days=3)
    with pytest.raises(FxError, match="no CHF rate within 3 days") as err:
        strict.rate("CHF", D(2026, 4, 6))
    assert err.value.currency == "CHF"
    assert strict.rate("CHF", D(2026, 11, 30)).rate_date == D(2026, 11, 30)


def test_before_the_first_rate_and_unknown_currencies_are_refused(rates):
    with pytest.raises(FxError, match=r"no USD rate on or before 2023-12-29 .*first is of 2024-01-02"):
        rates.rate("USD", D(2023, 12, 29))
    with pytest.raises(FxError, match=r"no AUD rates in ECB eurofxref-hist-sample.csv \(known: CHF, CZK"):
        rates.rate("AUD", D(2026, 1, 5))
    with pytest.raises(FxError, match="must be a date"):
        rates.rate("USD", dt.datetime(2026, 1, 5, 12, 0))  # noqa: DTZ001


def test_euro_is_one(rates):
    assert rates.rate("EUR", D(2026, 11, 28)).rate == 1


def test_cross_rates_go_through_the_euro(rates):
    day = D(2026, 11, 28)
    usd, gbp = rates.rate("USD", day), rates.rate("GBP", day)
    cross = rates.cross("USD", "GBP", day)
    assert (cross.base, cross.quote, cross.rate_date) == ("USD", "GBP", D(2026, 11, 27))
    assert abs(cross.rate - gbp.rate / usd.rate) < Decimal("1e-20")
    assert abs(rates.cross("GBP", "USD", day).rate * cross.rate - 1) < Decimal("1e-20")
    # the older leg's date when one currency was not published
    assert rates.cross("USD", "JPY", D(2024, 6, 14)).rate_date == D(2024, 6, 13)
    inverse = rates.cross("USD", "EUR", day)
    assert (inverse.base, inverse.quote) == ("USD", "EUR") and abs(inverse.rate * usd.rate - 1) < Decimal("1e-20")


def test_convert_quantises_to_the_target_currency_and_carries_the_rate(rates):
    day = D(2026, 11, 28)
    to_eur = rates.convert(Money(Decimal("1000.00"), "USD"), "EUR", day)
    assert to_eur.result == Money(Decimal("899.69"), "EUR")  # 1000 / 1.1115 = 899.6851...
    assert to_eur.rate.rate == Decimal("1.1115") and to_eur.rate.rate_date == D(2026, 11, 27)
    assert to_eur.rate.source == "ECB eurofxref-hist-sample.csv" and to_eur.on_date == day
    from_eur = rates.convert(Money(Decimal("250.00"), "EUR"), "USD", day)
    assert from_eur.result == Money(Decimal("277.88"), "USD")  # 277.875 rounds half up
    to_jpy = rates.convert(Money(Decimal("1000.00"), "USD"), "JPY", day)
    expected = (Decimal("1000.00") * Decimal("159.60") / Decimal("1.1115")).quantize(Decimal(1))
    assert to_jpy.result == Money(expected, "JPY") and to_jpy.result.amount.as_tuple().exponent == 0
    assert to_jpy.as_dict()["rate"]["base"] == "USD" and to_jpy.as_dict()["result"] == str(expected)
    same = rates.convert(Money(Decimal("5.00"), "EUR"), "EUR", day)
    assert same.result.amount == Decimal("5.00") and same.rate.rate == 1
    with pytest.raises(FxError, match="unknown ISO 4217 currency code 'XYZ'"):
        rates.convert(Money(Decimal("5.00"), "EUR"), "XYZ", day)


# -- XML layout ---------------------------------------------------------------------------------

def test_daily_xml(tmp_path):
    path = tmp_path / "eurofxref-daily.xml"
    path.write_bytes(DAILY_XML)
    rates = EcbRates.load(path)
    assert rates.source == "ECB eurofxref-daily.xml"
    assert rates.rate("JPY", D(2026, 11, 29)) == FxRate("EUR", "JPY", Decimal("159.60"), D(2026, 11, 27),
                                                        "ECB eurofxref-daily.xml")
    assert rates.currencies == ["EUR", "GBP", "JPY", "USD"]
    assert EcbRates.from_xml(DAILY_XML, name="daily").rate("GBP", D(2026, 11, 27)).rate == Decimal("0.8868")


def test_xml_with_a_doctype_is_refused(tmp_path):
    evil = DAILY_XML.replace(b'<?xml version="1.0" encoding="UTF-8"?>\n',
                             b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n')
    path = tmp_path / "evil.xml"
    path.write_bytes(evil.replace(b'rate="1.1115"', b'rate="&e;"'))
    with pytest.raises(FxError, match=r"evil\.xml.*(DOCTYPE|DTD)") as err:
        EcbRates.load(path)
    assert "root:" not in str(err.value)


def test_bad_xml_rates_name_line_and_currency(tmp_path):
    path = tmp_path / "bad.xml"
    path.write_bytes(DAILY_XML.replace(b'rate="159.60"', b'rate="-1"'))
    with pytest.raises(FxError, match=r"bad\.xml: line 9: JPY rate '-1' is not a positive number"):
        EcbRates.load(path)
    path.write_bytes(DAILY_XML[:300])
    with pytest.raises(FxError, match=r"bad\.xml"):
        EcbRates.load(path)
    path.write_bytes(b"<root><Cube/></root>")
    with pytest.raises(FxError, match="no <Cube time=...> element"):
        EcbRates.load(path)


# -- bad CSV files ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("Date,USD,GBP,\n2026-11-27,1.1115,0.8868,\n2026-11-26,abc,0.8852,\n",
     r"rates\.csv: line 3: USD rate 'abc' is not a positive number"),
    ("Date,USD,GBP,\n2026-11-27,1.1115,0.8868,\n27/11/2026,1.1,0.8,\n", r"rates\.csv: line 3: '27/11/2026' is not a date"),
    ("Date,USD,Zz1,\n2026-11-27,1.1115,0.8868,\n", r"rates\.csv: line 1: column 3: 'Zz1' is not a currency code"),
    ("Day,USD,\n2026-11-27,1.1115,\n", r"rates\.csv: line 1: not an ECB reference-rate CSV"),
    ("Date,USD,GBP,\n2026-11-27,1.1115,\n", r"rates\.csv: line 2: no GBP rate on 2026-11-27 \(N/A marks"),
    ("Date,USD,GBP,\n2026-11-27,1.1115\n", r"rates\.csv: line 2: 1 rates for 2 currencies on 2026-11-27"),
    ("Date,USD,\n2026-11-27,1.1115,\n2026-11-27,1.1116,\n", r"line 3: a second USD rate for 2026-11-27"),
    ("Date,USD,\n2026-11-27,0,\n", r"line 2: USD rate '0' is not a positive number"),
    ("Date,USD,\n", r"rates\.csv: no rates in the file"),
])
def test_bad_csv_files_name_the_file_line_and_currency(tmp_path, text, message):
    with pytest.raises(FxError, match=message):
        EcbRates.load(write(tmp_path, text))


def test_csv_error_attributes(tmp_path):
    with pytest.raises(FxError) as err:
        EcbRates.load(write(tmp_path, "Date,USD,GBP,\n2026-11-27,1.1,x,\n"))
    assert (Path(err.value.file).name, err.value.line, err.value.currency) == ("rates.csv", 2, "GBP")


def test_missing_file(tmp_path):
    with pytest.raises(FxError, match=r"nope\.csv: cannot read the rate file"):
        EcbRates.load(tmp_path / "nope.csv")


def test_the_real_layout_without_trailing_commas_and_na(tmp_path):
    rates = EcbRates.load(write(tmp_path, "\ufeffDate,USD,CYP\n2026-11-27,1.1115,N/A\n2026-11-26,1.1100,N/A\n"))
    assert rates.rate("USD", D(2026, 11, 26)).rate == Decimal("1.1100")
    with pytest.raises(FxError, match="no CYP rates"):
        rates.rate("CYP", D(2026, 11, 27))
