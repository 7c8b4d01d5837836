"""What the Admin pages list: users, devices with their last push, the audit log by page,
and the audit chain's check from its last checkpoint (or, on an admin's request, whole)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from syncserver.db.engine import Database
from syncserver.db.models import AppliedOp, AuditCheckpoint, AuditLog, Device, User
from syncserver.services.journal import GENESIS, AuditChainError, now, verify_audit_chain

__all__ = [
    "AuditPage",
    "ChainCheck",
    "DeviceRow",
    "audit_page",
    "check_audit_chain",
    "devices",
    "users",
]


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


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """What one check of the audit chain found, and what the last whole-chain check did."""

    entries: int
    """Entries found intact: all of them up to here (when ``broken`` is None)."""
    checked_from: int
    """The first entry this check read (1: the whole chain; past ``entries``: none was new)."""
    seconds: float
    broken: str | None
    """The first entry that does not chain, when this check found one."""
    last_full: AuditCheckpoint | None
    """The newest check of the whole chain, from the genesis, if any was made."""

    @property
    def checked(self) -> int:
        """How many entries this check read."""
        return max(0, self.entries - self.checked_from + 1)


def _newest(session: Session, *, full: bool) -> AuditCheckpoint | None:
    """The newest checkpoint a view may start from (intact, and not past a break found since
    the last intact whole-chain check), or (``full``) the newest whole-chain check."""
    query = select(AuditCheckpoint)
    if full:
        query = query.where(AuditCheckpoint.checked_from == 1)
    else:
        query = query.where(AuditCheckpoint.broken.is_(None))
        # With several workers, a view that read the entries before one was changed can
        # store its "intact" after another view found the change: starting there would
        # skip the changed entry for good. A break stays a limit until a whole check.
        whole = (
            select(func.coalesce(func.max(AuditCheckpoint.id), 0))
            .where(AuditCheckpoint.checked_from == 1, AuditCheckpoint.broken.is_(None))
            .scalar_subquery()
        )
        limit = session.execute(
            select(func.min(AuditCheckpoint.seq)).where(
                AuditCheckpoint.broken.is_not(None),
                AuditCheckpoint.checked_from > 1,
                AuditCheckpoint.id > whole,
            )
        ).scalar_one_or_none()
        if limit is not None:
            query = query.where(AuditCheckpoint.seq <= limit)
    return session.execute(query.order_by(AuditCheckpoint.id.desc()).limit(1)).scalar_one_or_none()


def check_audit_chain(database: Database, by: str, *, full: bool = False) -> ChainCheck:
    """Check the audit chain from the newest intact checkpoint to the head (``full``: from
    the genesis) and store the result as a new checkpoint: how far the chain is intact, or
    the first entry that is not (a view that finds nothing new stores nothing).

    A checkpoint is only as good as the database it sits in: someone who can rewrite an
    entry can rewrite the checkpoints too, which is why the whole check stays an admin's
    action (and ``syncserver verify-audit`` prints the head hash to keep elsewhere).
    """
    started = time.perf_counter()
    broken: str | None = None
    with database.read() as session:
        whole = _newest(session, full=True)
        last = _newest(session, full=False)
        after = (last.seq, last.row_hash) if last is not None and not full else (0, GENESIS)
        try:
            entries = verify_audit_chain(session, after)
            if full and last is not None:
                # A history re-hashed from the genesis holds together; what gives it away
                # is the last checkpoint's entry, replaced. The whole check must see that
                # too, or its "intact" would become the next view's start and hide it.
                verify_audit_chain(session, (last.seq, last.row_hash))
        except AuditChainError as exc:
            entries, broken = after[0], str(exc)
        last_hash = after[1]
        if entries > after[0]:  # the hash the check ended on (the head when it began)
            last_hash = session.execute(
                select(AuditLog.row_hash).where(AuditLog.seq == entries)
            ).scalar_one()
    seconds = time.perf_counter() - started
    checked_from = after[0] + 1
    # Only a check that found something is stored: a view with nothing new takes no write
    # lock, so on SQLite it does not wait behind (or fail after) an import or a push.
    if full or broken is not None or entries > after[0]:
        stored = AuditCheckpoint(
            seq=entries,
            row_hash=last_hash,
            checked_from=checked_from,
            verified_at=now(),
            verified_by=by,
            seconds=seconds,
            broken=broken[:400] if broken else None,
        )
        with database.write() as session:
            session.add(stored)
        if checked_from == 1:
            whole = stored
    return ChainCheck(entries, checked_from, seconds, broken, whole)
