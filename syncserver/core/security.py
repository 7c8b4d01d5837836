"""Secrets: opaque bearer tokens (kept as SHA-256), one-time codes, argon2 passwords.

Tokens and codes are random (256 and 60 bits) so a fast hash is enough to keep them; only
the hash is stored, and a token is shown once. Passwords are people's, so they get argon2.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = [
    "hash_password",
    "hash_secret",
    "new_device_id",
    "new_enroll_code",
    "new_token",
    "normalize_code",
    "verify_password",
]

_HASHER = PasswordHasher()
# Crockford's base32 without the letters people misread (I, L, O, U).
_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_token(prefix: str) -> str:
    """A bearer token: ``fk_dev_…`` for a device, ``fk_pat_…`` for a person."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def new_device_id() -> str:
    """The public id of an enrolled device (not a secret)."""
    return f"dev_{secrets.token_hex(8)}"


def new_enroll_code() -> str:
    """A one-time code a technician types: 12 characters in groups of four (60 bits)."""
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(12))
    return f"{raw[0:4]}-{raw[4:8]}-{raw[8:12]}"


def normalize_code(code: str) -> str:
    """A code as typed, in its one stored form: upper case, no dashes or spaces."""
    return "".join(c for c in code.upper() if c.isalnum())


def hash_secret(secret: str) -> str:
    """What the server keeps of a token or code."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def same_secret(a: str, b: str) -> bool:
    """Constant-time comparison of two hashes."""
    return hmac.compare_digest(a, b)


def hash_password(password: str) -> str:
    """An argon2id hash of a person's password."""
    return _HASHER.hash(password)


def verify_password(stored: str, password: str) -> bool:
    """True if ``password`` matches the stored argon2 hash."""
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
