"""The office server's application factory.

Today it answers the health check a deployment and the laptops' sync client probe before
anything else; the sync, review and account routes are added here as they are built.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI
from pydantic import BaseModel

__all__ = ["Health", "create_app"]


class Health(BaseModel):
    """What ``GET /healthz`` answers."""

    status: str
    service: str
    version: str


def _version() -> str:
    try:
        return version("ami-fieldkit")
    except PackageNotFoundError:
        return "unknown"


def create_app() -> FastAPI:
    """Build the server's FastAPI application."""
    # Read once: the installed version cannot change under a running process, and the
    # health check is probed often.
    installed = _version()
    app = FastAPI(title="ami-fieldkit syncserver", version=installed)

    @app.get("/healthz", response_model=Health, tags=["ops"])
    def healthz() -> Health:
        """Liveness: the process is up and serving requests."""
        return Health(status="ok", service="syncserver", version=installed)

    return app
