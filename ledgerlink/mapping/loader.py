"""Read a mapping file: YAML with line numbers, migration of old versions, schema validation.

The YAML is loaded into ``LDict``/``LList``: plain dicts and lists that also remember
the line of each key and item, so every later problem can name its line.
"""

from __future__ import annotations

import difflib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from ledgerlink.config import SCHEMAS_DIR
from ledgerlink.mapping.errors import Issue, MappingFileError
from ledgerlink.mapping.migrations import migrate

SCHEMA_PATH = SCHEMAS_DIR / "mapping.schema.json"


class LDict(dict):
    """A YAML mapping: ``line`` of the mapping, ``key_lines[key]`` of each key."""

    line = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_lines: dict[Any, int] = {}

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class LList(list):
    """A YAML sequence: ``line`` of the sequence, ``item_lines[i]`` of each item."""

    line = 0

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.item_lines: list[int] = []

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if 0 <= index < len(self.item_lines) else self.line


class _Loader(yaml.SafeLoader):
    issues: list[tuple[int, str]]  # (line, message), set per document by read_document


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LDict:
    loader.flatten_mapping(node)
    out = LDict()
    out.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str):
            loader.issues.append((line, f"key {key!r} is not text: YAML read it as {type(key).__name__}; quote it"))
            key = str(key)
        if key in out:
            loader.issues.append((line, f"duplicate key {key!r} (first at line {out.key_lines[key]})"))
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = line
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LList:
    out = LList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def line_at(doc: Any, path: list[Any] | tuple[Any, ...]) -> int:
    """Line of the deepest key or item on ``path`` (a key/index path from the document root)."""
    line = getattr(doc, "line", 1) or 1
    node = doc
    for step in path:
        if isinstance(node, LDict) and step in node or isinstance(node, LList) and isinstance(step, int) and 0 <= step < len(node):
            line = node.line_of(step)
            node = node[step]
        else:
            break
    return line


@lru_cache(maxsize=1)
def mapping_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    return Draft202012Validator(mapping_schema())


def read_document(path: Path) -> tuple[LDict, list[str]]:
    """Parse, migrate and schema-validate a mapping file. Returns (document, notices)."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingFileError([Issue(name, 0, f"cannot read mapping file: {exc}")]) from None
    loader = _Loader(text)
    loader.issues = []
    try:
        doc = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        problem = getattr(exc, "problem", None) or str(exc)
        raise MappingFileError([Issue(name, line, f"not valid YAML: {problem}")]) from None
    finally:
        loader.dispose()
    if not isinstance(doc, LDict):
        raise MappingFileError([Issue(name, 1, "a mapping file must be a YAML mapping (key: value lines)")])
    issues = [Issue(name, line, msg) for line, msg in loader.issues]
    try:
        doc, notices = migrate(doc)
    except ValueError as exc:
        raise MappingFileError([*issues, Issue(name, doc.line_of("version"), str(exc))]) from None
    issues += schema_issues(name, doc)
    if issues:
        raise MappingFileError(sorted(issues, key=lambda i: i.line))
    return doc, [f"{name}: {n}" for n in notices]


def schema_issues(name: str, doc: LDict) -> list[Issue]:
    out = []
    for err in _validator().iter_errors(doc):
        path = list(err.absolute_path)
        where = ".".join(str(p) for p in path)
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            allowed = list(err.schema.get("properties", {}))
            for key in err.instance:
                if key not in allowed:
                    hint = difflib.get_close_matches(key, allowed, n=1)
                    what = "transform" if _is_step_schema(err.schema) else "key"
                    msg = f"unknown {what} {key!r}" + (f" in {where}" if where else "")
                    msg += f"; did you mean {hint[0]!r}?" if hint else f" (expected one of: {', '.join(allowed)})"
                    out.append(Issue(name, line_at(doc, [*path, key]), msg))
            continue
        out.append(Issue(name, line_at(doc, path), f"{where}: {err.message}" if where else err.message))
    return out


def _is_step_schema(schema: dict[str, Any]) -> bool:
    return "regex_extract" in schema.get("properties", {})
