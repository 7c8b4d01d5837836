"""Push and pull, as in ``shared/reference/sync-and-reliability.md`` §1.3.

**Push**: one transaction per batch, a few statements for the whole batch (each document
is validated before it starts). Each op first claims its
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

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast

from pydantic import ValidationError
from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from fieldkit.sync.schema import (
    SCHEMA_VERSION,
    AccountDoc,
    RemovalDoc,
    SyncOpResultDoc,
    SyncPullDocument,
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
    VisitCheck,
    WorkOrder,
    WorkOrderAssignment,
)
from syncserver.services.journal import Actor, Work, now, unit_of_work
from syncserver.services.prepare import OpHead, Outcome, PreparedPush, VisitFields
from syncserver.services.repeats import refresh as refresh_repeats
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


def check_version(prepared: PreparedPush) -> None:
    """Refuse a push written for another schema, clearly and before anything is applied."""
    if prepared.schema_version > SCHEMA_VERSION:
        raise ApiError(
            "schema_unsupported",
            f"the push is schema {prepared.schema_version}; this server reads up to "
            f"{SCHEMA_VERSION}: upgrade the server (nothing was applied, keep the ops)",
        )
    if prepared.schema_version < MIN_SCHEMA_VERSION:
        raise ApiError(
            "upgrade_required",
            f"the push is schema {prepared.schema_version}; this server needs at least "
            f"{MIN_SCHEMA_VERSION}: upgrade fieldkit (nothing was applied, keep the ops)",
            status=426,
        )


def _forbidden_unless_device(principal: Principal) -> int:
    if principal.device_pk is None:
        raise ApiError("device_only", "only an enrolled device syncs", status=403)
    return principal.device_pk


def push(
    database: Database, principal: Principal, prepared: PreparedPush
) -> SyncPushResultDocument:
    """Apply a batch (:func:`syncserver.services.prepare.prepare_push` of its body) and
    answer every op; the answer is built only after COMMIT.

    The CPU work (encoding, hashing, validating each document) was done before, out of the
    write transaction: on SQLite the write lock is then held only for the statements, and
    the next batch is prepared while this one waits for its COMMIT's fsync.
    """
    device_pk = _forbidden_unless_device(principal)
    check_version(prepared)
    if prepared.device_id != principal.device_id:
        raise ApiError("wrong_device", "the batch names another device than the token", status=403)
    assert principal.device_id is not None
    with unit_of_work(database, Actor("device", principal.device_id)) as work:
        results = _push_batch(work, principal, device_pk, prepared)
    return SyncPushResultDocument(server_time=now(), results=results)


def _insert(work: Work) -> Any:
    dialect = work.session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


class _OrderRef(NamedTuple):
    """What a visit needs of the work order it claims (columns, not an ORM object: a batch
    of visits reads dozens of them, and none is changed here)."""

    id: int
    work_order_id: str
    technician_id: int | None
    status: str
    account_id: int
    meter_id: int


@dataclass
class _Lookups:
    """What a batch of visits refers to, read in a few queries rather than per op."""

    visits: dict[str, tuple[str, int, int]]
    orders: dict[str, _OrderRef]
    ever_assigned: set[int]
    meters: dict[str, tuple[int, int]]
    meters_by_id: dict[int, tuple[str, int]]
    accounts_by_premise: dict[int, int]


def _lookups(work: Work, principal: Principal, fields: list[VisitFields]) -> _Lookups:
    session = work.session
    visit_ids = [f.visit_id for f in fields]
    order_ids = {f.work_order_id for f in fields if f.work_order_id is not None}
    numbers = {f.meter_number for f in fields if f.meter_number is not None}
    visits: dict[str, tuple[str, int, int]] = {}
    if visit_ids:
        for visit_id, sha, device, revision in session.execute(
            select(Visit.visit_id, Visit.body_sha256, Visit.device_pk, Visit.revision).where(
                Visit.visit_id.in_(visit_ids)
            )
        ):
            visits[visit_id] = (sha, device, revision)
    orders: dict[str, _OrderRef] = {}
    if order_ids:
        for row in session.execute(
            select(*(getattr(WorkOrder, name) for name in _OrderRef._fields)).where(
                WorkOrder.work_order_id.in_(order_ids)
            )
        ):
            order = _OrderRef(*row)
            orders[order.work_order_id] = order
    # Whether the caller ever held an order matters only for those someone else holds now.
    others = [o.id for o in orders.values() if o.technician_id != principal.user_id]
    ever: set[int] = set()
    if others:
        ever = set(
            session.execute(
                select(WorkOrderAssignment.work_order_pk).where(
                    WorkOrderAssignment.technician_id == principal.user_id,
                    WorkOrderAssignment.work_order_pk.in_(others),
                )
            ).scalars()
        )
    meter_ids = {o.meter_id for o in orders.values()}
    rows: list[Any] = []
    if numbers or meter_ids:
        rows = list(
            session.execute(
                select(Meter.id, Meter.meter_number, Meter.premise_pk, Premise.account_id)
                .join(Premise, Premise.id == Meter.premise_pk)
                .where(Meter.meter_number.in_(numbers) | Meter.id.in_(meter_ids))
            ).all()
        )
    return _Lookups(
        visits,
        orders,
        ever,
        {row[1]: (row[0], row[2]) for row in rows},
        {row[0]: (row[1], row[2]) for row in rows},
        {row[2]: row[3] for row in rows},
    )


def _push_batch(
    work: Work,
    principal: Principal,
    device_pk: int,
    prepared: PreparedPush,
) -> list[SyncOpResultDoc]:
    """One batch in a handful of statements: claim every op id at once, look up what the
    visits refer to at once, insert the visits at once; a command runs on its own."""
    ops = prepared.ops
    if not ops:
        return []
    session = work.session
    make_insert = _insert(work)
    bodies, digests = prepared.bodies, prepared.digests
    # RETURNING, not rowcount: psycopg reports -1 for INSERT … ON CONFLICT.
    # Core statements with a list of parameters (executemany, sent as multi-row VALUES by
    # SQLAlchemy's insertmanyvalues): compiled once and cached, where ``.values([...])``
    # compiles a new statement with a bind parameter per cell for every batch.
    applied = AppliedOp.__table__
    claimed = set(
        session.execute(
            make_insert(applied).on_conflict_do_nothing().returning(applied.c.op_id),
            [
                {
                    "device_pk": device_pk,
                    "op_id": op.op_id,
                    "kind": op.kind,
                    "body_sha256": digest,
                    "status": "applied",
                    "flags": "",
                    "applied_at": work.at,
                }
                for op, digest in zip(ops, digests, strict=True)
            ],
        ).scalars()
    )
    seen_before: dict[str, AppliedOp] = {}
    if len(claimed) < len(ops):
        for stored in session.execute(
            select(AppliedOp).where(
                AppliedOp.device_pk == device_pk,
                AppliedOp.op_id.in_([op.op_id for op in ops if op.op_id not in claimed]),
            )
        ).scalars():
            seen_before[stored.op_id] = stored
    parsed = {i: f for i, f in prepared.visits.items() if ops[i].op_id in claimed}
    lookups = _lookups(work, principal, [f for f in parsed.values() if isinstance(f, VisitFields)])
    outcomes: list[Outcome] = []
    visit_rows: dict[int, dict[str, Any]] = {}
    batch_visits: dict[str, tuple[str, int, int]] = {}
    visit_checks: dict[str, dict[str, str]] = {}
    retry_from: str | None = None
    for index, op in enumerate(ops):
        if retry_from is not None:
            outcomes.append(
                Outcome(
                    "retry", "after_retry", f"an earlier op ({retry_from}) must be applied first"
                )
            )
            continue
        if op.op_id not in claimed:
            outcomes.append(_replayed(seen_before[op.op_id], digests[index]))
            continue
        version = op.declared_version
        if version is not None and version > SCHEMA_VERSION:
            outcome = Outcome(
                "retry",
                "schema_unsupported",
                f"the document is schema {version}; this server reads up to {SCHEMA_VERSION}",
            )
        elif op.kind == "visit":
            fields = parsed[index]
            if isinstance(fields, Outcome):
                outcome = fields
            else:
                outcome, row = _visit(
                    work, principal, lookups, batch_visits, fields, digests[index]
                )
                if row is not None:
                    row["body"] = bodies[index].decode("utf-8")
                    visit_checks[fields.visit_id] = fields.checks
                    # Only the newest revision of a visit in the batch is written.
                    for earlier, other in list(visit_rows.items()):
                        if other["visit_id"] == row["visit_id"]:
                            del visit_rows[earlier]
                    visit_rows[index] = row
        elif op.kind == "work_order_command":
            outcome = _apply_command(work, principal, op)
        else:
            outcome = Outcome(
                "retry", "unknown_kind", f"this server does not know ops of kind {op.kind!r}"
            )
        if outcome.status == "retry":
            retry_from = op.op_id
        outcomes.append(outcome)
    if visit_rows:
        _write_visits(work, make_insert, lookups, visit_rows, visit_checks, outcomes)
    pairs = list(zip(ops, outcomes, strict=True))
    retried = [op.op_id for op, o in pairs if op.op_id in claimed and o.status == "retry"]
    if retried:
        session.execute(
            delete(AppliedOp).where(AppliedOp.device_pk == device_pk, AppliedOp.op_id.in_(retried))
        )
    changed = [
        {
            "device_pk": device_pk,
            "op_id": op.op_id,
            "status": o.status,
            "code": o.code,
            "reason": o.reason,
            "flags": ",".join(o.flags),
        }
        for op, o in pairs
        if op.op_id in claimed and o.status != "retry" and (o.status != "applied" or o.flags)
    ]
    if changed:
        session.execute(update(AppliedOp), changed)
    return [
        SyncOpResultDoc(
            op_id=op.op_id, status=o.status, code=o.code, reason=o.reason, flags=o.flags
        )
        for op, o in pairs
    ]


def _replayed(stored: AppliedOp, digest: str) -> Outcome:
    """The answer for an op this device sent before."""
    if stored.body_sha256 != digest:
        return Outcome(
            "rejected", "op_id_reused", "this op id was sent before with another document"
        )
    if stored.status == "rejected":
        return Outcome("rejected", stored.code, stored.reason)
    return Outcome("duplicate", flags=[f for f in stored.flags.split(",") if f])


def _write_visits(
    work: Work,
    make_insert: Any,
    lookups: _Lookups,
    visit_rows: dict[int, dict[str, Any]],
    visit_checks: dict[str, dict[str, str]],
    outcomes: list[Outcome],
) -> None:
    """Insert the batch's new visits and move known ones to their newer revision, with
    each one's per-check statuses (``visit_checks``, what the exceptions page filters on)."""
    session = work.session
    new = {i: r for i, r in visit_rows.items() if r["visit_id"] not in lookups.visits}
    newer = {i: r for i, r in visit_rows.items() if r["visit_id"] in lookups.visits}
    # What the previous-visit rows must be refreshed for (``services.repeats``).
    written: set[int] = set()
    places: set[tuple[int, datetime]] = set()
    if new:
        # Rows of (visit id, primary key): only the visits this insert wrote, not those a
        # concurrent push stored first (ON CONFLICT DO NOTHING returns nothing for them).
        table = Visit.__table__
        inserted: dict[str, int] = dict(
            session.execute(
                make_insert(table)
                .on_conflict_do_nothing(index_elements=["visit_id"])
                .returning(table.c.visit_id, table.c.id),
                list(new.values()),
            ).all()
        )
        visited = {r["visit_id"]: r["visited_at"] for r in new.values()}
        _write_checks(session, inserted, visit_checks, visited)
        for index, row in new.items():
            if row["visit_id"] in inserted:
                written.add(inserted[row["visit_id"]])
                if row["meter_id"] is not None:
                    places.add((row["meter_id"], row["visited_at"]))
                work.audit(
                    "visit.create",
                    "visit",
                    row["visit_id"],
                    sha256=row["body_sha256"],
                    revision=row["revision"],
                    flags=outcomes[index].flags,
                )
            else:  # another device stored the same visit id a moment ago
                outcomes[index] = Outcome(
                    "rejected",
                    "visit_id_conflict",
                    f"visit {row['visit_id']} is already on the server",
                )
    before: dict[str, tuple[int | None, datetime]] = {}
    if newer:
        # Locked until COMMIT (PostgreSQL), so a concurrent revision of the same visit
        # cannot move it between this read and the update below.
        before = {
            str(visit_id): (meter, at)
            for visit_id, meter, at in session.execute(
                select(Visit.visit_id, Visit.meter_id, Visit.visited_at)
                .where(Visit.visit_id.in_([r["visit_id"] for r in newer.values()]))
                .with_for_update()
            )
        }
    for index, row in newer.items():
        changes = {k: v for k, v in row.items() if k not in ("visit_id", "review_status")}
        changes.pop("reviewed_by", None)
        moved = session.execute(
            update(Visit)
            .where(
                Visit.visit_id == row["visit_id"],
                Visit.device_pk == row["device_pk"],
                Visit.revision < row["revision"],
            )
            .values(**changes)
            .returning(Visit.id)
        ).scalar_one_or_none()
        if moved is not None:
            # Its own row always (it carries the visit's technician too); its neighbours'
            # only when it moved.
            written.add(moved)
            was = before[row["visit_id"]]
            if was != (row["meter_id"], row["visited_at"]):
                for meter, at in (was, (row["meter_id"], row["visited_at"])):
                    if meter is not None:
                        places.add((meter, at))
            session.execute(delete(VisitCheck).where(VisitCheck.visit_pk == moved))
            _write_checks(
                session,
                {row["visit_id"]: moved},
                visit_checks,
                {row["visit_id"]: row["visited_at"]},
            )
            work.audit(
                "visit.revise",
                "visit",
                row["visit_id"],
                sha256=row["body_sha256"],
                revision=row["revision"],
                flags=outcomes[index].flags,
            )
        else:  # a newer revision got there first (a concurrent re-send): it stays
            outcomes[index] = Outcome("applied", flags=[*outcomes[index].flags, "superseded"])
    refresh_repeats(session, written, places)


def _write_checks(
    session: Any,
    pks: dict[str, int],
    visit_checks: dict[str, dict[str, str]],
    visited: dict[str, datetime],
) -> None:
    rows = [
        {"visit_pk": pk, "check_id": check_id, "status": status, "visited_at": visited[visit_id]}
        for visit_id, pk in pks.items()
        for check_id, status in visit_checks.get(visit_id, {}).items()
    ]
    if rows:
        session.execute(insert(cast(Table, VisitCheck.__table__)), rows)


def _visit(
    work: Work,
    principal: Principal,
    lookups: _Lookups,
    batch_visits: dict[str, tuple[str, int, int]],
    fields: VisitFields,
    digest: str,
) -> tuple[Outcome, dict[str, Any] | None]:
    """What a new visit op comes to, and the row to insert for it."""
    known = batch_visits.get(fields.visit_id) or lookups.visits.get(fields.visit_id)
    if known is not None:
        sha, device, revision = known
        if device != principal.device_pk:
            conflict = f"visit {fields.visit_id} is already on the server from another device"
            return Outcome("rejected", "visit_id_conflict", conflict), None
        if fields.revision < revision:  # a later revision is already here: nothing to do
            return Outcome("applied", flags=["superseded"]), None
        if fields.revision == revision:
            if sha == digest:
                return Outcome("duplicate"), None
            conflict = (
                f"revision {revision} of visit {fields.visit_id} is already on the server "
                "with other content"
            )
            return Outcome("rejected", "revision_conflict", conflict), None
    batch_visits[fields.visit_id] = (digest, principal.device_pk or 0, fields.revision)
    flags: list[str] = []
    order: _OrderRef | None = None
    if fields.work_order_id is not None:
        order = lookups.orders.get(fields.work_order_id)
        if order is not None and order.technician_id != principal.user_id:
            if order.id in lookups.ever_assigned:
                flags.append("work_order_reassigned")
            else:
                order = None
        if order is None:
            flags.append("work_order_unknown")
        elif order.status == "cancelled":
            flags.append("work_order_cancelled")
    meter_id: int | None = None
    meter_number = fields.meter_number
    premise_pk: int | None = None
    if order is not None:
        number, premise_pk = lookups.meters_by_id[order.meter_id]
        meter_id = order.meter_id
        if meter_number is not None and meter_number != number:
            flags.append("meter_mismatch")
        meter_number = meter_number or number
    elif meter_number is not None and meter_number in lookups.meters:
        meter_id, premise_pk = lookups.meters[meter_number]
    account_id = order.account_id if order is not None else None
    if account_id is None and premise_pk is not None:
        account_id = lookups.accounts_by_premise.get(premise_pk)
    if fields.started_at is not None and abs(fields.started_at - work.at) > CLOCK_SKEW:
        flags.append("clock_skew")
    row = {
        "visit_id": fields.visit_id,
        "device_pk": principal.device_pk,
        "technician_id": principal.user_id,
        "work_order_pk": None if order is None else order.id,
        "claimed_work_order": fields.work_order_id,
        "account_id": account_id,
        "meter_id": meter_id,
        "meter_number": meter_number,
        "started_at": fields.started_at,
        "received_at": work.at,
        "flags": ",".join(flags),
        "review_status": "new",
        "reviewed_by": None,
        "body_sha256": digest,
        "revision": fields.revision,
        "status": fields.status,
        "visited_at": fields.started_at or work.at,
        "ended_at": fields.ended_at,
        "verdict": fields.verdict,
        "outcome": fields.outcome,
        "exception": fields.verdict in ("warn", "fail"),
        "checks_failed": sum(1 for status in fields.checks.values() if status == "fail"),
        **fields.readings,
    }
    return Outcome("applied", flags=flags), row


def _apply_command(work: Work, principal: Principal, op: OpHead) -> Outcome:
    try:
        command = WorkOrderCommandDocument.model_validate(op.document)
    except ValidationError as exc:
        return Outcome("rejected", "invalid_document", describe(exc))
    if command.command not in TECHNICIAN_COMMANDS:
        return Outcome("rejected", "not_allowed", f"a device cannot {command.command!r}")
    if "\x00" in command.work_order_id:  # PostgreSQL text cannot hold it: no order has one
        return Outcome("rejected", "invalid_document", "the work order id holds a NUL")
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
