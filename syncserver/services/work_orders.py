"""Work orders: the state machine their status follows, assignment, and their wire form.

Status changes are commands, never field values. A technician's device sends ``arrive``,
``complete`` or ``no_access``; the office ``assign``, ``unassign``, ``cancel``, ``close`` and
``reopen``. A command the current state does not allow is refused with a reason (a
cancelled order cannot be completed), and a visit for that order is kept all the same.

```
open ──assign──► dispatched ──arrive──► in_progress ──complete──► completed
  ▲                 │  ▲                   │    └──no_access──► unable_to_complete
  └────unassign─────┘  └──────assign───────┘        (office: cancel from any live state;
                                                     reopen from completed / cancelled /
                                                     unable_to_complete; close = completed)
```
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fieldkit.model import ServiceType
from fieldkit.sync.schema import AccountDoc, MeterDoc, WorkOrderDoc
from syncserver.core.errors import ApiError, Conflict, NotFound, UsageError
from syncserver.db.models import (
    Account,
    Meter,
    Premise,
    User,
    Visit,
    WorkOrder,
    WorkOrderAssignment,
)
from syncserver.services.journal import Work

__all__ = [
    "KINDS",
    "LIVE",
    "PRIORITIES",
    "STATUSES",
    "TECHNICIAN_COMMANDS",
    "Transition",
    "WorkOrderFilter",
    "WorkOrderPage",
    "WorkOrderView",
    "account_doc",
    "apply_command",
    "assign",
    "check_command",
    "create_work_order",
    "list_page",
    "meter_doc",
    "office_command",
    "set_technician",
    "work_order_doc",
]

STATUSES = ("open", "dispatched", "in_progress", "unable_to_complete", "completed", "cancelled")
LIVE = frozenset({"open", "dispatched", "in_progress", "unable_to_complete"})
TECHNICIAN_COMMANDS = frozenset({"arrive", "complete", "no_access"})
KINDS = (
    "install", "exchange", "remove", "investigate", "read", "high_bill",
    "no_comms", "tamper", "reconnect", "disconnect", "other",
)  # fmt: skip
PRIORITIES = ("low", "normal", "high", "emergency")
MAX_NOTES = 2000
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:/#-]*$")  # the CIS import's ids

# (command) -> (states it may start from, state it leads to)
_MACHINE: dict[str, tuple[frozenset[str], str]] = {
    "arrive": (frozenset({"dispatched", "in_progress"}), "in_progress"),
    "complete": (frozenset({"dispatched", "in_progress"}), "completed"),
    "no_access": (frozenset({"dispatched", "in_progress"}), "unable_to_complete"),
    "assign": (LIVE, "dispatched"),
    "unassign": (frozenset({"dispatched", "in_progress", "unable_to_complete"}), "open"),
    "cancel": (LIVE, "cancelled"),
    "close": (LIVE, "completed"),
    "reopen": (frozenset({"completed", "cancelled", "unable_to_complete"}), "open"),
}


@dataclass(frozen=True, slots=True)
class Transition:
    """The answer of the state machine: the new status, or why not (``code``, ``reason``)."""

    status: str | None
    code: str | None = None
    reason: str | None = None


def check_command(current: str, command: str) -> Transition:
    """Where ``command`` takes an order that is ``current``, or why it cannot."""
    allowed = _MACHINE.get(command)
    if allowed is None:
        return Transition(None, "unknown_command", f"there is no work-order command {command!r}")
    sources, target = allowed
    if current in sources:
        return Transition(target)
    if current == "cancelled":
        return Transition(None, "work_order_cancelled", "the office cancelled this work order")
    if current == "completed":
        return Transition(None, "work_order_closed", "this work order is already completed")
    return Transition(None, "invalid_transition", f"{command!r} is not allowed from {current!r}")


def set_technician(work: Work, order: WorkOrder, technician_id: int | None) -> None:
    """Give the order to a technician (or to nobody), telling both feeds."""
    previous = order.technician_id
    if previous == technician_id:
        return
    order.technician_id = technician_id
    if previous is not None:
        work.feed(previous, order.id, "remove", "reassigned" if technician_id else "unassigned")
    if technician_id is not None:
        seen = work.session.execute(
            select(WorkOrderAssignment.id).where(
                WorkOrderAssignment.work_order_pk == order.id,
                WorkOrderAssignment.technician_id == technician_id,
            )
        ).scalar_one_or_none()
        if seen is None:
            work.session.add(
                WorkOrderAssignment(
                    work_order_pk=order.id, technician_id=technician_id, assigned_at=work.at
                )
            )
        work.feed(technician_id, order.id, "upsert")


def apply_command(work: Work, order: WorkOrder, command: str, **detail: object) -> Transition:
    """Run a command on an order; on success the status changes, is audited and fed."""
    transition = check_command(order.status, command)
    if transition.status is None:
        return transition
    before = order.status
    order.status = transition.status
    order.updated_at = work.at
    if transition.status == "open" and order.technician_id is not None and command == "reopen":
        order.status = "dispatched"
    work.audit(
        f"work_order.{command}",
        "work_order",
        order.work_order_id,
        **{"from": before, "to": order.status},
        **detail,
    )
    if order.technician_id is not None:
        if order.status == "cancelled":
            work.feed(order.technician_id, order.id, "remove", "cancelled")
        else:
            work.feed(order.technician_id, order.id, "upsert")
    return Transition(order.status)


def assign(work: Work, order: WorkOrder, technician: User | None, **detail: object) -> Transition:
    """Give a live order to ``technician`` (None: to nobody) through the state machine."""
    technician_id = None if technician is None else technician.id
    if technician_id == order.technician_id:
        return Transition(order.status)
    command = "assign" if technician is not None else "unassign"
    transition = check_command(order.status, command)
    if transition.status is None:
        return transition
    before = order.status
    order.status = transition.status
    order.updated_at = work.at
    set_technician(work, order, technician_id)
    work.audit(
        f"work_order.{command}",
        "work_order",
        order.work_order_id,
        **{"from": before, "to": order.status},
        technician=None if technician is None else technician.name,
        **detail,
    )
    return transition


def create_work_order(
    work: Work,
    *,
    meter_number: str,
    kind: str,
    priority: str = "normal",
    account_number: str | None = None,
    notes: str | None = None,
    technician: User | None = None,
    work_order_id: str | None = None,
) -> WorkOrder:
    """A new order for a meter (``open``; ``dispatched`` and fed when given a technician).

    Without ``work_order_id`` the server names it ``WO-<date>-<6 hex>``. Audited as
    ``work_order.create`` (and ``work_order.assign`` when a technician is given).
    """
    session = work.session
    if kind not in KINDS:
        raise UsageError(f"unknown work-order type {kind!r} (one of {', '.join(KINDS)})")
    if priority not in PRIORITIES:
        raise UsageError(f"unknown priority {priority!r} (one of {', '.join(PRIORITIES)})")
    notes = (notes or "").replace("\r\n", "\n").strip() or None
    if notes is not None and (len(notes) > MAX_NOTES or not notes.replace("\n", " ").isprintable()):
        raise UsageError(f"the notes are at most {MAX_NOTES} printable characters")
    ident = (work_order_id or "").strip() or f"WO-{work.at:%Y%m%d}-{secrets.token_hex(3).upper()}"
    if len(ident) > 64 or not _ID.match(ident):
        raise UsageError(
            f"{ident[:40]!r} is not a work-order id (letters, digits, . _ : / # - and spaces)"
        )
    if session.execute(
        select(WorkOrder.id).where(WorkOrder.work_order_id == ident)
    ).scalar_one_or_none():
        raise UsageError(f"there is already a work order {ident!r}")
    found = session.execute(
        select(Meter, Account)
        .join(Premise, Premise.id == Meter.premise_pk)
        .join(Account, Account.id == Premise.account_id)
        .where(Meter.meter_number == meter_number.strip())
    ).one_or_none()
    if found is None:
        raise UsageError(f"there is no meter {meter_number.strip()[:64]!r}")
    meter, account = found
    wanted = (account_number or "").strip()
    if wanted and wanted != account.account_number:
        raise UsageError(
            f"meter {meter.meter_number!r} is on account {account.account_number!r}, not {wanted!r}"
        )
    if technician is not None and (technician.role != "technician" or not technician.active):
        raise UsageError(f"{technician.name!r} is not a technician")
    order = WorkOrder(
        work_order_id=ident,
        account_id=account.id,
        meter_id=meter.id,
        kind=kind,
        priority=priority,
        technician_id=None,
        status="open",
        contact_customer=False,
        notes=notes,
        updated_at=work.at,
    )
    session.add(order)
    session.flush()
    work.audit("work_order.create", "work_order", ident, status="open", source="web")
    if technician is not None:
        assign(work, order, technician, source="web")
    return order


OFFICE_COMMANDS = ("assign", "unassign", "cancel", "close", "reopen")


def office_command(
    work: Work, work_order_id: str, command: str, technician: str | None = None, **detail: object
) -> WorkOrder:
    """Run an office command on the order named ``work_order_id`` (the API's and the pages'
    one way): :class:`NotFound`, a 422 for a missing or wrong technician, :class:`Conflict`
    when the order's state does not allow it (e.g. cancelling a completed order)."""
    if command not in OFFICE_COMMANDS:
        raise ApiError("unknown_command", f"there is no work-order command {command!r}", 422)
    order = work.session.execute(
        select(WorkOrder).where(WorkOrder.work_order_id == work_order_id)
    ).scalar_one_or_none()
    if order is None:
        raise NotFound("not_found", f"no work order {work_order_id!r}")
    if command in ("assign", "unassign"):
        person = None
        if command == "assign":
            if not technician:
                raise ApiError("technician_required", "assign needs a technician", 422)
            person = work.session.execute(
                select(User).where(User.name == technician)
            ).scalar_one_or_none()
            if person is None or person.role != "technician" or not person.active:
                raise ApiError("not_a_technician", f"{technician!r} is not a technician", 422)
        transition = assign(work, order, person, **detail)
    else:
        transition = apply_command(work, order, command, **detail)
    if transition.status is None:
        raise Conflict(
            transition.code or "invalid_transition",
            f"{order.work_order_id} is {order.status}: {transition.reason or 'refused'}",
        )
    return order


@dataclass(frozen=True, slots=True)
class WorkOrderFilter:
    """What the work-order list is narrowed to; ``technician`` ``"-"`` is the unassigned."""

    status: str | None = None
    technician: str | None = None
    kind: str | None = None


@dataclass(frozen=True, slots=True)
class WorkOrderPage:
    """A page of the list, newest first, and the id the next page starts below (None: last)."""

    views: list[WorkOrderView]
    next: int | None


def list_page(
    session: Session, where: WorkOrderFilter, before: int | None, limit: int
) -> WorkOrderPage:
    """Work orders newest first (by key), ``limit`` at a time, keyset-paged on the key."""
    query = select(WorkOrder)
    if where.status is not None:
        query = query.where(WorkOrder.status == where.status)
    if where.kind is not None:
        query = query.where(WorkOrder.kind == where.kind)
    if where.technician == "-":
        query = query.where(WorkOrder.technician_id.is_(None))
    elif where.technician is not None:
        query = query.join(User, User.id == WorkOrder.technician_id).where(
            User.name == where.technician
        )
    if before is not None:
        query = query.where(WorkOrder.id < before)
    found = list(session.execute(query.order_by(WorkOrder.id.desc()).limit(limit + 1)).scalars())
    more = len(found) > limit
    found = found[:limit]
    return WorkOrderPage(load_views(session, found), found[-1].id if more and found else None)


@dataclass(frozen=True, slots=True)
class WorkOrderView:
    """A work order with everything joined to it."""

    order: WorkOrder
    meter: Meter
    premise: Premise
    account: Account
    technician: str | None
    last_visit_at: datetime | None = None


def load_views(session: Session, orders: list[WorkOrder]) -> list[WorkOrderView]:
    """The joined views of ``orders``, in the same order."""
    if not orders:
        return []
    rows = session.execute(
        select(WorkOrder.id, Meter, Premise, Account, User.name)
        .join(Meter, Meter.id == WorkOrder.meter_id)
        .join(Premise, Premise.id == Meter.premise_pk)
        .join(Account, Account.id == WorkOrder.account_id)
        .outerjoin(User, User.id == WorkOrder.technician_id)
        .where(WorkOrder.id.in_([o.id for o in orders]))
    ).all()
    joined = {row[0]: row[1:] for row in rows}
    meter_ids = {joined[o.id][0].id for o in orders}
    last_visits = dict(
        session.execute(
            select(Visit.meter_id, func.max(Visit.started_at))
            .where(Visit.meter_id.in_(meter_ids))
            .group_by(Visit.meter_id)
        ).all()
    )
    views = []
    for order in orders:
        meter, premise, account, technician = joined[order.id]
        views.append(
            WorkOrderView(order, meter, premise, account, technician, last_visits.get(meter.id))
        )
    return views


def work_order_doc(view: WorkOrderView) -> WorkOrderDoc:
    """The work order as the laptop stores it (the site checks' expectation inside)."""
    order, meter, premise, account = view.order, view.meter, view.premise, view.account
    return WorkOrderDoc(
        work_order_id=order.work_order_id,
        kind=order.kind,
        status=order.status,
        account_number=account.account_number,
        premise_id=premise.premise_id,
        service_address=premise.service_address,
        meter_number=meter.meter_number,
        meter_serial=meter.meter_serial,
        form=meter.form,
        meter_class=meter.meter_class,
        service_type=ServiceType(meter.service_type),
        nominal_voltage=meter.nominal_voltage,
        ct_ratio=meter.ct_ratio,
        pt_ratio=meter.pt_ratio,
        rotation=meter.rotation,
        high_leg=meter.high_leg,
        last_read_kwh=meter.last_read_kwh,
        last_read_at=meter.last_read_at,
        last_visit_at=view.last_visit_at,
        net_metering=account.net_metering,
        scheduled_for=order.scheduled_for,
        notes=order.notes,
        updated_at=order.updated_at,
    )


def account_doc(view: WorkOrderView) -> AccountDoc:
    """The account of a work order; the phone only when the order says to contact them."""
    account = view.account
    return AccountDoc(
        account_number=account.account_number,
        customer_name=account.customer_name,
        phone=account.phone if view.order.contact_customer else None,
        net_metering=account.net_metering,
    )


def meter_doc(meter: Meter, premise: Premise, account: Account) -> MeterDoc:
    """A meter as the office knows it (no password, not even its reference)."""
    return MeterDoc(
        meter_number=meter.meter_number,
        meter_serial=meter.meter_serial,
        form=meter.form,
        meter_class=meter.meter_class,
        service_type=ServiceType(meter.service_type),
        nominal_voltage=meter.nominal_voltage,
        ct_ratio=meter.ct_ratio,
        pt_ratio=meter.pt_ratio,
        rotation=meter.rotation,
        high_leg=meter.high_leg,
        last_read_kwh=meter.last_read_kwh,
        last_read_at=meter.last_read_at,
        account_number=account.account_number,
        premise_id=premise.premise_id,
        service_address=premise.service_address,
    )
