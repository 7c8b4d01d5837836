"""``/sync``: a device pushes its outbox and pulls its technician's feed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from fieldkit.sync.schema import SyncPullDocument, SyncPushDocument, SyncPushResultDocument
from syncserver.api.deps import DatabaseDep, DeviceDep, SettingsDep
from syncserver.api.models import ApiErrorOut
from syncserver.services import sync

router = APIRouter(prefix="/sync", tags=["sync"])

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ApiErrorOut} for code in (400, 401, 403, 409, 413, 422, 426)
}


@router.post("/push", response_model=SyncPushResultDocument, responses=_ERRORS)
def push(
    document: SyncPushDocument, device: DeviceDep, database: DatabaseDep
) -> SyncPushResultDocument:
    """Apply a batch of outbox ops (at most 100, 1 MiB); one answer per op, after COMMIT."""
    return sync.push(database, device, document)


@router.get("/pull", response_model=SyncPullDocument, responses=_ERRORS)
def pull(
    device: DeviceDep,
    database: DatabaseDep,
    settings: SettingsDep,
    cursor: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> SyncPullDocument:
    """The technician's work orders (and their accounts and meters) changed after ``cursor``."""
    wanted = settings.pull_limit if limit is None else min(limit, settings.pull_limit)
    return sync.pull(database, device, cursor, wanted)
