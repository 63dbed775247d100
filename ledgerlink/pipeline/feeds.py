"""Feed declarations (dags/feeds.yaml): what to pull, from where, through which mapping."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from connectors.bank.settings import FeedSettings
from connectors.erp.definitions import (
    SAFE_YAML_LOADER,
    available_definitions,
    definition_path,
    load_definition,
)
from ledgerlink.config import SCHEMAS_DIR, feeds_base, feeds_file
from ledgerlink.errors import ConfigError, yaml_problem

# Connectors that read records from an ERP incrementally (by cursor) instead of files.
ERP_CONNECTORS = frozenset({"tryton", "rest"})

_DAG_DEFAULTS: dict[str, Any] = {"owner": "ledgerlink", "retries": 2, "retry_delay_minutes": 5.0,
                                 "tags": ["ledgerlink"], "schedule": None}


@dataclass(frozen=True)
class Feed:
    name: str
    entity: str
    mapping: str | None           # mapping file; or None when a parser reads the files
    source: dict[str, Any]
    description: str = ""
    owner: str = "ledgerlink"
    retries: int = 2
    retry_delay_minutes: float = 5.0
    tags: tuple[str, ...] = ("ledgerlink",)
    schedule: str | None = None
    max_files_per_run: int | None = None
    parser: str | None = None     # bank_statement: files are bank statements in any supported format
    on_drift: str | None = None   # overrides the mapping's on_drift (fail | quarantine | report)
    settings: dict[str, Any] = field(default_factory=dict)  # bank_statement: what the files do not carry
    extra: dict[str, Any] = field(default_factory=dict)
    base: Path = Path()           # relative paths (the mapping) are read from here: the project folder

    @property
    def dag_id(self) -> str:
        return f"ledgerlink_{self.name}"

    @property
    def mapping_path(self) -> Path:
        if self.mapping is None:
            raise ConfigError(f"feed {self.name!r} has no mapping (its files are read by parser {self.parser})")
        path = Path(self.mapping)
        return path if path.is_absolute() else self.base / path

    @property
    def incremental(self) -> bool:
        """An ERP record source synced by cursor (``ledgerlink.erp``), not a file source."""
        return self.source.get("connector") in ERP_CONNECTORS

    @property
    def asset_uri(self) -> str:
        """The Airflow Asset this feed updates: downstream DAGs schedule on it."""
        return f"ledgerlink://store/{self.entity}"

    def source_path(self) -> str:
        return os.path.expandvars(str(self.source.get("path", "")))


@lru_cache(maxsize=1)
def _feeds_validator() -> Draft202012Validator:
    import json

    return Draft202012Validator(json.loads((SCHEMAS_DIR / "feeds.schema.json").read_text()))


def load_feeds(path: Path | None = None) -> list[Feed]:
    """Read and check the feeds file; any problem raises ConfigError naming the file and the feed."""
    path = path or feeds_file()
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_YAML_LOADER)  # noqa: S506 or {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read feeds file: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        line, problem = yaml_problem(exc)
        raise ConfigError(f"{path}:{line}: not valid YAML: {problem}") from None
    problems = sorted(_feeds_validator().iter_errors(doc), key=lambda e: list(e.absolute_path))
    if problems:
        lines = [f"{path}: {'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in problems]
        raise ConfigError("invalid feeds file:\n  " + "\n  ".join(lines))
    defaults = {**_DAG_DEFAULTS, **doc.get("defaults", {})}
    base = feeds_base(path)
    feeds, seen = [], set()
    entities_of: dict[str, list[str]] = {}  # definition -> its entities, each definition read once
    for raw in doc["feeds"]:
        if raw["name"] in seen:
            raise ConfigError(f"{path}: feed {raw['name']!r} is declared twice")
        seen.add(raw["name"])
        merged = {**defaults, **raw}
        feed = Feed(
            name=merged["name"], entity=merged["entity"], mapping=merged.get("mapping"), source=dict(merged["source"]),
            description=merged.get("description", ""), owner=merged["owner"], retries=merged["retries"],
            retry_delay_minutes=float(merged["retry_delay_minutes"]), tags=tuple(merged["tags"]),
            schedule=merged["schedule"], max_files_per_run=merged.get("max_files_per_run"),
            parser=merged.get("parser"), on_drift=merged.get("on_drift"), base=base,
            settings=dict(merged.get("settings") or {}),
        )
        if feed.settings and feed.parser != "bank_statement":
            raise ConfigError(f"{path}: feed {feed.name!r}: settings are for bank_statement feeds")
        try:
            FeedSettings.of(feed.settings, where=f"{path}: feed {feed.name!r}: settings")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if feed.incremental and feed.mapping is None:
            raise ConfigError(f"{path}: feed {feed.name!r}: a {feed.source['connector']} feed needs a mapping")
        if feed.mapping is not None and not feed.mapping_path.exists():
            raise ConfigError(f"{path}: feed {feed.name!r}: mapping file {feed.mapping} does not exist")
        if feed.source["connector"] == "rest":
            _check_definition(path, feed, entities_of)
        feeds.append(feed)
    return feeds


def _check_definition(path: Path, feed: Feed, entities_of: dict[str, list[str]]) -> None:
    name = feed.source["definition"]
    if name not in entities_of:
        if name not in available_definitions():
            raise ConfigError(f"{path}: feed {feed.name!r}: no connector definition {name!r} "
                              f"(known: {', '.join(available_definitions())})")
        entities_of[name] = list(load_definition(definition_path(name))["entities"])
    entities = entities_of[name]
    if feed.source["entity"] not in entities:
        raise ConfigError(f"{path}: feed {feed.name!r}: definition {name} has no entity "
                          f"{feed.source['entity']!r} (it has: {', '.join(entities)})")


def get_feed(name: str, path: Path | None = None) -> Feed:
    feeds = load_feeds(path)
    for feed in feeds:
        if feed.name == name:
            return feed
    known = ", ".join(f.name for f in feeds)
    raise ConfigError(f"no feed named {name!r} in {path or feeds_file()} (known: {known})")
