"""Connection settings by id: the one way ledgerlink's code reaches an outside system's address and secrets.

    settings = get_connection("ledgerlink_tryton")    # ConnectionSettings: type, host, port, schema,
                                                      # login, password, extra

Where the settings come from is a chain of resolvers, asked in order:

1. under Airflow, Airflow's connections (UI, AIRFLOW_CONN_*, secrets backends), put first by
   ``ledgerlink.airflow`` when it is imported;
2. the environment: ``LEDGERLINK_CONN_<ID>``, then ``AIRFLOW_CONN_<ID>``, each an Airflow-style URI
   (``tryton://admin:secret@127.0.0.1:8000/ledgerlink?protocol=http``) or JSON
   (``{"conn_type": "tryton", "host": ..., "extra": {...}}``);
3. a secrets file, ``$LEDGERLINK_CONNECTIONS`` (default ``$LEDGERLINK_HOME/connections.yaml``):
   conn id -> URI or the same fields as the JSON form. It must be readable by its owner only.

Secrets stay inside ConnectionSettings: its repr masks the password and secret-looking extras,
and errors name the connection id and where it was looked for, never a value.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

import yaml

from ledgerlink.config import ledgerlink_home
from ledgerlink.errors import ConfigError

SECRET_EXTRA = re.compile(r"(?i)(password|passphrase|secret|token|api_?key|private_key)")


@dataclass(frozen=True, repr=False)
class ConnectionSettings:
    conn_id: str
    conn_type: str | None = None
    host: str | None = None
    port: int | None = None
    schema: str | None = None
    login: str | None = None
    password: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    origin: str = ""  # where it was found, for messages: "environment LEDGERLINK_CONN_X", "Airflow", ...

    def __repr__(self) -> str:
        extra = {k: "***" if SECRET_EXTRA.search(k) else v for k, v in self.extra.items()}
        return (f"ConnectionSettings({self.conn_id!r}, type={self.conn_type!r}, host={self.host!r}, "
                f"port={self.port!r}, schema={self.schema!r}, login={self.login!r}, "
                f"password={'***' if self.password else None}, extra={extra!r}, from {self.origin})")

    def fields(self) -> dict[str, Any]:
        """host, port, schema, login, password and extra, as connector configs take them."""
        return {"host": self.host, "port": self.port, "schema": self.schema, "login": self.login,
                "password": self.password, "extra": dict(self.extra)}


def _port(value: Any, conn_id: str, origin: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"connection {conn_id!r} ({origin}): port {value!r} is not a number") from None


def _extra_value(text: str) -> Any:
    # Query-string extras are text; JSON-looking ones (true, 30, {"a": 1}) keep their type, as in Airflow.
    try:
        return json.loads(text)
    except ValueError:
        return text


def from_uri(conn_id: str, uri: str, origin: str) -> ConnectionSettings:
    """An Airflow-style connection URI: ``type://login:password@host:port/schema?extra=value``; extras
    may also come as one JSON object in ``__extra__``."""
    parts = urlsplit(uri.strip())
    if not parts.scheme:
        raise ConfigError(f"connection {conn_id!r} ({origin}): not a connection URI (expected type://host...)")
    extra: dict[str, Any] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "__extra__":
            try:
                extra.update(json.loads(value))
            except ValueError:
                raise ConfigError(f"connection {conn_id!r} ({origin}): __extra__ is not a JSON object") from None
        else:
            extra[key] = _extra_value(value)
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"connection {conn_id!r} ({origin}): the port is not a number") from None
    return ConnectionSettings(
        conn_id, conn_type=parts.scheme.replace("-", "_"), host=unquote(parts.hostname or "") or None,
        port=port, schema=unquote(parts.path.lstrip("/")) or None,
        login=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None, extra=extra, origin=origin)


def from_fields(conn_id: str, doc: Mapping[str, Any], origin: str) -> ConnectionSettings:
    """The JSON form: conn_type, host, port, schema, login, password, extra (an object or JSON text)."""
    known = {"conn_type", "host", "port", "schema", "login", "password", "extra", "description"}
    unknown = sorted(set(doc) - known)
    if unknown:
        raise ConfigError(f"connection {conn_id!r} ({origin}): unknown field(s) {', '.join(unknown)} "
                          f"(known: {', '.join(sorted(known))})")
    extra = doc.get("extra") or {}
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except ValueError:
            raise ConfigError(f"connection {conn_id!r} ({origin}): extra is not a JSON object") from None
    if not isinstance(extra, Mapping):
        raise ConfigError(f"connection {conn_id!r} ({origin}): extra must be an object")

    def text(name: str) -> str | None:
        value = doc.get(name)
        return None if value in (None, "") else str(value)

    return ConnectionSettings(conn_id, conn_type=text("conn_type"), host=text("host"),
                              port=_port(doc.get("port"), conn_id, origin), schema=text("schema"),
                              login=text("login"), password=text("password"), extra=dict(extra), origin=origin)


def parse(conn_id: str, value: Any, origin: str) -> ConnectionSettings:
    """A URI text, JSON object text, or a mapping of fields."""
    if isinstance(value, Mapping):
        return from_fields(conn_id, value, origin)
    text = str(value).strip()
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"connection {conn_id!r} ({origin}): not valid JSON ({exc.msg})") from None
        return from_fields(conn_id, doc, origin)
    return from_uri(conn_id, text, origin)


class Resolver(Protocol):
    """One place connections can be defined."""

    @property
    def description(self) -> str: ...  # for "looked in ..." messages

    def lookup(self, conn_id: str) -> ConnectionSettings | None: ...


def env_name(prefix: str, conn_id: str) -> str:
    return f"{prefix}{re.sub(r'[^A-Za-z0-9]', '_', conn_id).upper()}"


class EnvironmentResolver:
    prefixes = ("LEDGERLINK_CONN_", "AIRFLOW_CONN_")
    description = "the environment (LEDGERLINK_CONN_<ID> or AIRFLOW_CONN_<ID>)"

    def lookup(self, conn_id: str) -> ConnectionSettings | None:
        for prefix in self.prefixes:
            name = env_name(prefix, conn_id)
            value = os.environ.get(name, "").strip()
            if value:
                return parse(conn_id, value, f"environment {name}")
        return None


def secrets_file() -> Path:
    explicit = os.environ.get("LEDGERLINK_CONNECTIONS")
    return Path(explicit).expanduser() if explicit else ledgerlink_home() / "connections.yaml"


class SecretsFileResolver:
    @property
    def description(self) -> str:
        return f"the secrets file {secrets_file()}"

    def lookup(self, conn_id: str) -> ConnectionSettings | None:
        path = secrets_file()
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            return None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"{path}: holds secrets but other users may read it; run: chmod 600 {path}")
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark else ""
            raise ConfigError(f"{path}:{where}: cannot read the secrets file ({type(exc).__name__})") from None
        if not isinstance(doc, Mapping):
            raise ConfigError(f"{path}: expected a mapping of connection id -> URI or fields")
        if conn_id not in doc:
            return None
        return parse(conn_id, doc[conn_id], f"{path}")


_chain: list[Resolver] = [EnvironmentResolver(), SecretsFileResolver()]


def add_resolver(resolver: Resolver) -> None:
    """Ask ``resolver`` before the others (the Airflow glue puts Airflow's connections first).
    Adding a resolver of a class already in the chain does nothing."""
    if not any(type(r) is type(resolver) for r in _chain):
        _chain.insert(0, resolver)


def resolvers() -> tuple[Resolver, ...]:
    return tuple(_chain)


def find_connection(conn_id: str) -> ConnectionSettings | None:
    """The connection's settings from the first resolver that has it, or None."""
    for resolver in _chain:
        found = resolver.lookup(conn_id)
        if found is not None:
            return found
    return None


def get_connection(conn_id: str) -> ConnectionSettings:
    """Like :func:`find_connection`, but a connection nobody defines is a ConfigError saying where to define it."""
    found = find_connection(conn_id)
    if found is None:
        places = "; ".join(r.description for r in _chain)
        raise ConfigError(f"connection {conn_id!r} is not defined: looked in {places}. Define it there "
                          f"(e.g. {env_name('LEDGERLINK_CONN_', conn_id)}=type://user:password@host:port/schema)")
    return found
