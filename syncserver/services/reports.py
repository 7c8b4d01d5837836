"""The weekly activity report: per technician and per ISO week, aggregated in SQL.

One GROUP BY per week over the visits whose ``visited_at`` falls in it: a range of the
covering index ``ix_visits_report``, which holds every column the report reads of a visit
(its failed checks too, counted into ``visits.checks_failed`` at ingest), so the rows
themselves, each with its document, are never read; the repeat test reads each visit's
previous visit to its meter from a range of ``ix_visit_repeats_report``
(``syncserver.services.repeats`` keeps it at ingest). The range is at most
:data:`MAX_WEEKS` weeks, so the cost of the report is bounded however many visits the
server keeps.

A **repeat visit** is a visit to a meter that had another visit (by anyone) in the
:data:`REPEAT_DAYS` days before it; it counts for the technician and week of the later
visit. **Time on site** runs from ``visited_at`` (the visit's start) to ``ended_at``; visits
without an end, or ending before they start (a laptop clock jump), are left out of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from fieldkit.sync.schema import OUTCOMES
from syncserver.core.errors import ApiError
from syncserver.db.models import User, UtcDateTime
from syncserver.services.users import TECHNICIAN, Principal

__all__ = [
    "MAX_WEEKS",
    "OUTCOMES",
    "REPEAT_DAYS",
    "ReportRange",
    "WeekRow",
    "monday",
    "report_range",
    "weekly",
]

MAX_WEEKS = 26
REPEAT_DAYS = 30


def monday(day: date) -> date:
    """The Monday that starts ``day``'s ISO week."""
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True, slots=True)
class ReportRange:
    """Whole ISO weeks: from Monday ``first`` up to (not including) Monday ``end``."""

    first: date
    end: date

    @property
    def weeks(self) -> list[date]:
        """The Mondays of the range, oldest first."""
        count = (self.end - self.first).days // 7
        return [self.first + timedelta(weeks=i) for i in range(count)]


def report_range(since: date | None, until: date | None, today: date) -> ReportRange:
    """The weeks from ``since``'s to ``until``'s (default: the four weeks up to today's),
    or a one-line 400 when backwards or longer than :data:`MAX_WEEKS` weeks."""
    last = monday(until or today)
    first = monday(since) if since is not None else last - timedelta(weeks=3)
    if first > last:
        raise ApiError("bad_range", "the report's start is after its end")
    weeks = (last - first).days // 7 + 1
    if weeks > MAX_WEEKS:
        raise ApiError(
            "range_too_long", f"a report covers at most {MAX_WEEKS} weeks (this asks for {weeks})"
        )
    return ReportRange(first, last + timedelta(weeks=1))


@dataclass(frozen=True, slots=True)
class WeekRow:
    """One technician's week."""

    technician: str
    week: date
    """The Monday of the ISO week."""
    visits: int
    outcomes: dict[str, int] = field(default_factory=dict)
    """Visits per outcome code (every code of ``OUTCOMES``; ``none``: no outcome given)."""
    failed_visits: int = 0
    """Visits with at least one failed check."""
    checks_failed: int = 0
    """Failed check results, summed over the visits."""
    timed_visits: int = 0
    seconds_on_site: float = 0.0
    repeat_visits: int = 0

    @property
    def iso_week(self) -> str:
        """``2026-W49``."""
        year, week, _ = self.week.isocalendar()
        return f"{year}-W{week:02d}"

    @property
    def hours_on_site(self) -> float:
        """Total time on site, hours."""
        return self.seconds_on_site / 3600.0

    @property
    def minutes_per_visit(self) -> float | None:
        """Average time on site of the timed visits, minutes (None: none was timed)."""
        return self.seconds_on_site / 60.0 / self.timed_visits if self.timed_visits else None


def _dialect_parts(dialect: str) -> tuple[str, str]:
    """(seconds from start to end, start minus the repeat window) in the engine's SQL."""
    if dialect == "postgresql":
        return (
            "EXTRACT(EPOCH FROM (v.ended_at - v.visited_at))",
            f"r.visited_at - INTERVAL '{REPEAT_DAYS} days'",
        )
    # SQLite keeps the UTC times as ISO text, which its date functions read. datetime()
    # drops the microseconds, and a stored time compares as text: the visit's own fraction
    # of a second goes back on, or a visit exactly REPEAT_DAYS before (".000000" after the
    # seconds) would sort after a window start without one, and one a fraction of a second
    # too early would count.
    return (
        "(julianday(v.ended_at) - julianday(v.visited_at)) * 86400.0",
        f"datetime(r.visited_at, '-{REPEAT_DAYS} days') || substr(r.visited_at, 20)",
    )


def _sql(dialect: str, scoped: bool) -> str:
    """One week's aggregate per technician (the week is the bound ``start``..``stop``: a
    range scan per week rather than a date function on every row).

    The visits are first grouped by technician and outcome (``g``), and an outcome's count
    is its group's size: a ``CASE`` per outcome code on every visit cost a fifth of the
    statement at a million visits, where on the groups it is a handful per technician.

    The repeats come from their own range, of ``ix_visit_repeats_report``, joined to the
    week's other figures by technician. A visit in the week has its window start between
    the week's start and its end less :data:`REPEAT_DAYS` (``window_first``,
    ``window_last``): a previous visit before the first is never in the window, one from
    the last on always is, and only those in between, a week's worth of the previous
    visits, are compared with their own visit's window (on SQLite a date function on the
    stored text: it cost most of the repeats' time when run on every row).
    """
    seconds, window = _dialect_parts(dialect)
    outcomes = ", ".join(
        f"SUM(CASE WHEN g.outcome = '{code}' THEN g.visits ELSE 0 END) AS o_{code}"
        for code in OUTCOMES
    )
    scope, repeat_scope = (
        ("AND v.technician_id = :technician", "AND r.technician_id = :technician")
        if scoped
        else ("", "")
    )
    return f"""
        SELECT a.*, COALESCE(b.repeats, 0) AS repeats FROM (
            SELECT g.technician_id, SUM(g.visits) AS visits, {outcomes},
                SUM(CASE WHEN g.outcome IS NULL THEN g.visits ELSE 0 END) AS o_none,
                SUM(g.failed_visits) AS failed_visits, SUM(g.checks_failed) AS checks_failed,
                SUM(g.timed) AS timed, SUM(g.seconds) AS seconds
            FROM (
                SELECT v.technician_id, v.outcome, COUNT(*) AS visits,
                    SUM(CASE WHEN v.verdict = 'fail' THEN 1 ELSE 0 END) AS failed_visits,
                    SUM(v.checks_failed) AS checks_failed,
                    SUM(CASE WHEN v.ended_at >= v.visited_at THEN 1 ELSE 0 END) AS timed,
                    SUM(CASE WHEN v.ended_at >= v.visited_at THEN {seconds} ELSE 0 END)
                        AS seconds
                FROM visits v
                WHERE v.visited_at >= :start AND v.visited_at < :stop {scope}
                GROUP BY v.technician_id, v.outcome
            ) AS g
            GROUP BY g.technician_id
        ) AS a LEFT JOIN (
            SELECT r.technician_id, COUNT(*) AS repeats
            FROM visit_repeats r
            WHERE r.visited_at >= :start AND r.visited_at < :stop
              AND r.previous_at >= :window_first
              AND (r.previous_at >= :window_last OR r.previous_at >= {window}) {repeat_scope}
            GROUP BY r.technician_id
        ) AS b ON b.technician_id = a.technician_id
    """  # noqa: S608 (every piece is this module's own text; values are bound)


def weekly(session: Session, principal: Principal, span: ReportRange) -> list[WeekRow]:
    """The report's rows, by technician name then week (a technician: only their own)."""
    scoped = principal.role == TECHNICIAN  # the pages never sign technicians in
    dialect = session.get_bind().dialect.name
    statement = text(_sql(dialect, scoped)).bindparams(
        *(
            bindparam(name, type_=UtcDateTime())
            for name in ("start", "stop", "window_first", "window_last")
        )
    )
    if dialect == "postgresql":
        # A week's estimated cost is past jit_above_cost, and compiling the aggregate costs
        # more than it saves on ~20k rows (the plan said so at a million visits).
        session.execute(text("SET LOCAL jit = off"))
    found: list[tuple[date, Any]] = []
    for week in span.weeks:
        start = datetime.combine(week, time(), UTC)
        stop = start + timedelta(weeks=1)
        params: dict[str, object] = {
            "start": start,
            "stop": stop,
            "window_first": start - timedelta(days=REPEAT_DAYS),
            "window_last": stop - timedelta(days=REPEAT_DAYS),
        }
        if scoped:
            params["technician"] = principal.user_id
        found.extend((week, row) for row in session.execute(statement, params).mappings())
    ids = {row["technician_id"] for _, row in found}
    names: dict[int, str] = {}
    if ids:
        found_names = session.execute(select(User.id, User.name).where(User.id.in_(ids))).all()
        names = {int(r[0]): str(r[1]) for r in found_names}
    rows = []
    for week, row in found:
        rows.append(
            WeekRow(
                technician=str(names.get(row["technician_id"], "?")),
                week=week,
                visits=int(row["visits"]),
                outcomes={
                    **{code: int(row[f"o_{code}"] or 0) for code in OUTCOMES},
                    "none": int(row["o_none"] or 0),
                },
                failed_visits=int(row["failed_visits"] or 0),
                checks_failed=int(row["checks_failed"] or 0),
                timed_visits=int(row["timed"] or 0),
                seconds_on_site=float(row["seconds"] or 0.0),
                repeat_visits=int(row["repeats"] or 0),
            )
        )
    rows.sort(key=lambda r: (r.technician, r.week))
    return rows
