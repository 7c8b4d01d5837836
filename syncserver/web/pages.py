"""The review pages of the foundation: the exceptions queue and one visit."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from fieldkit.sync.schema import CaptureDocument, VisitDocument
from syncserver.api.deps import DatabaseDep
from syncserver.core.errors import ApiError, NotFound
from syncserver.services import review
from syncserver.services.journal import Actor, unit_of_work
from syncserver.services.work_orders import KINDS
from syncserver.web.app import page
from syncserver.web.auth import CheckedForm, StaffPage
from syncserver.web.phasor import phasor_svg

__all__ = ["PAGE_SIZE", "router"]

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50


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
        kinds=KINDS,
        statuses=review.REVIEW_STATUSES,
        next_link=next_link,
        first_link=first_link if cursor is not None else None,
    )


_WORST_FIRST = {"fail": 0, "warn": 1, "pass": 2, "skip": 3}


def _elements(detail: review.VisitDetail) -> tuple[str | None, str | None, str | None]:
    """The service type, rotation and high leg the visit was judged against."""
    expectation = detail.document.expectation
    meter = detail.meter
    service = (expectation.service_type if expectation else None) or (
        meter.service_type if meter else None
    )
    rotation = (expectation.rotation if expectation else None) or (
        meter.rotation if meter else None
    )
    high_leg = expectation.high_leg if expectation else None
    return (str(service) if service else None), rotation, high_leg


@router.get("/visits/{visit_id}", response_class=HTMLResponse)
def visit_page(
    request: Request, visit_id: str, user: StaffPage, database: DatabaseDep
) -> HTMLResponse:
    """Everything about one visit, its review status and comments."""
    with database.read() as session:
        detail = review.visit_detail(session, user.principal, visit_id)
    document = detail.document
    snapshot = document.snapshot
    service, rotation, high_leg = _elements(detail)
    svg = (
        phasor_svg(snapshot.phases, service, rotation, high_leg)
        if snapshot is not None and snapshot.phases
        else None
    )
    return page(
        request,
        "visit.html",
        user,
        detail=detail,
        visit=detail.view.visit,
        doc=document,
        snapshot=snapshot,
        service=service,
        rotation=rotation,
        high_leg=high_leg,
        phasor=svg,
        checks=sorted(document.checks, key=lambda c: _WORST_FIRST[c.status]),
        flags=[f for f in detail.view.visit.flags.split(",") if f],
        statuses=review.REVIEW_STATUSES,
        has_capture=_capture(document) is not None,
    )


def _capture(document: VisitDocument) -> CaptureDocument | None:
    """The visit's frame capture, or the snapshot's frames as one when only those were kept."""
    if document.capture is not None:
        return document.capture
    snapshot = document.snapshot
    if snapshot is None or not snapshot.frames:
        return None
    return CaptureDocument(
        protocol=snapshot.protocol,
        port="",
        started_at=snapshot.read_at,
        result="incomplete" if snapshot.incomplete else "complete",
        frames=snapshot.frames,
    )


@router.get("/visits/{visit_id}/capture")
def visit_capture(visit_id: str, user: StaffPage, database: DatabaseDep) -> Response:
    """The frames of the visit's meter session as a ``capture`` document, to download."""
    with database.read() as session:
        detail = review.visit_detail(session, user.principal, visit_id)
    capture = _capture(detail.document)
    if capture is None:
        raise NotFound("no_capture", f"visit {visit_id} has no frame capture")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in visit_id)[:80]
    return Response(
        capture.model_dump_json(indent=2),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="capture-{safe}.json"'},
    )


@router.post("/visits/{visit_id}/review")
def change_review(
    visit_id: str, user: StaffPage, fields: CheckedForm, database: DatabaseDep
) -> Response:
    """Set the visit's review status, with an optional comment (both audited)."""
    with unit_of_work(database, Actor("user", user.principal.name)) as work:
        review.set_review_status(work, user.principal, visit_id, fields.get("status", ""))
        if fields.get("comment", "").strip():
            review.add_comment(work, user.principal, visit_id, fields["comment"])
    return RedirectResponse(f"/visits/{quote(visit_id, safe='')}#review", status_code=303)


@router.post("/visits/{visit_id}/comments")
def comment(visit_id: str, user: StaffPage, fields: CheckedForm, database: DatabaseDep) -> Response:
    """Add a comment to the visit (audited by its hash)."""
    with unit_of_work(database, Actor("user", user.principal.name)) as work:
        review.add_comment(work, user.principal, visit_id, fields.get("comment", ""))
    return RedirectResponse(f"/visits/{quote(visit_id, safe='')}#review", status_code=303)
