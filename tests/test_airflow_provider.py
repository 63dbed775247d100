"""ledgerlink's connection types in Airflow: registered through the provider entry point, offered by the
connection form with their fields, and hooks that hand out a working connector."""

from __future__ import annotations

import os

import pytest

from connectors.erp.definitions import (
    available_definitions,
    connection_variables,
    credentials_from_connection,
    definition_path,
    load_definition,
)
from ledgerlink.connections import get_connection

pytestmark = pytest.mark.airflow

ERP_TYPES = {f"ledgerlink_{name}" for name in available_definitions()}
TYPES = {"ledgerlink_sftp", "ledgerlink_tryton", "ledgerlink_scf"} | ERP_TYPES


@pytest.fixture(scope="module")
def form():
    """What the connection form shows per connection type (the API the Airflow UI calls)."""
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    return {meta.connection_type: meta for meta in HookMetaService.hook_meta_data()}


def test_the_providers_manager_finds_every_connection_type():
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "ledgerlink" in manager.providers
    hooks = {conn_type: manager.hooks[conn_type] for conn_type in TYPES}
    assert {h.package_name for h in hooks.values()} == {"ledgerlink"}
    assert all(h.connection_testable for h in hooks.values())


def test_the_sftp_form_requires_the_pinned_host_key(form):
    sftp = form["ledgerlink_sftp"]
    host_key = sftp.extra_fields["host_key"]
    assert host_key["schema"]["type"] == "string", "a type without null makes the field required"
    assert "ssh-keyscan" in host_key["description"]
    assert sftp.extra_fields["private_key"]["schema"]["format"] == "password"
    assert sftp.standard_fields.port.placeholder == "22" and sftp.standard_fields.url_schema.hidden


@pytest.mark.parametrize("name", available_definitions())
def test_each_erp_form_asks_for_its_definitions_values(form, name):
    definition = load_definition(definition_path(name))
    meta = form[f"ledgerlink_{name}"]
    variables = connection_variables(definition)
    extras = meta.extra_fields or {}
    host = next(iter(variables))  # base_url starts with the host's variable
    assert set(extras) == set(variables) - {host}
    for var, default in variables.items():
        if var != host:
            required = extras[var]["schema"]["type"] == "string"
            assert required == (default is None), f"{name}: {var}"
    assert meta.standard_fields.host.title and not meta.standard_fields.host.hidden
    form_spec = definition["connection"]
    assert meta.hook_name == form_spec["label"] == f"{meta.hook_name.removesuffix(' (ledgerlink)')} (ledgerlink)"
    assert meta.standard_fields.host.title == form_spec["fields"][host]["label"]
    assert meta.standard_fields.host.placeholder == form_spec["fields"][host]["placeholder"]
    for var in set(variables) - {host}:
        assert extras[var]["schema"]["title"] == form_spec["fields"][var]["label"], f"{name}: {var} has no label"
        assert extras[var]["description"], f"{name}: {var} has no description"


def test_the_sftp_hook_connects_and_checks_the_host_key(sftp_server, sftp_root, monkeypatch):
    from ledgerlink.airflow.hooks import SftpSourceHook

    waiting = sftp_root / "inbox" / "a.csv"
    waiting.write_text("x")
    os.utime(waiting, (1_700_000_000, 1_700_000_000))  # long finished: its size is stable
    monkeypatch.setenv("AIRFLOW_CONN_LL_HOOK_SFTP", sftp_server.connection_uri())
    ok, message = SftpSourceHook("ll_hook_sftp").test_connection()
    assert ok and "host key verified" in message and "1 complete file" in message
    forged = sftp_server.connection_uri(host_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOVvTNw/4Ks2ySu4u4l2VhXwkxmgOqxNCHyhv2B1P8E1")
    monkeypatch.setenv("AIRFLOW_CONN_LL_HOOK_SFTP", forged)
    ok, message = SftpSourceHook("ll_hook_sftp").test_connection()
    assert not ok and "host key" in message.lower()


def test_an_erp_hook_builds_its_connector_from_the_connection(monkeypatch):
    from ledgerlink.airflow.hooks import SapS4hanaHook

    monkeypatch.setenv("AIRFLOW_CONN_LL_HOOK_SAP",
                       "ledgerlink-sap-s4hana://comm_user:s3cret-pw@my-tenant-api.s4hana.example?sap_client=200")
    with SapS4hanaHook("ll_hook_sap").get_conn() as connector:
        assert connector.base_url == "https://my-tenant-api.s4hana.example/sap/opu/odata/sap"
    definition = load_definition(definition_path("sap_s4hana"))
    creds = credentials_from_connection(definition, **get_connection("ll_hook_sap").fields())
    assert creds == {"host": "https://my-tenant-api.s4hana.example", "username": "comm_user",
                     "password": "s3cret-pw", "sap_client": "200"}
