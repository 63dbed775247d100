"""Turn a validated mapping document into a ``Mapping``: plans of scalar functions per field.

All semantic checks that the JSON Schema cannot express happen here (canonical field
names, transforms, regular expressions, references between fields), each reported with
its line. Both engines (executor.py) run the same compiled functions.
"""

from __future__ import annotations

import csv
import difflib
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from lxml import etree

from ledgerlink.mapping import executor, sources
from ledgerlink.mapping.errors import Issue, MappingFileError
from ledgerlink.mapping.loader import LDict, line_at, read_document_issues
from ledgerlink.mapping.plan import CheckPlan, FieldPlan, FilterPlan, MappingPlan
from ledgerlink.mapping.transforms import (
    Failure,
    Step,
    build_condition,
    build_step,
    content_hash,
    number_parser,
    shown,
    type_converter,
)
from ledgerlink.model.entities import entity_fields, load_schema
from ledgerlink.model.money import format_amount, is_currency

MONEY_LIKE = ("money", "decimal", "int")
_STEP_KEYS = ("strip", "case", "regex_extract", "regex_replace", "split", "pad", "when")
_INPUT_KEYS = ("from", "value", "coalesce", "concat", "hash", "object")
_SIGNED = ("money", "decimal")  # types that take `sign` and `minus`


class Mapping(MappingPlan):
    """A loaded, validated mapping file, ready to map source files."""

    def map_file(self, path: str | Path, *, source_name: str | None = None, engine: str = "columnar") -> executor.MapResult:
        table = sources.read_source(Path(path), self.source, self.used_columns)
        return executor.run(self, table, source_name=source_name or str(path), engine=engine)

    def map_rows(self, raw_rows: list[tuple[int | None, str | None, dict[str, Any]]], *,
                 source_name: str | None = None, engine: str = "rows") -> executor.MapResult:
        table = sources.table_from_rows(raw_rows, xml_or_json=self.source.format != "csv")
        return executor.run(self, table, source_name=source_name, engine=engine)


def load_mapping(path: str | Path) -> Mapping:
    """Read, migrate, validate and compile a mapping file; raises MappingFileError listing every issue."""
    path = Path(path)
    doc, notices, issues = read_document_issues(path)
    if not issues:
        return _Compiler(path, doc).compile(notices)
    # The schema rejected parts of the file: compile the rest anyway, so that one run reports every problem
    # (unknown fields, bad references, ...) and not only the schema's.
    try:
        _Compiler(path, doc, tolerant=True).compile(notices)
    except MappingFileError as exc:
        # A line the schema faulted is often faulted again by the compiler, in other words: keep the schema's.
        faulted = {i.line for i in issues}
        issues += [i for i in dict.fromkeys(exc.issues) if i.line not in faulted]
    except (KeyError, TypeError, AttributeError, ValueError, IndexError):
        pass  # a part the schema rejected (source, entity) keeps the compiler from starting at all
    raise MappingFileError(sorted(issues, key=lambda i: i.line))


# What compiling a part the schema rejected can raise (a list where a mapping belongs, a missing key).
_MALFORMED = (KeyError, TypeError, AttributeError, ValueError, IndexError)


class _Compiler:
    def __init__(self, path: Path, doc: LDict, *, tolerant: bool = False):
        self.path, self.doc = path, doc
        self.issues: list[Issue] = []
        # With the schema's issues already reported, a part that cannot be compiled is skipped, not fatal.
        self.tolerant = tolerant
        src = doc["source"]
        self.format = src["format"]
        enc = src.get("encoding", "utf-8-sig")
        self.options = sources.SourceOptions(
            format=self.format,
            encodings=[enc] if isinstance(enc, str) else list(enc),
            delimiter=src.get("delimiter", ","),
            header_row=src.get("header_row", 0 if "columns" in src else 1),
            columns=list(src["columns"]) if "columns" in src else None,
            quote=src.get("quote", '"'),
            decimal=src.get("decimal", "."),
            thousands=src.get("thousands"),
            dates=list(src.get("dates", ["%Y-%m-%d"])),
            record_path=src.get("record_path"),
            namespaces=dict(src.get("namespaces") or {}),
            max_row_bytes=src.get("max_row_bytes", sources.SourceOptions.max_row_bytes),
            max_field_chars=src.get("max_field_chars", sources.SourceOptions.max_field_chars),
        )
        self.label_kind = "column" if self.format == "csv" else "path"
        self.tables: dict[str, dict[str, str]] = {}

    def issue(self, path: list[Any], message: str) -> None:
        self.issues.append(Issue(str(self.path), line_at(self.doc, path), message))

    def _part(self, build: Callable[..., Any], *args: Any, empty: Any = None) -> Any:
        if not self.tolerant:
            return build(*args)
        try:
            return build(*args)
        except _MALFORMED:
            return empty

    def compile(self, notices: list[str]) -> Mapping:
        doc, entity = self.doc, self.doc["entity"]
        self._part(self._check_source)
        self._part(self._load_reference)
        schema_props = load_schema(entity)["properties"]
        known = list(entity_fields(entity))
        plans: list[FieldPlan] = []
        for name, rule in doc["fields"].items():
            if name not in known:
                hint = difflib.get_close_matches(name, known, n=1)
                self.issue(["fields", name], f"unknown field {name!r} for entity {entity}"
                           + (f"; did you mean {hint[0]!r}?" if hint else f" (fields: {', '.join(known)})"))
                continue
            plan = self._part(self._field, ["fields", name], name, rule, schema_props[name])
            if plan:
                plans.append(plan)
        for name, rule in (doc.get("carry") or {}).items():
            if name in known or name in doc["fields"]:
                self.issue(["carry", name], f"carry value {name!r} is a field of entity {entity}; map it under fields")
                continue
            if "object" in rule:
                self.issue(["carry", name, "object"], "object is not supported under carry")
                continue
            plan = self._part(self._field, ["carry", name], name, rule, {})
            if plan:
                plan.carried = True
                plans.append(plan)
        by_name = {p.name: p for p in plans}
        for name in load_schema(entity).get("required", []):
            if name not in doc["fields"]:
                self.issue(["fields"], f"entity {entity} requires field {name!r}, which the mapping does not define")
        self._part(self._check_money_currencies, plans, by_name)
        key = list(doc.get("key", []))
        for i, name in enumerate(key):
            if name not in doc["fields"]:
                self.issue(["key", i], f"key field {name!r} is not defined in fields")
        checks = self._part(self._checks, by_name, empty=[])
        filters = self._part(self._filters, empty=[])
        if self.issues:
            raise MappingFileError(sorted(self.issues, key=lambda i: i.line))
        return Mapping(
            path=self.path, entity=entity, key=key, on_drift=doc.get("on_drift", "report"),
            source=self.options, fields=plans, checks=checks, filters=filters,
            ignore_columns=list(doc.get("ignore_columns", [])), description=doc.get("description", ""),
            notices=notices, lines={k: doc.line_of(k) for k in doc},
        )

    # --- source and reference data ---------------------------------------------------

    def _check_source(self) -> None:
        src = self.doc["source"]
        if self.format in ("xml", "json") and not src.get("record_path") and self.format == "xml":
            self.issue(["source"], "source.record_path is required for XML (an XPath selecting the record elements)")
        if self.format == "xml" and src.get("record_path"):
            self._xpath(["source", "record_path"], src["record_path"])
        if self.options.decimal == self.options.thousands:
            self.issue(["source", "thousands"], "source.thousands must differ from source.decimal")
        if self.format != "csv":
            for key in ("columns", "quote"):
                if key in src:
                    self.issue(["source", key], f"source.{key} is only for CSV")
        elif self.options.quote == self.options.delimiter:
            self.issue(["source", "quote"], "source.quote must differ from source.delimiter")

    def _xpath(self, path: list[Any], expr: str) -> None:
        try:
            etree.XPath(expr, namespaces=self.options.namespaces)(etree.Element("probe"))
        except etree.XPathError as exc:
            self.issue(path, f"invalid XPath {expr!r}: {exc}")

    def _load_reference(self) -> None:
        for name, spec in (self.doc.get("reference") or {}).items():
            where = ["reference", name]
            if "values" in spec:
                self.tables[name] = dict(spec["values"])
                continue
            if not all(k in spec for k in ("csv", "key", "value")):
                self.issue(where, f"reference table {name!r} needs either values or csv, key and value")
                continue
            file = self.path.parent / spec["csv"]
            try:
                with open(file, encoding=spec.get("encoding", "utf-8-sig"), newline="") as fh:
                    reader = csv.DictReader(fh, delimiter=spec.get("delimiter", ","))
                    header = [h.strip() for h in reader.fieldnames or []]
                    reader.fieldnames = header
                    missing = [c for c in (spec["key"], spec["value"]) if c not in header]
                    if missing:
                        self.issue(where, f"reference file {spec['csv']} has no column(s) {', '.join(missing)}")
                        continue
                    self.tables[name] = {(r[spec["key"]] or "").strip(): (r[spec["value"]] or "").strip()
                                         for r in reader}
            except (OSError, UnicodeDecodeError, csv.Error) as exc:
                self.issue(where + ["csv"], f"cannot read reference file {spec['csv']}: {exc}")

    # --- fields ----------------------------------------------------------------------

    def _field(self, path: list[Any], name: str, rule: dict[str, Any], prop: dict[str, Any],
               nested: bool = False) -> FieldPlan | None:
        inputs_given = [k for k in _INPUT_KEYS if k in rule]
        if len(inputs_given) != 1:
            self.issue(path, f"field {name!r} needs exactly one of from, value, coalesce, concat, hash, object"
                       + (f" (has {', '.join(inputs_given)})" if inputs_given else ""))
            return None
        line = line_at(self.doc, path)
        if "object" in rule:
            return self._object_field(path, name, rule, prop, nested)
        if rule.get("list"):
            self.issue(path + ["list"], "list: true is only allowed together with object")
        type_name = rule.get("type", "string")
        for key, needs in (("currency", "money"), ("dates", "date")):
            if key in rule and type_name != needs:
                self.issue(path + [key], f"{key} is only allowed with type: {needs}")
        for key in ("sign", "minus"):
            if key in rule and type_name not in _SIGNED:
                self.issue(path + [key], f"{key} is only allowed with type: money or decimal")
        if "sign" in rule and set(rule["sign"]["debit"]) & set(rule["sign"]["credit"]):
            self.issue(path + ["sign"], "sign: an indicator cannot be both debit and credit")
        if type_name == "money" and "currency" not in rule:
            self.issue(path, f"money field {name!r} needs currency: (a currency field or an ISO 4217 code)")
        if type_name == "money" and nested:
            self.issue(path + ["type"], "type: money is not supported inside object")

        inputs: list[str] = []

        def use(column: str) -> int:
            if column not in inputs:
                inputs.append(column)
            return inputs.index(column)

        if "from" in rule:
            use(rule["from"])
            label = f"{self.label_kind} {rule['from']!r}"
        elif "coalesce" in rule:
            for c in rule["coalesce"]:
                use(c)
            label = f"{self.label_kind}s {', '.join(repr(c) for c in rule['coalesce'])}"
        elif "concat" in rule:
            for c in rule["concat"]["from"]:
                use(c)
            label = f"{self.label_kind}s {', '.join(repr(c) for c in rule['concat']['from'])}"
        elif "hash" in rule:
            for c in rule["hash"]:
                use(c)
            label = f"{self.label_kind}s {', '.join(repr(c) for c in rule['hash'])}"
        else:
            label = "the constant value"
        n_main = len(inputs)
        if self.format == "xml":
            for column in inputs:
                self._xpath(path + [inputs_given[0]], column)
        steps: list[Step] = []
        for i, spec in enumerate(rule.get("transform") or []):
            step = self._step(path + ["transform", i], spec, use)
            if step:
                steps.append(step)
        sign_index = use(rule["sign"]["from"]) if "sign" in rule else None
        minus_index = use(rule["minus"]) if "minus" in rule else None
        convert_text = self._text_conversion(path, rule, type_name, steps, n_main, enforce_required=not nested,
                                             sign_index=sign_index, minus_index=minus_index)
        if convert_text is None:
            return None
        currency = rule.get("currency")
        plan = FieldPlan(
            name=name, line=line, type=type_name, inputs=tuple(inputs), convert=convert_text,
            required=bool(rule.get("required", False)),
            currency_field=currency if currency and not re.fullmatch(r"[A-Z]{3}", currency) else None,
            currency_code=currency if currency and re.fullmatch(r"[A-Z]{3}", currency) else None,
            simple="from" in rule and not any(k in rule for k in _NOT_SIMPLE),
            label=label, decimal=self.options.decimal, thousands=self.options.thousands,
            numbered="hash" in rule,
        )
        if plan.currency_code and not is_currency(plan.currency_code):
            self.issue(path + ["currency"], f"{plan.currency_code!r} is not an ISO 4217 currency code with minor units")
        return plan

    def _step(self, path: list[Any], spec: dict[str, Any], use: Callable[[str], int]) -> Step | None:
        names = [k for k in spec if k in _STEP_KEYS]
        if len(names) != 1:
            self.issue(path, "a transform step holds exactly one transform"
                       + (f" (has {', '.join(names)})" if names else ""))
            return None
        if ("then" in spec or "else" in spec) and "when" not in spec:
            self.issue(path, "then/else are only allowed in a when step")
            return None
        source_index = None
        if "when" in spec:
            if "then" not in spec:
                self.issue(path, "a when step needs then:")
                return None
            if not self._condition_ok(path + ["when"], spec["when"]):
                return None
            if "from" in spec["when"]:
                source_index = use(spec["when"]["from"])
        try:
            return build_step(spec, source_index)
        except re.error as exc:
            self.issue(path + [names[0]], f"invalid regular expression in {names[0]}: {exc}")
            return None

    def _condition_ok(self, path: list[Any], cond: dict[str, Any]) -> bool:
        tests = [k for k in ("equals", "in", "matches", "empty") if k in cond]
        if len(tests) != 1:
            self.issue(path, "a condition needs exactly one of equals, in, matches, empty")
            return False
        if "matches" in cond:
            try:
                re.compile(cond["matches"])
            except re.error as exc:
                self.issue(path + ["matches"], f"invalid regular expression in matches: {exc}")
                return False
        return True

    def _text_conversion(self, path: list[Any], rule: dict[str, Any], type_name: str, steps: list[Step],
                         n_main: int, enforce_required: bool, sign_index: int | None = None,
                         minus_index: int | None = None) -> Callable[[tuple[str, ...]], Any] | None:
        name = path[-1]
        dates = list(rule.get("dates", self.options.dates))
        to_type = type_converter(type_name, decimal=self.options.decimal, thousands=self.options.thousands,
                                 dates=dates)
        if "from" in rule:
            take: Callable[[tuple[str, ...]], str] = lambda s: s[0]  # noqa: E731
        elif "coalesce" in rule:
            take = lambda s: next((v for v in s[:n_main] if v), "")  # noqa: E731
        elif "concat" in rule:
            sep = rule["concat"].get("separator", " ")
            take = lambda s: sep.join(v for v in s[:n_main] if v)  # noqa: E731
        elif "hash" in rule:
            take = lambda s: content_hash(s[:n_main]) if any(s[:n_main]) else ""  # noqa: E731
        else:
            const = _text(rule["value"])
            take = lambda s: const  # noqa: E731
        value_map = {k: _text(v) for k, v in rule["map"].items()} if "map" in rule else None
        map_fallback = _text(rule.get("map_fallback")) if "map_fallback" in rule else None
        table = None
        if "lookup" in rule:
            table = self.tables.get(rule["lookup"])
            if table is None and rule["lookup"] not in (self.doc.get("reference") or {}):
                self.issue(path + ["lookup"], f"unknown reference table {rule['lookup']!r}")
                return None
            table = table or {}
        lookup_name = rule.get("lookup")
        lookup_fallback = _text(rule.get("lookup_fallback")) if "lookup_fallback" in rule else None
        default = _text(rule["default"]) if "default" in rule else ""
        required = bool(rule.get("required", False)) and enforce_required
        label = f"{self.label_kind} {rule['from']!r}" if "from" in rule else "its sources"
        map_keys = ", ".join(list(value_map or {})[:8])
        has_fallback = "type_fallback" in rule
        type_fallback = _text(rule.get("type_fallback"))
        parse_number = number_parser(f"type.{type_name}", self.options.decimal, self.options.thousands) \
            if type_name in _SIGNED else None
        # money stays a Decimal until its currency is known; decimal is output as text
        finish = (lambda d: d) if type_name == "money" else format_amount
        minus_label = f"{self.label_kind} {rule.get('minus')!r}"
        sign = rule.get("sign") or {}
        debit, credit = frozenset(sign.get("debit", ())), frozenset(sign.get("credit", ()))
        sign_label = f"{self.label_kind} {sign.get('from')!r}"
        indicators = ", ".join([*sign.get("debit", ()), *sign.get("credit", ())])

        def empty() -> None:
            if required:
                raise Failure("required", f"{name} is required but {label} is empty")
            return None

        def typed(v: str) -> Any:
            try:
                return to_type(v)
            except Failure:
                if not has_fallback:
                    raise
            return to_type(type_fallback) if type_fallback else None

        def signed(amount: Any, s: tuple[str, ...]) -> Any:
            if sign_index is None or amount is None:
                return amount
            indicator = s[sign_index]
            if indicator in debit:
                return finish(-Decimal(amount))
            if indicator in credit:
                return amount
            raise Failure("sign", f"{shown(indicator)} in {sign_label} is not a debit or credit indicator "
                                  f"({indicators})")

        def convert(s: tuple[str, ...]) -> Any:
            v = take(s)
            for step in steps:
                v = step(v, s)
            if value_map is not None and v:
                if v in value_map:
                    v = value_map[v]
                elif map_fallback is not None:
                    v = map_fallback
                else:
                    raise Failure("map", f"{shown(v)} in {label} is not one of the mapped values ({map_keys})")
            if table is not None and v:
                if v in table:
                    v = table[v]
                elif lookup_fallback is not None:
                    v = lookup_fallback
                else:
                    raise Failure("lookup", f"{shown(v)} in {label} is not in reference table {lookup_name!r}")
            if not v:
                v = default
            if minus_index is not None and parse_number is not None:
                other = s[minus_index]
                if not v and not other:
                    if required:
                        raise Failure("required", f"{name} is required but {label} and {minus_label} are empty")
                    return None
                try:
                    subtrahend = parse_number(other) if other else Decimal(0)
                except Failure as exc:
                    raise Failure(exc.rule, f"{exc.message} in {minus_label}") from None
                amount = (parse_number(v) if v else Decimal(0)) - subtrahend
                return signed(finish(amount), s)
            if not v:
                return empty()
            value = typed(v)
            if value is None:
                return empty()
            return signed(value, s)
        return convert

    def _object_field(self, path: list[Any], name: str, rule: dict[str, Any], prop: dict[str, Any],
                      nested: bool) -> FieldPlan | None:
        if nested:
            self.issue(path + ["object"], "object inside object is not supported")
            return None
        is_array = prop.get("type") == "array"
        item = prop.get("items", {}) if is_array else prop
        sub_props = item.get("properties")
        if not sub_props:
            self.issue(path + ["object"], f"field {name!r} is not an object or list of objects in the entity schema")
            return None
        if is_array != bool(rule.get("list")):
            self.issue(path, f"field {name!r} is {'a list' if is_array else 'an object'} in the entity schema; "
                       + ("add list: true" if is_array else "remove list: true"))
        subs = []
        for sub_name, sub_rule in rule["object"].items():
            if sub_name not in sub_props:
                self.issue(path + ["object", sub_name], f"unknown field {sub_name!r} in {name} "
                           f"(fields: {', '.join(sub_props)})")
                continue
            sub = self._field(path + ["object", sub_name], f"{name}.{sub_name}", sub_rule, sub_props[sub_name], True)
            if sub:
                subs.append(sub)
        return FieldPlan(name=name, line=line_at(self.doc, path), type="object",
                         inputs=tuple(c for s in subs for c in s.inputs), convert=lambda s: None,
                         required=bool(rule.get("required", False)), subfields=subs, as_list=bool(rule.get("list")),
                         label="its sub-fields")

    def _check_money_currencies(self, plans: list[FieldPlan], by_name: dict[str, FieldPlan]) -> None:
        for p in plans:
            if p.currency_field is None:
                continue
            target = by_name.get(p.currency_field)
            if target is None:
                self.issue(["fields", p.name, "currency"], f"currency field {p.currency_field!r} is not defined in fields")
            elif target.type != "currency":
                self.issue(["fields", p.name, "currency"], f"currency field {p.currency_field!r} must have type: currency")

    # --- checks and filters --------------------------------------------------------

    def _checks(self, by_name: dict[str, FieldPlan]) -> list[CheckPlan]:
        out = []
        for i, spec in enumerate(self.doc.get("checks") or []):
            where = ["checks", i]
            line = line_at(self.doc, where)
            if sum(k in spec for k in ("sum", "compare", "same")) != 1:
                self.issue(where, "a check needs exactly one of sum, compare or same")
                continue
            if "same" in spec:
                if "equals" in spec:
                    self.issue(where + ["equals"], "equals belongs to a sum check")
                if self._check_fields(where, [spec["same"]], by_name, None):
                    out.append(CheckPlan("same", (spec["same"],), spec["same"], "==", line))
                continue
            if "sum" in spec:
                if "equals" not in spec:
                    self.issue(where, "a sum check needs equals:")
                    continue
                names = [*spec["sum"], spec["equals"]]
                if self._check_fields(where, names, by_name, MONEY_LIKE):
                    out.append(CheckPlan("sum", tuple(spec["sum"]), spec["equals"], "==", line))
            else:
                if "equals" in spec:
                    self.issue(where + ["equals"], "equals belongs to a sum check")
                left, op, right = spec["compare"]
                if self._check_fields(where, [left, right], by_name, None):
                    kinds = {_kind(by_name[left].type), _kind(by_name[right].type)}
                    if len(kinds) != 1:
                        self.issue(where, f"cannot compare {left} ({by_name[left].type}) "
                                          f"with {right} ({by_name[right].type})")
                        continue
                    out.append(CheckPlan("compare", (left, right), left, op, line, _kind(by_name[left].type) == "number"))
        return out

    def _check_fields(self, where: list[Any], names: list[str], by_name: dict[str, FieldPlan],
                      types: tuple[str, ...] | None) -> bool:
        ok = True
        for n in names:
            if n not in by_name:
                self.issue(where, f"check refers to {n!r}, which is not defined in fields")
                ok = False
            elif types and by_name[n].type not in types:
                self.issue(where, f"sum check needs amounts; {n!r} has type {by_name[n].type}")
                ok = False
        return ok

    def _filters(self) -> list[FilterPlan]:
        out = []
        for i, spec in enumerate(self.doc.get("filters") or []):
            ((action, cond),) = spec.items()
            where = ["filters", i, action]
            if "from" not in cond:
                self.issue(where, "a filter condition needs from: (the source column it tests)")
                continue
            if self._condition_ok(where, cond):
                out.append(FilterPlan(action == "keep", cond["from"], build_condition(cond, 0), line_at(self.doc, where)))
        return out


_NOT_SIMPLE = ("transform", "map", "lookup", "default", "sign", "minus", "type_fallback")


def _text(value: Any) -> str:
    """A YAML constant as source-like text: null -> '', booleans -> 'true'/'false'."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def _kind(type_name: str) -> str:
    return "number" if type_name in MONEY_LIKE else type_name
