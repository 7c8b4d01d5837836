"""The pages for a customer's call: search, one account, one meter's history."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from syncserver.api.deps import DatabaseDep
from syncserver.services import history, search
from syncserver.services.review import Keyset
from syncserver.web.app import page
from syncserver.web.auth import StaffPage
from syncserver.web.plots import Series, time_plot

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


def _cursor(after: str | None) -> Keyset | None:
    text = (after or "").strip()
    return Keyset.decode(text) if text else None


@router.get("/search", response_class=HTMLResponse)
def search_page(
    request: Request, user: StaffPage, database: DatabaseDep, q: str | None = None
) -> HTMLResponse:
    """The search box and what it found."""
    query = (q or "").strip()
    found = None
    if query:
        with database.read() as session:
            found = search.search(session, query)
    return page(request, "search.html", user, q=query, found=found, limit=search.LIMIT)


@router.get("/accounts/{number}", response_class=HTMLResponse)
def account_page(
    request: Request,
    number: str,
    user: StaffPage,
    database: DatabaseDep,
    after: str | None = None,
) -> HTMLResponse:
    """An account for the phone call: customer, premises and meters, work orders, visits."""
    cursor = _cursor(after)
    with database.read() as session:
        view = history.account_view(session, user.principal, number, cursor)
    here = f"/accounts/{quote(number, safe='')}"
    return page(
        request,
        "account.html",
        user,
        view=view,
        account=view.account,
        next_link=(
            f"{here}?{urlencode({'after': view.visits.next.encode()})}#visits"
            if view.visits.next
            else None
        ),
        first_link=f"{here}#visits" if cursor is not None else None,
    )


def _plots(readings: list[history.Reading], meter_number: str) -> list[tuple[str, Markup]]:
    """The meter page's plots, those with at least one value."""
    at = [r.visited_at for r in readings]

    def series(name: str, values: list[float | None]) -> Series:
        return Series(name, list(zip(at, values, strict=True)))

    wanted = [
        (
            "drift",
            time_plot(
                [series("drift", [r.drift_seconds for r in readings])],
                title="Clock drift (meter − reference)",
                unit="s",
                plot_id=f"drift-{meter_number}",
                zero_line=True,
            ),
        ),
        (
            "voltage",
            time_plot(
                [
                    series("A", [r.voltage_a for r in readings]),
                    series("B", [r.voltage_b for r in readings]),
                    series("C", [r.voltage_c for r in readings]),
                ],
                title="Voltage per element",
                unit="V",
                plot_id=f"voltage-{meter_number}",
            ),
        ),
        (
            "registers",
            time_plot(
                [
                    series("delivered", [r.kwh_delivered for r in readings]),
                    series("received", [r.kwh_received for r in readings]),
                ],
                title="Energy registers as read",
                unit="kWh",
                plot_id=f"registers-{meter_number}",
            ),
        ),
    ]
    return [(name, svg) for name, svg in wanted if svg is not None]


@router.get("/meters/{number}", response_class=HTMLResponse)
def meter_page(
    request: Request,
    number: str,
    user: StaffPage,
    database: DatabaseDep,
    after: str | None = None,
) -> HTMLResponse:
    """A meter's history: every visit, its readings plotted over time, status changes."""
    cursor = _cursor(after)
    with database.read() as session:
        found = history.meter_history(session, user.principal, number, cursor)
    here = f"/meters/{quote(number, safe='')}"
    return page(
        request,
        "meter.html",
        user,
        h=found,
        meter=found.meter,
        plots=_plots(found.readings, number),
        history_visits=history.HISTORY_VISITS,
        next_link=(
            f"{here}?{urlencode({'after': found.visits.next.encode()})}#visits"
            if found.visits.next
            else None
        ),
        first_link=f"{here}#visits" if cursor is not None else None,
    )
