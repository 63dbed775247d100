"""SFTPConfig: validation, Airflow connection mapping, host-key pins, secrets kept out of repr/errors."""

from __future__ import annotations

import base64

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from connectors.transport import SFTPConfig
from connectors.transport.sftp import load_private_key, parse_host_keys
from ledgerlink.errors import ConfigError

PASSWORD = "Pw-s3cret-7731"
PASSPHRASE = "Phrase-s3cret-9925"


def new_key() -> tuple[str, str]:
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private, public.decode()


PRIVATE, PUBLIC = new_key()
KEY_BODY = PRIVATE.splitlines()[1]  # a line of the secret key material


def base(**kw: object) -> dict:
    values: dict = {"host": "sftp.example.com", "port": 2222, "username": "ledger", "host_key": PUBLIC}
    values.update(kw)
    return values


def test_repr_hides_secrets() -> None:
    cfg = SFTPConfig(**base(password=PASSWORD, private_key=PRIVATE, private_key_passphrase=PASSPHRASE))
    for text in (repr(cfg), str(cfg), f"{cfg}", repr([cfg])):
        assert PASSWORD not in text
        assert PASSPHRASE not in text
        assert KEY_BODY not in text
        assert "PRIVATE KEY" not in text
        assert "password='***'" in text
    assert "password=None" in repr(SFTPConfig(**base(private_key=PRIVATE)))


def test_missing_host_key_explains_how_to_pin() -> None:
    with pytest.raises(ConfigError) as err:
        SFTPConfig(**base(host_key=None, password=PASSWORD))
    msg = str(err.value)
    assert "ssh-keyscan -p 2222 sftp.example.com" in msg
    assert "always verifies host keys" in msg
    assert PASSWORD not in msg


@pytest.mark.parametrize("flag", ["no_host_key_check", "allow_host_key_change"])
@pytest.mark.parametrize("value", [True, "true", "True", "1"])
def test_disabling_host_key_checks_is_refused(flag: str, value: object) -> None:
    with pytest.raises(ConfigError, match="always verifies host keys") as err:
        SFTPConfig.from_connection(
            host="sftp.example.com",
            port=22,
            login="ledger",
            password=PASSWORD,
            extra={flag: value, "host_key": PUBLIC},
        )
    assert PASSWORD not in str(err.value)


def test_no_host_key_check_false_is_fine() -> None:
    cfg = SFTPConfig.from_connection(
        host="h",
        port=None,
        login="u",
        password=PASSWORD,
        extra={"no_host_key_check": "false", "host_key": PUBLIC},
    )
    assert cfg.port == 22


def test_from_connection_maps_airflow_fields() -> None:
    cfg = SFTPConfig.from_connection(
        host="sftp.example.com",
        port="2222",
        login="ledger",
        password=PASSWORD,
        extra={
            "private_key": PRIVATE.replace("\n", "\\n"),  # escaped newlines, as sometimes pasted
            "private_key_passphrase": PASSPHRASE,
            "host_key": PUBLIC,
            "known_hosts": "/etc/ssh/ssh_known_hosts",
            "conn_timeout": "7",
            "remote_dir": "inbox",
            "pattern": "*.csv",
            "done_suffix": ".done",
            "stable_seconds": "0.5",
            "processed_dir": "processed",
            "failed_dir": "/srv/failed",
            "compress": "true",  # other Airflow extras are ignored
        },
    )
    assert cfg.port == 2222
    assert cfg.username == "ledger"
    assert cfg.password == PASSWORD
    assert cfg.private_key == PRIVATE
    assert cfg.private_key_passphrase == PASSPHRASE
    assert cfg.known_hosts_file == "/etc/ssh/ssh_known_hosts"
    assert cfg.timeout == 7.0
    assert (cfg.remote_dir, cfg.pattern, cfg.done_suffix) == ("inbox", "*.csv", ".done")
    assert cfg.stable_seconds == 0.5
    assert (cfg.processed_dir, cfg.failed_dir) == ("processed", "/srv/failed")


def test_from_connection_key_file() -> None:
    cfg = SFTPConfig.from_connection(
        host="h",
        port=22,
        login="u",
        password=None,
        extra={"key_file": "/keys/id_ed25519", "host_key": PUBLIC},
    )
    assert cfg.private_key_file == "/keys/id_ed25519"
    assert cfg.remote_dir == "."


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"host": ""}, "host"),
        ({"port": 0}, "port"),
        ({"username": ""}, "username"),
        ({"password": None, "private_key": None}, "credentials"),
        ({"private_key_file": "/k"}, "either private_key or private_key_file"),
        ({"host_key": "not a key"}, "not an SSH public key"),
        ({"timeout": 0}, "timeout"),
        ({"pattern": ""}, "pattern"),
        ({"stable_seconds": -1}, "stable_seconds"),
    ],
)
def test_invalid_config(kwargs: dict, match: str) -> None:
    values = base(private_key=PRIVATE, password=PASSWORD)
    values.update(kwargs)
    with pytest.raises(ConfigError, match=match) as err:
        SFTPConfig(**values)
    assert PASSWORD not in str(err.value)
    assert KEY_BODY not in str(err.value)


def test_host_key_forms() -> None:
    expected = paramiko.PKey.from_type_string("ssh-ed25519", base64.b64decode(PUBLIC.split()[1]))
    b64 = PUBLIC.split()[1]
    for text in (
        PUBLIC,
        f"{PUBLIC} comment here",
        f"[sftp.example.com]:2222 {PUBLIC}",
        b64,  # bare key, as Airflow's SSH hook accepts
        f"# sftp.example.com:2222 SSH-2.0-OpenSSH\n{PUBLIC}\n",
    ):
        keys = parse_host_keys(text)
        assert keys == [expected]
    assert len(parse_host_keys(f"{PUBLIC}\n{new_key()[1]}")) == 2


@pytest.mark.parametrize("text", ["", "ssh-ed25519", "ssh-ed25519 !!!", "@cert-authority * " + PUBLIC])
def test_bad_host_keys(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_host_keys(text)


def test_host_key_type_must_match_data() -> None:
    with pytest.raises(ConfigError, match="says ssh-rsa"):
        parse_host_keys("ssh-rsa " + PUBLIC.split()[1])


def test_private_key_errors_never_echo_the_key() -> None:
    encrypted = (
        ed25519.Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.BestAvailableEncryption(PASSPHRASE.encode()),
        )
        .decode()
    )
    assert load_private_key(encrypted, PASSPHRASE, "test").get_name() == "ssh-ed25519"
    with pytest.raises(ConfigError, match="passphrase is wrong") as err:
        load_private_key(encrypted, "wrong-" + PASSPHRASE, "test")
    assert PASSPHRASE not in str(err.value)
    with pytest.raises(ConfigError, match="private_key_passphrase"):
        load_private_key(encrypted, None, "test")
    garbage = (
        "-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END OPENSSH PRIVATE KEY-----"
    )
    with pytest.raises(ConfigError) as err:
        load_private_key(garbage, None, "test")
    assert "c2VjcmV0" not in str(err.value)


def test_private_key_formats() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    pkcs8 = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    assert load_private_key(pkcs8, None, "t").get_name() == "ssh-ed25519"
    # a passphrase given for an unencrypted key is harmless
    assert load_private_key(PRIVATE, "unused", "t").get_name() == "ssh-ed25519"
