"""``/work-orders``: read them (scoped to the caller) and send office commands."""

from __future__ import annotations

from fastapi import APIRouter

from syncserver.api.deps import CallerDep, DatabaseDep, StaffDep
from syncserver.api.models import ApiErrorOut, WorkOrderCommandIn, WorkOrderOut
from syncserver.services import reads
from syncserver.services.journal import Actor, unit_of_work
from syncserver.services.work_orders import WorkOrderView, office_command, work_order_doc

router = APIRouter(prefix="/work-orders", tags=["work orders"])

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ApiErrorOut} for code in (401, 403, 404, 409)
}


def _out(view: WorkOrderView) -> WorkOrderOut:
    return WorkOrderOut(
        work_order=work_order_doc(view),
        technician=view.technician,
        priority=view.order.priority,
        contact_customer=view.order.contact_customer,
    )


@router.get("", response_model=list[WorkOrderOut], responses=_ERRORS)
def list_work_orders(
    caller: CallerDep,
    database: DatabaseDep,
    status: str | None = None,
    technician: str | None = None,
) -> list[WorkOrderOut]:
    """Work orders (a technician's device: its own), by id."""
    with database.read() as session:
        views = reads.work_orders(session, caller, status=status, technician=technician)
        return [_out(v) for v in views]


@router.get("/{work_order_id}", response_model=WorkOrderOut, responses=_ERRORS)
def get_work_order(work_order_id: str, caller: CallerDep, database: DatabaseDep) -> WorkOrderOut:
    """One work order; another technician's is 404."""
    with database.read() as session:
        return _out(reads.work_order(session, caller, work_order_id))


@router.post("/{work_order_id}/commands", response_model=WorkOrderOut, responses=_ERRORS)
def command(
    work_order_id: str, body: WorkOrderCommandIn, staff: StaffDep, database: DatabaseDep
) -> WorkOrderOut:
    """Assign, unassign, cancel, close or reopen, if the order's state allows it (else 409)."""
    with unit_of_work(database, Actor("user", staff.name)) as work:
        office_command(work, work_order_id, body.command, body.technician)
    with database.read() as session:
        return _out(reads.work_order(session, staff, work_order_id))
