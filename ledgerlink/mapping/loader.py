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
from ledgerlink.errors import yaml_problem
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
    doc, notices, issues = read_document_issues(path)
    if issues:
        raise MappingFileError(issues)
    return doc, notices


def read_document_issues(path: Path) -> tuple[LDict, list[str], list[Issue]]:
    """Parse and migrate a mapping file and check it against the schema: (document, notices, the
    schema's issues sorted by line). A file that cannot be read or parsed raises MappingFileError."""
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
        line, problem = yaml_problem(exc)
        line, explained = explain_yaml_problem(text, line, problem)
        raise MappingFileError([Issue(name, line, f"not valid YAML: {explained}")]) from None
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
    return doc, [f"{name}: {n}" for n in notices], sorted(issues, key=lambda i: i.line)


# PyYAML's words for the usual slips, in the words of someone editing the file.
_YAML_PROBLEMS = {
    "expected <block end>, but found '<block mapping start>'":
        "a key does not line up with the keys of its block",
    "expected <block end>, but found '<block sequence start>'":
        "a list item does not line up with the items of its list",
    "mapping values are not allowed here":
        "a ':' where no new key can start (a line indented too deep, or a value with ': ' that needs quotes)",
    "could not find expected ':'": "a line that is not 'key: value' (a missing ':', or a line indented too deep)",
    "did not find expected key": "a line that does not line up with the keys of its block",
    "did not find expected '-' indicator": "a line that does not line up with the items of its list",
}


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _spaces(n: int) -> str:
    return f"{n} space{'' if n == 1 else 's'}"


def explain_yaml_problem(text: str, line: int, problem: str) -> tuple[int, str]:
    """PyYAML's problem found at ``line`` (1-based) in plain words, with a hint: (the line at fault, text).
    The line at fault can be above the one PyYAML stopped at (an unclosed bracket, a key without ':')."""
    lines = text.splitlines()
    if not 1 <= line <= len(lines):
        return line, problem
    here = lines[line - 1]
    lead = here[: len(here) - len(here.lstrip(" \t"))]
    if "\t" in lead or "'\\t'" in problem:
        return line, f"line {line} is indented with a tab; YAML indents with spaces only"
    words = _YAML_PROBLEMS.get(problem, problem)
    above = next((n for n in range(line - 1, 0, -1)
                  if lines[n - 1].strip() and not lines[n - 1].lstrip().startswith("#")), None)
    for opener, closer in (("[", "]"), ("{", "}")):
        if problem.startswith(f"expected ',' or '{closer}'"):
            unclosed = next((n for n in range(line, 0, -1) if lines[n - 1].count(opener) > lines[n - 1].count(closer)),
                            None)
            if unclosed is not None:
                return unclosed, f"{problem}: the '{opener}' on line {unclosed} is not closed on that line"
    if above is not None and _indent(lines[above - 1]) == _indent(here) and ":" not in lines[above - 1] \
            and not lines[above - 1].lstrip().startswith("-"):
        return above, f"line {above} has no ':' (a key needs 'key: value' or 'key:'), so line {line} cannot start a key"
    if above is not None and _indent(lines[above - 1]) != _indent(here) \
            and not lines[above - 1].rstrip().endswith((":", "|", ">", "-")):
        return line, (f"{words}; check the indentation of line {line} ({_spaces(_indent(here))}; line {above} "
                f"above has {_spaces(_indent(lines[above - 1]))})")
    if problem == "mapping values are not allowed here" and here.count(": ") > 1:
        return line, f"{words}; line {line} has a value with ': ' in it: put the value in quotes"
    return line, f"{words}; check the indentation of line {line} and of the lines above it"


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
