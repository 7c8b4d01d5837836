"""The ``/api/v1`` router, assembled from one router per area."""

from __future__ import annotations

from fastapi import APIRouter

from syncserver.api.routes import devices, records, sync, work_orders

api_router = APIRouter()
api_router.include_router(sync.router)
api_router.include_router(devices.router)
api_router.include_router(work_orders.router)
api_router.include_router(records.router)
