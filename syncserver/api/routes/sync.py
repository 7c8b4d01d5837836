"""``/sync``: a device pushes its outbox and pulls its technician's feed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from fieldkit.sync.schema import SyncPullDocument, SyncPushResultDocument
from syncserver.api.deps import CpuPoolDep, DatabaseDep, DeviceDep, SettingsDep
from syncserver.api.models import ApiErrorOut
from syncserver.db.engine import Database
from syncserver.services import sync
from syncserver.services.prepare import PreparedPush, prepare_push
from syncserver.services.users import Principal

router = APIRouter(prefix="/sync", tags=["sync"])

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ApiErrorOut} for code in (400, 401, 403, 409, 413, 422, 426)
}


@router.post(
    "/push",
    response_model=SyncPushResultDocument,
    responses=_ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/SyncPushDocument"}}
            },
        }
    },
)
async def push(
    request: Request, device: DeviceDep, database: DatabaseDep, helpers: CpuPoolDep
) -> Response:
    """Apply a batch of outbox ops (at most 100, 1 MiB); one answer per op, after COMMIT.

    The body is a ``SyncPushDocument`` read from its bytes once (the route declares no body
    model, so FastAPI does not parse it too), in a helper process when the server runs
    them (``syncserver.core.cpu_pool``); the batch is then written in the thread pool. The
    answer is encoded there as well: it was built from the model, so it is not validated
    again on the way out.
    """
    body = await request.body()
    prepared = await helpers.run(prepare_push, body)
    answer: bytes = await run_in_threadpool(_push, prepared, device, database)
    return Response(content=answer, media_type="application/json")


def _push(prepared: PreparedPush, device: Principal, database: Database) -> bytes:
    return sync.push(database, device, prepared).model_dump_json().encode()


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
