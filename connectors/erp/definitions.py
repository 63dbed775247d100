"""Connector definitions: YAML files describing an ERP's REST/OData API (schemas/rest_connector.schema.json).

``load_definition(path)`` reads and validates one file; every problem is reported with the file and
the JSON path of the offending value (``sap_s4hana.yaml: $.entities.supplier_invoices.pagination.type: ...``).
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from ledgerlink.config import SCHEMAS_DIR
from ledgerlink.errors import ConfigError

# libyaml's safe loader where installed: the DAG file reads feeds.yaml and every REST feed's definition at
# parse time, and the pure-Python loader makes that slow
SAFE_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

SCHEMA_PATH = SCHEMAS_DIR / "rest_connector.schema.json"
DEFINITIONS_DIR = Path(__file__).resolve().parent / "definitions"

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_RUNTIME = {"since", "filter", "page", "offset", "limit", "id"}


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return Draft202012Validator(schema)


def _json_path(parts: Any) -> str:
    out = "$"
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out


def _leaf_errors(error: ValidationError) -> list[ValidationError]:
    # if/then and allOf wrap the useful message; report the innermost ones
    if error.context:
        leaves: list[ValidationError] = []
        for sub in error.context:
            leaves.extend(_leaf_errors(sub))
        return leaves
    return [error]


def validate_definition(doc: Any, name: str) -> dict[str, Any]:
    """Check a parsed definition; raise ConfigError listing every problem as `name: $.path: message`."""
    problems = []
    for err in sorted(_validator().iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        for leaf in _leaf_errors(err):
            problems.append(f"{name}: {_json_path(leaf.absolute_path)}: {leaf.message}")
    if not problems and isinstance(doc, dict):
        problems.extend(_semantic_problems(doc, name))
    if problems:
        unique = list(dict.fromkeys(problems))
        raise ConfigError("invalid connector definition:\n  " + "\n  ".join(unique))
    return doc


def _semantic_problems(doc: dict[str, Any], name: str) -> list[str]:
    problems = []
    for ename, ent in doc["entities"].items():
        base = f"$.entities.{ename}"
        inc = ent.get("incremental")
        if inc and "cursor_field" not in ent:
            problems.append(f"{name}: {base}.incremental: needs cursor_field to know each record's change time")
        if inc and inc["in"] == "template":
            values = list((ent.get("query") or {}).values())
            if not any("{filter}" in str(v) for v in values):
                problems.append(f"{name}: {base}.incremental.in: 'template' needs {{filter}} in a query value")
        pag = ent["pagination"]
        if pag["type"] == "offset" and "offset_param" not in pag:
            values = [str(v) for v in (ent.get("query") or {}).values()]
            if not any("{offset}" in v for v in values):
                problems.append(f"{name}: {base}.pagination: without offset_param a query value must hold {{offset}}")
        if "detail" in ent and "{id}" not in ent["detail"]["path"]:
            problems.append(f"{name}: {base}.detail.path: must contain {{id}}")
    for wname, call in (doc.get("writeback") or {}).items():
        for field in _PLACEHOLDER.findall(call["path"]):
            if field in _RUNTIME - {"id"}:
                problems.append(f"{name}: $.writeback.{wname}.path: {{{field}}} is reserved for reads")
    return problems


def load_definition(path: str | Path) -> dict[str, Any]:
    """Read and validate a connector definition file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read connector definition: {exc.strerror}") from None
    try:
        doc = yaml.load(text, Loader=SAFE_YAML_LOADER)  # noqa: S506 (a safe loader, C or Python)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    return validate_definition(doc, str(path))


def definition_path(name: str) -> Path:
    """The shipped definition file for a system name (`xero` -> definitions/xero.yaml)."""
    path = DEFINITIONS_DIR / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in DEFINITIONS_DIR.glob("*.yaml")))
        raise ConfigError(f"no connector definition {name!r} (known: {known})")
    return path


def available_definitions() -> list[str]:
    return sorted(p.stem for p in DEFINITIONS_DIR.glob("*.yaml"))


# -- records and write calls --------------------------------------------------------------------

def record_id_values(definition: dict[str, Any], entity: str, record_id: str) -> dict[str, str]:
    """A record id as the connector gives it, split into the entity's id fields (SAP's `5100000012/2024` ->
    SupplierInvoice, FiscalYear): the values a write call on that record names."""
    name = definition["name"]
    try:
        ent = definition["entities"][entity]
    except KeyError:
        raise ConfigError(f"{name}: no entity {entity!r} (known: {', '.join(definition['entities'])})") from None
    fields = ent["id_field"] if isinstance(ent["id_field"], list) else [ent["id_field"]]
    parts = str(record_id).split("/") if len(fields) > 1 else [str(record_id)]
    if len(parts) != len(fields) or not all(parts):
        raise ConfigError(f"{name}: {entity}: record id {record_id!r} is not {'/'.join(fields)}")
    return {f.rsplit(".", 1)[-1]: part for f, part in zip(fields, parts, strict=True)}


def writeback_needs(definition: dict[str, Any], call: str) -> set[str]:
    """The values a write call must be given: its `required` ones and the placeholders of its paths, less
    what its `read` step takes from the record."""
    calls = definition.get("writeback") or {}
    if call not in calls:
        raise ConfigError(f"{definition['name']}: no writeback call {call!r} "
                          f"(known: {', '.join(sorted(calls)) or 'none'})")
    spec = calls[call]
    read = spec.get("read") or {}
    paths = _VARIABLE.sub("", spec["path"] + " " + read.get("path", ""))  # ${VAR}s come from the connection
    return (set(spec.get("required", [])) | set(_PLACEHOLDER.findall(paths))) - set(read.get("values") or {})


# -- the connection of an ERP -------------------------------------------------------------------

# What the connection's login and password carry, per auth type.
AUTH_FIELDS: dict[str, tuple[str | None, str]] = {
    "basic": ("username", "password"),
    "bearer": (None, "token"),
    "api_key": (None, "api_key"),
    "oauth2_client_credentials": ("client_id", "client_secret"),
}
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


def connection_variables(definition: dict[str, Any]) -> dict[str, str | None]:
    """Every ``${VAR}`` of a definition with its default (None: required), in first-use order."""
    found: dict[str, str | None] = {}
    for text in _strings({k: v for k, v in definition.items() if k != "connection"}):
        for name, default in _VARIABLE.findall(text):
            if name not in found or found[name] is None:
                found[name] = default or found.get(name)
    return found


def host_variable(definition: dict[str, Any]) -> str | None:
    """The ``${VAR}`` base_url starts with: the connection's host field fills it."""
    match = _VARIABLE.match(definition["base_url"])
    return match.group(1) if match else None


def credential_keys(definition: dict[str, Any]) -> tuple[str | None, str]:
    """(what the connection's login carries, what its password carries) for the definition's auth."""
    auth = definition["auth"]
    login_key, secret_key = AUTH_FIELDS[auth["type"]]
    if auth["type"] == "bearer":
        secret_key = auth.get("token_key", secret_key)
    return login_key, secret_key


def credentials_from_connection(definition: dict[str, Any], *, host: str | None, port: int | None,
                                login: str | None, password: str | None,
                                extra: dict[str, Any] | None = None, **_ignored: Any) -> dict[str, Any]:
    """A connection's fields as the RestConnector's credentials: the host (``https://`` added when it has
    no scheme, the port appended) fills the variable base_url starts with, login and password are the
    auth type's credentials, the extras the other ``${VAR}``s."""
    creds: dict[str, Any] = {k: v for k, v in (extra or {}).items() if v not in (None, "")}
    target = host_variable(definition)
    if host and target:
        url = host if "://" in host else f"https://{host}"
        creds[target] = url.rstrip("/") + (f":{port}" if port else "")
    login_key, secret_key = credential_keys(definition)
    if login_key and login:
        creds[login_key] = login
    if password:
        creds[secret_key] = password
    return creds
