"""``/work-orders``: the office's list of work orders, creating one, and the commands that
feed the technicians' pull (assign, reassign, unassign, cancel).

Every change goes through ``syncserver.services.work_orders`` in one unit of work, exactly
as the API's ``POST /api/v1/work-orders/{id}/commands`` does: the same state machine, the
same audit rows, the same feed rows (a reassigned or cancelled order leaves the previous
technician's laptop at its next pull). A refused command re-renders the page with one line
saying why, and changes nothing.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from syncserver.api.deps import DatabaseDep
from syncserver.core.errors import ApiError, ServerError, UsageError
from syncserver.db.models import User
from syncserver.services import reads, review
from syncserver.services import work_orders as orders
from syncserver.services.journal import Actor, unit_of_work
from syncserver.services.users import TECHNICIAN, find_user
from syncserver.web.app import page
from syncserver.web.auth import CheckedForm, PageUser, StaffPage

__all__ = ["PAGE_SIZE", "router"]

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
UNASSIGNED = "-"
# What a redirect after a change may announce: fixed texts, never text from the query.
DONE = {
    "created": "created",
    "assigned": "assigned",
    "unassigned": "unassigned",
    "cancelled": "cancelled",
}


def _blank(text: str | None) -> str | None:
    text = (text or "").strip()
    return text or None


def _filters(
    status: str | None, technician: str | None, kind: str | None
) -> orders.WorkOrderFilter:
    status, kind = _blank(status), _blank(kind)
    if status is not None and status not in orders.STATUSES:
        raise ApiError("bad_status", f"unknown work-order status {status[:30]!r}")
    if kind is not None and kind not in orders.KINDS:
        raise ApiError("bad_kind", f"unknown work-order type {kind[:30]!r}")
    return orders.WorkOrderFilter(status=status, technician=_blank(technician), kind=kind)


def _list_page(
    request: Request,
    user: PageUser,
    database: DatabaseDep,
    where: orders.WorkOrderFilter,
    before: int | None,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    with database.read() as session:
        found = orders.list_page(session, where, before, PAGE_SIZE)
        people = review.technicians(session)
    kept = {"status": where.status, "technician": where.technician, "kind": where.kind}
    query = {k: v for k, v in kept.items() if v}
    next_link = "/work-orders?" + urlencode({**query, "before": found.next}) if found.next else None
    first_link = "/work-orders" + ("?" + urlencode(query) if query else "")
    return page(
        request,
        "work_orders.html",
        user,
        page=found,
        filters=kept,
        technicians=people,
        unassigned=UNASSIGNED,
        kinds=orders.KINDS,
        priorities=orders.PRIORITIES,
        statuses=orders.STATUSES,
        next_link=next_link,
        first_link=first_link if before is not None else None,
        error=error,
        form=form or {},
        status_code=status_code,
    )


@router.get("/work-orders", response_class=HTMLResponse)
def work_orders_page(
    request: Request,
    user: StaffPage,
    database: DatabaseDep,
    status: str | None = None,
    technician: str | None = None,
    kind: str | None = None,
    before: str | None = None,
) -> HTMLResponse:
    """Work orders, newest first, filtered by status, technician and type, keyset-paged."""
    where = _filters(status, technician, kind)
    token = _blank(before)
    if token is not None and (not token.isdigit() or len(token) > 19):
        raise ApiError("bad_cursor", "the page cursor is not one this server gave")
    return _list_page(request, user, database, where, int(token) if token else None)


def _technician(session: Session, name: str | None) -> User | None:
    if not name:
        return None
    person = find_user(session, name)
    if person is None or person.role != TECHNICIAN or not person.active:
        raise UsageError(f"{name!r} is not a technician")
    return person


@router.post("/work-orders", response_class=HTMLResponse)
def create_work_order(
    request: Request, user: StaffPage, fields: CheckedForm, database: DatabaseDep
) -> Response:
    """Create a work order from the form; with a technician it is dispatched to their feed."""
    try:
        with unit_of_work(database, Actor("user", user.principal.name)) as work:
            order = orders.create_work_order(
                work,
                work_order_id=_blank(fields.get("work_order_id")),
                meter_number=fields.get("meter_number", ""),
                account_number=_blank(fields.get("account_number")),
                kind=fields.get("kind", ""),
                priority=fields.get("priority", "normal") or "normal",
                notes=fields.get("notes"),
                technician=_technician(work.session, _blank(fields.get("technician"))),
            )
            ident = order.work_order_id
    except ServerError as exc:
        form = {k: v for k, v in fields.items() if k != "csrf_token"}
        return _list_page(
            request,
            user,
            database,
            orders.WorkOrderFilter(),
            None,
            error=f"Not created: {exc}",
            form=form,
            status_code=exc.status if isinstance(exc, ApiError) else 422,
        )
    return RedirectResponse(_detail_url(ident, "created"), status_code=303)


def _detail_url(work_order_id: str, done: str | None = None) -> str:
    url = f"/work-orders/{quote(work_order_id, safe='')}"
    return url + (f"?done={done}" if done else "")


def _detail_page(
    request: Request,
    user: PageUser,
    database: DatabaseDep,
    work_order_id: str,
    *,
    done: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    with database.read() as session:
        view = reads.work_order(session, user.principal, work_order_id)
        people = review.technicians(session)
    status = view.order.status
    return page(
        request,
        "work_order.html",
        user,
        view=view,
        order=view.order,
        technicians=people,
        can_assign=orders.check_command(status, "assign").status is not None,
        can_unassign=view.technician is not None
        and orders.check_command(status, "unassign").status is not None,
        can_cancel=orders.check_command(status, "cancel").status is not None,
        done=DONE.get(done or ""),
        error=error,
        status_code=status_code,
    )


@router.get("/work-orders/{work_order_id:path}", response_class=HTMLResponse)
def work_order_page(
    request: Request,
    work_order_id: str,
    user: StaffPage,
    database: DatabaseDep,
    done: str | None = None,
) -> HTMLResponse:
    """One work order, with the forms to assign, reassign, unassign or cancel it."""
    return _detail_page(request, user, database, work_order_id, done=done)


def _command(
    request: Request,
    user: PageUser,
    database: DatabaseDep,
    work_order_id: str,
    command: str,
    technician: str | None,
    done: str,
) -> Response:
    try:
        with unit_of_work(database, Actor("user", user.principal.name)) as work:
            orders.office_command(work, work_order_id, command, technician, source="web")
    except ApiError as exc:
        if exc.status == 404:
            raise
        return _detail_page(
            request,
            user,
            database,
            work_order_id,
            error=f"Not {done}: {exc}",
            status_code=exc.status,
        )
    return RedirectResponse(_detail_url(work_order_id, done), status_code=303)


@router.post("/work-orders/{work_order_id:path}/assign", response_class=HTMLResponse)
def assign_work_order(
    request: Request,
    work_order_id: str,
    user: StaffPage,
    fields: CheckedForm,
    database: DatabaseDep,
) -> Response:
    """Give the order to the chosen technician (a reassignment removes it from the last
    one's laptop at their next pull)."""
    technician = _blank(fields.get("technician"))
    return _command(request, user, database, work_order_id, "assign", technician, "assigned")


@router.post("/work-orders/{work_order_id:path}/unassign", response_class=HTMLResponse)
def unassign_work_order(
    request: Request,
    work_order_id: str,
    user: StaffPage,
    fields: CheckedForm,
    database: DatabaseDep,
) -> Response:
    """Take the order back from its technician (it is open again)."""
    return _command(request, user, database, work_order_id, "unassign", None, "unassigned")


@router.post("/work-orders/{work_order_id:path}/cancel", response_class=HTMLResponse)
def cancel_work_order(
    request: Request,
    work_order_id: str,
    user: StaffPage,
    fields: CheckedForm,
    database: DatabaseDep,
) -> Response:
    """Cancel a live order (it leaves its technician's laptop at their next pull)."""
    return _command(request, user, database, work_order_id, "cancel", None, "cancelled")
