"""A unit of work: one write transaction, its audit rows and its feed rows.

Everything that changes the database goes through :func:`unit_of_work`. Audit and feed rows
are collected while the work runs and written last, just before COMMIT, because each takes a
row lock that orders commits: the audit chain's head (one at a time, so the hash chain never
forks) and each touched technician's feed head (so a technician's feed sequence is in commit
order — a cursor never skips a row that commits late, on PostgreSQL with several workers).
Feed heads are locked in technician order, so two transactions never deadlock on them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from syncserver.db.engine import Database
from syncserver.db.models import AuditHead, AuditLog, FeedHead, FeedRow

__all__ = ["GENESIS", "Actor", "AuditChainError", "Work", "unit_of_work", "verify_audit_chain"]

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did it: ``user`` NAME, ``device`` DEVICE_ID, or ``cli`` (the server's operator)."""

    type: str
    id: str


class AuditChainError(Exception):
    """The audit log does not chain: a row was changed or removed."""


def now() -> datetime:
    """The server's clock, UTC."""
    return datetime.now(UTC)


def canonical(data: Any) -> str:
    """JSON with sorted keys and no spaces: the one text a hash is taken of."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _row_hash(prev_hash: str, row: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical(row)).encode("utf-8")).hexdigest()


def _hashed_fields(entry: AuditLog) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": entry.at.astimezone(UTC).isoformat(),
        "actor_type": entry.actor_type,
        "actor_id": entry.actor_id,
        "action": entry.action,
        "entity": entry.entity,
        "entity_id": entry.entity_id,
        "detail": entry.detail,
    }


@dataclass
class Work:
    """The session of one write transaction, plus what it will add to the audit and feeds."""

    session: Session
    actor: Actor
    at: datetime = field(default_factory=now)
    _audit: list[tuple[str, str, str, str]] = field(default_factory=list)
    _feed: list[tuple[int, int, str, str | None]] = field(default_factory=list)

    def audit(self, action: str, entity: str, entity_id: str, **detail: Any) -> None:
        """Record what changed (ids and hashes only: never secrets, never full PII)."""
        self._audit.append((action, entity, entity_id, canonical(detail)))

    def feed(
        self, technician_id: int, work_order_pk: int, op: str, reason: str | None = None
    ) -> None:
        """Tell a technician's devices about a work order: ``upsert`` or ``remove``."""
        self._feed.append((technician_id, work_order_pk, op, reason))

    def flush(self) -> None:
        """Write the collected feed and audit rows, taking their locks in a fixed order."""
        self._flush_feed()
        self._flush_audit()

    def _flush_feed(self) -> None:
        if not self._feed:
            return
        session = self.session
        dialect = session.get_bind().dialect.name
        technicians = sorted({t for t, _, _, _ in self._feed})
        make_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(
            make_insert(FeedHead)
            .values([{"technician_id": t, "last_seq": 0} for t in technicians])
            .on_conflict_do_nothing()
        )
        heads: dict[int, int] = {}
        for technician in technicians:  # sorted: two writers lock in the same order
            heads[technician] = session.execute(
                select(FeedHead.last_seq)
                .where(FeedHead.technician_id == technician)
                .with_for_update()
            ).scalar_one()
        rows = []
        for technician, work_order_pk, op, reason in self._feed:
            heads[technician] += 1
            rows.append(
                {
                    "technician_id": technician,
                    "seq": heads[technician],
                    "work_order_pk": work_order_pk,
                    "op": op,
                    "reason": reason,
                    "created_at": self.at,
                }
            )
        session.execute(insert(FeedRow), rows)
        for technician, last in heads.items():
            session.execute(
                update(FeedHead).where(FeedHead.technician_id == technician).values(last_seq=last)
            )
        self._feed.clear()

    def _flush_audit(self) -> None:
        if not self._audit:
            return
        session = self.session
        head = session.execute(
            select(AuditHead).where(AuditHead.id == 1).with_for_update()
        ).scalar_one()
        seq, prev = head.last_seq, head.last_hash
        at = self.at.astimezone(UTC).isoformat()
        rows = []
        # Plain rows, not AuditLog objects: a push of 100 visits writes 100 of them.
        for action, entity, entity_id, detail in self._audit:
            seq += 1
            hashed = {
                "seq": seq,
                "at": at,
                "actor_type": self.actor.type,
                "actor_id": self.actor.id,
                "action": action,
                "entity": entity,
                "entity_id": entity_id,
                "detail": detail,
            }
            row_hash = _row_hash(prev, hashed)
            rows.append({**hashed, "at": self.at, "prev_hash": prev, "row_hash": row_hash})
            prev = row_hash
        session.execute(insert(cast(Table, AuditLog.__table__)), rows)
        head.last_seq, head.last_hash = seq, prev
        session.flush()
        self._audit.clear()


@contextmanager
def unit_of_work(database: Database, actor: Actor) -> Iterator[Work]:
    """One write transaction as ``actor``: committed with its audit and feed rows, or none."""
    with database.write() as session:
        work = Work(session, actor)
        yield work
        work.flush()


_CHAIN = (
    AuditLog.seq,
    AuditLog.at,
    AuditLog.actor_type,
    AuditLog.actor_id,
    AuditLog.action,
    AuditLog.entity,
    AuditLog.entity_id,
    AuditLog.detail,
    AuditLog.prev_hash,
    AuditLog.row_hash,
)


def verify_audit_chain(session: Session, after: tuple[int, str] = (0, GENESIS)) -> int:
    """Check every audit row's hash and link; the number of rows, or :class:`AuditChainError`.

    ``after`` (a ``seq`` and its ``row_hash``, from a check that found the chain intact up
    to there) starts the check at the next row: only the rows since are read, and a row
    changed at or before it is not looked at (the whole chain, from the genesis, is the
    default). The rows are streamed as plain columns, not loaded as objects, in constant
    memory. The head is read first, so rows appended while the check runs are left out of
    it rather than taken for a mismatch.
    """
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one()
    last_seq, last_hash = head.last_seq, head.last_hash
    count, prev = after
    if count > last_seq:
        raise AuditChainError(
            f"the audit log ends at row {last_seq}, but it was verified up to row {count}"
        )
    if count:
        found = session.execute(
            select(AuditLog.row_hash).where(AuditLog.seq == count)
        ).scalar_one_or_none()
        if found != prev:
            raise AuditChainError(f"audit row {count} is not the one verified before")
    rows = session.execute(
        select(*_CHAIN)
        .where(AuditLog.seq > count, AuditLog.seq <= last_seq)
        .order_by(AuditLog.seq)
        .execution_options(yield_per=5000)
    )
    for (
        seq,
        at,
        actor_type,
        actor_id,
        action,
        entity,
        entity_id,
        detail,
        prev_hash,
        row_hash,
    ) in rows:
        count += 1
        if seq != count:
            raise AuditChainError(f"audit row {count} is missing (found {seq})")
        hashed = {
            "seq": seq,
            "at": at.astimezone(UTC).isoformat(),
            "actor_type": actor_type,
            "actor_id": actor_id,
            "action": action,
            "entity": entity,
            "entity_id": entity_id,
            "detail": detail,
        }
        if prev_hash != prev or row_hash != _row_hash(prev, hashed):
            raise AuditChainError(f"audit row {seq} does not match its hash")
        prev = row_hash
    if (last_seq, last_hash) != (count, prev):
        raise AuditChainError("the audit head does not match the last row")
    return count
