"""``/devices``: enrolment with a one-time code, and revocation."""

from __future__ import annotations

from fastapi import APIRouter

from fieldkit.sync.schema import EnrollmentDocument, EnrollRequestDocument
from syncserver.api.deps import AdminDep, DatabaseDep
from syncserver.api.models import ApiErrorOut
from syncserver.services.journal import Actor, now, unit_of_work
from syncserver.services.users import enroll_device, revoke_device

router = APIRouter(prefix="/devices", tags=["devices"])


@router.post(
    "/enroll",
    response_model=EnrollmentDocument,
    responses={401: {"model": ApiErrorOut}, 422: {"model": ApiErrorOut}},
)
def enroll(request: EnrollRequestDocument, database: DatabaseDep) -> EnrollmentDocument:
    """Spend a one-time code (``syncserver enroll-code``) on this device: its token, once."""
    with unit_of_work(database, Actor("enrolment", request.device_name[:100])) as work:
        device, technician, token = enroll_device(work, request.code, request.device_name)
    return EnrollmentDocument(
        device_id=device.device_id, token=token, technician=technician.name, server_time=now()
    )


@router.post("/{device_id}/revoke", status_code=204, responses={404: {"model": ApiErrorOut}})
def revoke(device_id: str, admin: AdminDep, database: DatabaseDep) -> None:
    """Revoke a device: its next request is refused (401)."""
    from syncserver.core.errors import NotFound, UsageError

    try:
        with unit_of_work(database, Actor("user", admin.name)) as work:
            revoke_device(work, device_id)
    except UsageError as exc:
        raise NotFound("not_found", str(exc)) from None
