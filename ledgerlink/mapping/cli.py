"""`ledgerlink mapping ...`: validate, preview, test mapping files; print the reference and schema path."""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledgerlink.config import mappings_dir
from ledgerlink.errors import LedgerlinkError
from ledgerlink.mapping.engines import ENGINES
from ledgerlink.mapping.errors import DriftError, MappingFileError
from ledgerlink.mapping.infer import register_infer

if TYPE_CHECKING:
    from ledgerlink.mapping.compiler import Mapping
    from ledgerlink.mapping.executor import MapResult

EXPECTED_SUFFIX = ".expected.jsonl"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("mapping", help="work on mapping files", description=__doc__)
    sub = parser.add_subparsers(dest="mapping_command", required=True, metavar="SUBCOMMAND")

    p = sub.add_parser("validate", help="check mapping files; print FILE:LINE: message for each problem")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("preview", help="map a sample file and show records, errors and drift")
    p.add_argument("mapping", type=Path, metavar="MAPPING")
    p.add_argument("sample", type=Path, metavar="SAMPLE")
    p.add_argument("--limit", type=int, default=20, help="source rows to show (0: all; default 20)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--engine", choices=ENGINES, default="columnar")
    p.set_defaults(func=cmd_preview)

    p = sub.add_parser("test", help="run each mapping's samples against their expected output")
    p.add_argument("mappings", nargs="*", type=Path, metavar="MAPPING")
    p.add_argument("--update", action="store_true", help="rewrite the expected files")
    p.set_defaults(func=cmd_test)

    register_infer(sub)

    p = sub.add_parser("docs", help="print the language reference (generated from the schema)")
    p.set_defaults(func=cmd_docs)

    p = sub.add_parser("schema", help="print the path of the mapping JSON Schema (for editors)")
    p.set_defaults(func=cmd_schema)


def cmd_docs(args: argparse.Namespace) -> int:
    from ledgerlink.mapping.docs import reference_markdown

    print(reference_markdown(), end="")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from ledgerlink.mapping.loader import SCHEMA_PATH

    print(SCHEMA_PATH)
    return 0


# --- validate ----------------------------------------------------------------------------

def _existing(files: list[Path]) -> list[Path]:
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise LedgerlinkError(f"no such mapping file: {', '.join(missing)}")
    return files


def cmd_validate(args: argparse.Namespace) -> int:
    from ledgerlink.mapping.compiler import load_mapping

    status = 0
    for file in _existing(args.files):
        try:
            mapping = load_mapping(file)
        except MappingFileError as exc:
            status = 1
            for issue in exc.issues:
                print(f"{file}:{issue.line}: {issue.message}")
            continue
        for notice in mapping.notices:
            print(f"notice: {notice}", file=sys.stderr)
        print(f"{file}: ok")
    return status


# --- preview -----------------------------------------------------------------------------

def preview_lines(mapping: Mapping, sample: Path, *, limit: int = 0, engine: str = "columnar",
                  duplicates: bool = True) -> Iterator[dict[str, Any]]:
    """The JSON lines of `preview --json`: records and errors in source row order, then drift, then (with
    ``duplicates``) each natural key that more than one record of the file has."""
    try:
        result = mapping.map_file(sample, source_name=sample.name, engine=engine)
    except DriftError as exc:
        for ev in exc.events:
            yield {"kind": "drift", "change": ev.kind, "column": ev.column, "detail": ev.detail}
        yield {"kind": "failed", "message": "on_drift: fail; nothing mapped"}
        return
    yield from _result_lines(result, limit)
    if duplicates:
        yield from duplicate_key_lines(mapping, result)


def duplicate_key_lines(mapping: Mapping, result: MapResult) -> Iterator[dict[str, Any]]:
    """One line per natural key that several mapped records share: the key's values and their rows (or
    locations). A load quarantines all of them (rule key.duplicate): which one is right is ambiguous."""
    frame = result.frame
    if frame.empty or not mapping.key or not set(mapping.key) <= set(frame.columns):
        return
    keys = frame[mapping.key]
    repeated = keys.duplicated(keep=False) & keys.notna().all(axis=1)
    if not repeated.any():
        return
    for values, group in frame[repeated].groupby(mapping.key, sort=False, dropna=True):
        values = values if isinstance(values, tuple) else (values,)
        where = [int(r) if r == r else loc for r, loc in zip(group["_row"], group["_location"], strict=True)]
        yield {"kind": "duplicate_key", "key": dict(zip(mapping.key, (str(v) for v in values), strict=True)),
               "rows": where, "mapping_line": mapping.lines.get("key")}


def _result_lines(result: MapResult, limit: int) -> Iterator[dict[str, Any]]:
    by_row: dict[int, list[dict[str, Any]]] = {}
    for err in result.errors:
        line: dict[str, Any] = {"kind": "error", "row": err.row, "field": err.field, "rule": err.rule,
                                "message": err.message, "mapping_line": err.mapping_line}
        if err.location is not None:
            line["location"] = err.location
        by_row.setdefault(err.row if err.row is not None else -1, []).append(line)
    names = [c for c in result.frame.columns if not c.startswith("_")]
    for row, loc, *vals in result.frame[["_row", "_location", *names]].itertuples(index=False, name=None):
        line = {"kind": "record", "row": int(row), "data": {n: v for n, v in zip(names, vals, strict=True)
                                                               if v is not None}}
        if loc is not None:
            line["location"] = loc
        by_row.setdefault(int(row), []).append(line)
    for i, row in enumerate(sorted(by_row)):
        if limit and i >= limit:
            break
        yield from by_row[row]
    for ev in result.drift:
        yield {"kind": "drift", "change": ev.kind, "column": ev.column, "detail": ev.detail}


def cmd_preview(args: argparse.Namespace) -> int:
    from ledgerlink.mapping.compiler import load_mapping

    try:
        mapping = load_mapping(args.mapping)
    except MappingFileError as exc:
        more = len(exc.issues) - 1
        raise LedgerlinkError(f"{exc.issues[0]}" + (f" (and {more} more problem(s): ledgerlink mapping validate "
                                                       f"{args.mapping} lists them)" if more > 0 else "")) from None
    try:
        if args.json:
            status = 0
            for line in preview_lines(mapping, args.sample, limit=args.limit, engine=args.engine):
                status = 1 if line["kind"] == "failed" else status
                print(json.dumps(line, ensure_ascii=False))
            return status
        try:
            result = mapping.map_file(args.sample, source_name=args.sample.name, engine=args.engine)
        except DriftError as exc:
            print(f"drift: {exc}")
            return 1
    except LedgerlinkError as exc:
        print(f"ledgerlink: {exc}", file=sys.stderr)
        return 2
    _print_human(mapping, result, args.limit)
    return 0


def _print_human(mapping: Mapping, result: MapResult, limit: int) -> None:
    shown = 0
    for line in _result_lines(result, limit):
        if line["kind"] == "record":
            data = line["data"]
            print(f"row {line['row']}: " + ", ".join(f"{k}={v}" for k, v in data.items()))
            shown += 1
        elif line["kind"] == "error":
            where = f" {line['location']}" if "location" in line else ""
            print(f"row {line['row']}{where}: ERROR {mapping.path}:{line['mapping_line']} "
                  f"{line['field']} {line['rule']} {line['message']}")
        else:
            print(f"drift: {line['change']} {line['column']}: {line['detail']}")
    duplicates = list(duplicate_key_lines(mapping, result))
    for dup in duplicates:
        key = ", ".join(f"{k}={v}" for k, v in dup["key"].items())
        print(f"DUPLICATE KEY {key} ({mapping.path}:{dup['mapping_line']} key) on rows "
              f"{', '.join(map(str, dup['rows']))}: a load quarantines all of them")
    error_rows = len({e.row for e in result.errors})
    print(f"\nread {result.read}, mapped {len(result.frame)}, rows with errors {error_rows} "
          f"({len(result.errors)} errors), filtered {result.filtered}, drift {len(result.drift)}, "
          f"duplicate keys {len(duplicates)}"
          + (f"; showing the first {limit} rows" if limit and result.read > limit else ""))


# --- test --------------------------------------------------------------------------------

def _mapping_files(given: list[Path]) -> list[Path]:
    if given:
        return _existing(given)
    return sorted(p for p in mappings_dir().glob("*/*.yaml"))


def _samples(mapping_file: Path) -> list[Path]:
    folder = mapping_file.parent / "samples" / mapping_file.stem
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.endswith(EXPECTED_SUFFIX))


def render_lines(mapping: Mapping, sample: Path) -> str:
    lines = preview_lines(mapping, sample, limit=0, duplicates=False)  # the snapshots are of the mapping alone
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)


def cmd_test(args: argparse.Namespace) -> int:
    from ledgerlink.mapping.compiler import load_mapping

    failures = 0
    for mapping_file in _mapping_files(args.mappings):
        try:
            mapping = load_mapping(mapping_file)
        except MappingFileError as exc:
            for issue in exc.issues:
                print(f"{mapping_file}:{issue.line}: {issue.message}")
            failures += 1
            continue
        samples = _samples(mapping_file)
        if not samples:
            print(f"{mapping_file}: no samples in samples/{mapping_file.stem}/")
        for sample in samples:
            expected_file = sample.with_name(sample.name + EXPECTED_SUFFIX)
            try:
                actual = render_lines(mapping, sample)
            except LedgerlinkError as exc:
                actual = json.dumps({"kind": "unreadable", "message": str(exc)}, ensure_ascii=False) + "\n"
            if args.update:
                expected_file.write_text(actual, encoding="utf-8")
                print(f"{sample}: expected output written")
                continue
            expected = expected_file.read_text(encoding="utf-8") if expected_file.exists() else ""
            if actual == expected:
                print(f"{sample}: ok")
                continue
            failures += 1
            print(f"{sample}: MISMATCH")
            sys.stdout.writelines(difflib.unified_diff(expected.splitlines(keepends=True), actual.splitlines(keepends=True),
                                                       fromfile=str(expected_file), tofile="actual"))
    return 1 if failures else 0
