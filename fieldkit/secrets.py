"""Secrets the laptop keeps: meter passwords (per meter or per fleet, with their level) and
the device token for the sync server. Never in the database, a capture, an export or a log.

Two backends, chosen in ``config.toml`` (``[secrets] backend``):

- ``keyring`` (default): the OS keyring (Windows Credential Manager, macOS Keychain,
  SecretService/KWallet) through :mod:`keyring`, one entry for the kit;
- ``file``: for headless machines without a keyring, explicitly: ``secrets.enc`` in
  ``FIELDKIT_HOME``, AES-256-GCM under a key derived with scrypt from the passphrase in
  ``FIELDKIT_SECRETS_PASSPHRASE``; written whole (temporary file, fsync, rename), mode 0600.

Both hold one JSON object: ``{"passwords": [{"meter": ..., "level": n, "password": ...}],
"token": ...}``. Errors are one :class:`SecretsError` line saying what to do.
"""

from __future__ import annotations

import json
import os
import secrets as random_bytes
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from fieldkit import paths
from fieldkit.config import ConfigError, load_settings

__all__ = [
    "FLEET",
    "PASSPHRASE_ENV",
    "SECRETS_FILENAME",
    "EncryptedFile",
    "KeyringStore",
    "SecretsError",
    "StoredPassword",
    "Vault",
    "delete_password",
    "device_token",
    "meter_password",
    "open_vault",
    "set_device_token",
    "set_password",
    "stored_passwords",
]

FLEET = "*"  # the meter name of a fleet-wide password
PASSPHRASE_ENV = "FIELDKIT_SECRETS_PASSPHRASE"  # noqa: S105  # a variable's name
SECRETS_FILENAME = "secrets.enc"
KEYRING_SERVICE = "fieldkit"
KEYRING_ITEM = "secrets"
_AAD = b"fieldkit secrets v1"
_SCRYPT = {"n": 2**15, "r": 8, "p": 1}


class SecretsError(Exception):
    """The secrets cannot be read or kept; one line saying what to do."""


class Vault(Protocol):
    """Where the kit's secrets object lives."""

    def load(self) -> dict[str, Any]:
        """The secrets object ({} when nothing is kept yet)."""
        ...

    def save(self, data: dict[str, Any]) -> None:
        """Replace the secrets object."""
        ...


class KeyringStore:
    """The OS keyring, one item for the kit."""

    def __init__(self, backend: Any | None = None) -> None:
        import keyring
        from keyring.backends import fail

        self._backend = backend if backend is not None else keyring.get_keyring()
        if isinstance(self._backend, fail.Keyring):
            raise SecretsError(
                "this machine has no OS keyring: on a headless laptop set [secrets] "
                f'backend = "file" in {paths.home() / "config.toml"} and give the '
                f"passphrase in {PASSPHRASE_ENV}"
            )

    def load(self) -> dict[str, Any]:
        """The secrets object from the keyring."""
        from keyring.errors import KeyringError

        try:
            text = self._backend.get_password(KEYRING_SERVICE, KEYRING_ITEM)
        except KeyringError as exc:
            raise SecretsError(f"the OS keyring refused to answer: {exc}") from exc
        return {} if text is None else dict(json.loads(text))

    def save(self, data: dict[str, Any]) -> None:
        """Replace the secrets object in the keyring."""
        from keyring.errors import KeyringError

        try:
            self._backend.set_password(KEYRING_SERVICE, KEYRING_ITEM, json.dumps(data))
        except KeyringError as exc:
            raise SecretsError(f"the OS keyring refused to keep the secret: {exc}") from exc


class EncryptedFile:
    """``secrets.enc``: AES-256-GCM, key from scrypt(passphrase, salt)."""

    def __init__(self, path: Path, passphrase: str | None) -> None:
        self.path = path
        self._passphrase = passphrase

    def _key(self, salt: bytes) -> bytes:
        from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

        if not self._passphrase:
            raise SecretsError(
                f"the secrets file {self.path} needs its passphrase in {PASSPHRASE_ENV}"
            )
        kdf = Scrypt(salt=salt, length=32, **_SCRYPT)
        return kdf.derive(self._passphrase.encode("utf-8"))

    def load(self) -> dict[str, Any]:
        """The decrypted secrets object ({} when the file does not exist)."""
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        try:
            sealed = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise SecretsError(f"cannot read the secrets file {self.path}: {exc}") from exc
        try:
            salt = bytes.fromhex(sealed["salt"])
            nonce = bytes.fromhex(sealed["nonce"])
            box = bytes.fromhex(sealed["ciphertext"])
            plain = AESGCM(self._key(salt)).decrypt(nonce, box, _AAD)
        except (KeyError, ValueError, TypeError) as exc:
            raise SecretsError(f"the secrets file {self.path} is damaged") from exc
        except InvalidTag as exc:
            raise SecretsError(
                f"cannot open the secrets file {self.path}: wrong {PASSPHRASE_ENV} "
                "(or the file was changed)"
            ) from exc
        return dict(json.loads(plain))

    def save(self, data: dict[str, Any]) -> None:
        """Encrypt and replace the file whole (readable by this user only)."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        salt, nonce = random_bytes.token_bytes(16), random_bytes.token_bytes(12)
        box = AESGCM(self._key(salt)).encrypt(nonce, json.dumps(data).encode("utf-8"), _AAD)
        text = json.dumps(
            {
                "format": "fieldkit secrets 1 (AES-256-GCM, scrypt)",
                "scrypt": _SCRYPT,
                "salt": salt.hex(),
                "nonce": nonce.hex(),
                "ciphertext": box.hex(),
            }
        )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(prefix=".secrets.", dir=self.path.parent)
            try:
                os.chmod(temporary, 0o600)
                with os.fdopen(handle, "w", encoding="utf-8") as f:
                    f.write(text)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(temporary, self.path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise SecretsError(f"cannot write the secrets file {self.path}: {exc}") from exc


def open_vault() -> Vault:
    """The vault the settings choose."""
    try:
        backend = load_settings().secrets.backend
    except ConfigError as exc:
        raise SecretsError(str(exc)) from exc
    if backend == "file":
        return EncryptedFile(paths.home() / SECRETS_FILENAME, os.environ.get(PASSPHRASE_ENV))
    return KeyringStore()


@dataclass(frozen=True, slots=True, order=True)
class StoredPassword:
    """A meter password's place (never its value): which meter (or the fleet), which level."""

    meter: str
    level: int


def _passwords(data: dict[str, Any]) -> list[dict[str, Any]]:
    return list(data.get("passwords", []))


def set_password(meter: str | None, level: int, password: str, vault: Vault | None = None) -> None:
    """Keep a meter password (``meter`` None: the fleet's) at an access level."""
    if not password or len(password.encode("utf-8")) > 20:
        raise SecretsError("a C12.18 meter password is 1 to 20 bytes")
    if not 1 <= level <= 255:
        raise SecretsError("a password level is 1 to 255")
    store = vault or open_vault()
    data = store.load()
    name = meter or FLEET
    kept = [p for p in _passwords(data) if (p["meter"], p["level"]) != (name, level)]
    kept.append({"meter": name, "level": level, "password": password})
    store.save({**data, "passwords": kept})


def delete_password(meter: str | None, level: int | None, vault: Vault | None = None) -> int:
    """Forget the passwords of a meter (or the fleet), one level or all; how many went."""
    store = vault or open_vault()
    data = store.load()
    name = meter or FLEET
    kept = [
        p
        for p in _passwords(data)
        if not (p["meter"] == name and (level is None or p["level"] == level))
    ]
    gone = len(_passwords(data)) - len(kept)
    if gone:
        store.save({**data, "passwords": kept})
    return gone


def stored_passwords(vault: Vault | None = None) -> list[StoredPassword]:
    """What is kept, without the values."""
    store = vault or open_vault()
    return sorted(StoredPassword(p["meter"], p["level"]) for p in _passwords(store.load()))


def meter_password(meter: str | None, level: int, vault: Vault | None = None) -> str | None:
    """The password to use at ``meter``: the lowest kept level that is at least ``level``
    (the meter's own first, then the fleet's), else the highest kept; None when none is.

    Returns None quietly on a machine where no vault is set up (no keyring, no file).
    """
    try:
        store = vault or open_vault()
    except SecretsError:
        if not (paths.home() / SECRETS_FILENAME).exists():
            return None
        raise
    entries = _passwords(store.load())
    for name in ([meter] if meter else []) + [FLEET]:
        mine = sorted((p for p in entries if p["meter"] == name), key=lambda p: p["level"])
        if not mine:
            continue
        enough = [p for p in mine if p["level"] >= level]
        chosen = enough[0] if enough else mine[-1]
        return str(chosen["password"])
    return None


def set_device_token(token: str, vault: Vault | None = None) -> None:
    """Keep the sync server's device token (enrolment writes it)."""
    store = vault or open_vault()
    store.save({**store.load(), "token": token})


def device_token(vault: Vault | None = None) -> str | None:
    """The device token, or None before enrolment."""
    store = vault or open_vault()
    token = store.load().get("token")
    return None if token is None else str(token)
