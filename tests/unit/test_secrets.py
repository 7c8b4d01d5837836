"""Meter passwords and the device token: the OS keyring, or the explicit encrypted file."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from keyring.backend import KeyringBackend

from fieldkit import secrets


class MemoryKeyring(KeyringBackend):
    """An in-memory OS keyring for tests."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.items.pop((service, username), None)


@pytest.fixture
def vault_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FIELDKIT_HOME", str(tmp_path))
    monkeypatch.setenv(secrets.PASSPHRASE_ENV, "correct horse battery staple")
    (tmp_path / "config.toml").write_text('[secrets]\nbackend = "file"\n')
    return tmp_path / secrets.SECRETS_FILENAME


def test_keyring_backend_keeps_passwords_per_meter_and_fleet() -> None:
    ring = MemoryKeyring()
    vault = secrets.KeyringStore(ring)
    secrets.set_password(None, 1, "FLEETREAD", vault)
    secrets.set_password("M-1", 1, "M1READ", vault)
    secrets.set_password("M-1", 3, "M1MASTER", vault)
    assert secrets.meter_password("M-1", 1, vault) == "M1READ"
    assert secrets.meter_password("M-1", 2, vault) == "M1MASTER"  # lowest that is enough
    assert secrets.meter_password("M-1", 9, vault) == "M1MASTER"  # the highest kept
    assert secrets.meter_password("M-2", 1, vault) == "FLEETREAD"
    assert secrets.meter_password(None, 3, vault) == "FLEETREAD"
    assert secrets.stored_passwords(vault) == [
        secrets.StoredPassword("*", 1),
        secrets.StoredPassword("M-1", 1),
        secrets.StoredPassword("M-1", 3),
    ]
    assert secrets.delete_password("M-1", None, vault) == 2
    assert secrets.meter_password("M-1", 3, vault) == "FLEETREAD"
    secrets.set_device_token("fk_dev_1_abc", vault)
    assert secrets.device_token(vault) == "fk_dev_1_abc"
    assert list(ring.items) == [("fieldkit", "secrets")]


def test_no_os_keyring_says_how_to_use_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keyring.backends import fail

    monkeypatch.setenv("FIELDKIT_HOME", str(tmp_path))
    with pytest.raises(secrets.SecretsError, match='backend = "file"'):
        secrets.KeyringStore(fail.Keyring())
    # Nothing set up, nothing kept: a read asks for no password, quietly.
    monkeypatch.setattr("keyring.get_keyring", fail.Keyring)
    assert secrets.meter_password("M-1", 1) is None


def test_the_file_is_encrypted_private_and_needs_its_passphrase(
    vault_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets.set_password("M-9", 2, "SECRET-PW-9")
    secrets.set_device_token("fk_dev_9_token")
    raw = vault_file.read_bytes()
    assert b"SECRET-PW-9" not in raw
    assert b"fk_dev_9_token" not in raw
    assert b"SECRET-PW-9".hex().encode() not in raw
    assert stat.S_IMODE(vault_file.stat().st_mode) == 0o600
    assert secrets.meter_password("M-9", 1) == "SECRET-PW-9"
    assert secrets.device_token() == "fk_dev_9_token"
    monkeypatch.setenv(secrets.PASSPHRASE_ENV, "wrong")
    with pytest.raises(secrets.SecretsError, match="wrong FIELDKIT_SECRETS_PASSPHRASE"):
        secrets.meter_password("M-9", 1)
    monkeypatch.delenv(secrets.PASSPHRASE_ENV)
    with pytest.raises(secrets.SecretsError, match="needs its passphrase"):
        secrets.meter_password("M-9", 1)


def test_a_changed_file_is_refused(vault_file: Path) -> None:
    secrets.set_password(None, 1, "PW")
    sealed: dict[str, Any] = json.loads(vault_file.read_text())
    box = bytearray(bytes.fromhex(sealed["ciphertext"]))
    box[0] ^= 1
    sealed["ciphertext"] = box.hex()
    vault_file.write_text(json.dumps(sealed))
    with pytest.raises(secrets.SecretsError, match="changed"):
        secrets.meter_password(None, 1)


@pytest.mark.parametrize("password", ["", "x" * 21])
def test_passwords_are_c1218_sized(vault_file: Path, password: str) -> None:
    with pytest.raises(secrets.SecretsError, match="1 to 20 bytes"):
        secrets.set_password(None, 1, password)
    assert not vault_file.exists()
