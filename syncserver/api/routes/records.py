"""``/accounts``, ``/meters`` and ``/visits``: bearer-token reads, scoped to the caller."""

from __future__ import annotations

import json

from fastapi import APIRouter

from fieldkit.sync.schema import AccountDoc, MeterDoc
from syncserver.api.deps import CallerDep, DatabaseDep
from syncserver.api.models import AccountOut, ApiErrorOut, PremiseOut, VisitOut
from syncserver.services import reads
from syncserver.services.reads import VisitView
from syncserver.services.users import TECHNICIAN
from syncserver.services.work_orders import meter_doc

router = APIRouter(tags=["records"])

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ApiErrorOut} for code in (401, 403, 404)
}


@router.get("/accounts/{account_number}", response_model=AccountOut, responses=_ERRORS)
def get_account(account_number: str, caller: CallerDep, database: DatabaseDep) -> AccountOut:
    """An account with its premises and meters."""
    with database.read() as session:
        account, premises = reads.account(session, caller, account_number)
        return AccountOut(
            account=AccountDoc(
                account_number=account.account_number,
                customer_name=account.customer_name,
                phone=None if caller.role == TECHNICIAN else account.phone,
                net_metering=account.net_metering,
            ),
            premises=[
                PremiseOut(
                    premise_id=premise.premise_id,
                    service_address=premise.service_address,
                    meters=[meter_doc(m, premise, account) for m in meters],
                )
                for premise, meters in premises
            ],
        )


@router.get("/meters/{meter_number}", response_model=MeterDoc, responses=_ERRORS)
def get_meter(meter_number: str, caller: CallerDep, database: DatabaseDep) -> MeterDoc:
    """A meter as the office knows it (never its password)."""
    with database.read() as session:
        return meter_doc(*reads.meter(session, caller, meter_number))


def _out(view: VisitView, *, body: bool) -> VisitOut:
    visit = view.visit
    return VisitOut(
        visit_id=visit.visit_id,
        device_id=view.device_id,
        technician=view.technician,
        work_order_id=view.work_order_id,
        claimed_work_order=visit.claimed_work_order,
        account_number=view.account_number,
        meter_number=visit.meter_number,
        started_at=visit.started_at,
        received_at=visit.received_at,
        flags=[f for f in visit.flags.split(",") if f],
        review_status=visit.review_status,
        document=json.loads(visit.body) if body else None,
    )


@router.get("/visits", response_model=list[VisitOut], responses=_ERRORS)
def list_visits(
    caller: CallerDep,
    database: DatabaseDep,
    account: str | None = None,
    meter: str | None = None,
    work_order: str | None = None,
) -> list[VisitOut]:
    """Visits by account, meter or work order, newest first (without their documents)."""
    with database.read() as session:
        found = reads.visits(
            session, caller, account_number=account, meter_number=meter, work_order_id=work_order
        )
        return [_out(v, body=False) for v in found]


@router.get("/visits/{visit_id}", response_model=VisitOut, responses=_ERRORS)
def get_visit(visit_id: str, caller: CallerDep, database: DatabaseDep) -> VisitOut:
    """One visit with the document the laptop saved."""
    with database.read() as session:
        return _out(reads.visit(session, caller, visit_id), body=True)
