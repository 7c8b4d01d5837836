"""The office server's application factory: ``create_app(settings)``.

The lifespan opens the database (SQLite file or PostgreSQL URL), brings it to the current
schema (or refuses to start when ``auto_migrate`` is off and it is behind), and closes it.
Every 4xx the API gives is JSON ``{"detail": one line, "code": stable id}``; a body over
``max_body_bytes`` is refused with 413 before it is read whole.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from fieldkit.sync.schema import SCHEMA_VERSION, SyncPushDocument
from syncserver.api.main import api_router
from syncserver.core.config import Settings
from syncserver.core.cpu_pool import CpuPool
from syncserver.core.errors import ApiError
from syncserver.db.engine import Database
from syncserver.db.migrate import current_revision, head_revision, upgrade
from syncserver.services import prepare
from syncserver.web.app import install_web

__all__ = ["API_PREFIX", "Health", "create_app", "create_app_from_env"]

API_PREFIX = "/api/v1"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


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


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, by Content-Length or as they
    stream in, before a route sees any of it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0 or declared > self.limit:
                    await self._refuse(send, declared)
                    return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise HTTPException(413, self._message())
            return message

        await self.app(scope, limited, send)

    def _message(self) -> str:
        return f"the request body is larger than {self.limit} bytes: send fewer ops per batch"

    async def _refuse(self, send: Send, declared: int) -> None:
        if declared >= 0:
            await _refuse(send, 413, self._message(), "too_large")
        else:
            await _refuse(send, 400, "the Content-Length header is not a number", "bad_request")


class NoNul:
    """Refuse a path or query string holding a NUL character with 400, before any route.

    PostgreSQL cannot hold NUL in text (SQLite can): a lookup by such a value would fail in
    the database on one engine and find nothing on the other. No id, number or name the
    server knows has one, so the request is refused the same way on both.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            "\x00" in scope.get("path", "")
            or b"%00" in scope.get("query_string", b"")
            or b"\x00" in scope.get("query_string", b"")
        ):
            detail = "the request's path or query contains a NUL character"
            await _refuse(send, 400, detail, "bad_request")
            return
        await self.app(scope, receive, send)


async def _refuse(send: Send, status: int, detail: str, code: str) -> None:
    """Answer a request a middleware refuses before any route, as the API's 4xx look."""
    response = JSONResponse({"detail": detail, "code": code}, status_code=status)
    await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:  # pragma: no cover - a response never reads the body
    return {"type": "http.disconnect"}


def _one_line(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "the request is not valid"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "the body"
    message = str(first.get("msg", "invalid"))
    if first.get("type") == "extra_forbidden":
        message = "not a field of this document"
    if first.get("type") == "json_invalid":
        return "the body is not JSON"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {message}{more}"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the server's FastAPI application on ``settings`` (default: the environment)."""
    settings = settings or Settings()
    installed = _version()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database(settings.db)
        try:
            if settings.auto_migrate:
                upgrade(database)
            elif current_revision(database) != head_revision():
                raise RuntimeError(
                    f"the database {settings.db} is not at schema {head_revision()}: "
                    "run 'syncserver migrate' first"
                )
            app.state.database = database
            # What start-up built (modules, compiled schemas, the app, the engine) lives as
            # long as the server: frozen, no full collection walks it again. Pushes trigger
            # full collections often (each batch's parsed documents outlive the young
            # generations while they wait for the writer), and walking ~130,000 start-up
            # objects each time was ~0.1 ms of CPU per pushed visit.
            gc.collect()
            gc.freeze()
            # After the freeze: the helpers are spawned, they share nothing with this heap.
            helpers = CpuPool(settings.helper_processes(), warm_up=prepare.loaded)
            helpers.start()
            app.state.cpu_pool = helpers
            try:
                yield
            finally:
                helpers.close()
                # One process may run several apps in turn (tests): what this one froze
                # becomes collectable again when it stops.
                gc.unfreeze()
        finally:
            database.dispose()

    app = FastAPI(
        title="ami-fieldkit syncserver",
        version=installed,
        lifespan=lifespan,
        openapi_url=f"{API_PREFIX}/openapi.json" if settings.openapi_docs else None,
        docs_url="/docs" if settings.openapi_docs else None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(NoNul)

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(
            {"detail": str(exc), "code": exc.code}, status_code=exc.status, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        body = exc.body
        if isinstance(body, dict):
            declared = body.get("schema_version")
            if (
                isinstance(declared, int)
                and not isinstance(declared, bool)
                and declared > SCHEMA_VERSION
            ):
                return JSONResponse(
                    {
                        "detail": f"the document is schema {declared}; this server reads "
                        f"up to {SCHEMA_VERSION}: upgrade the server (nothing was applied)",
                        "code": "schema_unsupported",
                    },
                    status_code=400,
                )
        return JSONResponse({"detail": _one_line(exc), "code": "invalid_request"}, status_code=422)

    @app.get("/healthz", response_model=Health, tags=["ops"])
    def healthz() -> Health:
        """Liveness: the process is up and serving requests."""
        return Health(status="ok", service="syncserver", version=installed)

    app.include_router(api_router, prefix=API_PREFIX)
    install_web(app)

    def openapi() -> dict[str, Any]:
        # The push route reads its body itself (for speed); publish its schema here.
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            push = SyncPushDocument.model_json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(push.pop("$defs", {}))
            components["SyncPushDocument"] = push
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def create_app_from_env() -> FastAPI:
    """The app on the ``SYNCSERVER_*`` environment (uvicorn's factory for several workers)."""
    return create_app(Settings())
