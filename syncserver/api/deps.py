"""Dependencies the routes take as typed parameters (as in the FastAPI template)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from syncserver.core.config import Settings
from syncserver.core.cpu_pool import CpuPool
from syncserver.core.errors import ApiError, Unauthorized
from syncserver.db.engine import Database
from syncserver.services.users import ADMIN, OFFICE, Principal, authenticate

__all__ = [
    "AdminDep",
    "CallerDep",
    "CpuPoolDep",
    "DatabaseDep",
    "DeviceDep",
    "SettingsDep",
    "StaffDep",
]

_bearer = HTTPBearer(auto_error=False, description="a device token or a personal API token")


def get_database(request: Request) -> Database:
    """The database the app was started on."""
    database: Database = request.app.state.database
    return database


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_cpu_pool(request: Request) -> CpuPool:
    """The helper processes pushes are prepared in (or the thread pool, when none run)."""
    pool: CpuPool = request.app.state.cpu_pool
    return pool


CpuPoolDep = Annotated[CpuPool, Depends(get_cpu_pool)]


def get_caller(
    database: DatabaseDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Who the bearer token is; checked against the database on every request (revocation
    takes effect at once)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("no_token", "send 'Authorization: Bearer TOKEN'")
    with database.read() as session:
        return authenticate(session, credentials.credentials)


CallerDep = Annotated[Principal, Depends(get_caller)]


def get_device(caller: CallerDep) -> Principal:
    """A technician's enrolled device."""
    if caller.device_pk is None:
        raise ApiError("device_only", "only an enrolled device may call this", status=403)
    return caller


def get_staff(caller: CallerDep) -> Principal:
    """An office or admin user."""
    if caller.role not in (OFFICE, ADMIN) or caller.device_pk is not None:
        raise ApiError("staff_only", "only office and admin users may call this", status=403)
    return caller


def get_admin(caller: CallerDep) -> Principal:
    """An admin user."""
    if caller.role != ADMIN or caller.device_pk is not None:
        raise ApiError("admin_only", "only admin users may call this", status=403)
    return caller


DeviceDep = Annotated[Principal, Depends(get_device)]
StaffDep = Annotated[Principal, Depends(get_staff)]
AdminDep = Annotated[Principal, Depends(get_admin)]
