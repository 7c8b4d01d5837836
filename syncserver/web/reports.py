"""``/reports`` and ``/reports.csv``: the team's activity per technician and ISO week.

The page and the CSV show the same rows (``syncserver.services.reports.weekly``). The CSV
is for spreadsheets, so every text cell that a spreadsheet would run as a formula (starting
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) is prefixed with ``'``
(OWASP's advice for CSV injection): a technician named ``=HYPERLINK(...)`` stays text.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup, escape

from syncserver.api.deps import DatabaseDep
from syncserver.core.errors import ApiError
from syncserver.services import reports
from syncserver.web.app import PAGE_HEADERS, page
from syncserver.web.auth import StaffPage
from syncserver.web.charts import Series, weekly_bars_svg

__all__ = ["CSV_COLUMNS", "csv_text", "router", "spreadsheet_safe", "table_body"]

router = APIRouter(include_in_schema=False)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = (
    "technician", "iso_week", "week_start", "visits",
    *(f"outcome_{code}" for code in reports.OUTCOMES), "outcome_none",
    "visits_with_failed_check", "checks_failed", "timed_visits", "hours_on_site",
    "minutes_per_visit", "repeat_visits",
)  # fmt: skip


def spreadsheet_safe(cell: object) -> str:
    """``cell`` as CSV text that no spreadsheet runs as a formula."""
    text = "" if cell is None else str(cell)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _row(r: reports.WeekRow) -> list[object]:
    minutes = r.minutes_per_visit
    return [
        r.technician,
        r.iso_week,
        r.week.isoformat(),
        r.visits,
        *(r.outcomes[code] for code in reports.OUTCOMES),
        r.outcomes["none"],
        r.failed_visits,
        r.checks_failed,
        r.timed_visits,
        f"{r.hours_on_site:.2f}",
        "" if minutes is None else f"{minutes:.1f}",
        r.repeat_visits,
    ]


def csv_text(rows: list[reports.WeekRow]) -> str:
    """The report as CSV (a header row, then one row per technician and week)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow([spreadsheet_safe(cell) for cell in _row(r)])
    return out.getvalue()


def table_body(rows: list[reports.WeekRow]) -> Markup:
    """The page table's ``<tr>`` rows, one per technician and week.

    Written here, not in the template: 200 technicians' weeks are some 4,000 cells, and the
    template's lookup and escape of each one was most of the page's time outside SQL.
    """
    lines = []
    for r in rows:
        minutes = r.minutes_per_visit
        counts = (
            r.visits,
            *(r.outcomes[code] for code in reports.OUTCOMES),
            r.outcomes["none"],
            r.failed_visits,
            r.checks_failed,
        )
        cells = "".join(f"<td>{n}</td>" for n in counts)
        lines.append(
            f"<tr><td>{escape(r.technician)}</td>"
            f'<td>{r.iso_week} <span class="muted">{r.week.isoformat()}</span></td>{cells}'
            f"<td>{r.hours_on_site:.1f}</td><td>{'' if minutes is None else f'{minutes:.0f}'}"
            f"</td><td>{r.repeat_visits}</td></tr>"
        )
    # The technician's name went through escape(); every other cell is a number or a date
    # formatted above.
    return Markup("\n".join(lines))  # noqa: S704


def _day(text: str | None, name: str) -> date | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ApiError("bad_date", f"{name}: {text[:20]!r} is not a date (YYYY-MM-DD)") from None


def _span(since: str | None, until: str | None, week: str | None) -> reports.ReportRange:
    one = _day(week, "week")
    if one is not None:  # ?week=DATE: that date's ISO week alone
        return reports.report_range(one, one, one)
    today = datetime.now(UTC).date()
    return reports.report_range(_day(since, "from"), _day(until, "to"), today)


def _chart_series(
    rows: list[reports.WeekRow], span: reports.ReportRange
) -> tuple[list[str], list[Series]]:
    weeks = span.weeks
    index = {w: i for i, w in enumerate(weeks)}
    per: dict[str, list[int]] = {}
    for r in rows:
        per.setdefault(r.technician, [0] * len(weeks))[index[r.week]] += r.visits
    labels = [f"{w.isocalendar()[0]}-W{w.isocalendar()[1]:02d}" for w in weeks]
    return labels, [Series(name, tuple(values)) for name, values in sorted(per.items())]


@router.get("/reports", response_class=HTMLResponse)
def reports_page(
    request: Request,
    user: StaffPage,
    database: DatabaseDep,
    since: str | None = None,
    until: str | None = None,
    week: str | None = None,
) -> HTMLResponse:
    """Visits, outcomes, failed checks, time on site and repeat visits per technician and
    week, with a bar chart of the visits and a link to the same rows as CSV."""
    span = _span(since, until, week)
    with database.read() as session:
        rows = reports.weekly(session, user.principal, span)
    labels, series = _chart_series(rows, span)
    last_day = span.end.toordinal() - 1
    shown = {"since": span.first.isoformat(), "until": date.fromordinal(last_day).isoformat()}
    chart = weekly_bars_svg(
        labels, series, f"Visits per week and technician, {shown['since']} to {shown['until']}"
    )
    totals = {
        "visits": sum(r.visits for r in rows),
        "failed_visits": sum(r.failed_visits for r in rows),
        "checks_failed": sum(r.checks_failed for r in rows),
        "hours": sum(r.hours_on_site for r in rows),
        "repeats": sum(r.repeat_visits for r in rows),
        "outcomes": {
            code: sum(r.outcomes[code] for r in rows) for code in (*reports.OUTCOMES, "none")
        },
    }
    return page(
        request,
        "reports.html",
        user,
        rows=rows,
        body=table_body(rows),
        shown=shown,
        chart=chart,
        totals=totals,
        outcomes=reports.OUTCOMES,
        repeat_days=reports.REPEAT_DAYS,
        max_weeks=reports.MAX_WEEKS,
        csv_link="/reports.csv?" + urlencode(shown),
    )


@router.get("/reports.csv")
def reports_csv(
    user: StaffPage,
    database: DatabaseDep,
    since: str | None = None,
    until: str | None = None,
    week: str | None = None,
) -> Response:
    """The report's rows as a CSV download."""
    span = _span(since, until, week)
    with database.read() as session:
        rows = reports.weekly(session, user.principal, span)
    last = date.fromordinal(span.end.toordinal() - 1)
    name = f"fieldkit-report-{span.first.isoformat()}-to-{last.isoformat()}.csv"
    headers = {
        **PAGE_HEADERS,
        "Content-Disposition": f'attachment; filename="{name}"',
    }
    return Response(csv_text(rows), media_type="text/csv; charset=utf-8", headers=headers)
