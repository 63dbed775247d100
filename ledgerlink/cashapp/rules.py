"""Cash-application rules: a YAML file checked against ``schemas/cashapp_rules.schema.json``.

:func:`load_rules` reads the file named, else ``$LEDGERLINK_CASHAPP_RULES``, else the shipped
``default_rules.yaml``. Every problem is reported as ``FILE:LINE: rule 'NAME': message`` (or the
setting's path where the problem is outside the rules list).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from ledgerlink.config import SCHEMAS_DIR
from ledgerlink.errors import ConfigError
from ledgerlink.model.identifiers import IdentifierError, normalize_iban
from ledgerlink.model.money import MoneyError, currency_exponent, quantize_money

RULES_ENV = "LEDGERLINK_CASHAPP_RULES"
DEFAULT_RULES = Path(__file__).resolve().parent / "default_rules.yaml"
PARTY_EVIDENCE = ("iban", "alias", "mapping", "name")
TEXT_FIELDS = ("remittance_text", "structured_reference", "end_to_end_id")


class RulesError(ConfigError):
    """The rules file cannot be used. ``problems`` lists each as ``FILE:LINE: ...``; the message is the
    first of them (one line), with how many more there are."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
        super().__init__(f"{problems[0]}{more}")


@dataclass(frozen=True)
class Rule:
    """One matching rule. ``match`` says what it looks for; the other settings narrow it."""

    name: str
    match: str
    confidence: Decimal
    auto: bool = True
    typos: int = 0
    pattern: re.Pattern[str] | None = None
    fields: tuple[str, ...] = TEXT_FIELDS
    party_by: frozenset[str] = frozenset(PARTY_EVIDENCE)
    max_items: int = 16
    currencies: frozenset[str] | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None

    def applies_to(self, amount: Decimal, currency: str) -> bool:
        if self.currencies is not None and currency not in self.currencies:
            return False
        if self.amount_min is not None and amount < self.amount_min:
            return False
        return self.amount_max is None or amount <= self.amount_max


@dataclass(frozen=True)
class DeductionReason:
    code: str
    pattern: re.Pattern[str]
    account: str | None = None


@dataclass(frozen=True)
class DiscountTerms:
    percent: Decimal
    days: int
    grace_days: int = 0
    account: str | None = None


@dataclass(frozen=True)
class PartyMapping:
    party_id: str
    ibans: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None


def _d(text: str) -> Decimal:
    return Decimal(text)


@dataclass(frozen=True)
class Scores:
    """What each check adds to a candidate's confidence (see README)."""

    typo: Decimal = _d("-0.10")
    ambiguous: Decimal = _d("-0.10")
    party: Mapping[str, Decimal] = field(default_factory=lambda: {
        "iban": _d("0.10"), "alias": _d("0.10"), "mapping": _d("0.10"), "name": _d("0.05"),
        "contradiction": _d("-0.10")})
    amount: Mapping[str, Decimal] = field(default_factory=lambda: {
        "exact": _d("0.07"), "tolerance": _d("0.04"), "discount": _d("0.04"), "over": _d("-0.02"),
        "partial": _d("-0.02")})


@dataclass(frozen=True)
class Rules:
    rules: tuple[Rule, ...]
    revision: str = "1"
    auto_threshold: Decimal = _d("0.90")
    suggest_threshold: Decimal = _d("0.60")
    tolerance_percent: Decimal = Decimal(0)
    tolerance_amounts: Mapping[str, Decimal] = field(default_factory=dict)
    write_off_account: str | None = None
    write_off_reason: str = "PAYMENT_DIFFERENCE"
    deduction_reasons: tuple[DeductionReason, ...] = ()
    discount: DiscountTerms | None = None
    fx_tolerance_percent: Decimal = Decimal(0)
    fx_account: str | None = None
    name_min_score: int = 88
    party_mappings: tuple[PartyMapping, ...] = ()
    scores: Scores = field(default_factory=Scores)
    path: str = ""
    sha256: str = ""

    def tolerance(self, open_total: Decimal, currency: str, *, foreign: bool = False) -> Decimal:
        """The largest difference written off on ``open_total``: the percentage of it, capped by the
        currency's fixed amount when one is set; for a payment in another currency at least the
        exchange tolerance. Rounded down to the currency's minor unit."""
        limit = open_total * self.tolerance_percent / 100
        fixed = self.tolerance_amounts.get(currency)
        if fixed is not None:
            limit = min(limit, fixed)
        if foreign:
            limit = max(limit, open_total * self.fx_tolerance_percent / 100)
        quantum = Decimal(1).scaleb(-currency_exponent(currency))
        return limit.quantize(quantum, rounding=ROUND_DOWN)


def rules_file() -> Path:
    return Path(os.environ.get(RULES_ENV) or DEFAULT_RULES)


def load_rules(path: Path | str | None = None) -> Rules:
    """The rules file at ``path``, else ``$LEDGERLINK_CASHAPP_RULES``, else the shipped default."""
    path = Path(path) if path is not None else rules_file()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RulesError([f"{path}: cannot read the cash-application rules: {exc.strerror or exc}"]) from None
    return parse_rules(raw, str(path))


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads((SCHEMAS_DIR / "cashapp_rules.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


class _Lines:
    """Line numbers of a YAML document's keys and items, from its node tree."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.root = root

    def at(self, path: list[Any] | tuple[Any, ...]) -> int:
        node = self.root
        if node is None:
            return 1
        line = node.start_mark.line + 1
        for step in path:
            if isinstance(node, yaml.MappingNode):
                found = next(((k, v) for k, v in node.value if k.value == step), None)
                if found is None:
                    break
                line, node = found[0].start_mark.line + 1, found[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
                node = node.value[step]
                line = node.start_mark.line + 1
            else:
                break
        return line


def _where(doc: Any, path: list[Any] | tuple[Any, ...]) -> str:
    """'rule NAME' for a problem inside the rules list, else the setting's path."""
    if len(path) >= 2 and path[0] == "rules" and isinstance(path[1], int):
        rules = doc.get("rules") if isinstance(doc, dict) else None
        entry = rules[path[1]] if isinstance(rules, list) and path[1] < len(rules) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        label = f"rule {name!r}" if isinstance(name, str) else f"rule #{path[1] + 1}"
        rest = ".".join(str(p) for p in path[2:])
        return f"{label}: {rest}" if rest else label
    return ".".join(str(p) for p in path) or "(top)"


def parse_rules(text: str | bytes, path: str = "<rules>") -> Rules:
    """Rules from YAML text; any problem raises RulesError naming the file, the line and the rule."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    try:
        root = yaml.compose(raw, Loader=yaml.SafeLoader)
        doc = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        reason = getattr(exc, "problem", None) or str(exc)
        raise RulesError([f"{path}:{line}: not valid YAML: {reason}"]) from None
    lines = _Lines(root)
    problems: list[tuple[int, str]] = []

    def problem(at: list[Any], message: str, *, line_of: list[Any] | None = None) -> None:
        line = lines.at(line_of or at)
        problems.append((line, f"{path}:{line}: {_where(doc, at)}: {message}"))

    for err in _validator().iter_errors(doc):
        at = list(err.absolute_path)
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            allowed = sorted(err.schema.get("properties", {}))
            for key in err.instance:
                if key not in allowed:
                    problem(at, f"unknown setting {key!r} (expected one of: {', '.join(allowed)})",
                            line_of=[*at, key])
            continue
        problem(at, err.message)
    if problems:
        raise RulesError([p for _, p in sorted(problems, key=lambda p: p[0])])
    fields = _build(doc, problem)
    if problems:
        raise RulesError([p for _, p in sorted(problems, key=lambda p: p[0])])
    return Rules(**fields, path=path, sha256=hashlib.sha256(raw).hexdigest())


def _build(doc: dict[str, Any], problem: Callable[[list[Any], str], None]) -> dict[str, Any]:
    """The Rules fields of a schema-valid document; what the schema cannot check goes to ``problem``."""

    def regex(at: list[Any], text: str, *, group: str | None = None) -> re.Pattern[str] | None:
        try:
            compiled = re.compile(text)
        except re.error as exc:
            problem(at, f"not a valid regular expression: {exc}")
            return None
        if group and group not in compiled.groupindex:
            problem(at, f"the pattern needs a named group (?P<{group}>...) for the invoice number")
            return None
        return compiled

    def money(at: list[Any], text: str, currency: str) -> Decimal | None:
        try:
            return quantize_money(Decimal(text), currency)
        except MoneyError as exc:
            problem(at, str(exc))
            return None

    out: dict[str, Any] = {"revision": str(doc.get("revision", "1"))}
    thresholds = doc.get("thresholds", {})
    out["auto_threshold"] = Decimal(thresholds.get("auto", "0.90"))
    out["suggest_threshold"] = Decimal(thresholds.get("suggest", "0.60"))
    if out["suggest_threshold"] > out["auto_threshold"]:
        problem(["thresholds", "suggest"], f"suggest {out['suggest_threshold']} is above auto {out['auto_threshold']}")

    tolerance = doc.get("tolerance", {})
    out["tolerance_percent"] = Decimal(tolerance.get("percent", "0"))
    amounts = {}
    for code, text in tolerance.get("amount", {}).items():
        value = money(["tolerance", "amount", code], text, code)
        if value is not None:
            amounts[code] = value
    out["tolerance_amounts"] = amounts

    write_off = doc.get("write_off", {})
    out["write_off_account"] = write_off.get("account")
    out["write_off_reason"] = write_off.get("reason", "PAYMENT_DIFFERENCE")
    reasons = []
    for i, entry in enumerate(write_off.get("reasons", [])):
        compiled = regex(["write_off", "reasons", i, "pattern"], entry["pattern"])
        if compiled is not None:
            reasons.append(DeductionReason(entry["code"], compiled, entry.get("account")))
    out["deduction_reasons"] = tuple(reasons)

    discount = doc.get("discount")
    out["discount"] = None if discount is None else DiscountTerms(
        Decimal(discount["percent"]), discount["days"], discount.get("grace_days", 0), discount.get("account"))
    fx = doc.get("fx", {})
    out["fx_tolerance_percent"] = Decimal(fx.get("tolerance_percent", "0"))
    out["fx_account"] = fx.get("account")
    out["name_min_score"] = doc.get("names", {}).get("min_score", 88)

    mappings = []
    for i, entry in enumerate(doc.get("parties", [])):
        ibans = []
        for j, iban in enumerate(entry.get("ibans", [])):
            try:
                ibans.append(normalize_iban(iban))
            except IdentifierError as exc:
                problem(["parties", i, "ibans", j], str(exc))
        pattern = entry.get("pattern")
        compiled = regex(["parties", i, "pattern"], pattern) if pattern else None
        mappings.append(PartyMapping(entry["party_id"], tuple(ibans), tuple(entry.get("names", [])), compiled))
    out["party_mappings"] = tuple(mappings)

    scores = doc.get("scores", {})
    default = Scores()
    out["scores"] = Scores(
        typo=Decimal(scores.get("typo", default.typo)), ambiguous=Decimal(scores.get("ambiguous", default.ambiguous)),
        party={**default.party, **{k: Decimal(v) for k, v in scores.get("party", {}).items()}},
        amount={**default.amount, **{k: Decimal(v) for k, v in scores.get("amount", {}).items()}})

    rules = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(doc["rules"]):
        name, kind = entry["name"], entry["match"]
        if name in seen:
            problem(["rules", i, "name"], f"a second rule named {name!r} (the first is rule #{seen[name] + 1})")
        seen[name] = i
        pattern = None
        if kind == "regex":
            if "pattern" not in entry:
                problem(["rules", i], "a regex rule needs a pattern with a named group (?P<invoice>...)")
            else:
                pattern = regex(["rules", i, "pattern"], entry["pattern"], group="invoice")
        elif "pattern" in entry:
            problem(["rules", i, "pattern"], f"pattern is for regex rules, not for match: {kind}")
        for key, kinds in (("typos", ("structured_reference", "invoice_number", "regex")),
                           ("fields", ("regex", "invoice_number")),
                           ("party_by", ("amount_and_party", "several_invoices")),
                           ("max_items", ("several_invoices",))):
            if key in entry and kind not in kinds:
                problem(["rules", i, key], f"{key} is for {' and '.join(kinds)} rules, not for match: {kind}")
        if kind == "structured_reference" and entry.get("typos", 0) > 1:
            problem(["rules", i, "typos"], "structured references carry check digits: at most 1 typo is searched")
        bounds = entry.get("amount", {})
        low = Decimal(bounds["min"]) if "min" in bounds else None
        high = Decimal(bounds["max"]) if "max" in bounds else None
        if low is not None and high is not None and low > high:
            problem(["rules", i, "amount"], f"min {low} is above max {high}")
        for j, code in enumerate(entry.get("currencies", [])):
            try:
                currency_exponent(code)
            except MoneyError as exc:
                problem(["rules", i, "currencies", j], str(exc))
        rules.append(Rule(
            name=name, match=kind, confidence=Decimal(entry["confidence"]), auto=entry.get("auto", True),
            typos=entry.get("typos", 0), pattern=pattern,
            fields=tuple(entry.get("fields", TEXT_FIELDS)),
            party_by=frozenset(entry.get("party_by", PARTY_EVIDENCE)), max_items=entry.get("max_items", 16),
            currencies=frozenset(entry["currencies"]) if "currencies" in entry else None,
            amount_min=low, amount_max=high))
    out["rules"] = tuple(rules)
    return out
