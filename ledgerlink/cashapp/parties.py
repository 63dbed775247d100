"""Who paid: the party behind a payment, by IBAN, alias, rule mapping or name.

Evidence comes in four kinds, strongest first:

* ``iban``: the payer's IBAN is one of the party's (master data, or learned from a resolution);
* ``alias``: a learned alias of the party is the payer's name or stands in the remittance text;
* ``mapping``: a counterparty mapping of the rules (IBANs, names, a remittance-text pattern);
* ``name``: the payer's name resembles the party's (rapidfuzz token sort ratio, at least
  ``names.min_score``). Candidate names come from an index of the first four letters of their words,
  so a payer is compared with the few parties sharing a word with it, never with all of them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from itertools import islice
from typing import NamedTuple

from rapidfuzz import fuzz, process

from ledgerlink.cashapp.model import LearnedRule, Party, Payment
from ledgerlink.cashapp.rules import PartyMapping
from ledgerlink.cashapp.text import name_key, name_keys

# A name-index key shared by more parties than this says little ("HOLDING", "BAKKERIJ"): it is narrowed
# by the payer's next rarest word.
_COMMON_KEY = 200
_MAX_NAME_CANDIDATES = 2000
_MAX_ALIAS_WORDS = 5


class PartyEvidence(NamedTuple):
    """One reason to think ``party_id`` paid: ``by`` (iban, alias, mapping, name), what matched, a score
    (name similarity 0-100; 100 for the others) and where the fact came from."""

    party_id: str
    by: str
    value: str
    score: int = 100
    source: str = "master data"

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"party_id": self.party_id, "by": self.by, "value": self.value, "source": self.source}
        if self.by == "name":
            out["name_score"] = self.score
        return out


class PartyDirectory:
    def __init__(self, parties: Iterable[Party], learned: Iterable[LearnedRule] = (),
                 mappings: Iterable[PartyMapping] = (), *, name_min_score: int = 88) -> None:
        self.names: dict[str, str] = {}
        self.owner: dict[str, str] = {}  # IBAN -> the one party whose master data has it
        self.ibans: dict[str, dict[str, str]] = defaultdict(dict)  # other IBANs -> {party_id: source}
        self.aliases: dict[str, dict[str, str]] = defaultdict(dict)  # name key -> {party_id: source}
        self.mapped_names: dict[str, set[str]] = defaultdict(set)
        self.patterns = [(m.party_id, m.pattern) for m in mappings if m.pattern is not None]
        self.name_min_score = name_min_score
        owner, shared = self.owner, self.ibans
        for party in parties:
            self.names[party.party_id] = party.name
            for iban in party.ibans:
                first = owner.setdefault(iban, party.party_id)
                if first != party.party_id:  # an IBAN two customers pay from
                    shared[iban][first] = shared[iban][party.party_id] = "master data"
        # names are indexed when first asked for: many runs identify every payer by IBAN
        self._name_keys: dict[str, str] | None = None  # party_id -> name key
        self._exact_names: dict[str, list[str]] = defaultdict(list)
        self._name_index: dict[str, set[str]] = defaultdict(set)
        for mapping in mappings:
            for iban in mapping.ibans:
                self._add_iban(iban, mapping.party_id, "rules")
            for name in mapping.names:
                self.mapped_names[name_key(name)].add(mapping.party_id)
        for rule in learned:
            self.learn(rule)

    def learn(self, rule: LearnedRule) -> None:
        source = f"learned from {rule.source}" if rule.source else "learned"
        if rule.kind == "iban":
            self._add_iban(rule.value, rule.party_id, source)
        else:
            key = name_key(rule.value)
            if key:
                self.aliases[key][rule.party_id] = source

    def _add_iban(self, iban: str, party_id: str, source: str) -> None:
        owners = self.ibans[iban]
        if not owners and iban in self.owner:
            owners[self.owner[iban]] = "master data"
        owners[party_id] = source

    def name_key_of(self, party_id: str) -> str | None:
        return self._names().get(party_id)

    def _names(self) -> dict[str, str]:
        if self._name_keys is None:
            self._name_keys = {}
            exact, index = self._exact_names, self._name_index
            for party_id, key in zip(self.names, name_keys(list(self.names.values())), strict=True):
                if key:
                    self._name_keys[party_id] = key
                    exact[key].append(party_id)
                    for word in key.split():
                        if len(word) >= 3:
                            index[word[:4]].add(party_id)  # see _blocks
        return self._name_keys

    # ------------------------------------------------------------------------------------ lookups
    def by_iban(self, iban: str | None) -> list[PartyEvidence]:
        if not iban:
            return []
        owners = self.ibans.get(iban)
        if owners:
            return [PartyEvidence(p, "iban", iban, source=s) for p, s in owners.items()]
        party_id = self.owner.get(iban)
        return [PartyEvidence(party_id, "iban", iban)] if party_id else []

    def by_alias(self, payment: Payment) -> list[PartyEvidence]:
        """Learned aliases equal to the payer's name or standing, as whole words, in the remittance text."""
        if not self.aliases:
            return []
        found: dict[str, PartyEvidence] = {}
        for text in (payment.counterparty_name, payment.remittance_text):
            if not text:
                continue
            words = name_key(text).split()
            for start in range(len(words)):
                for end in range(start + 1, min(len(words), start + _MAX_ALIAS_WORDS) + 1):
                    phrase = " ".join(words[start:end])
                    for party_id, source in self.aliases.get(phrase, {}).items():
                        found.setdefault(party_id, PartyEvidence(party_id, "alias", phrase, source=source))
        return list(found.values())

    def by_mapping(self, payment: Payment) -> list[PartyEvidence]:
        found: dict[str, PartyEvidence] = {}
        if payment.counterparty_name and self.mapped_names:
            key = name_key(payment.counterparty_name)
            for party_id in self.mapped_names.get(key, ()):
                found[party_id] = PartyEvidence(party_id, "mapping", payment.counterparty_name, source="rules")
        for party_id, pattern in self.patterns:
            for text in (payment.remittance_text, payment.counterparty_name):
                m = pattern.search(text) if text else None
                if m:
                    found.setdefault(party_id, PartyEvidence(party_id, "mapping", m.group(0), source="rules"))
                    break
        return list(found.values())

    def by_name(self, name: str | None) -> list[PartyEvidence]:
        """Parties whose name resembles ``name`` by at least the minimum score, best first; several
        only when they score alike (within 3 points of the best)."""
        if not name:
            return []
        key = name_key(name)
        if not key:
            return []
        name_keys = self._names()
        exact = self._exact_names.get(key)
        if exact:
            return [PartyEvidence(p, "name", name, 100) for p in exact]
        blocks = sorted((ids for ids in (self._name_index.get(b) for b in _blocks(key)) if ids), key=len)
        if not blocks:
            return []
        # the parties sharing the payer's rarest word; when that word is common, those sharing its two
        # rarest words (a misspelt word then still leaves the other)
        candidates = blocks[0]
        if len(candidates) > _COMMON_KEY:
            if len(blocks) == 1:
                return []  # one common word ("Jansen") names no one in particular
            candidates = candidates & blocks[1] or set(islice(candidates, _MAX_NAME_CANDIDATES))
        choices = {p: name_keys[p] for p in candidates}
        scored = process.extract(key, choices, scorer=fuzz.token_sort_ratio, score_cutoff=self.name_min_score,
                                 limit=5)
        if not scored:
            return []
        best = scored[0][1]
        return [PartyEvidence(p, "name", name, round(score)) for _, score, p in scored if score >= best - 3]


def _blocks(key: str) -> set[str]:
    """Index keys of a name: the first four letters of each word of three or more."""
    return {word[:4] for word in key.split() if len(word) >= 3}
