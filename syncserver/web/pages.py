"""The review pages of the foundation: the exceptions queue and one visit."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from syncserver.api.deps import DatabaseDep
from syncserver.core.errors import ApiError
from syncserver.services import review
from syncserver.web.app import page
from syncserver.web.auth import StaffPage

__all__ = ["PAGE_SIZE", "router"]

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
WORK_ORDER_KINDS = (
    "install", "exchange", "remove", "investigate", "read", "high_bill",
    "no_comms", "tamper", "reconnect", "disconnect", "other",
)  # fmt: skip


def _day(text: str | None, name: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ApiError("bad_date", f"{name}: {text[:20]!r} is not a date (YYYY-MM-DD)") from None


def _blank(text: str | None) -> str | None:
    text = (text or "").strip()
    return text or None


@router.get("/exceptions", response_class=HTMLResponse)
def exceptions_page(
    request: Request,
    user: StaffPage,
    database: DatabaseDep,
    check: str | None = None,
    technician: str | None = None,
    since: str | None = None,
    until: str | None = None,
    kind: str | None = None,
    review_status: str | None = None,
    after: str | None = None,
) -> HTMLResponse:
    """Visits with a failed or warned check, newest first, a page at a time by keyset."""
    first, last = _day(since, "from"), _day(until, "to")
    status = _blank(review_status)
    if status is not None and status not in review.REVIEW_STATUSES:
        raise ApiError("bad_status", f"unknown review status {status!r}")
    where = review.ExceptionFilter(
        check=_blank(check),
        technician=_blank(technician),
        since=datetime.combine(first, time(), UTC) if first else None,
        until=datetime.combine(last + timedelta(days=1), time(), UTC) if last else None,
        kind=_blank(kind),
        review_status=status,
    )
    token = _blank(after)
    cursor = review.Keyset.decode(token) if token else None
    with database.read() as session:
        found = review.exceptions(session, user.principal, where, cursor, PAGE_SIZE)
        checks = review.check_ids(session)
        people = review.technicians(session)
    kept = {
        "check": where.check,
        "technician": where.technician,
        "since": since if first else None,
        "until": until if last else None,
        "kind": where.kind,
        "review_status": status,
    }
    query = {k: v for k, v in kept.items() if v}
    next_link = (
        "/exceptions?" + urlencode({**query, "after": found.next.encode()}) if found.next else None
    )
    first_link = "/exceptions" + ("?" + urlencode(query) if query else "")
    return page(
        request,
        "exceptions.html",
        user,
        page=found,
        filters=kept,
        checks=checks,
        technicians=people,
        kinds=WORK_ORDER_KINDS,
        statuses=review.REVIEW_STATUSES,
        next_link=next_link,
        first_link=first_link if cursor is not None else None,
    )
