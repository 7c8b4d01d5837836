"""People, their tokens, enrolment codes and devices; who a bearer token belongs to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from syncserver.core.errors import Unauthorized, UsageError
from syncserver.core.security import (
    hash_password,
    hash_secret,
    new_device_id,
    new_enroll_code,
    new_token,
    normalize_code,
    verify_password,
)
from syncserver.db.models import ApiToken, Device, EnrollCode, User
from syncserver.services.journal import Work

__all__ = [
    "ADMIN",
    "OFFICE",
    "ROLES",
    "TECHNICIAN",
    "Principal",
    "authenticate",
    "create_enroll_code",
    "create_token",
    "create_user",
    "enroll_device",
    "find_user",
    "revoke_device",
    "verify_login",
]

TECHNICIAN = "technician"
OFFICE = "office"
ADMIN = "admin"
ROLES = (TECHNICIAN, OFFICE, ADMIN)

DEVICE_TOKEN_PREFIX = "fk_dev"  # noqa: S105 (a prefix, not a secret)
PERSONAL_TOKEN_PREFIX = "fk_pat"  # noqa: S105


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a person (personal token) or a technician's device (device token)."""

    user_id: int
    name: str
    role: str
    device_pk: int | None = None
    device_id: str | None = None

    @property
    def technician_id(self) -> int | None:
        """The technician whose data this caller is limited to; None for office and admin."""
        return self.user_id if self.role == TECHNICIAN else None


def find_user(session: Session, name: str) -> User | None:
    """The user called ``name``."""
    return session.execute(select(User).where(User.name == name)).scalar_one_or_none()


def _user(session: Session, name: str) -> User:
    user = find_user(session, name)
    if user is None or not user.active:
        raise UsageError(f"there is no user {name!r}")
    return user


def create_user(work: Work, name: str, role: str, password: str) -> User:
    """A new user with an argon2-hashed password."""
    name = name.strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise UsageError("a user name is 1 to 100 printable characters")
    if role not in ROLES:
        raise UsageError(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
    if len(password) < 8:
        raise UsageError("the password must have at least 8 characters")
    if find_user(work.session, name) is not None:
        raise UsageError(f"there is already a user {name!r}")
    user = User(
        name=name, role=role, password_hash=hash_password(password), active=True, created_at=work.at
    )
    work.session.add(user)
    work.session.flush()
    work.audit("user.create", "user", name, role=role)
    return user


# Checked when the name is unknown, so a wrong name costs the same time as a wrong password.
_NO_USER_HASH = hash_password("no such user: this hash never matches a login")


def verify_login(session: Session, name: str, password: str) -> User | None:
    """The active user ``name`` if ``password`` is theirs (argon2), else None."""
    user = find_user(session, name) if 0 < len(name) <= 100 else None
    if user is None or not user.active:
        verify_password(_NO_USER_HASH, password)
        return None
    return user if verify_password(user.password_hash, password) else None


def create_token(work: Work, name: str) -> str:
    """A personal API token for an office or admin user; only its hash is kept."""
    user = _user(work.session, name)
    if user.role == TECHNICIAN:
        raise UsageError(
            f"{name!r} is a technician: technicians use device tokens (syncserver enroll-code)"
        )
    token = new_token(PERSONAL_TOKEN_PREFIX)
    work.session.add(ApiToken(user_id=user.id, token_hash=hash_secret(token), created_at=work.at))
    work.session.flush()
    work.audit("token.create", "user", name)
    return token


def create_enroll_code(work: Work, technician: str, minutes: int) -> str:
    """A one-time code that enrols one device of ``technician`` within ``minutes``."""
    user = _user(work.session, technician)
    if user.role != TECHNICIAN:
        raise UsageError(f"{technician!r} is not a technician (role {user.role})")
    code = new_enroll_code()
    work.session.add(
        EnrollCode(
            code_hash=hash_secret(normalize_code(code)),
            technician_id=user.id,
            created_at=work.at,
            expires_at=work.at + timedelta(minutes=minutes),
        )
    )
    work.audit("enroll_code.create", "user", technician, minutes=minutes)
    return code


def enroll_device(work: Work, code: str, device_name: str) -> tuple[Device, User, str]:
    """Spend a code on a new device: the device, its technician and its token (shown once)."""
    entry = work.session.execute(
        select(EnrollCode).where(EnrollCode.code_hash == hash_secret(normalize_code(code)))
    ).scalar_one_or_none()
    if entry is None or entry.used_at is not None or entry.expires_at <= work.at:
        raise Unauthorized("invalid_code", "the enrolment code is unknown, used or expired")
    user = work.session.get(User, entry.technician_id)
    if user is None or not user.active:
        raise Unauthorized("invalid_code", "the enrolment code is unknown, used or expired")
    entry.used_at = work.at
    token = new_token(DEVICE_TOKEN_PREFIX)
    device = Device(
        device_id=new_device_id(),
        name=device_name,
        technician_id=user.id,
        token_hash=hash_secret(token),
        enrolled_at=work.at,
    )
    work.session.add(device)
    work.session.flush()
    work.audit("device.enroll", "device", device.device_id, technician=user.name)
    return device, user, token


def revoke_device(work: Work, device_id: str) -> Device:
    """Revoke a device's token at once (its next request is 401)."""
    device = work.session.execute(
        select(Device).where(Device.device_id == device_id)
    ).scalar_one_or_none()
    if device is None:
        raise UsageError(f"there is no device {device_id!r}")
    if device.revoked_at is None:
        device.revoked_at = work.at
        work.audit("device.revoke", "device", device_id)
    return device


def authenticate(session: Session, token: str) -> Principal:
    """The caller a bearer token stands for, checked against the database on every request."""
    refused = Unauthorized("invalid_token", "the token is unknown or revoked")
    digest = hash_secret(token)
    if token.startswith(DEVICE_TOKEN_PREFIX + "_"):
        row = session.execute(
            select(Device, User)
            .join(User, User.id == Device.technician_id)
            .where(Device.token_hash == digest)
        ).one_or_none()
        if row is None:
            raise refused
        device, user = row
        if device.revoked_at is not None or not user.active:
            raise refused
        return Principal(user.id, user.name, user.role, device.id, device.device_id)
    if token.startswith(PERSONAL_TOKEN_PREFIX + "_"):
        found = session.execute(
            select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == digest)
        ).one_or_none()
        if found is None:
            raise refused
        api_token, person = found
        if api_token.revoked_at is not None or not person.active:
            raise refused
        return Principal(person.id, person.name, person.role)
    raise refused
