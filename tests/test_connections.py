"""Connection settings through ledgerlink's own interface: environment, secrets file, and Airflow's
connections in front of them under Airflow."""

from __future__ import annotations

import os

import pytest

from ledgerlink.connections import (
    EnvironmentResolver,
    SecretsFileResolver,
    get_connection,
    parse,
)
from ledgerlink.errors import ConfigError


def test_uri_with_quoted_secrets_and_typed_extras():
    conn = parse("erp", "tryton://ad%40min:s%2Fcr%40t@erp.internal:8000/ledgerlink?page_size=200&protocol=https",
                 "test")
    assert (conn.conn_type, conn.host, conn.port, conn.schema, conn.login, conn.password) == (
        "tryton", "erp.internal", 8000, "ledgerlink", "ad@min", "s/cr@t")
    assert conn.extra == {"page_size": 200, "protocol": "https"}


def test_uri_extra_as_one_json_object():
    conn = parse("scf", 'http://platform:9000?__extra__={"webhook_secret": "w", "timeout": 5}', "test")
    assert conn.extra == {"webhook_secret": "w", "timeout": 5}


def test_json_form_and_its_mistakes_are_named():
    conn = parse("sftp", '{"conn_type": "sftp", "host": "h", "port": "2222", "extra": {"host_key": "k"}}', "test")
    assert (conn.host, conn.port, conn.extra["host_key"]) == ("h", 2222, "k")
    with pytest.raises(ConfigError, match=r"connection 'sftp' \(test\): unknown field\(s\) hostname"):
        parse("sftp", '{"hostname": "h"}', "test")
    with pytest.raises(ConfigError, match="port 'abc' is not a number"):
        parse("sftp", '{"host": "h", "port": "abc"}', "test")


def test_repr_never_shows_the_password_or_secret_extras():
    conn = parse("scf", "http://u:hunter2-pass@platform?api_key=k3y-value&timeout=5", "test")
    shown = repr(conn)
    assert "hunter2-pass" not in shown and "k3y-value" not in shown
    assert "timeout" in shown and "'***'" in shown


def test_ledgerlink_variable_wins_over_the_airflow_one(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_MY_ERP", "tryton://a:b@airflow-host:1/db")
    monkeypatch.setenv("LEDGERLINK_CONN_MY_ERP", "tryton://a:b@ledgerlink-host:1/db")
    found = EnvironmentResolver().lookup("my_erp")
    assert found is not None and found.host == "ledgerlink-host" and found.origin == "environment LEDGERLINK_CONN_MY_ERP"


def test_secrets_file_readable_by_its_owner_only(tmp_path, monkeypatch):
    path = tmp_path / "connections.yaml"
    path.write_text("bank_sftp: sftp://ops:pw@10.0.0.5:22/?host_key=ssh-ed25519+AAAA\n"
                    "platform: {conn_type: http, host: platform.example, password: api-key-1}\n")
    monkeypatch.setenv("LEDGERLINK_CONNECTIONS", str(path))
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        SecretsFileResolver().lookup("platform")
    os.chmod(path, 0o600)
    platform = SecretsFileResolver().lookup("platform")
    assert platform is not None and (platform.host, platform.password) == ("platform.example", "api-key-1")
    assert SecretsFileResolver().lookup("bank_sftp").port == 22
    assert SecretsFileResolver().lookup("nothing") is None


def test_a_missing_connection_says_where_it_was_looked_for(tmp_path, monkeypatch):
    monkeypatch.setenv("LEDGERLINK_CONNECTIONS", str(tmp_path / "absent.yaml"))
    with pytest.raises(ConfigError) as err:
        get_connection("nowhere_defined")
    message = str(err.value)
    assert "connection 'nowhere_defined' is not defined" in message
    assert "LEDGERLINK_CONN_NOWHERE_DEFINED" in message and "absent.yaml" in message


@pytest.mark.airflow
def test_under_airflow_its_connections_come_first(monkeypatch):
    import ledgerlink.airflow  # noqa: F401 - importing the glue puts Airflow's connections first
    from ledgerlink.connections import resolvers

    assert type(resolvers()[0]).__name__ == "AirflowResolver"
    monkeypatch.setenv("AIRFLOW_CONN_LL_TEST_ERP", "tryton://admin:pw@erp.example:8000/ledgerlink")
    conn = get_connection("ll_test_erp")
    assert (conn.origin, conn.host, conn.schema, conn.password) == ("Airflow", "erp.example", "ledgerlink", "pw")
