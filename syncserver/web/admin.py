"""``/admin`` (admin users only; office users get the 403 page): users, devices with their
enrolment codes and revocation, and ``/admin/audit``, the audit log with its hash chain
verified on every view from the last checkpoint to the head (the entries since the last
view), and the whole chain on an admin's POST to ``/admin/audit/verify``.

Each change goes through ``syncserver.services.users`` in one audited unit of work, as the
CLI's does. Every form that changes something answers 303 See Other to a page (a reload
repeats nothing); a refused one answers with the form and the reason. An enrolment code is
shown once, on the page its form redirects to: it waits for it as a sealed one-time notice
of the admin's session (never in the URL; the page is ``no-store``); only its hash is kept.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from syncserver.api.deps import DatabaseDep
from syncserver.core.errors import ApiError, ServerError
from syncserver.services import admin, review
from syncserver.services.journal import Actor, unit_of_work
from syncserver.services.users import ROLES, create_enroll_code, create_user, revoke_device
from syncserver.services.web_sessions import put_flash, take_flashes
from syncserver.web.app import page
from syncserver.web.auth import AdminPage, CheckedForm, PageUser

__all__ = ["AUDIT_PAGE_SIZE", "router"]

router = APIRouter(include_in_schema=False)
AUDIT_PAGE_SIZE = 50
MAX_CODE_MINUTES = 7 * 24 * 60
DONE = {
    "user": "User created.",
    "revoked": "Device revoked: its next request is refused.",
    "checked": "The whole chain was checked: its result is below.",
}
NEW_CODE = "enroll_code"


def _admin_page(
    request: Request,
    user: PageUser,
    database: DatabaseDep,
    *,
    done: str | None = None,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    actor = Actor("user", user.principal.name)
    new_codes = take_flashes(database, actor, user.cookie, NEW_CODE)
    with database.read() as session:
        people = admin.users(session)
        laptops = admin.devices(session)
        technicians = review.technicians(session)
    return page(
        request,
        "admin.html",
        user,
        users=people,
        devices=laptops,
        technicians=technicians,
        roles=ROLES,
        done=DONE.get(done or ""),
        error=error,
        new_codes=new_codes,
        form=form or {},
        status_code=status_code,
    )


@router.get("/admin", response_class=HTMLResponse)
def admin_page(
    request: Request, user: AdminPage, database: DatabaseDep, done: str | None = None
) -> HTMLResponse:
    """Users and devices, with the forms to add a user, make an enrolment code, revoke."""
    return _admin_page(request, user, database, done=done)


@router.post("/admin/users", response_class=HTMLResponse)
def add_user(
    request: Request, user: AdminPage, fields: CheckedForm, database: DatabaseDep
) -> Response:
    """Create a user with a role and a password (argon2-hashed; audited without it)."""
    try:
        with unit_of_work(database, Actor("user", user.principal.name)) as work:
            create_user(
                work, fields.get("name", ""), fields.get("role", ""), fields.get("password", "")
            )
    except ServerError as exc:
        kept = {"name": fields.get("name", ""), "role": fields.get("role", "")}
        return _admin_page(
            request, user, database, error=f"Not created: {exc}", form=kept, status_code=422
        )
    return RedirectResponse("/admin?done=user", status_code=303)


@router.post("/admin/enroll-codes", response_class=HTMLResponse)
def add_enroll_code(
    request: Request, user: AdminPage, fields: CheckedForm, database: DatabaseDep
) -> Response:
    """A one-time enrolment code for a technician's next laptop, shown once, on the page
    this answer redirects to."""
    technician = fields.get("technician", "").strip()
    text = fields.get("minutes", "").strip() or "60"
    try:
        if not text.isdigit() or not 1 <= int(text) <= MAX_CODE_MINUTES:
            raise ApiError(
                "bad_minutes", f"a code lives 1 to {MAX_CODE_MINUTES} minutes, not {text[:10]!r}"
            )
        minutes = int(text)
        with unit_of_work(database, Actor("user", user.principal.name)) as work:
            code = create_enroll_code(work, technician, minutes)
            shown = {"code": code, "technician": technician, "minutes": minutes}
            put_flash(work, user.cookie, NEW_CODE, shown)
    except ServerError as exc:
        return _admin_page(request, user, database, error=f"No code: {exc}", status_code=422)
    return RedirectResponse("/admin#enroll-code", status_code=303)


@router.post("/admin/devices/{device_id}/revoke", response_class=HTMLResponse)
def revoke(
    request: Request, device_id: str, user: AdminPage, _form: CheckedForm, database: DatabaseDep
) -> Response:
    """Revoke a device's token at once: its next push or pull is refused (401)."""
    try:
        with unit_of_work(database, Actor("user", user.principal.name)) as work:
            revoke_device(work, device_id)
    except ServerError as exc:
        return _admin_page(request, user, database, error=f"Not revoked: {exc}", status_code=404)
    return RedirectResponse("/admin?done=revoked", status_code=303)


def _audit(
    request: Request, user: PageUser, database: DatabaseDep, token: str, done: str | None
) -> HTMLResponse:
    if token and (not token.isdigit() or len(token) > 19):
        raise ApiError("bad_cursor", "the page cursor is not one this server gave")
    check = admin.check_audit_chain(database, user.principal.name)
    with database.read() as session:
        found = admin.audit_page(session, int(token) if token else None, AUDIT_PAGE_SIZE)
    return page(
        request,
        "audit.html",
        user,
        page=found,
        check=check,
        done=DONE.get(done or ""),
        next_link=f"/admin/audit?before={found.next}" if found.next else None,
        first_link="/admin/audit" if token else None,
    )


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    user: AdminPage,
    database: DatabaseDep,
    before: str | None = None,
    done: str | None = None,
) -> HTMLResponse:
    """The audit log, newest first and keyset-paged, under the result of checking the hash
    chain from the last checkpoint to the head (every new row's hash and link, and the
    head) and when the whole chain was last checked."""
    return _audit(request, user, database, (before or "").strip(), done)


@router.post("/admin/audit/verify")
def verify_whole_chain(user: AdminPage, _form: CheckedForm, database: DatabaseDep) -> Response:
    """Check the whole chain, from its first entry (a minute or so for millions of
    entries): what finds a row changed before the last checkpoint. The audit page it
    redirects to shows the result (stored as the last whole-chain check)."""
    admin.check_audit_chain(database, user.principal.name, full=True)
    return RedirectResponse("/admin/audit?done=checked", status_code=303)
