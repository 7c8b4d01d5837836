"""What the Admin pages list: users, devices with their last push, the audit log by page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from syncserver.db.models import AppliedOp, AuditLog, Device, User

__all__ = ["AuditPage", "DeviceRow", "audit_page", "devices", "users"]


def users(session: Session) -> list[User]:
    """Every user, by name."""
    return list(session.execute(select(User).order_by(User.name)).scalars())


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """An enrolled laptop as the Admin page lists it."""

    device_id: str
    name: str
    technician: str
    enrolled_at: datetime
    revoked_at: datetime | None
    last_seen: datetime | None
    """When it last pushed an op (pulls leave no trace); None: never."""


def devices(session: Session) -> list[DeviceRow]:
    """Every device, live ones first, newest enrolment first."""
    last = (
        select(func.max(AppliedOp.applied_at))
        .where(AppliedOp.device_pk == Device.id)
        .correlate(Device)
        .scalar_subquery()
    )
    rows = session.execute(
        select(Device, User.name, last)
        .join(User, User.id == Device.technician_id)
        .order_by(Device.revoked_at.is_not(None), Device.enrolled_at.desc(), Device.id.desc())
    ).all()
    return [
        DeviceRow(d.device_id, d.name, name, d.enrolled_at, d.revoked_at, seen)
        for d, name, seen in rows
    ]


@dataclass(frozen=True, slots=True)
class AuditPage:
    """Audit entries newest first, and the ``seq`` the next (older) page starts below."""

    entries: list[AuditLog]
    next: int | None


def audit_page(session: Session, before: int | None, limit: int) -> AuditPage:
    """``limit`` audit entries below ``before`` (None: the newest), by their primary key."""
    query = select(AuditLog)
    if before is not None:
        query = query.where(AuditLog.seq < before)
    found = list(session.execute(query.order_by(AuditLog.seq.desc()).limit(limit + 1)).scalars())
    more = len(found) > limit
    found = found[:limit]
    return AuditPage(found, found[-1].seq if more and found else None)
