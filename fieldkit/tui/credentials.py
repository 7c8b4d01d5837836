"""The meter passwords kept on this laptop, as the Connect screen offers them.

Looking one up loads the secrets backend (keyring, or the encrypted file and its key
derivation): a few hundred milliseconds of Python the first time. The Site screen asks
ahead (:meth:`KeptPasswords.lookup` in a thread worker) so that the lookup is done before a
read starts and never competes with the meter for the interpreter. Nothing here imports
Textual.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

__all__ = ["KeptPassword", "KeptPasswords"]


@dataclass(frozen=True, slots=True)
class KeptPassword:
    """What the laptop keeps for one meter: the password (None: none kept), or why the
    secrets could not be read."""

    password: str | None
    problem: str | None = None


class KeptPasswords:
    """Level-1 (reader) passwords by meter number, looked up once per meter; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._found: dict[str, KeptPassword] = {}

    def lookup(self, meter_number: str) -> KeptPassword:
        """The password kept for this meter (or the fleet); blocking, cached."""
        key = meter_number.strip().upper()
        with self._lock:
            if key in self._found:
                return self._found[key]
            from fieldkit import secrets

            try:
                found = KeptPassword(secrets.meter_password(meter_number.strip() or None, 1))
            except secrets.SecretsError as exc:
                found = KeptPassword(None, f"Kept passwords: {exc}")
            self._found[key] = found
            return found
