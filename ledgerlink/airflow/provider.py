"""ledgerlink as an Airflow provider: its connection types, with their form fields, in the connection form.

Registered the way provider packages are, through the ``apache_airflow_provider`` entry point
(pyproject.toml), so Airflow's providers manager lists ledgerlink's hooks and the connection form
offers their types with labels, placeholders and ledgerlink's own fields (Airflow 3's declarative
``conn-fields`` and ``ui-field-behaviour``).
"""

from __future__ import annotations

from typing import Any

from connectors.erp.definitions import (
    connection_variables,
    credential_keys,
    definition_path,
    host_variable,
    load_definition,
)
from ledgerlink import __version__

HOOKS_MODULE = "ledgerlink.airflow.hooks"
# The connection types: (hook class in HOOKS_MODULE, connection type, name in the form). The hooks are
# not imported here: the providers manager reads this before Airflow is fully up.
SFTP = ("SftpSourceHook", "ledgerlink_sftp", "SFTP with pinned host key (ledgerlink)")
TRYTON = ("TrytonHook", "ledgerlink_tryton", "Tryton ERP (ledgerlink)")
SCF = ("ScfPlatformHook", "ledgerlink_scf", "Supply-chain-finance platform (ledgerlink)")
# REST/OData ERPs: (hook class, definition in connectors/erp/definitions/, name in the form)
ERPS = (
    ("SapS4hanaHook", "sap_s4hana", "SAP S/4HANA (ledgerlink)"),
    ("OracleFusionHook", "oracle_fusion", "Oracle Fusion Cloud ERP (ledgerlink)"),
    ("ExactOnlineHook", "exact_online", "Exact Online (ledgerlink)"),
    ("BusinessCentralHook", "business_central", "Dynamics 365 Business Central (ledgerlink)"),
    ("NetsuiteHook", "netsuite", "NetSuite (ledgerlink)"),
    ("QuickbooksOnlineHook", "quickbooks_online", "QuickBooks Online (ledgerlink)"),
    ("XeroHook", "xero", "Xero (ledgerlink)"),
)


def erp_conn_type(definition: str) -> str:
    return f"ledgerlink_{definition}"


def _text(label: str, description: str = "", *, secret: bool = False, required: bool = False,
          default: Any = None, kind: str = "string", enum: list[str] | None = None) -> dict[str, Any]:
    # A type without "null" makes the form require the field.
    schema: dict[str, Any] = {"type": kind if required else [kind, "null"]}
    if secret:
        schema["format"] = "password"
    if default is not None:
        schema["default"] = default
    if enum:
        schema["enum"] = enum
    return {"label": label, "schema": schema, **({"description": description} if description else {})}


def _connection_type(kind: tuple[str, str, str], fields: dict[str, Any], hidden: list[str],
                     relabel: dict[str, str], placeholders: dict[str, str]) -> dict[str, Any]:
    class_name, conn_type, label = kind
    return {
        "hook-class-name": f"{HOOKS_MODULE}.{class_name}",
        "hook-name": label,
        "connection-type": conn_type,
        "conn-fields": fields,
        "ui-field-behaviour": {"hidden-fields": hidden, "relabeling": relabel, "placeholders": placeholders},
    }


def sftp_type() -> dict[str, Any]:
    fields = {
        "host_key": _text("Host key (pinned)", "The server's public key, as `ssh-keyscan -p PORT HOST` prints it "
                          "(e.g. `ssh-ed25519 AAAA...`). ledgerlink never connects to a server whose key it has "
                          "not been given.", required=True),
        "private_key": _text("Private key", "OpenSSH private key text (instead of a password)", secret=True),
        "private_key_passphrase": _text("Private key passphrase", secret=True),
        "conn_timeout": _text("Connect timeout (s)", kind="number", default=30),
    }
    return _connection_type(SFTP, fields, ["schema"], {"login": "Username"},
                            {"host": "sftp.example.com", "port": "22", "login": "ledgerlink",
                             "host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA..."})


def tryton_type() -> dict[str, Any]:
    fields = {
        "protocol": _text("Protocol", kind="string", default="http", enum=["http", "https"]),
        "page_size": _text("Page size", "Records per search_read page", kind="integer", default=500),
        "timeout": _text("Timeout (s)", kind="number", default=30),
        "retries": _text("Attempts", "Attempts per call on connection errors and 5xx answers", kind="integer",
                         default=4),
        "overlap_seconds": _text("Re-read overlap (s)", "Records changed this long before the cursor are read "
                                 "again, for commits that land late", kind="number", default=5),
        "vendor_category": _text("Vendor category", "Party category of vendors", default="Supplier"),
        "customer_category": _text("Customer category", "Party category of customers", default="Customer"),
    }
    return _connection_type(TRYTON, fields, [], {"schema": "Database", "login": "User"},
                            {"host": "erp.example.com", "port": "8000", "schema": "ledgerlink", "login": "admin"})


def scf_type() -> dict[str, Any]:
    fields = {
        "base_url": _text("Base URL", "The platform's API root, instead of host and port"),
        "webhook_secret": _text("Webhook secret", "Signs the platform's status webhooks (HMAC)", secret=True),
        "timeout": _text("Timeout (s)", kind="number", default=10),
        "max_attempts": _text("Attempts per call", kind="integer", default=5),
    }
    return _connection_type(SCF, fields, ["schema", "login"], {"password": "API key"},
                            {"host": "api.scf-platform.example", "base_url": "https://api.scf-platform.example"})


_LOGIN_LABELS = {"username": "User", "client_id": "Client id"}
_SECRET_LABELS = {"password": "Password", "token": "Access token", "api_key": "API key",
                  "client_secret": "Client secret"}


def erp_type(class_name: str, definition_name: str, label: str) -> dict[str, Any]:
    """The connection type of a REST/OData ERP, read from its definition: the host fills the variable
    base_url starts with, login and password carry the auth type's credentials, every other
    ``${VAR}`` is an extra field (required unless the definition gives a default); the definition's
    `connection` block names the type and labels, describes and gives placeholders to its fields."""
    definition = load_definition(definition_path(definition_name))
    label = (definition.get("connection") or {}).get("label", label)
    form = (definition.get("connection") or {}).get("fields", {})
    host = host_variable(definition)
    login_key, secret_key = credential_keys(definition)
    fields = {}
    for name, default in connection_variables(definition).items():
        if name == host:
            continue
        spec = form.get(name, {})
        fields[name] = _text(spec.get("label", name.replace("_", " ").capitalize()), spec.get("description", ""),
                             required=default is None, default=default or None)
    hidden = ["schema", "port"] + ([] if login_key else ["login"])
    relabel = {"password": _SECRET_LABELS.get(secret_key, secret_key)}
    if login_key:
        relabel["login"] = _LOGIN_LABELS.get(login_key, login_key)
    if host:
        relabel["host"] = form.get(host, {}).get("label", "Host (URL)")
    placeholders = {("host" if name == host else name): spec["placeholder"]
                    for name, spec in form.items() if "placeholder" in spec}
    return _connection_type((class_name, erp_conn_type(definition_name), label), fields, hidden, relabel,
                            placeholders)


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "ledgerlink",
        "name": "ledgerlink",
        "description": "ERP integration hub for finance teams: SFTP drops, Tryton and REST/OData ERPs, "
                       "supply-chain-finance platforms.",
        "versions": [__version__],
        "hooks": [{"integration-name": "ledgerlink", "python-modules": ["ledgerlink.airflow.hooks"]}],
        "connection-types": [sftp_type(), tryton_type(), scf_type(), *(erp_type(*erp) for erp in ERPS)],
    }
