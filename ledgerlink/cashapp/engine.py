"""The matching engine: incoming payments against open receivables.

For each payment the rules are tried in their order. A rule proposes *candidates* (open items of one
party, in one currency); each candidate is scored::

    confidence = rule's confidence
               + typo score x characters the reference was off by
               + amount score (exact, within tolerance, discount, over, partial)
               + party score (the payer's IBAN / alias / mapping / name agrees, or contradicts)
               + ambiguity score (another open item fits as well)

A candidate whose party contradicts a known owner of the payer's IBAN (or a learned alias or mapping)
is kept below the auto threshold, as is one of a rule with ``auto: false``. Rules stop once a candidate
reaches the auto threshold with an amount that fits; otherwise the best candidate of all rules wins.
Two candidates for different open items that both reach the auto threshold make a suggestion.

Open items are looked up in indexes built once: reference keys of invoice numbers and of structured
references. A reference one character off is found by looking up its one-edit neighbours in those
indexes; one or two characters off among the open items of the payer, once the payer is known. A
payment never scans all open items.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from connectors.fx import Conversion, EcbRates, FxError, apply_rate
from ledgerlink.cashapp.allocate import OVER, PARTIAL, Plan, combinations, plan
from ledgerlink.cashapp.model import (
    AUTO,
    EXCEPTION,
    SUGGEST,
    Allocation,
    Decision,
    LearnedRule,
    MatchResult,
    OpenItem,
    Party,
    Payment,
)
from ledgerlink.cashapp.parties import PartyDirectory, PartyEvidence
from ledgerlink.cashapp.rules import Rule, Rules
from ledgerlink.cashapp.text import (
    canonical_reference,
    is_valid_structured,
    looks_structured,
    name_key,
    one_edit_neighbours,
    reference_key,
    reference_keys,
    structured_in_text,
    windows,
)
from ledgerlink.model.money import Money, currency_exponent, exact_sum, format_amount

CONFIDENCE_QUANTUM = Decimal("0.01")
_GLOBAL_TYPO_KEYS = 8  # windows of one payment searched for one-edit typos over all open items
_PARTY_TYPO_ITEMS = 500  # a payer's open items compared for typos (oldest first)
_MIN_DIGITS_FOR_TYPOS = 3
_FITTING = ("exact", "tolerance", "discount")
_AMOUNT_RULES = ("amount_and_party", "several_invoices")


@dataclass(slots=True)
class _Hit:
    """Open items a reference in the payment points to."""

    kind: str  # structured_reference | invoice_number
    field: str
    text: str
    items: list[int]
    typos: int = 0

    def evidence(self, rule: Rule, invoice_numbers: list[str]) -> dict[str, Any]:
        return {"rule": rule.name, "match": rule.match, "field": self.field, "value": self.text,
                "index": self.kind, "typos": self.typos, "invoice_numbers": invoice_numbers}


@dataclass(slots=True)
class _Candidate:
    rule: Rule
    order: int
    party_id: str
    items: list[int]  # oldest first
    evidence: list[dict[str, Any]]
    typos: int = 0
    ambiguous: bool = False
    settled: list[int] = field(default_factory=list)  # referenced items nothing is open on any more
    plan: Plan | None = None
    conversion: Conversion | None = None
    confidence: Decimal = Decimal(0)
    capped: bool = False

    def fits(self) -> bool:
        return self.plan is not None and self.plan.outcome in _FITTING


class _Payer:
    """What is known of who sent one payment, worked out as far as it is asked for."""

    __slots__ = ("directory", "payment", "_strong", "_names", "_payer_name")

    def __init__(self, directory: PartyDirectory, payment: Payment) -> None:
        self.directory = directory
        self.payment = payment
        self._strong: tuple[str, dict[str, PartyEvidence]] | None = None
        self._names: dict[str, PartyEvidence] | None = None
        self._payer_name: str | None = None

    @property
    def payer_name(self) -> str:
        if self._payer_name is None:
            name = self.payment.counterparty_name
            self._payer_name = name_key(name) if name else ""
        return self._payer_name

    def strong(self) -> tuple[str, dict[str, PartyEvidence]]:
        """(kind, {party: evidence}) of the strongest kind of evidence found: IBAN, alias, mapping."""
        if self._strong is None:
            directory, payment = self.directory, self.payment
            found = directory.by_iban(payment.counterparty_iban)
            kind = "iban"
            if not found:
                found, kind = directory.by_alias(payment), "alias"
            if not found:
                found, kind = directory.by_mapping(payment), "mapping"
            self._strong = (kind, {e.party_id: e for e in found}) if found else ("", {})
        return self._strong

    def by_name(self) -> dict[str, PartyEvidence]:
        if self._names is None:
            self._names = {e.party_id: e for e in self.directory.by_name(self.payment.counterparty_name)}
        return self._names

    def parties(self, kinds: Iterable[str]) -> dict[str, PartyEvidence]:
        """The parties the payer is, by the strongest evidence among ``kinds``."""
        kinds = set(kinds)
        kind, found = self.strong()
        if found:
            return found if kind in kinds else {}
        return self.by_name() if "name" in kinds else {}

    def name_score(self, party_id: str) -> int:
        party_name = self.directory.name_key_of(party_id)
        if not self.payer_name or not party_name:
            return 0
        return round(fuzz.token_sort_ratio(self.payer_name, party_name))


class Matcher:
    """Matches payments to ``open_items``; consumes the open amounts it applies, so a later payment
    sees what is still open. ``rates`` converts payments in another currency than the invoice;
    ``learned`` are facts taught by manual resolutions (see :func:`ledgerlink.cashapp.learning.learn`)."""

    def __init__(self, open_items: Iterable[OpenItem], parties: Iterable[Party], rules: Rules, *,
                 rates: EcbRates | None = None, learned: Iterable[LearnedRule] = ()) -> None:
        self.rules = rules
        self.rates = rates
        self.items: list[OpenItem] = list(open_items)
        self.open: list[Decimal] = [item.amount_open for item in self.items]
        self.settled_by: dict[int, str] = {}
        self.directory = PartyDirectory(parties, learned, rules.party_mappings, name_min_score=rules.name_min_score)
        self._invoice_keys: list[str] = []
        self._reference_keys: list[str] = []  # "" where an item has no structured reference
        self._by_invoice: dict[str, Any] = {}  # key -> item index, or a list of them when shared
        self._by_reference: dict[str, Any] = {}
        self._by_party: dict[str, list[int]] = {}  # party -> its items, oldest first, filled as asked for
        self._build_indexes()

    def _build_indexes(self) -> None:
        # a million open items: keys are made for all of them at once, the dicts built by zip
        items = self.items
        self._invoice_keys = reference_keys([item.invoice_number for item in items])
        self._reference_keys = [canonical_reference(k) if k[:2] == "RF" else k
                                for k in reference_keys([item.structured_reference or "" for item in items])]
        self._by_invoice = _index(self._invoice_keys)
        self._by_reference = _index(self._reference_keys)  # "" (no structured reference) is left out
        # items grouped by party: positions sorted by a party number (a C sort of integers, not a
        # Python loop of a million appends); a party's slice is taken, and sorted by age, when first needed
        party_ids = [item.party_id for item in items]
        codes = {party_id: n for n, party_id in enumerate(dict.fromkeys(party_ids))}
        numbers = np.array(list(map(codes.__getitem__, party_ids)), dtype=np.int64)
        self._party_codes = codes
        self._party_order = np.argsort(numbers, kind="stable")
        self._party_starts = np.concatenate(([0], np.cumsum(np.bincount(numbers, minlength=len(codes)))))
        by_invoice, by_reference = self._by_invoice, self._by_reference
        self._invoice_lengths = set(map(len, by_invoice))
        self._max_window = max(max(self._invoice_lengths, default=0), max(map(len, by_reference), default=0)) + 1
        # the largest share of an open amount a tolerance, a discount and an exchange difference explain
        discount = self.rules.discount.percent if self.rules.discount else Decimal(0)
        self._fit_bound = (self.rules.tolerance_percent + discount + self.rules.fx_tolerance_percent) / 100
        self._letters = "".join(sorted(ch for ch in set("".join(by_invoice)) if ch.isalpha()))

    # ------------------------------------------------------------------------------------ public
    def match(self, payments: Iterable[Payment]) -> list[MatchResult]:
        """One result per payment, in their order; ``auto`` results are applied as they are decided."""
        return [self.match_one(p) for p in payments]

    def match_one(self, payment: Payment) -> MatchResult:
        payer = _Payer(self.directory, payment)
        texts = _Texts(payment, self._max_window)
        auto = self.rules.auto_threshold
        candidates: list[_Candidate] = []
        for order, rule in enumerate(self.rules.rules):
            if not rule.applies_to(payment.amount, payment.currency):
                continue
            if rule.match == "several_invoices" and any(c.confidence >= auto for c in candidates):
                continue  # combinations only for a payment nothing else explains
            for candidate in self._propose(rule, order, payment, payer, texts):
                self._score(candidate, payment, payer)
                candidates.append(candidate)
            if any(c.confidence >= auto and c.fits() for c in candidates):
                break
        return self._decide(payment, payer, candidates, texts)

    # ------------------------------------------------------------------------------------ rules
    def _propose(self, rule: Rule, order: int, payment: Payment, payer: _Payer, texts: _Texts) -> list[_Candidate]:
        if rule.match == "structured_reference":
            hits = self._structured_hits(rule, payment, payer, texts)
            return self._group(rule, order, hits)
        if rule.match == "invoice_number":
            return self._group(rule, order, self._invoice_hits(rule, payer, texts))
        if rule.match == "regex":
            return self._group(rule, order, self._regex_hits(rule, payer, texts))
        if rule.match == "amount_and_party":
            return self._amount_and_party(rule, order, payment, payer)
        return self._several_invoices(rule, order, payment, payer)

    def _structured_hits(self, rule: Rule, payment: Payment, payer: _Payer, texts: _Texts) -> list[_Hit]:
        keys: list[tuple[str, str]] = []
        if payment.structured_reference:
            keys.append(("structured_reference", canonical_reference(reference_key(payment.structured_reference))))
        if payment.remittance_text:
            keys += [("remittance_text", canonical_reference(k)) for k in structured_in_text(payment.remittance_text)]
        hits = [_Hit("structured_reference", f, k, _ids(self._by_reference[k])) for f, k in keys
                if k in self._by_reference]
        texts.unknown_references = [k for _, k in keys if k not in self._by_reference and is_valid_structured(k)]
        if not hits:
            hits = self._window_hits(texts, rule.fields, self._by_reference, "structured_reference")
        if hits or not rule.typos:
            return hits
        # a structured reference that fails its check digits was mistyped: its neighbours are looked up
        keys += [(f, w) for f in rule.fields for w in texts.windows(f) if w.isdigit() and looks_structured(w)]
        typo_keys = [(f, k) for f, k in set(keys) if looks_structured(k) and not is_valid_structured(k)]
        return self._typo_hits(typo_keys, "structured_reference", 1, payer)

    def _invoice_hits(self, rule: Rule, payer: _Payer, texts: _Texts) -> list[_Hit]:
        hits = self._window_hits(texts, rule.fields, self._by_invoice, "invoice_number")
        if hits or not rule.typos:
            return hits
        keys = [(f, w) for f in rule.fields for w in texts.windows(f) if self._could_be_invoice(w)]
        return self._typo_hits(keys, "invoice_number", rule.typos, payer)

    def _regex_hits(self, rule: Rule, payer: _Payer, texts: _Texts) -> list[_Hit]:
        assert rule.pattern is not None
        hits: list[_Hit] = []
        misses: list[tuple[str, str]] = []
        for name in rule.fields:
            text = texts.text(name)
            if not text:
                continue
            for m in rule.pattern.finditer(text):
                key = reference_key(m.group("invoice") or "")
                if key in self._by_invoice:
                    hits.append(_Hit("invoice_number", name, m.group(0), _ids(self._by_invoice[key])))
                elif canonical_reference(key) in self._by_reference:
                    hits.append(_Hit("structured_reference", name, m.group(0),
                                     _ids(self._by_reference[canonical_reference(key)])))
                elif key:
                    misses.append((name, key))
        if hits or not rule.typos:
            return hits
        return self._typo_hits(misses, "invoice_number", rule.typos, payer)

    def _window_hits(self, texts: _Texts, fields: Iterable[str], index: dict[str, Any], kind: str) -> list[_Hit]:
        hits = []
        seen: set[str] = set()
        structured = kind == "structured_reference"
        for name in fields:
            for window in texts.windows(name):
                if structured and window[:2] == "RF":
                    window = canonical_reference(window)
                if window in index and window not in seen:
                    seen.add(window)
                    hits.append(_Hit(kind, name, window, _ids(index[window])))
        return hits

    def _could_be_invoice(self, window: str) -> bool:
        n = len(window)
        if not (n in self._invoice_lengths or n - 1 in self._invoice_lengths or n + 1 in self._invoice_lengths):
            return False
        return sum(ch.isdigit() for ch in window) >= _MIN_DIGITS_FOR_TYPOS

    def _typo_hits(self, keys: list[tuple[str, str]], kind: str, max_typos: int, payer: _Payer) -> list[_Hit]:
        """Open items whose reference is at most ``max_typos`` characters off one of ``keys``: among the
        payer's open items when the payer is known, else (one character) over all open items."""
        if not keys:
            return []
        item_keys = self._reference_keys if kind == "structured_reference" else self._invoice_keys
        parties = payer.parties(("iban", "alias", "mapping", "name"))
        if parties:
            hits = []
            for party_id in parties:
                choices = {i: item_keys[i] for i in self._party_items(party_id)[:_PARTY_TYPO_ITEMS] if item_keys[i]}
                for name, key in keys:
                    for _found, distance, i in process.extract(key, choices, scorer=OSA.distance,
                                                                  score_cutoff=max_typos, limit=3):
                        if distance:
                            hits.append(_Hit(kind, name, key, [i], typos=int(distance)))
            if hits or payer.strong()[1]:
                return hits
        structured = kind == "structured_reference"
        index = self._by_reference if structured else self._by_invoice
        hits = []
        seen: set[str] = set()
        for name, key in sorted(set(keys), key=lambda k: -len(k[1]))[:_GLOBAL_TYPO_KEYS]:
            for neighbour in one_edit_neighbours(key, self._letters):
                if structured and neighbour[:2] == "RF":
                    neighbour = canonical_reference(neighbour)
                if neighbour in index and neighbour not in seen:
                    seen.add(neighbour)
                    if structured and not is_valid_structured(neighbour):
                        continue
                    hits.append(_Hit(kind, name, key, _ids(index[neighbour]), typos=1))
        return hits

    def _group(self, rule: Rule, order: int, hits: list[_Hit]) -> list[_Candidate]:
        """One candidate per party (and currency) the references point to: the invoices a payment names
        are settled together. References found with typing errors are alternatives instead: one
        candidate per open item, of those found with the fewest characters off."""
        if not hits:
            return []
        if len(hits) == 1 and len(hits[0].items) == 1:  # the usual case: one reference to one item
            hit, i = hits[0], hits[0].items[0]
            item = self.items[i]
            is_open = self.open[i] > 0
            return [_Candidate(rule, order, item.party_id, [i] if is_open else [],
                               [hit.evidence(rule, [item.invoice_number])], typos=hit.typos,
                               settled=[] if is_open else [i])]
        fewest = min(h.typos for h in hits)
        hits = [h for h in hits if h.typos == fewest]
        groups: dict[tuple[str, str] | int, dict[int, _Hit]] = {}
        for hit in hits:
            for i in hit.items:
                item = self.items[i]
                group = (item.party_id, item.currency) if not fewest else i
                groups.setdefault(group, {}).setdefault(i, hit)
        out = []
        for found in groups.values():
            party_id = self.items[next(iter(found))].party_id
            open_items = sorted((i for i in found if self.open[i] > 0), key=self._age)
            settled = [i for i in found if self.open[i] <= 0]
            used = {id(h): h for h in found.values()}.values()
            evidence = [h.evidence(rule, [self.items[i].invoice_number for i in h.items if i in found]) for h in used]
            out.append(_Candidate(rule, order, party_id, open_items, evidence,
                                  typos=max(h.typos for h in used), ambiguous=len(groups) > 1, settled=settled))
        return out

    def _amount_and_party(self, rule: Rule, order: int, payment: Payment, payer: _Payer) -> list[_Candidate]:
        out = []
        for party_id, evidence in payer.parties(rule.party_by).items():
            for currency, items in self._open_by_currency(party_id).items():
                paid = self._paid_in(payment, currency)
                if paid is None:
                    continue
                foreign = currency != payment.currency
                fitting = []
                for i in items:
                    open_ = self.open[i]
                    if open_ == paid:
                        fitting.append((False, i))
                    elif abs(open_ - paid) <= open_ * self._fit_bound:  # worth a closer look
                        p = plan(paid, [(i, open_, self.items[i])], payment.value_date, self.rules, foreign=foreign)
                        if p.outcome in _FITTING:
                            fitting.append((True, i))
                if not fitting:
                    continue
                fitting.sort(key=lambda f: f[0])  # exact ones first, each kind oldest first
                best_exact = fitting[0][0]
                alike = [i for inexact, i in fitting if inexact == best_exact]
                note = {"rule": rule.name, "match": rule.match, "party": evidence.as_dict(),
                        "fitting_items": len(fitting)}
                out.append(_Candidate(rule, order, party_id, [alike[0]], [note], ambiguous=len(alike) > 1))
        return out

    def _several_invoices(self, rule: Rule, order: int, payment: Payment, payer: _Payer) -> list[_Candidate]:
        out = []
        for party_id, evidence in payer.parties(rule.party_by).items():
            for currency, items in self._open_by_currency(party_id).items():
                paid = self._paid_in(payment, currency)
                if paid is None or len(items) < 2:
                    continue
                tolerance = self.rules.tolerance(paid, currency, foreign=currency != payment.currency)
                pool = [i for i in items if self.open[i] <= paid + tolerance][:rule.max_items]
                if len(pool) < 2 or exact_sum(self.open[i] for i in pool) < paid - tolerance:
                    continue  # even all of them together do not reach the payment
                scale = Decimal(1).scaleb(currency_exponent(currency))
                found = combinations([int(self.open[i] * scale) for i in pool], int(paid * scale),
                                     int(tolerance * scale))
                if not found:
                    continue
                best = found[0]
                best_difference = abs(exact_sum(self.open[pool[j]] for j in best) - paid)
                alike = [f for f in found if abs(exact_sum(self.open[pool[j]] for j in f) - paid)
                         == best_difference]
                note = {"rule": rule.name, "match": rule.match, "party": evidence.as_dict(),
                        "items_combined": len(best), "combinations_found": len(found)}
                out.append(_Candidate(rule, order, party_id, [pool[j] for j in best], [note],
                                      ambiguous=len(alike) > 1))
        return out

    # ------------------------------------------------------------------------------------ scoring
    def _score(self, c: _Candidate, payment: Payment, payer: _Payer) -> None:
        scores, auto = self.rules.scores, self.rules.auto_threshold
        confidence = c.rule.confidence
        c.evidence[0]["score"] = _signed(c.rule.confidence)  # the proposing rule's own evidence comes first
        if not c.items:
            refs = ", ".join(self.items[i].invoice_number + (f" (by {self.settled_by[i]})" if i in self.settled_by else "")
                             for i in c.settled)
            c.evidence.append({"rule": c.rule.name, "check": "open", "detail": f"already settled: {refs}"})
            c.confidence = Decimal(0)
            return
        currency = self.items[c.items[0]].currency
        paid = self._paid_in(payment, currency, c)
        if paid is None:
            c.confidence = Decimal(0)
            return
        c.plan = plan(paid, [(i, self.open[i], self.items[i]) for i in c.items], payment.value_date, self.rules,
                      foreign=currency != payment.currency)
        amount_score = scores.amount[c.plan.outcome]
        confidence += amount_score
        # amounts here are quantised to their currency, so str() writes them plainly ("1210.00")
        c.evidence.append({"rule": "amount", "check": "amount", "outcome": c.plan.outcome, "paid": str(paid),
                           "currency": currency, "open": str(c.plan.open_total),
                           "difference": str(c.plan.difference), "score": _signed(amount_score)})
        if c.typos:
            confidence += scores.typo * c.typos
            c.evidence.append({"rule": "typo", "check": "reference", "characters_off": c.typos,
                               "score": _signed(scores.typo * c.typos)})
        party_score, note, contradicts = self._party_check(c.party_id, payer)
        confidence += party_score
        if note:
            c.evidence.append(note)
        if c.ambiguous:
            confidence += scores.ambiguous
            c.evidence.append({"rule": "ambiguous", "check": "alternatives",
                               "detail": "other open items fit as well", "score": _signed(scores.ambiguous)})
        if contradicts or not c.rule.auto:
            c.capped = True
            if not c.rule.auto:
                c.evidence.append({"rule": c.rule.name, "check": "auto", "detail": "this rule only suggests"})
        confidence = max(Decimal(0), min(Decimal(1), confidence))
        if c.capped:
            confidence = min(confidence, auto - CONFIDENCE_QUANTUM)
        c.confidence = confidence.quantize(CONFIDENCE_QUANTUM)

    def _party_check(self, party_id: str, payer: _Payer) -> tuple[Decimal, dict[str, Any] | None, bool]:
        """(score, evidence, contradicts a known owner) for paying ``party_id``'s items."""
        scores = self.rules.scores.party
        kind, owners = payer.strong()
        if owners:
            if party_id in owners:
                return scores[kind], {"rule": f"party_{kind}", "check": "party", "agrees": True,
                                      **owners[party_id].as_dict(), "score": _signed(scores[kind])}, False
            score = scores["contradiction"]
            return score, {"rule": f"party_{kind}", "check": "party", "agrees": False, "by": kind,
                           "value": next(iter(owners.values())).value, "known_parties": sorted(owners),
                           "item_party": party_id, "score": _signed(score)}, True
        if not payer.payer_name:
            return Decimal(0), None, False
        own = payer.name_score(party_id)
        if own >= self.rules.name_min_score:
            return scores["name"], {"rule": "party_name", "check": "party", "agrees": True, "party_id": party_id,
                                    "by": "name", "value": payer.payment.counterparty_name, "name_score": own,
                                    "score": _signed(scores["name"])}, False
        others = payer.by_name()
        if others:
            score = scores["contradiction"]
            return score, {"rule": "party_name", "check": "party", "agrees": False, "by": "name",
                           "value": payer.payment.counterparty_name, "name_score": own, "known_parties": sorted(others),
                           "item_party": party_id, "score": _signed(score)}, False
        return Decimal(0), None, False

    # ------------------------------------------------------------------------------------ deciding
    def _decide(self, payment: Payment, payer: _Payer, candidates: list[_Candidate], texts: _Texts) -> MatchResult:
        rules = self.rules
        viable = [c for c in candidates if c.plan is not None]
        if not viable:
            evidence = [e for c in candidates for e in c.evidence] or [{"rule": "none", "check": "match",
                                                                         "detail": "no rule found an open item"}]
            return self._exception(payment, payer, evidence, candidates)
        best = max(viable, key=lambda c: (c.confidence, -c.order))
        if best.confidence >= rules.auto_threshold:
            rivals = [c for c in viable if c is not best and c.confidence >= rules.auto_threshold
                      and set(c.items) != set(best.items)]
            if rivals:
                best.confidence = rules.auto_threshold - CONFIDENCE_QUANTUM
                best.evidence.append({"rule": "conflict", "check": "alternatives",
                                      "detail": f"rule {rivals[0].rule.name} points to other open items"})
        self._keep_to_named_invoices(viable, candidates, texts)
        decision: Decision
        if best.confidence >= rules.auto_threshold:
            decision = AUTO
        elif best.confidence >= rules.suggest_threshold:
            decision = SUGGEST
        else:
            return self._exception(payment, payer, best.evidence, candidates)
        result = self._result(payment, best, decision, [c for c in viable if c is not best])
        if decision == AUTO:
            for a, share in zip(result.allocations, best.plan.shares if best.plan else (), strict=True):
                self.open[share.item] -= a.amount
                if self.open[share.item] == 0:
                    self.settled_by[share.item] = payment.bank_reference
        return result

    def _keep_to_named_invoices(self, viable: list[_Candidate], candidates: list[_Candidate], texts: _Texts) -> None:
        """A payment that names an invoice (an open one, a settled one, or a structured reference with valid
        check digits that is not open) is never applied to other invoices on its amount alone, unless
        the invoice number it names is one or two characters off theirs: sequential numbers make a
        mistyped invoice number another customer's real one."""
        if not any(c.rule.match in _AMOUNT_RULES for c in viable):
            return  # nothing here would be applied on its amount
        named = {i for c in candidates if c.rule.match not in _AMOUNT_RULES for i in (*c.items, *c.settled)}
        if not named and not texts.unknown_references:
            return
        numbers = {self._invoice_keys[i] for c in candidates if c.rule.match in ("invoice_number", "regex")
                   for i in (*c.items, *c.settled)}
        cap = self.rules.auto_threshold - CONFIDENCE_QUANTUM
        for c in viable:
            if c.rule.match not in _AMOUNT_RULES or c.confidence <= cap or named.intersection(c.items):
                continue
            near = next((n for n in numbers for i in c.items
                         if OSA.distance(n, self._invoice_keys[i], score_cutoff=2) <= 2), None)
            named_text = ", ".join(texts.unknown_references) or ", ".join(
                sorted({self.items[i].invoice_number for i in named}))
            if near is not None and not texts.unknown_references:
                c.evidence.append({"rule": "named_invoice", "check": "reference",
                                   "detail": f"the payment names {named_text}, a few characters off"})
                continue
            c.confidence = cap
            c.evidence.append({"rule": "named_invoice", "check": "reference",
                               "detail": f"the payment names {named_text}: not applied to others on its amount"})

    def _result(self, payment: Payment, c: _Candidate, decision: Decision, others: list[_Candidate]) -> MatchResult:
        assert c.plan is not None
        p = c.plan
        currency = self.items[c.items[0]].currency
        allocations = []
        for share in p.shares:
            item = self.items[share.item]
            in_payment = share.amount if c.conversion is None else \
                apply_rate(Money(share.amount, currency), c.conversion.rate).amount
            allocations.append(Allocation(item.invoice_number, item.party_id, share.amount, currency, in_payment,
                                          self.open[share.item], share.discount, item.key))
        discount = p.discount if c.conversion is None else \
            apply_rate(Money(p.discount, currency), c.conversion.rate).amount
        residual = payment.amount - exact_sum(a.payment_amount for a in allocations) + discount
        unapplied = write_off = Decimal(0)
        if p.outcome == OVER and residual >= 0:
            unapplied = residual
        elif p.outcome == PARTIAL and allocations:
            # converted shares may round off the payment by a cent: the last share takes it
            last = allocations[-1]
            allocations[-1] = Allocation(last.invoice_number, last.party_id, last.amount, last.currency,
                                         last.payment_amount + residual, last.open_before, last.discount, last.key)
        else:
            write_off = residual
        account = reason = None
        if write_off:
            account, reason = self._write_off_reason(payment, foreign=c.conversion is not None)
        return MatchResult(
            payment=payment, decision=decision,
            allocations=tuple(allocations), confidence=c.confidence, evidence=c.evidence, party_id=c.party_id,
            unapplied=unapplied, write_off=write_off, discount=-discount,
            fx=c.conversion.as_dict() if c.conversion else None, write_off_account=account,
            write_off_reason=reason, rule=c.rule.name, candidates=self._alternatives(others))

    def _exception(self, payment: Payment, payer: _Payer, evidence: list[dict[str, Any]],
                   candidates: list[_Candidate]) -> MatchResult:
        kind, owners = payer.strong()
        party_id = next(iter(owners)) if len(owners) == 1 else None
        if party_id is None and not owners:
            named = payer.by_name() if payer.payer_name else {}
            party_id = next(iter(named)) if len(named) == 1 else None
        evidence = list(evidence)
        if party_id is not None:
            by = kind or "name"
            evidence.append({"rule": f"party_{by}", "check": "party", "party_id": party_id,
                             "detail": "unapplied cash on the party"})
        return MatchResult(payment=payment, decision=EXCEPTION, allocations=(), confidence=max(
            (c.confidence for c in candidates), default=Decimal(0)).quantize(CONFIDENCE_QUANTUM),
            evidence=evidence, party_id=party_id, unapplied=payment.amount,
            candidates=self._alternatives([c for c in candidates if c.items]))

    def _alternatives(self, others: list[_Candidate]) -> list[dict[str, Any]]:
        ranked = sorted(others, key=lambda c: (-c.confidence, c.order))[:5]
        return [{"rule": c.rule.name, "confidence": format_amount(c.confidence), "party_id": c.party_id,
                 "invoice_numbers": [self.items[i].invoice_number for i in c.items],
                 "outcome": c.plan.outcome if c.plan else None} for c in ranked]

    def _write_off_reason(self, payment: Payment, *, foreign: bool) -> tuple[str | None, str]:
        text = payment.remittance_text or ""
        for reason in self.rules.deduction_reasons:
            if reason.pattern.search(text):
                return reason.account or self.rules.write_off_account, reason.code
        if foreign:
            return self.rules.fx_account or self.rules.write_off_account, "EXCHANGE_DIFFERENCE"
        return self.rules.write_off_account, self.rules.write_off_reason

    # ------------------------------------------------------------------------------------ helpers
    def _age(self, i: int) -> tuple[Any, str]:
        item = self.items[i]
        return item.due_date, item.invoice_number

    def _party_items(self, party_id: str) -> list[int]:
        """The party's open items, oldest due first."""
        items = self._by_party.get(party_id)
        if items is None:
            code = self._party_codes.get(party_id)
            if code is None:
                return []
            items = self._party_order[self._party_starts[code]:self._party_starts[code + 1]].tolist()
            items.sort(key=self._age)
            self._by_party[party_id] = items
        return [i for i in items if self.open[i] > 0]

    def _open_by_currency(self, party_id: str) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for i in self._party_items(party_id):
            out.setdefault(self.items[i].currency, []).append(i)
        return out

    def _paid_in(self, payment: Payment, currency: str, candidate: _Candidate | None = None) -> Decimal | None:
        """The payment in ``currency``: as it is, or converted at the rate of its value date."""
        if currency == payment.currency:
            return payment.amount
        if self.rates is None:
            if candidate is not None:
                candidate.evidence.append({"rule": "fx", "check": "rate",
                                           "detail": f"no exchange rates to convert {payment.currency} to {currency}"})
            return None
        try:
            conversion = self.rates.convert(Money(payment.amount, payment.currency), currency, payment.value_date)
        except FxError as exc:
            if candidate is not None:
                candidate.evidence.append({"rule": "fx", "check": "rate", "detail": str(exc)})
            return None
        if candidate is not None:
            candidate.conversion = conversion
            candidate.evidence.append({"rule": "fx", "check": "rate", **conversion.as_dict()})
        return conversion.result.amount


class _Texts:
    """A payment's text fields and their windows, cut once."""

    __slots__ = ("payment", "max_window", "_windows", "unknown_references")

    def __init__(self, payment: Payment, max_window: int) -> None:
        self.payment = payment
        self.max_window = max_window
        self._windows: dict[str, list[str]] = {}
        self.unknown_references: list[str] = []  # valid structured references that are not open

    def text(self, name: str) -> str | None:
        value = getattr(self.payment, name)
        return value if isinstance(value, str) else None

    def windows(self, name: str) -> list[str]:
        found = self._windows.get(name)
        if found is None:
            text = self.text(name)
            found = self._windows[name] = list(windows(text, self.max_window)) if text else []
        return found


def _index(keys: list[str]) -> dict[str, Any]:
    """key -> position in ``keys``, or the list of positions of a key that occurs more than once; the
    empty key is left out."""
    index: dict[str, Any] = dict(zip(keys, range(len(keys)), strict=True))
    index.pop("", None)
    if len(index) < len(keys) - keys.count(""):
        shared = {k for k, n in Counter(keys).items() if n > 1 and k}
        positions: dict[str, list[int]] = defaultdict(list)
        for i, key in enumerate(keys):
            if key in shared:
                positions[key].append(i)
        index.update(positions)
    return index


def _ids(found: Any) -> list[int]:
    return found if isinstance(found, list) else [found]


@lru_cache(maxsize=256)
def _signed(value: Decimal) -> str:
    """A score as evidence shows it: "+0.07", "-0.10" (a handful of distinct values, so cached)."""
    text = format_amount(value)
    return text if text.startswith("-") else f"+{text}"
