"""The pages' router and what the app needs to serve them (``install_web``).

The login, logout and landing routes live here; each area of pages is its own router module
under ``syncserver.web`` and is included by :func:`install_web`.
"""

from __future__ import annotations

import inspect
import secrets
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from syncserver.api.deps import DatabaseDep, SettingsDep
from syncserver.core.config import Settings
from syncserver.core.errors import ApiError
from syncserver.services.journal import Actor, unit_of_work
from syncserver.services.users import verify_login
from syncserver.services.web_sessions import STAFF_ROLES, end_session, start_session
from syncserver.web.auth import (
    COOKIE,
    CheckedForm,
    Forbidden,
    LoginRequired,
    LoginThrottle,
    PageUser,
    StaffPage,
    form_fields,
    local_path,
    login_url,
    signed_in,
)
from syncserver.web.formats import reading

__all__ = ["LOGIN_CSRF_COOKIE", "PAGE_HEADERS", "install_web", "page", "router", "templates"]

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["reading"] = reading
router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "fk_login_csrf"
BAD_LOGIN = "Wrong user name or password."
LANDING = "/exceptions"
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    # No page needs a script, a frame or anything from elsewhere: say so to the browser.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def page(
    request: Request,
    name: str,
    user: PageUser | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render template ``name`` in the base layout, with the user and their CSRF token."""
    return templates.TemplateResponse(
        request,
        name,
        {"user": user, "csrf_token": user.csrf_token if user else "", **context},
        status_code=status_code,
        headers=PAGE_HEADERS,
    )


def _set_cookie(response: Response, settings: Settings, name: str, value: str, age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=age,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/", response_class=RedirectResponse)
def root() -> RedirectResponse:
    """The landing page is the exceptions queue."""
    return RedirectResponse(LANDING, status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(
    request: Request, database: DatabaseDep, settings: SettingsDep, next: str | None = None
) -> Response:
    """The login form (a signed-in user goes straight on)."""
    target = local_path(next) or LANDING
    if signed_in(request, database) is not None:
        return RedirectResponse(target, status_code=303)
    return _login_page(request, settings, target, None, 200)


def _login_page(
    request: Request, settings: Settings, target: str, error: str | None, status: int
) -> Response:
    token = secrets.token_urlsafe(32)
    response = templates.TemplateResponse(
        request,
        "login.html",
        {"user": None, "csrf_token": token, "next": target, "error": error},
        status_code=status,
        headers=PAGE_HEADERS,
    )
    _set_cookie(response, settings, LOGIN_CSRF_COOKIE, token, 3600)
    return response


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, database: DatabaseDep, settings: SettingsDep) -> Response:
    """Check the name and password; on success a new session cookie and on to ``next``."""
    fields = await form_fields(request)
    target = local_path(fields.get("next")) or LANDING
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    sent = fields.get("csrf_token", "")
    if not expected or not secrets.compare_digest(sent.encode(), expected.encode()):
        raise Forbidden("the login form is out of date or did not come from this site: reload it")
    name = fields.get("username", "").strip()[:100]
    password = fields.get("password", "")
    throttle: LoginThrottle = request.app.state.login_throttle
    keys = [f"user:{name.lower()}", f"ip:{_client(request)}"]
    if throttle.blocked(keys):
        with unit_of_work(database, Actor("user", name or "-")) as work:
            work.audit("login.throttled", "user", name or "-", client=_client(request))
        return _login_page(
            request, settings, target, "Too many failed logins: wait a few minutes.", 429
        )
    with unit_of_work(database, Actor("user", name or "-")) as work:
        user = verify_login(work.session, name, password)
        if user is None or user.role not in STAFF_ROLES:
            # Technicians use the laptop app; to them the pages say the same as to a stranger.
            work.audit("login.fail", "user", name or "-", client=_client(request))
            cookie = None
        else:
            cookie, _ = start_session(work, user, settings.session_hours)
    if cookie is None:
        throttle.failed(keys)
        return _login_page(request, settings, target, BAD_LOGIN, 401)
    throttle.succeeded(keys)
    response = RedirectResponse(target, status_code=303)
    _set_cookie(response, settings, COOKIE, cookie, settings.session_hours * 3600)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout")
def logout(user: StaffPage, _form: CheckedForm, database: DatabaseDep) -> Response:
    """End the session (the cookie stops working at once, on every copy of it)."""
    with unit_of_work(database, Actor("user", user.principal.name)) as work:
        end_session(work, user.cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def _is_page(request: Request) -> bool:
    return not request.url.path.startswith("/api/")


def install_web(app: FastAPI) -> None:
    """Serve the pages on ``app``: routers, static files and the pages' error answers."""
    from syncserver.web import admin, customers, pages, reports, work_orders

    app.state.login_throttle = LoginThrottle()
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(router)
    app.include_router(pages.router)
    app.include_router(work_orders.router)
    app.include_router(reports.router)
    app.include_router(admin.router)
    app.include_router(customers.router)

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(login_url(exc.next_path), status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        return templates.TemplateResponse(
            request,
            "error.html",
            {"user": None, "csrf_token": "", "title": "Not allowed", "message": str(exc)},
            status_code=403,
            headers=PAGE_HEADERS,
        )

    previous = app.exception_handlers.get(ApiError)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        if _is_page(request) and previous is not None and exc.status != 401:
            return templates.TemplateResponse(
                request,
                "error.html",
                {
                    "user": None,
                    "csrf_token": "",
                    "title": "Not found" if exc.status == 404 else "Cannot show this",
                    "message": str(exc),
                },
                status_code=exc.status,
                headers=PAGE_HEADERS,
            )
        assert previous is not None
        result = previous(request, exc)
        answer: Response = await result if inspect.isawaitable(result) else result
        return answer
