"""Push and pull, as in ``shared/reference/sync-and-reliability.md`` §1.3.

**Push**: one transaction per batch, a SAVEPOINT per op. Each op first claims its
``(device, op id)`` in ``applied_ops`` with ``INSERT … ON CONFLICT DO NOTHING`` (both
engines): a claim that finds the row already there is a re-send, answered ``duplicate``
(the same body) or ``rejected`` ``op_id_reused`` (another body under the same id); the answer
a rejected op got the first time is given again. A new op is checked and applied, and its
answer stored with it, so a retry gets the same answer. A transient problem rolls that op's
savepoint back and answers ``retry`` for it and every later op (order is kept). The route
answers only after COMMIT. A rejected op never blocks the others.

**Pull**: the technician's feed after the cursor, rendered from the current state and
limited to what is theirs now; a reassigned or cancelled order comes as a removal.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from fieldkit.sync.schema import (
    SCHEMA_VERSION,
    AccountDoc,
    Moment,
    OpStatus,
    RemovalDoc,
    SyncOpDoc,
    SyncOpResultDoc,
    SyncPullDocument,
    SyncPushDocument,
    SyncPushResultDocument,
    WorkOrderCommandDocument,
    WorkOrderDoc,
    describe,
)
from syncserver.core.errors import ApiError, Conflict
from syncserver.db.engine import Database
from syncserver.db.models import (
    AppliedOp,
    FeedHead,
    FeedRow,
    Meter,
    Premise,
    Visit,
    WorkOrder,
    WorkOrderAssignment,
)
from syncserver.services.journal import Actor, Work, now, unit_of_work
from syncserver.services.users import Principal
from syncserver.services.work_orders import (
    TECHNICIAN_COMMANDS,
    account_doc,
    apply_command,
    load_views,
    meter_doc,
    work_order_doc,
)

__all__ = ["MIN_SCHEMA_VERSION", "pull", "push"]

MIN_SCHEMA_VERSION = 1
"""The oldest push a server accepts; an older client is told to upgrade (426)."""

CLOCK_SKEW = timedelta(days=7)


class VisitFields(BaseModel):
    """What the server reads of a visit document (the rest is kept as it came)."""

    model_config = ConfigDict(extra="ignore")

    document: str | None = None
    schema_version: int | None = Field(default=None, ge=0)
    visit_id: str = Field(min_length=1, max_length=100)
    work_order_id: str | None = Field(default=None, max_length=100)
    meter_number: str | None = Field(default=None, max_length=64)
    started_at: Moment | None = None


@dataclass
class Outcome:
    """What one op came to."""

    status: OpStatus
    code: str | None = None
    reason: str | None = None
    flags: list[str] = field(default_factory=list)


def check_version(document: SyncPushDocument) -> None:
    """Refuse a push written for another schema, clearly and before anything is applied."""
    if document.schema_version > SCHEMA_VERSION:
        raise ApiError(
            "schema_unsupported",
            f"the push is schema {document.schema_version}; this server reads up to "
            f"{SCHEMA_VERSION}: upgrade the server (nothing was applied, keep the ops)",
        )
    if document.schema_version < MIN_SCHEMA_VERSION:
        raise ApiError(
            "upgrade_required",
            f"the push is schema {document.schema_version}; this server needs at least "
            f"{MIN_SCHEMA_VERSION}: upgrade fieldkit (nothing was applied, keep the ops)",
            status=426,
        )


def _forbidden_unless_device(principal: Principal) -> int:
    if principal.device_pk is None:
        raise ApiError("device_only", "only an enrolled device syncs", status=403)
    return principal.device_pk


def push(
    database: Database, principal: Principal, document: SyncPushDocument
) -> SyncPushResultDocument:
    """Apply a batch and answer every op; the answer is built only after COMMIT."""
    device_pk = _forbidden_unless_device(principal)
    check_version(document)
    if document.device_id != principal.device_id:
        raise ApiError("wrong_device", "the batch names another device than the token", status=403)
    results: list[SyncOpResultDoc] = []
    assert principal.device_id is not None
    with unit_of_work(database, Actor("device", principal.device_id)) as work:
        dialect = work.session.get_bind().dialect.name
        make_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        retry_from: str | None = None
        for op in document.ops:
            if retry_from is not None:
                results.append(
                    SyncOpResultDoc(
                        op_id=op.op_id,
                        status="retry",
                        code="after_retry",
                        reason=f"an earlier op ({retry_from}) must be applied first",
                    )
                )
                continue
            body = pydantic_core.to_json(op.document)
            digest = hashlib.sha256(op.kind.encode() + b"\n" + body).hexdigest()
            savepoint = work.session.begin_nested()
            # RETURNING, not rowcount: psycopg reports -1 for INSERT … ON CONFLICT.
            claimed = work.session.execute(
                make_insert(AppliedOp)
                .values(
                    device_pk=device_pk,
                    op_id=op.op_id,
                    kind=op.kind,
                    body_sha256=digest,
                    status="applied",
                    flags="",
                    applied_at=work.at,
                )
                .on_conflict_do_nothing()
                .returning(AppliedOp.op_id)
            ).first()
            if claimed is None:
                savepoint.commit()
                results.append(_replay(work.session, device_pk, op, digest))
                continue
            outcome = _apply(work, principal, op, body, digest)
            if outcome.status == "retry":
                savepoint.rollback()
                retry_from = op.op_id
            else:
                stored = work.session.get(AppliedOp, (device_pk, op.op_id))
                assert stored is not None
                stored.status, stored.code, stored.reason = (
                    outcome.status,
                    outcome.code,
                    outcome.reason,
                )
                stored.flags = ",".join(outcome.flags)
                savepoint.commit()
            results.append(
                SyncOpResultDoc(
                    op_id=op.op_id,
                    status=outcome.status,
                    code=outcome.code,
                    reason=outcome.reason,
                    flags=outcome.flags,
                )
            )
    return SyncPushResultDocument(server_time=now(), results=results)


def _replay(session: Session, device_pk: int, op: SyncOpDoc, digest: str) -> SyncOpResultDoc:
    """The answer for an op this device sent before."""
    stored = session.get(AppliedOp, (device_pk, op.op_id))
    assert stored is not None
    if stored.body_sha256 != digest:
        return SyncOpResultDoc(
            op_id=op.op_id,
            status="rejected",
            code="op_id_reused",
            reason="this op id was sent before with another document",
        )
    if stored.status == "rejected":
        return SyncOpResultDoc(
            op_id=op.op_id, status="rejected", code=stored.code, reason=stored.reason
        )
    return SyncOpResultDoc(
        op_id=op.op_id, status="duplicate", flags=[f for f in stored.flags.split(",") if f]
    )


def _apply(work: Work, principal: Principal, op: SyncOpDoc, body: bytes, digest: str) -> Outcome:
    version = op.document.get("schema_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        return Outcome(
            "retry",
            "schema_unsupported",
            f"the document is schema {version}; this server reads up to {SCHEMA_VERSION}",
        )
    if op.kind == "visit":
        return _apply_visit(work, principal, op, body, digest)
    if op.kind == "work_order_command":
        return _apply_command(work, principal, op)
    return Outcome("retry", "unknown_kind", f"this server does not know ops of kind {op.kind!r}")


def _apply_visit(
    work: Work, principal: Principal, op: SyncOpDoc, body: bytes, digest: str
) -> Outcome:
    session = work.session
    try:
        fields = VisitFields.model_validate(op.document)
    except ValidationError as exc:
        return Outcome("rejected", "invalid_document", describe(exc))
    if fields.document not in (None, "visit"):
        return Outcome(
            "rejected", "invalid_document", f"a visit op carries a {fields.document!r} document"
        )
    known = session.execute(
        select(Visit.body_sha256, Visit.device_pk).where(Visit.visit_id == fields.visit_id)
    ).one_or_none()
    if known is not None:
        if known[0] == digest and known[1] == principal.device_pk:
            return Outcome("duplicate")
        return Outcome(
            "rejected", "visit_id_conflict", f"visit {fields.visit_id} is already on the server"
        )
    flags: list[str] = []
    order: WorkOrder | None = None
    if fields.work_order_id is not None:
        order = session.execute(
            select(WorkOrder).where(WorkOrder.work_order_id == fields.work_order_id)
        ).scalar_one_or_none()
        if order is not None and order.technician_id != principal.user_id:
            ever = session.execute(
                select(WorkOrderAssignment.id).where(
                    WorkOrderAssignment.work_order_pk == order.id,
                    WorkOrderAssignment.technician_id == principal.user_id,
                )
            ).first()
            if ever is None:
                order = None
            else:
                flags.append("work_order_reassigned")
        if order is None:
            flags.append("work_order_unknown")
        elif order.status == "cancelled":
            flags.append("work_order_cancelled")
    meter: Meter | None = None
    if order is not None:
        meter = session.get(Meter, order.meter_id)
        assert meter is not None
        if fields.meter_number is not None and fields.meter_number != meter.meter_number:
            flags.append("meter_mismatch")
    elif fields.meter_number is not None:
        meter = session.execute(
            select(Meter).where(Meter.meter_number == fields.meter_number)
        ).scalar_one_or_none()
    account_id = order.account_id if order is not None else None
    if account_id is None and meter is not None:
        premise = session.get(Premise, meter.premise_pk)
        account_id = None if premise is None else premise.account_id
    if fields.started_at is not None and abs(fields.started_at - work.at) > CLOCK_SKEW:
        flags.append("clock_skew")
    assert principal.device_pk is not None
    session.add(
        Visit(
            visit_id=fields.visit_id,
            device_pk=principal.device_pk,
            technician_id=principal.user_id,
            work_order_pk=None if order is None else order.id,
            claimed_work_order=fields.work_order_id,
            account_id=account_id,
            meter_id=None if meter is None else meter.id,
            meter_number=fields.meter_number or (None if meter is None else meter.meter_number),
            started_at=fields.started_at,
            received_at=work.at,
            flags=",".join(flags),
            review_status="new",
            body_sha256=digest,
            body=body.decode("utf-8"),
        )
    )
    work.audit("visit.create", "visit", fields.visit_id, sha256=digest, flags=flags)
    return Outcome("applied", flags=flags)


def _apply_command(work: Work, principal: Principal, op: SyncOpDoc) -> Outcome:
    try:
        command = WorkOrderCommandDocument.model_validate(op.document)
    except ValidationError as exc:
        return Outcome("rejected", "invalid_document", describe(exc))
    if command.command not in TECHNICIAN_COMMANDS:
        return Outcome("rejected", "not_allowed", f"a device cannot {command.command!r}")
    order = work.session.execute(
        select(WorkOrder).where(
            WorkOrder.work_order_id == command.work_order_id,
            WorkOrder.technician_id == principal.user_id,
        )
    ).scalar_one_or_none()
    if order is None:
        return Outcome(
            "rejected",
            "work_order_not_found",
            f"work order {command.work_order_id} is not assigned to you",
        )
    transition = apply_command(work, order, command.command, at=command.at.isoformat())
    if transition.status is None:
        return Outcome("rejected", transition.code, transition.reason)
    return Outcome("applied")


def pull(database: Database, principal: Principal, cursor: int, limit: int) -> SyncPullDocument:
    """The technician's changes after ``cursor``, at most ``limit`` feed rows."""
    _forbidden_unless_device(principal)
    technician = principal.user_id
    with database.read() as session:
        head = (
            session.execute(
                select(FeedHead.last_seq).where(FeedHead.technician_id == technician)
            ).scalar_one_or_none()
            or 0
        )
        if cursor > head:
            raise Conflict(
                "cursor_ahead",
                f"cursor {cursor} is past this feed's end ({head}): the server was restored; "
                "clear the work orders and pull from 0",
            )
        rows = session.execute(
            select(FeedRow.seq, FeedRow.work_order_pk, FeedRow.op, FeedRow.reason)
            .where(FeedRow.technician_id == technician, FeedRow.seq > cursor)
            .order_by(FeedRow.seq)
            .limit(limit + 1)
        ).all()
        more = len(rows) > limit
        rows = rows[:limit]
        latest: dict[int, tuple[str, str | None]] = {}
        for _, work_order_pk, op, reason in rows:
            latest.pop(work_order_pk, None)
            latest[work_order_pk] = (op, reason)
        orders = {
            o.id: o
            for o in session.execute(
                select(WorkOrder).where(WorkOrder.id.in_(list(latest)))
            ).scalars()
        }
        removals: list[RemovalDoc] = []
        current: list[WorkOrder] = []
        for work_order_pk, (op, reason) in latest.items():
            order = orders[work_order_pk]
            if op == "remove":
                removals.append(
                    RemovalDoc.model_validate({"id": order.work_order_id, "reason": reason})
                )
            elif order.technician_id == technician and order.status != "cancelled":
                current.append(order)
        views = load_views(session, current)
        work_orders: list[WorkOrderDoc] = [work_order_doc(v) for v in views]
        accounts: dict[str, AccountDoc] = {}
        meters: dict[str, Any] = {}
        for view in views:
            accounts.setdefault(view.account.account_number, account_doc(view))
            meters.setdefault(
                view.meter.meter_number, meter_doc(view.meter, view.premise, view.account)
            )
        return SyncPullDocument(
            cursor=rows[-1][0] if rows else cursor,
            more=more,
            server_time=now(),
            work_orders=work_orders,
            accounts=list(accounts.values()),
            meters=list(meters.values()),
            removals=removals,
        )
