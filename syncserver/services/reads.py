"""What a caller may read, scoped in the query itself.

A technician sees the work orders assigned to them now, the accounts and meters of those
orders, and their own visits; office and admin users see everything. Anything outside the
caller's scope is :class:`NotFound`, exactly as if it did not exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from syncserver.core.errors import NotFound
from syncserver.db.models import Account, Device, Meter, Premise, User, Visit, WorkOrder
from syncserver.services.users import Principal
from syncserver.services.work_orders import WorkOrderView, load_views

__all__ = ["VisitView", "account", "meter", "visit", "visits", "work_order", "work_orders"]


def _scoped_orders(principal: Principal) -> Select[WorkOrder]:
    query = select(WorkOrder)
    if principal.technician_id is not None:
        query = query.where(WorkOrder.technician_id == principal.technician_id)
    return query


def work_orders(
    session: Session,
    principal: Principal,
    *,
    status: str | None = None,
    technician: str | None = None,
) -> list[WorkOrderView]:
    """The work orders the caller may see, optionally filtered."""
    query = _scoped_orders(principal).order_by(WorkOrder.work_order_id)
    if status is not None:
        query = query.where(WorkOrder.status == status)
    if technician is not None:
        query = query.join(User, User.id == WorkOrder.technician_id).where(User.name == technician)
    return load_views(session, list(session.execute(query.limit(1000)).scalars()))


def work_order(session: Session, principal: Principal, work_order_id: str) -> WorkOrderView:
    """One work order, or :class:`NotFound` (also when it is another technician's)."""
    found = session.execute(
        _scoped_orders(principal).where(WorkOrder.work_order_id == work_order_id)
    ).scalar_one_or_none()
    if found is None:
        raise NotFound("not_found", f"no work order {work_order_id!r}")
    return load_views(session, [found])[0]


def _visible_meter_ids(session: Session, principal: Principal) -> set[int] | None:
    if principal.technician_id is None:
        return None
    return set(
        session.execute(
            select(WorkOrder.meter_id).where(WorkOrder.technician_id == principal.technician_id)
        ).scalars()
    )


def account(
    session: Session, principal: Principal, account_number: str
) -> tuple[Account, list[tuple[Premise, list[Meter]]]]:
    """An account with its premises and meters (a technician: only those of their orders)."""
    found = session.execute(
        select(Account).where(Account.account_number == account_number)
    ).scalar_one_or_none()
    visible = _visible_meter_ids(session, principal)
    premises = []
    if found is not None:
        for premise in session.execute(
            select(Premise).where(Premise.account_id == found.id).order_by(Premise.premise_id)
        ).scalars():
            meters = [
                m
                for m in session.execute(
                    select(Meter).where(Meter.premise_pk == premise.id).order_by(Meter.meter_number)
                ).scalars()
                if visible is None or m.id in visible
            ]
            if meters or visible is None:
                premises.append((premise, meters))
    if found is None or (visible is not None and not premises):
        raise NotFound("not_found", f"no account {account_number!r}")
    return found, premises


def meter(
    session: Session, principal: Principal, meter_number: str
) -> tuple[Meter, Premise, Account]:
    """A meter with its premise and account."""
    row = session.execute(
        select(Meter, Premise, Account)
        .join(Premise, Premise.id == Meter.premise_pk)
        .join(Account, Account.id == Premise.account_id)
        .where(Meter.meter_number == meter_number)
    ).one_or_none()
    visible = _visible_meter_ids(session, principal)
    if row is None or (visible is not None and row[0].id not in visible):
        raise NotFound("not_found", f"no meter {meter_number!r}")
    return row[0], row[1], row[2]


@dataclass(frozen=True, slots=True)
class VisitView:
    """A stored visit with the names it is tied to."""

    visit: Visit
    device_id: str
    technician: str
    work_order_id: str | None
    account_number: str | None


def _visit_query(principal: Principal) -> Select[Visit, str, str, str, str]:
    query = (
        select(Visit, Device.device_id, User.name, WorkOrder.work_order_id, Account.account_number)
        .join(Device, Device.id == Visit.device_pk)
        .join(User, User.id == Visit.technician_id)
        .outerjoin(WorkOrder, WorkOrder.id == Visit.work_order_pk)
        .outerjoin(Account, Account.id == Visit.account_id)
    )
    if principal.technician_id is not None:
        query = query.where(Visit.technician_id == principal.technician_id)
    return query


def visits(
    session: Session,
    principal: Principal,
    *,
    account_number: str | None = None,
    meter_number: str | None = None,
    work_order_id: str | None = None,
    limit: int = 200,
) -> list[VisitView]:
    """The visits the caller may see, by account, meter or work order, newest first."""
    query = _visit_query(principal)
    if account_number is not None:
        query = query.where(Account.account_number == account_number)
    if meter_number is not None:
        query = query.where(Visit.meter_number == meter_number)
    if work_order_id is not None:
        query = query.where(WorkOrder.work_order_id == work_order_id)
    rows = session.execute(query.order_by(Visit.received_at.desc(), Visit.id.desc()).limit(limit))
    return [VisitView(*row) for row in rows.all()]


def visit(session: Session, principal: Principal, visit_id: str) -> VisitView:
    """One visit, or :class:`NotFound`."""
    row = session.execute(_visit_query(principal).where(Visit.visit_id == visit_id)).one_or_none()
    if row is None:
        raise NotFound("not_found", f"no visit {visit_id!r}")
    return VisitView(*row)
