"""What the office reads about one customer account or one meter: its premises, meters,
work orders and visits newest first (keyset pages), a meter's readings over time and the
checks that changed status from one visit to the next.

Everything here reads columns and rows ingest and the CIS import already store (the
readings are ``visits`` columns filled at ingest); no visit document is parsed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from syncserver.core.errors import NotFound
from syncserver.db.models import (
    Account,
    Meter,
    Premise,
    User,
    Visit,
    VisitCheck,
    WorkOrder,
)
from syncserver.services.review import VISIT_LINE_COLUMNS, Keyset
from syncserver.services.users import TECHNICIAN, Principal

__all__ = [
    "HISTORY_VISITS",
    "PAGE_SIZE",
    "AccountView",
    "MeterHistory",
    "PremiseView",
    "Reading",
    "StatusChange",
    "VisitLine",
    "VisitPage",
    "WorkOrderLine",
    "account_view",
    "meter_history",
]

PAGE_SIZE = 50
"""Visits per page on the account and meter pages."""
HISTORY_VISITS = 200
"""The newest visits a meter's plots and status changes cover."""
WORK_ORDERS = 100
"""Most work orders the account page lists (the newest changed first)."""


@dataclass(frozen=True, slots=True)
class VisitLine:
    """One visit in a list."""

    pk: int
    visit_id: str
    visited_at: datetime
    verdict: str | None
    outcome: str | None
    review_status: str
    technician: str
    meter_number: str | None
    work_order_id: str | None
    kind: str | None


@dataclass(frozen=True, slots=True)
class VisitPage:
    """A page of visits, newest first, and where the next page starts (None: last page)."""

    rows: list[VisitLine]
    next: Keyset | None


@dataclass(frozen=True, slots=True)
class WorkOrderLine:
    """A work order on the account page."""

    work_order_id: str
    kind: str
    priority: str
    status: str
    meter_number: str
    technician: str | None
    scheduled_for: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PremiseView:
    """A premise of the account, with its meters."""

    premise: Premise
    meters: list[Meter]


@dataclass(frozen=True, slots=True)
class AccountView:
    """Everything the account page shows."""

    account: Account
    premises: list[PremiseView]
    work_orders: list[WorkOrderLine]
    more_work_orders: bool
    visits: VisitPage


@dataclass(frozen=True, slots=True)
class Reading:
    """What one visit read at the meter (None where it did not read that value)."""

    visit_id: str
    visited_at: datetime
    drift_seconds: float | None
    voltage_a: float | None
    voltage_b: float | None
    voltage_c: float | None
    kwh_delivered: float | None
    kwh_received: float | None


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A check whose status at ``visit_id`` differs from the previous visit that ran it."""

    check_id: str
    before: str
    after: str
    visit_id: str
    visited_at: datetime
    previous_visit_id: str


@dataclass(frozen=True, slots=True)
class MeterHistory:
    """Everything the meter page shows."""

    meter: Meter
    premise: Premise
    account: Account
    visits: VisitPage
    readings: list[Reading]
    """The newest :data:`HISTORY_VISITS` visits' readings, oldest first."""
    changes: list[StatusChange]
    """Newest first, over the same visits."""
    total_visits: int | None
    """How many visits the meter has, when it is not more than :data:`HISTORY_VISITS`."""


def _no_technicians(principal: Principal, what: str) -> None:
    # The pages never sign technicians in; belt and braces.
    if principal.role == TECHNICIAN:
        raise NotFound("not_found", f"no {what}")


def _visit_page(
    session: Session, where: ColumnElement[bool], after: Keyset | None, limit: int = PAGE_SIZE
) -> VisitPage:
    query = (
        select(*VISIT_LINE_COLUMNS)
        .join(User, User.id == Visit.technician_id)
        .outerjoin(WorkOrder, WorkOrder.id == Visit.work_order_pk)
        .where(where)
    )
    if after is not None:
        query = query.where(after.before(Visit.visited_at, Visit.id))
    found = session.execute(
        query.order_by(Visit.visited_at.desc(), Visit.id.desc()).limit(limit + 1)
    ).all()
    rows = [VisitLine(*r) for r in found[:limit]]  # type: ignore[call-arg]
    more = len(found) > limit and rows
    return VisitPage(rows, Keyset(rows[-1].visited_at, rows[-1].pk) if more else None)


def account_view(
    session: Session, principal: Principal, number: str, after: Keyset | None = None
) -> AccountView:
    """The account ``number`` for its page, or :class:`NotFound`."""
    _no_technicians(principal, f"account {number!r}")
    account = session.execute(
        select(Account).where(Account.account_number == number)
    ).scalar_one_or_none()
    if account is None:
        raise NotFound("not_found", f"no account {number!r}")
    premises = list(
        session.execute(
            select(Premise).where(Premise.account_id == account.id).order_by(Premise.premise_id)
        ).scalars()
    )
    meters: dict[int, list[Meter]] = {}
    if premises:
        for meter in session.execute(
            select(Meter)
            .where(Meter.premise_pk.in_([p.id for p in premises]))
            .order_by(Meter.meter_number)
        ).scalars():
            meters.setdefault(meter.premise_pk, []).append(meter)
    orders = session.execute(
        select(
            WorkOrder.work_order_id,
            WorkOrder.kind,
            WorkOrder.priority,
            WorkOrder.status,
            Meter.meter_number,
            User.name,
            WorkOrder.scheduled_for,
            WorkOrder.updated_at,
        )
        .join(Meter, Meter.id == WorkOrder.meter_id)
        .outerjoin(User, User.id == WorkOrder.technician_id)
        .where(WorkOrder.account_id == account.id)
        .order_by(WorkOrder.updated_at.desc(), WorkOrder.id.desc())
        .limit(WORK_ORDERS + 1)
    ).all()
    return AccountView(
        account,
        [PremiseView(p, meters.get(p.id, [])) for p in premises],
        [WorkOrderLine(*o) for o in orders[:WORK_ORDERS]],
        len(orders) > WORK_ORDERS,
        _visit_page(session, Visit.account_id == account.id, after),
    )


def _status_changes(
    session: Session, visits: list[tuple[int, str, datetime]]
) -> list[StatusChange]:
    """Per check, each status that differs from the one at the previous visit that ran it;
    ``visits`` oldest first."""
    if not visits:
        return []
    statuses: dict[int, dict[str, str]] = {}
    for pk, check_id, status in session.execute(
        select(VisitCheck.visit_pk, VisitCheck.check_id, VisitCheck.status).where(
            VisitCheck.visit_pk.in_([v[0] for v in visits])
        )
    ):
        statuses.setdefault(pk, {})[check_id] = status
    last: dict[str, tuple[str, str]] = {}
    changes: list[StatusChange] = []
    for pk, visit_id, at in visits:
        for check_id, status in sorted(statuses.get(pk, {}).items()):
            seen = last.get(check_id)
            if seen is not None and seen[0] != status:
                changes.append(StatusChange(check_id, seen[0], status, visit_id, at, seen[1]))
            last[check_id] = (status, visit_id)
    changes.reverse()
    return changes


def meter_history(
    session: Session, principal: Principal, number: str, after: Keyset | None = None
) -> MeterHistory:
    """The meter ``number`` for its page, or :class:`NotFound`."""
    _no_technicians(principal, f"meter {number!r}")
    found: Any = session.execute(
        select(Meter, Premise, Account)
        .join(Premise, Premise.id == Meter.premise_pk)
        .join(Account, Account.id == Premise.account_id)
        .where(Meter.meter_number == number)
    ).one_or_none()
    if found is None:
        raise NotFound("not_found", f"no meter {number!r}")
    meter, premise, account = found
    recent = session.execute(
        select(
            Visit.id,
            Visit.visit_id,
            Visit.visited_at,
            Visit.drift_seconds,
            Visit.voltage_a,
            Visit.voltage_b,
            Visit.voltage_c,
            Visit.kwh_delivered,
            Visit.kwh_received,
        )
        .where(Visit.meter_id == meter.id)
        .order_by(Visit.visited_at.desc(), Visit.id.desc())
        .limit(HISTORY_VISITS + 1)
    ).all()
    total = len(recent) if len(recent) <= HISTORY_VISITS else None
    recent = list(reversed(recent[:HISTORY_VISITS]))
    return MeterHistory(
        meter,
        premise,
        account,
        _visit_page(session, Visit.meter_id == meter.id, after),
        [Reading(*r[1:]) for r in recent],
        _status_changes(session, [(r[0], r[1], r[2]) for r in recent]),
        total,
    )
