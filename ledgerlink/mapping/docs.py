"""Generate docs/mapping-reference.md from schemas/mapping.schema.json (the one definition)."""

from __future__ import annotations

import json
from typing import Any

from ledgerlink.mapping.loader import mapping_schema

SECTIONS = (
    ("Mapping file", None),
    ("Source", "source"),
    ("Field rule", "field"),
    ("Transform step", "step"),
    ("Condition", "condition"),
    ("Filter", "filter"),
    ("Check", "check"),
    ("Reference table", "reference_table"),
)


def _type_of(spec: dict[str, Any]) -> str:
    if "$ref" in spec:
        name = spec["$ref"].rsplit("/", 1)[-1]
        title = next((t for t, d in SECTIONS if d == name), name)
        return f"[{title}](#{title.lower().replace(' ', '-')})"
    if "enum" in spec:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in spec["enum"])
    if "const" in spec:
        return f"`{json.dumps(spec['const'])}`"
    types = spec.get("type", "any")
    types = types if isinstance(types, list) else [types]
    out = []
    for t in types:
        if t == "array" and "items" in spec and isinstance(spec["items"], dict):
            out.append(f"list of {_type_of(spec['items'])}")
        elif t == "object" and isinstance(spec.get("additionalProperties"), dict):
            out.append(f"map of name → {_type_of(spec['additionalProperties'])}")
        else:
            out.append(str(t))
    return " or ".join(out)


def _examples(spec: dict[str, Any]) -> list[str]:
    lines = []
    for ex in spec.get("x-examples", []):
        if "step" in ex:
            lines.append(f"  - `{json.dumps(ex['step'], ensure_ascii=False)}`: "
                         f"`{json.dumps(ex['input'], ensure_ascii=False)}` → `{json.dumps(ex['output'], ensure_ascii=False)}`")
        elif "type" in ex:
            extra = {k: ex[k] for k in ("source", "currency") if k in ex}
            ctx = f" with {json.dumps(extra, ensure_ascii=False)}" if extra else ""
            lines.append(f"  - `{ex['type']}`{ctx}: `{json.dumps(ex['input'], ensure_ascii=False)}` → "
                         f"`{json.dumps(ex['output'], ensure_ascii=False)}`")
        else:
            lines.append(f"  - `{json.dumps(ex['rule'], ensure_ascii=False)}` on "
                         f"`{json.dumps(ex['inputs'], ensure_ascii=False)}` → `{json.dumps(ex['output'], ensure_ascii=False)}`")
    return lines


def reference_markdown() -> str:
    """The language reference, generated from the schema."""
    schema = mapping_schema()
    out = [
        "# Mapping language reference",
        "",
        "<!-- Generated from schemas/mapping.schema.json by `ledgerlink mapping docs`; do not edit by hand. -->",
        "",
        schema["description"],
        "",
        "Row errors carry a rule code: `required`, `type.<type>` (e.g. `type.date`, `type.money`, `type.iban`),"
        " `currency` (an amount with too many decimals for its currency, or without a currency), `map`, `lookup`,"
        " `regex_extract`, `split`, `sign`, `check.sum`, `check.compare`, `check.same`, `drift.column_added`,"
        " `drift.column_missing`, `drift.type_changed`, `source.fields` (a CSV row with more fields than the header).",
        "",
    ]
    for title, def_name in SECTIONS:
        spec = schema if def_name is None else schema["$defs"][def_name]
        required = set(spec.get("required", []))
        out += [f"## {title}", ""]
        if def_name is not None:
            out += [spec["description"], ""]
        out += ["| Key | Type | Description |", "| --- | --- | --- |"]
        for key, prop in spec.get("properties", {}).items():
            req = " (required)" if key in required else ""
            desc = prop.get("description", "").replace("|", "\\|").replace("\n", " ")
            out.append(f"| `{key}`{req} | {_type_of(prop)} | {desc} |")
        out.append("")
        examples = [(key, _examples(prop)) for key, prop in spec.get("properties", {}).items()]
        examples = [(k, e) for k, e in examples if e]
        if examples:
            out += ["Examples:", ""]
            for key, lines in examples:
                out.append(f"- `{key}`")
                out += lines
            out.append("")
    return "\n".join(out).rstrip() + "\n"
