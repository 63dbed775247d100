"""The header words `ledgerlink mapping infer` recognises, per entity and canonical field.

Each field lists, per language, the column names it is known by. Names are compared normalised
(lower case, accents and everything but letters and digits removed: "Numéro de facture" is
"numerodefacture"), first in full, then as part of a longer header ("Bedrag (EUR)" holds "bedrag").
Earlier names of a list win over later ones when two columns compete for a field.
"""

from __future__ import annotations

import re
import unicodedata

LANGUAGES = {"nl": "Dutch", "de": "German", "fr": "French", "en": "English"}

_INVOICE_VENDOR_ID = {
    "nl": "crediteurnummer|crediteurnr|crediteurcode|leveranciersnummer|leveranciernummer|leveranciersnr|relatienummer|"
          "crediteur",
    "de": "lieferantennummer|lieferantennr|lieferantnr|kreditorennummer|kreditorennr|kreditornummer|kreditor",
    "fr": "numero de fournisseur|numero fournisseur|code fournisseur|no fournisseur|id fournisseur",
    "en": "vendor id|vendor number|vendor no|vendor code|supplier id|supplier number|supplier no|supplier code|"
          "creditor id|creditor number",
}
_CURRENCY = {
    "nl": "valuta|valutacode|munt|muntsoort",
    "de": "währung|waehrung|währungscode|whrg|wahrung",
    "fr": "devise|monnaie|code devise",
    "en": "currency|currency code|ccy|curr",
}
_PAYMENT_TERMS = {
    "nl": "betalingsconditie|betalingscondities|betalingstermijn|betaalconditie|betaaltermijn",
    "de": "zahlungsbedingung|zahlungsbedingungen|zahlungsziel|zahlungskondition",
    "fr": "conditions de paiement|condition de paiement|conditions de reglement|delai de paiement",
    "en": "payment terms|terms of payment|payment term|terms",
}
_IBAN = {
    "nl": "iban|bankrekening|bankrekeningnummer|rekeningnummer|rekening",
    "de": "iban|bankverbindung|kontonummer|konto",
    "fr": "iban|compte bancaire|rib|numero de compte",
    "en": "iban|bank account|account number|bank account number",
}

WORDS: dict[str, dict[str, dict[str, str]]] = {
    "invoice": {
        "invoice_number": {
            "nl": "factuurnummer|factuurnr|factuur nummer|uw referentie|uw ref|factuur|boekstuknummer",
            "de": "rechnungsnummer|rechnungsnr|rechnungnr|rechnung nr|belegnummer|rechnung",
            "fr": "numero de facture|numero facture|no facture|n facture|num facture|facture",
            "en": "invoice number|invoice no|invoice nr|invoice id|invoice|document number",
        },
        "vendor_id": _INVOICE_VENDOR_ID,
        "vendor_name": {
            "nl": "crediteurnaam|naam crediteur|leveranciersnaam|leveranciernaam|leverancier",
            "de": "lieferantenname|name lieferant|kreditorenname|lieferant",
            "fr": "nom du fournisseur|nom fournisseur|raison sociale|fournisseur",
            "en": "vendor name|supplier name|creditor name|vendor|supplier",
        },
        "vendor_iban": _IBAN,
        "customer_id": {
            "nl": "debiteurnummer|debiteurnr|klantnummer|klantnr|debiteur",
            "de": "kundennummer|kundennr|debitorennummer|debitor",
            "fr": "numero client|code client|no client",
            "en": "customer id|customer number|customer no|client id|debtor id",
        },
        "issue_date": {
            "nl": "factuurdatum|datum factuur|boekdatum|datum",
            "de": "rechnungsdatum|belegdatum|datum",
            "fr": "date de facture|date facture|date d emission|date",
            "en": "invoice date|issue date|document date|date",
        },
        "due_date": {
            "nl": "vervaldatum|vervaldag|uiterste betaaldatum",
            "de": "fälligkeitsdatum|faelligkeitsdatum|fälligkeit|faelligkeit|fällig am|zahlbar bis",
            "fr": "date d echeance|date echeance|echeance",
            "en": "due date|payment due date|date due|due",
        },
        "currency": _CURRENCY,
        "amount_excl_tax": {
            "nl": "bedrag excl btw|bedrag exclusief btw|excl btw|netto bedrag|netto",
            "de": "nettobetrag|betrag netto|netto",
            "fr": "montant ht|total ht|montant hors taxes|hors taxes|ht",
            "en": "amount excl tax|amount excluding tax|amount excl vat|net amount|subtotal|net",
        },
        "tax_amount": {
            "nl": "btw bedrag|btwbedrag|btw",
            "de": "mehrwertsteuer|mwst betrag|steuerbetrag|umsatzsteuer|mwst|ust",
            "fr": "montant tva|tva",
            "en": "tax amount|vat amount|tax|vat",
        },
        "amount_incl_tax": {
            "nl": "bedrag incl btw|bedrag inclusief btw|incl btw|totaalbedrag|factuurbedrag|totaal|bedrag",
            "de": "bruttobetrag|rechnungsbetrag|gesamtbetrag|betrag brutto|brutto|betrag",
            "fr": "montant ttc|total ttc|montant total|ttc|montant",
            "en": "amount incl tax|amount including tax|amount incl vat|total amount|invoice amount|gross amount|"
                  "total|gross|amount",
        },
        "amount_open": {
            "nl": "openstaand bedrag|openstaand|restbedrag|saldo",
            "de": "offener betrag|restbetrag|offen|saldo",
            "fr": "montant restant|reste a payer|solde",
            "en": "amount open|open amount|outstanding amount|amount due|outstanding|balance",
        },
        "payment_terms": _PAYMENT_TERMS,
        "description": {
            "nl": "omschrijving|beschrijving|toelichting",
            "de": "beschreibung|bezeichnung|buchungstext|text",
            "fr": "libelle|designation|description",
            "en": "description|memo|narrative",
        },
        "structured_reference": {
            "nl": "betalingskenmerk|betaalkenmerk|kenmerk",
            "de": "zahlungsreferenz|strukturierte referenz",
            "fr": "reference structuree|communication structuree",
            "en": "structured reference|payment reference|creditor reference",
        },
        "status": {
            "nl": "status|staat",
            "de": "status|zustand",
            "fr": "statut|etat",
            "en": "status|state",
        },
    },
    "vendor": {
        "vendor_id": {
            "nl": _INVOICE_VENDOR_ID["nl"] + "|nummer|code",
            "de": _INVOICE_VENDOR_ID["de"] + "|nummer",
            "fr": _INVOICE_VENDOR_ID["fr"] + "|numero|code",
            "en": _INVOICE_VENDOR_ID["en"] + "|number|id|code",
        },
        "name": {
            "nl": "naam|bedrijfsnaam|crediteurnaam|leveranciersnaam|naam crediteur",
            "de": "name|firmenname|firma|lieferantenname|kreditorenname",
            "fr": "nom|raison sociale|nom du fournisseur|nom fournisseur",
            "en": "name|company name|vendor name|supplier name",
        },
        "vat_number": {
            "nl": "btw nummer|btwnummer|btw nr|btw id|btw",
            "de": "ust idnr|ust id|ustid|umsatzsteuer id|umsatzsteuer identifikationsnummer|steuernummer",
            "fr": "numero de tva|numero tva|no tva|tva intracommunautaire|tva",
            "en": "vat number|vat no|vat id|tax id|vat",
        },
        "chamber_of_commerce": {
            "nl": "kvk nummer|kvknummer|kvk nr|kvk",
            "de": "handelsregisternummer|handelsregister|registernummer|hrb",
            "fr": "siret|siren|rcs|numero d entreprise",
            "en": "chamber of commerce|company registration number|registration number|coc number|coc",
        },
        "country": {
            "nl": "land|landcode", "de": "land|ländercode|laendercode", "fr": "pays|code pays",
            "en": "country|country code",
        },
        "city": {"nl": "plaats|woonplaats|vestigingsplaats|stad", "de": "ort|stadt", "fr": "ville|localite",
                 "en": "city|town"},
        "postal_code": {"nl": "postcode", "de": "postleitzahl|plz", "fr": "code postal|cp",
                        "en": "postal code|zip code|postcode|zip"},
        "address": {"nl": "adres|straat|straatnaam", "de": "anschrift|adresse|strasse|straße",
                    "fr": "adresse|rue", "en": "address|street"},
        "email": {"nl": "e mail|email|emailadres|e mailadres", "de": "e mail|email|e mail adresse",
                  "fr": "courriel|e mail|email|adresse e mail", "en": "email|e mail|email address"},
        "currency": _CURRENCY,
        "approval_status": {"nl": "status|goedkeuring", "de": "status|freigabe", "fr": "statut|etat",
                            "en": "approval status|status"},
        "payment_terms": _PAYMENT_TERMS,
        "payment_terms_days": {
            "nl": "betalingstermijn dagen|termijn dagen|dagen", "de": "zahlungsziel tage|tage",
            "fr": "delai jours|jours", "en": "payment terms days|payment days|days",
        },
        "bank_accounts.iban": _IBAN,
        "bank_accounts.bic": {"nl": "bic|swift", "de": "bic|swift", "fr": "bic|swift|code swift",
                              "en": "bic|swift|swift code|swift bic"},
    },
    "bank_transaction": {
        "account": {
            "nl": "rekeningnummer|rekening|eigen rekening|iban bban",
            "de": "kontonummer|auftragskonto|konto|eigenes konto",
            "fr": "numero de compte|compte",
            "en": "account number|account|own account|iban",
        },
        "account_bic": {"nl": "bic", "de": "bic", "fr": "bic", "en": "bic"},
        "entry_id": {
            "nl": "volgnr|volgnummer|transactie id|referentie",
            "de": "buchungsnummer|umsatz id|referenz",
            "fr": "numero d operation|reference de l operation|reference",
            "en": "transaction id|transaction number|operation number|entry id|sequence number|reference",
        },
        "booking_date": {
            "nl": "boekdatum|datum|transactiedatum|boekingsdatum",
            "de": "buchungsdatum|buchungstag|datum",
            "fr": "date comptable|date d operation|date operation|date",
            "en": "booking date|posting date|transaction date|date",
        },
        "value_date": {
            "nl": "valutadatum|rentedatum",
            "de": "valutadatum|wertstellung|wertstellungsdatum|valuta",
            "fr": "date de valeur|date valeur",
            "en": "value date|interest date",
        },
        "amount": {
            "nl": "bedrag|transactiebedrag|mutatie",
            "de": "betrag|umsatz",
            "fr": "montant",
            "en": "amount|gross",
        },
        "currency": _CURRENCY,
        "counterparty_name": {
            "nl": "naam tegenpartij|tegenrekeninghouder|naam omschrijving|naam begunstigde|tegenpartij|naam",
            "de": "auftraggebername|empfängername|empfaengername|name gegenkonto|zahlungsempfänger|auftraggeber|name",
            "fr": "nom du tiers|nom contrepartie|beneficiaire|tiers",
            "en": "counterparty name|partner name|payee|beneficiary|name",
        },
        "counterparty_iban": {
            "nl": "tegenrekening|tegenrekeningnummer|tegenrekening iban bban|iban tegenpartij",
            "de": "gegenkonto|gegenkonto iban|empfänger iban|auftraggeber iban|iban gegenkonto",
            "fr": "compte contrepartie|iban contrepartie|iban du tiers",
            "en": "counterparty account|counterparty iban|counterparty|partner iban|bank account",
        },
        "counterparty_bic": {
            "nl": "bic tegenpartij|bic tegenrekening",
            "de": "bic gegenkonto|empfänger bic|auftraggeber bic",
            "fr": "bic contrepartie", "en": "counterparty bic|partner bic",
        },
        "end_to_end_id": {
            "nl": "transactiereferentie|end to end referentie|end to end id",
            "de": "end to end referenz|ende zu ende referenz",
            "fr": "reference de bout en bout|reference end to end",
            "en": "end to end id|end to end reference|e2e id|eref",
        },
        "structured_reference": {
            "nl": "betalingskenmerk|betaalkenmerk|kenmerk",
            "de": "zahlungsreferenz|kundenreferenz",
            "fr": "reference structuree|communication structuree",
            "en": "structured reference|payment reference|creditor reference",
        },
        "remittance_text": {
            "nl": "omschrijving|mededelingen|mededeling|betreft",
            "de": "verwendungszweck|umsatztext|buchungstext|text",
            "fr": "libelle|communication|motif",
            "en": "description|remittance information|details|label|memo|narrative",
        },
        "bank_transaction_code": {
            "nl": "code|betaalwijze|transactiecode",
            "de": "buchungsschlüssel|geschäftsvorfall|gvc",
            "fr": "code operation|type d operation",
            "en": "transaction code|transaction type|type",
        },
    },
}

# Columns that are not canonical fields but shape the amount of a bank transaction.
INDICATOR_WORDS = {
    "nl": "af bij|bij af|credit debet|debet credit|creditdebet|debetcredit|d c|c d",
    "de": "soll haben|haben soll|s h",
    "fr": "sens|debit credit|credit debit",
    "en": "debit credit|credit debit|dc|cd|d c|c d|dr cr|cr dr|indicator",
}
DEBIT_WORDS = {"nl": "af|debet|uitgaven|bedrag af", "de": "soll|lastschrift|belastung|ausgang|ausgaben",
               "fr": "debit|sortie", "en": "debit|withdrawal|withdrawals|paid out|money out|debit amount"}
CREDIT_WORDS = {"nl": "bij|credit|inkomsten|bedrag bij", "de": "haben|gutschrift|eingang|einnahmen",
                "fr": "credit|entree|recette", "en": "credit|deposit|deposits|paid in|money in|credit amount"}
BALANCE_WORDS = {"nl": "saldo na trn|saldo na mutatie|saldo na transactie|saldo|eindsaldo",
                 "de": "saldo|kontostand|neuer saldo", "fr": "solde", "en": "balance|running balance|balance after"}

# Indicator texts (normalised) meaning debit and credit.
DEBIT_MARKS = {"af", "d", "debet", "debit", "db", "dbit", "dr", "s", "soll", "-", "belastung", "lastschrift", "out"}
CREDIT_MARKS = {"bij", "c", "credit", "cr", "crdt", "h", "haben", "+", "gutschrift", "in"}

# Status texts (normalised) of invoices and of vendors, with the canonical value they mean.
INVOICE_STATUS = {
    "open": ["open", "openstaand", "offen", "ouvert", "ouverte", "unpaid", "outstanding", "nieuw", "new", "neu",
             "nouveau", "nouvelle", "unbezahlt", "onbetaald", "impaye", "impayee", "a payer"],
    "approved": ["approved", "goedgekeurd", "genehmigt", "freigegeben", "approuve", "approuvee", "valide", "validee",
                 "akkoord", "verwerkt", "verarbeitet", "traite", "traitee", "processed"],
    "blocked": ["blocked", "geblokkeerd", "gesperrt", "blockiert", "bloque", "bloquee", "on hold", "hold"],
    "disputed": ["disputed", "betwist", "bestritten", "strittig", "reklamiert", "conteste", "contestee", "litige",
                 "en litige", "in dispute"],
    "paid": ["paid", "betaald", "bezahlt", "beglichen", "paye", "payee", "regle", "reglee", "solde", "soldee"],
    "cancelled": ["cancelled", "canceled", "geannuleerd", "vervallen", "storniert", "annulliert", "annule",
                  "annulee", "void", "voided"],
}
VENDOR_STATUS = {
    "approved": ["approved", "active", "actief", "goedgekeurd", "aktiv", "genehmigt", "freigegeben", "actif", "active",
                 "approuve", "valide"],
    "pending": ["pending", "new", "nieuw", "in behandeling", "neu", "ausstehend", "in prufung", "nouveau",
                "en attente", "a valider"],
    "blocked": ["blocked", "geblokkeerd", "inactief", "inactive", "gesperrt", "inaktiv", "blockiert", "bloque",
                "inactif", "suspended", "geschorst"],
}

# Header words that tell whose invoices an export holds (field `direction`).
PAYABLE_WORDS = ("crediteur", "leverancier", "lieferant", "kreditor", "fournisseur", "vendor", "supplier",
                 "creditor", "inkoop", "eingangsrechnung", "achat", "purchase", "payable")
RECEIVABLE_WORDS = ("debiteur", "klant", "kunde", "debitor", "client", "customer", "debtor", "verkoop",
                    "ausgangsrechnung", "vente", "sales", "receivable")


def normalise(text: str) -> str:
    """'Numéro de facture' -> 'numerodefacture', 'Fälligkeitsdatum' -> 'falligkeitsdatum'."""
    decomposed = unicodedata.normalize("NFKD", text.replace("ß", "ss"))
    return re.sub(r"[^a-z0-9]", "", "".join(c for c in decomposed if not unicodedata.combining(c)).lower())


def normalise_words(text: str) -> str:
    """Like :func:`normalise` but keeping single spaces between words: 'En litige' -> 'en litige'."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return " ".join(re.sub(r"[^a-z0-9+-]", " ", plain).split())


def phrases(by_language: dict[str, str]) -> list[tuple[str, str, int, str]]:
    """(normalised name, its languages, best rank in their lists, name as written) for every name
    of a field: 'Date' is an English and a French name."""
    found: dict[str, tuple[list[str], int, str]] = {}
    for lang, names in by_language.items():
        for rank, name in enumerate(names.split("|")):
            langs, best, written = found.setdefault(normalise(name), ([], rank, name))
            if LANGUAGES[lang] not in langs:
                langs.append(LANGUAGES[lang])
            found[normalise(name)] = (langs, min(best, rank), written)
    return [(key, "/".join(langs), rank, written) for key, (langs, rank, written) in found.items()]
